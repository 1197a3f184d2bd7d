// A tensor's memory layout read off its strides, as libtorch's is_contiguous(memory_format) does:
// 'contiguous' (row-major), 'channelsLast' (NHWC for a 4-d [N, C, H, W]) or 'strided' (anything
// else). Size-1 dimensions take any stride, so a tensor can be both; 'contiguous' wins then.
import type { Tensor } from './tensor';

export type Layout = 'contiguous' | 'channelsLast' | 'strided';

export function memoryFormatOf(x: Tensor): Layout {
  if (isLaidOut(x, 'contiguous')) return 'contiguous';
  if (isLaidOut(x, 'channelsLast')) return 'channelsLast';
  return 'strided';
}

/**
 * Whether `x`'s strides are those of `format` (channelsLast: 4-d only). `strict` also asks the
 * strides of size-1 dimensions to be the canonical ones: libtorch picks a convolution's layout from
 * them (a [32, 1, 3, 3] weight with NCHW strides is not "channels-last" to it, although its elements
 * are in NHWC order).
 */
export function isLaidOut(x: Tensor, format: 'contiguous' | 'channelsLast', strict = false): boolean {
  const shape = x.shape;
  const s = x.stride();
  const order = format === 'contiguous' ? shape.map((_, i) => shape.length - 1 - i) : shape.length === 4 ? [1, 3, 2, 0] : null;
  if (!order) return false;
  let expect = 1;
  for (const d of order) {
    if ((strict || shape[d] !== 1) && s[d] !== expect) return false;
    expect *= shape[d];
  }
  return true;
}

/**
 * The layout libtorch computes in for `x` (its suggest_memory_format): channels-last only when the
 * strides are exactly NHWC's, size-1 dimensions included, and not also NCHW's; else NCHW.
 */
export function computeLayout(x: Tensor): 'contiguous' | 'channelsLast' {
  return x.ndim === 4 && isLaidOut(x, 'channelsLast', true) && !isLaidOut(x, 'contiguous', true) ? 'channelsLast' : 'contiguous';
}
