// Log-likelihoods of a diffusion model through its probability-flow ODE (Song et al. 2021,
// "Score-Based Generative Modeling through SDEs", section 4.3 and appendix D.2; the instantaneous
// change of variables of Chen et al. 2018, "Neural ODEs", theorem 1).
//
// In EDM form (x = x0 + sigma * eps, D(x, sigma) ~ E[x0 | x]) the probability-flow ODE is
//   dx/dsigma = f(x, sigma) = (x - D(x, sigma)) / sigma,
// and along any of its trajectories the marginal density p_sigma obeys
//   d log p_sigma(x(sigma)) / dsigma = -div_x f(x(sigma), sigma).
// Integrating from sigma_min (where x(sigma_min) = x0) up to sigma_max:
//   log p_{sigma_min}(x0) = log p_{sigma_max}(x(sigma_max)) + int_{sigma_min}^{sigma_max} div f dsigma,
// with p_{sigma_max} ~ N(0, sigma_max^2 I) (the prior; exact up to the data's own spread, which
// sigma_max >> data scale makes negligible). The divergence is either exact (a sum over the D basis
// vectors, one vector-Jacobian product each; only for small D) or Hutchinson's estimator
// div f ~ E_v[v^T (df/dx) v] with E[v v^T] = I, v Gaussian or Rademacher, drawn once per example and
// held fixed along the whole trajectory (FFJORD, Grathwohl et al. 2019), so the estimate of
// log p is unbiased. Everything is evaluated with vector-Jacobian products via autograd.grad.
import { Generator, Tensor, enableGrad, functions as torch, grad, noGrad, scope } from '../tensor';
import { Conditioning, Denoiser, denoiseAt } from './denoiser';

export type DivergenceMethod = 'hutchinson' | 'exact';
export type HutchinsonProbe = 'gaussian' | 'rademacher';

export interface DivergenceOptions {
  /** 'hutchinson' (default) or 'exact' (D vector-Jacobian products; small D only). */
  divergence?: DivergenceMethod;
  /** Probe distribution for Hutchinson's estimator (default 'rademacher'). */
  hutchinson?: HutchinsonProbe;
  /** Probes per example, averaged (default 1). */
  probes?: number;
  /** Source of the probes (and of dequantisation noise in bitsPerDim). */
  generator?: Generator;
  extra?: Conditioning;
}

export interface LikelihoodOptions extends DivergenceOptions {
  /** Lower end of the ODE, where x(sigma_min) = x0 (default 0.002). */
  sigmaMin?: number;
  /** Upper end, where the prior N(0, sigma_max^2 I) is evaluated (default 80). */
  sigmaMax?: number;
  /** Number of ODE steps (default 64); Heun costs two model calls per step. */
  steps?: number;
  /** 'heun' (default, second order) or 'euler'. */
  solver?: 'heun' | 'euler';
  /** Karras et al. 2022 eq. 5 spacing with this rho instead of the default geometric grid. */
  rho?: number;
  /** An explicit increasing sigma grid; overrides sigmaMin, sigmaMax, steps and rho. */
  sigmas?: number[];
  /** log p_{sigma_max}(x), (B,); default the isotropic Gaussian N(0, sigma_max^2 I). */
  prior?: (x: Tensor, sigmaMax: number) => Tensor;
}

export interface LikelihoodParts {
  /** log p(x0) in nats, (B,). */
  logLikelihood: Tensor;
  /** log p_{sigma_max}(x(sigma_max)), (B,). */
  priorLogProb: Tensor;
  /** int div f dsigma from sigma_min to sigma_max, (B,). */
  deltaLogProb: Tensor;
  /** The ODE state at sigma_max. */
  xT: Tensor;
}

/**
 * Increasing sigma grid sigma_0 = sigma_min < ... < sigma_steps = sigma_max: geometric (uniform in
 * log sigma, the default) or, given rho, Karras et al. 2022 eq. 5 spacing.
 */
export function likelihoodSigmas(sigmaMin: number, sigmaMax: number, steps: number, rho?: number): number[] {
  if (!(sigmaMin > 0 && sigmaMax > sigmaMin)) throw new RangeError(`likelihoodSigmas: need 0 < sigmaMin < sigmaMax, got sigmaMin ${sigmaMin} and sigmaMax ${sigmaMax}`);
  if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`likelihoodSigmas: steps must be a positive integer, got ${steps}`);
  const s = Array.from({ length: steps + 1 }, (_, i) => {
    if (rho === undefined) return Math.exp(Math.log(sigmaMin) + (i / steps) * (Math.log(sigmaMax) - Math.log(sigmaMin)));
    const a = sigmaMin ** (1 / rho);
    const b = sigmaMax ** (1 / rho);
    return (a + (i / steps) * (b - a)) ** rho;
  });
  s[0] = sigmaMin;
  s[steps] = sigmaMax;
  return s;
}

