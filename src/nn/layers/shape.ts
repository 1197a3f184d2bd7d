// Layers that only pass data through or reshape it.
import { Tensor } from '../../tensor';
import { Module } from '../module';

/** Returns its input (as a new handle, so disposing the output leaves the input alive). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x.alias();
  }
}

/** Flattens dimensions startDim..endDim into one; by default (N, ...) -> (N, prod(...)). */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}
