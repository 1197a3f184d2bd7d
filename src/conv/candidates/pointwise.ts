// A 1x1 convolution is a matrix product over the channels at every pixel (Lin et al. 2014,
// "Network in network"): no unfolding at all.
import { ConvCandidate } from '../candidate';
import { numel } from '../problem';
import { functions as torch } from '../../tensor';

export const pointwise: ConvCandidate = {
  name: 'matmul-1x1',
  description: '1x1 convolution as a matrix product over channels',
  applicable(_op, p) {
    const k = p.weightShape.slice(2);
    if (k.some((kk) => kk !== 1)) return `needs a 1x1 kernel (this one is ${k.join('x')})`;
    if (p.stride.some((s) => s !== 1)) return `needs stride 1 (this one is ${p.stride.join(',')})`;
    if (p.padding.some((s) => s !== 0)) return `needs padding 0 (this one is ${p.padding.join(',')})`;
    if (p.groups !== 1) return `needs groups 1 (this one has ${p.groups})`;
    return null;
  },
  forward(x, w, p) {
    const [n, c] = p.inputShape;
    const [o] = p.weightShape;
    return torch.matmul(w.reshape([o, c]), x.reshape([n, c, -1])).reshape(p.outputShape); // (N, O, L)
  },
  gradInput(gy, w, p) {
    const [n, c] = p.inputShape;
    const [o] = p.weightShape;
    return torch.matmul(w.reshape([o, c]).t(), gy.reshape([n, o, -1])).reshape(p.inputShape); // (N, C, L)
  },
  gradWeight(gy, x, p) {
    const [n, c] = p.inputShape;
    const [o] = p.weightShape;
    const l = numel(p.inputShape.slice(2));
    // (O, N*L) @ (N*L, C): one product instead of N summed ones
    const g2 = gy.reshape([n, o, l]).transpose(0, 1).reshape([o, n * l]);
    const x2 = x.reshape([n, c, l]).transpose(0, 1).reshape([c, n * l]);
    return torch.matmul(g2, x2.t()).reshape(p.weightShape);
  },
};
