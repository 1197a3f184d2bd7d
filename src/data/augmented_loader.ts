// Realtime augmentation inside the data pipeline (Dieleman et al. 2015, plankton: "We augmented the
// data on-demand during training"): every batch of a loader leaves with its images transformed by
// one random affine transform each, drawn for that batch and applied to the whole batch by one
// affine_grid + grid_sample (src/data/augment.ts). The transforms of batch i of epoch k come from a
// generator seeded by (seed, k, i) alone, so, like the DataLoader's order, a run resumed at any
// batch sees exactly the images an uninterrupted run would.
import { Generator, Tensor, noGrad } from '../tensor';
import { AffineTransformOptions, AugmentationRanges, affineTransform, randomAffine } from './augment';

/** What AugmentedLoader wraps: a DataLoader, or another source of (epoch, batch)-addressed batches. */
export interface BatchSource<T> {
  readonly length: number;
  epoch(k: number, opts?: { startBatch?: number }): IterableIterator<T>;
}

export interface AugmentedLoaderOptions {
  ranges: AugmentationRanges;
  /** Seed of the transforms (default 0). */
  seed?: number;
  /** Which tensor of a batch holds the (N, C, H, W) images (default 'images'). */
  key?: string;
  padding?: AffineTransformOptions['padding'];
  /** Rescale to this size in the same transform (default: the input size). */
  outputSize?: [number, number];
}

/** splitmix64 of (seed, epoch, batch), cut to 53 bits: decorrelated generator seeds. */
export function batchSeed(seed: number, epoch: number, batch: number): number {
  let z = BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n + BigInt(epoch) * 0xbf58476d1ce4e5b9n + BigInt(batch) * 0x94d049bb133111ebn + 0x632be59bd9b4e019n);
  z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
  z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
  return Number((z ^ (z >> 31n)) >> 11n);
}

/**
 * `new AugmentedLoader(loader, { ranges: PLANKTON_AUGMENTATION, seed })`: the batches of `loader`
 * with `batch.images` replaced by augmented images (the other tensors as they are). Batches follow
 * the DataLoader's lifetime rule: each is freed when the next is requested.
 */
export class AugmentedLoader<T extends Record<string, Tensor>> implements BatchSource<T> {
  readonly ranges: AugmentationRanges;
  readonly seed: number;
  readonly key: string;
  readonly transformOptions: AffineTransformOptions;

  constructor(readonly source: BatchSource<T>, o: AugmentedLoaderOptions) {
    if (!source || typeof source.epoch !== 'function') throw new TypeError('AugmentedLoader: source must be a DataLoader (or have length and epoch(k, { startBatch }))');
    this.ranges = o.ranges;
    randomAffine(0, o.ranges, Generator.default()); // validates the ranges now, not at the first batch
    this.seed = o.seed ?? 0;
    if (!Number.isSafeInteger(this.seed) || this.seed < 0) throw new RangeError(`AugmentedLoader: seed must be a non-negative integer, got ${o.seed}`);
    this.key = o.key ?? 'images';
    this.transformOptions = { padding: o.padding, outputSize: o.outputSize };
  }

  get length(): number {
    return this.source.length;
  }

  /** The transforms of batch `i` of epoch `k` (n of them). */
  transforms(k: number, i: number, n: number) {
    const g = new Generator(batchSeed(this.seed, k, i));
    try {
      return randomAffine(n, this.ranges, g);
    } finally {
      g.dispose();
    }
  }

  /** Augments one batch as batch `i` of epoch `k` (the caller owns the result). */
  augment(batch: T, k: number, i: number): T {
    const x = batch[this.key];
    if (!(x instanceof Tensor) || x.ndim !== 4) {
      throw new TypeError(`AugmentedLoader: batch.${this.key} must be an (N, C, H, W) image tensor, got ${x instanceof Tensor ? `shape [${x.shape.join(', ')}]` : typeof x}`);
    }
    const images = noGrad(() => affineTransform(x, this.transforms(k, i, x.shape[0]), this.transformOptions));
    return { ...batch, [this.key]: images };
  }

  epoch(k: number, opts: { startBatch?: number } = {}): IterableIterator<T> {
    return this.run(k, opts.startBatch ?? 0);
  }

  private *run(k: number, start: number): IterableIterator<T> {
    let mine: Tensor | null = null;
    const it = this.source.epoch(k, { startBatch: start });
    try {
      let i = start;
      for (const batch of it) {
        if (mine && !mine._kept) mine.dispose();
        const out = this.augment(batch, k, i++);
        mine = out[this.key];
        yield out;
      }
    } finally {
      if (mine && !mine._kept) mine.dispose();
      it.return?.();
    }
  }
}
