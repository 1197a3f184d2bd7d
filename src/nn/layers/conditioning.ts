// Conditional normalisation: a scale and shift per channel predicted from a conditioning vector
// (a noise-level embedding, a class embedding). FiLM (Perez et al. 2018) in the (1 + γ) form of
// the "scale-shift" AdaGN of improved DDPM / ADM (Dhariwal & Nichol 2021).
import { Tensor, scope } from '../../tensor';
import { Module } from '../module';
import { Linear, LinearOptions } from './linear';
import { GroupNorm } from './norm';
import { InitOptions, positiveInt } from './util';

export interface FiLMOptions extends InitOptions {
  /** Specs of the projection from the condition to [γ, β] (W: [2C, condDim], b: [2C]). */
  proj?: LinearOptions;
}

/** x (B, C, ...) and cond (B, condDim) -> x · (1 + γ(cond)) + β(cond), broadcast over positions. */
export class FiLM extends Module {
  readonly condDim: number;
  readonly numChannels: number;
  proj: Linear;

  constructor(condDim: number, numChannels: number, o: FiLMOptions = {}) {
    super();
    this.condDim = positiveInt(condDim, 'FiLM: condDim');
    this.numChannels = positiveInt(numChannels, 'FiLM: numChannels');
    this.proj = new Linear(condDim, 2 * numChannels, { generator: o.generator, dtype: o.dtype, ...o.proj });
  }

  forward(x: Tensor, cond: Tensor): Tensor {
    return scope(() => {
      const [B, C] = x.shape;
      if (C !== this.numChannels) throw new TypeError(`FiLM: expected ${this.numChannels} channels, got shape [${x.shape.join(', ')}]`);
      const trailing = new Array<number>(x.ndim - 2).fill(1);
      const [gamma, beta] = this.proj(cond).view([B, 2 * C, ...trailing]).chunk(2, 1); // (B, C, 1, ...) each
      return x.mul(gamma.add(1)).add(beta);
    });
  }
}

/** GroupNorm without its own affine transform, followed by FiLM from the condition. */
export class AdaptiveGroupNorm extends Module {
  norm: GroupNorm;
  film: FiLM;

  constructor(numGroups: number, numChannels: number, condDim: number, o: FiLMOptions & { eps?: number } = {}) {
    super();
    this.norm = new GroupNorm(numGroups, numChannels, { eps: o.eps, affine: false });
    this.film = new FiLM(condDim, numChannels, o);
  }

  forward(x: Tensor, cond: Tensor): Tensor {
    return scope(() => this.film(this.norm(x), cond));
  }
}
