// The convolution as a custom autograd function whose three operations are chosen independently:
// its forward runs the chosen forward implementation, its backward the chosen input- and
// weight-gradient implementations (chosen lazily, at the first backward, on the real gradient).
import { Tensor, applyFunction, functions as torch } from '../tensor';
import { ConvCandidate, addBias, biasGrad, inLayout, runOp } from './candidate';
import { libtorch } from './candidates/libtorch';
import { ConvOp, ConvProblem } from './problem';

/** Picks the implementation of one operation, given the tensors it will read. */
export type ConvChooser = (op: ConvOp, p: ConvProblem, t: { x?: Tensor; w: Tensor; gy?: Tensor }) => ConvCandidate;

/** y = conv(x, w) + b with each of the three operations computed by `choose`'s pick. */
export function chosenConv(x: Tensor, w: Tensor, b: Tensor | null, p: ConvProblem, choose: ConvChooser): Tensor {
  const inputs = b ? [x, w, b] : [x, w];
  const needX = x.requiresGrad;
  const needW = w.requiresGrad;
  return applyFunction({
    name: 'MetaConvBackward',
    forward(ctx, xi: Tensor, wi: Tensor, bi?: Tensor) {
      ctx.saveForBackward(xi, wi);
      return addBias(runOp(choose('forward', p, { x: xi, w: wi }), 'forward', p, { x: xi, w: wi }), bi ?? null);
    },
    backward(ctx, gy) {
      const [xs, ws] = ctx.saved;
      if (!gy) return inputs.map(() => null);
      const t = { x: xs, w: ws, gy };
      const ci = needX ? choose('gradInput', p, t) : null;
      const cw = needW ? choose('gradWeight', p, t) : null;
      const needB = b?.requiresGrad ?? false;
      // both gradients libtorch's: one convolution_backward computes them (and the bias's) together,
      // as libtorch's own autograd does, sharing its reorders of the output gradient
      if ((ci ?? libtorch) === libtorch && (cw ?? libtorch) === libtorch && (needX ? 1 : 0) + (needW ? 1 : 0) + (needB ? 1 : 0) > 1) {
        const [gx, gw, gb] = torch.convolutionBackward(gy, xs, ws, needB ? b!.shape : null,
          p.stride, p.padding, p.dilation, p.transposed, p.outputPadding, p.groups, [needX, needW, needB]);
        const out = [needX ? inLayout(gx, p) : null, needW ? inLayout(gw, p) : null];
        return b ? [...out, needB ? gb : null] : out;
      }
      const gx = ci ? runOp(ci, 'gradInput', p, t) : null;
      const gw = cw ? runOp(cw, 'gradWeight', p, t) : null;
      return b ? [gx, gw, needB ? biasGrad(gy) : null] : [gx, gw];
    },
  }, ...(inputs as [Tensor, Tensor]))[0];
}
