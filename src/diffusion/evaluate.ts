// Sampling a trained Fashion-MNIST diffusion model to a PNG grid, and evaluating it with the
// reference classifier's penultimate features: classifier-FID against the test set, class
// adherence, within-class diversity (and bits/dim). `refinery sample` calls sampleGrid and
// `refinery eval diffusion` evaluateDiffusion.
import * as path from 'path';
import { Generator, Tensor, assertWritable, checkComputeDevice, functions as torch, keep, noGrad, scope, tensor } from '../tensor';
import { FASHION_MNIST_CLASSES, fashionMnist, saveImageGrid } from '../data';
import { requireFile, shippedFile } from '../train/shipped';
import { FashionClassifier } from '../vision/classifier';
import { REFERENCE_CHECKPOINT, loadClassifier } from '../vision/train_classifier';
import { GenerateOptions, generate, loadDiffusionModel } from './model';
import { SamplerName, samplerNfe, stepsForNfe } from './samplers';
import { FeatureStats, featureStats, frechetDistance, withinClassDiversity } from './metrics';
import { bitsPerDim } from './likelihood';
import { noisyClassifierLogProb } from './noisy_classifier';
import { NOISY_CLASSIFIER_CHECKPOINT, loadNoisyClassifier } from './noisy_classifier_train';
import { DIFFUSION_CHECKPOINT, classGridLabels, fashionSymmetric } from './train';
import { toUnit } from './images';

/** Classifier guidance with the noise-conditional classifier in `file` (default: the shipped one) at `scale`. */
export function noisyClassifierGuidance(scale: number, file: string = shippedFile(NOISY_CLASSIFIER_CHECKPOINT), device = 'cpu'): NonNullable<GenerateOptions['classifier']> {
  if (!(scale >= 0) || !Number.isFinite(scale)) throw new RangeError(`noisyClassifierGuidance: scale must be a finite number >= 0, got ${scale}`);
  const clf = loadNoisyClassifier(file);
  if (device !== 'cpu') clf.to(checkComputeDevice('noisyClassifierGuidance', device));
  return { logProb: (labels) => noisyClassifierLogProb(clf, labels), scale };
}

/** The sampling settings shared by sampleGrid and evaluateDiffusion (see GenerateOptions). */
export type SamplingSettings = Omit<GenerateOptions, 'labels' | 'progress' | 'callback' | 'classifier'> & {
  sampler?: SamplerName;
  /** Noise levels (default 18), or give `nfe`: the most steps that spend at most that many network evaluations. */
  steps?: number;
  nfe?: number;
};

export interface SampleGridOptions extends SamplingSettings {
  /** A diffusion checkpoint (default: the shipped model). */
  checkpoint?: string;
  /** Number of samples (default 64). */
  n?: number;
  /** One class for every sample (-1: unconditional); default: classes 0-9 in turn, one per column. */
  classLabel?: number;
  /** Classifier guidance: its scale and (optionally) the noise-conditional classifier's file. */
  classifierGuidance?: { scale: number; file?: string };
  /** The PNG file to write (default samples.png). */
  out?: string;
  /** A progress bar label (default none). */
  progress?: string;
}

