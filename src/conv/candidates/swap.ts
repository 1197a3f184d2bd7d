// The "swapping trick" (Schlüter, in Dieleman 2014, "Theano metaopt"): every one of a layer's three
// convolutions can be computed by the kernel meant for another one, and sometimes the "wrong"
// kernel is faster. With stride s, dilation d, padding p and xp = x zero-padded by p:
//   y[n,o,i]   = sum_c,j xp[n,c,s*i+d*j] w[o,c,j]              (forward)
//   dW[o,c,j]  = sum_n,i xp[n,c,s*i+d*j] gy[n,o,i]             (weight gradient)
// The two sums are the same with (n <-> c, i <-> j, s <-> d) exchanged, so
//   forward    = weight-gradient kernel on (x^T, gy := w^T) with stride d, dilation s, then ^T
//   weight grad = forward kernel on (x^T, w := gy^T) with stride d, dilation s, then ^T
// where ^T swaps the first two axes; and the input gradient, a full convolution, is the forward
// kernel on gy (dilated by s, zero-padded by d(k-1)-p) with the flipped, transposed kernel.
import { Tensor, functions as torch } from '../../tensor';
import { ConvCandidate, placeholder } from '../candidate';
import { ConvProblem } from '../problem';

/** xp: x zero-padded by p and cropped to the extent the output reads, s(Ho-1) + d(k-1) + 1. */
function paddedInput(x: Tensor, p: ConvProblem): Tensor {
  const k = p.weightShape.slice(2);
  const out = p.outputShape.slice(2);
  const h = p.inputShape.slice(2);
  const pads: number[] = [];
  for (let i = p.dims - 1; i >= 0; i--) {
    const need = p.stride[i] * (out[i] - 1) + p.dilation[i] * (k[i] - 1) + 1;
    pads.push(p.padding[i], need - h[i] - p.padding[i]); // right side may be negative: a crop
  }
  return pads.every((v) => v === 0) ? x : torch.constantPadNd(x, pads);
}

function groupsOne(p: ConvProblem): string | null {
  if (p.groups !== 1) return `the swapped kernels mix batch and channels, so groups must be 1 (this one has ${p.groups})`;
  return null;
}

export const swap: ConvCandidate = {
  name: 'swap',
  description: "the swapping trick: forward by the weight-gradient kernel, weight gradient by the forward kernel, input gradient by the forward kernel on a zero-padded gradient",
  applicable(op, p) {
    if (op !== 'gradInput') return groupsOne(p);
    return null;
  },
  forward(x, w, p) {
    const xt = paddedInput(x, p).transpose(0, 1); // (C, N, ...)
    const wt = w.transpose(0, 1); // (C, O, ...k): plays the output gradient
    const [n, o] = [p.inputShape[0], p.weightShape[0]];
    const shape = [o, n, ...p.outputShape.slice(2)]; // the "weight" whose gradient is y^T
    const zeros = new Array<number>(p.dims).fill(0);
    const [, gw] = torch.convolutionBackward(wt, xt, placeholder(shape, x), null, p.dilation, zeros, p.stride, false, zeros, 1, [false, true, false]);
    return gw.transpose(0, 1).contiguous();
  },
  gradWeight(gy, x, p) {
    const xt = paddedInput(x, p).transpose(0, 1); // (C, N, ...)
    const gt = gy.transpose(0, 1); // (O, N, ...out): plays the kernel
    const zeros = new Array<number>(p.dims).fill(0);
    const r = torch.convolution(xt, gt, null, p.dilation, zeros, p.stride, false, zeros, 1); // (C, O, ...k)
    return r.transpose(0, 1).contiguous();
  },
  gradInput(gy, w, p) {
    // dx[h] = sum_j gz[h + p - d*j] w[j] with gz = gy dilated by s: a valid correlation of gz,
    // left-padded by d(k-1) - p, with the flipped kernel at dilation d.
    const [n, o] = [p.outputShape[0], p.outputShape[1]];
    const g = p.groups;
    const c = p.inputShape[1];
    const k = p.weightShape.slice(2);
    const out = p.outputShape.slice(2);
    const h = p.inputShape.slice(2);
    let gz = gy;
    const s = p.stride;
    if (s.some((v) => v !== 1)) {
      // interleave s-1 zeros after every element: (N, O, Ho, 1, Wo, 1) padded to (N, O, Ho, sh, Wo, sw)
      const split = [n, o, ...out.flatMap((v) => [v, 1])];
      const pads = out.flatMap((_, i) => [0, s[out.length - 1 - i] - 1, 0, 0]);
      gz = torch.constantPadNd(gy.reshape(split), pads).reshape([n, o, ...out.map((v, i) => v * s[i])]);
    }
    const pads: number[] = [];
    for (let i = p.dims - 1; i >= 0; i--) {
      const left = p.dilation[i] * (k[i] - 1) - p.padding[i];
      const len = gz.shape[2 + i];
      const right = h[i] + p.dilation[i] * (k[i] - 1) - left - len; // so that the valid correlation has length H
      pads.push(left, right);
    }
    const gp = torch.constantPadNd(gz, pads);
    const spatial = Array.from({ length: p.dims }, (_, i) => i + 2);
    // (O, C/G, k) -> (G, O/G, C/G, k) -> (G, C/G, O/G, k) -> (C, O/G, k), flipped
    const wf = w.reshape([g, o / g, c / g, ...k]).transpose(1, 2).reshape([c, o / g, ...k]).flip(spatial);
    const ones = new Array<number>(p.dims).fill(1);
    const zeros = new Array<number>(p.dims).fill(0);
    return torch.convolution(gp, wf, null, ones, zeros, p.dilation, false, zeros, g);
  },
};
