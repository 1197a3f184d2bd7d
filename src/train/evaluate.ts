// Evaluation of a classifier over a labelled set: the one loop behind every accuracy / log-loss
// figure (the reference classifier, the noise-conditional classifier at a noise level).
import { F, Tensor, checkShape, noGrad, scope } from '../tensor';
import type { Module } from '../nn/module';

export interface ClassifierMetrics {
  accuracy: number;
  /** Mean cross-entropy, in nats. */
  logLoss: number;
  n: number;
}

/**
 * Accuracy and mean log loss of `model` over `images` (N, ...) with `labels` (N,), in eval mode,
 * `batchSize` at a time, without gradients. `logits` maps a batch of images to (B, classes) logits
 * (default: the model called on the batch); its randomness, if any, comes from its own generator.
 */
export function classifierMetrics(model: Module, images: Tensor, labels: Tensor,
  opts: { batchSize?: number; logits?: (images: Tensor) => Tensor } = {}): ClassifierMetrics {
  const batchSize = opts.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`classifierMetrics: batchSize must be a positive integer, got ${batchSize}`);
  const n = images.shape[0];
  checkShape('classifierMetrics', 'labels', labels, [n], 'one per image');
  const logitsOf = opts.logits ?? ((x: Tensor) => model(x) as Tensor);
  const wasTraining = model.training;
  model.eval();
  let correct = 0, loss = 0;
  try {
    noGrad(() => {
      for (let i = 0; i < n; i += batchSize) {
        scope(() => {
          const m = Math.min(batchSize, n - i);
          const y = labels.narrow(0, i, m);
          const logits = logitsOf(images.narrow(0, i, m)); // (B, classes)
          correct += logits.argmax(1).eq(y).sum().item();
          loss += F.crossEntropy(logits, y, { reduction: 'sum' }).item();
        });
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return { accuracy: correct / n, logLoss: loss / n, n };
}
