// The optimizer base: which parameters, which of them are decayed, the learning rate as a function
// of the step, and the per-parameter state (tensors kept outside every scope, updated in place).
// Subclasses write one `update` with the paper's equations; nothing else is hidden here.
import { Tensor, checkShape, functions as torch, noGrad, scope, tensor } from '../tensor';
import { Module, params as moduleParams } from '../nn/module';
import { Parameter } from '../nn/param';
import type { Schedule } from './schedules';

/** What an optimizer or EMA takes: a Module (its parameters) or a list of Parameters. */
export type ParamSource = Module | Parameter[];

/** The learning rate: a number, or a function of the step (0 for the first update). */
export type LearningRate = number | Schedule;

/** Options every optimizer accepts. */
export interface OptimizerOptions {
  lr: LearningRate;
  /** L2 penalty (or decoupled decay for AdamW); applied only to parameters tagged 'regularizable'. */
  weightDecay?: number;
  /**
   * Update all parameters with multi-tensor (`_foreach_*`) ops, a few native calls per step instead
   * of a few per parameter (torch.optim's `foreach=True`); the same arithmetic as the per-parameter
   * path. Default true for the optimizers that have it (SGD, Adam, AdamW).
   */
  foreach?: boolean;
}

/** The trainable parameters of a module, or the given list (checked, deduplicated). */
export function resolveParams(source: ParamSource, who: string, filter: { trainable?: boolean } = { trainable: true }): Parameter[] {
  if (source instanceof Module) return moduleParams(source, filter);
  if (!Array.isArray(source)) throw new TypeError(`${who}: expected a Module or an array of Parameters`);
  source.forEach((p, k) => {
    if (!(p instanceof Parameter)) throw new TypeError(`${who}: element ${k} is not a Parameter (wrap a tensor with Parameter.from)`);
  });
  return [...new Set(source)];
}

export abstract class Optimizer {
  /** The parameters this optimizer updates, in a fixed order (state names use their index). */
  readonly params: Parameter[];
  /** Number of `step()` calls so far; the next update uses `lr()` = schedule(stepCount). */
  stepCount = 0;
  readonly weightDecay: number;
  /** decayed[i]: whether params[i] is tagged 'regularizable' (and so gets weight decay). */
  protected readonly decayed: boolean[];
  /** Whether step() updates through `updateMany` (multi-tensor ops) rather than `update` per parameter. */
  readonly foreach: boolean;
  private readonly schedule: LearningRate;
  /** Per-parameter tensors by state name, `exp_avg.3`; each kept, updated in place. */
  protected readonly buffers = new Map<string, Tensor>();
  /** Per-parameter counters by state name, `step.3`. */
  protected readonly counters = new Map<string, number>();
  /** Names of the per-parameter tensors and counters this optimizer keeps (for loadStateDict). */
  protected abstract readonly bufferNames: readonly string[];
  protected readonly counterNames: readonly string[] = [];

  constructor(source: ParamSource, opts: OptimizerOptions, who: string) {
    this.params = resolveParams(source, who);
    if (typeof opts.lr === 'number') {
      if (!(opts.lr >= 0)) throw new RangeError(`${who}: lr must be >= 0, got ${opts.lr}`);
    } else if (typeof opts.lr !== 'function') {
      throw new TypeError(`${who}: lr must be a number or a function of the step`);
    }
    this.schedule = opts.lr;
    this.weightDecay = opts.weightDecay ?? 0;
    if (!(this.weightDecay >= 0)) throw new RangeError(`${who}: weightDecay must be >= 0, got ${opts.weightDecay}`);
    this.decayed = this.params.map((p) => p.tags.has('regularizable'));
    if (opts.foreach !== undefined && typeof opts.foreach !== 'boolean') throw new TypeError(`${who}: foreach must be a boolean, got ${JSON.stringify(opts.foreach)}`);
    this.foreach = opts.foreach ?? true;
  }

  /** The learning rate of the next update. */
  lr(): number {
    return typeof this.schedule === 'number' ? this.schedule : this.schedule(this.stepCount);
  }

  /** One update of every parameter that has a gradient (as PyTorch, those without one are skipped). */
  step(): void {
    const lr = this.lr();
    if (!Number.isFinite(lr)) throw new RangeError(`learning rate at step ${this.stepCount} is ${lr}`);
    scope(() => noGrad(() => {
      if (this.foreach) {
        const ps: Parameter[] = [], gs: Tensor[] = [], idx: number[] = [];
        this.params.forEach((p, i) => {
          const g = p.grad;
          if (g === null) return;
          ps.push(p);
          gs.push(g);
          idx.push(i);
        });
        if (ps.length) this.updateMany(ps, gs, idx, lr);
        return;
      }
      this.params.forEach((p, i) => {
        const g = p.grad; // a new handle to the gradient, freed by the scope
        if (g !== null) this.update(p, g, i, lr);
      });
    }));
    this.stepCount++;
  }

