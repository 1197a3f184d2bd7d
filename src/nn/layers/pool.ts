// Spatial pooling over (N, C, H, W). Overlapping 3x3 stride-2 max-pooling ("3x3s2") is
// `new MaxPool2d(3, { stride: 2 })` (Dieleman et al. 2015, plankton).
import { F, Tensor } from '../../tensor';
import { Module } from '../module';
import { tuple } from './util';
import { pool2d } from '../../conv/pool';

export interface PoolOptions {
  /** Defaults to the kernel size (non-overlapping windows). */
  stride?: number | [number, number];
  padding?: number | [number, number];
  ceilMode?: boolean;
}

export class MaxPool2d extends Module {
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[];
  readonly dilation: number[];
  readonly ceilMode: boolean;

  constructor(kernelSize: number | [number, number], o: PoolOptions & { dilation?: number | [number, number] } = {}) {
    super();
    this.kernelSize = tuple(kernelSize, 2, 'MaxPool2d: kernelSize');
    this.stride = tuple(o.stride ?? this.kernelSize, 2, 'MaxPool2d: stride');
    this.padding = tuple(o.padding ?? 0, 2, 'MaxPool2d: padding');
    this.dilation = tuple(o.dilation ?? 1, 2, 'MaxPool2d: dilation');
    this.ceilMode = o.ceilMode ?? false;
  }

  forward(x: Tensor): Tensor {
    return pool2d(x, { kind: 'max', kernel: this.kernelSize, stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode, countIncludePad: true });
  }
}

export class AvgPool2d extends Module {
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[];
  readonly ceilMode: boolean;
  /** Whether zero padding counts in the average's denominator (PyTorch's default: yes). */
  readonly countIncludePad: boolean;

  constructor(kernelSize: number | [number, number], o: PoolOptions & { countIncludePad?: boolean } = {}) {
    super();
    this.kernelSize = tuple(kernelSize, 2, 'AvgPool2d: kernelSize');
    this.stride = tuple(o.stride ?? this.kernelSize, 2, 'AvgPool2d: stride');
    this.padding = tuple(o.padding ?? 0, 2, 'AvgPool2d: padding');
    this.ceilMode = o.ceilMode ?? false;
    this.countIncludePad = o.countIncludePad ?? true;
  }

  forward(x: Tensor): Tensor {
    return pool2d(x, { kind: 'avg', kernel: this.kernelSize, stride: this.stride, padding: this.padding, dilation: [1, 1], ceilMode: this.ceilMode, countIncludePad: this.countIncludePad });
  }
}

/** Average pooling to a fixed output size (1 gives global average pooling). */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: number[];

  constructor(outputSize: number | [number, number]) {
    super();
    this.outputSize = tuple(outputSize, 2, 'AdaptiveAvgPool2d: outputSize');
  }

  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
}
