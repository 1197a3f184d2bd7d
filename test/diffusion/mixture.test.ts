// Samplers and a tiny training run against a 2-D Gaussian mixture, whose noisy marginals and exact
// denoiser are known in closed form. In EDM form x = x0 + sigma n with x0 ~ sum_k w_k N(mu_k, S_k):
//   p_sigma(x)  = sum_k w_k N(x; mu_k, S_k + sigma^2 I),
//   r_k(x)      = w_k N(x; mu_k, C_k) / p_sigma(x),  C_k = S_k + sigma^2 I  (responsibilities, in log space),
//   E[x0 | x]   = sum_k r_k(x) (mu_k + S_k C_k^-1 (x - mu_k)).
// Every 2x2 inverse and determinant is written out by hand, so the reference shares no code with the
// samplers. Sample statistics are checked with identities that hold exactly under the mixture:
// E[r_k(x0)] = w_k, E[r_k(x0) x0] = w_k mu_k, E[r_k(x0) (x0 - mu_k)(x0 - mu_k)^T] = w_k S_k.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, keep, noGrad, scope, tensor } from '../../src/tensor';
import type { Denoiser } from '../../src/diffusion/denoiser';
import {
  Sampler, StepInfo, langevinCorrector, predictorCorrector,
  sampleDdim, sampleDdpm, sampleDpmpp2m, sampleEuler, sampleEulerAncestral, sampleHeun,
} from '../../src/diffusion/samplers';
import { karrasSigmas } from '../../src/diffusion/schedules';
import { edmPrecondition } from '../../src/diffusion/precondition';
import { diffusionLoss, edmWeighting, logNormalSigmas } from '../../src/diffusion/objectives';
import { Linear, SiLU, Sequential } from '../../src/nn';
import { Adam } from '../../src/optim/adam';

const f64 = { dtype: 'float64' as const };

/** [[a, b], [b, d]] */
type Cov = [[number, number], [number, number]];
interface Mixture {
  w: number[];
  mu: [number, number][];
  cov: Cov[];
}

const MIX: Mixture = {
  w: [0.5, 0.3, 0.2],
  mu: [[-2, 0.5], [1.5, 1.5], [1, -2]],
  cov: [[[0.3, 0.12], [0.12, 0.2]], [[0.15, 0], [0, 0.15]], [[0.1, -0.05], [-0.05, 0.4]]],
};

/**
 * Exact mean and covariance of the mixture, m = sum w mu and Sigma = sum w (S + mu mu^T) - m m^T, and
 * the variance of (x_i - m_i)(x_j - m_j), which sets the standard error of a sample covariance: per
 * component, with a = mu_ki - m_i, b = mu_kj - m_j and Isserlis' theorem for the Gaussian part,
 * E[(x_i - m_i)^2 (x_j - m_j)^2] = a^2 b^2 + a^2 S_jj + b^2 S_ii + 4 a b S_ij + S_ii S_jj + 2 S_ij^2.
 */
function mixtureMoments(m: Mixture): { mean: number[]; cov: number[][]; productVar: number[][] } {
  const mean = [0, 1].map((i) => m.w.reduce((s, w, k) => s + w * m.mu[k][i], 0));
  const cov = [0, 1].map((i) => [0, 1].map((j) =>
    m.w.reduce((s, w, k) => s + w * (m.cov[k][i][j] + m.mu[k][i] * m.mu[k][j]), 0) - mean[i] * mean[j]));
  const productVar = [0, 1].map((i) => [0, 1].map((j) => m.w.reduce((s, w, k) => {
    const S = m.cov[k], a = m.mu[k][i] - mean[i], b = m.mu[k][j] - mean[j];
    return s + w * (a * a * b * b + a * a * S[j][j] + b * b * S[i][i] + 4 * a * b * S[i][j] + S[i][i] * S[j][j] + 2 * S[i][j] ** 2);
  }, 0) - cov[i][j] ** 2));
  return { mean, cov, productVar };
}

const col = (v: Tensor) => v.reshape([-1, 1]);

/**
 * All components at once, with s2 = sigma^2 (B,): log w_k N(x; mu_k, C_k) and the Gaussian posterior
 * mean mu_k + S_k C_k^-1 (x - mu_k), C_k = S_k + s2 I, as (K, B) tensors (the mean by coordinate;
 * components first, so that the reductions over k run along contiguous rows).
 */
