// Preconditioning (EDM, Karras et al. 2022, §5 and Table 1): one small wrapper that turns a raw
// network F(x_in, c_noise) into a denoiser D(x, σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x, c_noise(σ)).
import { Tensor, checkShape, functions as torch } from '../tensor';
import type { Conditioning, Denoiser } from './denoiser';
import { appendDims } from './parameterisation';

/** A raw network: the scaled input, the (B,) noise conditioning, and the denoiser's conditioning. */
export type RawNetwork = (xIn: Tensor, cNoise: Tensor, cond?: Conditioning) => Tensor;

/** The four preconditioning coefficients at σ, each shaped like σ. */
export interface Coefficients {
  cSkip: Tensor;
  cOut: Tensor;
  cIn: Tensor;
  cNoise: Tensor;
}

export type CoefficientFn = (sigma: Tensor) => Coefficients;

/**
 * EDM coefficients (Karras et al. 2022, Table 1 and Eq. 7): c_skip = σ_d²/(σ² + σ_d²),
 * c_out = σ·σ_d/sqrt(σ² + σ_d²), c_in = 1/sqrt(σ² + σ_d²), c_noise = ¼·ln σ.
 * With σ_data = 1 this is v-prediction (Salimans & Ho 2022) in EDM form.
 */
export function edmCoefficients({ sigmaData = 0.5 }: { sigmaData?: number } = {}): CoefficientFn {
  const sd2 = sigmaData * sigmaData;
  return (sigma) => {
    const total = sigma.square().add(sd2); // σ² + σ_d²
    return {
      cSkip: total.reciprocal().mul(sd2),
      cOut: sigma.mul(sigmaData).mul(total.rsqrt()),
      cIn: total.rsqrt(),
      cNoise: sigma.log().mul(0.25),
    };
  };
}

/**
 * ε-prediction in EDM form (Karras et al. 2022, Table 1, VP column): c_skip = 1, c_out = −σ,
 * c_in = 1/sqrt(σ² + 1); the post's "residual connection with scale −1". c_noise = ¼·ln σ here
 * (Table 1 uses (M − 1)·t(σ); any injective map of σ works).
 */
export function epsCoefficients(): CoefficientFn {
  return (sigma) => ({
    cSkip: torch.onesLike(sigma),
    cOut: sigma.neg(),
    cIn: sigma.square().add(1).rsqrt(),
    cNoise: sigma.log().mul(0.25),
  });
}

/** Wrap a raw network into a denoiser: D(x, σ) = c_skip·x + c_out·F(c_in·x, c_noise) (EDM Eq. 7). */
export function precondition(network: RawNetwork, coefficients: CoefficientFn = edmCoefficients()): Denoiser {
  return (x, sigma, extra) => {
    const batch = x.shape[0];
    if (sigma.ndim !== 0) checkShape('precondition', 'sigma', sigma, [batch], 'one noise level per sample of x, or a 0-d tensor');
    const s = sigma.ndim === 0 ? sigma.to(x.dtype).expand([batch]) : sigma.to(x.dtype); // (B,)
    const c = coefficients(s);
    const cSkip = appendDims(c.cSkip, x.ndim), cOut = appendDims(c.cOut, x.ndim), cIn = appendDims(c.cIn, x.ndim);
    const f = network(x.mul(cIn), c.cNoise, extra); // same shape as x
    return x.mul(cSkip).add(f.mul(cOut)); // EDM (Karras et al. 2022), Eq. 7
  };
}

/** EDM preconditioning with σ_data (Karras et al. 2022, Table 1, "ours"). */
export function edmPrecondition(network: RawNetwork, { sigmaData = 0.5 }: { sigmaData?: number } = {}): Denoiser {
  return precondition(network, edmCoefficients({ sigmaData }));
}

