// Exponential moving average of the weights (Polyak averaging, as in Polyak & Juditsky 1992), the
// form used for evaluation and sampling in diffusion models: shadow <- d * shadow + (1 - d) * w.
import { Tensor, checkShape, noGrad, scope, tensor } from '../tensor';
import { Parameter } from '../nn/param';
import { ParamSource, resolveParams } from './optimizer';

export interface EMAOptions {
  /** d, e.g. 0.999 (the default) or 0.9999. */
  decay?: number;
  /** Use min(decay, (1 + step) / (10 + step)) so that the average forgets the initial weights early (TensorFlow's num_updates). */
  warmup?: boolean;
}

export class EMA {
  /** The averaged parameters (all Parameters of a Module, trainable or not, or the given list). */
  readonly params: Parameter[];
  /** shadow[i] is the average of params[i] (kept; updated in place). */
  readonly shadow: Tensor[];
  readonly decay: number;
  readonly warmup: boolean;
  /** Number of `update()` calls so far. */
  stepCount = 0;

  constructor(source: ParamSource, opts: EMAOptions = {}) {
    this.params = resolveParams(source, 'EMA', {});
    this.decay = opts.decay ?? 0.999;
    this.warmup = opts.warmup ?? false;
    if (!(this.decay >= 0 && this.decay <= 1)) throw new RangeError(`EMA: decay must lie in [0, 1], got ${opts.decay}`);
    this.shadow = noGrad(() => this.params.map((p) => p.detach().clone().keep()));
  }

  /** The decay the next `update()` uses. */
  currentDecay(): number {
    const s = this.stepCount;
    return this.warmup ? Math.min(this.decay, (1 + s) / (10 + s)) : this.decay;
  }

  /** shadow <- d * shadow + (1 - d) * param, for every parameter; call it after each optimizer step. */
  update(): void {
    const d = this.currentDecay();
    noGrad(() => this.params.forEach((p, i) => this.shadow[i].lerp_(p, 1 - d)));
    this.stepCount++;
  }

  /** Copies the averages into `target`'s parameters (same structure; default: the tracked ones), e.g. an evaluation copy of the model. */
  copyTo(target: ParamSource = this.params): void {
    const ps = resolveParams(target, 'EMA.copyTo', {});
    if (ps.length !== this.params.length) throw new Error(`EMA.copyTo: the target has ${ps.length} parameters, the average ${this.params.length}`);
    noGrad(() => ps.forEach((p, i) => {
      checkShape('EMA.copyTo', `parameter ${i} of the target`, p, this.shadow[i], 'the shape of its average');
      p.copy_(this.shadow[i]);
    }));
  }

  /** Exchanges the averages and the live weights in place: swap, evaluate, swap back. */
  swap(): void {
    scope(() => noGrad(() => this.params.forEach((p, i) => {
      const live = p.detach().clone();
      p.copy_(this.shadow[i]);
      this.shadow[i].copy_(live);
    })));
  }

  /** `shadow.<i>` (the EMA's own tensors: save them, do not dispose them) and a 0-d int64 `step`. */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = Object.create(null);
    out.step = tensor(this.stepCount, { dtype: 'int64' });
    this.shadow.forEach((s, i) => { out[`shadow.${i}`] = s; });
    return out;
  }

  loadStateDict(state: Record<string, Tensor>): void {
    const expected = new Set(['step', ...this.shadow.map((_, i) => `shadow.${i}`)]);
    const missing = [...expected].filter((k) => !(state[k] instanceof Tensor));
    const unexpected = Object.keys(state).filter((k) => !expected.has(k));
    if (missing.length || unexpected.length) throw new Error(`EMA.loadStateDict: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`);
    this.shadow.forEach((s, i) => checkShape('EMA.loadStateDict', `shadow.${i}`, state[`shadow.${i}`], s, `the shape of parameter ${i}`));
    noGrad(() => this.shadow.forEach((s, i) => s.copy_(state[`shadow.${i}`])));
    this.stepCount = state.step.item();
  }

  dispose(): void {
    for (const s of this.shadow) s.dispose();
  }
}
