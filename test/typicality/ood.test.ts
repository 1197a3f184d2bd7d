// The OOD machinery on hand-computed and synthetic cases with known answers.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, functions as torch, scope, tensor } from '../../src/tensor';
import {
  auroc, batchStatistics, bootstrapThreshold, entropyEstimate, histogram, isAtypical, likelihoodDetector, quantile,
  rocArea, rocCurve, typicalityDetector, typicalityStatistic,
} from '../../src/typicality/ood';

test('auroc: hand-computed cases, ties count half', () => {
  assert.equal(auroc([1, 2, 3], [4, 5]), 1); // perfect separation
  assert.equal(auroc([4, 5], [1, 2, 3]), 0); // reversed
  assert.equal(auroc([1, 1], [1, 1]), 0.5); // all tied
  // in = [1, 2, 3], ood = [2, 4]: pairs (ood > in): 2>1 yes, 2=2 half, 2<3 no; 4 beats all three -> (1 + 0.5 + 3) / 6
  assert.ok(Math.abs(auroc([1, 2, 3], [2, 4]) - 4.5 / 6) < 1e-12);
  // tensors and typed arrays are accepted
  const a = scope(() => auroc(tensor([0.1, 0.2, 0.3]), Float64Array.from([0.25])));
  assert.ok(Math.abs(a - 2 / 3) < 1e-12);
});

test('auroc / rocCurve: NaN and infinite scores are refused with the set and index named', () => {
  // two infinite scores once made the sort comparator NaN (Infinity - Infinity) and the result arbitrary
  assert.throws(() => auroc([1, Infinity, Infinity], [2, 3]), /auroc: in-distribution score 1 is Infinity; scores must be finite numbers/);
  assert.throws(() => auroc([1, 2], [-Infinity, 3]), /auroc: OOD score 0 is -Infinity/);
  assert.throws(() => auroc([1, NaN], [2]), /auroc: in-distribution score 1 is NaN/);
  assert.throws(() => rocCurve([1, 2], [Infinity, Infinity]), /rocCurve: OOD score 0 is Infinity/);
  assert.throws(() => rocCurve([NaN], [1]), /rocCurve: in-distribution score 0 is NaN/);
  assert.equal(auroc([1, 2], [1e308, 3]), 1, 'large finite scores still rank');
});

test('rocCurve: from (0,0) to (1,1); trapezoid area equals auroc, with ties', () => {
  const inD = [1, 2, 2, 3, 5], ood = [2, 4, 4, 6];
  const pts = rocCurve(inD, ood);
  assert.deepEqual(pts[0], [0, 0]);
  assert.deepEqual(pts[pts.length - 1], [1, 1]);
  assert.ok(Math.abs(rocArea(pts) - auroc(inD, ood)) < 1e-12);
  assert.equal(rocCurve(inD, ood, { maxPoints: 3 }).length, 3);
});

test('quantile and histogram', () => {
  assert.equal(quantile([3, 1, 2, 4], 0), 1);
  assert.equal(quantile([3, 1, 2, 4], 1), 4);
  assert.equal(quantile([3, 1, 2, 4], 0.5), 2.5);
  const h = histogram([0, 0.5, 1, 1], { bins: 2 });
  assert.deepEqual(h.bins, [0, 0.5, 1]);
  assert.deepEqual(h.counts, [1, 3]);
});

// Φ and a numerical P(|Y − μ| > |X − μ|) for X ~ N(μ, σ), Y ~ N(μ + δ, σ)
function Phi(z: number): number {
  // Abramowitz-Stegun 7.1.26 on erf
  const x = Math.abs(z) / Math.SQRT2, t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496735) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}
function typicalAurocAnalytic(delta: number, sigma: number): number {
  // P(|Y| > |X|) = ∫ p_|X|(a) P(|Y| > a) da, X ~ N(0, σ), Y ~ N(δ, σ)
  let s = 0;
  const da = sigma / 2000;
  for (let a = da / 2; a < 10 * sigma; a += da) {
    const pa = 2 * Math.exp(-(a * a) / (2 * sigma * sigma)) / (sigma * Math.sqrt(2 * Math.PI));
    const pY = 1 - (Phi((a - delta) / sigma) - Phi((-a - delta) / sigma));
    s += pa * pY * da;
  }
  return s;
}

