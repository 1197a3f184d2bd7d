// Realtime affine augmentation as in the plankton solution (Dieleman et al. 2015, "Data
// augmentation"): rotation uniform in 0–360°, translation uniform ±10 px, zoom log-uniform in
// [1/1.6, 1.6], shear uniform ±20°, stretch log-uniform in [1/1.3, 1.3], flips. One affine transform
// per image, applied to a whole batch by one affine_grid + grid_sample; quasi-random transform sets
// for test-time augmentation come from a Halton sequence (the post used ghalton, 70 transforms).
import { Generator, Tensor, functions as torch, noGrad, scope, tensor } from '../tensor';

/** One image's transform. Angles in degrees, translation in output pixels (x right, y down). */
export interface AffineParams {
  rotation?: number;
  /** Isotropic scale factor (> 1 enlarges the content). */
  zoom?: number;
  /** Anisotropic factor: x scaled by zoom·stretch, y by zoom/stretch. */
  stretch?: number;
  /** Shear angle: x' = x + tan(shear)·y. */
  shear?: number;
  translation?: [number, number];
  /** Mirror x before everything else. */
  flip?: boolean;
}

/**
 * The forward 3x3 matrix of `p` in pixel coordinates centred on the image centre, x right, y down
 * (where an input point lands in the output):
 *   M = Translate(t) · Rotate(rotation) · Shear(shear) · Scale(zoom·stretch, zoom/stretch) · Flip
 * with Rotate(a) = [[cos a, -sin a], [sin a, cos a]] (clockwise on screen, since y points down).
 */
export function affineMatrix(p: AffineParams): number[][] {
  const rad = Math.PI / 180;
  const a = (p.rotation ?? 0) * rad, sh = Math.tan((p.shear ?? 0) * rad);
  const zoom = p.zoom ?? 1, stretch = p.stretch ?? 1, f = p.flip ? -1 : 1;
  const [tx, ty] = p.translation ?? [0, 0];
  const sx = zoom * stretch * f, sy = zoom / stretch;
  const c = Math.cos(a), s = Math.sin(a);
  // R · [[1, sh], [0, 1]] · diag(sx, sy)
  return [[c * sx, (c * sh - s) * sy, tx], [s * sx, (s * sh + c) * sy, ty], [0, 0, 1]];
}

function checkParams(p: AffineParams, i: number): void {
  const where = `affineTransform: params[${i}]`;
  for (const k of ['rotation', 'zoom', 'stretch', 'shear'] as const) {
    const v = p[k];
    if (v !== undefined && !Number.isFinite(v)) throw new TypeError(`${where}.${k} must be a finite number, got ${v}`);
  }
  for (const k of ['zoom', 'stretch'] as const) {
    const v = p[k];
    if (v !== undefined && !(v > 0)) throw new RangeError(`${where}.${k} must be > 0, got ${v}`);
  }
  if (p.shear !== undefined && !(Math.abs(p.shear) < 90)) throw new RangeError(`${where}.shear must be within (-90, 90) degrees, got ${p.shear}`);
  if (p.translation !== undefined && !(Array.isArray(p.translation) && p.translation.length === 2 && p.translation.every(Number.isFinite))) {
    throw new TypeError(`${where}.translation must be [tx, ty] (finite pixels), got ${JSON.stringify(p.translation)}`);
  }
}

const isIdentity = (p: AffineParams): boolean => !p.flip && (p.rotation ?? 0) === 0 && (p.zoom ?? 1) === 1 &&
  (p.stretch ?? 1) === 1 && (p.shear ?? 0) === 0 && (p.translation ?? [0, 0]).every((v) => v === 0);

export interface AffineTransformOptions {
  /** Output (H, W); defaults to the input's (rescaling and augmentation in one transform). */
  outputSize?: [number, number];
  /** Outside the input: 'zeros' (default), 'border' or 'reflection'. */
  padding?: 'zeros' | 'border' | 'reflection';
  mode?: 'bilinear' | 'nearest';
}

