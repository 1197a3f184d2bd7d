// CDCD: score interpolation equals the exact denoiser E[x0 | x] of a point-mass mixture (Tweedie's
// formula with a float64 finite-difference score as the reference) when the embeddings are
// orthonormal (scaled) and the logits are the exact posterior; the time-warping CDF is monotone,
// normalised, inverts exactly and converges to a synthetic cross-entropy curve; sampling steps are
// equal in warped time; infilling never changes given tokens, with and without guidance.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, memory, noGrad, scope, tensor } from '../../src/tensor';
import { Adam } from '../../src/optim/adam';
import { MASK_ID } from '../../src/text/bpe';
import { CDCDNet, DEFAULT_CDCD, LossCDF, cdcdSample, cdcdSigmas, conditioningMasks, scoreInterpolation } from '../../src/text/cdcd';

test('score interpolation with exact logits equals x + σ² ∇ log p(x) (Tweedie; float64 finite differences)', () => {
  noGrad(() => scope(() => {
    const d = 4, sigma = 0.9;
    const s = Math.sqrt(d);
    // orthonormal directions scaled to norm sqrt(d): ±s along two axes, and the other two axes
    const E = [[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, s]];
    const prior = [0.1, 0.2, 0.3, 0.4];
    const x = [0.7, -0.3, 1.4, 0.2];
    // log p(x) = log Σ_v p(v) N(x; e_v, σ² I)
    const logp = (y: number[]) => Math.log(E.reduce((acc, e, v) => acc + prior[v] * Math.exp(-e.reduce((q, ei, i) => q + (y[i] - ei) ** 2, 0) / (2 * sigma * sigma)), 0));
    const h = 1e-5;
    const tweedie = x.map((xi, i) => {
      const up = x.slice(), dn = x.slice();
      up[i] += h; dn[i] -= h;
      return xi + sigma * sigma * (logp(up) - logp(dn)) / (2 * h);
    });
    // exact posterior logits: log p(v) + x·e_v / σ² (equal norms cancel)
    const logits = E.map((e, v) => Math.log(prior[v]) + e.reduce((q, ei, i) => q + x[i] * ei, 0) / (sigma * sigma));
    const D = scoreInterpolation(tensor([[logits]], { dtype: 'float64' }), tensor(E, { dtype: 'float64' })).tolist() as number[][][];
    D[0][0].forEach((v, i) => assert.ok(Math.abs(v - tweedie[i]) < 1e-7, `dim ${i}: ${v} vs ${tweedie[i]}`));
  }));
});

test('LossCDF: monotone, normalised, exact inverse; knots log-spaced on [t_min, t_max]', () => {
  const cdf = new LossCDF(1, 300, 100);
  noGrad(() => { cdf.w.copy_(torch.randn([100], { generator: new Generator(0) }).mul(2)); });
  const kc = cdf.cdfAtKnots();
  assert.equal(kc.length, 101);
  assert.equal(kc[0], 0);
  assert.ok(Math.abs(kc[100] - 1) < 1e-12);
  for (let k = 1; k <= 100; k++) assert.ok(kc[k] > kc[k - 1]);
  assert.equal(cdf.knots[0], 1);
  assert.equal(cdf.knots[100], 300);
  assert.ok(Math.abs(cdf.knots[50] - Math.sqrt(300)) < 1e-9);
  for (const u of [0, 1e-9, 0.013, 0.25, 0.5, 0.77, 0.999, 1]) {
    const t = cdf.inverse(u, kc);
    assert.ok(t >= 1 && t <= 300);
    assert.ok(Math.abs(cdf.cdf(t, kc) - u) < 1e-12, `F(F^-1(${u}))`);
  }
  for (const t of [1, 1.5, 17.3, 299.99, 300]) assert.ok(Math.abs(cdf.inverse(cdf.cdf(t, kc), kc) - t) < 1e-9 * t);
  // the density is the slope of F: integrates to 1 over the bins
  let integral = 0;
  for (let k = 0; k < 100; k++) integral += cdf.density(0.5 * (cdf.knots[k] + cdf.knots[k + 1]), kc) * (cdf.knots[k + 1] - cdf.knots[k]);
  assert.ok(Math.abs(integral - 1) < 1e-9);
  assert.throws(() => cdf.inverse(1.5), /u must lie in \[0, 1\], got 1.5/);
});

