// torch.nn.functional: the names and keyword arguments of PyTorch's Python layer, over the
// generated ATen bindings. Only what ATen's own signatures do not already match lives here.
// Every options object is checked (unknown keys, kinds, ranges); arguments that PyTorch takes
// positionally and users pass that way (dropout's p, leakyRelu's slope, ...) are accepted so.
import type { Generator } from './tensor';
import { Tensor, functions as torch } from './tensor';
import { checkOptions, checkRange, show, OptionKind } from './options';

type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };
const REDUCTIONS = ['none', 'mean', 'sum'] as const;
const reduction = (r: Reduction | undefined): number => REDUCTION[r ?? 'mean'];
type IntOrList = number | number[];

function opts<O extends object>(fn: string, o: O | undefined, spec: Record<string, OptionKind>): O {
  return checkOptions(`F.${fn}`, o, spec);
}
/** A positional argument that must be a number (or, where given, one of the other accepted kinds). */
function num(fn: string, name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`F.${fn}: ${name} must be a number, got ${show(v)}`);
  return v;
}
function int(fn: string, name: string, v: unknown): number {
  if (!Number.isInteger(v)) throw new TypeError(`F.${fn}: ${name} must be an integer, got ${show(v)}`);
  return v as number;
}

export const linear = (input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor => torch.linear(input, weight, bias);
export const bilinear = (a: Tensor, b: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor => torch.bilinear(a, b, weight, bias);

export interface ConvOptions { bias?: Tensor | null; stride?: IntOrList; padding?: IntOrList | 'same' | 'valid'; dilation?: IntOrList; groups?: number }
const CONV: Record<string, OptionKind> = { bias: 'tensor', stride: 'ints', padding: 'any', dilation: 'ints', groups: 'int' };
function convOpts(fn: string, o: ConvOptions | undefined) {
  o = opts(fn, o, CONV);
  const padding = o.padding ?? 0;
  if (!(padding === 'same' || padding === 'valid' || Number.isInteger(padding) || (Array.isArray(padding) && padding.every(Number.isInteger)))) {
    throw new TypeError(`F.${fn}: option padding must be an integer, a list of integers, 'same' or 'valid', got ${show(padding)}`);
  }
  return { bias: o.bias ?? null, stride: o.stride ?? 1, padding, dilation: o.dilation ?? 1, groups: o.groups ?? 1 };
}
export const conv1d = (x: Tensor, w: Tensor, o?: ConvOptions): Tensor => torch.conv1d(x, w, convOpts('conv1d', o) as never);
export const conv2d = (x: Tensor, w: Tensor, o?: ConvOptions): Tensor => torch.conv2d(x, w, convOpts('conv2d', o) as never);
export const conv3d = (x: Tensor, w: Tensor, o?: ConvOptions): Tensor => torch.conv3d(x, w, convOpts('conv3d', o) as never);

export interface ConvTransposeOptions { bias?: Tensor | null; stride?: IntOrList; padding?: IntOrList; outputPadding?: IntOrList; groups?: number; dilation?: IntOrList }
const CONV_T: Record<string, OptionKind> = { bias: 'tensor', stride: 'ints', padding: 'ints', outputPadding: 'ints', groups: 'int', dilation: 'ints' };
function ctOpts(fn: string, o: ConvTransposeOptions | undefined) {
  o = opts(fn, o, CONV_T);
  return { bias: o.bias ?? null, stride: o.stride ?? 1, padding: o.padding ?? 0, outputPadding: o.outputPadding ?? 0, groups: o.groups ?? 1, dilation: o.dilation ?? 1 };
}
export const convTranspose1d = (x: Tensor, w: Tensor, o?: ConvTransposeOptions): Tensor => torch.convTranspose1d(x, w, ctOpts('convTranspose1d', o));
export const convTranspose2d = (x: Tensor, w: Tensor, o?: ConvTransposeOptions): Tensor => torch.convTranspose2d(x, w, ctOpts('convTranspose2d', o));
export const convTranspose3d = (x: Tensor, w: Tensor, o?: ConvTransposeOptions): Tensor => torch.convTranspose3d(x, w, ctOpts('convTranspose3d', o));

export interface PoolOptions { stride?: IntOrList | null; padding?: IntOrList; dilation?: IntOrList; ceilMode?: boolean }
const POOL: Record<string, OptionKind> = { stride: 'ints?', padding: 'ints', dilation: 'ints', ceilMode: 'boolean' };
// stride defaults to the kernel size, as in PyTorch (ATen takes [] for that)
function poolOpts(fn: string, o: PoolOptions | undefined) {
  o = opts(fn, o, POOL);
  return { stride: o.stride ?? [], padding: o.padding ?? 0, dilation: o.dilation ?? 1, ceilMode: o.ceilMode ?? false };
}
export const maxPool1d = (x: Tensor, kernelSize: IntOrList, o?: PoolOptions): Tensor => torch.maxPool1d(x, kernelSize, poolOpts('maxPool1d', o));
export const maxPool2d = (x: Tensor, kernelSize: IntOrList, o?: PoolOptions): Tensor => torch.maxPool2d(x, kernelSize, poolOpts('maxPool2d', o));
export const maxPool3d = (x: Tensor, kernelSize: IntOrList, o?: PoolOptions): Tensor => torch.maxPool3d(x, kernelSize, poolOpts('maxPool3d', o));
export interface AvgPoolOptions { stride?: IntOrList | null; padding?: IntOrList; ceilMode?: boolean; countIncludePad?: boolean }
const AVG_POOL: Record<string, OptionKind> = { stride: 'ints?', padding: 'ints', ceilMode: 'boolean', countIncludePad: 'boolean' };
function avgOpts(fn: string, o: AvgPoolOptions | undefined) {
  o = opts(fn, o, AVG_POOL);
  return { stride: o.stride ?? [], padding: o.padding ?? 0, ceilMode: o.ceilMode ?? false, countIncludePad: o.countIncludePad ?? true };
}
export const avgPool1d = (x: Tensor, kernelSize: IntOrList, o?: AvgPoolOptions): Tensor => torch.avgPool1d(x, kernelSize, avgOpts('avgPool1d', o));
export const avgPool2d = (x: Tensor, kernelSize: IntOrList, o?: AvgPoolOptions): Tensor => torch.avgPool2d(x, kernelSize, avgOpts('avgPool2d', o));
export const avgPool3d = (x: Tensor, kernelSize: IntOrList, o?: AvgPoolOptions): Tensor => torch.avgPool3d(x, kernelSize, avgOpts('avgPool3d', o));
export const adaptiveAvgPool1d = (x: Tensor, size: IntOrList): Tensor => torch.adaptiveAvgPool1d(x, size);
export const adaptiveAvgPool2d = (x: Tensor, size: IntOrList): Tensor => torch.adaptiveAvgPool2d(x, size);
export const adaptiveAvgPool3d = (x: Tensor, size: IntOrList): Tensor => torch.adaptiveAvgPool3d(x, size);
export const adaptiveMaxPool2d = (x: Tensor, size: IntOrList): Tensor => torch.adaptiveMaxPool2d(x, size)[0];

const MODES = ['nearest', 'linear', 'bilinear', 'bicubic', 'trilinear', 'nearest-exact'] as const;
export interface InterpolateOptions {
  size?: IntOrList;
  scaleFactor?: number | number[];
  mode?: (typeof MODES)[number];
  alignCorners?: boolean;
}
/** `F.interpolate` for 3-d (N,C,L), 4-d (N,C,H,W) and 5-d inputs. */
export function interpolate(x: Tensor, o: InterpolateOptions): Tensor {
  if (o === undefined) throw new TypeError('F.interpolate: give { size } or { scaleFactor }');
  o = opts('interpolate', o, { size: 'ints', scaleFactor: 'nums', mode: MODES, alignCorners: 'boolean' });
  const spatial = x.ndim - 2;
  const mode = o.mode ?? 'nearest';
  if ((o.size === undefined) === (o.scaleFactor === undefined)) throw new TypeError('F.interpolate: give exactly one of size and scaleFactor');
  const rep = (v: number | number[]) => (Array.isArray(v) ? v : new Array(spatial).fill(v));
  const size = o.size === undefined ? null : rep(o.size);
  const scales = o.scaleFactor === undefined ? null : rep(o.scaleFactor);
  if (scales && !scales.every((s: number) => s > 0 && Number.isFinite(s))) throw new RangeError(`F.interpolate: scaleFactor must be positive and finite, got ${show(o.scaleFactor)}`);
  if (mode !== 'nearest' && mode !== 'nearest-exact' && o.alignCorners === undefined) o = { ...o, alignCorners: false };
  if ((mode === 'nearest' || mode === 'nearest-exact') && o.alignCorners !== undefined) throw new TypeError('F.interpolate: alignCorners only applies to linear modes');
  const t = torch as unknown as Record<string, (...a: unknown[]) => Tensor>;
  const exact = mode === 'nearest-exact' ? 'upsampleNearestExact' : 'upsampleNearest';
  const byMode: Record<string, [number, string]> = {
    nearest: [spatial, `${exact}${spatial}d`], 'nearest-exact': [spatial, `${exact}${spatial}d`],
    linear: [1, 'upsampleLinear1d'], bilinear: [2, 'upsampleBilinear2d'], bicubic: [2, 'upsampleBicubic2d'], trilinear: [3, 'upsampleTrilinear3d'],
  };
  const [dims, fn] = byMode[mode] ?? [];
  if (!fn || dims !== spatial || !t[fn]) throw new TypeError(`F.interpolate: mode "${mode}" does not apply to a ${x.ndim}-d input`);
  return mode.startsWith('nearest') ? t[fn](x, size, scales) : t[fn](x, size, o.alignCorners, scales);
}

export function pad(x: Tensor, padding: number[], o?: { mode?: 'constant' | 'reflect' | 'replicate' | 'circular'; value?: number }): Tensor {
  o = opts('pad', o, { mode: ['constant', 'reflect', 'replicate', 'circular'], value: 'number' });
  if (o.value !== undefined && o.mode && o.mode !== 'constant') throw new TypeError(`F.pad: value only applies to mode 'constant', got mode '${o.mode}'`);
  return torch.pad(x, padding, { mode: o.mode ?? 'constant', value: o.mode && o.mode !== 'constant' ? null : (o.value ?? 0) });
}

const NORM: Record<string, OptionKind> = { weight: 'tensor', bias: 'tensor', eps: 'number' };
export function layerNorm(x: Tensor, normalizedShape: IntOrList, o?: { weight?: Tensor | null; bias?: Tensor | null; eps?: number }): Tensor {
  o = opts('layerNorm', o, NORM);
  return torch.layerNorm(x, normalizedShape, o.weight ?? null, o.bias ?? null, o.eps ?? 1e-5);
}
export function groupNorm(x: Tensor, numGroups: number, o?: { weight?: Tensor | null; bias?: Tensor | null; eps?: number }): Tensor {
  o = opts('groupNorm', o, NORM);
  return torch.groupNorm(x, int('groupNorm', 'numGroups', numGroups), o.weight ?? null, o.bias ?? null, o.eps ?? 1e-5);
}
/** Updates runningMean/runningVar in place when training. */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null,
  o?: { weight?: Tensor | null; bias?: Tensor | null; training?: boolean; momentum?: number; eps?: number }): Tensor {
  o = opts('batchNorm', o, { ...NORM, training: 'boolean', momentum: 'number' });
  return torch.batchNorm(x, o.weight ?? null, o.bias ?? null, runningMean, runningVar, o.training ?? false, o.momentum ?? 0.1, o.eps ?? 1e-5, false);
}

export interface DropoutOptions { p?: number; training?: boolean; generator?: Generator }
/**
 * Dropout, `F.dropout(x, p, training)` as in PyTorch or `F.dropout(x, { p, training, generator })`;
 * with a `generator` the mask is drawn from it (reproducible), else from the default generator.
 */
export function dropout(x: Tensor, pOrOptions?: number | DropoutOptions, training?: boolean): Tensor {
  let o: DropoutOptions;
  if (typeof pOrOptions === 'number') {
    if (training !== undefined && typeof training !== 'boolean') throw new TypeError(`F.dropout: training must be a boolean, got ${show(training)}`);
    o = { p: pOrOptions, training };
  } else {
    if (training !== undefined) throw new TypeError('F.dropout: give training inside the options object, or p as a number before it');
    o = opts('dropout', pOrOptions, { p: 'number', training: 'boolean', generator: 'generator' });
  }
  const p = checkRange('F.dropout', 'p (the probability of an element to be zeroed)', o.p ?? 0.5, 0, 1);
  const train = o.training ?? true;
  if (!o.generator) return torch.dropout(x, p, train);
  if (!train || p === 0) return x.alias();
  // drawn on the generator's device and moved: a CPU generator gives the same mask on any device
  const gd = o.generator.device;
  const drawn = (gd === x.device ? torch.emptyLike(x) : torch.empty(x.shape, { dtype: x.dtype, device: gd })).bernoulli_(1 - p, { generator: o.generator });
  const mask = gd === x.device ? drawn : drawn.to({ device: x.device });
  if (mask !== drawn) drawn.dispose();
  try {
    return x.mul(mask.div_(1 - p)); // one new tensor: the scaled mask is the multiplier
  } finally {
    mask.dispose();
  }
}

/**
 * `F.embedding(indices, weight, paddingIdx)` or `(indices, weight, { paddingIdx })`: the padding
 * row gets no gradient; a negative paddingIdx counts from the end, as in PyTorch; null is none.
 */
export function embedding(indices: Tensor, weight: Tensor, o?: number | null | { paddingIdx?: number | null }): Tensor {
  const po = typeof o === 'number' || o === null ? { paddingIdx: o } : opts('embedding', o, { paddingIdx: 'any' });
  let pad = po.paddingIdx ?? null;
  if (pad !== null) {
    const n = weight.size(0);
    if (!Number.isInteger(pad) || pad < -n || pad >= n) throw new RangeError(`F.embedding: paddingIdx must be an integer in [${-n}, ${n - 1}] (the weight has ${n} rows), got ${show(pad)}`);
    if (pad < 0) pad += n;
  }
  return torch.embedding(weight, indices, pad ?? -1);
}

export const softmax = (x: Tensor, dim: number): Tensor => x.softmax(int('softmax', 'dim', dim));
export const logSoftmax = (x: Tensor, dim: number): Tensor => x.logSoftmax(int('logSoftmax', 'dim', dim));

export interface CrossEntropyOptions { weight?: Tensor | null; ignoreIndex?: number; reduction?: Reduction; labelSmoothing?: number }
/** Class indices (int64 target) or class probabilities (float target of the input's shape), with label smoothing. */
export function crossEntropy(input: Tensor, target: Tensor, o?: CrossEntropyOptions): Tensor {
  o = opts('crossEntropy', o, { weight: 'tensor', ignoreIndex: 'int', reduction: REDUCTIONS, labelSmoothing: 'number' });
  const ls = checkRange('F.crossEntropy', 'labelSmoothing', o.labelSmoothing ?? 0, 0, 1);
  return torch.crossEntropyLoss(input, target, o.weight ?? null, reduction(o.reduction), o.ignoreIndex ?? -100, ls);
}
export function nllLoss(input: Tensor, target: Tensor, o?: { weight?: Tensor | null; ignoreIndex?: number; reduction?: Reduction }): Tensor {
  o = opts('nllLoss', o, { weight: 'tensor', ignoreIndex: 'int', reduction: REDUCTIONS });
  return torch.nllLossNd(input, target, o.weight ?? null, reduction(o.reduction), o.ignoreIndex ?? -100);
}
export function mseLoss(input: Tensor, target: Tensor, o?: { reduction?: Reduction }): Tensor {
  return torch.mseLoss(input, target, reduction(opts('mseLoss', o, { reduction: REDUCTIONS }).reduction));
}
export function l1Loss(input: Tensor, target: Tensor, o?: { reduction?: Reduction }): Tensor {
  return torch.l1Loss(input, target, reduction(opts('l1Loss', o, { reduction: REDUCTIONS }).reduction));
}
export function binaryCrossEntropy(input: Tensor, target: Tensor, o?: { weight?: Tensor | null; reduction?: Reduction }): Tensor {
  o = opts('binaryCrossEntropy', o, { weight: 'tensor', reduction: REDUCTIONS });
  return torch.binaryCrossEntropy(input, target, o.weight ?? null, reduction(o.reduction));
}
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor,
  o?: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction }): Tensor {
  o = opts('binaryCrossEntropyWithLogits', o, { weight: 'tensor', posWeight: 'tensor', reduction: REDUCTIONS });
  return torch.binaryCrossEntropyWithLogits(input, target, o.weight ?? null, o.posWeight ?? null, reduction(o.reduction));
}

