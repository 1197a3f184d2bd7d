// Probability-flow likelihoods against closed forms. Data x0 ~ N(mu, s^2 I) in D dims has the exact
// denoiser D*(x, sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu), so the ODE log-likelihood must equal
// log N(x0; mu, s^2 I) (up to sigma_min^2 / s^2 and the prior's mismatch mu / sigma_max, both
// far below the tolerance given the true marginal at sigma_max as prior, or a very large sigma_max).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, memory, scope, tensor } from '../../src/tensor';
import type { Denoiser } from '../../src/diffusion/denoiser';
import {
  bitsPerDim, driftDivergence, hutchinsonProbes, likelihoodSigmas, logLikelihood, logLikelihoodParts, uniformDequantise,
} from '../../src/diffusion/likelihood';

const MU = 0.5;
const S = 0.7;
const D = 4;

const gaussianDenoiser = (mu: number, s: number): Denoiser => (x, sigma) => {
  const c = sigma.square().add(s * s).reciprocal().mul(s * s).reshape([x.shape[0], ...x.shape.slice(1).map(() => 1)]);
  return x.sub(mu).mul(c).add(mu);
};

/** log N(x; mu, s^2 I) per example. */
const exactLogProb = (x: Tensor, mu: number, s: number): Tensor => {
  const d = x.numel() / x.shape[0];
  return x.flatten(1).sub(mu).square().sum(1).div(-2 * s * s).sub(0.5 * d * Math.log(2 * Math.PI * s * s));
};

const data = (n: number, seed: number) => torch.randn([n, D], { generator: new Generator(seed), dtype: 'float64' }).mul(S).add(MU);
const maxAbs = (a: Tensor, b: Tensor) => a.sub(b).abs().max().item();

test('ODE log-likelihood with the exact divergence matches log N(x0; mu, s^2) within 1e-3 nats/dim (Heun)', () => {
  scope(() => {
    const x0 = data(16, 1);
    const want = exactLogProb(x0, MU, S);
    // the true marginal at sigma_max as prior isolates the ODE error
    const prior = (x: Tensor, sMax: number) => exactLogProb(x, MU, Math.sqrt(S * S + sMax * sMax));
    const got = logLikelihood(gaussianDenoiser(MU, S), x0, { sigmaMin: 0.002, sigmaMax: 80, steps: 384, solver: 'heun', divergence: 'exact', prior });
    assert.deepEqual(got.shape, [16]);
    const err = maxAbs(got, want) / D;
    assert.ok(err < 1e-3, `max error ${err} nats/dim`);
    // the default prior N(0, sigma_max^2 I) is off by ~ mu z / sigma_max per dim: negligible for a large sigma_max
    const dflt = logLikelihood(gaussianDenoiser(MU, S), x0, { sigmaMin: 0.002, sigmaMax: 2e4, steps: 512, solver: 'heun', divergence: 'exact' });
    const err2 = maxAbs(dflt, want) / D;
    assert.ok(err2 < 1e-3, `default prior: max error ${err2} nats/dim`);
  });
});

test('Heun converges faster than Euler and both converge with the step count', () => {
  scope(() => {
    const x0 = data(8, 2);
    const want = exactLogProb(x0, MU, S);
    const err = (solver: 'heun' | 'euler', steps: number) =>
      maxAbs(logLikelihood(gaussianDenoiser(MU, S), x0, { sigmaMax: 1000, steps, solver, divergence: 'exact' }), want);
    const e1 = err('euler', 32);
    const e2 = err('euler', 128);
    const h1 = err('heun', 32);
    const h2 = err('heun', 128);
    assert.ok(e2 < e1 / 2.5, `euler ${e1} -> ${e2}`); // first order: / 4 in the limit
    assert.ok(h2 < h1 / 8, `heun ${h1} -> ${h2}`); // second order: / 16 in the limit
    assert.ok(h1 < e1 / 3, `heun ${h1} vs euler ${e1}`);
  });
});