function components(m: Mixture, x: Tensor, s2: Tensor): { logJoint: Tensor; mean0: Tensor; mean1: Tensor } {
  const percomp = (v: number[]) => tensor(v, f64).reshape([-1, 1]); // (K, 1)
  const a = percomp(m.cov.map((c) => c[0][0])), b = percomp(m.cov.map((c) => c[0][1])), d = percomp(m.cov.map((c) => c[1][1]));
  const mu0 = percomp(m.mu.map((v) => v[0])), mu1 = percomp(m.mu.map((v) => v[1]));
  const row = (v: Tensor) => v.reshape([1, -1]); // (1, B)
  const r0 = row(x.select(1, 0)).sub(mu0), r1 = row(x.select(1, 1)).sub(mu1); // (K, B)
  const ca = row(s2).add(a), cd = row(s2).add(d);
  const det = ca.mul(cd).sub(b.square());
  const u0 = cd.mul(r0).sub(b.mul(r1)).div(det); // u = C^-1 r, the 2x2 inverse written out
  const u1 = ca.mul(r1).sub(b.mul(r0)).div(det);
  const quad = r0.mul(u0).add(r1.mul(u1));
  const logJoint = quad.mul(-0.5).sub(det.log().mul(0.5)).add(percomp(m.w.map((w) => Math.log(w) - Math.log(2 * Math.PI))));
  return { logJoint, mean0: mu0.add(a.mul(u0)).add(b.mul(u1)), mean1: mu1.add(b.mul(u0)).add(d.mul(u1)) };
}

/** Responsibilities r_k(x) under the mixture convolved with N(0, s2 I): (B, K), rows summing to 1. */
function responsibilities(m: Mixture, x: Tensor, s2: Tensor): Tensor {
  return scope(() => components(m, x, s2).logJoint.softmax(0).t().contiguous());
}

/** The exact denoiser E[x0 | x0 + sigma n = x] of a mixture. */
function mixtureDenoiser(m: Mixture): Denoiser {
  return (x, sigma) => scope(() => {
    const { logJoint, mean0, mean1 } = components(m, x, sigma.square());
    const r = logJoint.softmax(0); // (K, B): log-sum-exp over the components
    return torch.stack([r.mul(mean0).sum(0), r.mul(mean1).sum(0)], 1);
  });
}

/** n exact draws from the mixture: component by multinomial, then mu + L z with L the hand-written Cholesky factor. */
function sampleMixture(m: Mixture, n: number, g: Generator, dtype: 'float64' | 'float32' = 'float64'): Tensor {
  return scope(() => {
    const k = torch.multinomial(tensor(m.w, f64), n, { replacement: true, generator: g }); // (n,)
    const z = torch.randn([n, 2], { generator: g, ...f64 });
    const mu = tensor(m.mu, f64).indexSelect(0, k); // (n, 2)
    const L = tensor(m.cov.map(([[a, b], [, d]]) => {
      const l00 = Math.sqrt(a), l10 = b / l00;
      return [[l00, 0], [l10, Math.sqrt(d - l10 * l10)]];
    }), f64).indexSelect(0, k); // (n, 2, 2)
    return mu.add(L.matmul(z.unsqueeze(2)).squeeze(2)).to(dtype);
  });
}

interface Stats {
  n: number;
  mean: number[];
  cov: number[][];
  /** Soft proportions mean_i r_k(x_i), and per-component responsibility-weighted means and covariances. */
  weight: number[];
  compMean: number[][];
  compCov: number[][][];
}

function sampleStats(m: Mixture, x: Tensor): Stats {
  return scope(() => {
    const xs = x.to('float64');
    const n = xs.shape[0];
    const mean = xs.mean(0);
    const c = xs.sub(mean);
    const cov = c.t().matmul(c).div(n - 1);
    const r = responsibilities(m, xs, torch.zeros([n], f64)); // at sigma = 0
    const weight = r.mean(0);
    const compMean: number[][] = [], compCov: number[][][] = [];
    m.w.forEach((_, k) => {
      const rk = col(r.select(1, k));
      const total = rk.sum().item();
      const dk = xs.sub(tensor([m.mu[k]], f64)); // about the true component mean, so E = w_k S_k exactly
      compMean.push(Array.from(xs.mul(rk).sum(0).div(total).dataSync()));
      const cc = dk.mul(rk).t().matmul(dk).div(total);
      compCov.push(cc.tolist() as number[][]);
    });
    return {
      n,
      mean: Array.from(mean.dataSync()),
      cov: cov.tolist() as number[][],
      weight: Array.from(weight.dataSync()),
      compMean,
      compCov,
    };
  });
}

