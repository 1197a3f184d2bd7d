// One convolution as the meta-optimizer sees it: the shapes and hyper-parameters that decide which
// algorithm is fastest (Dieleman & Schlüter 2014, "Theano metaopt"), and the three operations a
// training step runs for it.
import type { DType, Device } from '../types';
import { Tensor, computeLayout } from '../tensor';
import type { ConvArgs } from './conv';

/** The three batched convolutions of one layer in training (the post's "three convolutions per layer"). */
export type ConvOp = 'forward' | 'gradInput' | 'gradWeight';
export const CONV_OPS: readonly ConvOp[] = ['forward', 'gradInput', 'gradWeight'];

/** A convolution with every argument explicit. Shapes are [N, C, ...spatial] and [O, C / groups, ...kernel]. */
export interface ConvProblem {
  dims: number;
  transposed: boolean;
  inputShape: number[];
  weightShape: number[];
  outputShape: number[];
  stride: number[];
  /** symmetric zero padding per spatial dimension */
  padding: number[];
  dilation: number[];
  outputPadding: number[];
  groups: number;
  dtype: DType;
  device: Device;
  /**
   * the layout the convolution computes and returns in (absent: NCHW): channels-last when x or w is
   * (libtorch's rule), so a channels-last network keeps NHWC from layer to layer
   */
  layout?: 'contiguous' | 'channelsLast';
}

/**
 * The problem for `conv(x, w, ·, args)`, or null when the meta-optimizer leaves it to libtorch as it
 * is: unbatched input, asymmetric 'same' padding (even kernels), shapes libtorch will reject.
 */
export function convProblem(x: Tensor, w: Tensor, a: ConvArgs): ConvProblem | null {
  const xs = x.shape;
  const ws = w.shape;
  const d = a.dims;
  if (xs.length !== d + 2 || ws.length !== d + 2) return null;
  const k = ws.slice(2);
  let padding: number[];
  if (a.padding === 'valid') padding = new Array<number>(d).fill(0);
  else if (a.padding === 'same') {
    if (a.stride.some((s) => s !== 1)) return null;
    const total = k.map((kk, i) => a.dilation[i] * (kk - 1));
    if (total.some((t) => t % 2)) return null;
    padding = total.map((t) => t / 2);
  } else padding = a.padding.slice();
  if (padding.length !== d || a.stride.length !== d || a.dilation.length !== d) return null;
  const g = a.groups;
  const [n, c] = xs;
  const spatial = xs.slice(2);
  let outputShape: number[];
  if (!a.transposed) {
    if (c !== ws[1] * g || ws[0] % g) return null;
    const out = spatial.map((h, i) => Math.floor((h + 2 * padding[i] - a.dilation[i] * (k[i] - 1) - 1) / a.stride[i]) + 1);
    if (out.some((o) => o < 1)) return null;
    outputShape = [n, ws[0], ...out];
  } else {
    if (c !== ws[0] || ws[0] % g) return null;
    const op = a.outputPadding;
    if (op.length !== d || op.some((o, i) => o >= Math.max(a.stride[i], a.dilation[i]) || o < 0)) return null;
    const out = spatial.map((h, i) => (h - 1) * a.stride[i] - 2 * padding[i] + a.dilation[i] * (k[i] - 1) + op[i] + 1);
    if (out.some((o) => o < 1)) return null;
    outputShape = [n, ws[1] * g, ...out];
  }
  if (xs.some((s) => s < 1)) return null;
  return {
    dims: d, transposed: a.transposed, inputShape: xs, weightShape: ws, outputShape,
    stride: a.stride.slice(), padding, dilation: a.dilation.slice(),
    outputPadding: a.transposed ? a.outputPadding.slice() : new Array<number>(d).fill(0), groups: g,
    dtype: x.dtype, device: x.device, layout: convLayout(x, w),
  };
}

/**
 * The layout libtorch computes a convolution in: channels-last when the input or the weight has
 * exactly NHWC strides (a size-1 channel dimension is ambiguous and counts as NCHW unless its stride
 * is NHWC's too, as in libtorch's suggest_memory_format), else NCHW.
 */
export function convLayout(x: Tensor, w: Tensor): 'contiguous' | 'channelsLast' {
  if (x.ndim !== 4) return 'contiguous';
  return computeLayout(x) === 'channelsLast' || computeLayout(w) === 'channelsLast' ? 'channelsLast' : 'contiguous';
}

/**
 * A transposed convolution is a regular one run backwards ("just swap forward and backward"): its
 * forward is the regular problem's input gradient, its input gradient the regular forward, and its
 * weight gradient the regular weight gradient with the roles of input and output gradient swapped.
 */
export function regularProblem(p: ConvProblem): ConvProblem {
  if (!p.transposed) return p;
  return { ...p, transposed: false, inputShape: p.outputShape, outputShape: p.inputShape, outputPadding: p.outputPadding.map(() => 0) };
}

/** The operation of the regular problem that computes `op` of a transposed one. */
export function regularOp(op: ConvOp, transposed: boolean): ConvOp {
  if (!transposed) return op;
  return op === 'forward' ? 'gradInput' : op === 'gradInput' ? 'forward' : 'gradWeight';
}

/** `N x C x H x W * O x C x kh x kw` plus the non-default hyper-parameters, for tables and cache listings. */
export function describeProblem(p: ConvProblem): string {
  const parts = [`${p.transposed ? 'transposed ' : ''}x ${p.inputShape.join('x')} * w ${p.weightShape.join('x')} -> ${p.outputShape.join('x')}`];
  if (p.stride.some((s) => s !== 1)) parts.push(`stride ${p.stride.join(',')}`);
  if (p.padding.some((s) => s !== 0)) parts.push(`pad ${p.padding.join(',')}`);
  if (p.dilation.some((s) => s !== 1)) parts.push(`dil ${p.dilation.join(',')}`);
  if (p.outputPadding.some((s) => s !== 0)) parts.push(`outpad ${p.outputPadding.join(',')}`);
  if (p.groups !== 1) parts.push(`groups ${p.groups}`);
  if (p.layout === 'channelsLast') parts.push('NHWC');
  return parts.join(', ');
}

export const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
