// Adam with gradient clipping and an exponential moving average of the weights, stepped as one
// optimizer. The EMA is saved as an object of its own (train's `objects: { ema }`), not as
// optimizer state.
import { Tensor } from '../tensor';
import { Adam, EMA, clipGradNorm } from '../optim';
import type { OptimizerLike } from './checkpoint';

export class AdamWithEma implements OptimizerLike {
  /** `clip` > 0: clip the gradients' global norm to it before each step. */
  constructor(readonly adam: Adam, readonly ema: EMA, readonly clip: number) {}
  get params() { return this.adam.params; }
  get stepCount() { return this.adam.stepCount; }
  set stepCount(v: number) { this.adam.stepCount = v; }
  lr() { return this.adam.lr(); }
  zeroGrad() { this.adam.zeroGrad(); }
  step() {
    if (this.clip > 0) clipGradNorm(this.adam.params, this.clip);
    this.adam.step();
    this.ema.update();
  }
  stateDict(): Record<string, Tensor> {
    return this.adam.stateDict();
  }
  loadStateDict(state: Record<string, Tensor>) {
    // runs checkpointed before the EMA had its own name kept it here, as "ema.<key>" (restored separately)
    const adam: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(state)) if (!k.startsWith('ema.')) adam[k] = v;
    this.adam.loadStateDict(adam);
  }
}
