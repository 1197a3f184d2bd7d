// Training, evaluation and ensembling of the rotation-invariant convnets (rotnet.ts) on the rotated
// tasks (src/data/rotated.ts), through the repository's training loop: run folder, progress bar,
// metrics.jsonl, checkpoints, exact resume, Ctrl-C, a time budget, and a report with the learning
// curves, a confusion matrix and a preview of an augmented batch. `refinery train rotnet`,
// `refinery eval rotnet` and `refinery ensemble` call trainRotnet, evaluateRotnet and rotnetEnsemble.
import * as fs from 'fs';
import * as path from 'path';
import { F, Generator, Tensor, assertWritable, functions as torch, getNumThreads, keep, manualSeed, noGrad, saveFile, scope, writeFileAtomic } from '../tensor';
import {
  AugmentationRanges, AugmentedLoader, DataLoader, PseudoLabelLoader, RotatedTask, RotatedTaskName, ROTATED_TASKS, disposeTask, predictTTA,
  rotatedTask, saveImageGrid,
} from '../data';
import { Adam } from '../optim';
import { numParams } from '../nn';
import { Progress, confusionPlot, fitEnsembleWeights, loadModel, logLossOf, mixProbs, saveCheckpoint, train, writeReport } from '../train';
import { requireFile } from '../train/shipped';
import { DEFAULT_ROTNET, ROTNET_KIND, Rotnet, RotnetArch, RotnetConfig, widthForParams } from './rotnet';

/**
 * Training augmentation on the rotated tasks: the plankton recipe (rotation uniform 0–360°,
 * log-uniform zoom and stretch, shear, translation) with ranges scaled to 31x31 images of objects
 * that already vary in angle and size; no flips (a mirrored digit is another shape).
 */
export const ROTNET_AUGMENTATION: AugmentationRanges = {
  rotation: [0, 360], zoom: [1 / 1.15, 1.15], stretch: [1 / 1.1, 1.1], shear: [-8, 8], translation: [-2, 2], flip: false,
};
/** TTA ranges: "slightly more modest" than training's, as the post. */
export const ROTNET_TTA: AugmentationRanges = {
  rotation: [0, 360], zoom: [1 / 1.08, 1.08], stretch: [1 / 1.05, 1.05], shear: [-4, 4], translation: [-1, 1], flip: false,
};

export interface RotnetTrainConfig {
  task: RotatedTaskName;
  model: RotnetConfig;
  batchSize: number;
  lr: number;
  weightDecay: number;
  /** Realtime augmentation of every batch (ROTNET_AUGMENTATION). */
  augment: boolean;
  seed: number;
  /** Checkpoints whose TTA predictions on the unlabelled pool become soft pseudo-labels (none: supervised only). */
  pseudoFrom: string[];
  /** Share of each batch from the pseudo-labelled pool (the post: 33% in most experiments). */
  pseudoFraction: number;
  /** TTA transforms for the pseudo-labels. */
  pseudoTta: number;
}

export const DEFAULT_ROTNET_TRAIN: RotnetTrainConfig = {
  task: 'mnist-rot', model: DEFAULT_ROTNET, batchSize: 32, lr: 1e-3, weightDecay: 0, augment: true, seed: 0,
  pseudoFrom: [], pseudoFraction: 1 / 3, pseudoTta: 8,
};

export interface TrainRotnetOptions {
  /** Overrides of DEFAULT_ROTNET_TRAIN (model: of DEFAULT_ROTNET). */
  config?: Partial<Omit<RotnetTrainConfig, 'model'>> & { model?: Partial<RotnetConfig> };
  /** Choose the width that gives this many parameters instead of config.model.width (equal-size comparisons). */
  params?: number;
  /** Training time budget in minutes (default 10); training also stops after maxSteps. */
  maxMinutes?: number;
  maxSteps?: number;
  /** Validation metrics and a checkpoint every this many steps (default 200). */
  evalEvery?: number;
  name?: string;
  runsDir?: string;
  resume?: boolean;
  /** Final weights (.safetensors); default <run dir>/model.safetensors. */
  out?: string;
  log?: ((msg: string) => void) | null;
  /** Progress bars (default true). */
  progress?: boolean;
  /** The task already built (rotatedTask(config.task)); the caller keeps ownership. */
  task?: RotatedTask;
}

