// Training, saving and loading the Fashion-MNIST reference convnet (classifier.ts) through the
// repository's training loop (run folder, progress, metrics.jsonl, checkpoints, resume, Ctrl-C).
// `refinery train classifier` calls trainClassifier; `refinery eval classifier` evaluateClassifierFile.
import * as path from 'path';
import { F, Generator, Tensor, assertWritable, checkComputeDevice, getNumThreads, manualSeed } from '../tensor';
import { DataLoader, datasetTo, fashionMnist, saveImageGrid } from '../data';
import { type ProcessGroup, assertCollectivesOn } from '../distributed/process_group';
import { RANK_SEED_STRIDE } from '../distributed/ddp';
import { Adam, cosineWithWarmup } from '../optim';
import { numParams } from '../nn';
import { train, loadModel, saveCheckpoint } from '../train';
import { requireFile, shippedFile } from '../train/shipped';
import { AutotuneMode, jobPlanner } from '../conv/plan';
import { CLASSIFIER_INPUT, CLASSIFIER_KIND, ClassifierConfig, DEFAULT_CLASSIFIER, FashionClassifier, evaluate } from './classifier';

export interface ClassifierTrainConfig {
  model: ClassifierConfig;
  epochs: number;
  batchSize: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  seed: number;
}

export const DEFAULT_CLASSIFIER_TRAIN: ClassifierTrainConfig = {
  model: DEFAULT_CLASSIFIER, epochs: 8, batchSize: 128, lr: 2e-3, warmup: 200, weightDecay: 0, seed: 0,
};

/** Where the committed reference checkpoint lives (relative to the package root). */
export const REFERENCE_CHECKPOINT = 'checkpoints/fashion-classifier.safetensors';

/** Fashion-MNIST's training set size: the largest batch a training step can draw. */
export const FASHION_TRAIN_SIZE = 60000;

export interface TrainClassifierOptions {
  /** Overrides of DEFAULT_CLASSIFIER_TRAIN. */
  config?: Partial<Omit<ClassifierTrainConfig, 'model'>> & { model?: Partial<ClassifierConfig> };
  /** Run folder name under runsDir (default 'classifier'). */
  name?: string;
  runsDir?: string;
  resume?: boolean;
  /** Final weights (.safetensors); default <run dir>/classifier.safetensors. */
  out?: string;
  /** Where messages go (default console.log; null for none). */
  log?: ((msg: string) => void) | null;
  /** Data-parallel training on this group's ranks (see train()): batchSize is the global batch; rank 0 evaluates and saves. */
  processGroup?: ProcessGroup;
  /** With processGroup: gradient bucket size and overlap with backward (train()'s bucketBytes, overlapGradients). */
  ddp?: { bucketBytes?: number; overlapGradients?: boolean };
  /** Where the model trains and is evaluated: 'cpu' (default), 'cuda' or 'cuda:N'; checked against the machine. */
  device?: string;
  /** Layout and thread count by timing whole steps ('step'), plus every convolution's implementation ('all'); default 'off' (see trainDiffusion). */
  autotune?: AutotuneMode;
}

export interface TrainClassifierResult {
  /** 'completed', or 'interrupted' (signal; checkpointed, not evaluated, not saved). */
  status: 'completed' | 'interrupted';
  step: number;
  model: FashionClassifier;
  config: ClassifierTrainConfig;
  /** Test accuracy and log loss (NaN when interrupted). */
  accuracy: number;
  logLoss: number;
  minutes: number;
  runDir: string;
  /** The weights file written, or null when interrupted. */
  out: string | null;
  /** The last checkpoint of the run (to resume from). */
  checkpoint: string;
}

