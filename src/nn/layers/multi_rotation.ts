// Galaxy Zoo multi-rotation slicing and merging (Dieleman, Willett & Dambre 2015, "Rotation-invariant
// convolutional neural networks for galaxy morphology prediction", section 7.3 / figure 4): the input
// image and a copy rotated by 45°, each also flipped, each cut into four overlapping corner crops
// that are rotated so that the image centre sits at the same pixel of every crop: 16 views of each
// example, processed by one convnet along the batch axis; the merge layer concatenates each
// example's 16 feature vectors for the dense layers.
//
// The four corner crops of an image, each rotated to a canonical orientation, are the top-left
// crops of the image's four 90° rotations; with flips, those of its eight D4 transforms. So view
// (a, g) of example n is  TL(T_g R_a x)  with R_0 = identity, R_1 = the 45° rotation, g in D4
// (cyclic.ts numbering), TL the top-left crop (the image centre toward the crop's bottom-right).
// Layout: view-major, (16·N, C, p, p) with view v = 8a + g of example n at row v·N + n.
//
// A D4 transform of the input permutes the views exactly: TL(T_g T_h x) = view (0, g·h), and since
// R_1 is half of the generator r (R_1 R_1 = T_r), R_1 T_h = T_{φ(h)} R_1 with φ(r^k) = r^k,
// φ(r^k s) = r^k s r^3 (a flip reverses the 45° rotation), so view (1, g) goes to (1, g·φ(h)).
// The 0° half moves values only (bit for bit); the 45° half is bilinear resampling, so it permutes
// up to interpolation rounding (the test bounds both).
import { Tensor, functions as torch, noGrad, scope, tensor } from '../../tensor';
import { Module } from '../module';
import { DIHEDRAL } from './cyclic';

/** Views per example: 2 angles x 8 D4 transforms (4 corners x flip). */
export const MULTI_ROTATION_VIEWS = 16;

export interface MultiRotationSliceOptions {
  /** Side of the square corner crops (the paper: 45 from 69x69 inputs). Must be at most the input size. */
  cropSize: number;
  /** Outside the image when rotating by 45°: 'zeros' (default), 'border' or 'reflection'. */
  padding?: 'zeros' | 'border' | 'reflection';
}

/**
 * (N, C, S, S) -> (16·N, C, p, p): for a in {0°, 45°} and g in D4, the top-left p x p crop of
 * T_g(rotate(x, 45a)). The crops overlap when 2p > S, as in the paper (45 of 69).
 */
export class MultiRotationSlice extends Module {
  readonly cropSize: number;
  readonly padding: 'zeros' | 'border' | 'reflection';

  constructor(o: MultiRotationSliceOptions) {
    super();
    if (typeof o !== 'object' || o === null) throw new TypeError('MultiRotationSlice: options { cropSize } are required');
    if (!Number.isSafeInteger(o.cropSize) || o.cropSize < 1) throw new RangeError(`MultiRotationSlice: cropSize must be a positive integer, got ${o.cropSize}`);
    this.cropSize = o.cropSize;
    this.padding = o.padding ?? 'zeros';
    if (!['zeros', 'border', 'reflection'].includes(this.padding)) {
      throw new TypeError(`MultiRotationSlice: option padding must be 'zeros', 'border' or 'reflection', got ${JSON.stringify(o.padding)}`);
    }
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new TypeError(`MultiRotationSlice: input must be (N, C, S, S), got shape [${x.shape.join(', ')}]`);
    const [n, c, h, w] = x.shape;
    if (h !== w) throw new TypeError(`MultiRotationSlice: input must be square (its 90° rotations are cropped alike), got ${h}x${w} in shape [${x.shape.join(', ')}]`);
    const p = this.cropSize;
    if (p > h) throw new RangeError(`MultiRotationSlice: cropSize ${p} exceeds the input size ${h}x${w}`);
    return scope(() => {
      const copies = [x, rotate45(x, [n, c, h, w], this.padding)];
      const views: Tensor[] = [];
      for (const im of copies) {
        for (let g = 0; g < DIHEDRAL.order; g++) views.push(DIHEDRAL.apply(im, g).narrow(2, 0, p).narrow(3, 0, p));
      }
      return torch.cat(views, 0); // (16·N, C, p, p)
    });
  }
}

/** x rotated by 45° about its centre, in the sense that twice is torch's rot90(x, 1): R_1 R_1 = T_r. */
function rotate45(x: Tensor, size: number[], padding: 'zeros' | 'border' | 'reflection'): Tensor {
  // affine_grid maps output to input coordinates (normalised, x right, y down); for a square image
  // the normalisation is the same on both axes, so θ is the inverse rotation. rot90(x, 1) over
  // (H, W) takes out[i][j] = in[j][W-1-i]: input x = -y_out, input y = x_out, i.e. θ(90°) =
  // [[0, -1], [1, 0]]; its square root is θ(45°) = [[c, -c], [c, c]] with c = cos 45°.
  const c = Math.SQRT1_2;
  return scope(() => {
    const theta = tensor([[[c, -c, 0], [c, c, 0]]], { dtype: x.dtype }).expand([size[0], 2, 3]);
    const grid = noGrad(() => torch.affineGridGenerator(theta, size, false)); // (N, S, S, 2)
    return torch.gridSampler(x, grid, 0, { zeros: 0, border: 1, reflection: 2 }[padding], false);
  });
}

/**
 * (16·N, ...) -> (N, 16·F): each example's 16 view outputs flattened and concatenated in view
 * order (the paper's merge before the dense layers). The result is not invariant: a 90° rotation
 * of the input permutes its 16 blocks (pool with CyclicPool-like averaging instead for invariance).
 */
export class MultiRotationMerge extends Module {
  forward(x: Tensor): Tensor {
    if (x.ndim < 1) throw new TypeError('MultiRotationMerge: input must have a batch dimension, got a scalar');
    const b = x.shape[0], V = MULTI_ROTATION_VIEWS;
    if (b % V) throw new TypeError(`MultiRotationMerge: batch size ${b} of shape [${x.shape.join(', ')}] must be divisible by the ${V} views of MultiRotationSlice`);
    const n = b / V;
    return scope(() => x.reshape([V, n, -1]).transpose(0, 1).reshape([n, -1])); // (V, N, F) -> (N, V·F)
  }
}
