// Pooling across feature maps rather than positions: groups of `poolSize` consecutive channels
// are reduced to one (Lasagne's FeaturePoolLayer). With max this is maxout (Goodfellow et al. 2013),
// used in the dense layers of the plankton models as "2-piece maxout units".
import { Tensor, scope } from '../../tensor';
import { Module } from '../module';
import { positiveInt } from './util';

export type FeaturePoolFunction = 'max' | 'mean' | 'sum';

export class FeaturePool extends Module {
  readonly poolSize: number;
  /** The channel dimension (1 for (N, C, ...) and (N, C)). */
  readonly dim: number;
  readonly pool: FeaturePoolFunction;

  constructor(poolSize: number, o: { dim?: number; pool?: FeaturePoolFunction } = {}) {
    super();
    this.poolSize = positiveInt(poolSize, 'FeaturePool: poolSize');
    this.dim = o.dim ?? 1;
    this.pool = o.pool ?? 'max';
    if (!['max', 'mean', 'sum'].includes(this.pool)) throw new TypeError(`FeaturePool: pool must be 'max', 'mean' or 'sum', got '${this.pool}'`);
  }

  forward(x: Tensor): Tensor {
    const shape = x.shape;
    const d = this.dim < 0 ? this.dim + shape.length : this.dim;
    const c = shape[d];
    if (c === undefined || c % this.poolSize) {
      throw new TypeError(`${this.constructor.name}: dimension ${this.dim} of shape [${shape.join(', ')}] must be divisible by poolSize ${this.poolSize}`);
    }
    return scope(() => {
      // (..., C, ...) -> (..., C / k, k, ...), reduced over the k axis
      const grouped = x.reshape([...shape.slice(0, d), c / this.poolSize, this.poolSize, ...shape.slice(d + 1)]);
      return this.pool === 'max' ? grouped.amax(d + 1) : this.pool === 'mean' ? grouped.mean(d + 1) : grouped.sum(d + 1);
    });
  }
}

/** Maxout: the maximum over groups of `poolSize` consecutive channels. */
export class Maxout extends FeaturePool {
  constructor(poolSize: number, o: { dim?: number } = {}) {
    super(poolSize, { dim: o.dim, pool: 'max' });
  }
}
