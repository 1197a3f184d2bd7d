// Samplers for a denoiser in EDM form (Karras et al. 2022): x = x0 + sigma * eps and
// D(x, sigma) ~ E[x0 | x]. Every sampler shares one signature, k-diffusion style:
// sampleX(model, x, sigmas, opts) with x the initial noise already scaled by sigmas[0] and sigmas
// decreasing to a final 0. The step to sigma = 0 always returns the denoised estimate, so no
// residual noise is left. Randomness comes only from opts.generator.
import { Generator, Tensor, functions as torch, noGrad, scope, tensor } from '../tensor';
import { Conditioning, Denoiser, denoiseAt as denoise } from './denoiser';

export interface StepInfo {
  i: number;
  /** The state at the start of step i (valid only during the callback). */
  x: Tensor;
  sigma: number;
  sigmaNext: number;
  /** D(x, sigma) evaluated in step i (valid only during the callback). */
  denoised: Tensor;
}

export interface SamplerOptions {
  /** Called once per step; keep() what must outlive it. */
  callback?: (info: StepInfo) => void;
  generator?: Generator;
  extra?: Conditioning;
}

export type Sampler<O extends SamplerOptions = SamplerOptions> = (model: Denoiser, x: Tensor, sigmas: Tensor, opts?: O) => Tensor;

export interface CorrectorOptions {
  steps?: number;
  snr?: number;
  generator?: Generator;
  extra?: Conditioning;
}

export type Corrector = (model: Denoiser, x: Tensor, sigma: number, opts?: CorrectorOptions) => Tensor;

function sigmaList(sigmas: Tensor): number[] {
  const s = Array.from(sigmas.dataSync());
  for (let i = 1; i < s.length; i++) {
    if (!(s[i] < s[i - 1])) throw new Error(`sigmas must be strictly decreasing: sigmas[${i}] = ${s[i]} after ${s[i - 1]}`);
  }
  if (s.length && s[s.length - 1] < 0) throw new Error('sigmas must be non-negative');
  return s;
}

/** Standard normal noise shaped like x, on x's device; drawn on the generator's device (so a CPU generator gives the same noise on any device). */
export const noiseLike = (x: Tensor, generator?: Generator | null): Tensor =>
  generator && generator.device !== x.device
    ? torch.randn(x.shape, { generator, dtype: x.dtype, device: generator.device }).to(x.device)
    : torch.randn(x.shape, { generator: generator ?? null, dtype: x.dtype, device: x.device });

/**
 * Runs `step` for every pair (sigmas[i], sigmas[i+1]), each inside its own scope; the state is any
 * set of tensors carried between steps (x first), the previous one freed once the next exists.
 */
function integrate<S extends Tensor[]>(x0: Tensor, sigmas: Tensor, init: S, step: (i: number, s: number, sNext: number, state: S) => S): Tensor {
  return noGrad(() => {
    const s = sigmaList(sigmas);
    let state = init;
    for (let i = 0; i + 1 < s.length; i++) {
      const next = scope(() => step(i, s[i], s[i + 1], state));
      for (const t of state) if (t !== x0 && !next.includes(t)) t.dispose();
      state = next;
    }
    return state[0] === x0 ? x0.clone() : state[0];
  });
}

/** Throws unless the option `name` of sampler `fn` is a finite number >= 0. */
function nonNegative(fn: string, name: string, v: number): void {
  if (!(v >= 0 && Number.isFinite(v))) throw new RangeError(`${fn}: ${name} must be a finite number >= 0, got ${v}`);
}

/** Probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma; EDM (Karras et al. 2022), eq. 3 with sigma(t) = t. */
const slope = (x: Tensor, denoised: Tensor, sigma: number): Tensor => x.sub(denoised).div(sigma);

/** Euler on the probability-flow ODE: EDM (Karras et al. 2022), Algorithm 1 without the Heun correction. */
export function sampleEuler(model: Denoiser, x: Tensor, sigmas: Tensor, opts: SamplerOptions = {}): Tensor {
  return integrate(x, sigmas, [x], (i, s, sNext, [xi]) => {
    const denoised = denoise(model, xi, s, opts.extra);
    opts.callback?.({ i, x: xi, sigma: s, sigmaNext: sNext, denoised });
    if (sNext === 0) return [denoised];
    return [xi.add(slope(xi, denoised, s).mul(sNext - s))]; // EDM (Karras et al. 2022), Algorithm 1 line 5
  });
}

export interface AncestralOptions extends SamplerOptions {
  /** 1: DDPM's posterior (ancestral sampling); 0: deterministic (DDIM). */
  eta?: number;
  /** Scale of the fresh noise (EDM's S_noise). */
  sNoise?: number;
}

