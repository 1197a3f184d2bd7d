// Training the noise-conditional Fashion-MNIST classifier for classifier guidance
// (noisy_classifier.ts): cross-entropy on x = x0 + sigma * n (x0 in [-1, 1]) at noise levels drawn
// over the sampling range, through the repository's training loop (run folder, progress,
// metrics.jsonl, checkpoints, resume, Ctrl-C). `refinery train noisy-classifier` calls trainNoisyClassifier.
import * as path from 'path';
import { F, Generator, Tensor, assertWritable, functions as torch, getNumThreads, keep, manualSeed } from '../tensor';
import { DataLoader, fashionMnist } from '../data';
import { Adam, cosineWithWarmup } from '../optim';
import { numParams } from '../nn';
import { train, loadModel, saveCheckpoint } from '../train';
import { requireFile, shippedFile } from '../train/shipped';
import { SigmaSampler, logNormalSigmas, logUniformSigmas } from './objectives';
import { DEFAULT_NOISY_CLASSIFIER, NOISY_CLASSIFIER_KIND, NoisyClassifier, NoisyClassifierConfig, evaluateNoisy } from './noisy_classifier';
import { toSymmetric } from './images';

/** How training noise levels are drawn. */
export type NoisySigmaDistribution =
  | { dist: 'loguniform'; min: number; max: number }
  | { dist: 'lognormal'; pMean: number; pStd: number };

export interface NoisyClassifierTrainConfig {
  model: NoisyClassifierConfig;
  steps: number;
  batchSize: number;
  lr: number;
  warmup: number;
  seed: number;
  /**
   * Default: ln sigma uniform over [ln 0.002, ln 80], the whole range an EDM sampler visits, so the
   * guidance gradient is trained wherever it is used (EDM's log-normal, P_mean -1.2, P_std 1.2, puts
   * about 1% of its mass above sigma = 5).
   */
  sigma: NoisySigmaDistribution;
  /** Noise levels of the final test-set evaluation. */
  evalSigmas: number[];
  /** Train on the first `subset` training images only (null: all 60,000). */
  subset: number | null;
}

export const DEFAULT_NOISY_TRAIN: NoisyClassifierTrainConfig = {
  model: DEFAULT_NOISY_CLASSIFIER,
  steps: 3000, batchSize: 128, lr: 2e-3, warmup: 100, seed: 0,
  sigma: { dist: 'loguniform', min: 0.002, max: 80 },
  evalSigmas: [0.002, 0.1, 0.5, 1, 2, 5, 10, 20],
  subset: null,
};

/** Where the committed checkpoint lives (relative to the repository root). */
export const NOISY_CLASSIFIER_CHECKPOINT = 'checkpoints/noisy-classifier.safetensors';

type Labelled = { images: Tensor; labels: Tensor };

export interface TrainNoisyClassifierOptions {
  /** Overrides of DEFAULT_NOISY_TRAIN (model: overrides of DEFAULT_NOISY_CLASSIFIER). */
  config?: Partial<Omit<NoisyClassifierTrainConfig, 'model'>> & { model?: Partial<NoisyClassifierConfig> };
  /** Run folder name under runsDir (default 'noisy-classifier'). */
  name?: string;
  runsDir?: string;
  resume?: boolean;
  /** Final weights (.safetensors); default <run dir>/noisy-classifier.safetensors; null: none. */
  out?: string | null;
  /** Stop after this many minutes of training (then evaluate and save as usual). */
  maxMinutes?: number;
  /** Training images (uint8 0..255 or float [0, 1], (N, C, H, W)) and labels; default Fashion-MNIST train. */
  trainData?: Labelled;
  /** Test images and labels; default Fashion-MNIST test. */
  testData?: Labelled;
  /** Evaluate on the first this many test images (default all). */
  evalImages?: number;
  /** Evaluate on the first 1,000 test images every this many steps (default 1000; null: only the final evaluation). */
  evalEvery?: number | null;
  /** Progress bar (default true). */
  progress?: boolean;
  /** Stop on Ctrl-C with a checkpoint (default true). */
  handleSignals?: boolean;
  /** Where messages go (default console.log; null for none). */
  log?: ((msg: string) => void) | null;
}

export interface NoisyAccuracy {
  sigma: number;
  accuracy: number;
  logLoss: number;
}

export interface TrainNoisyClassifierResult {
  /** 'completed' (all steps), 'time-limit' (maxMinutes reached) or 'interrupted' (signal; not evaluated, not saved). */
  status: 'completed' | 'time-limit' | 'interrupted';
  step: number;
  model: NoisyClassifier;
  config: NoisyClassifierTrainConfig;
  /** Test accuracy at each evaluation sigma ([] when interrupted). */
  accuracy: NoisyAccuracy[];
  /** Wall-clock minutes of training (without the final evaluation). */
  minutes: number;
  runDir: string;
  /** The weights file written, or null. */
  out: string | null;
}

