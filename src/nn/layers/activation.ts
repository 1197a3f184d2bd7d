// Elementwise nonlinearities (and softmax) as layers, for Sequential stacks.
import { F, Tensor } from '../../tensor';
import { Module } from '../module';

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

/**
 * max(x, slope·x). The default 0.01 is PyTorch's; the plankton models used "very leaky" ReLUs
 * with slope 1/3, which reduced overfitting (Dieleman et al. 2015).
 */
export class LeakyReLU extends Module {
  constructor(readonly slope = 0.01) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.leakyRelu(x, this.slope);
  }
}

/** Gaussian error linear unit (Hendrycks & Gimpel 2016); 'tanh' selects the approximation. */
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }
}

/** x · sigmoid(x) (Swish). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return F.silu(x);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return x.tanh();
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return x.sigmoid();
  }
}

export class Softmax extends Module {
  constructor(readonly dim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.softmax(this.dim);
  }
}
