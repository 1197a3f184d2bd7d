// The two pixel ranges of the diffusion code: images are modelled in [-1, 1] (so that σ_data = 0.5
// fits them) and saved or classified in [0, 1].
import { Tensor, scope } from '../tensor';

/** uint8 images (0..255) -> float32 in [-1, 1]; float images are taken as [0, 1]. */
export function toSymmetric(images: Tensor): Tensor {
  return scope(() => (images.dtype === 'uint8' ? images.to('float32').div(127.5).sub(1) : images.to('float32').mul(2).sub(1)));
}

/** Images in [-1, 1] -> [0, 1] (clamped), for PNG grids and the [0, 1] classifier. */
export const toUnit = (x: Tensor): Tensor => scope(() => x.add(1).div(2).clamp(0, 1));