/**
 * Splits the step sigma -> sigmaNext into a deterministic move to sigmaDown and fresh noise of std
 * sigmaUp, sigmaDown^2 + sigmaUp^2 = sigmaNext^2. With eta = 1 the step samples the DDPM posterior
 * q(x_next | x, x0 = D): mean D + (sigmaNext/sigma)^2 (x - D), variance sigmaNext^2 (sigma^2 - sigmaNext^2) / sigma^2.
 */
export function ancestralSplit(sigma: number, sigmaNext: number, eta = 1): { sigmaDown: number; sigmaUp: number } {
  if (sigmaNext === 0 || eta === 0) return { sigmaDown: sigmaNext, sigmaUp: 0 };
  // DDIM (Song et al. 2021), eq. 16 written for x / sqrt(alpha_bar), where sigma^2 = (1 - alpha_bar) / alpha_bar
  const sigmaUp = Math.min(sigmaNext, eta * Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2));
  return { sigmaDown: Math.sqrt(sigmaNext ** 2 - sigmaUp ** 2), sigmaUp };
}

/** Ancestral sampling: DDPM (Ho et al. 2020) in EDM form at eta = 1 (k-diffusion's Euler ancestral). */
export function sampleEulerAncestral(model: Denoiser, x: Tensor, sigmas: Tensor, opts: AncestralOptions = {}): Tensor {
  const eta = opts.eta ?? 1;
  const sNoise = opts.sNoise ?? 1;
  nonNegative('sampleEulerAncestral', 'eta', eta);
  nonNegative('sampleEulerAncestral', 'sNoise', sNoise);
  return integrate(x, sigmas, [x], (i, s, sNext, [xi]) => {
    const denoised = denoise(model, xi, s, opts.extra);
    opts.callback?.({ i, x: xi, sigma: s, sigmaNext: sNext, denoised });
    if (sNext === 0) return [denoised];
    const { sigmaDown, sigmaUp } = ancestralSplit(s, sNext, eta);
    // DDIM (Song et al. 2021), eq. 12: x_next = D + sigmaDown * eps_hat + sigmaUp * z, eps_hat = (x - D) / sigma
    const xNext = denoised.add(xi.sub(denoised).mul(sigmaDown / s));
    return [sigmaUp > 0 ? xNext.add(noiseLike(xi, opts.generator).mul(sigmaUp * sNoise)) : xNext];
  });
}

/** DDPM ancestral sampling (Ho et al. 2020), as the EDM-form ancestral step with eta = 1. */
export const sampleDdpm: Sampler<SamplerOptions & { sNoise?: number }> = (model, x, sigmas, opts = {}) =>
  sampleEulerAncestral(model, x, sigmas, { ...opts, eta: 1 });

/** DDIM (Song et al. 2021), eq. 12 in EDM form; eta = 0 (default) is deterministic and equals Euler on the PF ODE. */
export const sampleDdim: Sampler<SamplerOptions & { eta?: number }> = (model, x, sigmas, opts = {}) =>
  sampleEulerAncestral(model, x, sigmas, { ...opts, eta: opts.eta ?? 0 });

export interface HeunOptions extends SamplerOptions {
  /** Total stochasticity, spread over the steps (EDM's S_churn); 0: deterministic. */
  sChurn?: number;
  sTmin?: number;
  sTmax?: number;
  sNoise?: number;
}

/** EDM (Karras et al. 2022), Algorithm 2: stochastic churn, Euler step, Heun correction except on the step to 0. */
export function sampleHeun(model: Denoiser, x: Tensor, sigmas: Tensor, opts: HeunOptions = {}): Tensor {
  const { sChurn = 0, sTmin = 0, sTmax = Infinity, sNoise = 1 } = opts;
  nonNegative('sampleHeun', 'sChurn', sChurn);
  nonNegative('sampleHeun', 'sNoise', sNoise);
  if (!(sTmin >= 0 && sTmin <= sTmax)) throw new RangeError(`sampleHeun: need 0 <= sTmin <= sTmax, got sTmin ${sTmin} and sTmax ${sTmax}`);
  const steps = sigmas.shape[0] - 1;
  return integrate(x, sigmas, [x], (i, s, sNext, [xi]) => {
    const gamma = s >= sTmin && s <= sTmax ? Math.min(sChurn / steps, Math.SQRT2 - 1) : 0; // Algorithm 2 line 4
    const sHat = s * (1 + gamma); // line 5
    const xHat = gamma > 0 ? xi.add(noiseLike(xi, opts.generator).mul(sNoise * Math.sqrt(sHat ** 2 - s ** 2))) : xi; // line 6
    const denoised = denoise(model, xHat, sHat, opts.extra);
    opts.callback?.({ i, x: xi, sigma: s, sigmaNext: sNext, denoised });
    if (sNext === 0) return [denoised];
    const d = slope(xHat, denoised, sHat); // line 7
    const xEuler = xHat.add(d.mul(sNext - sHat)); // line 8
    const dNext = slope(xEuler, denoise(model, xEuler, sNext, opts.extra), sNext); // line 10
    return [xHat.add(d.add(dNext).mul(0.5 * (sNext - sHat)))]; // line 11
  });
}

