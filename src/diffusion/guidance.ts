// Guidance as denoiser wrappers (Dieleman, "Guidance: a cheat code for diffusion models", 2022).
// Every function takes a Denoiser D(x, sigma) ~ E[x0 | x] in EDM form (x = x0 + sigma * n) and
// returns another Denoiser, so that any sampler in ./samplers runs it unchanged. In this form the
// score is (D - x) / sigma^2 (Tweedie), so a change of score by delta is a change of D by sigma^2 * delta.
import { Generator, Tensor, enableGrad, functions as torch, grad, tensor } from '../tensor';
import type { Denoiser } from './denoiser';
import { appendDims } from './parameterisation';
import { noiseLike } from './samplers';

/** log p(y | x_σ) of a noise-aware classifier for fixed target labels: x (B, ...), σ (B,) -> (B,). */
export type NoisyLogProb = (x: Tensor, sigma: Tensor) => Tensor;


/** A conditioning value repeated to batch size b when it has a leading 1 (or no batch dim given as (1, ...)). */
function toBatch(v: Tensor, b: number): Tensor {
  if (v.ndim > 0 && v.shape[0] === b) return v;
  if (v.ndim > 0 && v.shape[0] === 1) return v.expand([b, ...v.shape.slice(1)]);
  if (v.ndim === 0) return v.reshape([1]).expand([b]);
  throw new Error(`guidance: conditioning has batch ${v.shape[0]}, expected ${b} or 1`);
}

export interface ClassifierFreeGuidanceOptions {
  /** Guidance scale gamma: 0 unconditional, 1 conditional, > 1 guided (Ho & Salimans 2021). */
  scale: number;
  /** The key of `extra` through which the model receives its conditioning (default 'cond'). */
  key?: string;
  /** The conditioning c, (B, ...) or (1, ...); default: extra[key] of each call. */
  cond?: Tensor;
  /** The "no conditioning" value the model was trained with under conditioning dropout, (B, ...) or (1, ...). */
  nullCond: Tensor;
  /** Guide only where sigmaLo <= sigma <= sigmaHi (Kynkäänniemi et al. 2024); plain conditional elsewhere. */
  interval?: [number, number];
  /** phi in [0, 1]: CFG rescale (Lin et al. 2023, §3.4): match the guided prediction's std to the conditional's, mixed with phi. */
  rescale?: number;
}

/**
 * Classifier-free guidance (Ho & Salimans 2021): D_gamma = (1 - gamma) D(x | null) + gamma D(x | c),
 * which is the barycentric score combination (1 - gamma) grad log p(x) + gamma grad log p(x | c)
 * of Dieleman 2022 ("Classifier-free guidance"), since D is affine in the score at fixed x and sigma.
 * Conditional and unconditional predictions come from ONE forward over the concatenated batch
 * [x; x] with conditioning [null; c]; when no sample of the batch lies inside `interval`, only the
 * conditional half is evaluated (still one call).
 */