interface Deviation {
  name: string;
  got: number;
  want: number;
  /** The standard error of the statistic for a sample of the mixture of this size. */
  se: number;
  /** The statistic's natural scale (a weight, a standard deviation, a variance). */
  scale: number;
}

/**
 * Every statistic against its exact value under the mixture, with its standard error: binomial for
 * the proportions (an upper bound: Var r_k <= w_k (1 - w_k)); sqrt(S_ii / n_k) for component means;
 * sqrt((S_ii S_jj + S_ij^2) / n_k), the Gaussian fourth moments, for component covariances;
 * sqrt(Sigma_ii / n) for the overall mean; the mixture's own fourth moments for the overall covariance.
 */
function deviations(s: Stats, m: Mixture): Deviation[] {
  const out: Deviation[] = [];
  const { mean, cov, productVar } = mixtureMoments(m);
  m.w.forEach((w, k) => {
    out.push({ name: `w[${k}]`, got: s.weight[k], want: w, se: Math.sqrt((w * (1 - w)) / s.n), scale: w });
    const nk = w * s.n;
    const S = m.cov[k];
    for (let i = 0; i < 2; i++) {
      out.push({ name: `mu[${k}][${i}]`, got: s.compMean[k][i], want: m.mu[k][i], se: Math.sqrt(S[i][i] / nk), scale: Math.sqrt(S[i][i]) });
      for (let j = i; j < 2; j++) {
        out.push({ name: `S[${k}][${i}${j}]`, got: s.compCov[k][i][j], want: S[i][j], se: Math.sqrt((S[i][i] * S[j][j] + S[i][j] ** 2) / nk), scale: Math.sqrt(S[i][i] * S[j][j]) });
      }
    }
  });
  for (let i = 0; i < 2; i++) {
    out.push({ name: `mean[${i}]`, got: s.mean[i], want: mean[i], se: Math.sqrt(cov[i][i] / s.n), scale: Math.sqrt(cov[i][i]) });
    for (let j = i; j < 2; j++) {
      out.push({ name: `cov[${i}${j}]`, got: s.cov[i][j], want: cov[i][j], se: Math.sqrt(productVar[i][j] / s.n), scale: Math.sqrt(cov[i][i] * cov[j][j]) });
    }
  }
  return out;
}

/** The statistics outside z standard errors plus `slack` times their scale (discretisation error). */
function checkStats(s: Stats, m: Mixture, { z = 4.5, slack = 0 }: { z?: number; slack?: number } = {}): string[] {
  return deviations(s, m)
    .filter((d) => !(Math.abs(d.got - d.want) <= z * d.se + slack * d.scale))
    .map((d) => `${d.name}: ${d.got.toFixed(4)} vs ${d.want.toFixed(4)} (tol ${(z * d.se + slack * d.scale).toFixed(4)})`);
}

const SIGMA_MAX = 80;
const N = 8000;
const exact = mixtureDenoiser(MIX);
const initialNoise = (n: number, seed: number, sigmaMax = SIGMA_MAX) =>
  torch.randn([n, 2], { generator: new Generator(seed), ...f64 }).mul(sigmaMax);

// [name, sampler, options, steps]: first-order and ancestral samplers need many more steps than the
// second-order ones for their discretisation error to fall below the sampling error of 8000 draws
const SAMPLERS: [string, Sampler<any>, object, number][] = [
  ['euler', sampleEuler, {}, 400],
  ['euler ancestral', sampleEulerAncestral, {}, 400],
  ['ddpm', sampleDdpm, {}, 400],
  ['ddim eta=0', sampleDdim, { eta: 0 }, 400],
  ['ddim eta=1', sampleDdim, { eta: 1 }, 400],
  ['heun', sampleHeun, {}, 40],
  ['heun churn', sampleHeun, { sChurn: 30, sTmin: 0.05, sTmax: 10 }, 100],
  ['dpm++2m', sampleDpmpp2m, {}, 40],
  ['pc(euler, langevin)', predictorCorrector(sampleEuler, langevinCorrector, { steps: 1, snr: 0.1 }), {}, 200],
];

