// The fully connected layer (Lasagne's DenseLayer, torch.nn.Linear).
import { F, Tensor, scope } from '../../tensor';
import { Module } from '../module';
import { ParamLike, ParamSpec, value } from '../param';
import { glorotUniform, zeros } from '../init';
import { BIAS, InitOptions, WEIGHT, param, positiveInt, required } from './util';

export interface LinearOptions extends InitOptions {
  /** [out, in], as torch.nn.Linear stores it (Lasagne's DenseLayer keeps the transpose). Default Glorot uniform. */
  W?: ParamSpec;
  /** [out]; null for none. Default zeros. */
  b?: ParamSpec;
}

/** y = x Wᵀ + b over the last dimension of x. */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  W: ParamLike;
  b: ParamLike | null;

  constructor(inFeatures: number, outFeatures: number, o: LinearOptions = {}) {
    super();
    this.inFeatures = positiveInt(inFeatures, 'Linear: inFeatures');
    this.outFeatures = positiveInt(outFeatures, 'Linear: outFeatures');
    this.W = required(o.W, glorotUniform(), [outFeatures, inFeatures], 'Linear.W', WEIGHT, o);
    this.b = param(o.b, zeros, [outFeatures], 'Linear.b', BIAS, o);
  }

  forward(x: Tensor): Tensor {
    return scope(() => F.linear(x, value(this.W), value(this.b))); // (..., in) -> (..., out)
  }
}

/** Lasagne's name for the same layer. */
export const Dense = Linear;
export type Dense = Linear;
