// Stochastic gradient descent with momentum (Polyak 1964) and Nesterov momentum (Sutskever et al.
// 2013), in torch.optim.SGD's formulation: the buffer starts as the first gradient, no dampening by default.
import { Tensor, functions as torch } from '../tensor';
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

  // The same update over all parameters with multi-tensor ops (torch.optim's _multi_tensor_sgd).
  protected updateMany(ps: Parameter[], gs: Tensor[], idx: number[], lr: number): void {
    let d = this.withWeightDecay(ps, gs, idx);
    if (this.momentum !== 0) {
      const have = idx.map((i) => this.buffers.get(`momentum_buffer.${i}`));
      let bufs: Tensor[];
      if (have.every((b) => b !== undefined)) {
        bufs = have as Tensor[];
        torch._foreachMul_(bufs, this.momentum);
        torch._foreachAdd_(bufs, d, { alpha: 1 - this.dampening });
      } else {
        // a parameter's first update: its buffer starts as its gradient
        bufs = ps.map((p, k) => {
          let fresh = false;
          const b = this.buffer('momentum_buffer', idx[k], () => { fresh = true; return d[k].clone(); });
          if (!fresh) b.mul_(this.momentum).add_(d[k], { alpha: 1 - this.dampening });
          return b;
        });
      }
      d = this.nesterov ? torch._foreachAdd(d, bufs, { alpha: this.momentum }) : bufs;
    }
    torch._foreachAdd_(ps, d, { alpha: -lr });
  }
}
