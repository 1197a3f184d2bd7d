// libtorch's own convolution: at::convolution and at::convolution_backward, which pick a backend
// (oneDNN, im2col + BLAS, depthwise kernels) by heuristic. The default every other candidate is
// timed and checked against.
import { Tensor, functions as torch } from '../../tensor';
import { ConvCandidate, placeholder } from '../candidate';
import { ConvProblem } from '../problem';

const backward = (gy: Tensor, x: Tensor, w: Tensor, p: ConvProblem, mask: [boolean, boolean, boolean]) =>
  torch.convolutionBackward(gy, x, w, null, p.stride, p.padding, p.dilation, p.transposed, p.outputPadding, p.groups, mask);

export const libtorch: ConvCandidate = {
  name: 'libtorch',
  description: "libtorch's default (its backend picks the kernel by heuristic)",
  handlesTransposed: true,
  applicable: () => null,
  forward: (x, w, p) => torch.convolution(x, w, null, p.stride, p.padding, p.dilation, p.transposed, p.outputPadding, p.groups),
  gradInput: (gy, w, p, x) => backward(gy, x ?? placeholder(p.inputShape, gy), w, p, [true, false, false])[0],
  gradWeight: (gy, x, p, w) => backward(gy, x, w ?? placeholder(p.weightShape, gy), p, [false, true, false])[1],
};

/**
 * The same kernels on channels-last (NHWC) tensors. In an NCHW network the conversions in and out
 * are part of its time (runOp converts the result back); in a channels-last one both are free.
 */
export const channelsLast: ConvCandidate = {
  name: 'channels-last',
  description: 'libtorch on NHWC tensors (conversions in and out included)',
  handlesTransposed: true,
  applicable: (_op, p) => (p.dims !== 2 ? `channels-last is a 4-d layout (this convolution is ${p.dims}-d)`
    : p.layout === 'channelsLast' ? 'the tensors are channels-last already (libtorch computes in NHWC itself)' : null),
  forward: (x, w, p) => libtorch.forward!(nhwc(x), nhwc(w), p),
  gradInput: (gy, w, p, x) => backward(nhwc(gy), nhwc(x ?? placeholder(p.inputShape, gy)), nhwc(w), p, [true, false, false])[0],
  gradWeight: (gy, x, p, w) => backward(nhwc(gy), nhwc(x), nhwc(w ?? placeholder(p.weightShape, gy)), p, [false, true, false])[1],
};

/**
 * libtorch on NCHW tensors: in a channels-last network, the conversions to NCHW and back are part of
 * its time (in an NCHW network it is libtorch's own candidate, and does not apply).
 */
export const channelsFirst: ConvCandidate = {
  name: 'nchw',
  description: 'libtorch on NCHW tensors in a channels-last network (conversions in and out included)',
  handlesTransposed: true,
  applicable: (_op, p) => (p.dims !== 2 ? `NCHW against NHWC is a 4-d choice (this convolution is ${p.dims}-d)`
    : p.layout !== 'channelsLast' ? 'the tensors are not channels-last (libtorch computes in NCHW itself)' : null),
  forward: (x, w, p) => libtorch.forward!(nchw(x), nchw(w), p),
  gradInput: (gy, w, p, x) => backward(nchw(gy), nchw(x ?? placeholder(p.inputShape, gy)), nchw(w), p, [true, false, false])[0],
  gradWeight: (gy, x, p, w) => backward(nchw(gy), nchw(x), nchw(w ?? placeholder(p.weightShape, gy)), p, [false, true, false])[1],
};

const nhwc = (t: Tensor) => t.contiguous({ memoryFormat: 'channelsLast' });
const nchw = (t: Tensor) => t.contiguous();