test('every sampler draws the Gaussian mixture: proportions, component moments, mean, covariance; no noise left', () => {
  scope(() => {
    for (const [name, sampler, opts, steps] of SAMPLERS) {
      const sigmas = karrasSigmas(steps, { sigmaMax: SIGMA_MAX });
      const last: { x?: Tensor; sigma?: number; sigmaNext?: number } = {};
      const x = sampler(exact, initialNoise(N, 1), sigmas, {
        ...opts,
        generator: new Generator(2),
        callback: (info: StepInfo) => {
          last.x?.dispose();
          last.x = keep(info.x.clone());
          last.sigma = info.sigma;
          last.sigmaNext = info.sigmaNext;
        },
      });
      // the last step goes to sigma = 0 and returns the exact denoised estimate of the state it started from
      assert.equal(last.sigmaNext, 0, name);
      assert.equal(last.sigma, 0.002, `${name}: the last step starts at sigma_min`);
      const want = exact(last.x!, torch.full([N], last.sigma!, f64));
      assert.ok(x.sub(want).abs().max().item() < 1e-12, `${name}: output is D(x, sigma_min) of the last state`);
      last.x!.dispose();
      const s = sampleStats(MIX, x);
      const bad = checkStats(s, MIX, { slack: 0.02 });
      assert.deepEqual(bad, [], `${name}: ${bad.join('; ')}`);
    }
  });
});

test('the checks have power: exact draws pass; a slightly wrong mixture or too few steps fail', () => {
  scope(() => {
    // exact draws of the mixture pass (the standard errors are not too small)
    assert.deepEqual(checkStats(sampleStats(MIX, sampleMixture(MIX, N, new Generator(3))), MIX, { slack: 0.02 }), []);
    const heun = (m: Mixture, steps = 40) =>
      sampleStats(MIX, sampleHeun(mixtureDenoiser(m), initialNoise(N, 1), karrasSigmas(steps, { sigmaMax: SIGMA_MAX })));
    const failing = (m: Mixture, prefix: string) => {
      const bad = checkStats(heun(m), MIX, { slack: 0.02 });
      assert.ok(bad.some((b) => b.startsWith(prefix)), `${prefix}: ${bad.join('; ') || 'no failures'}`);
    };
    failing({ ...MIX, w: [0.45, 0.33, 0.22] }, 'w['); // weights off by 0.05
    failing({ ...MIX, cov: MIX.cov.map((c) => c.map((r) => r.map((v) => 1.25 * v)) as Cov) }, 'S['); // variances 25% too large
    failing({ ...MIX, mu: [MIX.mu[0], [MIX.mu[1][0] + 0.1, MIX.mu[1][1]], MIX.mu[2]] }, 'mu[1]'); // one mean shifted by 0.26 std
    // Euler with 20 steps leaves a discretisation error the checks see
    const coarse = sampleStats(MIX, sampleEuler(exact, initialNoise(N, 1), karrasSigmas(20, { sigmaMax: SIGMA_MAX })));
    assert.notDeepEqual(checkStats(coarse, MIX, { slack: 0.02 }), []);
  });
});

/** DDIM (Song et al. 2021, eq. 12) with eta = 0 in EDM form, written out: x' = D + (sigma' / sigma) (x - D). */
function ddimReference(x: Tensor, sigmas: number[]): Tensor {
  let xi = x.clone();
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const next = scope(() => {
      const d = exact(xi, torch.full([x.shape[0]], sigmas[i], f64));
      return d.add(xi.sub(d).mul(sigmas[i + 1] / sigmas[i]));
    });
    xi.dispose();
    xi = next;
  }
  return xi;
}

const bits = (t: Tensor) => Array.from(t.dataSync());

test('DDIM with eta = 0 is deterministic: bit-identical for any generator, which it leaves untouched', () => {
  scope(() => {
    const xT = initialNoise(512, 4);
    const sigmas = karrasSigmas(20, { sigmaMax: SIGMA_MAX });
    const g = new Generator(1);
    const a = sampleDdim(exact, xT, sigmas, { eta: 0, generator: g });
    const b = sampleDdim(exact, xT, sigmas, { eta: 0, generator: new Generator(2) });
    const c = sampleDdim(exact, xT, sigmas, { eta: 0 });
    assert.deepEqual(bits(b), bits(a));
    assert.deepEqual(bits(c), bits(a));
    // no draw from the generator: its next numbers are those of a fresh one
    assert.deepEqual(bits(torch.randn([8], { generator: g, ...f64 })), bits(torch.randn([8], { generator: new Generator(1), ...f64 })));
    // and it is the DDIM update, computed independently
    const want = ddimReference(xT, Array.from(sigmas.dataSync()));
    assert.ok(a.sub(want).abs().max().item() < 1e-10, `vs reference: ${a.sub(want).abs().max().item()}`);
    // eta > 0 draws from the generator: same seed, same samples; another seed, other samples
    for (const eta of [0.5, 1]) {
      const g1 = new Generator(1);
      const p = sampleDdim(exact, xT, sigmas, { eta, generator: g1 });
      const q = sampleDdim(exact, xT, sigmas, { eta, generator: new Generator(1) });
      const r = sampleDdim(exact, xT, sigmas, { eta, generator: new Generator(2) });
      assert.deepEqual(bits(q), bits(p), `eta ${eta}`);
      assert.ok(p.sub(r).abs().max().item() > 0.1, `eta ${eta}: another seed, other samples`);
      assert.notDeepEqual(bits(torch.randn([8], { generator: g1, ...f64 })), bits(torch.randn([8], { generator: new Generator(1), ...f64 })), `eta ${eta}: generator used`);
    }
  });
});