export interface SplitMetrics { accuracy: number; logLoss: number; n: number }

export interface TrainRotnetResult {
  status: 'completed' | 'interrupted';
  step: number;
  config: RotnetTrainConfig;
  params: number;
  /** Examples seen (batches x batch size) and example-views through the convnet (x views). */
  examples: number;
  runDir: string;
  out: string | null;
  checkpoint: string;
  minutes: number;
  train?: SplitMetrics;
  valid?: SplitMetrics;
  test?: SplitMetrics;
}

/** Trains a rotnet on a rotated task; writes the run folder, the weights and result.json. */
export async function trainRotnet(opts: TrainRotnetOptions = {}): Promise<TrainRotnetResult> {
  const over = opts.config ?? {};
  const cfg: RotnetTrainConfig = { ...DEFAULT_ROTNET_TRAIN, ...over, model: { ...DEFAULT_ROTNET, ...over.model } };
  if (!ROTATED_TASKS.includes(cfg.task)) throw new TypeError(`trainRotnet: task must be one of ${ROTATED_TASKS.join(', ')}, got ${JSON.stringify(cfg.task)}`);
  if (opts.params !== undefined) cfg.model = { ...cfg.model, width: widthForParams(cfg.model.arch, opts.params, cfg.model) };
  if (!Number.isSafeInteger(cfg.batchSize) || cfg.batchSize < 2) throw new RangeError(`trainRotnet: batchSize must be an integer >= 2, got ${cfg.batchSize}`);
  if (!(cfg.lr > 0 && Number.isFinite(cfg.lr))) throw new RangeError(`trainRotnet: lr must be a positive number, got ${cfg.lr}`);
  if (!Number.isSafeInteger(cfg.seed) || cfg.seed < 0) throw new RangeError(`trainRotnet: seed must be a non-negative integer, got ${cfg.seed}`);
  if (!(cfg.pseudoFraction >= 0 && cfg.pseudoFraction < 1)) throw new RangeError(`trainRotnet: pseudoFraction must be in [0, 1), got ${cfg.pseudoFraction}`);
  for (const f of cfg.pseudoFrom) requireFile(f, 'trainRotnet: pseudoFrom');
  const maxMinutes = opts.maxMinutes ?? 10;
  if (!(maxMinutes > 0)) throw new RangeError(`trainRotnet: maxMinutes must be > 0, got ${maxMinutes}`);
  const evalEvery = opts.evalEvery ?? 200;
  const say = opts.log === null ? () => {} : (opts.log ?? ((m: string) => console.log(m)));
  const runsDir = opts.runsDir ?? 'runs';
  const name = opts.name ?? `rotnet-${cfg.task}-${cfg.model.arch}`;
  if (opts.out !== undefined) assertWritable(opts.out, 'trainRotnet: out', { createDir: true });

  if (opts.task && opts.task.name !== cfg.task) throw new TypeError(`trainRotnet: the task given is ${opts.task.name}, the config's ${cfg.task}`);
  const task = opts.task ?? rotatedTask(cfg.task);
  const owned: Tensor[] = [];
  const gens: Generator[] = [];
  try {
    cfg.model = { ...cfg.model, classes: task.classes.length, inputSize: task.size, inChannels: 1 };
    manualSeed(cfg.seed);
    const initGen = new Generator(cfg.seed), dropGen = new Generator(cfg.seed + 1);
    gens.push(initGen, dropGen);
    const model = new Rotnet(cfg.model, { generator: initGen });
    model.drop.generator = dropGen;
    const params = numParams(model);
    const V = cfg.model.arch === 'plain' ? 1 : cfg.model.arch === 'dihedral' ? 8 : 4;

    // the batches: labelled (one-hot targets), or mixed with soft pseudo-labels; then augmented
    let source: { length: number; epoch(k: number, o?: { startBatch?: number }): IterableIterator<Record<string, Tensor>> };
    if (cfg.pseudoFrom.length) {
      say(`pseudo-labels: ${cfg.pseudoFrom.length} model(s), TTA ${cfg.pseudoTta}, on ${task.unlabelled.labels.shape[0]} unlabelled images`);
      const probs = keep(pseudoLabels(cfg.pseudoFrom, task.unlabelled.images, cfg.pseudoTta, opts.progress !== false));
      owned.push(probs);
      source = new PseudoLabelLoader(task.train, { images: task.unlabelled.images, probs }, { batchSize: cfg.batchSize, pseudoFraction: cfg.pseudoFraction, seed: cfg.seed });
    } else {
      source = new DataLoader({ images: task.train.images, labels: task.train.labels }, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed, dropLast: true });
    }
    const loader = cfg.augment ? new AugmentedLoader(source, { ranges: ROTNET_AUGMENTATION, seed: cfg.seed + 7 }) : source;
    const optimizer = new Adam(model, { lr: cfg.lr, weightDecay: cfg.weightDecay });

    say(`train rotnet: ${cfg.model.arch} (width ${cfg.model.width}, ${params.toLocaleString('en-US')} parameters, ${V} view${V > 1 ? 's' : ''}) on ${task.description}; `
      + `batch ${cfg.batchSize}${cfg.augment ? ', realtime augmentation' : ''}${cfg.pseudoFrom.length ? `, ${Math.round(100 * cfg.pseudoFraction)}% pseudo-labelled` : ''}; `
      + `at most ${maxMinutes} min${opts.maxSteps ? ` or ${opts.maxSteps} steps` : ''}, ${getNumThreads()} threads -> ${path.join(runsDir, name)}`);
    const t0 = Date.now();
    const trainProbe = { images: task.train.images.narrow(0, 0, Math.min(1000, task.train.labels.shape[0])), labels: task.train.labels.narrow(0, 0, Math.min(1000, task.train.labels.shape[0])) };
    owned.push(trainProbe.images, trainProbe.labels);
    const result = await train({
      run: name, runsDir, config: { ...cfg, task: cfg.task, params }, resume: Boolean(opts.resume), model, optimizer,
      data: (epoch, startBatch) => loader.epoch(epoch, { startBatch }),
      stepFn: (batch: Record<string, Tensor>) => {
        const logits = model(batch.images);
        const target = batch.targets ?? batch.labels; // (B, K) soft, or (B,) labels
        const loss = F.crossEntropy(logits, target);
        const truth = target.ndim === 2 ? target.argmax(1) : target;
        return { loss, accuracy: logits.argmax(1).eq(truth).float().mean() };
      },
      steps: opts.maxSteps ?? 100_000_000, maxSeconds: maxMinutes * 60, stepsPerEpoch: loader.length, logEvery: 25,
      evalEvery, checkpointEvery: evalEvery,
      evalFn: () => {
        const v = splitMetrics(model, task.valid), t = splitMetrics(model, trainProbe);
        return { 'valid/accuracy': v.accuracy, 'valid/logLoss': v.logLoss, 'train/accuracy': t.accuracy, 'train/logLoss': t.logLoss };
      },
      generators: { dropout: dropGen },
      progress: opts.progress === false ? false : undefined,
    });
    const minutes = (Date.now() - t0) / 60000;
    const examples = result.step * cfg.batchSize;
    const base = { step: result.step, config: cfg, params, examples, runDir: result.run.dir, checkpoint: result.checkpoint, minutes };
    if (result.status !== 'completed') return { ...base, status: 'interrupted', out: null };

    const dir = result.run.dir;
    model.eval();
    const trainM = splitMetrics(model, task.train), valid = splitMetrics(model, task.valid);
    const testProbs = predictTTA((x) => model(x), task.test.images);
    const test = { accuracy: accuracyOf(testProbs, task.test.labels), logLoss: logLossOf(testProbs, task.test.labels), n: task.test.labels.shape[0] };
    const out = opts.out ?? path.join(dir, 'model.safetensors');
    const metrics = { train: trainM, valid, test };
    saveCheckpoint(out, { model, step: result.step, config: { kind: ROTNET_KIND, model: cfg.model, task: cfg.task, train: cfg, params, minutes, examples, metrics } });

    // pictures: an augmented batch as the network sees it, and the confusion matrix on the test set
    const sections: { heading: string; html: string }[] = [];
    scope(() => {
      const it = loader.epoch(0);
      try {
        const first = it.next().value as Record<string, Tensor>;
        saveImageGrid(path.join(dir, 'augmented-batch.png'), first.images.narrow(0, 0, Math.min(64, first.images.shape[0])).clamp(0, 1), { nrow: 8 });
      } finally {
        it.return?.(); // frees the epoch's order
      }
      saveImageGrid(path.join(dir, 'task-samples.png'), task.train.images.narrow(0, 0, 64), { nrow: 8 });
    });
    const cm = confusionMatrix(testProbs, task.test.labels, task.classes.length);
    testProbs.dispose();
    sections.push({ heading: 'Final metrics', html: metricsTable(metrics, { params, steps: result.step, examples, views: V, minutes }) });
    sections.push({ heading: `Confusion matrix (test set, ${test.n} images; rows: true class)`, html: confusionPlot('test confusion matrix', cm, task.classes) });
    sections.push({ heading: 'Data', html: `<p>${task.description}</p><figure><img src="task-samples.png" width="256"><figcaption>task images (training set)</figcaption></figure>`
      + `<figure><img src="augmented-batch.png" width="256"><figcaption>an augmented training batch, as the network sees it${cfg.augment ? '' : ' (augmentation off)'}</figcaption></figure>` });
    writeReport(dir, { status: result.stoppedBy === 'time' ? 'completed (time limit)' : 'completed', step: result.step, sections, media: () => [] });
    const summary = { ...base, status: 'completed' as const, out, train: trainM, valid, test };
    writeFileAtomic(path.join(dir, 'result.json'), Buffer.from(JSON.stringify(summary, null, 2) + '\n'));
    say(`${cfg.model.arch}: test accuracy ${(100 * test.accuracy).toFixed(2)}%, log loss ${test.logLoss.toFixed(4)} (train ${(100 * trainM.accuracy).toFixed(2)}% / ${trainM.logLoss.toFixed(4)}), `
      + `${result.step} steps, ${minutes.toFixed(1)} min; weights ${out}, report ${path.join(dir, 'index.html')}`);
    return summary;
  } finally {
    if (!opts.task) disposeTask(task);
    for (const t of owned) t.dispose();
    for (const g of gens) g.dispose();
  }
}

