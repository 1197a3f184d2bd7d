// Noise schedules as continuous functions of t ∈ [0, 1], and their discretisations into the
// decreasing sigma grids that samplers walk ("Diffusion models are autoencoders", Dieleman 2022;
// EDM, Karras et al. 2022, Table 1). A VP schedule corrupts x_t = α_t·x0 + σ_t·ε with α² + σ² = 1;
// a VE schedule has α_t = 1. The EDM form of any schedule is σ = σ_t/α_t on x = x_t/α_t.
import { Tensor, functions as torch, tensor } from '../tensor';

/** One signature for every schedule: each member maps t (a number or a tensor) to a float64 tensor. */
export interface Schedule {
  readonly kind: 'vp' | 've';
  /** Signal scale α_t. */
  alpha(t: Tensor | number): Tensor;
  /** Noise scale σ_t. */
  sigma(t: Tensor | number): Tensor;
  /** λ_t = log(α_t²/σ_t²), decreasing in t. */
  logSnr(t: Tensor | number): Tensor;
  /** g(t)², the squared diffusion coefficient of the forward SDE (Song et al. 2021, Eq. 5). */
  g2(t: Tensor | number): Tensor;
  /** The t at which the EDM noise level σ_t/α_t equals sigma (the schedule's inverse). */
  tFromSigma(sigma: Tensor | number): Tensor;
}

function asTensor(t: Tensor | number): Tensor {
  return typeof t === 'number' ? tensor(t, { dtype: 'float64' }) : t;
}

/** α = exp(logAlpha), σ = sqrt(1 − α²) = sqrt(−expm1(2·logAlpha)), accurate near α → 1. */
function vpFromLogAlpha(logAlpha: Tensor) {
  return { alpha: logAlpha.exp(), sigma: logAlpha.mul(2).expm1().neg().sqrt() };
}

/** λ = 2·log α − log(1 − α²). */
function vpLogSnr(logAlpha: Tensor): Tensor {
  return logAlpha.mul(2).sub(logAlpha.mul(2).expm1().neg().log());
}

/**
 * VP SDE with linear β(t) = β_min + t(β_max − β_min) (Song et al. 2021, Eq. 11 and Eq. 29):
 * log α_t = −¼t²(β_max − β_min) − ½t·β_min. Defaults are those of DDPM and EDM Table 1.
 */
export function vpLinearSchedule({ betaMin = 0.1, betaMax = 20 }: { betaMin?: number; betaMax?: number } = {}): Schedule {
  const bd = betaMax - betaMin;
  const logAlpha = (t: Tensor) => t.square().mul(-0.25 * bd).sub(t.mul(0.5 * betaMin)); // Song et al. 2021, Eq. 29
  return {
    kind: 'vp',
    alpha: (t) => vpFromLogAlpha(logAlpha(asTensor(t))).alpha,
    sigma: (t) => vpFromLogAlpha(logAlpha(asTensor(t))).sigma,
    logSnr: (t) => vpLogSnr(logAlpha(asTensor(t))),
    g2: (t) => asTensor(t).mul(bd).add(betaMin), // β(t)
    tFromSigma: (sigma) => {
      // σ_edm² = exp(½β_d t² + β_min t) − 1  ⇒  ½β_d t² + β_min t − log(1 + σ²) = 0 (EDM Table 1, VP σ(t))
      const c = asTensor(sigma).square().log1p();
      if (bd === 0) return c.div(betaMin);
      return c.mul(2 * bd).add(betaMin * betaMin).sqrt().sub(betaMin).div(bd);
    },
  };
}

/**
 * VP cosine schedule (Nichol & Dhariwal 2021, Eq. 17): ᾱ(t) = f(t)/f(0), f(t) = cos²((t + s)/(1 + s)·π/2),
 * so α_t = cos(θ_t)/cos(θ_0) with θ_t = (t + s)/(1 + s)·π/2. Continuous: β is not clipped at 0.999,
 * so α_1 ≈ 0 (λ_1 ≈ −75) rather than exactly 0.
 */
export function vpCosineSchedule({ s = 0.008 }: { s?: number } = {}): Schedule {
  const k = Math.PI / 2 / (1 + s);
  const logCos0 = Math.log(Math.cos(s * k));
  const theta = (t: Tensor) => t.add(s).mul(k);
  // log ᾱ ≤ 0 by definition; at t = 0 it is 0 up to rounding, which may differ in sign between the cos
  // of JS and of a libtorch build (2.x), and a positive value would make σ = sqrt(1 − ᾱ) NaN
  const logAlpha = (t: Tensor) => theta(t).cos().log().sub(logCos0).clampMax(0);
  return {
    kind: 'vp',
    alpha: (t) => theta(asTensor(t)).cos().div(Math.cos(s * k)),
    sigma: (t) => vpFromLogAlpha(logAlpha(asTensor(t))).sigma,
    logSnr: (t) => vpLogSnr(logAlpha(asTensor(t))),
    g2: (t) => theta(asTensor(t)).tan().mul(2 * k), // β(t) = −d log ᾱ/dt = 2k·tan θ_t
    tFromSigma: (sigma) => {
      // α = 1/sqrt(1 + σ²)  ⇒  θ = arccos(cos θ_0 / sqrt(1 + σ²))
      const cosTheta = asTensor(sigma).square().add(1).rsqrt().mul(Math.cos(s * k));
      return cosTheta.acos().div(k).sub(s);
    },
  };
}

