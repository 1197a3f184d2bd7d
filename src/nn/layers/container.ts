// Composition: a stack of layers, and a residual connection around one.
import { Tensor, scope } from '../../tensor';
import { Module } from '../module';

/** Applies its layers in order; they are named `layers.0`, `layers.1`, ... in params and state dicts. */
export class Sequential extends Module {
  layers: Module[];

  constructor(...layers: Module[]) {
    super();
    layers.forEach((l, k) => {
      if (!(l instanceof Module)) throw new TypeError(`Sequential: layer ${k} is not a Module`);
    });
    this.layers = layers;
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      let h = x;
      for (const layer of this.layers) h = layer(h);
      return h === x ? x.alias() : h;
    });
  }
}

/** x ↦ shortcut(x) + body(x) (He et al. 2016); the shortcut is the identity unless a projection is given. */
export class Residual extends Module {
  body: Module;
  shortcut: Module | null;

  constructor(body: Module, o: { shortcut?: Module | null } = {}) {
    super();
    this.body = body;
    this.shortcut = o.shortcut ?? null;
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const skip = this.shortcut ? this.shortcut(x) : x;
      return skip.add(this.body(x));
    });
  }
}