/** Trains the reference classifier on Fashion-MNIST; see TrainClassifierOptions. */
export async function trainClassifier(opts: TrainClassifierOptions = {}): Promise<TrainClassifierResult> {
  const over = opts.config ?? {};
  const cfg: ClassifierTrainConfig = { ...DEFAULT_CLASSIFIER_TRAIN, ...over, model: { ...DEFAULT_CLASSIFIER, ...over.model } };
  for (const k of ['epochs', 'batchSize'] as const) {
    if (!Number.isSafeInteger(cfg[k]) || cfg[k] <= 0) throw new RangeError(`trainClassifier: ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.batchSize > FASHION_TRAIN_SIZE) throw new RangeError(`trainClassifier: batchSize ${cfg.batchSize} exceeds the ${FASHION_TRAIN_SIZE} training images`);
  if (!(cfg.lr > 0) || !Number.isFinite(cfg.lr)) throw new RangeError(`trainClassifier: lr must be a positive number, got ${cfg.lr}`);
  if (!Number.isSafeInteger(cfg.warmup) || cfg.warmup < 0) throw new RangeError(`trainClassifier: warmup must be an integer >= 0, got ${cfg.warmup}`);
  if (!Number.isSafeInteger(cfg.seed) || cfg.seed < 0) throw new RangeError(`trainClassifier: seed must be a non-negative integer, got ${cfg.seed}`);
  const pg = opts.processGroup;
  const rank = pg?.rank ?? 0;
  // 'cuda' on several ranks: each its own GPU, cuda:LOCAL_RANK (torchrun's convention)
  const device = checkComputeDevice('trainClassifier', opts.device === 'cuda' && pg ? `cuda:${pg.localRank}` : opts.device ?? 'cpu');
  if (pg && device !== 'cpu') assertCollectivesOn(device, 'trainClassifier');
  const say = opts.log === null || rank !== 0 ? () => {} : (opts.log ?? ((m: string) => console.log(m)));
  const name = opts.name ?? 'classifier';
  const runsDir = opts.runsDir ?? 'runs';
  if (opts.out !== undefined) assertWritable(opts.out, 'trainClassifier: out', { createDir: true });

  manualSeed(cfg.seed);
  const initGen = new Generator(cfg.seed);
  const dropGen = new Generator(cfg.seed + 1 + RANK_SEED_STRIDE * rank); // each rank its own dropout masks
  const model = new FashionClassifier(cfg.model, { generator: initGen }).to(device);
  // dropout draws from dropGen; its state is checkpointed so a resumed run is exact
  model.drop.generator = dropGen;

  const trainSet = datasetTo(fashionMnist('train'), device);
  const testSet = datasetTo(fashionMnist('test'), device);
  try {
    const loader = new DataLoader({ images: trainSet.images, labels: trainSet.labels }, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed, dropLast: true, shard: pg });
    const total = cfg.epochs * loader.length;
    // the warmup never outlasts the run (a short run still reaches the base rate)
    const optimizer = new Adam(model, { lr: cosineWithWarmup({ base: cfg.lr, warmup: Math.min(cfg.warmup, total - 1), total }), weightDecay: cfg.weightDecay });

    say(`train classifier: ${numParams(model).toLocaleString('en-US')} parameters, ${cfg.epochs} epochs x ${loader.length} batches of ${cfg.batchSize}, ${pg ? `${pg.worldSize} processes x ` : ''}${getNumThreads()} threads -> ${path.join(runsDir, name)}`);
    const t0 = Date.now();
    const result = await train({
      run: name, runsDir, config: cfg, resume: Boolean(opts.resume), model, optimizer,
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
      processGroup: pg, ...opts.ddp,
      planner: jobPlanner(model, { mode: opts.autotune ?? 'off', job: 'trainClassifier', device, distributed: pg !== undefined && pg !== null, steps: total, log: say }),
    });
    const minutes = (Date.now() - t0) / 60000;
    const base = { step: result.step, model, config: cfg, minutes, runDir: result.run.dir, checkpoint: result.checkpoint };
    if (result.status !== 'completed') return { ...base, status: 'interrupted', accuracy: NaN, logLoss: NaN, out: null };
    if (rank !== 0) return { ...base, status: 'completed', accuracy: NaN, logLoss: NaN, out: null }; // rank 0 evaluates and saves
    const r = evaluate(model, testSet.images, testSet.labels);
    const out = opts.out ?? path.join(result.run.dir, 'classifier.safetensors');
    saveCheckpoint(out, { model, step: result.step, config: { kind: CLASSIFIER_KIND, model: cfg.model, input: CLASSIFIER_INPUT, train: cfg, testAccuracy: r.accuracy, testLogLoss: r.logLoss } });
    // a picture of what it sees: the first test images
    saveImageGrid(path.join(result.run.dir, 'test-samples.png'), testSet.images.narrow(0, 0, 64), { nrow: 16 });
    say(`test accuracy ${(100 * r.accuracy).toFixed(2)}%, log loss ${r.logLoss.toFixed(4)}, ${minutes.toFixed(1)} min; model saved to ${out}`);
    return { ...base, status: 'completed', accuracy: r.accuracy, logLoss: r.logLoss, out };
  } finally {
    trainSet.images.dispose(); trainSet.labels.dispose();
    testSet.images.dispose(); testSet.labels.dispose();
    initGen.dispose();
  }
}

/** Loads a classifier checkpoint written by trainClassifier (config in its metadata), in eval mode. */
export function loadClassifier(file: string = shippedFile(REFERENCE_CHECKPOINT)): FashionClassifier {
  requireFile(file, 'loadClassifier');
  // a throwaway generator for the initial weights: loading leaves the global one alone
  return loadModel(file, CLASSIFIER_KIND, (c: ClassifierConfig) => new FashionClassifier(c, { generator: new Generator(0) }), DEFAULT_CLASSIFIER).model;
}

/** Test accuracy and log loss of a classifier checkpoint on the Fashion-MNIST test set. */
export function evaluateClassifierFile(file: string = shippedFile(REFERENCE_CHECKPOINT), o: { device?: string } = {}): { accuracy: number; logLoss: number; n: number; seconds: number } {
  const device = checkComputeDevice('evaluateClassifierFile', o.device ?? 'cpu');
  const model = loadClassifier(file).to(device);
  const test = datasetTo(fashionMnist('test'), device);
  try {
    const t0 = performance.now();
    const r = evaluate(model, test.images, test.labels);
    return { ...r, seconds: (performance.now() - t0) / 1000 };
  } finally {
    test.images.dispose(); test.labels.dispose();
  }
}
