// Test-time augmentation (Dieleman et al. 2015, plankton, "Test-time augmentation"): a model's
// predicted probabilities averaged over a set of transformed copies of each input. The post used "a
// quasi-random set of 70 transformations, using slightly more modest augmentation parameter ranges
// than those used for training" (Halton points; augment.ts quasiRandomAffine).
import { Tensor, functions as torch, keep, noGrad, scope } from '../tensor';
import { AffineParams, AugmentationRanges, affineTransform, quasiRandomAffine } from './augment';

export interface TTAOptions {
  /** Transforms per image (default 1: none, the plain prediction). */
  n?: number;
  /** The ranges the Halton points tile (required when n > 1). */
  ranges?: AugmentationRanges;
  /** Or an explicit transform set (overrides n and ranges). */
  transforms?: AffineParams[];
  /** Images per model call (default 500). */
  batchSize?: number;
  padding?: 'zeros' | 'border' | 'reflection';
  /** Called after each transform with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** The transform set of `n` TTA copies: none for n = 1, else the first n Halton points of `ranges`. */
export function ttaTransforms(n: number, ranges?: AugmentationRanges): AffineParams[] {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`tta: n must be a positive integer, got ${n}`);
  if (n === 1) return [{}];
  if (!ranges) throw new TypeError(`tta: n = ${n} transforms need the ranges they tile`);
  return quasiRandomAffine(n, ranges);
}

/**
 * (N, K) class probabilities: mean over the transforms t of softmax(logits(t(images))), without
 * gradients. `logits` maps a batch (B, C, H, W) to (B, K); put the model in eval mode first.
 */
export function predictTTA(logits: (x: Tensor) => Tensor, images: Tensor, o: TTAOptions = {}): Tensor {
  if (!(images instanceof Tensor) || images.ndim !== 4) throw new TypeError(`predictTTA: images must be (N, C, H, W), got ${images instanceof Tensor ? `shape [${images.shape.join(', ')}]` : typeof images}`);
  const transforms = o.transforms ?? ttaTransforms(o.n ?? 1, o.ranges);
  const batchSize = o.batchSize ?? 500;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`predictTTA: batchSize must be a positive integer, got ${o.batchSize}`);
  const n = images.shape[0];
  return noGrad(() => {
    let sum: Tensor | null = null;
    try {
      transforms.forEach((t, j) => {
        for (let i = 0; i < n; i += batchSize) {
          const m = Math.min(batchSize, n - i);
          const p = scope(() => {
            const x = affineTransform(images.narrow(0, i, m), new Array<AffineParams>(m).fill(t), { padding: o.padding });
            const z = logits(x);
            if (z.ndim !== 2 || z.shape[0] !== m) throw new TypeError(`predictTTA: logits must return (B, K) for a batch of ${m}, got shape [${z.shape.join(', ')}]`);
            return z.float().softmax(1);
          });
          if (!sum) sum = keep(torch.zeros([n, p.shape[1]]));
          scope(() => sum!.narrow(0, i, m).add_(p));
          p.dispose();
        }
        o.onProgress?.(j + 1, transforms.length);
      });
      return scope(() => sum!.div(transforms.length));
    } finally {
      (sum as Tensor | null)?.dispose();
    }
  });
}
