// CDCD's continuous-time variational bound (src/text/cdcd.ts diffusionBound):
// - with the exact denoiser of a token distribution π (orthogonal embeddings, exact posterior logits)
//   and the Bayes decoder, the bound equals -log π(w) up to the two KL terms at t_max, whose sizes
//   are known in closed form (de Bruijn: the diffusion term is KL(q_min(.|w) || m_min) - KL(q_max(.|w) ||
//   m_max)); a wrong constant in front of ∫ ||e - ê||²/t³ would miss it by the whole diffusion term;
// - the importance-sampled diffusion term agrees with a brute-force quadrature (1-D embeddings,
//   dense quadrature over ε and log t, float64) within its standard error;
// - a checkpoint of a CDCD training run resumes exactly, the time-warping CDF's optimizer included.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, Tensor, functions as torch, noGrad, scope, tensor } from '../../src/tensor';
import { loadRaw } from '../../src/tensor/safetensors_format';
import { diffusionBound, NoisyLogits } from '../../src/text/cdcd';
import { trainText } from '../../src/text/train';

/** Exact posterior logits of a token at each position: log π_v - ||z - E_v||² / (2σ²), (B, L, V). */
function exactLogits(E: number[][], prior: number[]): NoisyLogits {
  return (z: Tensor, sigma: Tensor) => scope(() => {
    const Et = tensor(E, { dtype: 'float32' });                                                        // (V, d)
    const d2 = z.unsqueeze(2).sub(Et.view([1, 1, E.length, -1])).square().sum(3); // (B, L, V)
    return d2.div(sigma.square().mul(2).view([-1, 1, 1])).neg().add(tensor(prior, { dtype: 'float32' }).log());
  });
}

const meanSe = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
  return { m, se: Math.sqrt(v / xs.length) };
};

test('CDCD bound with the exact denoiser and Bayes decoder equals -log π(w) up to the closed-form KL terms at t_max', () => {
  noGrad(() => scope(() => {
    const c = 2, tMin = 0.5, tMax = 50;
    const E = [[c, 0, 0], [0, c, 0], [0, 0, c]];
    const prior = [0.5, 0.3, 0.2];
    const row = [0, 1, 2, 0];
    const N = 4096;
    const tokens = tensor(Array.from({ length: N }, () => row), { dtype: 'int64' });
    const r = diffusionBound(exactLogits(E, prior), tensor(E, { dtype: 'float32' }), tokens, tMin, tMax, { draws: 8, reconDraws: 1, generator: new Generator(0) });
    const { m, se } = meanSe(r.total);
    // B(w) = Σ_i [-log π(w_i) + ||E_wi||²/(2 t_max²) - KL(q_max(.|w_i) || m_max)], and
    // 0 ≤ KL(q_max(.|w_i) || m_max) ≤ Σ_v π_v ||E_wi - E_v||² / (2 t_max²) (convexity of KL)
    const upper = row.reduce((a, w) => a - Math.log(prior[w]) + (c * c) / (2 * tMax * tMax), 0);
    const slack = row.reduce((a, w) => a + prior.reduce((q, p, v) => q + p * (v === w ? 0 : 2 * c * c), 0) / (2 * tMax * tMax), 0);
    assert.ok(se < 0.05, `standard error ${se} too large for the check to mean anything`);
    assert.ok(m <= upper + 4 * se && m >= upper - slack - 4 * se, `bound ${m} ± ${se}, expected within [${upper - slack}, ${upper}]`);
    // the diffusion term carries most of it (the decoder at t_min = 0.5 is nearly certain): a factor 2 in
    // its constant would be far outside the tolerance
    const diff = meanSe(r.diffusion);
    assert.ok(diff.m > 0.8 * upper, `diffusion term ${diff.m} of ${upper}`);
    // the prior term is exact
    r.prior.forEach((p) => assert.ok(Math.abs(p - 4 * (c * c) / (2 * tMax * tMax)) < 1e-6, `prior ${p}`));
  }));
});

