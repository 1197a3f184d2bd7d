// Adam (Kingma & Ba 2015, Algorithm 1) and AdamW (Loshchilov & Hutter 2019, Algorithm 2: decay
// decoupled from the gradient), with torch.optim's arithmetic so that both match it step for step.
import { Tensor, functions as torch } from '../tensor';
import { Parameter } from '../nn/param';
import { Optimizer, OptimizerOptions, ParamSource } from './optimizer';

export interface AdamOptions extends Partial<OptimizerOptions> {
  betas?: [number, number];
  eps?: number;
}

export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** AdamW: decay the weights directly (p <- p * (1 - lr * wd)) instead of adding wd * p to the gradient. */
  readonly decoupled: boolean;
  protected readonly bufferNames = ['exp_avg', 'exp_avg_sq'] as const;
  protected readonly counterNames = ['step'] as const;

  constructor(source: ParamSource, opts: AdamOptions = {}, decoupled = false) {
    const who = decoupled ? 'AdamW' : 'Adam';
    super(source, { lr: opts.lr ?? 1e-3, weightDecay: opts.weightDecay ?? (decoupled ? 1e-2 : 0), foreach: opts.foreach }, who);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.decoupled = decoupled;
    for (const b of [this.beta1, this.beta2]) if (!(b >= 0 && b < 1)) throw new RangeError(`${who}: betas must lie in [0, 1), got [${opts.betas}]`);
    if (!(this.eps >= 0)) throw new RangeError(`${who}: eps must be >= 0, got ${opts.eps}`);
  }

  protected update(p: Parameter, grad: Tensor, i: number, lr: number): void {
    const { beta1, beta2, eps } = this;
    // t counts this parameter's own updates (a step where it had no gradient does not count)
    const t = (this.counters.get(`step.${i}`) ?? 0) + 1;
    this.counters.set(`step.${i}`, t);
    let g = grad;
    if (this.weightDecay !== 0 && this.decayed[i]) {
      if (this.decoupled) p.mul_(1 - lr * this.weightDecay);
      else g = grad.add(p, { alpha: this.weightDecay });
    }
    const m = this.buffer('exp_avg', i, () => torch.zerosLike(p));
    const v = this.buffer('exp_avg_sq', i, () => torch.zerosLike(p));
    m.mul_(beta1).add_(g, { alpha: 1 - beta1 }); // m <- b1 m + (1 - b1) g
    v.mul_(beta2).addcmul_(g, g, { value: 1 - beta2 }); // v <- b2 v + (1 - b2) g^2
    const stepSize = lr / (1 - beta1 ** t);
    const denom = v.sqrt().div(Math.sqrt(1 - beta2 ** t)).add_(eps); // sqrt(v_hat) + eps
    p.addcdiv_(m, denom, { value: -stepSize }); // p <- p - lr m_hat / (sqrt(v_hat) + eps)
  }

  // The same update over all parameters with multi-tensor ops (torch.optim's _multi_tensor_adam(w)).
  protected updateMany(ps: Parameter[], gs: Tensor[], idx: number[], lr: number): void {
    const { beta1, beta2, eps } = this;
    const ts = idx.map((i) => {
      const t = (this.counters.get(`step.${i}`) ?? 0) + 1;
      this.counters.set(`step.${i}`, t);
      return t;
    });
    let g = gs;
    if (this.decoupled) {
      const decayed = this.weightDecay !== 0 ? ps.filter((_, k) => this.decayed[idx[k]]) : [];
      if (decayed.length) torch._foreachMul_(decayed, 1 - lr * this.weightDecay);
    } else {
      g = this.withWeightDecay(ps, gs, idx);
    }
    const m = ps.map((p, k) => this.buffer('exp_avg', idx[k], () => torch.zerosLike(p)));
    const v = ps.map((p, k) => this.buffer('exp_avg_sq', idx[k], () => torch.zerosLike(p)));
    torch._foreachMul_(m, beta1);
    torch._foreachAdd_(m, g, { alpha: 1 - beta1 });
    torch._foreachMul_(v, beta2);
    torch._foreachAddcmul_(v, g, g, 1 - beta2);
    const denom = torch._foreachSqrt(v);
    torch._foreachDiv_(denom, ts.map((t) => Math.sqrt(1 - beta2 ** t)));
    torch._foreachAdd_(denom, eps);
    torch._foreachAddcdiv_(ps, m, denom, ts.map((t) => -(lr / (1 - beta1 ** t))));
  }
}

export class AdamW extends Adam {
  /** Adam with decoupled weight decay (default 0.01, as PyTorch), on 'regularizable' parameters only. */
  constructor(source: ParamSource, opts: AdamOptions = {}) {
    super(source, opts, true);
  }
}