export function classifierFreeGuidance(model: Denoiser, opts: ClassifierFreeGuidanceOptions): Denoiser {
  const { scale, key = 'cond', nullCond, interval, rescale = 0 } = opts;
  const [lo, hi] = interval ?? [-Infinity, Infinity];
  if (!Number.isFinite(scale)) throw new RangeError(`classifierFreeGuidance: scale must be a finite number, got ${scale}`);
  if (!(nullCond instanceof Tensor)) throw new TypeError('classifierFreeGuidance: nullCond (the "no conditioning" value) must be a Tensor');
  if (!(lo <= hi)) throw new RangeError(`classifierFreeGuidance: interval must be [sigmaLo, sigmaHi] with sigmaLo <= sigmaHi, got ${JSON.stringify(interval)}`);
  if (!(rescale >= 0 && rescale <= 1)) throw new RangeError(`classifierFreeGuidance: rescale must lie in [0, 1], got ${rescale}`);
  return (x, sigma, extra) => {
    const b = x.shape[0];
    const condRaw = opts.cond ?? (extra?.[key] as Tensor | undefined);
    if (!condRaw) throw new Error(`classifierFreeGuidance: no conditioning (give opts.cond or extra.${key})`);
    const cond = toBatch(condRaw, b);
    // which samples are guided: sigma inside the interval (Kynkäänniemi et al. 2024, guidance interval)
    const sig = Array.from(sigma.dataSync());
    const inside = sig.map((s) => s >= lo && s <= hi);
    if (!inside.some(Boolean)) return model(x, sigma, { ...extra, [key]: cond }); // outside: plain conditional D(x | c)
    // one batched forward: [x; x], [sigma; sigma], [null; c] (Ho & Salimans 2021, Algorithm 2 evaluates both)
    const out = model(torch.cat([x, x], 0), torch.cat([sigma, sigma], 0), { ...extra, [key]: torch.cat([toBatch(nullCond, b), cond], 0) });
    const [uncond, condOut] = out.chunk(2, 0);
    // per-sample gamma: `scale` inside the interval, 1 (the conditional) outside
    const allInside = inside.every(Boolean);
    const g = allInside ? scale : appendDims(tensor(inside.map((v) => (v ? scale : 1)), { dtype: x.dtype, device: x.device }), x.ndim);
    // Dieleman 2022, eq. "(1 - gamma) grad log p(x) + gamma grad log p(x | y)", written for D
    const guided = typeof g === 'number' ? uncond.mul(1 - g).add(condOut.mul(g)) : uncond.mul(g.neg().add(1)).add(condOut.mul(g));
    if (rescale === 0) return guided;
    // Lin et al. 2023 ("Common diffusion noise schedules and sample steps are flawed"), Algorithm 2 /
    // eq. 15-16: x_rescaled = x_cfg * std(x_pos) / std(x_cfg); x_final = phi x_rescaled + (1 - phi) x_cfg
    const dims = Array.from({ length: x.ndim - 1 }, (_, i) => i + 1);
    if (dims.length === 0) throw new Error('classifierFreeGuidance: rescale needs x with more than a batch dim');
    const stdPos = condOut.std({ dim: dims, keepdim: true });
    const stdCfg = guided.std({ dim: dims, keepdim: true });
    const rescaled = guided.mul(stdPos.div(stdCfg));
    return rescaled.mul(rescale).add(guided.mul(1 - rescale));
  };
}

export interface ClassifierGuidanceOptions {
  /** Guidance scale gamma on grad log p(y | x) (Dhariwal & Nichol 2021). */
  scale: number;
}

/**
 * Classifier guidance (Dhariwal & Nichol 2021; Dieleman 2022, "Classifier guidance"):
 * grad log p_gamma(x | y) = grad log p(x) + gamma grad log p(y | x), which in denoiser form is
 * D' = D + sigma^2 gamma grad_x log p(y | x_sigma). `logProbFn(x, sigma)` returns the noise-aware
 * classifier's (B,) log p(y | x) for the target labels; its gradient is taken with grad() inside
 * enableGrad, so the wrapper works under the samplers' noGrad.
 */
export function classifierGuidance(model: Denoiser, logProbFn: NoisyLogProb, opts: ClassifierGuidanceOptions): Denoiser {
  const { scale } = opts;
  if (!Number.isFinite(scale)) throw new RangeError(`classifierGuidance: scale must be a finite number, got ${scale}`);
  return (x, sigma, extra) => {
    const denoised = model(x, sigma, extra);
    if (scale === 0) return denoised;
    const g = enableGrad(() => {
      const xg = x.detach().requiresGrad_(true);
      const lp = logProbFn(xg, sigma); // (B,) log p(y | x_sigma)
      // the samples are independent, so the gradient of the sum is each sample's own gradient
      const [gx] = grad(lp.sum(), xg);
      if (!gx) throw new Error('classifierGuidance: log p(y | x) does not depend on x');
      return gx.detach();
    });
    // Dieleman 2022: grad log p(x) + gamma grad log p(y | x); score = (D - x) / sigma^2, so D' = D + sigma^2 gamma grad
    return denoised.add(g.mul(appendDims(sigma.square(), x.ndim)).mul(scale));
  };
}

/**
 * Temperature of the whole distribution (Dieleman 2022, "Temperature tuning for diffusion models"):
 * multiply the score by gamma (p^gamma, gamma the inverse temperature), i.e. D' = x + gamma (D - x).
 */