/**
 * Classical RK4 on the probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma over the given grid
 * down to its last positive sigma, then the exact final denoising step every sampler takes.
 */
function rk4Reference(xT: Tensor, sigmas: number[]): Tensor {
  const f = (x: Tensor, s: number) => x.sub(exact(x, torch.full([x.shape[0]], s, f64))).div(s);
  let x = xT.clone();
  for (let i = 0; i + 2 < sigmas.length; i++) {
    const [s, t] = [sigmas[i], sigmas[i + 1]];
    const h = t - s;
    const next = scope(() => {
      const k1 = f(x, s);
      const k2 = f(x.add(k1.mul(h / 2)), s + h / 2);
      const k3 = f(x.add(k2.mul(h / 2)), s + h / 2);
      const k4 = f(x.add(k3.mul(h)), t);
      return x.add(k1.add(k2.mul(2)).add(k3.mul(2)).add(k4).mul(h / 6));
    });
    x.dispose();
    x = next;
  }
  const last = sigmas[sigmas.length - 2];
  return scope(() => exact(x, torch.full([x.shape[0]], last, f64)));
}

test('Heun and DPM-Solver++(2M) converge at second order on the mixture PF-ODE, Euler at first order', () => {
  scope(() => {
    // a moderate sigma_max so that 16 steps are already in the asymptotic regime
    const grid = (n: number) => karrasSigmas(n, { sigmaMax: 5, sigmaMin: 0.05 });
    const xT = initialNoise(256, 5, 5);
    const ref = rk4Reference(xT, Array.from(grid(300).dataSync()));
    // the reference is converged far below the errors measured
    const coarser = rk4Reference(xT, Array.from(grid(150).dataSync()));
    assert.ok(ref.sub(coarser).abs().max().item() < 1e-5, `RK4 reference: ${ref.sub(coarser).abs().max().item()}`);
    // the median over points of the per-point error norm (a point near the boundary between two modes
    // is sensitive to the path and would dominate a maximum)
    const err = (x: Tensor) => x.sub(ref).square().sum(1).sqrt().median().item();
    // [name, sampler, range of error(N) / error(2N), bound on the error at 64 steps]: ~4 at second order, ~2 at first
    const cases: [string, Sampler, [number, number], number][] = [
      ['heun', sampleHeun, [3, 5.5], 1e-3],
      ['dpm++2m', sampleDpmpp2m, [3, 5.5], 1e-3],
      ['euler', sampleEuler, [1.6, 2.6], 3e-2],
    ];
    for (const [name, sampler, [lo, hi], atMost] of cases) {
      const errs = [16, 32, 64].map((n) => err(sampler(exact, xT, grid(n))));
      const ratios = [errs[0] / errs[1], errs[1] / errs[2]];
      for (const r of ratios) assert.ok(r >= lo && r <= hi, `${name}: error ratios ${ratios} (errors ${errs})`);
      assert.ok(errs[2] < atMost, `${name}: error at 64 steps ${errs[2]}`);
    }
  });
});

/** Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (V-statistics), zero iff the distributions agree. */
function energyDistance(x: Tensor, y: Tensor): number {
  return scope(() => {
    const [a, b] = [x.to('float64'), y.to('float64')];
    return 2 * torch.cdist(a, b).mean().item() - torch.cdist(a, a).mean().item() - torch.cdist(b, b).mean().item();
  });
}