/** Draws samples from a checkpoint and writes them as a PNG grid; returns what it did. */
export function sampleGrid(o: SampleGridOptions = {}): { n: number; sampler: SamplerName; steps: number; guidance: number; seconds: number; out: string; description: string } {
  const checkpoint = o.checkpoint ?? shippedFile(DIFFUSION_CHECKPOINT);
  const n = o.n ?? 64;
  if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`sampleGrid: n must be a positive integer, got ${n}`);
  const cls = o.classLabel;
  if (cls !== undefined && !(Number.isInteger(cls) && cls >= -1 && cls < 10)) throw new RangeError(`sampleGrid: classLabel must be a class index 0..9 or -1 (unconditional), got ${cls}`);
  const sampler = o.sampler ?? 'heun';
  const steps = o.nfe !== undefined ? stepsForNfe(sampler, o.nfe) : (o.steps ?? 18);
  const guidance = o.guidance ?? 3;
  const out = o.out ?? 'samples.png';
  const device = checkComputeDevice('sampleGrid', o.device ?? 'cpu');
  requireFile(checkpoint, 'sampleGrid');
  assertWritable(out, 'sampleGrid: out', { createDir: true });
  const classifier = o.classifierGuidance ? noisyClassifierGuidance(o.classifierGuidance.scale, o.classifierGuidance.file, device) : undefined;
  const { net, denoiser } = loadDiffusionModel(checkpoint);
  net.to(device);
  const labels = cls === undefined ? Array.from({ length: n }, (_, i) => i % 10) : new Array<number>(n).fill(cls);
  const t0 = performance.now();
  const { nfe: _nfe, checkpoint: _c, n: _n, classLabel: _l, classifierGuidance: _g, out: _o, ...settings } = o;
  const imgs = generate(denoiser, { ...settings, labels, sampler, steps, guidance, classifier, progress: o.progress, device });
  try {
    saveImageGrid(out, toUnit(imgs), { nrow: cls === undefined ? 10 : Math.ceil(Math.sqrt(n)) });
  } finally {
    imgs.dispose();
  }
  const description = cls === undefined ? 'classes 0-9 in columns' : `class ${cls} ${cls >= 0 ? FASHION_MNIST_CLASSES[cls] : 'unconditional'}`;
  return { n, sampler, steps, guidance, seconds: (performance.now() - t0) / 1000, out, description };
}

/** Penultimate features (float64) and predicted classes of images in [0, 1], in batches. */
export function classifierFeatures(classifier: FashionClassifier, imagesUnit: Tensor, batch = 500): { feats: Tensor; pred: Tensor } {
  return noGrad(() => {
    const fs_: Tensor[] = [], ps: Tensor[] = [];
    for (let i = 0; i < imagesUnit.shape[0]; i += batch) {
      scope(() => {
        const x = imagesUnit.narrow(0, i, Math.min(batch, imagesUnit.shape[0] - i));
        const f = classifier.features(x);
        fs_.push(keep(f.to('float64')));
        ps.push(keep(classifier.out(f).argmax(1)));
      });
    }
    const feats = torch.cat(fs_, 0), pred = torch.cat(ps, 0);
    fs_.forEach((t) => t.dispose()); ps.forEach((t) => t.dispose());
    return { feats, pred };
  });
}

/** Reference statistics of the test set in the classifier's feature space (cached per process and key). */
let referenceCache: { key: string; stats: FeatureStats; diversity: number } | null = null;

function reference(classifier: FashionClassifier, key: string): { stats: FeatureStats; diversity: number } {
  if (referenceCache?.key === key) return referenceCache;
  const test = fashionMnist('test', { dtype: 'float32' });
  const { feats, pred } = classifierFeatures(classifier, test.images);
  const stats = featureStats(feats);
  keep(stats.mu); keep(stats.cov);
  const diversity = withinClassDiversity(feats, Array.from(test.labels.dataSync() as ArrayLike<number | bigint>, Number), 10).mean;
  feats.dispose(); pred.dispose(); test.images.dispose(); test.labels.dispose();
  if (referenceCache) { referenceCache.stats.mu.dispose(); referenceCache.stats.cov.dispose(); }
  referenceCache = { key, stats, diversity };
  return referenceCache;
}

export interface SampleMetrics {
  fid: number;
  adherence: number;
  diversity: number;
  referenceDiversity: number;
  n: number;
}

/**
 * classifier-FID against the test set, class adherence and within-class diversity of images in
 * [-1, 1] with intended `labels` (-1: unconditional). `classifierKey` names the classifier for the
 * cache of the test set's statistics.
 */
export function sampleMetrics(classifier: FashionClassifier, images: Tensor, labels: number[], classifierKey = 'default'): SampleMetrics {
  const ref = reference(classifier, classifierKey);
  const unit = toUnit(images);
  const { feats, pred } = classifierFeatures(classifier, unit);
  unit.dispose();
  const stats = featureStats(feats);
  const fid = frechetDistance(stats, ref.stats);
  const p = Array.from(pred.dataSync() as ArrayLike<number | bigint>, Number);
  const conditional = labels.map((l, i) => [l, p[i]]).filter(([l]) => l >= 0);
  const adherence = conditional.length ? conditional.filter(([l, q]) => l === q).length / conditional.length : NaN;
  // diversity within each intended class (or within each predicted class for unconditional samples)
  const groups = labels.map((l, i) => (l >= 0 ? l : p[i]));
  const diversity = withinClassDiversity(feats, groups, 10).mean;
  feats.dispose(); pred.dispose(); stats.mu.dispose(); stats.cov.dispose();
  return { fid, adherence, diversity, referenceDiversity: ref.diversity, n: labels.length };
}

