// im2col + GEMM (Caffe's convolution, Chellapilla et al. 2006): unfold every receptive field into a
// column, then one matrix product per group; the input gradient folds the product back (col2im).
import { Tensor, functions as torch } from '../../tensor';
import { ConvCandidate, tooLarge } from '../candidate';
import { ConvProblem, numel } from '../problem';

function columns(x: Tensor, p: ConvProblem): Tensor {
  const k = p.weightShape.slice(2);
  return torch.im2col(x, k, p.dilation, p.padding, p.stride); // (N, C*kh*kw, L)
}

export const im2col: ConvCandidate = {
  name: 'im2col',
  description: 'unfold (im2col) + one matrix product per group; col2im for the input gradient',
  applicable(_op, p) {
    if (p.dims !== 2) return `im2col here is 2-d only (this convolution is ${p.dims}-d)`;
    const [n, c] = p.inputShape;
    const k = numel(p.weightShape.slice(2));
    return tooLarge(n * c * k * numel(p.outputShape.slice(2)), p, 'column buffer');
  },
  forward(x, w, p) {
    const [n] = p.inputShape;
    const [o] = p.weightShape;
    const g = p.groups;
    const cols = columns(x, p); // (N, C*kk, L)
    const l = cols.shape[2];
    const y = torch.matmul(w.reshape([g, o / g, -1]), cols.reshape([n, g, -1, l])); // (N, G, O/G, L)
    return y.reshape(p.outputShape);
  },
  gradInput(gy, w, p) {
    const [n] = p.inputShape;
    const [o] = p.weightShape;
    const g = p.groups;
    const l = numel(p.outputShape.slice(2));
    const cols = torch.matmul(w.reshape([g, o / g, -1]).transpose(1, 2), gy.reshape([n, g, o / g, l])); // (N, G, C/G*kk, L)
    return torch.col2im(cols.reshape([n, -1, l]), p.inputShape.slice(2), p.weightShape.slice(2), p.dilation, p.padding, p.stride);
  },
  gradWeight(gy, x, p) {
    const [n] = p.inputShape;
    const [o] = p.weightShape;
    const g = p.groups;
    const cols = columns(x, p);
    const l = cols.shape[2];
    const gw = torch.matmul(gy.reshape([n, g, o / g, l]), cols.reshape([n, g, -1, l]).transpose(2, 3)); // (N, G, O/G, C/G*kk)
    return gw.sum(0).reshape(p.weightShape);
  },
};
