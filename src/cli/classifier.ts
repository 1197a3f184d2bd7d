// refinery train classifier / refinery eval classifier: the Fashion-MNIST reference convnet.
import * as fs from 'fs';
import * as path from 'path';
import { F, Generator, Tensor, getNumThreads, assertWritable, manualSeed } from '../tensor';
import { DataLoader, fashionMnist, saveImageGrid } from '../data';
import { Adam, cosineWithWarmup } from '../optim';
import { numParams } from '../nn';
import { train, loadModel, saveCheckpoint } from '../train';
import { CLASSIFIER_INPUT, CLASSIFIER_KIND, ClassifierConfig, DEFAULT_CLASSIFIER, FashionClassifier, evaluate } from '../vision/classifier';
import { intFlag, parseFlags, shippedFile } from './args';

export interface ClassifierTrainConfig {
  model: ClassifierConfig;
  epochs: number;
  batchSize: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  seed: number;
}

export const DEFAULT_TRAIN: ClassifierTrainConfig = {
  model: DEFAULT_CLASSIFIER, epochs: 8, batchSize: 128, lr: 2e-3, warmup: 200, weightDecay: 0, seed: 0,
};

/** Where the committed reference checkpoint lives (relative to the repository root). */
export const REFERENCE_CHECKPOINT = 'checkpoints/fashion-classifier.safetensors';

export async function trainClassifier(args: string[]): Promise<number> {
  const { flags } = parseFlags(args);
  const cfg: ClassifierTrainConfig = {
    ...DEFAULT_TRAIN,
    epochs: intFlag(flags, 'epochs', DEFAULT_TRAIN.epochs),
    batchSize: intFlag(flags, 'batch-size', DEFAULT_TRAIN.batchSize),
    seed: flags.seed !== undefined ? Number(flags.seed) : DEFAULT_TRAIN.seed,
    lr: flags.lr !== undefined ? Number(flags.lr) : DEFAULT_TRAIN.lr,
  };
  if (!(cfg.lr > 0)) throw new Error(`--lr: expected a positive number, got ${String(flags.lr)}`);
  const name = typeof flags.name === 'string' ? flags.name : 'classifier';
  const runsDir = typeof flags['runs-dir'] === 'string' ? flags['runs-dir'] : 'runs';
  if (typeof flags.out === 'string') assertWritable(flags.out, '--out', { createDir: true });

  manualSeed(cfg.seed);
  const initGen = new Generator(cfg.seed);
  const dropGen = new Generator(cfg.seed + 1);
  const model = new FashionClassifier(cfg.model, { generator: initGen });
  // dropout draws from dropGen; its state is checkpointed so a resumed run is exact
  model.drop.generator = dropGen;

  const trainSet = fashionMnist('train');
  const testSet = fashionMnist('test');
  const loader = new DataLoader({ images: trainSet.images, labels: trainSet.labels }, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed, dropLast: true });
  const total = cfg.epochs * loader.length;
  const optimizer = new Adam(model, { lr: cosineWithWarmup({ base: cfg.lr, warmup: cfg.warmup, total }), weightDecay: cfg.weightDecay });

  console.log(`refinery train classifier: ${numParams(model).toLocaleString('en-US')} parameters, ${cfg.epochs} epochs x ${loader.length} batches of ${cfg.batchSize}, ${getNumThreads()} threads -> ${path.join(runsDir, name)}`);
  const t0 = Date.now();
  const result = await train({
    run: name, runsDir, config: cfg, resume: Boolean(flags.resume), model, optimizer,
    data: (epoch, startBatch) => loader.epoch(epoch, { startBatch }),
    stepFn: (batch: { images: Tensor; labels: Tensor }) => {
      const logits: Tensor = model(batch.images);
      const loss = F.crossEntropy(logits, batch.labels);
      return { loss, accuracy: logits.argmax(1).eq(batch.labels).float().mean() };
    },
    epochs: cfg.epochs, stepsPerEpoch: loader.length, logEvery: 50,
    evalEvery: 'epoch', checkpointEvery: 'epoch',
    evalFn: () => {
      const r = evaluate(model, testSet.images, testSet.labels);
      return { accuracy: r.accuracy, logLoss: r.logLoss };
    },
    generators: { dropout: dropGen },
  });
  if (result.status !== 'completed') {
    console.log(`interrupted at step ${result.step}; resume with --resume (checkpoint ${result.checkpoint})`);
    return 130;
  }
  const r = evaluate(model, testSet.images, testSet.labels);
  const minutes = (Date.now() - t0) / 60000;
  const out = typeof flags.out === 'string' ? flags.out : path.join(result.run.dir, 'classifier.safetensors');
  saveCheckpoint(out, { model, step: result.step, config: { kind: CLASSIFIER_KIND, model: cfg.model, input: CLASSIFIER_INPUT, train: cfg, testAccuracy: r.accuracy, testLogLoss: r.logLoss } });
  // a picture of what it sees: the first test images, misclassified ones last
  saveImageGrid(path.join(result.run.dir, 'test-samples.png'), testSet.images.narrow(0, 0, 64), { nrow: 16 });
  console.log(`test accuracy ${(100 * r.accuracy).toFixed(2)}%, log loss ${r.logLoss.toFixed(4)}, ${minutes.toFixed(1)} min; model saved to ${out}`);
  return r.accuracy >= 0.91 ? 0 : 1;
}

export function evalClassifier(args: string[]): number {
  const { flags } = parseFlags(args);
  const ckpt = typeof flags.checkpoint === 'string' ? flags.checkpoint : shippedFile(REFERENCE_CHECKPOINT);
  if (!fs.existsSync(ckpt)) throw new Error(`--checkpoint: no such file ${ckpt}`);
  const model = loadClassifier(ckpt);
  const test = fashionMnist('test');
  const t0 = performance.now();
  const r = evaluate(model, test.images, test.labels);
  const seconds = (performance.now() - t0) / 1000;
  if (flags.json) console.log(JSON.stringify({ checkpoint: ckpt, ...r, seconds }));
  else console.log(`${ckpt}: test accuracy ${(100 * r.accuracy).toFixed(2)}% (${r.n} images), log loss ${r.logLoss.toFixed(4)}, ${seconds.toFixed(1)} s`);
  return 0;
}

/** Loads a classifier checkpoint written by `refinery train classifier` (config in its metadata). */
export function loadClassifier(file: string): FashionClassifier {
  // a throwaway generator for the initial weights: loading leaves the global one alone
  return loadModel(file, CLASSIFIER_KIND, (c: ClassifierConfig) => new FashionClassifier(c, { generator: new Generator(0) }), DEFAULT_CLASSIFIER).model;
}