function splitMetrics(model: Rotnet, s: { images: Tensor; labels: Tensor }): SplitMetrics {
  return noGrad(() => scope(() => {
    const p = predictTTA((x) => model(x), s.images);
    return { accuracy: accuracyOf(p, s.labels), logLoss: logLossOf(p, s.labels), n: s.labels.shape[0] };
  }));
}

function accuracyOf(p: Tensor, labels: Tensor): number {
  return scope(() => p.argmax(1).eq(labels).double().mean().item() as number);
}

function confusionMatrix(p: Tensor, labels: Tensor, k: number): number[][] {
  const counts = scope(() => Array.from(torch.bincount(labels.mul(k).add(p.argmax(1)), null, k * k).dataSync() as ArrayLike<number | bigint>, Number));
  return Array.from({ length: k }, (_, i) => counts.slice(i * k, (i + 1) * k));
}

function metricsTable(m: Record<string, SplitMetrics>, facts: { params: number; steps: number; examples: number; views: number; minutes: number }): string {
  const rows = Object.entries(m).map(([k, v]) => `<tr><th>${k}</th><td>${(100 * v.accuracy).toFixed(2)}%</td><td>${v.logLoss.toFixed(4)}</td><td>${v.n}</td></tr>`);
  return `<table><tr><th>split</th><th>accuracy</th><th>log loss</th><th>images</th></tr>${rows.join('')}</table>`
    + `<p>${facts.params.toLocaleString('en-US')} parameters; ${facts.steps} steps, ${facts.examples.toLocaleString('en-US')} examples seen `
    + `(${(facts.examples * facts.views).toLocaleString('en-US')} example-views through the convnet); ${facts.minutes.toFixed(1)} min</p>`;
}