export interface EvalRow extends SampleMetrics {
  setting: { sampler: SamplerName; steps: number; guidance?: number; temperature?: number; classifierGuidance?: number };
  nfe: number;
  seconds: number;
}

export interface EvaluateDiffusionOptions extends Omit<SamplingSettings, 'sampler' | 'nfe' | 'guidance' | 'temperature'> {
  /** A diffusion checkpoint (default: the shipped model). */
  checkpoint?: string;
  /** The reference classifier (default: the shipped one). */
  classifier?: string;
  /** Samples per row (default 1000), classes balanced unless `unconditional`. */
  n?: number;
  unconditional?: boolean;
  /** Every combination of these is one row (defaults: heun; `steps`; guidance 3; no temperature; no classifier guidance). */
  samplers?: SamplerName[];
  nfes?: number[];
  guidances?: number[];
  temperatures?: number[];
  classifierGuidance?: number[];
  /** The noise-conditional classifier for classifier guidance (default: the shipped one). */
  noisyClassifier?: string;
  /** Write the first 8 samples of each class of each row as a PNG grid into this folder. */
  grids?: string;
  /** Also the metrics of n real training images (FID's small-sample floor). */
  floor?: boolean;
  /** Bits/dim of this many test images (PF-ODE, Hutchinson), with `bpdSteps` Heun steps (default 48). */
  bpd?: number;
  bpdSteps?: number;
  /** Only bits/dim, no sampling. */
  bpdOnly?: boolean;
  /** Called with each row as it is done. */
  onRow?: (row: EvalRow) => void;
  /** Progress bars (default true). */
  progress?: boolean;
}

export interface EvaluateDiffusionResult {
  rows: EvalRow[];
  floor?: SampleMetrics;
  bpd?: { bitsPerDim: number; stderr: number; images: number; seconds: number };
}

/**
 * For each combination of the listed settings, draws `n` samples (the same seed for every row) and
 * measures classifier-FID, adherence and diversity; optionally the real-data floor and bits/dim.
 */
