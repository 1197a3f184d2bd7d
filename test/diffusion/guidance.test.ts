// Guidance wrappers against an analytic class-conditional Gaussian: x0 | y ~ N(mu_y, s^2 I), y in
// {0, 1} with prior pi. In EDM form x = x0 + sigma n:
//   D(x | y) = mu_y + s^2 / (s^2 + sigma^2) (x - mu_y),
//   p(y | x_sigma) ∝ pi_y N(x; mu_y, (s^2 + sigma^2) I)  (the exact Bayes classifier),
//   D(x) = sum_y p(y | x_sigma) D(x | y)                  (the unconditional: a posterior-weighted mixture).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, noGrad, scope, tensor } from '../../src/tensor';
import type { Denoiser } from '../../src/diffusion/denoiser';
import { sampleEuler } from '../../src/diffusion/samplers';
import { classifierFreeGuidance, classifierGuidance, dynamicThresholding, inpaint, scoreTemperature } from '../../src/diffusion/guidance';

const MU = [-1.5, 1.0];
const PI = [0.3, 0.7];
const S = 0.5;
const DIM = 4;
const NULL = -1; // the "no conditioning" label

const col = (v: Tensor) => v.reshape([v.shape[0], 1]);

/** log pi_y - |x - mu_y|^2 / (2 (s^2 + sigma^2)) - (d/2) log(s^2 + sigma^2), per class: [(B,), (B,)]. */
function classLogits(x: Tensor, sigma: Tensor): Tensor[] {
  const v = sigma.square().add(S * S); // (B,)
  return MU.map((mu, y) => x.sub(mu).square().sum(1).div(v.mul(2)).neg().add(Math.log(PI[y])).sub(v.log().mul(DIM / 2)));
}

/** Exact log p(y | x_sigma) for labels y (B,). */
function bayesLogProb(x: Tensor, sigma: Tensor, y: Tensor): Tensor {
  const [l0, l1] = classLogits(x, sigma);
  const lse = torch.stack([l0, l1], 1).logsumexp(1);
  return torch.where(y.eq(0), l0, l1).sub(lse);
}

function condDenoiser(x: Tensor, sigma: Tensor, y: number): Tensor {
  const k = col(sigma.square().add(S * S).reciprocal().mul(S * S)); // (B, 1)
  return x.sub(MU[y]).mul(k).add(MU[y]);
}

function uncondDenoiser(x: Tensor, sigma: Tensor): Tensor {
  const [l0, l1] = classLogits(x, sigma);
  const w = torch.stack([l0, l1], 1).softmax(1); // (B, 2) posterior p(y | x_sigma)
  return condDenoiser(x, sigma, 0).mul(w.select(1, 0).reshape([-1, 1])).add(condDenoiser(x, sigma, 1).mul(w.select(1, 1).reshape([-1, 1])));
}

/** A conditional model that reads labels from extra.cond (NULL: unconditional) and records its calls. */
function countingModel(): { model: Denoiser; calls: number[] } {
  const calls: number[] = [];
  const model: Denoiser = (x, sigma, extra) => {
    calls.push(x.shape[0]);
    const c = col(extra!.cond as Tensor);
    return torch.where(c.eq(0), condDenoiser(x, sigma, 0), torch.where(c.eq(1), condDenoiser(x, sigma, 1), uncondDenoiser(x, sigma)));
  };
  return { model, calls };
}

const f64 = { dtype: 'float64' as const };
const B = 6;
const points = (seed: number, scale = 2) => torch.randn([B, DIM], { generator: new Generator(seed), ...f64 }).mul(scale);
const labels = tensor([0, 1, 1, 0, 1, 0], f64);
const sigmas = (v: number[]) => tensor(v, f64);
const SIG = sigmas([0.1, 0.5, 1, 2, 5, 20]);
const maxAbs = (a: Tensor, b: Tensor) => a.sub(b).abs().max().item();
const same = (a: Tensor, b: Tensor) => assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
const byLabel = (x: Tensor, sigma: Tensor, y: Tensor) => torch.where(col(y).eq(0), condDenoiser(x, sigma, 0), condDenoiser(x, sigma, 1));

test('CFG: gamma = 1 is the conditional and gamma = 0 the unconditional, exactly, in one batched forward', () => {
  scope(() => {
    const x = points(1);
    const { model, calls } = countingModel();
    const nullCond = tensor([NULL], f64);
    same(classifierFreeGuidance(model, { scale: 1, cond: labels, nullCond })(x, SIG), byLabel(x, SIG, labels));
    same(classifierFreeGuidance(model, { scale: 0, cond: labels, nullCond })(x, SIG), uncondDenoiser(x, SIG));
    assert.deepEqual(calls, [2 * B, 2 * B]);
    // gamma = 3 through extra.cond: (1 - gamma) D(x) + gamma D(x | y)
    const g = classifierFreeGuidance(model, { scale: 3, nullCond })(x, SIG, { cond: labels });
    const want = uncondDenoiser(x, SIG).mul(-2).add(byLabel(x, SIG, labels).mul(3));
    assert.ok(maxAbs(g, want) < 1e-12);
    // the same in score space: grad log p_gamma = grad log p(x) + gamma (grad log p(x|y) - grad log p(x))
    const score = (d: Tensor) => d.sub(x).div(col(SIG.square()));
    const scoreWant = score(uncondDenoiser(x, SIG)).add(score(byLabel(x, SIG, labels)).sub(score(uncondDenoiser(x, SIG))).mul(3));
    assert.ok(maxAbs(score(g), scoreWant) < 1e-9);
  });
});