/**
 * Applies `params[i]` to image i of `images` (N, C, H, W), about the image centre, by one
 * affine_grid + grid_sample for the batch. With the output size equal to the input's, an identity
 * transform returns its image exactly (copied, not resampled: the grid is not exact in float32 for
 * most sizes). Gradients flow to the images, not to the transform parameters.
 */
export function affineTransform(images: Tensor, params: AffineParams[], o: AffineTransformOptions = {}): Tensor {
  if (images.ndim !== 4) throw new TypeError(`affineTransform: images must be (N, C, H, W), got shape [${images.shape.join(', ')}]`);
  const [n, c, h, w] = images.shape;
  if (!Array.isArray(params) || params.length !== n) throw new RangeError(`affineTransform: params must hold one transform per image (${n}), got ${Array.isArray(params) ? params.length : typeof params}`);
  params.forEach(checkParams);
  const [oh, ow] = o.outputSize ?? [h, w];
  if (![oh, ow].every((v) => Number.isInteger(v) && v > 0)) throw new TypeError(`affineTransform: outputSize must be two positive integers, got ${JSON.stringify(o.outputSize)}`);
  const padding = { zeros: 0, border: 1, reflection: 2 }[o.padding ?? 'zeros'];
  const mode = { bilinear: 0, nearest: 1 }[o.mode ?? 'bilinear'];
  if (padding === undefined) throw new TypeError(`affineTransform: option padding must be 'zeros', 'border' or 'reflection', got ${JSON.stringify(o.padding)}`);
  if (mode === undefined) throw new TypeError(`affineTransform: option mode must be 'bilinear' or 'nearest', got ${JSON.stringify(o.mode)}`);
  // affine_grid (align_corners false) maps normalised output coordinates to normalised input
  // coordinates; centred pixels relate to them by u = 2x/W, v = 2y/H. So θ = D_in · M⁻¹ · D_out⁻¹.
  const theta = params.map((p) => {
    const [[a, b, tx], [d, e, ty]] = affineMatrix(p);
    const det = a * e - b * d; // M⁻¹ = [[e, -b], [-d, a]] / det, translation -M⁻¹·t
    const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
    const itx = -(ia * tx + ib * ty), ity = -(id * tx + ie * ty);
    return [[ia * ow / w, ib * oh / w, 2 * itx / w], [id * ow / h, ie * oh / h, 2 * ity / h]];
  });
  return scope(() => {
    const t = tensor(theta, { dtype: images.dtype }); // (N, 2, 3)
    const grid = noGrad(() => torch.affineGridGenerator(t, [n, c, oh, ow], false)); // (N, oh, ow, 2)
    const out = torch.gridSampler(images, grid, mode, padding, false);
    const same = params.map(isIdentity);
    if (!same.some(Boolean) || oh !== h || ow !== w) return out;
    const keep = tensor(same, { dtype: 'bool' }).reshape([n, 1, 1, 1]);
    return torch.where(keep, images, out);
  });
}

/** Sampling ranges; [lo, hi] for each, log-uniform for zoom and stretch. */
export interface AugmentationRanges {
  rotation: [number, number];
  zoom: [number, number];
  stretch: [number, number];
  shear: [number, number];
  /** The same range for x and y, in pixels. */
  translation: [number, number];
  /** Flip with probability 1/2. */
  flip: boolean;
}

/** The plankton solution's training ranges. */
export const PLANKTON_AUGMENTATION: AugmentationRanges = {
  rotation: [0, 360], zoom: [1 / 1.6, 1.6], stretch: [1 / 1.3, 1.3], shear: [-20, 20], translation: [-10, 10], flip: true,
};