export const relu = (x: Tensor): Tensor => x.relu();
/** `F.leakyRelu(x, 0.2)` or `F.leakyRelu(x, { negativeSlope: 0.2 })`. */
export function leakyRelu(x: Tensor, o: number | { negativeSlope?: number } = 0.01): Tensor {
  const slope = typeof o === 'number' ? o : opts('leakyRelu', o, { negativeSlope: 'number' }).negativeSlope ?? 0.01;
  return torch.leakyRelu(x, slope);
}
/** `F.gelu(x, 'tanh')` or `F.gelu(x, { approximate: 'tanh' })`. */
export function gelu(x: Tensor, o: 'none' | 'tanh' | { approximate?: 'none' | 'tanh' } = {}): Tensor {
  const approximate = (typeof o === 'string' ? opts('gelu', { approximate: o }, { approximate: ['none', 'tanh'] }) : opts('gelu', o, { approximate: ['none', 'tanh'] })).approximate;
  return torch.gelu(x, { approximate: approximate ?? 'none' });
}
export const silu = (x: Tensor): Tensor => torch.silu(x);
/** `F.elu(x, 0.5)` or `F.elu(x, { alpha: 0.5 })`. */
export function elu(x: Tensor, o: number | { alpha?: number } = 1): Tensor {
  return torch.elu(x, typeof o === 'number' ? o : opts('elu', o, { alpha: 'number' }).alpha ?? 1);
}
/** `F.softplus(x, beta, threshold)` or `F.softplus(x, { beta, threshold })`. */
export function softplus(x: Tensor, o: number | { beta?: number; threshold?: number } = {}, threshold?: number): Tensor {
  const so = typeof o === 'number' ? { beta: o, threshold: threshold === undefined ? undefined : num('softplus', 'threshold', threshold) }
    : opts('softplus', o, { beta: 'number', threshold: 'number' });
  return torch.softplus(x, so.beta ?? 1, so.threshold ?? 20);
}
export const tanh = (x: Tensor): Tensor => x.tanh();
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();
