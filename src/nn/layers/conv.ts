// Convolution layers. Every one of them computes through `conv()` from src/conv, the single
// function the convolution autotuner can re-route (Dieleman 2014, "Theano metaopt").
import { F, Tensor, scope } from '../../tensor';
import { ConvArgs, conv } from '../../conv/conv';
import { Module } from '../module';
import { ParamLike, ParamSpec, value } from '../param';
import { glorotUniform, zeros } from '../init';
import { BIAS, InitOptions, WEIGHT, param, positiveInt, required, tuple } from './util';

export interface ConvOptions extends InitOptions {
  stride?: number | number[];
  dilation?: number | number[];
  groups?: number;
  /** [out, in / groups, ...kernel]. Default Glorot uniform. */
  W?: ParamSpec;
  /** [out]; null for none. Default zeros. */
  b?: ParamSpec;
}

/** Conv1d padding: explicit, 'same' (output length = input length at stride 1), 'valid', or 'causal'. */
export type Conv1dPadding = number | [number] | 'same' | 'valid' | 'causal';
export type Conv2dPadding = number | [number, number] | 'same' | 'valid';

abstract class ConvNd extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly dilation: number[];
  readonly groups: number;
  W: ParamLike;
  b: ParamLike | null;

  constructor(readonly dims: 1 | 2, kind: string, inChannels: number, outChannels: number, kernelSize: number | number[], o: ConvOptions) {
    super();
    this.inChannels = positiveInt(inChannels, `${kind}: inChannels`);
    this.outChannels = positiveInt(outChannels, `${kind}: outChannels`);
    this.kernelSize = tuple(kernelSize, dims, `${kind}: kernelSize`);
    this.stride = tuple(o.stride ?? 1, dims, `${kind}: stride`);
    this.dilation = tuple(o.dilation ?? 1, dims, `${kind}: dilation`);
    this.groups = positiveInt(o.groups ?? 1, `${kind}: groups`);
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new TypeError(`${kind}: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${this.groups})`);
    }
    this.W = required(o.W, glorotUniform(), [outChannels, inChannels / this.groups, ...this.kernelSize], `${kind}.W`, WEIGHT, o);
    this.b = param(o.b, zeros, [outChannels], `${kind}.b`, BIAS, o);
  }

  protected args(padding: number[] | 'same' | 'valid'): ConvArgs {
    const zero = new Array<number>(this.dims).fill(0);
    return { dims: this.dims, stride: this.stride, padding, dilation: this.dilation, groups: this.groups, transposed: false, outputPadding: zero };
  }
}

/** 1-d convolution over (N, C, L); 'causal' padding left-pads by (k-1)·dilation, so y[t] sees x[..t] only (WaveNet). */
export class Conv1d extends ConvNd {
  readonly padding: [number] | 'same' | 'valid' | 'causal';

  constructor(inChannels: number, outChannels: number, kernelSize: number | [number], o: ConvOptions & { padding?: Conv1dPadding } = {}) {
    super(1, 'Conv1d', inChannels, outChannels, kernelSize, o);
    const p = o.padding ?? 0;
    this.padding = typeof p === 'string' ? checkMode(p, ['same', 'valid', 'causal'] as const, 'Conv1d') : (tuple(p, 1, 'Conv1d: padding') as [number]);
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      if (this.padding === 'causal') {
        const left = (this.kernelSize[0] - 1) * this.dilation[0];
        const padded = F.pad(x, [left, 0]); // (N, C, left + L)
        return conv(padded, value(this.W), value(this.b), this.args([0]));
      }
      return conv(x, value(this.W), value(this.b), this.args(this.padding));
    });
  }
}

/** 2-d convolution over (N, C, H, W). */
export class Conv2d extends ConvNd {
  readonly padding: number[] | 'same' | 'valid';

  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], o: ConvOptions & { padding?: Conv2dPadding } = {}) {
    super(2, 'Conv2d', inChannels, outChannels, kernelSize, o);
    const p = o.padding ?? 0;
    this.padding = typeof p === 'string' ? checkMode(p, ['same', 'valid'] as const, 'Conv2d') : tuple(p, 2, 'Conv2d: padding');
  }

  forward(x: Tensor): Tensor {
    return scope(() => conv(x, value(this.W), value(this.b), this.args(this.padding)));
  }
}

export interface ConvTransposeOptions extends ConvOptions {
  padding?: number | [number, number];
  outputPadding?: number | [number, number];
}

/** Transposed 2-d convolution ("deconvolution"); W is [in, out / groups, kh, kw] as in PyTorch. */
export class ConvTranspose2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[];
  readonly outputPadding: number[];
  readonly dilation: number[];
  readonly groups: number;
  W: ParamLike;
  b: ParamLike | null;

  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], o: ConvTransposeOptions = {}) {
    super();
    this.inChannels = positiveInt(inChannels, 'ConvTranspose2d: inChannels');
    this.outChannels = positiveInt(outChannels, 'ConvTranspose2d: outChannels');
    this.kernelSize = tuple(kernelSize, 2, 'ConvTranspose2d: kernelSize');
    this.stride = tuple(o.stride ?? 1, 2, 'ConvTranspose2d: stride');
    this.padding = tuple(o.padding ?? 0, 2, 'ConvTranspose2d: padding');
    this.outputPadding = tuple(o.outputPadding ?? 0, 2, 'ConvTranspose2d: outputPadding');
    this.dilation = tuple(o.dilation ?? 1, 2, 'ConvTranspose2d: dilation');
    this.groups = positiveInt(o.groups ?? 1, 'ConvTranspose2d: groups');
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new TypeError(`ConvTranspose2d: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${this.groups})`);
    }
    this.W = required(o.W, glorotUniform(), [inChannels, outChannels / this.groups, ...this.kernelSize], 'ConvTranspose2d.W', WEIGHT, o);
    this.b = param(o.b, zeros, [outChannels], 'ConvTranspose2d.b', BIAS, o);
  }

  forward(x: Tensor): Tensor {
    return scope(() => conv(x, value(this.W), value(this.b), {
      dims: 2, stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups,
      transposed: true, outputPadding: this.outputPadding,
    }));
  }
}

function checkMode<T extends string>(p: string, modes: readonly T[], kind: string): T {
  if (!modes.includes(p as T)) throw new TypeError(`${kind}: padding must be a number, a list or one of ${modes.map((m) => `'${m}'`).join(', ')}; got '${p}'`);
  return p as T;
}
