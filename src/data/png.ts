// Image grids as PNG files, laid out like torchvision.utils.make_grid / save_image.
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { Tensor, scope, writeFileAtomic } from '../tensor';

export interface ImageGridOptions {
  /** Images per row (default 8). */
  nrow?: number;
  /** Pixels between images and around the grid (default 2; none when there is a single image). */
  padding?: number;
  /** Brightness of the padding, 0 (black, default) to 1 (white). */
  padValue?: number;
  /** Map [min, max] of the tensor (or of each image, with `scaleEach`) to [0, 1]. */
  normalize?: boolean;
  /** Map this value range to [0, 1] (values outside are clipped), e.g. [-1, 1]; implies `normalize`. */
  range?: [number, number];
  /** With `normalize` and no `range`: scale each image by its own min and max. */
  scaleEach?: boolean;
}

/**
 * Encodes images as one PNG grid. `images` is [N, C, H, W], [C, H, W] or [H, W] with C = 1
 * (written as grayscale) or 3 (RGB); float values in [0, 1] (others clipped; see `normalize` and
 * `range` for [-1, 1] or arbitrary ranges), or uint8 0..255 as they are.
 */
export function encodePng(images: Tensor, opts: ImageGridOptions = {}): Buffer {
  const { nrow = 8, padding = 2, padValue = 0 } = opts;
  if (!Number.isInteger(nrow) || nrow < 1) throw new RangeError(`encodePng: nrow must be a positive integer, got ${nrow}`);
  if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`encodePng: padding must be a non-negative integer, got ${padding}`);
  const shape = images.shape;
  if (shape.length < 2 || shape.length > 4) throw new RangeError(`encodePng: expected [N, C, H, W], [C, H, W] or [H, W] images, got shape [${shape.join(', ')}]`);
  const [n, c, h, w] = [[1, 1], [1], []][shape.length - 2].concat(shape);
  if (c !== 1 && c !== 3) throw new RangeError(`encodePng: images must have 1 or 3 channels, got shape [${shape.join(', ')}]`);
  if (n === 0 || h === 0 || w === 0) throw new RangeError(`encodePng: no pixels to write (shape [${shape.join(', ')}])`);
  const pixels = scope(() => toBytesNHWC(images.reshape([n, c, h, w]), opts)); // [N, H, W, C] uint8

  const pad = n === 1 ? 0 : padding;
  const cols = Math.min(nrow, n);
  const rows = Math.ceil(n / cols);
  const width = cols * (w + pad) + pad;
  const height = rows * (h + pad) + pad;
  const out = Buffer.alloc(width * height * c, Math.round(Math.min(Math.max(padValue, 0), 1) * 255));
  const rowBytes = w * c;
  for (let k = 0; k < n; k++) {
    const top = Math.floor(k / cols) * (h + pad) + pad;
    const left = (k % cols) * (w + pad) + pad;
    for (let y = 0; y < h; y++) {
      const src = (k * h + y) * rowBytes;
      out.set(pixels.subarray(src, src + rowBytes), ((top + y) * width + left) * c);
    }
  }
  const png = new PNG();
  png.width = width;
  png.height = height;
  png.data = out;
  const colorType = c === 1 ? 0 : 2;
  return PNG.sync.write(png, { colorType, inputColorType: colorType, bitDepth: 8 });
}

/** Writes `images` as a PNG grid to `file` atomically (temp file + rename), creating its folder. */
export function saveImageGrid(file: string, images: Tensor, opts: ImageGridOptions = {}): void {
  const bytes = encodePng(images, opts);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic(file, bytes);
}

// uint8 bytes in [N, H, W, C] order; floats become round(255 * x) after the optional normalisation.
function toBytesNHWC(x: Tensor, opts: ImageGridOptions): Uint8Array {
  const dtype = x.dtype;
  const floating = dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
  if (!floating && dtype !== 'uint8') throw new TypeError(`encodePng: images must be floating point or uint8, got ${dtype}`);
  let u8: Tensor;
  if (dtype === 'uint8' && !opts.normalize && !opts.range) {
    u8 = x;
  } else {
    let f = x.detach().to('float32').nanToNum(0);
    if (opts.range) {
      const [lo, hi] = opts.range;
      if (!(hi > lo)) throw new RangeError(`encodePng: range must be [low, high] with high > low, got [${lo}, ${hi}]`);
      f = f.clamp(lo, hi).sub(lo).div(hi - lo);
    } else if (opts.normalize) {
      const flat = f.flatten(opts.scaleEach ? 1 : 0); // [N, CHW] or [NCHW]
      const lo = flat.amin(-1, { keepdim: true });
      const hi = flat.amax(-1, { keepdim: true });
      f = flat.sub(lo).div(hi.sub(lo).clampMin(1e-5)).reshapeAs(f);
    }
    u8 = f.mul(255).add(0.5).clamp(0, 255).to('uint8');
  }
  const nhwc = u8.permute([0, 2, 3, 1]).contiguous();
  return (nhwc.device === 'cpu' ? nhwc : nhwc.to({ device: 'cpu', dtype: 'uint8' })).toBytes();
}
