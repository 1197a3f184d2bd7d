// Mini-batches over in-memory tensors. A batch is one indexSelect per tensor, so loading never
// waits on I/O, and the order of epoch k depends only on (seed, k): training resumes exactly.
import { Generator, Tensor, functions as torch, keep, scope } from '../tensor';
import { checkOptions } from '../tensor/options';

export interface DataLoaderOptions {
  batchSize: number;
  /** Draw a new random order every epoch (default false, as in PyTorch). */
  shuffle?: boolean;
  /** Epoch k's order is `randperm(N)` from a generator seeded with `seed + k` (default 0). */
  seed?: number;
  /** Drop the last batch when it would be smaller than `batchSize` (default false). */
  dropLast?: boolean;
  /**
   * Data-parallel training: this process is rank `rank` of `worldSize` (a ProcessGroup fits). Every
   * rank draws the same epoch order, and of each batch of `batchSize` (the global batch, which must
   * be a multiple of worldSize) rank r takes the samples r, r + worldSize, ... — so the ranks
   * together see exactly the batches one process would, and a checkpoint's batch position means
   * the same for any world size. A last batch is cut to a multiple of worldSize.
   */
  shard?: { rank: number; worldSize: number };
}

/**
 * Batches of samples from tensors that share their first dimension, e.g.
 * `new DataLoader({ images, labels }, { batchSize: 128, shuffle: true, seed: 0 })`.
 *
 * Lifetime of a batch from `epoch()`: it is freed when the next batch is requested or the loop
 * ends (also on `break`), so an epoch runs at flat memory with or without `scope()`. `keep()` a
 * batch tensor (then dispose it yourself) or clone it to hold it longer. `batch(k, i)` returns a
 * batch that the caller owns.
 */
/** A data set's tensors moved to `device` (the originals freed; kept), so that a DataLoader's batches are there. */
export function datasetTo<T extends object>(data: T, device: string): T {
  if (device === 'cpu') return data;
  const out: Record<string, unknown> = {};
  for (const [k, t] of Object.entries(data)) {
    if (t instanceof Tensor) {
      out[k] = keep(t.to({ device, copy: true }));
      t.dispose();
    } else out[k] = t;
  }
  return out as T;
}