test('parts: the divergence integral and prior have their closed forms', () => {
  scope(() => {
    // div f = D sigma / (s^2 + sigma^2), so the integral is D/2 log((s^2 + smax^2) / (s^2 + smin^2))
    const x0 = data(4, 3);
    const parts = logLikelihoodParts(gaussianDenoiser(MU, S), x0, { sigmaMin: 0.01, sigmaMax: 50, steps: 256, divergence: 'exact' });
    const want = (D / 2) * Math.log((S * S + 2500) / (S * S + 1e-4));
    assert.ok(maxAbs(parts.deltaLogProb, torch.full([4], want, { dtype: 'float64' })) < 1e-3);
    // x(sigma_max) = mu + sqrt((s^2 + smax^2) / (s^2 + smin^2)) (x0 - mu)
    const xT = x0.sub(MU).mul(Math.sqrt((S * S + 2500) / (S * S + 1e-4))).add(MU);
    assert.ok(maxAbs(parts.xT, xT) < 2e-3 * 50);
    assert.ok(maxAbs(parts.logLikelihood, parts.priorLogProb.add(parts.deltaLogProb)) < 1e-12);
  });
});

test('Hutchinson divergence is unbiased for a non-diagonal Jacobian (gaussian and rademacher probes)', () => {
  scope(() => {
    // D(x) = x W: f = (x - x W) / sigma, div f = (D - tr W) / sigma exactly; check against the
    // basis-vector sum too, then the probe mean over many probes within 5 standard errors.
    const W = torch.randn([D, D], { generator: new Generator(7), dtype: 'float64' });
    const linear: Denoiser = (x) => x.matmul(W);
    const sigma = 0.8;
    const x = torch.randn([3, D], { generator: new Generator(8), dtype: 'float64' });
    const exact = (D - W.diagonal().sum().item()) / sigma;
    const ex = driftDivergence(linear, x, sigma, null);
    assert.ok(maxAbs(ex.divergence, torch.full([3], exact, { dtype: 'float64' })) < 1e-10);
    const J = torch.eye(D, { dtype: 'float64' }).sub(W).div(sigma); // df/dx is (I - W^T) / sigma; the variances below are transpose-invariant
    const frob2 = J.square().sum().item();
    const offDiag2 = frob2 - J.diagonal().square().sum().item();
    for (const [kind, variance] of [['gaussian', 2 * frob2], ['rademacher', 2 * offDiag2]] as const) {
      const k = 2000;
      const probes = hutchinsonProbes(x, k, kind, new Generator(9));
      const est = driftDivergence(linear, x, sigma, probes);
      const se = Math.sqrt(variance / k);
      for (const v of Array.from(est.divergence.dataSync())) {
        assert.ok(Math.abs(v - exact) < 5 * se, `${kind}: ${v} vs ${exact} (se ${se})`);
      }
    }
  });
});

test('Hutchinson log-likelihood is unbiased: the mean over independent probes matches the exact one', () => {
  scope(() => {
    const W = torch.randn([D, D], { generator: new Generator(11), dtype: 'float64' }).mul(0.3);
    // a denoiser with a non-diagonal, sigma-dependent Jacobian so the estimator has variance
    const model: Denoiser = (x, sigma) => {
      const c = sigma.square().add(S * S).reciprocal().mul(S * S).reshape([x.shape[0], 1]);
      return x.sub(MU).mul(c).add(x.matmul(W).mul(c.mul(0.5))).add(MU);
    };
    const n = 400;
    const x0 = data(1, 12).expand([n, D]).contiguous();
    const opts = { sigmaMax: 80, steps: 16, solver: 'heun' as const };
    const exact = logLikelihood(model, x0.narrow(0, 0, 1), { ...opts, divergence: 'exact' }).item();
    for (const kind of ['gaussian', 'rademacher'] as const) {
      const est = logLikelihood(model, x0, { ...opts, hutchinson: kind, probes: 1, generator: new Generator(13) });
      const mean = est.mean().item();
      const se = est.std().item() / Math.sqrt(n);
      assert.ok(se > 0, `${kind}: the estimator should have variance here`);
      assert.ok(Math.abs(mean - exact) < 4 * se, `${kind}: mean ${mean} vs exact ${exact} (se ${se})`);
      // a fixed seed is deterministic
      const again = logLikelihood(model, x0, { ...opts, hutchinson: kind, probes: 1, generator: new Generator(13) });
      assert.ok(maxAbs(again, est) === 0);
    }
  });
});

