// DistributedDataParallel's semantics as two calls around a step (PyTorch's torch/nn/parallel/distributed.py):
// identical models on every rank (rank 0's parameters and buffers broadcast at the start), then,
// after each backward, every gradient replaced by its mean over the ranks, flattened into buckets.
import { Tensor, functions as torch, keep, noGrad } from '../tensor';
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
