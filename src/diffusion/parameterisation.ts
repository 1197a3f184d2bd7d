// Exact conversions between what a diffusion network may predict: the noise ε, the clean data x0
// (a denoiser), the velocity v = α·ε − σ·x0 (Salimans & Ho 2022, §4) and the score ∇ log p(x_t) = −ε/σ.
// VP form: x_t = α·x0 + σ·ε. EDM form is the same with α = 1 (x = x0 + σ·n, Karras et al. 2022).
// The formulas hold for any α, σ (not only α² + σ² = 1), so every round trip is exact.
import { Tensor, tensor } from '../tensor';

/** A noise-level coefficient: a number, a scalar tensor, or a (B,) tensor broadcast over x's other dims. */
export type Coef = Tensor | number;

export type Parameterisation = 'eps' | 'x0' | 'v' | 'score';

/** Reshape a (B,) coefficient to (B, 1, …, 1) so that it broadcasts against a tensor of rank `ndim`. */
export function appendDims(c: Tensor, ndim: number): Tensor;
export function appendDims(c: Coef, ndim: number): Coef;
export function appendDims(c: Coef, ndim: number): Coef {
  if (typeof c === 'number' || c.ndim === 0 || c.ndim >= ndim) return c;
  return c.reshape([...c.shape, ...new Array(ndim - c.ndim).fill(1)]);
}

function mul(x: Tensor, c: Coef): Tensor {
  return typeof c === 'number' ? x.mul(c) : x.mul(appendDims(c, x.ndim) as Tensor);
}

function div(x: Tensor, c: Coef): Tensor {
  return typeof c === 'number' ? x.div(c) : x.div(appendDims(c, x.ndim) as Tensor);
}

/** α² + σ² as a coefficient (1 in exact VP arithmetic; kept general so that conversions invert exactly). */
function norm2(alpha: Coef, sigma: Coef): Coef {
  if (typeof alpha === 'number' && typeof sigma === 'number') return alpha * alpha + sigma * sigma;
  const a = typeof alpha === 'number' ? tensor(alpha, { dtype: 'float64' }) : alpha;
  const s = typeof sigma === 'number' ? tensor(sigma, { dtype: 'float64' }) : sigma;
  return a.square().add(s.square());
}

/** x0 = (x_t − σ·ε)/α (Ho et al. 2020, Eq. 15). */
export function epsToX0(xt: Tensor, eps: Tensor, alpha: Coef, sigma: Coef): Tensor {
  return div(xt.sub(mul(eps, sigma)), alpha);
}

/** ε = (x_t − α·x0)/σ. */
export function x0ToEps(xt: Tensor, x0: Tensor, alpha: Coef, sigma: Coef): Tensor {
  return div(xt.sub(mul(x0, alpha)), sigma);
}

/** v = α·ε − σ·x0 (Salimans & Ho 2022, §4), from x0. */
export function x0ToV(xt: Tensor, x0: Tensor, alpha: Coef, sigma: Coef): Tensor {
  return mul(x0ToEps(xt, x0, alpha, sigma), alpha).sub(mul(x0, sigma));
}

/** x0 = (α·x_t − σ·v)/(α² + σ²) (Salimans & Ho 2022, §4: x0 = α·x_t − σ·v when α² + σ² = 1). */
export function vToX0(xt: Tensor, v: Tensor, alpha: Coef, sigma: Coef): Tensor {
  return div(mul(xt, alpha).sub(mul(v, sigma)), norm2(alpha, sigma));
}

/** ε = (σ·x_t + α·v)/(α² + σ²). */
export function vToEps(xt: Tensor, v: Tensor, alpha: Coef, sigma: Coef): Tensor {
  return div(mul(xt, sigma).add(mul(v, alpha)), norm2(alpha, sigma));
}

/** ∇ log p(x_t) = −ε/σ (Song et al. 2021, Eq. 7 with the Gaussian transition kernel). */
export function epsToScore(eps: Tensor, sigma: Coef): Tensor {
  return div(eps, sigma).neg();
}

/** ε = −σ·∇ log p(x_t). */
export function scoreToEps(score: Tensor, sigma: Coef): Tensor {
  return mul(score, sigma).neg();
}

/** Any prediction → x0, in VP form (x_t, α, σ). */
export function toX0(kind: Parameterisation, xt: Tensor, pred: Tensor, alpha: Coef, sigma: Coef): Tensor {
  switch (kind) {
    case 'x0': return pred;
    case 'eps': return epsToX0(xt, pred, alpha, sigma);
    case 'v': return vToX0(xt, pred, alpha, sigma);
    case 'score': return epsToX0(xt, scoreToEps(pred, sigma), alpha, sigma);
  }
}

/** x0 → any prediction, in VP form (x_t, α, σ). */
export function fromX0(kind: Parameterisation, xt: Tensor, x0: Tensor, alpha: Coef, sigma: Coef): Tensor {
  switch (kind) {
    case 'x0': return x0;
    case 'eps': return x0ToEps(xt, x0, alpha, sigma);
    case 'v': return x0ToV(xt, x0, alpha, sigma);
    case 'score': return epsToScore(x0ToEps(xt, x0, alpha, sigma), sigma);
  }
}

/** Convert a prediction between parameterisations in VP form (x_t, α, σ). */
export function convertPrediction(from: Parameterisation, to: Parameterisation, xt: Tensor, pred: Tensor, alpha: Coef, sigma: Coef): Tensor {
  return from === to ? pred : fromX0(to, xt, toX0(from, xt, pred, alpha, sigma), alpha, sigma);
}

/** Any prediction → denoised D(x, σ), in EDM form (x = x0 + σ·n, i.e. α = 1). */
export function toDenoised(kind: Parameterisation, x: Tensor, pred: Tensor, sigma: Coef): Tensor {
  return toX0(kind, x, pred, 1, sigma);
}

/** Denoised D(x, σ) → any prediction, in EDM form. */
export function fromDenoised(kind: Parameterisation, x: Tensor, denoised: Tensor, sigma: Coef): Tensor {
  return fromX0(kind, x, denoised, 1, sigma);
}
