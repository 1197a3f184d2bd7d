// refinery ood: trains a small PixelCNN on Fashion-MNIST, then compares likelihood thresholding with
// the typicality test (Nalisnick et al. 2019) at detecting MNIST digits as out-of-distribution, and
// checks the "too likely" case (greedy completions, a blank image). Writes runs/typicality/ood.json.
import * as fs from 'fs';
import * as path from 'path';
import { Generator, Tensor, functions as torch, getNumThreads, keep, manualSeed, noGrad, scope, writeFileAtomic } from '../tensor';
import { DataLoader, fashionMnist, mnistDigits, saveImageGrid } from '../data';
import { Adam, cosineWithWarmup } from '../optim';
import { numParams } from '../nn';
import { train, saveCheckpoint } from '../train';
import { DEFAULT_PIXELCNN, PixelCNN, PixelCNNConfig, quantize } from '../typicality/pixelcnn';
import {
  DetectorResult, bootstrapThreshold, entropyEstimate, histogram, isAtypical, likelihoodDetector, quantile, rocCurve, typicalityDetector,
} from '../typicality/ood';
import { intFlag, parseFlags } from './args';

export interface OodConfig {
  model: PixelCNNConfig;
  subset: number;
  epochs: number;
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
  model: DEFAULT_PIXELCNN, subset: 10000, epochs: 1, batchSize: 32, lr: 2e-3, seed: 0,
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

export async function runOod(args: string[]): Promise<number> {
  const { flags } = parseFlags(args);
  const num = (name: string, d: number): number => (flags[name] !== undefined ? Number(flags[name]) : d);
  const cfg: OodConfig = {
    ...DEFAULT_OOD,
    model: {
      ...DEFAULT_PIXELCNN,
      channels: intFlag(flags, 'channels', DEFAULT_PIXELCNN.channels),
      blocks: intFlag(flags, 'blocks', DEFAULT_PIXELCNN.blocks),
      levels: intFlag(flags, 'levels', DEFAULT_PIXELCNN.levels),
    },
    subset: intFlag(flags, 'subset', DEFAULT_OOD.subset),
    epochs: intFlag(flags, 'epochs', DEFAULT_OOD.epochs),
    batchSize: intFlag(flags, 'batch-size', DEFAULT_OOD.batchSize),
    lr: num('lr', DEFAULT_OOD.lr),
    seed: intFlag(flags, 'seed', DEFAULT_OOD.seed),
    alpha: num('alpha', DEFAULT_OOD.alpha),
    bootstrap: intFlag(flags, 'bootstrap', DEFAULT_OOD.bootstrap),
    entropyImages: intFlag(flags, 'entropy-images', DEFAULT_OOD.entropyImages),
    greedy: intFlag(flags, 'greedy', DEFAULT_OOD.greedy),
  };
  if (!(cfg.lr > 0)) throw new Error(`--lr: expected a positive number, got ${String(flags.lr)}`);
  if (!(cfg.alpha > 0 && cfg.alpha < 1)) throw new Error(`--alpha: expected a number in (0, 1), got ${String(flags.alpha)}`);
  const maxSteps = flags.steps !== undefined ? intFlag(flags, 'steps', 0) : undefined;
  const maxMinutes = flags['max-minutes'] !== undefined ? Number(flags['max-minutes']) : Infinity;
  const evalLimit = intFlag(flags, 'eval-images', 10000);
  const runsDir = typeof flags['runs-dir'] === 'string' ? flags['runs-dir'] : 'runs';
  const name = typeof flags.name === 'string' ? flags.name : 'pixelcnn';
  const outFile = typeof flags.out === 'string' ? flags.out : path.join(runsDir, 'typicality', 'ood.json');

  manualSeed(cfg.seed);
  const model = new PixelCNN(cfg.model, { generator: new Generator(cfg.seed) });
  const fm = fashionMnist('train');
  const fmTest = fashionMnist('test');
  const digits = mnistDigits('test');
  const trainImages = keep(fm.images.narrow(0, 0, Math.min(cfg.subset, fm.images.shape[0])).clone());
  const loader = new DataLoader({ images: trainImages }, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed, dropLast: true });
  const total = maxSteps ?? cfg.epochs * loader.length;
  const optimizer = new Adam(model, { lr: cosineWithWarmup({ base: cfg.lr, warmup: Math.min(100, Math.floor(total / 10)), total }) });
  console.log(`refinery ood: PixelCNN ${numParams(model).toLocaleString('en-US')} parameters (${cfg.model.channels} channels, ${cfg.model.blocks} blocks, ${cfg.model.levels} levels), ` +
    `${cfg.epochs} epoch(s) x ${loader.length} batches of ${cfg.batchSize} from ${trainImages.shape[0]} Fashion-MNIST images${maxSteps ? `, at most ${maxSteps} steps` : ''}, ${getNumThreads()} threads -> ${path.join(runsDir, name)}`);
  const t0 = Date.now();
  const heldSmall = keep(fmTest.images.narrow(0, 0, 500).clone());
  const result = await train({
    run: name, runsDir, config: { ...cfg, maxSteps: maxSteps ?? null }, resume: Boolean(flags.resume), model, optimizer,
    data: (epoch, startBatch) => loader.epoch(epoch, { startBatch }),
    stepFn: (batch: { images: Tensor }) => ({ loss: model.loss(quantize(batch.images, cfg.model.levels)) }),
    epochs: cfg.epochs, steps: maxSteps, stepsPerEpoch: loader.length, logEvery: 20,
    evalEvery: 'epoch', checkpointEvery: 'epoch',
    evalFn: () => ({ bitsPerDim: meanOf(bitsPerDim(model, heldSmall)) }),
    shouldStop: () => (Date.now() - t0) / 60000 > maxMinutes,
  });
  const trainMinutes = (Date.now() - t0) / 60000;
  saveCheckpoint(path.join(result.run.dir, 'pixelcnn.safetensors'), { model, step: result.step, config: { kind: 'pixelcnn', model: cfg.model } });
  console.log(`trained ${result.step} steps in ${trainMinutes.toFixed(1)} min (${result.status})`);

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
  console.log(`bits/dim: Fashion-MNIST train ${fix(meanOf(bpdTrain))} (= Ĥ), test held-out ${fix(meanOf(bpdHeld))}, test eval ${fix(meanOf(bpdEval))}, MNIST ${fix(meanOf(bpdMnist))} ` +
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
  console.log(`too-likely probes: ${((Date.now() - t2) / 1000).toFixed(0)} s`);

  // --- report ---
  const table = rows.map(({ inScores: _i, oodScores: _o, ...r }) => r);
  const roc: Record<string, [number, number][]> = {};
  for (const r of rows) roc[r.method === 'likelihood' ? 'likelihood' : `typicality M=${r.batchSize}`] = rocCurve(r.inScores, r.oodScores, { maxPoints: 200 });
  const all = [...bpdTrain, ...bpdEval, ...bpdMnist];
  const lo = Math.min(...all), hi = Math.max(...all);
  const histograms = {
    'Fashion-MNIST train': histogram(bpdTrain, { bins: 50, lo, hi }),
    'Fashion-MNIST test': histogram(bpdEval, { bins: 50, lo, hi }),
    'MNIST (OOD)': histogram(bpdMnist, { bins: 50, lo, hi }),
  };
  const report = {
    config: cfg, steps: result.step, trainMinutes, entropy: H,
    meanBitsPerDim: { fashionTrain: meanOf(bpdTrain), fashionHeldOut: meanOf(bpdHeld), fashionEval: meanOf(bpdEval), mnist: meanOf(bpdMnist) },
    notes: 'bits/dim = -log2 p(x) / 784 under a discrete PixelCNN; OOD positive class = MNIST; AUROC over single images (likelihood, typicality M=1) or disjoint batches of M; ' +
      `thresholds calibrated on ${bpdHeld.length} held-out Fashion-MNIST test images at alpha = ${cfg.alpha}; fpr/tpr = flagged fractions of in-distribution / OOD evaluation inputs or batches; histogram bins are edges (counts.length + 1).`,
    table, tooLikely, roc, histograms,
  };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileAtomic(outFile, Buffer.from(JSON.stringify(report, null, 1), 'utf8'));

  console.log(`\nĤ = ${fix(H)} bits/dim (mean over ${bpdTrain.length} training images); alpha = ${cfg.alpha}, K = ${cfg.bootstrap} bootstrap batches`);
  console.log('method        M   AUROC   threshold  FPR     TPR     batches (in/ood)');
  for (const r of table) {
    console.log(`${r.method.padEnd(12)} ${String(r.batchSize).padStart(2)}   ${fix(r.auroc)}   ${fix(r.threshold, 4).padStart(8)}  ${fix(r.fpr)}   ${fix(r.tpr)}   ${r.nIn}/${r.nOod}`);
  }
  console.log('\ntoo likely?                                  n   mean bpd  likelihood flags  typicality(M=1) flags  typicality(batch)');
  for (const t of tooLikely) {
    console.log(`${t.input.padEnd(44)} ${String(t.n).padStart(2)}  ${fix(t.meanBpd)}     ${fix(t.likelihoodFlagged, 2).padStart(6)}            ${fix(t.typicalityM1Flagged, 2).padStart(6)}                 ${t.typicalityBatchFlagged === null ? '-' : t.typicalityBatchFlagged}`);
  }
  console.log(`\nwrote ${outFile}`);
  for (const t of [trainImages, heldSmall, blank, completions, fm.images, fm.labels, fmTest.images, fmTest.labels, digits.images, digits.labels]) t?.dispose();
  return 0;
}

if (require.main === module) {
  runOod(process.argv.slice(2)).then((c) => process.exit(c), (e) => { console.error(e); process.exit(1); });
}