/** The raw network: an MLP on [c_in x, c_noise, sin/cos(k c_noise)], for EDM preconditioning. */
class TinyNet extends Sequential {
  constructor(hidden: number, g: Generator) {
    super(new Linear(2 + 7, hidden, { generator: g }), new SiLU(), new Linear(hidden, hidden, { generator: g }), new SiLU(), new Linear(hidden, hidden, { generator: g }), new SiLU(), new Linear(hidden, 2, { generator: g }));
  }
  raw(xIn: Tensor, cNoise: Tensor): Tensor {
    return scope(() => {
      const c = col(cNoise.to(xIn.dtype));
      const k = tensor([[1, 2, 4]], { dtype: xIn.dtype });
      return this.forward(torch.cat([xIn, c, c.mul(k).sin(), c.mul(k).cos()], 1));
    });
  }
}

// 1500 Adam steps of 256 fresh draws: about 3 s on one core; other seeds give the same verdicts
const STEPS = 1500;
const BATCH = 256;

test('end to end: a tiny MLP trained with the EDM loss on mixture draws samples the mixture with Heun', () => {
  scope(() => {
    const { mean, cov } = mixtureMoments(MIX);
    const sigmaData = Math.sqrt((cov[0][0] + cov[1][1]) / 2);
    const gInit = new Generator(10), gData = new Generator(11), gLoss = new Generator(12);
    const net = new TinyNet(64, gInit);
    const D = edmPrecondition((xIn, cNoise) => net.raw(xIn, cNoise), { sigmaData });
    // constant, then a linear decay to 0 over the last 30%
    const opt = new Adam(net, { lr: (step) => 3e-3 * Math.min(1, (STEPS - step) / (0.3 * STEPS)) });
    const weighting = edmWeighting({ sigmaData });
    // noise levels centred higher than EDM's image default: the modes separate at sigma ~ 1
    const sigmaSampler = logNormalSigmas({ pMean: -0.6, pStd: 1.4 });
    const losses: number[] = [];
    for (let step = 0; step < STEPS; step++) {
      losses.push(scope(() => {
        const loss = diffusionLoss(D, sampleMixture(MIX, BATCH, gData, 'float32'), { generator: gLoss, weighting, sigmaSampler });
        loss.backward();
        opt.step();
        opt.zeroGrad();
        return loss.item();
      }));
    }
    const avg = (a: number[]) => a.reduce((u, v) => u + v, 0) / a.length;
    const [first, last] = [avg(losses.slice(0, 50)), avg(losses.slice(-200))];
    assert.ok(last < 0.9 * first, `loss ${first} -> ${last}`);

    const n = 2000;
    const xT = torch.randn([n, 2], { generator: new Generator(13) }).mul(SIGMA_MAX);
    const x = noGrad(() => sampleHeun(D, xT, karrasSigmas(32, { sigmaMax: SIGMA_MAX })));
    assert.equal(x.dtype, 'float32');
    // proportions, component moments, mean and covariance: sampling error plus 10% of each scale for the model's
    const bad = checkStats(sampleStats(MIX, x), MIX, { slack: 0.1 });
    assert.deepEqual(bad, [], bad.join('; '));

    // energy distance to fresh data: far below a Gaussian with the mixture's exact mean and covariance
    const data = sampleMixture(MIX, n, new Generator(14));
    const l00 = Math.sqrt(cov[0][0]), l10 = cov[0][1] / l00;
    const chol = tensor([[l00, 0], [l10, Math.sqrt(cov[1][1] - l10 * l10)]], f64);
    const gauss = torch.randn([n, 2], { generator: new Generator(15), ...f64 }).matmul(chol.t()).add(tensor([mean], f64));
    const edModel = energyDistance(x, data), edGauss = energyDistance(gauss, data);
    const edExact = energyDistance(sampleMixture(MIX, n, new Generator(16)), data); // two exact samples: the noise floor
    console.log(`mixture MLP: loss ${first.toFixed(3)} -> ${last.toFixed(3)}; energy distance ${edModel.toFixed(4)} (exact draws ${edExact.toFixed(4)}, moment-matched Gaussian ${edGauss.toFixed(4)})`);
    assert.ok(edModel < 0.1 * edGauss, `energy distance ${edModel} vs Gaussian ${edGauss}`);
    assert.ok(edModel < 5 * edExact, `energy distance ${edModel} vs exact draws ${edExact}`);
    // the same checks reject the Gaussian, which has the right mean and covariance but no modes
    assert.notDeepEqual(checkStats(sampleStats(MIX, gauss), MIX, { slack: 0.1 }), []);
  });
});
