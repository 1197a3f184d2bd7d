// The convolution as a custom autograd function whose three operations are chosen independently:
// its forward runs the chosen forward implementation, its backward the chosen input- and
// weight-gradient implementations (chosen lazily, at the first backward, on the real gradient).
import { Tensor, applyFunction } from '../tensor';
import { ConvCandidate, addBias, biasGrad, runOp } from './candidate';
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
      const gx = needX ? runOp(choose('gradInput', p, t), 'gradInput', p, t) : null;
      const gw = needW ? runOp(choose('gradWeight', p, t), 'gradWeight', p, t) : null;
      return b ? [gx, gw, b.requiresGrad ? biasGrad(gy) : null] : [gx, gw];
    },
  }, ...(inputs as [Tensor, Tensor]))[0];
}
