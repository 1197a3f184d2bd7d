// The one convolution function every layer calls. Its implementation is swappable so that the
// convolution meta-optimizer (Dieleman 2014, "Theano metaopt") can time algorithms and substitute
// the fastest without touching any layer.
import { F, Tensor } from '../tensor';

export interface ConvArgs {
  /** number of spatial dimensions: 1, 2 or 3 */
  dims: 1 | 2 | 3;
  stride: number[];
  /** explicit per-dimension padding, or 'same' / 'valid' */
  padding: number[] | 'same' | 'valid';
  dilation: number[];
  groups: number;
  transposed: boolean;
  outputPadding: number[];
}

export type ConvImplementation = (x: Tensor, weight: Tensor, bias: Tensor | null, args: ConvArgs) => Tensor;

/** libtorch's own convolution (its backend picks the kernel). */
export const atenConv: ConvImplementation = (x, w, bias, a) => {
  if (a.transposed) {
    if (typeof a.padding === 'string') throw new TypeError('conv: transposed convolutions take explicit padding');
    const o = { bias, stride: a.stride, padding: a.padding, outputPadding: a.outputPadding, groups: a.groups, dilation: a.dilation };
    return a.dims === 1 ? F.convTranspose1d(x, w, o) : a.dims === 2 ? F.convTranspose2d(x, w, o) : F.convTranspose3d(x, w, o);
  }
  const o = { bias, stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups };
  return a.dims === 1 ? F.conv1d(x, w, o) : a.dims === 2 ? F.conv2d(x, w, o) : F.conv3d(x, w, o);
};

// Decided at the first convolution: REFINERY_CONV_TUNE=1 (or =verbose, printing the post's table)
// installs the meta-optimizer (./metaopt, loaded only then) for programs that do not call
// enableConvMetaOptimizer() themselves, the CLI's training commands among them.
let implementation: ConvImplementation | null = null;

function initial(): ConvImplementation {
  const v = process.env.REFINERY_CONV_TUNE;
  implementation = atenConv;
  if (v && v !== '0' && v !== 'false') {
    if (v !== '1' && v !== 'true' && v !== 'verbose') throw new TypeError(`REFINERY_CONV_TUNE=${v}: expected 1, verbose or 0`);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    (require('./metaopt') as typeof import('./metaopt')).enableConvMetaOptimizer({ verbose: v === 'verbose' });
  }
  return implementation;
}

/** Convolution as every layer computes it. */
export function conv(x: Tensor, weight: Tensor, bias: Tensor | null, args: ConvArgs): Tensor {
  return (implementation ?? initial())(x, weight, bias, args);
}

/** Replaces the implementation behind `conv` (null restores libtorch's); returns the previous one. */
export function setConvImplementation(f: ConvImplementation | null): ConvImplementation {
  const prev = implementation ?? atenConv;
  implementation = f ?? atenConv;
  return prev;
}
