// Normalisation layers: LayerNorm (Ba et al. 2016), GroupNorm (Wu & He 2018), BatchNorm
// (Ioffe & Szegedy 2015). The learnable scale and shift are `gamma` and `beta` (Lasagne's names),
// tagged trainable but not regularizable: weight decay should not pull a gain towards zero.
import { F, Tensor, functions as torch, scope } from '../../tensor';
import { Module } from '../module';
import { ParamLike, ParamSpec, value } from '../param';
import { ones, zeros } from '../init';
import { BIAS, InitOptions, buffer, param, positiveInt } from './util';

export interface NormOptions extends InitOptions {
  eps?: number;
  /** false: no gamma and beta (default true). */
  affine?: boolean;
  /** Scale; default ones. null for none. */
  gamma?: ParamSpec;
  /** Shift; default zeros. null for none. */
  beta?: ParamSpec;
}

function affine(o: NormOptions, shape: number[], kind: string): [ParamLike | null, ParamLike | null] {
  const on = o.affine ?? true;
  return [
    on ? param(o.gamma, ones, shape, `${kind}.gamma`, BIAS, o) : null,
    on ? param(o.beta, zeros, shape, `${kind}.beta`, BIAS, o) : null,
  ];
}

/** Normalises over the trailing `normalizedShape` dimensions of each sample. */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  gamma: ParamLike | null;
  beta: ParamLike | null;

  constructor(normalizedShape: number | number[], o: NormOptions = {}) {
    super();
    this.normalizedShape = (Array.isArray(normalizedShape) ? normalizedShape : [normalizedShape]).map((d) => positiveInt(d, 'LayerNorm: normalizedShape'));
    this.eps = o.eps ?? 1e-5;
    [this.gamma, this.beta] = affine(o, this.normalizedShape, 'LayerNorm');
  }

  forward(x: Tensor): Tensor {
    return scope(() => F.layerNorm(x, this.normalizedShape, { weight: value(this.gamma), bias: value(this.beta), eps: this.eps }));
  }
}

/** The number of GroupNorm groups for `channels`: the largest divisor of it not above `maxGroups` (32 in ADM-style nets). */
export function groupsFor(channels: number, maxGroups: number): number {
  for (let g = Math.min(maxGroups, channels); g > 1; g--) if (channels % g === 0) return g;
  return 1;
}

/** Normalises each of `numGroups` groups of channels of (N, C, ...) over the group's channels and positions. */
export class GroupNorm extends Module {
  readonly numGroups: number;
  readonly numChannels: number;
  readonly eps: number;
  gamma: ParamLike | null;
  beta: ParamLike | null;

  constructor(numGroups: number, numChannels: number, o: NormOptions = {}) {
    super();
    this.numGroups = positiveInt(numGroups, 'GroupNorm: numGroups');
    this.numChannels = positiveInt(numChannels, 'GroupNorm: numChannels');
    if (numChannels % numGroups) throw new TypeError(`GroupNorm: numChannels (${numChannels}) must be divisible by numGroups (${numGroups})`);
    this.eps = o.eps ?? 1e-5;
    [this.gamma, this.beta] = affine(o, [numChannels], 'GroupNorm');
  }

  forward(x: Tensor): Tensor {
    return scope(() => F.groupNorm(x, this.numGroups, { weight: value(this.gamma), bias: value(this.beta), eps: this.eps }));
  }
}

export interface BatchNormOptions extends NormOptions {
  /** Weight of the new batch in the running averages (PyTorch's convention), default 0.1. */
  momentum?: number;
  /** Keep running mean/variance for eval mode (default true); false normalises with batch statistics always. */
  trackRunningStats?: boolean;
}

/**
 * Batch normalisation over (N, C, ...): in train mode with the batch's statistics, updating the
 * running mean and the running unbiased variance; in eval mode with the running ones. The running
 * statistics are plain tensor fields, so they are part of the state dict but not of params().
 */
abstract class BatchNormNd extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  gamma: ParamLike | null;
  beta: ParamLike | null;
  runningMean: Tensor | null;
  runningVar: Tensor | null;

  constructor(private readonly kind: string, private readonly ndims: number[], numFeatures: number, o: BatchNormOptions) {
    super();
    this.numFeatures = positiveInt(numFeatures, `${kind}: numFeatures`);
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum ?? 0.1;
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new RangeError(`${kind}: momentum must be in [0, 1], got ${this.momentum}`);
    [this.gamma, this.beta] = affine(o, [numFeatures], kind);
    const track = o.trackRunningStats ?? true;
    const dtype = o.dtype ?? 'float32';
    this.runningMean = track ? buffer(() => torch.zeros([numFeatures], { dtype })) : null;
    this.runningVar = track ? buffer(() => torch.ones([numFeatures], { dtype })) : null;
  }

  forward(x: Tensor): Tensor {
    if (!this.ndims.includes(x.ndim)) {
      throw new TypeError(`${this.kind}: expected a ${this.ndims.join('-d or ')}-d input, got shape [${x.shape.join(', ')}]`);
    }
    const batchStats = this.training || this.runningMean === null;
    return scope(() => F.batchNorm(x, this.runningMean, this.runningVar, {
      weight: value(this.gamma), bias: value(this.beta), training: batchStats, momentum: this.momentum, eps: this.eps,
    }));
  }
}

/** Over (N, C) or (N, C, L). */
export class BatchNorm1d extends BatchNormNd {
  constructor(numFeatures: number, o: BatchNormOptions = {}) {
    super('BatchNorm1d', [2, 3], numFeatures, o);
  }
}

/** Over (N, C, H, W). */
export class BatchNorm2d extends BatchNormNd {
  constructor(numFeatures: number, o: BatchNormOptions = {}) {
    super('BatchNorm2d', [4], numFeatures, o);
  }
}