test('bootstrap threshold on Gaussian scores: M = 1 matches the analytic two-sided quantile; M = 25 shrinks by 1/√M', () => {
  const mu = 3, sigma = 0.2, alpha = 0.05;
  const gen = new Generator(1);
  const [train, held] = scope(() => [
    torch.randn([20000], { generator: gen, dtype: 'float64' }).mul(sigma).add(mu).toTypedArray() as Float64Array,
    torch.randn([20000], { generator: gen, dtype: 'float64' }).mul(sigma).add(mu).toTypedArray() as Float64Array,
  ]);
  const H = entropyEstimate(train);
  assert.ok(Math.abs(H - mu) < 0.01);
  const t1 = bootstrapThreshold(held, H, { batchSize: 1, batches: 20000, alpha, generator: new Generator(2) });
  const z = 1.959964; // two-sided 95%
  assert.ok(Math.abs(t1.epsilon - z * sigma) / (z * sigma) < 0.04, `ε(M=1) = ${t1.epsilon}, analytic ${z * sigma}`);
  const t25 = bootstrapThreshold(held, H, { batchSize: 25, batches: 20000, alpha, generator: new Generator(3) });
  assert.ok(Math.abs(t25.epsilon - (z * sigma) / 5) / ((z * sigma) / 5) < 0.06, `ε(M=25) = ${t25.epsilon}`);
  // seeded: the same generator seed gives the same threshold
  assert.equal(bootstrapThreshold(held, H, { batchSize: 5, batches: 500, generator: new Generator(9) }).epsilon,
    bootstrapThreshold(held, H, { batchSize: 5, batches: 500, generator: new Generator(9) }).epsilon);

  // a shifted OOD set: AUROCs near their analytic values
  const delta = 0.3;
  const [evalIn, ood] = scope(() => [
    torch.randn([5000], { generator: gen, dtype: 'float64' }).mul(sigma).add(mu).toTypedArray() as Float64Array,
    torch.randn([5000], { generator: gen, dtype: 'float64' }).mul(sigma).add(mu + delta).toTypedArray() as Float64Array,
  ]);
  const lik = likelihoodDetector(held, evalIn, ood, alpha);
  const likAnalytic = Phi(delta / (sigma * Math.SQRT2));
  assert.ok(Math.abs(lik.auroc - likAnalytic) < 0.02, `likelihood AUROC ${lik.auroc} vs ${likAnalytic}`);
  assert.ok(Math.abs(lik.fpr - alpha) < 0.015);
  const typ = typicalityDetector(H, held, evalIn, ood, { batchSize: 1, batches: 20000, alpha, generator: new Generator(4) });
  const typAnalytic = typicalAurocAnalytic(delta, sigma);
  assert.ok(Math.abs(typ.auroc - typAnalytic) < 0.02, `typicality AUROC ${typ.auroc} vs ${typAnalytic}`);
  assert.ok(Math.abs(typ.fpr - alpha) < 0.015, `typicality FPR ${typ.fpr}`);
  // larger batches separate far better
  const typ10 = typicalityDetector(H, held, evalIn, ood, { batchSize: 10, batches: 5000, alpha, generator: new Generator(5) });
  assert.ok(typ10.auroc > 0.99 && typ10.nIn === 500);

  // too likely: a batch whose −log p sits far BELOW the entropy is flagged by typicality,
  // while likelihood thresholding (which only flags unlikely inputs) passes every one of its inputs
  const tooLikely = new Float64Array(10).fill(mu - 5 * sigma);
  assert.ok(isAtypical(tooLikely, t1) && isAtypical(tooLikely, bootstrapThreshold(held, H, { batchSize: 10, batches: 5000, alpha })));
  assert.ok(tooLikely.every((v) => v <= lik.threshold));
  assert.ok(!isAtypical([mu], t1));
  assert.equal(typicalityStatistic([1, 3], 2.5), 0.5);
  assert.deepEqual(Array.from(batchStatistics([1, 3, 5, 5, 9], 3, 2)), [1, 2]);
  gen.dispose();
});
