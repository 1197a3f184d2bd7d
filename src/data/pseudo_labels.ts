// Pseudo-labelling with soft targets (Dieleman et al. 2015, plankton, "Pseudo-labeling"): the
// predicted class probabilities of a trained model (or ensemble) on unlabelled data are training
// targets, and every minibatch mixes real and pseudo-labelled examples at a fixed ratio. The post:
// "In most of our experiments 33% of the minibatch was sampled from the pseudolabeled dataset and
// 67% from the real training set" (more pseudo-labelled data, e.g. 67%, regularises more).
import { Tensor, functions as torch, scope } from '../tensor';
import { BatchSource } from './augmented_loader';
import { DataLoader } from './loader';

/** A mixed batch: images and soft targets (rows sum to 1; one-hot for the labelled examples). */
export interface SoftBatch extends Record<string, Tensor> {
  images: Tensor;
  /** (N, K) float32 class probabilities. */
  targets: Tensor;
}

export interface PseudoLabelOptions {
  batchSize: number;
  /** Fraction of each batch drawn from the pseudo-labelled set (default 1/3, the post's usual mix). */
  pseudoFraction?: number;
  seed?: number;
}

/**
 * Batches of `batchSize`: round(batchSize·(1 - pseudoFraction)) labelled examples (one-hot targets)
 * followed by the rest from the pseudo-labelled set (its predicted probabilities as targets). An
 * epoch is one pass over the labelled set; the pseudo-labelled set is cycled through independently
 * (its own shuffled epochs), with batch i of epoch k determined by (seed, k, i) alone, so resuming is exact.
 */
export class PseudoLabelLoader implements BatchSource<SoftBatch> {
  readonly batchSize: number;
  readonly pseudoFraction: number;
  readonly labelledPerBatch: number;
  readonly pseudoPerBatch: number;
  readonly classes: number;
  private readonly real: DataLoader<{ images: Tensor; labels: Tensor }>;
  private readonly pseudo: DataLoader<{ images: Tensor; targets: Tensor }>;

  constructor(labelled: { images: Tensor; labels: Tensor }, pseudo: { images: Tensor; probs: Tensor }, o: PseudoLabelOptions) {
    const f = o.pseudoFraction ?? 1 / 3;
    if (!(f >= 0 && f < 1)) throw new RangeError(`PseudoLabelLoader: pseudoFraction must be in [0, 1), got ${o.pseudoFraction}`);
    if (!Number.isInteger(o.batchSize) || o.batchSize < 2) throw new RangeError(`PseudoLabelLoader: batchSize must be an integer >= 2, got ${o.batchSize}`);
    if (pseudo.probs.ndim !== 2 || pseudo.probs.shape[0] !== pseudo.images.shape[0]) {
      throw new TypeError(`PseudoLabelLoader: pseudo.probs must be (N, K) with N = ${pseudo.images.shape[0]} (one row per image), got shape [${pseudo.probs.shape.join(', ')}]`);
    }
    if (labelled.images.shape.slice(1).join() !== pseudo.images.shape.slice(1).join()) {
      throw new TypeError(`PseudoLabelLoader: labelled images [${labelled.images.shape.join(', ')}] and pseudo images [${pseudo.images.shape.join(', ')}] differ in shape`);
    }
    this.batchSize = o.batchSize;
    this.pseudoFraction = f;
    this.pseudoPerBatch = Math.round(o.batchSize * f);
    this.labelledPerBatch = o.batchSize - this.pseudoPerBatch;
    this.classes = pseudo.probs.shape[1];
    const seed = o.seed ?? 0;
    this.real = new DataLoader(labelled, { batchSize: this.labelledPerBatch, shuffle: true, seed, dropLast: true });
    this.pseudo = new DataLoader({ images: pseudo.images, targets: pseudo.probs }, { batchSize: Math.max(1, this.pseudoPerBatch), shuffle: true, seed: seed + 1_000_003, dropLast: true });
  }

  get length(): number {
    return this.real.length;
  }

  epoch(k: number, opts: { startBatch?: number } = {}): IterableIterator<SoftBatch> {
    return this.run(k, opts.startBatch ?? 0);
  }

  private *run(k: number, start: number): IterableIterator<SoftBatch> {
    let current: SoftBatch | null = null;
    const free = () => { if (current) for (const t of Object.values(current)) if (!t._kept) t.dispose(); current = null; };
    const it = this.real.epoch(k, { startBatch: start });
    try {
      let i = start;
      for (const b of it) {
        free();
        current = this.mix(b, k, i++);
        yield current;
      }
    } finally {
      free();
      it.return?.();
    }
  }

  private mix(b: { images: Tensor; labels: Tensor }, k: number, i: number): SoftBatch {
    return scope(() => {
      const onehot = torch.oneHot(b.labels, this.classes).float(); // (B_l, K)
      if (this.pseudoPerBatch === 0) return { images: b.images.clone(), targets: onehot };
      const g = k * this.real.length + i; // the global batch index picks the pseudo batch
      const p = this.pseudo.batch(Math.floor(g / this.pseudo.length), g % this.pseudo.length);
      return { images: torch.cat([b.images, p.images], 0), targets: torch.cat([onehot, p.targets.float()], 0) };
    });
  }
}