test('CFG: one model call per sampler step', () => {
  scope(() => {
    const { model, calls } = countingModel();
    const steps = sigmas([20, 10, 5, 2, 1, 0.5, 0.1, 0]);
    const out = sampleEuler(classifierFreeGuidance(model, { scale: 2, nullCond: tensor([NULL], f64) }), points(2, 20), steps, { extra: { cond: labels } });
    assert.deepEqual(calls, new Array(7).fill(2 * B));
    assert.ok(Number.isFinite(out.sum().item()));
  });
});

test('CFG interval: guided inside [lo, hi], plain conditional outside (a single B-sized call when all outside)', () => {
  scope(() => {
    const x = points(3);
    const { model, calls } = countingModel();
    const nullCond = tensor([NULL], f64);
    const guided = classifierFreeGuidance(model, { scale: 4, cond: labels, nullCond, interval: [0.4, 3] });
    // all outside
    const outside = sigmas([0.1, 0.2, 5, 6, 10, 20]);
    same(guided(x, outside), byLabel(x, outside, labels));
    assert.deepEqual(calls, [B]);
    // mixed: samples 1..3 inside (0.5, 1, 2), the rest outside
    const got = guided(x, SIG);
    assert.deepEqual(calls, [B, 2 * B]);
    const full = uncondDenoiser(x, SIG).mul(-3).add(byLabel(x, SIG, labels).mul(4));
    const cond = byLabel(x, SIG, labels);
    for (let i = 0; i < B; i++) {
      const want = i >= 1 && i <= 3 ? full : cond;
      assert.ok(maxAbs(got.select(0, i), want.select(0, i)) < 1e-12, `sample ${i}`);
    }
  });
});

test('CFG rescale: phi = 0 is the identity; phi = 1 matches the conditional std per sample', () => {
  scope(() => {
    const x = points(4);
    const { model } = countingModel();
    const base = { scale: 5, cond: labels, nullCond: tensor([NULL], f64) };
    const plain = classifierFreeGuidance(model, base)(x, SIG);
    same(classifierFreeGuidance(model, { ...base, rescale: 0 })(x, SIG), plain);
    const full = classifierFreeGuidance(model, { ...base, rescale: 1 })(x, SIG);
    assert.ok(maxAbs(full.std({ dim: [1] }), byLabel(x, SIG, labels).std({ dim: [1] })) < 1e-12);
    // phi = 0.3: a mix of the two
    const mix = classifierFreeGuidance(model, { ...base, rescale: 0.3 })(x, SIG);
    assert.ok(maxAbs(mix, full.mul(0.3).add(plain.mul(0.7))) < 1e-12);
  });
});

test('classifier guidance with the exact Bayes classifier at gamma = 1 turns D(x) into D(x | y)', () => {
  scope(() => {
    const x = points(5);
    const uncond: Denoiser = (xx, s) => uncondDenoiser(xx, s);
    const guided = classifierGuidance(uncond, (xx, s) => bayesLogProb(xx, s, labels), { scale: 1 });
    // under noGrad, as the samplers call it
    const got = noGrad(() => guided(x, SIG));
    assert.ok(maxAbs(got, byLabel(x, SIG, labels)) < 1e-9, `err ${maxAbs(got, byLabel(x, SIG, labels))}`);
    assert.equal(got.requiresGrad, false);
    // gamma = 0 is the unconditional model
    same(classifierGuidance(uncond, (xx, s) => bayesLogProb(xx, s, labels), { scale: 0 })(x, SIG), uncondDenoiser(x, SIG));
    // gamma = 2 is the unconditional plus twice the conditioning term
    const g2 = noGrad(() => classifierGuidance(uncond, (xx, s) => bayesLogProb(xx, s, labels), { scale: 2 })(x, SIG));
    assert.ok(maxAbs(g2, byLabel(x, SIG, labels).mul(2).sub(uncondDenoiser(x, SIG))) < 1e-9);
  });
});

test('score temperature: D\' = x + gamma (D - x), i.e. the score times gamma', () => {
  scope(() => {
    const x = points(6);
    const { model } = countingModel();
    const extra = { cond: labels };
    const d = model(x, SIG, extra);
    const got = scoreTemperature(model, 0.6)(x, SIG, extra);
    assert.ok(maxAbs(got, x.add(d.sub(x).mul(0.6))) < 1e-15);
    const score = (t: Tensor) => t.sub(x).div(col(SIG.square()));
    assert.ok(maxAbs(score(got), score(d).mul(0.6)) < 1e-9);
    same(scoreTemperature(model, 1)(x, SIG, extra), x.add(d.sub(x)));
  });
});

