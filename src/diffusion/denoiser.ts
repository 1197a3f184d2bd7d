// The one denoiser signature every sampler, guidance wrapper, likelihood and loss in src/diffusion
// takes (k-diffusion style, EDM form: Karras et al. 2022, §2): x = x0 + σ·n and D(x, σ) ≈ E[x0 | x].
import { Tensor, functions as torch } from '../tensor';

/**
 * What a denoiser is conditioned on besides x and σ, by name (k-diffusion's `extra_args`): e.g.
 * `{ labels }` for the class-conditional U-Net, a (B,) int64 tensor in which -1 (or `labels: null`
 * for the whole batch) means "no label". A wrapper passes it on unchanged, setting only its own key
 * (classifier-free guidance sets the key it guides on); samplers pass `opts.extra` as it is.
 */
export type Conditioning = Record<string, unknown>;

/**
 * D(x, σ, cond) ≈ E[x0 | x]: x is (B, ...), σ the (B,) noise level of each sample, in x's dtype
 * (a 0-d σ is accepted by `precondition` as one level for the whole batch), the result shaped like x.
 */
export type Denoiser = (x: Tensor, sigma: Tensor, cond?: Conditioning) => Tensor;

/** D at one noise level for the whole batch: σ as a (B,) tensor in x's dtype and device. */
export function denoiseAt(model: Denoiser, x: Tensor, sigma: number, cond?: Conditioning): Tensor {
  const s = torch.full([x.shape[0]], sigma, { dtype: x.dtype, device: x.device }); // (B,)
  return model(x, s, cond);
}