/** VE SDE with geometric σ_t = σ_min (σ_max/σ_min)^t (Song et al. 2021, Eq. 30); α_t = 1. */
export function veSchedule({ sigmaMin = 0.02, sigmaMax = 100 }: { sigmaMin?: number; sigmaMax?: number } = {}): Schedule {
  const logRatio = Math.log(sigmaMax / sigmaMin);
  const sigma = (t: Tensor | number) => asTensor(t).mul(logRatio).exp().mul(sigmaMin);
  return {
    kind: 've',
    alpha: (t) => torch.onesLike(asTensor(t)),
    sigma,
    logSnr: (t) => sigma(t).log().mul(-2),
    g2: (t) => sigma(t).square().mul(2 * logRatio), // d σ_t²/dt (Song et al. 2021, Eq. 30)
    tFromSigma: (s) => asTensor(s).div(sigmaMin).log().div(logRatio),
  };
}

/** VP → EDM noise level: σ = σ_t/α_t (EDM, Karras et al. 2022, Eq. 12 with s(t) = α_t). */
export function vpToEdmSigma(alpha: Tensor, sigma: Tensor): Tensor {
  return sigma.div(alpha);
}

/** EDM noise level → VP pair: α = 1/sqrt(1 + σ²), σ_t = σ/sqrt(1 + σ²), so α² + σ_t² = 1. */
export function edmToVpSigma(sigma: Tensor | number): { alpha: Tensor; sigma: Tensor } {
  const s = asTensor(sigma);
  const alpha = s.square().add(1).rsqrt();
  return { alpha, sigma: s.mul(alpha) };
}

/** VP sample → EDM sample: x = x_t/α_t. */
export function vpToEdmX(xt: Tensor, alpha: Tensor | number): Tensor {
  return typeof alpha === 'number' ? xt.div(alpha) : xt.div(alpha);
}

/** EDM sample → VP sample: x_t = α_t·x. */
export function edmToVpX(x: Tensor, alpha: Tensor | number): Tensor {
  return typeof alpha === 'number' ? x.mul(alpha) : x.mul(alpha);
}

/** The EDM noise level σ_t/α_t of a schedule at t. */
export function edmSigma(schedule: Schedule, t: Tensor | number): Tensor {
  return schedule.sigma(t).div(schedule.alpha(t));
}

/** EDM σ from log-SNR: σ = exp(−λ/2). */
export function sigmaFromLogSnr(logSnr: Tensor | number): Tensor {
  return asTensor(logSnr).mul(-0.5).exp();
}

function withZero(sigmas: number[]): Tensor {
  return tensor([...sigmas, 0], { dtype: 'float64' });
}

function checkSteps(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`need n ≥ 1 steps, got ${n}`);
}

/**
 * n noise levels σ_max = σ_0 > … > σ_{n−1} = σ_min, then σ_n = 0 (EDM, Karras et al. 2022, Eq. 5):
 * σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ. Returns (n + 1,) float64.
 */
export function karrasSigmas(n: number, { sigmaMin = 0.002, sigmaMax = 80, rho = 7 }: { sigmaMin?: number; sigmaMax?: number; rho?: number } = {}): Tensor {
  checkSteps(n);
  if (!(sigmaMin > 0 && sigmaMax > sigmaMin && Number.isFinite(sigmaMax))) throw new RangeError(`karrasSigmas: need 0 < sigmaMin < sigmaMax < Infinity, got sigmaMin ${sigmaMin} and sigmaMax ${sigmaMax}`);
  if (!(rho > 0 && Number.isFinite(rho))) throw new RangeError(`karrasSigmas: rho must be a positive number, got ${rho}`);
  const a = sigmaMax ** (1 / rho);
  const b = sigmaMin ** (1 / rho);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((a + (n === 1 ? 0 : i / (n - 1)) * (b - a)) ** rho); // EDM Eq. 5
  out[0] = sigmaMax; // exact endpoints despite the ρ-th root round trip
  if (n > 1) out[n - 1] = sigmaMin;
  return withZero(out);
}

/**
 * The EDM σ of a schedule at n times evenly spaced from tMax down to tMin, then 0: (n + 1,).
 */
export function scheduleSigmas(schedule: Schedule, n: number, { tMin = 1e-3, tMax = 1 }: { tMin?: number; tMax?: number } = {}): Tensor {
  checkSteps(n);
  const t = n === 1 ? tensor([tMax], { dtype: 'float64' }) : torch.linspace(tMax, tMin, n, { dtype: 'float64' });
  return withZero(edmSigma(schedule, t).dataSync());
}

/** VP discretisation of EDM Table 1: σ(t_i) for t_i from 1 down to ε_s = 1e-3, then 0. */
export function vpSigmas(n: number, { betaMin = 0.1, betaMax = 19.9, epsS = 1e-3 }: { betaMin?: number; betaMax?: number; epsS?: number } = {}): Tensor {
  return scheduleSigmas(vpLinearSchedule({ betaMin, betaMax }), n, { tMin: epsS, tMax: 1 });
}

/** VE discretisation of EDM Table 1: σ geometric from σ_max down to σ_min, then 0. */
export function veSigmas(n: number, { sigmaMin = 0.02, sigmaMax = 100 }: { sigmaMin?: number; sigmaMax?: number } = {}): Tensor {
  checkSteps(n);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(sigmaMax * (sigmaMin / sigmaMax) ** (n === 1 ? 0 : i / (n - 1)));
  return withZero(out);
}

/** σ = exp(−λ/2) at n log-SNRs evenly spaced from logSnrMin up to logSnrMax, then 0: (n + 1,). */
export function uniformLogSnrSigmas(n: number, { logSnrMin, logSnrMax }: { logSnrMin: number; logSnrMax: number }): Tensor {
  checkSteps(n);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.exp(-0.5 * (logSnrMin + (n === 1 ? 0 : i / (n - 1)) * (logSnrMax - logSnrMin))));
  return withZero(out);
}