/**
 * DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) in t = -log sigma (the half-log-SNR of the VE form);
 * first order on the first step and on the step to 0.
 */
export function sampleDpmpp2m(model: Denoiser, x: Tensor, sigmas: Tensor, opts: SamplerOptions = {}): Tensor {
  const s = sigmaList(sigmas);
  return integrate(x, sigmas, [x] as Tensor[], (i, sigma, sNext, [xi, prevDenoised]) => {
    const denoised = denoise(model, xi, sigma, opts.extra);
    opts.callback?.({ i, x: xi, sigma, sigmaNext: sNext, denoised });
    if (sNext === 0) return [denoised];
    const h = Math.log(sigma) - Math.log(sNext); // h = t_next - t
    let d = denoised;
    if (prevDenoised) {
      const r = (Math.log(s[i - 1]) - Math.log(sigma)) / h; // r = h_prev / h
      d = denoised.mul(1 + 1 / (2 * r)).sub(prevDenoised.mul(1 / (2 * r))); // Lu et al. 2022, Algorithm 2: D = (1 + 1/2r) x0_i - 1/2r x0_{i-1}
    }
    // x_next = (sigma_next / sigma) x - expm1(-h) D   (exact solution of the linear part, Lu et al. 2022 eq. 9)
    return [xi.mul(sNext / sigma).add(d.mul(-Math.expm1(-h))), denoised];
  });
}

/**
 * Langevin MCMC at a fixed sigma (Song et al. 2021, Algorithm 5, the corrector): with the score
 * (D(x, sigma) - x) / sigma^2, it leaves p_sigma = p_data * N(0, sigma^2) (approximately) invariant.
 * The step size eps = 2 (snr ||z|| / ||score||)^2 makes the noise-to-drift ratio snr.
 */
export function langevinCorrector(model: Denoiser, x: Tensor, sigma: number, opts: CorrectorOptions = {}): Tensor {
  const { steps = 1, snr = 0.16 } = opts;
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`langevinCorrector: steps must be an integer >= 0, got ${steps}`);
  if (!(snr > 0 && Number.isFinite(snr))) throw new RangeError(`langevinCorrector: snr must be a positive number, got ${snr}`);
  if (sigma <= 0 || steps <= 0) return x.clone();
  return noGrad(() => {
    let xi = x;
    for (let j = 0; j < steps; j++) {
      const next = scope(() => {
        const score = denoise(model, xi, sigma, opts.extra).sub(xi).div(sigma ** 2); // score = (D - x) / sigma^2
        const z = noiseLike(xi, opts.generator);
        // batch means of the per-sample norms, as in the paper's code: one step size for the batch, which
        // per-sample norms in few dimensions would make heavy-tailed
        const norm = (t: Tensor) => t.flatten(1).square().sum(1).sqrt().mean().item();
        const eps = 2 * (snr * norm(z) / norm(score)) ** 2; // Song et al. 2021, Algorithm 5 line 5
        return xi.add(score.mul(eps)).add(z.mul(Math.sqrt(2 * eps))); // line 6
      });
      if (xi !== x) xi.dispose();
      xi = next;
    }
    return xi;
  });
}

/**
 * Predictor-corrector sampling (Song et al. 2021, Algorithm 1/2): each predictor step sigma_i ->
 * sigma_{i+1} is followed by the corrector at sigma_{i+1} (none at 0). The predictor runs one step
 * at a time, so a multistep predictor falls back to its first-order step.
 */
export function predictorCorrector<O extends SamplerOptions>(predictor: Sampler<O>, corrector: Corrector, correctorOpts: Omit<CorrectorOptions, 'generator' | 'extra'> = {}): Sampler<O> {
  return (model, x, sigmas, opts = {} as O) => {
    const callback = opts.callback;
    return integrate(x, sigmas, [x], (i, s, sNext, [xi]) => {
      const pair = tensor([s, sNext], { dtype: 'float64' });
      const predicted = predictor(model, xi, pair, { ...opts, callback: callback && ((info: StepInfo) => callback({ ...info, i })) });
      if (sNext === 0) return [predicted];
      return [corrector(model, predicted, sNext, { ...correctorOpts, generator: opts.generator, extra: opts.extra })];
    });
  };
}