/** Loads a rotnet checkpoint (eval mode) with its recorded config. */
export function loadRotnet(file: string): { model: Rotnet; task: RotatedTaskName; config: Record<string, unknown> } {
  requireFile(file, 'loadRotnet');
  const { model, config } = loadModel(file, ROTNET_KIND, (c: RotnetConfig) => new Rotnet(c, { generator: new Generator(0) }), DEFAULT_ROTNET);
  const task = (config.task ?? 'mnist-rot') as RotatedTaskName;
  return { model, task, config };
}

function ttaProgress(label: string, show: boolean, n: number): { onProgress?: (d: number, t: number) => void; close: () => void } {
  if (!show || n <= 1) return { close: () => {} };
  const bar = new Progress({ label, total: n, unit: 'transform' });
  return { onProgress: () => bar.update(1), close: () => bar.close() };
}

/** Mean TTA probabilities of `files` on `images` (the pseudo-labels). */
function pseudoLabels(files: string[], images: Tensor, tta: number, progress: boolean): Tensor {
  let sum: Tensor | null = null;
  for (const f of files) {
    const { model } = loadRotnet(f);
    const bar = ttaProgress(`pseudo-labels ${path.basename(f)}`, progress, tta);
    try {
      const p = predictTTA((x) => model(x), images, { n: tta, ranges: ROTNET_TTA, onProgress: bar.onProgress });
      if (sum) { const next: Tensor = sum.add(p); sum.dispose(); p.dispose(); sum = next; } else sum = p;
    } finally {
      bar.close();
    }
  }
  const out = sum!.div(files.length);
  sum!.dispose();
  return out;
}