  /** Updates params[i] in place from its gradient (runs under noGrad, inside a scope). */
  protected abstract update(p: Parameter, grad: Tensor, i: number, lr: number): void;

  /**
   * Updates the parameters that have gradients (ps[k] = params[idx[k]], gs[k] its gradient) at once;
   * optimizers with multi-tensor kernels override it, the others update one parameter at a time.
   */
  protected updateMany(ps: Parameter[], gs: Tensor[], idx: number[], lr: number): void {
    ps.forEach((p, k) => this.update(p, gs[k], idx[k], lr));
  }

  /** The gradients with the L2 penalty added (g + wd p) where a parameter is decayed, without touching p.grad. */
  protected withWeightDecay(ps: Parameter[], gs: Tensor[], idx: number[]): Tensor[] {
    if (this.weightDecay === 0) return gs;
    const at = idx.map((i, k) => (this.decayed[i] ? k : -1)).filter((k) => k >= 0);
    if (!at.length) return gs;
    const added = torch._foreachAdd(at.map((k) => gs[k]), at.map((k) => ps[k]), { alpha: this.weightDecay });
    const out = gs.slice();
    at.forEach((k, j) => (out[k] = added[j]));
    return out;
  }

  /** Sets every gradient to null (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** The state tensor `name.i`, created (kept, outside any scope) by `init` on first use. */
  protected buffer(name: string, i: number, init: () => Tensor): Tensor {
    const key = `${name}.${i}`;
    let b = this.buffers.get(key);
    if (!b) {
      b = init().keep();
      this.buffers.set(key, b);
    }
    return b;
  }

  /**
   * The state: a 0-d int64 `step`, per-parameter counters (`step.<i>`) as 0-d int64 tensors and
   * per-parameter tensors (`exp_avg.<i>`, `momentum_buffer.<i>`). The buffers are the optimizer's
   * own tensors (as a module's stateDict): save them, do not dispose them.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = Object.create(null);
    out.step = tensor(this.stepCount, { dtype: 'int64' });
    for (const [k, v] of this.counters) out[k] = tensor(v, { dtype: 'int64' });
    for (const [k, t] of this.buffers) out[k] = t;
    return out;
  }

  /** Restores a `stateDict()` exactly: state absent from it is dropped, so the next step is the one the saved run would have taken. */
  loadStateDict(state: Record<string, Tensor>): void {
    if (!(state.step instanceof Tensor)) throw new Error('loadStateDict: the state has no `step` tensor');
    const buffers = new Map<string, [number, Tensor]>();
    const counters = new Map<string, number>();
    for (const [key, t] of Object.entries(state)) {
      if (key === 'step') continue;
      const m = /^(.+)\.(\d+)$/.exec(key);
      const i = m ? Number(m[2]) : -1;
      if (!m || i >= this.params.length || !(t instanceof Tensor)) throw new Error(`loadStateDict: unexpected entry ${key}`);
      if (this.counterNames.includes(m[1])) {
        counters.set(key, t.item());
      } else if (this.bufferNames.includes(m[1])) {
        checkShape('loadStateDict', key, t, this.params[i], `the shape of parameter ${i}`);
        buffers.set(key, [i, t]);
      } else {
        throw new Error(`loadStateDict: unexpected entry ${key} (this optimizer keeps ${[...this.counterNames, ...this.bufferNames].join(', ') || 'no per-parameter state'})`);
      }
    }
    this.stepCount = state.step.item();
    this.counters.clear();
    for (const [k, v] of counters) this.counters.set(k, v);
    for (const [k, b] of this.buffers) {
      if (!buffers.has(k)) {
        b.dispose();
        this.buffers.delete(k);
      }
    }
    noGrad(() => {
      for (const [k, [i, t]] of buffers) {
        const own = this.buffers.get(k);
        if (own) own.copy_(t);
        else {
          const p = this.params[i];
          this.buffers.set(k, t.to({ dtype: p.dtype, device: p.device, copy: true }).keep());
        }
      }
    });
  }

  /**
   * Moves the state tensors to each parameter's device and dtype (after `model.to(device)`), as
   * PyTorch's `load_state_dict` places them; so the optimizer steps on the device of its parameters.
   */
  to(): this {
    noGrad(() => {
      for (const [k, b] of this.buffers) {
        const p = this.params[Number(k.slice(k.lastIndexOf('.') + 1))];
        if (b.device === p.device && b.dtype === p.dtype) continue;
        this.buffers.set(k, b.to({ device: p.device, dtype: p.dtype }).keep());
        b.dispose();
      }
    });
    return this;
  }

  /** Frees the optimizer's state tensors. */
  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
    this.counters.clear();
  }
}
