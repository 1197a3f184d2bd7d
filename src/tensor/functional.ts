// torch.nn.functional: the names and keyword arguments of PyTorch's Python layer, over the
// generated ATen bindings. Only what ATen's own signatures do not already match lives here.
import type { Generator } from './tensor';
import { Tensor, functions as torch } from './tensor';

type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };
function reduction(r: Reduction | undefined): number {
  if (r === undefined) return 1;
  if (!(r in REDUCTION)) throw new TypeError(`reduction: expected "none", "mean" or "sum", got ${String(r)}`);
  return REDUCTION[r];
}
type IntOrList = number | number[];

export const linear = (input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor => torch.linear(input, weight, bias);
export const bilinear = (a: Tensor, b: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor => torch.bilinear(a, b, weight, bias);

export interface ConvOptions { bias?: Tensor | null; stride?: IntOrList; padding?: IntOrList | 'same' | 'valid'; dilation?: IntOrList; groups?: number }
const convOpts = (o: ConvOptions) => ({ bias: o.bias ?? null, stride: o.stride ?? 1, padding: o.padding ?? 0, dilation: o.dilation ?? 1, groups: o.groups ?? 1 });
export const conv1d = (x: Tensor, w: Tensor, o: ConvOptions = {}): Tensor => torch.conv1d(x, w, convOpts(o) as never);
export const conv2d = (x: Tensor, w: Tensor, o: ConvOptions = {}): Tensor => torch.conv2d(x, w, convOpts(o) as never);
export const conv3d = (x: Tensor, w: Tensor, o: ConvOptions = {}): Tensor => torch.conv3d(x, w, convOpts(o) as never);

export interface ConvTransposeOptions { bias?: Tensor | null; stride?: IntOrList; padding?: IntOrList; outputPadding?: IntOrList; groups?: number; dilation?: IntOrList }
const ctOpts = (o: ConvTransposeOptions) => ({ bias: o.bias ?? null, stride: o.stride ?? 1, padding: o.padding ?? 0, outputPadding: o.outputPadding ?? 0, groups: o.groups ?? 1, dilation: o.dilation ?? 1 });
export const convTranspose1d = (x: Tensor, w: Tensor, o: ConvTransposeOptions = {}): Tensor => torch.convTranspose1d(x, w, ctOpts(o));
export const convTranspose2d = (x: Tensor, w: Tensor, o: ConvTransposeOptions = {}): Tensor => torch.convTranspose2d(x, w, ctOpts(o));
export const convTranspose3d = (x: Tensor, w: Tensor, o: ConvTransposeOptions = {}): Tensor => torch.convTranspose3d(x, w, ctOpts(o));

export interface PoolOptions { stride?: IntOrList | null; padding?: IntOrList; dilation?: IntOrList; ceilMode?: boolean }
// stride defaults to the kernel size, as in PyTorch (ATen takes [] for that)
const poolOpts = (o: PoolOptions) => ({ stride: o.stride ?? [], padding: o.padding ?? 0, dilation: o.dilation ?? 1, ceilMode: o.ceilMode ?? false });
export const maxPool1d = (x: Tensor, kernelSize: IntOrList, o: PoolOptions = {}): Tensor => torch.maxPool1d(x, kernelSize, poolOpts(o));
export const maxPool2d = (x: Tensor, kernelSize: IntOrList, o: PoolOptions = {}): Tensor => torch.maxPool2d(x, kernelSize, poolOpts(o));
export const maxPool3d = (x: Tensor, kernelSize: IntOrList, o: PoolOptions = {}): Tensor => torch.maxPool3d(x, kernelSize, poolOpts(o));
export interface AvgPoolOptions { stride?: IntOrList | null; padding?: IntOrList; ceilMode?: boolean; countIncludePad?: boolean }
const avgOpts = (o: AvgPoolOptions) => ({ stride: o.stride ?? [], padding: o.padding ?? 0, ceilMode: o.ceilMode ?? false, countIncludePad: o.countIncludePad ?? true });
export const avgPool1d = (x: Tensor, kernelSize: IntOrList, o: AvgPoolOptions = {}): Tensor => torch.avgPool1d(x, kernelSize, avgOpts(o));
export const avgPool2d = (x: Tensor, kernelSize: IntOrList, o: AvgPoolOptions = {}): Tensor => torch.avgPool2d(x, kernelSize, avgOpts(o));
export const avgPool3d = (x: Tensor, kernelSize: IntOrList, o: AvgPoolOptions = {}): Tensor => torch.avgPool3d(x, kernelSize, avgOpts(o));
export const adaptiveAvgPool1d = (x: Tensor, size: IntOrList): Tensor => torch.adaptiveAvgPool1d(x, size);
export const adaptiveAvgPool2d = (x: Tensor, size: IntOrList): Tensor => torch.adaptiveAvgPool2d(x, size);
export const adaptiveAvgPool3d = (x: Tensor, size: IntOrList): Tensor => torch.adaptiveAvgPool3d(x, size);
export const adaptiveMaxPool2d = (x: Tensor, size: IntOrList): Tensor => torch.adaptiveMaxPool2d(x, size)[0];

export interface InterpolateOptions {
  size?: IntOrList;
  scaleFactor?: number | number[];
  mode?: 'nearest' | 'linear' | 'bilinear' | 'bicubic' | 'trilinear' | 'nearest-exact';
  alignCorners?: boolean;
}
/** `F.interpolate` for 3-d (N,C,L), 4-d (N,C,H,W) and 5-d inputs. */
export function interpolate(x: Tensor, o: InterpolateOptions): Tensor {
  const spatial = x.ndim - 2;
  const mode = o.mode ?? 'nearest';
  if ((o.size === undefined) === (o.scaleFactor === undefined)) throw new TypeError('interpolate: give exactly one of size and scaleFactor');
  const rep = (v: number | number[]) => (Array.isArray(v) ? v : new Array(spatial).fill(v));
  const size = o.size === undefined ? null : rep(o.size);
  const scales = o.scaleFactor === undefined ? null : rep(o.scaleFactor);
  if (mode !== 'nearest' && mode !== 'nearest-exact' && o.alignCorners === undefined) o = { ...o, alignCorners: false };
  if ((mode === 'nearest' || mode === 'nearest-exact') && o.alignCorners !== undefined) throw new TypeError('interpolate: alignCorners only applies to linear modes');
  const t = torch as unknown as Record<string, (...a: unknown[]) => Tensor>;
  const exact = mode === 'nearest-exact' ? 'upsampleNearestExact' : 'upsampleNearest';
  const byMode: Record<string, [number, string]> = {
    nearest: [spatial, `${exact}${spatial}d`], 'nearest-exact': [spatial, `${exact}${spatial}d`],
    linear: [1, 'upsampleLinear1d'], bilinear: [2, 'upsampleBilinear2d'], bicubic: [2, 'upsampleBicubic2d'], trilinear: [3, 'upsampleTrilinear3d'],
  };
  const [dims, fn] = byMode[mode] ?? [];
  if (!fn || dims !== spatial || !t[fn]) throw new TypeError(`interpolate: mode "${mode}" does not apply to a ${x.ndim}-d input`);
  return mode.startsWith('nearest') ? t[fn](x, size, scales) : t[fn](x, size, o.alignCorners, scales);
}

export const pad = (x: Tensor, padding: number[], o: { mode?: 'constant' | 'reflect' | 'replicate' | 'circular'; value?: number } = {}): Tensor =>
  torch.pad(x, padding, { mode: o.mode ?? 'constant', value: o.mode && o.mode !== 'constant' ? null : (o.value ?? 0) });

export const layerNorm = (x: Tensor, normalizedShape: IntOrList, o: { weight?: Tensor | null; bias?: Tensor | null; eps?: number } = {}): Tensor =>
  torch.layerNorm(x, normalizedShape, o.weight ?? null, o.bias ?? null, o.eps ?? 1e-5);
export const groupNorm = (x: Tensor, numGroups: number, o: { weight?: Tensor | null; bias?: Tensor | null; eps?: number } = {}): Tensor =>
  torch.groupNorm(x, numGroups, o.weight ?? null, o.bias ?? null, o.eps ?? 1e-5);
/** Updates runningMean/runningVar in place when training. */
export const batchNorm = (x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null,
  o: { weight?: Tensor | null; bias?: Tensor | null; training?: boolean; momentum?: number; eps?: number } = {}): Tensor =>
  torch.batchNorm(x, o.weight ?? null, o.bias ?? null, runningMean, runningVar, o.training ?? false, o.momentum ?? 0.1, o.eps ?? 1e-5, false);

/** Dropout; with a `generator` the mask is drawn from it (reproducible), else from the default generator. */
export function dropout(x: Tensor, o: { p?: number; training?: boolean; generator?: Generator } = {}): Tensor {
  const p = o.p ?? 0.5;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout: p must be in [0, 1], got ${p}`);
  const training = o.training ?? true;
  if (!o.generator) return torch.dropout(x, p, training);
  if (!training || p === 0) return x.alias();
  const mask = torch.emptyLike(x).bernoulli_(1 - p, { generator: o.generator });
  try {
    return x.mul(mask.div_(1 - p)); // one new tensor: the scaled mask is the multiplier
  } finally {
    mask.dispose();
  }
}

export const embedding = (indices: Tensor, weight: Tensor, o: { paddingIdx?: number } = {}): Tensor =>
  torch.embedding(weight, indices, o.paddingIdx ?? -1);

export const softmax = (x: Tensor, dim: number): Tensor => x.softmax(dim);
export const logSoftmax = (x: Tensor, dim: number): Tensor => x.logSoftmax(dim);

export interface CrossEntropyOptions { weight?: Tensor | null; ignoreIndex?: number; reduction?: Reduction; labelSmoothing?: number }
/** Class indices (int64 target) or class probabilities (float target of the input's shape), with label smoothing. */
export const crossEntropy = (input: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor =>
  torch.crossEntropyLoss(input, target, o.weight ?? null, reduction(o.reduction), o.ignoreIndex ?? -100, o.labelSmoothing ?? 0);
export const nllLoss = (input: Tensor, target: Tensor, o: { weight?: Tensor | null; ignoreIndex?: number; reduction?: Reduction } = {}): Tensor =>
  torch.nllLossNd(input, target, o.weight ?? null, reduction(o.reduction), o.ignoreIndex ?? -100);
export const mseLoss = (input: Tensor, target: Tensor, o: { reduction?: Reduction } = {}): Tensor => torch.mseLoss(input, target, reduction(o.reduction));
export const l1Loss = (input: Tensor, target: Tensor, o: { reduction?: Reduction } = {}): Tensor => torch.l1Loss(input, target, reduction(o.reduction));
export const binaryCrossEntropy = (input: Tensor, target: Tensor, o: { weight?: Tensor | null; reduction?: Reduction } = {}): Tensor =>
  torch.binaryCrossEntropy(input, target, o.weight ?? null, reduction(o.reduction));
export const binaryCrossEntropyWithLogits = (input: Tensor, target: Tensor, o: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {}): Tensor =>
  torch.binaryCrossEntropyWithLogits(input, target, o.weight ?? null, o.posWeight ?? null, reduction(o.reduction));

export const relu = (x: Tensor): Tensor => x.relu();
export const leakyRelu = (x: Tensor, negativeSlope = 0.01): Tensor => torch.leakyRelu(x, negativeSlope);
export const gelu = (x: Tensor, o: { approximate?: 'none' | 'tanh' } = {}): Tensor => torch.gelu(x, { approximate: o.approximate ?? 'none' });
export const silu = (x: Tensor): Tensor => torch.silu(x);
export const elu = (x: Tensor, alpha = 1): Tensor => torch.elu(x, alpha);
export const softplus = (x: Tensor, o: { beta?: number; threshold?: number } = {}): Tensor => torch.softplus(x, o.beta ?? 1, o.threshold ?? 20);
export const tanh = (x: Tensor): Tensor => x.tanh();
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();
