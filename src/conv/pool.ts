// Pooling as the meta-optimizer's second family of operations (the post's last wish): the one
// pooling function the MaxPool2d and AvgPool2d layers call, swappable like conv(), and the
// implementations the meta-optimizer times for it. A pooling layer's training cost is its forward
// and its input gradient together, so a candidate is one differentiable computation, checked
// against libtorch's output and input gradient and timed forward + backward.
import { F, Tensor, computeLayout } from '../tensor';

export interface PoolArgs {
  kind: 'max' | 'avg';
  kernel: number[];
  stride: number[];
  padding: number[];
  /** max only */
  dilation: number[];
  ceilMode: boolean;
  /** avg only */
  countIncludePad: boolean;
}

export type PoolImplementation = (x: Tensor, a: PoolArgs) => Tensor;

/** libtorch's pooling (max_pool2d / avg_pool2d). */
export const atenPool: PoolImplementation = (x, a) => (a.kind === 'max'
  ? F.maxPool2d(x, a.kernel, { stride: a.stride, padding: a.padding, dilation: a.dilation, ceilMode: a.ceilMode })
  : F.avgPool2d(x, a.kernel, { stride: a.stride, padding: a.padding, ceilMode: a.ceilMode, countIncludePad: a.countIncludePad }));

let implementation: PoolImplementation = atenPool;

/** 2-d pooling as the layers compute it. */
export function pool2d(x: Tensor, a: PoolArgs): Tensor {
  return implementation(x, a);
}

/** Replaces the implementation behind `pool2d` (null restores libtorch's); returns the previous one. */
export function setPoolImplementation(f: PoolImplementation | null): PoolImplementation {
  const prev = implementation;
  implementation = f ?? atenPool;
  return prev;
}

/** One pooling as the meta-optimizer sees it. */
export interface PoolProblem extends PoolArgs {
  inputShape: number[];
  outputShape: number[];
  dtype: string;
  device: string;
  layout: 'contiguous' | 'channelsLast';
}

/** The problem of `pool2d(x, a)`, or null when it is left to libtorch (unbatched, or an output libtorch would reject). */
export function poolProblem(x: Tensor, a: PoolArgs): PoolProblem | null {
  if (x.ndim !== 4) return null;
  const [n, c, h, w] = x.shape;
  const out = [h, w].map((size, i) => {
    const eff = (a.kind === 'max' ? a.dilation[i] : 1) * (a.kernel[i] - 1) + 1;
    const span = size + 2 * a.padding[i] - eff;
    if (span < 0) return 0;
    let o = (a.ceilMode ? Math.ceil(span / a.stride[i]) : Math.floor(span / a.stride[i])) + 1;
    // libtorch's rule: the last window must start inside the input or its left padding
    if (a.ceilMode && (o - 1) * a.stride[i] >= size + a.padding[i]) o--;
    return o;
  });
  if (out.some((o) => o < 1) || a.padding.some((p, i) => 2 * p > a.kernel[i])) return null;
  return { ...a, inputShape: x.shape, outputShape: [n, c, ...out], dtype: x.dtype, device: x.device, layout: computeLayout(x) };
}

export function describePool(p: PoolProblem): string {
  const parts = [`${p.kind} pool x ${p.inputShape.join('x')} k ${p.kernel.join('x')} -> ${p.outputShape.join('x')}`];
  if (p.stride.some((s, i) => s !== p.kernel[i])) parts.push(`stride ${p.stride.join(',')}`);
  if (p.padding.some((s) => s !== 0)) parts.push(`pad ${p.padding.join(',')}`);
  if (p.kind === 'max' && p.dilation.some((s) => s !== 1)) parts.push(`dil ${p.dilation.join(',')}`);
  if (p.ceilMode) parts.push('ceil');
  if (p.kind === 'avg' && !p.countIncludePad) parts.push('exclude pad');
  if (p.layout === 'channelsLast') parts.push('NHWC');
  return parts.join(', ');
}

/** A pooling implementation: a differentiable function of x (autograd gives its input gradient). */
export interface PoolCandidate {
  name: string;
  description: string;
  applicable(p: PoolProblem): string | null;
  run(x: Tensor, p: PoolProblem): Tensor;
}

const nhwc = (t: Tensor) => t.contiguous({ memoryFormat: 'channelsLast' });

export const POOL_CANDIDATES: readonly PoolCandidate[] = [
  {
    name: 'libtorch',
    description: "libtorch's max_pool2d / avg_pool2d in the tensor's own layout",
    applicable: () => null,
    run: (x, p) => atenPool(x, p),
  },
  {
    name: 'channels-last',
    description: 'libtorch on an NHWC copy (vectorised over channels), converted back',
    applicable: (p) => (p.layout === 'channelsLast' ? 'the tensor is channels-last already' : p.inputShape[1] === 1 ? 'one channel: NHWC is NCHW' : null),
    run: (x, p) => atenPool(nhwc(x), p).contiguous(),
  },
  {
    name: 'nchw',
    description: 'libtorch on an NCHW copy, converted back to NHWC',
    applicable: (p) => (p.layout !== 'channelsLast' ? 'the tensor is not channels-last' : null),
    run: (x, p) => nhwc(atenPool(x.contiguous(), p)),
  },
  {
    name: 'reshape',
    description: 'non-overlapping windows as two tensor axes: a mean, or a max with its index (the first maximum, as libtorch)',
    applicable: (p) => {
      if (p.kernel.some((k, i) => k !== p.stride[i])) return 'windows overlap or leave gaps (stride differs from the kernel)';
      if (p.padding.some((v) => v !== 0)) return 'padded';
      if (p.kind === 'max' && p.dilation.some((d) => d !== 1)) return 'dilated';
      if (p.ceilMode && p.inputShape.slice(2).some((s, i) => s % p.kernel[i] !== 0)) return 'ceil mode with a partial last window';
      return null;
    },
    run: (x, p) => {
      const [n, c] = p.inputShape;
      const [ho, wo] = p.outputShape.slice(2);
      const [kh, kw] = p.kernel;
      let v = x;
      if (ho * kh !== x.shape[2]) v = v.narrow(2, 0, ho * kh);
      if (wo * kw !== x.shape[3]) v = v.narrow(3, 0, wo * kw);
      const windows = v.reshape([n, c, ho, kh, wo, kw]);
      const y = p.kind === 'avg'
        ? windows.mean([3, 5])
        : windows.permute([0, 1, 2, 4, 3, 5]).reshape([n, c, ho, wo, kh * kw]).max(-1)[0];
      return p.layout === 'channelsLast' ? nhwc(y) : y.contiguous();
    },
  },
];

/** The candidate named `name`, if any. */
export function findPoolCandidate(name: string): PoolCandidate | undefined {
  return POOL_CANDIDATES.find((c) => c.name === name);
}