export class DataLoader<T extends Record<string, Tensor>> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Number of samples (the shared first dimension). */
  readonly numSamples: number;
  /** This rank's part of each batch (see DataLoaderOptions.shard); rank 0 of 1 without sharding. */
  readonly shard: { rank: number; worldSize: number };

  constructor(readonly data: T, opts: DataLoaderOptions) {
    const keys = Object.keys(data);
    if (keys.length === 0) throw new TypeError('DataLoader: data must hold at least one tensor');
    for (const k of keys) {
      if (!(data[k] instanceof Tensor)) throw new TypeError(`DataLoader: data.${k} is not a Tensor`);
      if (data[k].ndim === 0) throw new TypeError(`DataLoader: data.${k} is a 0-d tensor; samples are indexed along dimension 0`);
    }
    this.numSamples = data[keys[0]].size(0);
    for (const k of keys) {
      if (data[k].size(0) !== this.numSamples) {
        throw new RangeError(`DataLoader: data.${k} has ${data[k].size(0)} samples but data.${keys[0]} has ${this.numSamples}`);
      }
    }
    checkOptions('DataLoader', opts, { batchSize: 'any', shuffle: 'any', seed: 'any', dropLast: 'any', shard: 'any' }); // unknown keys, with a suggestion
    const { batchSize, shuffle = false, seed = 0, dropLast = false } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`DataLoader: seed must be a non-negative integer, got ${seed}`);
    if (typeof shuffle !== 'boolean') throw new TypeError(`DataLoader: shuffle must be a boolean, got ${JSON.stringify(shuffle)}`);
    if (typeof dropLast !== 'boolean') throw new TypeError(`DataLoader: dropLast must be a boolean, got ${JSON.stringify(dropLast)}`);
    if (dropLast && batchSize > this.numSamples) {
      throw new RangeError(`DataLoader: batchSize ${batchSize} exceeds the ${this.numSamples} examples with dropLast, so no batch would be complete; use a batchSize of at most ${this.numSamples} or dropLast: false`);
    }
    const shard = opts.shard ?? { rank: 0, worldSize: 1 };
    const { rank, worldSize } = shard;
    if (!Number.isSafeInteger(worldSize) || worldSize < 1) throw new RangeError(`DataLoader: shard.worldSize must be a positive integer, got ${worldSize}`);
    if (!Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize) throw new RangeError(`DataLoader: shard.rank must be an integer in [0, ${worldSize - 1}], got ${rank}`);
    if (batchSize % worldSize !== 0) {
      throw new RangeError(`DataLoader: batchSize ${batchSize} is not a multiple of shard.worldSize ${worldSize} (each rank takes batchSize / worldSize samples of every batch)`);
    }
    this.shard = { rank, worldSize };
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.seed = seed;
    this.dropLast = dropLast;
  }

  /** Batches per epoch. */
  get length(): number {
    if (this.dropLast) return Math.floor(this.numSamples / this.batchSize);
    const full = Math.floor(this.numSamples / this.batchSize);
    // a last partial batch is kept if every rank gets at least one sample of it
    return full + (this.numSamples - full * this.batchSize >= this.shard.worldSize ? 1 : 0);
  }

  /** The sample order of epoch `k` (int64 [N]; the caller owns it): `randperm(N)` seeded `seed + k`, or `0..N-1`. */
  order(k: number): Tensor {
    checkEpoch(k);
    if (!this.shuffle) return torch.arange(this.numSamples, { dtype: 'int64' });
    const g = new Generator(this.seed + k);
    try {
      return torch.randperm(this.numSamples, { generator: g, dtype: 'int64' });
    } finally {
      g.dispose();
    }
  }

  /**
   * Yields the batches of epoch `k` in order, from batch `startBatch` (default 0) on: resuming at
   * batch i gives exactly the batches i, i+1, ... of an uninterrupted epoch.
   */
  epoch(k: number, opts: { startBatch?: number } = {}): IterableIterator<T> {
    const start = opts.startBatch ?? 0;
    checkEpoch(k);
    if (!Number.isInteger(start) || start < 0 || start > this.length) {
      throw new RangeError(`DataLoader: startBatch must be an integer in 0..${this.length}, got ${start}`);
    }
    return this.run(k, start);
  }

  private *run(k: number, start: number): IterableIterator<T> {
    // kept: a scope around the consumer's next() call must not free what later batches need
    const orders = new Map<string, Tensor>([['cpu', keep(this.order(k))]]);
    let current: T | null = null;
    try {
      for (let i = start; i < this.length; i++) {
        release(current);
        current = null;
        current = this.select(i, orders);
        yield current;
      }
    } finally {
      release(current);
      for (const o of orders.values()) o.dispose();
    }
  }

  /** Batch `i` of epoch `k`, owned by the caller (computes the epoch's order; prefer `epoch()` for iteration). */
  batch(k: number, i: number): T {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`DataLoader: batch index must be in 0..${this.length - 1}, got ${i}`);
    const orders = new Map<string, Tensor>([['cpu', this.order(k)]]);
    try {
      return this.select(i, orders);
    } finally {
      for (const o of orders.values()) o.dispose();
    }
  }

  private select(i: number, orders: Map<string, Tensor>): T {
    const from = i * this.batchSize;
    const { rank, worldSize } = this.shard;
    const n = Math.floor(Math.min(this.batchSize, this.numSamples - from) / worldSize) * worldSize;
    const out: Record<string, Tensor> = {};
    for (const [key, x] of Object.entries(this.data)) {
      const device = x.device;
      let order = orders.get(device);
      if (!order) {
        order = keep(orders.get('cpu')!.to({ device, dtype: 'int64' }));
        orders.set(device, order);
      }
      const idx = worldSize === 1 ? order.narrow(0, from, n) : scope(() => order!.narrow(0, from, n).view([n / worldSize, worldSize]).select(1, rank).contiguous());
      try {
        out[key] = x.indexSelect(0, idx); // [n, ...]
      } finally {
        idx.dispose();
      }
    }
    return out as T;
  }
}

function checkEpoch(k: number): void {
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`DataLoader: epoch must be a non-negative integer, got ${k}`);
}

function release(batch: Record<string, Tensor> | null): void {
  if (!batch) return;
  for (const t of Object.values(batch)) if (!t._kept) t.dispose();
}