/** log N(x; 0, sigma^2 I) per example, (B,). */
export function gaussianLogProb(x: Tensor, sigma: number): Tensor {
  const d = x.numel() / x.shape[0];
  return x.flatten(1).square().sum(1).div(-2 * sigma * sigma).sub(0.5 * d * Math.log(2 * Math.PI * sigma * sigma));
}

/** Hutchinson probes, (K, ...x.shape): unit variance, zero mean. */
export function hutchinsonProbes(x: Tensor, probes: number, kind: HutchinsonProbe = 'rademacher', generator?: Generator): Tensor {
  const shape = [probes, ...x.shape];
  const o = { generator: generator ?? null, dtype: x.dtype, device: x.device };
  if (kind === 'gaussian') return torch.randn(shape, o);
  if (kind === 'rademacher') return torch.randint(0, 2, shape, o).mul(2).sub(1);
  throw new TypeError(`hutchinsonProbes: kind (the hutchinson option) must be 'rademacher' or 'gaussian', got ${JSON.stringify(kind)}`);
}

/**
 * The probability-flow drift f = (x - D(x, sigma)) / sigma (detached) and its divergence per example
 * (B,): exact when `probes` is null (one vector-Jacobian product per dimension), else the mean of
 * v^T (df/dx) v over the K probes of `probes` (K, ...x.shape).
 */
export function driftDivergence(model: Denoiser, x: Tensor, sigma: number, probes: Tensor | null, extra?: Conditioning): { drift: Tensor; divergence: Tensor } {
  return enableGrad(() => {
    const xg = x.detach().requiresGrad_();
    const f = xg.sub(denoiseAt(model, xg, sigma, extra)).div(sigma);
    const b = x.shape[0];
    const d = x.numel() / b;
    let div: Tensor;
    if (probes === null) {
      // row j of the Jacobian of each example (examples are independent), take its j-th entry
      const parts: Tensor[] = [];
      const flat = f.reshape([b, d]);
      for (let j = 0; j < d; j++) {
        const [g] = grad(flat.select(1, j).sum(), xg, { retainGraph: j + 1 < d });
        parts.push(g!.reshape([b, d]).select(1, j));
      }
      div = torch.stack(parts, 1).sum(1);
    } else {
      const k = probes.shape[0];
      let acc: Tensor | null = null;
      for (let i = 0; i < k; i++) {
        const v = probes.select(0, i);
        const [vj] = grad(f, xg, { gradOutputs: [v], retainGraph: i + 1 < k }); // v^T J
        const est = vj!.mul(v).reshape([b, d]).sum(1);
        acc = acc === null ? est : acc.add(est);
      }
      div = acc!.div(k);
    }
    return { drift: f.detach(), divergence: div.detach() };
  });
}

/** log p(x0) together with its parts; see logLikelihood. */
export function logLikelihoodParts(model: Denoiser, x0: Tensor, opts: LikelihoodOptions = {}): LikelihoodParts {
  const sig = opts.sigmas ?? likelihoodSigmas(opts.sigmaMin ?? 0.002, opts.sigmaMax ?? 80, opts.steps ?? 64, opts.rho);
  for (let i = 1; i < sig.length; i++) if (!(sig[i] > sig[i - 1])) throw new RangeError(`logLikelihood: sigmas must be strictly increasing, got sigmas[${i}] = ${sig[i]} after ${sig[i - 1]}`);
  if (!(sig[0] > 0)) throw new RangeError(`logLikelihood: sigmas must be positive (the drift is singular at sigma = 0), got sigmas[0] = ${sig[0]}`);
  const solver = opts.solver ?? 'heun';
  if (solver !== 'heun' && solver !== 'euler') throw new TypeError(`logLikelihood: solver must be 'heun' or 'euler', got ${JSON.stringify(solver)}`);
  const method = opts.divergence ?? 'hutchinson';
  if (method !== 'hutchinson' && method !== 'exact') throw new TypeError(`logLikelihood: divergence must be 'hutchinson' or 'exact', got ${JSON.stringify(method)}`);
  const k = opts.probes ?? 1;
  if (method === 'hutchinson' && !(Number.isInteger(k) && k >= 1)) throw new RangeError(`logLikelihood: probes must be a positive integer, got ${k}`);
  return noGrad(() => scope(() => {
    const probes = method === 'exact' ? null : hutchinsonProbes(x0, k, opts.hutchinson ?? 'rademacher', opts.generator);
    let x = x0.detach();
    let delta = torch.zeros([x0.shape[0]], { dtype: x0.dtype, device: x0.device });
    // x steps in sigma (at large sigma x grows linearly in sigma, which Heun follows exactly), the
    // log-density change in t = log sigma: int div f dsigma = int sigma div f dt, whose integrand is
    // smooth and bounded (D sigma^2 / (s^2 + sigma^2) for Gaussian data) where div f itself has a
    // ~D / sigma tail that trapezoids in sigma integrate poorly. Both use the same evaluations.
    for (let i = 0; i + 1 < sig.length; i++) {
      const s = sig[i];
      const sNext = sig[i + 1];
      const h = sNext - s;
      const ht = Math.log(sNext) - Math.log(s);
      const next = scope(() => {
        const a = driftDivergence(model, x, s, probes, opts.extra);
        if (solver === 'euler') return [x.add(a.drift.mul(h)), delta.add(a.divergence.mul(s * ht))];
        const b = driftDivergence(model, x.add(a.drift.mul(h)), sNext, probes, opts.extra);
        return [x.add(a.drift.add(b.drift).mul(h / 2)), delta.add(a.divergence.mul(s).add(b.divergence.mul(sNext)).mul(ht / 2))];
      });
      x.dispose();
      delta.dispose();
      [x, delta] = next;
    }
    const sigmaMax = sig[sig.length - 1];
    const priorLogProb = opts.prior ? opts.prior(x, sigmaMax) : gaussianLogProb(x, sigmaMax);
    return { logLikelihood: priorLogProb.add(delta), priorLogProb, deltaLogProb: delta, xT: x };
  }));
}