test('CDCD bound: the importance-sampled diffusion term equals a brute-force quadrature of ∫ E||e - ê||²/t³ dt', () => {
  noGrad(() => scope(() => {
    // one position, d = 1, two tokens at ±c with prior π; ê(z, t) = c·tanh(z c / t² + ½ log(π1/π0))
    const c = 1.5, tMin = 0.3, tMax = 20, prior = [0.35, 0.65], w = 1;
    const e = w === 1 ? c : -c;
    const half = 0.5 * Math.log(prior[1] / prior[0]);
    const inner = (t: number) => { // E_ε (e - ê(e + tε, t))² by dense quadrature over ε ∈ [-9, 9]
      let s = 0, ws = 0;
      for (let k = -3000; k <= 3000; k++) {
        const eps = k * 0.003, p = Math.exp(-eps * eps / 2);
        const eh = c * Math.tanh((e + t * eps) * c / (t * t) + half);
        s += p * (e - eh) ** 2; ws += p;
      }
      return s / ws;
    };
    // ∫ f(t)/t³ dt = ∫ f(t)/t² d(log t), trapezoid on 4000 log-spaced points
    const n = 4000, a = Math.log(tMin), b = Math.log(tMax);
    let quad = 0;
    for (let k = 0; k <= n; k++) {
      const t = Math.exp(a + (b - a) * k / n);
      quad += (k === 0 || k === n ? 0.5 : 1) * inner(t) / (t * t);
    }
    quad *= (b - a) / n;
    const N = 4096;
    const tokens = torch.full([N, 1], w, { dtype: 'int64' });
    const r = diffusionBound(exactLogits([[-c], [c]], prior), tensor([[-c], [c]]), tokens, tMin, tMax, { draws: 8, generator: new Generator(1) });
    const { m, se } = meanSe(r.diffusion);
    assert.ok(se < 0.05 * quad, `standard error ${se} vs ${quad}`);
    assert.ok(Math.abs(m - quad) < 4 * se, `importance-sampled ${m} ± ${se} vs quadrature ${quad}`);
  }));
});

test('diffusionBound: bad arguments are clear errors', () => {
  const fn = exactLogits([[1], [-1]], [0.5, 0.5]);
  const tok = tensor([[0]], { dtype: 'int64' });
  assert.throws(() => diffusionBound(fn, tensor([[1], [-1]]), tok, 0, 1, { generator: new Generator(0) }), /need 0 < tMin < tMax, got tMin 0, tMax 1/);
  assert.throws(() => diffusionBound(fn, tensor([[1], [-1]]), tok, 1, 2, { draws: 0, generator: new Generator(0) }), /draws must be a positive integer, got 0/);
});

test('CDCD training resumes exactly: model, optimizer and the time-warping CDF with its own Adam state', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdcd-resume-'));
  try {
    const common = {
      model: 'cdcd' as const, backbone: { seqLen: 16, dim: 16, depth: 1, heads: 2, mlpRatio: 2 }, options: { embedDim: 8 },
      batchSize: 4, scheduleSteps: 6, evalEvery: 3, runsDir: dir, log: null, maxMinutes: 10,
    };
    const straight = await trainText({ ...common, steps: 6, name: 'straight' });
    await trainText({ ...common, steps: 3, name: 'resumed' });
    const resumed = await trainText({ ...common, steps: 6, name: 'resumed', resume: true });
    assert.equal(straight.step, 6);
    assert.equal(resumed.step, 6);
    const a = loadRaw(straight.out!).tensors, b = loadRaw(resumed.out!).tensors;
    const names = Object.keys(a);
    assert.ok(names.some((k) => k.endsWith('warp.w')), names.join(','));
    assert.deepEqual(Object.keys(b).sort(), names.sort());
    for (const k of names) assert.ok(Buffer.from(a[k].data).equals(Buffer.from(b[k].data)), `tensor ${k} differs after resuming`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