/** torch.quantile's linear interpolation, by hand. */
function quantile(v: number[], p: number): number {
  const a = [...v].sort((u, w) => u - w);
  const pos = p * (a.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, a.length - 1);
  return a[lo] + (pos - lo) * (a[hi] - a[lo]);
}

test('dynamic thresholding clips and rescales exactly as computed by hand', () => {
  scope(() => {
    const rows = [
      [-3, 0.5, 2, -0.25, 1.5], // out of range: s > 1
      [0.9, -0.2, 0.1, -1.0, 0.3], // within [-1, 1]: s = 1, unchanged
      [4, -4, 0, 0.5, -8],
    ];
    const pred = tensor(rows, f64);
    const model: Denoiser = () => pred;
    for (const p of [0.995, 0.8, 0.5]) {
      const got = dynamicThresholding(model, { percentile: p })(tensor(rows, f64), sigmas([1, 1, 1]));
      const want = rows.map((r) => {
        const s = Math.max(1, quantile(r.map(Math.abs), p));
        return r.map((v) => Math.min(Math.max(v, -s), s) / s);
      });
      const g = Array.from(got.dataSync());
      want.flat().forEach((w, i) => assert.ok(Math.abs(g[i] - w) < 1e-14, `p=${p} [${i}]: ${g[i]} vs ${w}`));
    }
    // the in-range row is untouched
    same(dynamicThresholding(model)(pred, sigmas([1, 1, 1])).select(0, 1), pred.select(0, 1));
    // a bound of 2: data range [-2, 2]
    const got2 = dynamicThresholding(model, { percentile: 0.5, bound: 2 })(pred, sigmas([1, 1, 1]));
    const s0 = Math.max(2, quantile(rows[0].map(Math.abs), 0.5));
    assert.ok(Math.abs(got2.select(0, 0).select(0, 0).item() - (Math.max(-3, -s0) * 2) / s0) < 1e-14);
  });
});

test('inpainting (replacement wrapper) ends an Euler run with the known region equal to `known`', () => {
  scope(() => {
    const known = torch.randn([B, DIM], { generator: new Generator(7), ...f64 });
    const mask = tensor([[1, 0, 1, 0]], f64); // dims 0 and 2 known
    const { model } = countingModel();
    const wrapped = inpaint(model, { known, mask, generator: new Generator(8) });
    const steps = sigmas([40, 20, 10, 5, 2, 1, 0.5, 0.2, 0.05, 0]);
    const out = sampleEuler(wrapped, points(9, 40), steps, { extra: { cond: labels } });
    for (const d of [0, 2]) same(out.select(1, d), known.select(1, d));
    // the generated region is finite and not the known values
    for (const d of [1, 3]) {
      assert.ok(Number.isFinite(out.select(1, d).sum().item()));
      assert.ok(maxAbs(out.select(1, d), known.select(1, d)) > 1e-3);
    }
    // the model sees the known region re-noised to the current sigma: at sigma = 1e-9 it is `known`
    let seen: Tensor | undefined;
    const spy: Denoiser = (x, s, e) => ((seen = x.clone()), model(x, s, e));
    inpaint(spy, { known, mask, generator: new Generator(1) })(points(10), torch.full([B], 1e-9, f64), { cond: labels });
    assert.ok(maxAbs(seen!.select(1, 0), known.select(1, 0)) < 1e-7);
    same(seen!.select(1, 1), points(10).select(1, 1));
  });
});

test('bad guidance options are named with their value when the wrapper is built', () => {
  scope(() => {
    const nullCond = tensor([NULL], f64);
    const D: Denoiser = (x) => x;
    assert.throws(() => classifierFreeGuidance(D, { scale: NaN, nullCond }), /classifierFreeGuidance: scale must be a finite number, got NaN/);
    assert.throws(() => classifierFreeGuidance(D, { scale: 2, nullCond: -1 as never }), /classifierFreeGuidance: nullCond \(the "no conditioning" value\) must be a Tensor/);
    assert.throws(() => classifierFreeGuidance(D, { scale: 2, nullCond, interval: [3, 1] }), /classifierFreeGuidance: interval must be \[sigmaLo, sigmaHi\] with sigmaLo <= sigmaHi, got \[3,1\]/);
    assert.throws(() => classifierFreeGuidance(D, { scale: 2, nullCond, rescale: 1.5 }), /classifierFreeGuidance: rescale must lie in \[0, 1\], got 1.5/);
    assert.throws(() => classifierGuidance(D, (x) => x.sum(1), { scale: Infinity }), /classifierGuidance: scale must be a finite number, got Infinity/);
    assert.throws(() => scoreTemperature(D, 0), /scoreTemperature: gamma \(the inverse temperature\) must be a positive number, got 0/);
    assert.throws(() => dynamicThresholding(D, { percentile: 99.5 }), /dynamicThresholding: percentile must lie in \(0, 1\], got 99.5/);
    assert.throws(() => dynamicThresholding(D, { bound: 0 }), /dynamicThresholding: bound must be a positive number, got 0/);
    assert.throws(() => inpaint(D, { known: [1] as never, mask: tensor([1]) }), /inpaint: known and mask must be Tensors/);
  });
});