test('LossCDF fitted online (t drawn through its own inverse, importance-weighted) converges to a synthetic cross-entropy curve', () => {
  const curve = (t: number) => 6 * Math.log1p(t / 5) / Math.log1p(300 / 5); // 0.9 at t = 1 up to 6 at t = 300
  const cdf = new LossCDF(1, 300, 100);
  const opt = new Adam([cdf.w, cdf.offset], { lr: 0.05 });
  const gen = new Generator(1);
  for (let step = 0; step < 1500; step++) {
    scope(() => {
      const kc = cdf.cdfAtKnots();
      const v = torch.rand([1], { generator: gen }).item();
      const u = Array.from({ length: 64 }, (_, i) => (v + i / 64) % 1);
      const t = u.map((x) => cdf.inverse(x, kc));
      const noise = Array.from(torch.randn([64], { generator: gen, dtype: 'float64' }).dataSync());
      const ce = t.map((x, i) => curve(x) + 0.3 * noise[i]);
      opt.zeroGrad();
      cdf.fitLoss(tensor(t), tensor(ce), tensor(t.map((x) => cdf.density(x, kc)))).backward();
      opt.step();
    });
  }
  const vals = scope(() => Array.from(cdf.knotValues().dataSync()));
  const errs = cdf.knots.map((t, k) => Math.abs(vals[k] - curve(t)));
  // the noise (sd 0.3) averages out over ~1500·64/100 draws per bin; 0.15 is well above its residual
  assert.ok(Math.max(...errs) < 0.15, `max error ${Math.max(...errs)} at knot ${errs.indexOf(Math.max(...errs))}`);
  // normalised, the fitted F is the normalised curve
  const kc = cdf.cdfAtKnots();
  const norm = (t: number) => (curve(t) - curve(1)) / (curve(300) - curve(1));
  for (const k of [10, 50, 90]) assert.ok(Math.abs(kc[k] - norm(cdf.knots[k])) < 0.04);
});

test('sampling noise levels: from t_max down to t_min in equal steps of u = F(t), then 0', () => {
  const cdf = new LossCDF(1, 300, 100);
  noGrad(() => { cdf.w.copy_(torch.randn([100], { generator: new Generator(2) })); });
  const s = cdcdSigmas(cdf, 11);
  assert.equal(s.length, 12);
  assert.ok(Math.abs(s[0] - 300) < 1e-9);
  assert.ok(Math.abs(s[10] - 1) < 1e-9);
  assert.equal(s[11], 0);
  const kc = cdf.cdfAtKnots();
  for (let i = 0; i <= 10; i++) assert.ok(Math.abs(cdf.cdf(s[i], kc) - (1 - i / 10)) < 1e-9);
});

test('infilling: given tokens never change (plain, guided, Heun); nothing is left masked; no leaks', () => {
  const b = { vocabSize: 20, seqLen: 10, dim: 16, depth: 1, heads: 2, mlpRatio: 2, positions: 'rotary' as const };
  const net = new CDCDNet(b, { ...DEFAULT_CDCD, embedDim: 8, bins: 10 }, new Generator(0));
  net.eval();
  const template = [5, MASK_ID, MASK_ID, 7, MASK_ID, 9, MASK_ID, MASK_ID, 4, MASK_ID];
  // the first call creates the shared rotary tables (kept for the process): count after it
  scope(() => { cdcdSample(net, { template: tensor([template], { dtype: 'int64' }), steps: 1, generator: new Generator(0) }); });
  const before = memory().liveTensors;
  scope(() => {
    for (const o of [{ guidance: 1 }, { guidance: 3 }, { guidance: 2, sampler: 'heun' as const }]) {
      const r = cdcdSample(net, { template: tensor([template, template], { dtype: 'int64' }), steps: 6, generator: new Generator(1), ...o });
      for (const row of r.tokens.tolist() as number[][]) {
        template.forEach((v, j) => { if (v !== MASK_ID) assert.equal(row[j], v); });
        assert.ok(!row.includes(MASK_ID));
      }
      assert.equal(r.nfe, o.sampler === 'heun' ? 11 : 6);
    }
  });
  assert.equal(memory().liveTensors, before);
  scope(() => {
    const m = conditioningMasks(400, 16, 0.5, new Generator(0));
    const rows = m.tolist() as boolean[][];
    const conditioned = rows.filter((r) => r.some(Boolean)).length;
    assert.ok(conditioned > 150 && conditioned < 250, `${conditioned} of 400 conditioned`);
  });
});