export type RotnetSplit = 'train' | 'valid' | 'test' | 'unlabelled';

export interface EvaluateRotnetResult extends SplitMetrics {
  checkpoint: string;
  task: RotatedTaskName;
  split: RotnetSplit;
  tta: number;
  seconds: number;
}

/** Accuracy and log loss of a rotnet checkpoint on a split of its task, with `tta` Halton transforms (1: none). */
export function evaluateRotnet(o: { checkpoint: string; tta?: number; split?: RotnetSplit; progress?: boolean; saveProbs?: string; task?: RotatedTask }): EvaluateRotnetResult {
  const tta = o.tta ?? 1, split = o.split ?? 'test';
  if (!['train', 'valid', 'test', 'unlabelled'].includes(split)) throw new TypeError(`evaluateRotnet: split must be train, valid, test or unlabelled, got ${JSON.stringify(split)}`);
  if (o.saveProbs !== undefined) assertWritable(o.saveProbs, 'evaluateRotnet: saveProbs', { createDir: true });
  const { model, task: name } = loadRotnet(o.checkpoint);
  if (o.task && o.task.name !== name) throw new TypeError(`evaluateRotnet: ${o.checkpoint} was trained on ${name}, the task given is ${o.task.name}`);
  const task = o.task ?? rotatedTask(name);
  try {
    const s = task[split];
    const t0 = performance.now();
    const bar = ttaProgress(`eval ${path.basename(o.checkpoint)}`, o.progress !== false, tta);
    let p: Tensor;
    try {
      p = predictTTA((x) => model(x), s.images, { n: tta, ranges: ROTNET_TTA, onProgress: bar.onProgress });
    } finally {
      bar.close();
    }
    try {
      if (o.saveProbs) saveProbsFile(o.saveProbs, p, s.labels);
      return { checkpoint: o.checkpoint, task: name, split, tta, accuracy: accuracyOf(p, s.labels), logLoss: logLossOf(p, s.labels), n: s.labels.shape[0], seconds: (performance.now() - t0) / 1000 };
    } finally {
      p.dispose();
    }
  } finally {
    if (!o.task) disposeTask(task);
  }
}