/** The options every sampler in SAMPLERS accepts; each uses the ones that concern it. */
export interface TableSamplerOptions extends SamplerOptions {
  /** DDIM's and Euler-ancestral's eta (see AncestralOptions); ignored by the others. */
  eta?: number;
  /** Heun's S_churn (see HeunOptions); ignored by the others. */
  sChurn?: number;
}

/** One entry of the sampler table. */
export interface SamplerInfo {
  fn: Sampler<TableSamplerOptions>;
  /** Denoiser evaluations per step, except the last step (the step to σ = 0). */
  evalsPerStep: number;
  /** Denoiser evaluations on the last step. */
  evalsLastStep: number;
  /** Order of the deterministic update (global error O(h^order)). */
  order: number;
  /** Whether it draws fresh noise (from opts.generator) at default options. */
  stochastic: boolean;
  description: string;
}

/** Euler-Maruyama predictor + one Langevin corrector step (Song et al. 2021, Algorithm 2 with the PF-ODE Euler predictor). */
const samplePc: Sampler<TableSamplerOptions> = predictorCorrector(sampleEuler, langevinCorrector, { steps: 1 });

/**
 * The sampler table: every named sampler, its cost in denoiser evaluations per step, its order and
 * whether it is stochastic. Everything that offers a choice of sampler (generate(), the CLI, eval)
 * reads it here.
 */
export const SAMPLERS = {
  euler: { fn: sampleEuler, evalsPerStep: 1, evalsLastStep: 1, order: 1, stochastic: false, description: 'Euler on the probability-flow ODE (EDM Algorithm 1 without the correction)' },
  'euler-ancestral': { fn: sampleEulerAncestral, evalsPerStep: 1, evalsLastStep: 1, order: 1, stochastic: true, description: 'ancestral sampling, k-diffusion\'s Euler ancestral (eta 1 by default)' },
  ddpm: { fn: sampleDdpm, evalsPerStep: 1, evalsLastStep: 1, order: 1, stochastic: true, description: 'DDPM ancestral sampling (Ho et al. 2020)' },
  ddim: { fn: sampleDdim, evalsPerStep: 1, evalsLastStep: 1, order: 1, stochastic: false, description: 'DDIM (Song et al. 2021); deterministic at eta 0 (the default)' },
  heun: { fn: sampleHeun, evalsPerStep: 2, evalsLastStep: 1, order: 2, stochastic: false, description: 'Heun, EDM Algorithm 2 (Karras et al. 2022); S_churn > 0 adds noise' },
  'dpmpp-2m': { fn: sampleDpmpp2m, evalsPerStep: 1, evalsLastStep: 1, order: 2, stochastic: false, description: 'DPM-Solver++(2M) (Lu et al. 2022), multistep' },
  pc: { fn: samplePc, evalsPerStep: 2, evalsLastStep: 1, order: 1, stochastic: true, description: 'predictor-corrector: Euler + one Langevin step (Song et al. 2021)' },
} as const satisfies Record<string, SamplerInfo>;

export type SamplerName = keyof typeof SAMPLERS;
export const SAMPLER_NAMES = Object.keys(SAMPLERS) as readonly SamplerName[];

/** The table entry for `name`, or an error that lists the names. */
export function samplerInfo(name: string): SamplerInfo {
  if (!Object.prototype.hasOwnProperty.call(SAMPLERS, name)) throw new TypeError(`sampler: expected one of ${SAMPLER_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  return SAMPLERS[name as SamplerName];
}

/** Denoiser evaluations a sampler spends on `steps` steps (a grid of steps + 1 sigmas ending at 0). */
export function samplerNfe(sampler: SamplerName, steps: number): number {
  const s = samplerInfo(sampler);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`samplerNfe: steps must be a positive integer, got ${steps}`);
  return (steps - 1) * s.evalsPerStep + s.evalsLastStep;
}

/** The most steps that spend at most `nfe` evaluations (at least 1). */
export function stepsForNfe(sampler: SamplerName, nfe: number): number {
  const s = samplerInfo(sampler);
  if (!Number.isInteger(nfe) || nfe < 1) throw new RangeError(`stepsForNfe: nfe (denoiser evaluations) must be a positive integer, got ${nfe}`);
  return Math.max(1, 1 + Math.floor((nfe - s.evalsLastStep) / s.evalsPerStep));
}