export function evaluateDiffusion(o: EvaluateDiffusionOptions = {}): EvaluateDiffusionResult {
  const checkpoint = o.checkpoint ?? shippedFile(DIFFUSION_CHECKPOINT);
  const clfPath = o.classifier ?? shippedFile(REFERENCE_CHECKPOINT);
  const n = o.n ?? 1000;
  if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`evaluateDiffusion: n must be a positive integer, got ${n}`);
  if (o.bpdOnly && o.bpd === undefined) throw new RangeError('evaluateDiffusion: bpdOnly needs bpd (the number of test images)');
  requireFile(checkpoint, 'evaluateDiffusion');
  requireFile(clfPath, 'evaluateDiffusion');
  if (o.grids) assertWritable(path.join(o.grids, 'grid.png'), 'evaluateDiffusion: grids', { createDir: true });
  const samplers = o.samplers ?? ['heun'];
  const nfes: (number | null)[] = o.nfes ?? [null];
  const guidances = o.guidances ?? [3];
  const temperatures: (number | undefined)[] = o.temperatures ?? [undefined];
  const cgScales: (number | undefined)[] = o.classifierGuidance ?? [undefined];
  const { denoiser } = loadDiffusionModel(checkpoint);
  const classifier = loadClassifier(clfPath);
  const cgOption = cgScales[0] === undefined ? undefined : noisyClassifierGuidance(1, o.noisyClassifier);
  const labels = Array.from({ length: n }, (_, i) => (o.unconditional ? -1 : i % 10));
  const {
    checkpoint: _ck, classifier: _cl, n: _n, unconditional: _u, samplers: _s, nfes: _nf, guidances: _g, temperatures: _t, classifierGuidance: _cg,
    noisyClassifier: _nc, grids: _gr, floor: _f, bpd: _b, bpdSteps: _bs, bpdOnly: _bo, onRow: _or, progress: _p, ...shared
  } = o;
  const result: EvaluateDiffusionResult = { rows: [] };
  if (!o.bpdOnly) for (const sampler of samplers) for (const nfe of nfes) for (const guidance of guidances) for (const temperature of temperatures) for (const cg of cgScales) {
    const steps = nfe === null ? (o.steps ?? 18) : stepsForNfe(sampler, nfe);
    const classifierOpt = cg === undefined ? undefined : { ...cgOption!, scale: cg };
    const what = cg !== undefined ? `classifier γ=${cg}` : temperature === undefined ? `γ=${guidance}` : `T=${temperature}`;
    const t0 = performance.now();
    const imgs = generate(denoiser, {
      ...shared, labels, sampler, steps, guidance, temperature, classifier: classifierOpt,
      progress: o.progress === false ? undefined : `${sampler} ${steps} steps ${what}`,
    });
    const seconds = (performance.now() - t0) / 1000;
    const m = sampleMetrics(classifier, imgs, labels, clfPath);
    if (o.grids) {
      const tag = `${sampler}-${steps}-${cg !== undefined ? `cg${cg}` : temperature === undefined ? `g${guidance}` : `t${temperature}`}`;
      // the first 8 samples of each class, one class per row
      const idx = classGridLabels(8).map((c, k) => c + 10 * (k % 8)).filter((i) => i < n);
      saveImageGrid(path.join(o.grids, `${tag}.png`), scope(() => toUnit(imgs.indexSelect(0, tensor(idx, { dtype: 'int64' })))), { nrow: 8 });
    }
    imgs.dispose();
    const guided = temperature === undefined && cg === undefined && guidance !== 0 && guidance !== 1;
    const row: EvalRow = {
      setting: { sampler, steps, guidance: temperature === undefined && cg === undefined ? guidance : undefined, temperature, classifierGuidance: cg },
      nfe: samplerNfe(sampler, steps) * (guided ? 2 : 1), seconds, ...m,
    };
    result.rows.push(row);
    o.onRow?.(row);
  }
  if (o.floor) {
    // the same metrics for n real training images: FID's small-sample floor, the classifier's own adherence, real diversity
    const train = fashionSymmetric('train');
    const g = new Generator(0);
    const idx = torch.randperm(train.images.shape[0], { generator: g }).narrow(0, 0, Math.min(n, train.images.shape[0]));
    const imgs = train.images.indexSelect(0, idx);
    const lab = Array.from(train.labels.indexSelect(0, idx).dataSync() as ArrayLike<number | bigint>, Number);
    result.floor = sampleMetrics(classifier, imgs, lab, clfPath);
    imgs.dispose(); idx.dispose(); train.images.dispose(); train.labels.dispose(); g.dispose();
  }
  if (o.bpd !== undefined) {
    const count = o.bpd;
    const test = fashionSymmetric('test');
    if (!Number.isSafeInteger(count) || count <= 0 || count > test.images.shape[0]) {
      test.images.dispose(); test.labels.dispose();
      throw new RangeError(`evaluateDiffusion: bpd must be an integer in [1, ${test.images.shape[0]}] (test images), got ${count}`);
    }
    const x = test.images.narrow(0, 0, count);
    const g = new Generator(0);
    const t0 = performance.now();
    const bpd = noGrad(() => {
      const parts: number[] = [];
      for (let i = 0; i < count; i += 16) {
        const xb = x.narrow(0, i, Math.min(16, count - i));
        const v = scope(() => bitsPerDim(denoiser, xb, { generator: g, steps: o.bpdSteps ?? 48, extra: { labels: null } }));
        parts.push(...Array.from(v.dataSync() as unknown as ArrayLike<number>));
        v.dispose();
      }
      return parts;
    });
    const mean = bpd.reduce((s, v) => s + v, 0) / bpd.length;
    const se = bpd.length > 1 ? Math.sqrt(bpd.reduce((s, v) => s + (v - mean) ** 2, 0) / (bpd.length - 1) / bpd.length) : NaN;
    result.bpd = { bitsPerDim: mean, stderr: se, images: count, seconds: (performance.now() - t0) / 1000 };
    test.images.dispose(); test.labels.dispose(); g.dispose();
  }
  return result;
}