test('bits/dim of uniformly dequantised data matches the hand computation from the known density', () => {
  scope(() => {
    // a continuous density N(mu, s^2) on [-1, 1]-scaled data quantised to 256 levels
    const mu = 0.1;
    const s = 0.4;
    const bins = 256;
    const k = torch.randint(0, bins, [6, D], { generator: new Generator(21), dtype: 'float64' });
    const x = k.mul(2 / (bins - 1)).sub(1); // levels in [-1, 1]
    const model = gaussianDenoiser(mu, s);
    const prior = (z: Tensor, sMax: number) => exactLogProb(z, mu, Math.sqrt(s * s + sMax * sMax));
    const ode = { sigmaMax: 80, steps: 384, divergence: 'exact' as const, prior };
    const got = bitsPerDim(model, x, { bins, dequantise: 'uniform', generator: new Generator(22), ...ode });
    // by hand: the same uniform draw, y = k + u, x~ = 2 y / 256 - 1, bpd = -log N(x~) / (D ln 2) + log2(128)
    const u = torch.rand([6, D], { generator: new Generator(22), dtype: 'float64' });
    const xt = k.add(u).mul(2 / bins).sub(1);
    const want = exactLogProb(xt, mu, s).div(-D * Math.LN2).add(7);
    assert.ok(maxAbs(got, want) < 1.5e-3, `bits/dim ${got.dataSync()} vs ${want.dataSync()}`);
    // the helper lands every level in its own cell of width 2 / bins
    const deq = uniformDequantise(x, bins, new Generator(22));
    assert.ok(maxAbs(deq, xt) < 1e-12);
    const cell = deq.add(1).mul(bins / 2).floor();
    assert.ok(maxAbs(cell, k) === 0);
    // without dequantisation only the change of scale is applied
    const plain = bitsPerDim(model, x, { bins, dequantise: 'none', ...ode });
    assert.ok(maxAbs(plain, exactLogProb(x, mu, s).div(-D * Math.LN2).add(7)) < 1.5e-3);
  });
});

test('sigma grid, validation and no leaked tensors', () => {
  const g = likelihoodSigmas(0.002, 80, 10);
  assert.equal(g.length, 11);
  assert.equal(g[0], 0.002);
  assert.equal(g[10], 80);
  for (let i = 1; i < g.length; i++) assert.ok(g[i] > g[i - 1]);
  const x0 = scope(() => data(2, 30).keep());
  assert.throws(() => logLikelihood(gaussianDenoiser(MU, S), x0, { sigmas: [1, 0.5] }), /increasing/);
  assert.throws(() => logLikelihood(gaussianDenoiser(MU, S), x0, { probes: 0 }), /probes/);
  const D = gaussianDenoiser(MU, S);
  assert.throws(() => logLikelihood(D, x0, { sigmas: [0, 1] }), /logLikelihood: sigmas must be positive \(the drift is singular at sigma = 0\), got sigmas\[0\] = 0/);
  assert.throws(() => logLikelihood(D, x0, { solver: 'rk4' as never }), /logLikelihood: solver must be 'heun' or 'euler', got "rk4"/);
  assert.throws(() => logLikelihood(D, x0, { divergence: 'trace' as never }), /logLikelihood: divergence must be 'hutchinson' or 'exact', got "trace"/);
  assert.throws(() => logLikelihood(D, x0, { hutchinson: 'uniform' as never }), /hutchinsonProbes: kind \(the hutchinson option\) must be 'rademacher' or 'gaussian', got "uniform"/);
  assert.throws(() => logLikelihood(D, x0, { sigmaMin: 1, sigmaMax: 1 }), /likelihoodSigmas: need 0 < sigmaMin < sigmaMax, got sigmaMin 1 and sigmaMax 1/);
  assert.throws(() => bitsPerDim(D, x0, { bins: 1 }), /bitsPerDim: bins must be an integer >= 2, got 1/);
  assert.throws(() => bitsPerDim(D, x0, { dequantise: 'gaussian' as never }), /bitsPerDim: dequantise must be 'uniform' or 'none', got "gaussian"/);
  const before = memory().liveTensors;
  scope(() => {
    logLikelihood(gaussianDenoiser(MU, S), x0, { steps: 4, probes: 2, hutchinson: 'gaussian', generator: new Generator(1) });
  });
  assert.equal(memory().liveTensors, before);
  x0.dispose();
  void tensor;
});
