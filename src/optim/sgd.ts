// Stochastic gradient descent with momentum (Polyak 1964) and Nesterov momentum (Sutskever et al.
// 2013), in torch.optim.SGD's formulation: the buffer starts as the first gradient, no dampening by default.
import { Tensor } from '../tensor';
import { Parameter } from '../nn/param';
import { Optimizer, OptimizerOptions, ParamSource } from './optimizer';

export interface SGDOptions extends OptimizerOptions {
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  protected readonly bufferNames = ['momentum_buffer'] as const;

  constructor(source: ParamSource, opts: SGDOptions) {
    super(source, opts, 'SGD');
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (!(this.momentum >= 0)) throw new RangeError(`SGD: momentum must be >= 0, got ${opts.momentum}`);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new RangeError('SGD: Nesterov momentum requires momentum > 0 and dampening 0');
  }

  protected update(p: Parameter, grad: Tensor, i: number, lr: number): void {
    // g <- g + wd * p (L2 penalty), only for regularizable parameters
    let d = this.weightDecay !== 0 && this.decayed[i] ? grad.add(p, { alpha: this.weightDecay }) : grad;
    if (this.momentum !== 0) {
      let fresh = false;
      const buf = this.buffer('momentum_buffer', i, () => { fresh = true; return d.clone(); });
      // b <- mu * b + (1 - dampening) * g
      if (!fresh) buf.mul_(this.momentum).add_(d, { alpha: 1 - this.dampening });
      // Nesterov: step along g + mu * b; classical: along b
      d = this.nesterov ? d.add(buf, { alpha: this.momentum }) : buf;
    }
    p.add_(d, { alpha: -lr });
  }
}