export function scoreTemperature(model: Denoiser, gamma: number): Denoiser {
  if (!(gamma > 0 && Number.isFinite(gamma))) throw new RangeError(`scoreTemperature: gamma (the inverse temperature) must be a positive number, got ${gamma}`);
  // score' = gamma (D - x) / sigma^2  =>  D' = x + gamma (D - x)
  return (x, sigma, extra) => x.add(model(x, sigma, extra).sub(x).mul(gamma));
}

export interface DynamicThresholdingOptions {
  /** The percentile p of |x0| per sample (Imagen: 0.995). */
  percentile?: number;
  /** The data bound: s = max(bound, quantile), output clip(x0, -s, s) * bound / s (Imagen: 1, data in [-1, 1]). */
  bound?: number;
}

/**
 * Dynamic thresholding (Saharia et al. 2022, Imagen, §2.3; Dieleman 2022, "Closing thoughts"):
 * per sample s = max(1, quantile(|x0|, p)), then x0 <- clip(x0, -s, s) / s. With `bound` b the
 * data range is [-b, b]: s = max(b, quantile), x0 <- clip(x0, -s, s) * b / s.
 */
export function dynamicThresholding(model: Denoiser, opts: DynamicThresholdingOptions = {}): Denoiser {
  const { percentile = 0.995, bound = 1 } = opts;
  if (!(percentile > 0 && percentile <= 1)) throw new RangeError(`dynamicThresholding: percentile must lie in (0, 1], got ${percentile}`);
  if (!(bound > 0 && Number.isFinite(bound))) throw new RangeError(`dynamicThresholding: bound must be a positive number, got ${bound}`);
  return (x, sigma, extra) => {
    const x0 = model(x, sigma, extra);
    const b = x0.shape[0];
    // Imagen §2.3: s = percentile of |x0| over each sample's elements, at least the bound
    const q = x0.reshape([b, -1]).abs().quantile(percentile, 1); // (B,)
    const s = appendDims(q.clampMin(bound), x0.ndim);
    // clip to [-s, s] and rescale to [-bound, bound] (Imagen: divide by s)
    const clipped = x0.clamp(s.neg(), s);
    return bound === 1 ? clipped.div(s) : clipped.mul(bound).div(s);
  };
}

export interface InpaintOptions {
  /** The known values, broadcastable to x (only the region where mask = 1 is used). */
  known: Tensor;
  /** 1 where the value is known, 0 where it is to be generated; broadcastable to x. */
  mask: Tensor;
  /** Source of the noise that re-noises the known region to the current sigma. */
  generator?: Generator;
}

/**
 * Inpainting by replacement, as a Denoiser WRAPPER (not a sampler callback): the "imputation"
 * method of Song et al. 2021 (score SDE, App. I.2) and RePaint (Lugmayr et al. 2022) without
 * resampling, in EDM form. Each call
 *   1. re-noises the known region to the current sigma, x_known = known + sigma * n, n ~ N(0, I),
 *      and feeds the model mask * x_known + (1 - mask) * x, so the unknown region is denoised
 *      given a consistent noisy view of the known one;
 *   2. returns mask * known + (1 - mask) * D, so the prediction of x0 is exact where x0 is known.
 * Every sampler in ./samplers ends with the denoised estimate at sigma = 0, so a sampling run ends
 * with exactly `known` in the known region (for a 0/1 mask).
 */
export function inpaint(model: Denoiser, opts: InpaintOptions): Denoiser {
  const { known, mask, generator } = opts;
  if (!(known instanceof Tensor) || !(mask instanceof Tensor)) throw new TypeError('inpaint: known and mask must be Tensors');
  return (x, sigma, extra) => {
    const m = mask.to(x.dtype);
    const keep = m.neg().add(1);
    const noise = noiseLike(x, generator);
    // step 1: known region re-noised to sigma (the forward process q(x_sigma | x0 = known))
    const xKnown = known.add(noise.mul(appendDims(sigma, x.ndim)));
    const denoised = model(xKnown.mul(m).add(x.mul(keep)), sigma, extra);
    // step 2: replace the prediction with the known values where known
    return known.mul(m).add(denoised.mul(keep));
  };
}