function checkRanges(r: AugmentationRanges): void {
  for (const k of ['rotation', 'zoom', 'stretch', 'shear', 'translation'] as const) {
    const v = r[k];
    if (!Array.isArray(v) || v.length !== 2 || !v.every(Number.isFinite) || v[0] > v[1]) {
      throw new TypeError(`augmentation ranges: ${k} must be [lo, hi] with lo <= hi, got ${JSON.stringify(v)}`);
    }
  }
  for (const k of ['zoom', 'stretch'] as const) {
    if (!(r[k][0] > 0)) throw new RangeError(`augmentation ranges: ${k} is log-uniform and must be > 0, got ${JSON.stringify(r[k])}`);
  }
  if (!(Math.abs(r.shear[0]) < 90 && Math.abs(r.shear[1]) < 90)) throw new RangeError(`augmentation ranges: shear must be within (-90, 90) degrees, got ${JSON.stringify(r.shear)}`);
}

/** Transform parameters from points u of the unit cube [0, 1)^7 (random or quasi-random). */
function fromUnit(u: number[], r: AugmentationRanges): AffineParams {
  const lin = ([lo, hi]: [number, number], t: number) => lo + (hi - lo) * t;
  const log = ([lo, hi]: [number, number], t: number) => Math.exp(lin([Math.log(lo), Math.log(hi)], t));
  return {
    rotation: lin(r.rotation, u[0]), zoom: log(r.zoom, u[1]), stretch: log(r.stretch, u[2]), shear: lin(r.shear, u[3]),
    translation: [lin(r.translation, u[4]), lin(r.translation, u[5])], flip: r.flip && u[6] >= 0.5,
  };
}

/** `n` random transforms drawn from `generator` (its state advances, so resuming needs only its state). */
export function randomAffine(n: number, ranges: AugmentationRanges, generator: Generator): AffineParams[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`randomAffine: n must be a non-negative integer, got ${n}`);
  checkRanges(ranges);
  const u = scope(() => Array.from(torch.rand([n, 7], { generator, dtype: 'float64' }).dataSync() as ArrayLike<number>));
  return Array.from({ length: n }, (_, i) => fromUnit(u.slice(7 * i, 7 * i + 7), ranges));
}

/** Primes for the Halton dimensions. */
const PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];

/**
 * The radical inverse of `index` in `base` (the Halton sequence's term): the digits of index in
 * base b mirrored about the radix point. halton(1, 2) = 1/2, halton(2, 2) = 1/4, halton(3, 2) = 3/4.
 * Numerator and denominator are integers, divided once, so each term is correctly rounded.
 */
export function halton(index: number, base: number): number {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`halton: index must be a non-negative integer, got ${index}`);
  if (!Number.isInteger(base) || base < 2) throw new RangeError(`halton: base must be an integer >= 2, got ${base}`);
  let num = 0, den = 1;
  for (let i = index; i > 0; i = Math.floor(i / base)) {
    num = num * base + (i % base);
    den *= base;
  }
  if (!Number.isSafeInteger(den)) throw new RangeError(`halton: index ${index} in base ${base} needs more than 53 bits`);
  return num / den;
}

/** Points 1..n of the `dims`-dimensional Halton sequence (bases: the first `dims` primes). */
export function haltonSequence(n: number, dims: number): number[][] {
  if (!Number.isInteger(dims) || dims < 1 || dims > PRIMES.length) throw new RangeError(`haltonSequence: dims must be an integer in 1..${PRIMES.length}, got ${dims}`);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`haltonSequence: n must be a non-negative integer, got ${n}`);
  return Array.from({ length: n }, (_, i) => PRIMES.slice(0, dims).map((b) => halton(i + 1, b)));
}

/** `n` quasi-random transforms tiling the ranges (Halton points), for test-time augmentation. */
export function quasiRandomAffine(n: number, ranges: AugmentationRanges): AffineParams[] {
  checkRanges(ranges);
  return haltonSequence(n, 7).map((u) => fromUnit(u, ranges));
}
