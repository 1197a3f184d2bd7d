// Dropout (Srivastava et al. 2014) and its Gaussian variant: multiplicative N(1, p/(1-p)) noise,
// which has the same mean and variance as inverted Bernoulli dropout at rate p. Both are the
// identity in eval mode; with a `generator` the noise is reproducible.
import { F, Generator, Tensor, functions as torch, scope } from '../../tensor';
import { Module } from '../module';
import { probability } from './util';

export class Dropout extends Module {
  readonly p: number;
  generator: Generator | null;

  constructor(p = 0.5, o: { generator?: Generator } = {}) {
    super();
    this.p = probability(p, 'Dropout: p');
    this.generator = o.generator ?? null;
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x.alias();
    return scope(() => F.dropout(x, { p: this.p, training: true, generator: this.generator ?? undefined }));
  }
}

export class GaussianDropout extends Module {
  readonly p: number;
  generator: Generator | null;

  constructor(p = 0.5, o: { generator?: Generator } = {}) {
    super();
    this.p = probability(p, 'GaussianDropout: p');
    this.generator = o.generator ?? null;
  }

  /** Standard deviation of the multiplicative noise, sqrt(p / (1 - p)). */
  get std(): number {
    return Math.sqrt(this.p / (1 - this.p));
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x.alias();
    return scope(() => {
      const noise = torch.emptyLike(x, { requiresGrad: false }).normal_(1, this.std, { generator: this.generator });
      return x.mul(noise);
    });
  }
}