function saveProbsFile(file: string, probs: Tensor, labels: Tensor): void {
  saveFile(file, { probs, labels });
}

export interface RotnetEnsembleResult {
  task: RotatedTaskName;
  tta: number;
  models: { checkpoint: string; valid: SplitMetrics; test: SplitMetrics }[];
  uniform: { valid: SplitMetrics; test: SplitMetrics };
  /** Weights fitted on the validation set (softmax of free parameters, L-BFGS). */
  weights: number[];
  weighted: { valid: SplitMetrics; test: SplitMetrics };
  seconds: number;
}

/**
 * Each model's TTA probabilities on the task's validation and test sets; the uniform average; and the
 * average with weights fitted on the validation log loss (fitEnsembleWeights), scored on the test set.
 */
export function rotnetEnsemble(o: { checkpoints: string[]; tta?: number; progress?: boolean; task?: RotatedTask }): RotnetEnsembleResult {
  if (!Array.isArray(o.checkpoints) || o.checkpoints.length < 2) throw new RangeError(`rotnetEnsemble: give at least 2 checkpoints, got ${Array.isArray(o.checkpoints) ? o.checkpoints.length : typeof o.checkpoints}`);
  const tta = o.tta ?? 1;
  const t0 = performance.now();
  const loaded = o.checkpoints.map((f) => ({ f, ...loadRotnet(f) }));
  const tasks = new Set(loaded.map((l) => l.task));
  if (tasks.size !== 1) throw new TypeError(`rotnetEnsemble: the checkpoints were trained on different tasks (${[...tasks].join(', ')}); an ensemble needs one task`);
  const name = loaded[0].task;
  if (o.task && o.task.name !== name) throw new TypeError(`rotnetEnsemble: the checkpoints were trained on ${name}, the task given is ${o.task.name}`);
  const task = o.task ?? rotatedTask(name);
  const held: Tensor[] = [];
  try {
    const probsOf = (s: RotatedTask['valid']) => loaded.map((l) => {
      const bar = ttaProgress(`ensemble ${path.basename(l.f)}`, o.progress !== false, tta);
      try {
        const p = keep(predictTTA((x) => l.model(x), s.images, { n: tta, ranges: ROTNET_TTA, onProgress: bar.onProgress }));
        held.push(p);
        return p;
      } finally {
        bar.close();
      }
    });
    const pv = probsOf(task.valid), pt = probsOf(task.test);
    const m = (p: Tensor, s: RotatedTask['valid']): SplitMetrics => ({ accuracy: accuracyOf(p, s.labels), logLoss: logLossOf(p, s.labels), n: s.labels.shape[0] });
    const fit = fitEnsembleWeights(pv, task.valid.labels);
    const mixed = (ps: Tensor[], w: number[], s: RotatedTask['valid']) => scope(() => m(mixProbs(ps, w), s));
    const uniformW = loaded.map(() => 1 / loaded.length);
    return {
      task: name, tta,
      models: loaded.map((l, i) => ({ checkpoint: l.f, valid: m(pv[i], task.valid), test: m(pt[i], task.test) })),
      uniform: { valid: mixed(pv, uniformW, task.valid), test: mixed(pt, uniformW, task.test) },
      weights: fit.weights,
      weighted: { valid: mixed(pv, fit.weights, task.valid), test: mixed(pt, fit.weights, task.test) },
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    for (const t of held) t.dispose();
    if (!o.task) disposeTask(task);
  }
}

/** Reads result.json of a finished run folder (experiment scripts). */
export function readRotnetResult(runDir: string): TrainRotnetResult {
  return JSON.parse(fs.readFileSync(path.join(runDir, 'result.json'), 'utf8')) as TrainRotnetResult;
}

export type { RotnetArch };
