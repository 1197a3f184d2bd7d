// DistributedDataParallel's semantics as two calls around a step (PyTorch's torch/nn/parallel/distributed.py):
// identical models on every rank (rank 0's parameters and buffers broadcast at the start), then,
// after each backward, every gradient replaced by its mean over the ranks, flattened into buckets.
import { Tensor, functions as torch, keep, noGrad } from '../tensor';
import { native } from '../tensor/native';
import { Module, namedTensors, params } from '../nn/module';
import type { Parameter } from '../nn/param';
import { DEFAULT_BUCKET_BYTES, ProcessGroup } from './process_group';

/** Generator seeds of rank r are the single-process seeds plus r times this (distinct streams per rank). */
export const RANK_SEED_STRIDE = 1_000_003;

/** Copies rank `src`'s parameters and buffers (every tensor of the module) into every rank's module. */
export async function broadcastModule(pg: ProcessGroup, model: Module, opts: { src?: number; bucketBytes?: number } = {}): Promise<void> {
  const tensors = namedTensors(model).map(([, t]) => t);
  if (tensors.length) await pg.broadcast(tensors, opts);
}

/**
 * Replaces every parameter's gradient by its mean over the ranks (the ranks' losses being means
 * over equal shares of a batch, this is the gradient of the whole batch). A parameter without a
 * gradient gets zeros first, so that every rank reduces the same buckets. Buckets follow the
 * reverse parameter order, as DistributedDataParallel's do (the order backward produces them).
 */
export async function averageGradients(pg: ProcessGroup, source: Module | Parameter[], opts: { bucketBytes?: number; extra?: Tensor[] } = {}): Promise<void> {
  const ps = source instanceof Module ? params(source) : source;
  const grads: Tensor[] = [];
  try {
    noGrad(() => {
      for (let i = ps.length - 1; i >= 0; i--) {
        const p = ps[i];
        let g = p.grad;
        if (!g) {
          const z = torch.zerosLike(p);
          p.grad = z;
          z.dispose();
          g = p.grad!;
        }
        grads.push(keep(g));
      }
    });
    await pg.allReduce([...grads, ...(opts.extra ?? [])], { op: 'avg', bucketBytes: opts.bucketBytes ?? DEFAULT_BUCKET_BYTES });
  } finally {
    for (const g of grads) g.dispose();
  }
}

/**
 * Gradient averaging overlapped with the backward pass, as DistributedDataParallel's Reducer does:
 * the parameters are split into buckets of at most `bucketBytes` in reverse order; a hook on each
 * parameter's gradient accumulator (C++, in the addon) copies the gradient into its bucket the moment
 * backward has accumulated it, and a bucket's all-reduce starts on Gloo's threads as soon as all its
 * gradients are in (buckets start in order, the same on every rank), while backward goes on.
 *
 * ```ts
 * const reducer = new GradientReducer(pg, model);
 * reducer.prepare(); loss.backward(); await reducer.finish(); optimizer.step();
 * ```
 * The result is `averageGradients`' (the same buckets, sums and division). A parameter backward gave
 * no gradient gets zeros. One backward per step: a second one that reaches a parameter is an error
 * (its bucket is already on the wire); such steps want `averageGradients` after the last backward.
 */
export class GradientReducer {
  private id: number;
  readonly params: Parameter[];

  constructor(readonly pg: ProcessGroup, source: Module | Parameter[], opts: { bucketBytes?: number } = {}) {
    if (!native.DistReducerNew) throw new Error('GradientReducer: this addon has no gradient reducer (rebuild it with `bash scripts/setup.sh`)');
    const bucketBytes = opts.bucketBytes ?? DEFAULT_BUCKET_BYTES;
    if (!Number.isSafeInteger(bucketBytes) || bucketBytes < 1) throw new RangeError(`GradientReducer: bucketBytes must be a positive integer, got ${bucketBytes}`);
    this.params = source instanceof Module ? params(source) : source;
    this.id = native.DistReducerNew(pg._groupId('GradientReducer'), this.params.map((p) => p._handle), bucketBytes);
  }

  private handle(what: string): number {
    if (this.id === 0) throw new Error(`GradientReducer.${what}: the reducer was disposed`);
    return this.id;
  }

  /** Arms the hooks: the next backward's gradients are this step's. */
  prepare(): void {
    native.DistReducerPrepare!(this.handle('prepare'));
  }

  /** This step had no backward (no batch on any rank): disarms the hooks. */
  cancel(): void {
    native.DistReducerCancel!(this.handle('cancel'));
  }

  /**
   * After backward: launches the buckets still waiting (zero-filling missing gradients), then
   * resolves once every gradient is the mean over the ranks; `extra` tensors (contiguous, CPU) are
   * averaged too, by one more all-reduce each.
   */
  async finish(extra: Tensor[] = []): Promise<void> {
    await native.DistReducerFinish!(this.handle('finish'), extra.map((t) => t._handle));
  }

  /** The number of buckets, and how many of them the last step's backward launched (the rest: finish()). */
  stats(): { buckets: number; launchedInBackward: number } {
    const [buckets, launchedInBackward] = native.DistReducerStats!(this.handle('stats'));
    return { buckets, launchedInBackward };
  }

  /** Takes the hooks off the parameters. */
  dispose(): void {
    if (this.id === 0) return;
    native.DistReducerFree!(this.id);
    this.id = 0;
  }
}