/**
 * Per-example log p(x0) in nats, (B,), from the probability-flow ODE integrated from sigmaMin to
 * sigmaMax jointly with the divergence of its drift, plus the prior log N(x(sigmaMax); 0, sigmaMax^2 I).
 * Strictly it is log p_{sigmaMin}(x0), the data density convolved with N(0, sigmaMin^2 I).
 */
export function logLikelihood(model: Denoiser, x0: Tensor, opts: LikelihoodOptions = {}): Tensor {
  return scope(() => logLikelihoodParts(model, x0, opts).logLikelihood);
}

export interface BitsPerDimOptions extends LikelihoodOptions {
  /** 'uniform' (default): add U[0, 1) noise in integer units; 'none': evaluate the density at x as given. */
  dequantise?: 'uniform' | 'none';
  /** Number of quantisation levels (default 256). */
  bins?: number;
}

/**
 * Uniform dequantisation of data in [-1, 1] quantised to `bins` levels as x = 2k / (bins - 1) - 1
 * (k = 0..bins-1; the usual [0, 1] pixels rescaled to [-1, 1]): recovers k, adds u ~ U[0, 1) and maps
 * y = k + u in [0, bins) back to [-1, 1) by x~ = 2y / bins - 1, so that every level owns a cell of
 * width 2 / bins.
 */
export function uniformDequantise(x: Tensor, bins = 256, generator?: Generator): Tensor {
  return scope(() => {
    const k = x.add(1).mul((bins - 1) / 2).round().clamp(0, bins - 1);
    const u = torch.rand(x.shape, { generator: generator ?? null, dtype: x.dtype, device: x.device });
    return k.add(u).mul(2 / bins).sub(1);
  });
}

/**
 * Bits per dimension of data x in [-1, 1] quantised to `bins` levels, per example (B,).
 *
 * With y = k + u in [0, bins) the dequantised data on the integer scale and x~ = 2y / bins - 1 its
 * image in [-1, 1), the change of variables gives log p_Y(y) = log p_X(x~) + D log(2 / bins). The
 * discrete model P(k) = int_{[0,1)^D} p_Y(k + u) du satisfies -log P(k) <= E_u[-log p_Y(k + u)]
 * (Jensen), so one draw of u gives a stochastic upper bound on the discrete negative log-likelihood:
 *   bits/dim = -log p_Y(y) / (D ln 2) = -log p_X(x~) / (D ln 2) + log2(bins / 2),
 * the number the literature reports (e.g. Song et al. 2021; Ho et al. 2020 use the same [-1, 1] scale).
 * With dequantise 'none' x is taken as already continuous and only the change of scale is applied.
 */
export function bitsPerDim(model: Denoiser, x: Tensor, opts: BitsPerDimOptions = {}): Tensor {
  const bins = opts.bins ?? 256;
  if (!(Number.isInteger(bins) && bins >= 2)) throw new RangeError(`bitsPerDim: bins must be an integer >= 2, got ${bins}`);
  const mode = opts.dequantise ?? 'uniform';
  if (mode !== 'uniform' && mode !== 'none') throw new TypeError(`bitsPerDim: dequantise must be 'uniform' or 'none', got ${JSON.stringify(mode)}`);
  return scope(() => {
    const xt = mode === 'uniform' ? uniformDequantise(x, bins, opts.generator) : x;
    const d = x.numel() / x.shape[0];
    const logp = logLikelihood(model, xt, opts);
    return logp.div(-d * Math.LN2).add(Math.log2(bins / 2));
  });
}