export function noisySigmaSampler(s: NoisySigmaDistribution): SigmaSampler {
  if (s.dist === 'loguniform') {
    if (!(s.min > 0 && s.max > s.min)) throw new RangeError(`noisy classifier: log-uniform sigma needs 0 < min < max, got [${s.min}, ${s.max}]`);
    return logUniformSigmas({ sigmaMin: s.min, sigmaMax: s.max });
  }
  if (s.dist === 'lognormal') {
    if (!(Number.isFinite(s.pMean) && s.pStd > 0)) throw new RangeError(`noisy classifier: log-normal sigma needs a finite pMean and pStd > 0, got ${s.pMean}, ${s.pStd}`);
    return logNormalSigmas({ pMean: s.pMean, pStd: s.pStd });
  }
  throw new TypeError(`noisy classifier: unknown sigma distribution ${JSON.stringify(s)}`);
}

/** Trains a NoisyClassifier with the repository's training loop; see TrainNoisyClassifierOptions. */
export async function trainNoisyClassifier(opts: TrainNoisyClassifierOptions = {}): Promise<TrainNoisyClassifierResult> {
  const over = opts.config ?? {};
  const cfg: NoisyClassifierTrainConfig = { ...DEFAULT_NOISY_TRAIN, ...over, model: { ...DEFAULT_NOISY_CLASSIFIER, ...over.model } };
  for (const k of ['steps', 'batchSize'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) throw new RangeError(`trainNoisyClassifier: ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (!(cfg.lr > 0)) throw new RangeError(`trainNoisyClassifier: lr must be positive, got ${cfg.lr}`);
  if (!Number.isInteger(cfg.warmup) || cfg.warmup < 0) throw new RangeError(`trainNoisyClassifier: warmup must be an integer >= 0, got ${cfg.warmup}`);
  if (!Number.isSafeInteger(cfg.seed) || cfg.seed < 0) throw new RangeError(`trainNoisyClassifier: seed must be a non-negative integer, got ${cfg.seed}`);
  if (cfg.subset !== null && (!Number.isInteger(cfg.subset) || cfg.subset <= 0)) throw new RangeError(`trainNoisyClassifier: subset must be a positive integer or null, got ${cfg.subset}`);
  if (!cfg.evalSigmas.length || cfg.evalSigmas.some((s) => !(s >= 0) || !Number.isFinite(s))) throw new RangeError(`trainNoisyClassifier: evalSigmas must be finite values >= 0, got ${JSON.stringify(cfg.evalSigmas)}`);
  const maxMinutes = opts.maxMinutes ?? Infinity;
  if (!(maxMinutes > 0)) throw new RangeError(`trainNoisyClassifier: maxMinutes must be positive, got ${maxMinutes}`);
  if (typeof opts.out === 'string') assertWritable(opts.out, 'trainNoisyClassifier: out', { createDir: true });
  const drawSigma = noisySigmaSampler(cfg.sigma);
  const say = opts.log === null ? () => {} : (opts.log ?? ((m: string) => console.log(m)));
  const name = opts.name ?? 'noisy-classifier';
  const runsDir = opts.runsDir ?? 'runs';

  manualSeed(cfg.seed);
  const model = new NoisyClassifier(cfg.model, { generator: new Generator(cfg.seed) });
  // sigma and the noise of every step come from one generator whose state goes into the checkpoints
  const noiseGen = new Generator(cfg.seed + 1);
  const ownTrain = !opts.trainData;
  const ownTest = !opts.testData;
  const trainSet: Labelled = opts.trainData ?? fashionMnist('train');
  const testSet: Labelled = opts.testData ?? fashionMnist('test');
  const toDispose: Tensor[] = [];
  try {
    let images = trainSet.images, labels = trainSet.labels;
    if (images.ndim !== 4 || images.shape[1] !== cfg.model.inChannels) {
      throw new TypeError(`trainNoisyClassifier: training images must be (N, ${cfg.model.inChannels}, H, W), got [${images.shape.join(', ')}]`);
    }
    if (cfg.subset !== null && cfg.subset < images.shape[0]) {
      images = keep(images.narrow(0, 0, cfg.subset));
      labels = keep(labels.narrow(0, 0, cfg.subset));
      toDispose.push(images, labels);
    }
    const loader = new DataLoader({ images, labels }, { batchSize: Math.min(cfg.batchSize, images.shape[0]), shuffle: true, seed: cfg.seed, dropLast: true });
    const optimizer = new Adam(model, { lr: cosineWithWarmup({ base: cfg.lr, warmup: Math.min(cfg.warmup, cfg.steps - 1), total: cfg.steps }) });
    const nEval = Math.min(opts.evalImages ?? testSet.images.shape[0], testSet.images.shape[0]);
    const evalImgs = testSet.images.narrow(0, 0, Math.min(1000, nEval));
    const evalLbls = testSet.labels.narrow(0, 0, Math.min(1000, nEval));
    toDispose.push(evalImgs, evalLbls);
    const runDir = path.join(runsDir, name);
    say(`train noisy-classifier: ${numParams(model).toLocaleString('en-US')} parameters (channels ${cfg.model.channels.join('/')}), ` +
      `${cfg.steps} steps of ${loader.batchSize} from ${images.shape[0]} images, sigma ${describeSigma(cfg.sigma)}, ${getNumThreads()} threads -> ${runDir}`);

    const t0 = Date.now();
    let timeUp = false;
    const result = await train({
      run: name, runsDir, config: cfg, resume: Boolean(opts.resume), model, optimizer,
      data: (epoch, startBatch) => loader.epoch(epoch, { startBatch }),
      stepFn: (batch: Labelled) => {
        const x0 = toSymmetric(batch.images);
        const b = x0.shape[0];
        const sigma = drawSigma(b, noiseGen); // (B,) float64
        const x = x0.add(torch.randn(x0.shape, { generator: noiseGen }).mul(sigma.to('float32').reshape([b, 1, 1, 1])));
        const logits: Tensor = model(x, sigma);
        const loss = F.crossEntropy(logits, batch.labels);
        return { loss, accuracy: logits.argmax(1).eq(batch.labels).float().mean() };
      },
      steps: cfg.steps, stepsPerEpoch: loader.length, logEvery: 50,
      evalEvery: opts.evalEvery === null ? undefined : (opts.evalEvery ?? 1000), checkpointEvery: 500,
      evalFn: opts.evalEvery === null ? undefined : () => {
        // a fixed noise draw, so evaluations of different steps are comparable
        const g = new Generator(12345);
        const out: Record<string, number> = {};
        for (const s of [0.5, 2, 5]) out[`accuracy@${s}`] = evaluateNoisy(model, evalImgs, evalLbls, s, { generator: g }).accuracy;
        g.dispose();
        return out;
      },
      generators: { noise: noiseGen },
      shouldStop: () => (timeUp = (Date.now() - t0) / 60000 > maxMinutes),
      handleSignals: opts.handleSignals ?? true,
      progress: opts.progress ?? true,
    });
    const minutes = (Date.now() - t0) / 60000;
    if (result.status === 'interrupted' && !timeUp) {
      say(`interrupted at step ${result.step}; checkpoint ${result.checkpoint} (train again with resume: true to continue)`);
      return { status: 'interrupted', step: result.step, model, config: cfg, accuracy: [], minutes, runDir: result.run.dir, out: null };
    }
    const status = result.status === 'completed' ? 'completed' : 'time-limit';
    if (status === 'time-limit') say(`time limit of ${maxMinutes} min reached at step ${result.step} of ${cfg.steps}`);

    // the test set at fixed noise levels, each with its own fixed noise draw
    const testImgs = testSet.images.narrow(0, 0, nEval), testLbls = testSet.labels.narrow(0, 0, nEval);
    toDispose.push(testImgs, testLbls);
    const accuracy: NoisyAccuracy[] = cfg.evalSigmas.map((sigma, i) => {
      const g = new Generator(1000 + i);
      const r = evaluateNoisy(model, testImgs, testLbls, sigma, { generator: g });
      g.dispose();
      return { sigma, accuracy: r.accuracy, logLoss: r.logLoss };
    });
    const out = opts.out === null ? null : (opts.out ?? path.join(result.run.dir, 'noisy-classifier.safetensors'));
    if (out) {
      saveCheckpoint(out, {
        model, step: result.step,
        config: { kind: NOISY_CLASSIFIER_KIND, model: cfg.model, train: cfg, status, minutes, testImages: nEval, testAccuracy: accuracy },
      });
    }
    say(`test accuracy (${nEval} images) by sigma: ${accuracy.map((a) => `${a.sigma}: ${(100 * a.accuracy).toFixed(2)}%`).join(', ')}`);
    say(`${result.step} steps in ${minutes.toFixed(1)} min${out ? `; weights saved to ${out}` : ''}`);
    return { status, step: result.step, model, config: cfg, accuracy, minutes, runDir: result.run.dir, out };
  } finally {
    for (const t of toDispose) t.dispose();
    noiseGen.dispose();
    if (ownTrain) { trainSet.images.dispose(); trainSet.labels.dispose(); }
    if (ownTest) { testSet.images.dispose(); testSet.labels.dispose(); }
  }
}

function describeSigma(s: NoisySigmaDistribution): string {
  return s.dist === 'loguniform' ? `log-uniform [${s.min}, ${s.max}]` : `log-normal (P_mean ${s.pMean}, P_std ${s.pStd})`;
}


/** Loads weights written by trainNoisyClassifier / `refinery train noisy-classifier` (config in the metadata), in eval mode. */
export function loadNoisyClassifier(file: string = shippedFile(NOISY_CLASSIFIER_CHECKPOINT)): NoisyClassifier {
  requireFile(file, 'loadNoisyClassifier');
  // a throwaway generator for the initial weights: loading leaves the global one alone
  return loadModel(file, NOISY_CLASSIFIER_KIND, (c: NoisyClassifierConfig) => new NoisyClassifier(c, { generator: new Generator(0) }), DEFAULT_NOISY_CLASSIFIER).model;
}
