// refinery train diffusion / sample / eval diffusion: a class-conditional diffusion model on
// Fashion-MNIST (the README's main job), sampling from a checkpoint, and its evaluation with the
// reference classifier (classifier-FID, class adherence, within-class diversity, bits/dim).
import * as fs from 'fs';
import * as path from 'path';
import { Generator, assertWritable, Tensor, functions as torch, getNumThreads, keep, manualSeed, noGrad, scope, tensor } from '../tensor';
import { DataLoader, FASHION_MNIST_CLASSES, fashionMnist, saveImageGrid } from '../data';
import { Adam, EMA, clipGradNorm, cosineWithWarmup } from '../optim';
import { numParams } from '../nn';
import { OptimizerLike, saveCheckpoint, train, writeReport } from '../train';
import { DEFAULT_DIFFUSION_MODEL, DIFFUSION_INPUT, DIFFUSION_KIND, DiffusionModelConfig, GenerateOptions, PREDICTIONS, Prediction, buildUNet, denoiserOf, generate, loadDiffusionModel } from '../diffusion/model';
import { SAMPLER_NAMES, SamplerName, samplerNfe, stepsForNfe } from '../diffusion/samplers';
import { denoiseAt } from '../diffusion/denoiser';
import { SigmaSampler, Weighting, diffusionLoss, edmWeighting, epsWeighting, likelihoodImportance, likelihoodWeighting, logNormalSigmas, logUniformSigmas, minSnrWeighting, uniformTimeSigmas, uniformWeighting } from '../diffusion/objectives';
import { vpLinearSchedule } from '../diffusion/schedules';
import { bitsPerDim } from '../diffusion/likelihood';
import { FeatureStats, featureStats, frechetDistance, withinClassDiversity } from '../diffusion/metrics';
import { FashionClassifier } from '../vision/classifier';
import { REFERENCE_CHECKPOINT, loadClassifier } from './classifier';
import { NOISY_CLASSIFIER_CHECKPOINT, loadNoisyClassifier } from './noisy_classifier';
import { noisyClassifierLogProb, toSymmetric } from '../diffusion/noisy_classifier';
import { choiceFlag, intFlag, numberFlag, numberListFlag, parseFlags, shippedFile } from './args';

export const WEIGHTINGS = ['edm', 'eps', 'x0', 'min-snr', 'likelihood'] as const;
export const NOISES = ['lognormal', 'loguniform', 'uniform-t', 'likelihood-is'] as const;
export type WeightingName = typeof WEIGHTINGS[number];
export type NoiseName = typeof NOISES[number];

export interface DiffusionTrainConfig {
  model: DiffusionModelConfig;
  weighting: WeightingName;
  noise: NoiseName;
  batchSize: number;
  lr: number;
  warmup: number;
  emaDecay: number;
  /** Probability of replacing a label by the null class (classifier-free guidance). */
  condDrop: number;
  gradClip: number;
  seed: number;
}

export const DEFAULT_DIFFUSION_TRAIN: DiffusionTrainConfig = {
  model: DEFAULT_DIFFUSION_MODEL, weighting: 'edm', noise: 'lognormal', batchSize: 64, lr: 2e-3, warmup: 200,
  emaDecay: 0.999, condDrop: 0.1, gradClip: 1, seed: 0,
};

/** The shipped model (README): `refinery sample` uses it when no --checkpoint is given. */
export const DIFFUSION_CHECKPOINT = 'checkpoints/fashion-diffusion.safetensors';




/** The loss weighting and noise-level distribution of a training config. */
export function objectiveOf(cfg: Pick<DiffusionTrainConfig, 'weighting' | 'noise' | 'model'>): { weighting: Weighting; sigmaSampler: SigmaSampler } {
  const vp = vpLinearSchedule();
  if (cfg.noise === 'likelihood-is') {
    if (cfg.weighting !== 'likelihood') throw new Error('--noise likelihood-is importance-samples the likelihood weighting: use it with --weighting likelihood');
    const is = likelihoodImportance(vp);
    return { weighting: is.weighting, sigmaSampler: is.sigmaSampler };
  }
  const weighting: Weighting = cfg.weighting === 'edm' ? edmWeighting({ sigmaData: cfg.model.sigmaData })
    : cfg.weighting === 'eps' ? epsWeighting
      : cfg.weighting === 'x0' ? uniformWeighting
        : cfg.weighting === 'min-snr' ? minSnrWeighting(5)
          : likelihoodWeighting(vp);
  const sigmaSampler = cfg.noise === 'lognormal' ? logNormalSigmas()
    : cfg.noise === 'loguniform' ? logUniformSigmas()
      : uniformTimeSigmas(vp);
  return { weighting, sigmaSampler };
}

/** Adam with gradient clipping and an EMA of the weights, saved and restored as one optimizer. */
class AdamWithEma implements OptimizerLike {
  constructor(readonly adam: Adam, readonly ema: EMA, readonly clip: number) {}
  get params() { return this.adam.params; }
  get stepCount() { return this.adam.stepCount; }
  set stepCount(v: number) { this.adam.stepCount = v; }
  lr() { return this.adam.lr(); }
  zeroGrad() { this.adam.zeroGrad(); }
  step() {
    if (this.clip > 0) clipGradNorm(this.adam.params, this.clip);
    this.adam.step();
    this.ema.update();
  }
  // the EMA is saved as an object of its own (train's `objects`), not as optimizer state
  stateDict(): Record<string, Tensor> {
    return this.adam.stateDict();
  }
  loadStateDict(state: Record<string, Tensor>) {
    // runs checkpointed before the EMA had its own name kept it here, as "ema.<key>" (restored separately)
    const adam: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(state)) if (!k.startsWith('ema.')) adam[k] = v;
    this.adam.loadStateDict(adam);
  }
}

/** Fashion-MNIST images as float32 in [-1, 1]. */
function fashionMinusOne(split: 'train' | 'test'): { images: Tensor; labels: Tensor } {
  const d = fashionMnist(split);
  const images = toSymmetric(d.images);
  d.images.dispose();
  return { images, labels: d.labels };
}

/** A grid with one row per class: `perClass` samples of each class, classes 0..9 top to bottom. */
function classGridLabels(perClass: number, classes = 10): number[] {
  const out: number[] = [];
  for (let c = 0; c < classes; c++) for (let j = 0; j < perClass; j++) out.push(c);
  return out;
}

const toUnit = (x: Tensor) => scope(() => x.add(1).div(2).clamp(0, 1));

/** An HTML block: a PNG grid with the class names of its rows on the left (rows of `cell` px). */
function labelledGrid(src: string, title: string, rows: readonly string[], cell: number): string {
  const labels = rows.map((r) => `<div style="height:${cell}px;line-height:${cell}px;text-align:right;padding-right:6px;font-size:13px">${r}</div>`).join('');
  return `<figure style="display:inline-block;margin:0 18px 18px 0"><figcaption><b>${title}</b></figcaption>`
    + `<div style="display:flex;align-items:flex-start"><div style="padding-top:2px">${labels}</div>`
    + `<img src="${src}" style="image-rendering:pixelated;width:auto;height:${rows.length * cell + 2}px"></div></figure>`;
}


export async function trainDiffusion(args: string[]): Promise<number> {
  const { flags } = parseFlags(args);
  const d = DEFAULT_DIFFUSION_TRAIN;
  const prediction = choiceFlag<Prediction>(flags, 'prediction', d.model.prediction, PREDICTIONS);
  const cfg: DiffusionTrainConfig = {
    ...d,
    model: {
      ...d.model,
      prediction,
      sigmaData: numberFlag(flags, 'sigma-data', d.model.sigmaData, (v) => v > 0, 'a positive number'),
      unet: {
        ...d.model.unet,
        channels: intFlag(flags, 'channels', d.model.unet.channels),
        numResBlocks: intFlag(flags, 'res-blocks', d.model.unet.numResBlocks ?? 1),
        dropout: numberFlag(flags, 'dropout', d.model.unet.dropout ?? 0, (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
      },
    },
    weighting: choiceFlag<WeightingName>(flags, 'weighting', d.weighting, WEIGHTINGS),
    noise: choiceFlag<NoiseName>(flags, 'noise', d.noise, NOISES),
    batchSize: intFlag(flags, 'batch-size', d.batchSize),
    lr: numberFlag(flags, 'lr', d.lr, (v) => v > 0, 'a positive number'),
    warmup: numberFlag(flags, 'warmup', d.warmup, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer'),
    emaDecay: numberFlag(flags, 'ema', d.emaDecay, (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    condDrop: numberFlag(flags, 'cond-drop', d.condDrop, (v) => v >= 0 && v <= 1, 'a probability in [0, 1]'),
    gradClip: numberFlag(flags, 'grad-clip', d.gradClip, (v) => v >= 0, 'a non-negative number'),
    seed: numberFlag(flags, 'seed', d.seed, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer'),
  };
  const maxMinutes = numberFlag(flags, 'max-minutes', 20, (v) => v > 0, 'a positive number of minutes');
  const maxSteps = intFlag(flags, 'steps', 1_000_000);
  const previewEvery = intFlag(flags, 'preview-every', 500);
  const guidances = numberListFlag(flags, 'guidance', [0, 1, 2, 3, 5]);
  const sampleSteps = intFlag(flags, 'sample-steps', 18);
  const runsDir = typeof flags['runs-dir'] === 'string' ? flags['runs-dir'] : 'runs';
  let name = typeof flags.name === 'string' ? flags.name : 'diffusion';
  // without --name, a fresh run never collides with an earlier one: diffusion, diffusion-2, ...
  if (typeof flags.name !== 'string' && !flags.resume) {
    for (let k = 2; fs.existsSync(path.join(runsDir, name, 'config.json')); k++) name = `diffusion-${k}`;
  }
  const objective = objectiveOf(cfg); // validates the combination before any work
  if (typeof flags.out === 'string') assertWritable(flags.out, '--out', { createDir: true });

  manualSeed(cfg.seed);
  const initGen = new Generator(cfg.seed);
  const noiseGen = new Generator(cfg.seed + 1);
  const dropGen = new Generator(cfg.seed + 2);
  const net = buildUNet(cfg.model, initGen);
  const emaNet = buildUNet(cfg.model); // evaluation copy that receives the EMA weights
  emaNet.eval();
  const denoiser = denoiserOf(net, cfg.model);
  const emaDenoiser = denoiserOf(emaNet, cfg.model);

  const data = fashionMinusOne('train');
  const loader = new DataLoader(data, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed, dropLast: true });
  const adam = new Adam(net, { lr: cosineWithWarmup({ base: cfg.lr, warmup: cfg.warmup, total: Number.MAX_SAFE_INTEGER / 2 }) });
  const ema = new EMA(net, { decay: cfg.emaDecay, warmup: true });
  const optimizer = new AdamWithEma(adam, ema, cfg.gradClip);

  // a fixed held-out batch and fixed noise: the EMA model's denoising loss at a few noise levels
  const test = fashionMinusOne('test');
  const evalX = keep(test.images.narrow(0, 0, 128).clone());
  const evalLabels = keep(test.labels.narrow(0, 0, 128).clone());
  test.images.dispose(); test.labels.dispose();
  const evalSigmas = [0.05, 0.3, 1, 5];
  const evalNoise = keep(torch.randn([evalSigmas.length, ...evalX.shape], { generator: new Generator(12345) }));

  const t0 = Date.now();
  console.log(`refinery train diffusion: U-Net ${numParams(net).toLocaleString('en-US')} parameters, ${cfg.model.prediction}-prediction, ${cfg.weighting} weighting, ${cfg.noise} noise levels, batch ${cfg.batchSize}, `
    + `cond. dropout ${cfg.condDrop}, EMA ${cfg.emaDecay}; at most ${maxMinutes} min${maxSteps < 1_000_000 ? ` or ${maxSteps} steps` : ''}, ${getNumThreads()} threads -> ${path.join(runsDir, name)}`);
  const result = await train({
    run: name, runsDir, config: cfg, resume: Boolean(flags.resume), model: net, optimizer, objects: { ema },
    allowConfigChange: false,
    data: (epoch, startBatch) => loader.epoch(epoch, { startBatch }),
    stepFn: (batch: { images: Tensor; labels: Tensor }) => {
      const b = batch.images.shape[0];
      // conditioning dropout: each label becomes the null class (-1) with probability condDrop
      const drop = torch.rand([b], { generator: dropGen }).lt(cfg.condDrop);
      const labels = batch.labels.maskedFill(drop, -1);
      const loss = diffusionLoss(denoiser, batch.images, { generator: noiseGen, weighting: objective.weighting, sigmaSampler: objective.sigmaSampler, extra: { labels } });
      return { loss };
    },
    steps: maxSteps, maxSeconds: maxMinutes * 60, stepsPerEpoch: loader.length, logEvery: 25,
    evalEvery: previewEvery, checkpointEvery: previewEvery,
    evalFn: (ctx) => {
      ema.copyTo(emaNet);
      const out: Record<string, number> = {};
      evalSigmas.forEach((s, i) => {
        const x = evalX.add(evalNoise.select(0, i).mul(s));
        const den = denoiseAt(emaDenoiser, x, s, { labels: evalLabels });
        out[`mse@sigma=${s}`] = den.sub(evalX).square().mean().item() as number;
      });
      // a preview grid: 4 samples of each class at guidance 3
      const imgs = generate(emaDenoiser, { labels: classGridLabels(4), guidance: 3, sampler: 'heun', steps: 12, seed: 0 });
      saveImageGrid(path.join(ctx.run.dir, 'samples', `step-${String(ctx.step).padStart(6, '0')}.png`), toUnit(imgs), { nrow: 4 });
      imgs.dispose();
      return out;
    },
    generators: { noise: noiseGen, dropout: dropGen },
  });
  const timeUp = result.stoppedBy === 'time';
  if (result.status !== 'completed') {
    console.log(`interrupted at step ${result.step}; resume with --resume (checkpoint ${result.checkpoint})`);
    return 130;
  }
  const dir = result.run.dir;
  ema.copyTo(emaNet);
  const out = typeof flags.out === 'string' ? flags.out : path.join(dir, 'model.safetensors');
  saveCheckpoint(out, { model: emaNet, step: result.step, config: { kind: DIFFUSION_KIND, model: cfg.model, input: DIFFUSION_INPUT, train: cfg, steps: result.step, minutes: (Date.now() - t0) / 60000 } });
  console.log(`${timeUp ? `time limit (${maxMinutes} min) reached` : 'done'} after ${result.step} steps; EMA weights saved to ${out}`);

  // labelled grids at several guidance scales, same noise and labels for each
  const sections: { heading: string; html: string }[] = [];
  const perClass = 8;
  const blocks: string[] = [];
  for (const g of guidances) {
    const imgs = generate(emaDenoiser, { labels: classGridLabels(perClass), guidance: g, sampler: 'heun', steps: sampleSteps, seed: 0, progress: `guidance ${g}` });
    const file = `grid-guidance-${g}.png`;
    saveImageGrid(path.join(dir, file), toUnit(imgs), { nrow: perClass });
    imgs.dispose();
    blocks.push(labelledGrid(file, `γ = ${g}`, FASHION_MNIST_CLASSES, 30 * 2));
  }
  sections.push({ heading: `Samples: Heun, ${sampleSteps} steps (${samplerNfe('heun', sampleSteps)} evaluations), one row per class, same noise in every grid`, html: blocks.join('') });
  const traj = trajectoryStrip(emaDenoiser, path.join(dir, 'trajectory.png'), sampleSteps);
  sections.push({ heading: 'Denoising trajectory (γ = 3): the estimate D(x, σ) at each step, σ from 80 down to 0', html: `<img src="trajectory.png" style="image-rendering:pixelated;width:100%;max-width:${traj}px">` });
  // the grids and trajectory are in the sections; the Media section keeps only the training previews
  writeReport(dir, { status: timeUp ? 'completed (time limit)' : 'completed', step: result.step, sections, media: (found) => found.filter((f) => f.startsWith('samples/')) });
  console.log(`grids at guidance ${guidances.join(', ')} and the report: ${path.join(dir, 'index.html')}`);
  evalX.dispose(); evalLabels.dispose(); evalNoise.dispose();
  return 0;
}

/** One sample per class (rows), the denoised estimate at each step (columns); returns the image width in px. */
function trajectoryStrip(model: ReturnType<typeof denoiserOf>, file: string, steps: number): number {
  const frames: Tensor[] = [];
  const imgs = generate(model, {
    labels: classGridLabels(1), guidance: 3, sampler: 'heun', steps, seed: 1,
    callback: (info) => { frames.push(keep(info.denoised.clone())); },
  });
  frames.push(imgs);
  const stacked = scope(() => toUnit(torch.stack(frames, 1).reshape([-1, 1, 28, 28]))); // (10·(steps+1), 1, 28, 28) row-major by class
  saveImageGrid(file, stacked, { nrow: frames.length });
  frames.forEach((f) => f.dispose());
  stacked.dispose();
  return frames.length * 30 * 2;
}

export function sampleCommand(args: string[]): number {
  const { flags } = parseFlags(args);
  const ckpt = typeof flags.checkpoint === 'string' ? flags.checkpoint : shippedFile(DIFFUSION_CHECKPOINT);
  if (!fs.existsSync(ckpt)) throw new Error(`--checkpoint: no such file ${ckpt}`);
  const { denoiser } = loadDiffusionModel(ckpt);
  const n = intFlag(flags, 'n', 64);
  const cls = flags.class === undefined ? null : numberFlag(flags, 'class', 0, (v) => Number.isInteger(v) && v >= -1 && v < 10, 'a class index 0..9 (or -1 for unconditional)');
  const labels = cls === null ? Array.from({ length: n }, (_, i) => i % 10) : new Array(n).fill(cls);
  const gen = sampleOptions(flags, labels);
  const out = typeof flags.out === 'string' ? flags.out : 'samples.png';
  assertWritable(out, '--out', { createDir: true });
  const t0 = performance.now();
  const imgs = generate(denoiser, { ...gen, progress: 'sampling' });
  const nrow = cls === null ? 10 : Math.ceil(Math.sqrt(n));
  saveImageGrid(out, toUnit(imgs), { nrow });
  console.log(`${n} samples (${cls === null ? 'classes 0-9 in columns' : `class ${cls} ${cls >= 0 ? FASHION_MNIST_CLASSES[cls] : 'unconditional'}`}), ${gen.sampler} ${gen.steps} steps, guidance ${gen.guidance}, ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${out}`);
  imgs.dispose();
  return 0;
}

/** --classifier-guidance S: the unconditional model steered by the noise-conditional classifier (--noisy-classifier PATH). */
function classifierOption(flags: Record<string, string | true>, scale: number): GenerateOptions['classifier'] {
  const file = typeof flags['noisy-classifier'] === 'string' ? flags['noisy-classifier'] : shippedFile(NOISY_CLASSIFIER_CHECKPOINT);
  if (!fs.existsSync(file)) throw new Error(`--noisy-classifier: no such file ${file} (train one with 'refinery train noisy-classifier')`);
  const clf = loadNoisyClassifier(file);
  return { logProb: (labels) => noisyClassifierLogProb(clf, labels), scale };
}

function sampleOptions(flags: Record<string, string | true>, labels: number[]): GenerateOptions & { sampler: SamplerName; steps: number; guidance: number } {
  const sampler = choiceFlag<SamplerName>(flags, 'sampler', 'heun', SAMPLER_NAMES);
  const steps = flags.nfe !== undefined ? stepsForNfe(sampler, intFlag(flags, 'nfe', 35)) : intFlag(flags, 'steps', 18);
  return {
    labels, sampler, steps,
    guidance: numberFlag(flags, 'guidance', 3, (v) => v >= 0, 'a non-negative guidance scale'),
    temperature: flags.temperature === undefined ? undefined : numberFlag(flags, 'temperature', 1, (v) => v > 0, 'a positive score scale'),
    clip: Boolean(flags.clip),
    threshold: flags.threshold === undefined ? undefined : numberFlag(flags, 'threshold', 0.995, (v) => v > 0 && v < 1, 'a percentile in (0, 1)'),
    churn: flags.churn === undefined ? undefined : numberFlag(flags, 'churn', 0, (v) => v >= 0, 'a non-negative number'),
    eta: flags.eta === undefined ? undefined : numberFlag(flags, 'eta', 0, (v) => v >= 0, 'a non-negative number'),
    seed: numberFlag(flags, 'seed', 0, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer'),
    batchSize: intFlag(flags, 'batch-size', 100),
    classifier: flags['classifier-guidance'] === undefined || String(flags['classifier-guidance']).includes(',') ? undefined
      : classifierOption(flags, numberFlag(flags, 'classifier-guidance', 1, (v) => v >= 0, 'a non-negative classifier-guidance scale')),
  };
}

/** Reference statistics of the test set in the classifier's feature space (cached per process). */
let referenceCache: { key: string; stats: FeatureStats; diversity: number } | null = null;

function features(classifier: FashionClassifier, imagesUnit: Tensor, batch = 500): { feats: Tensor; pred: Tensor } {
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

function reference(classifier: FashionClassifier, key: string): { stats: FeatureStats; diversity: number } {
  if (referenceCache?.key === key) return referenceCache;
  const test = fashionMnist('test', { dtype: 'float32' });
  const { feats, pred } = features(classifier, test.images);
  const stats = featureStats(feats);
  keep(stats.mu); keep(stats.cov);
  const diversity = withinClassDiversity(feats, Array.from(test.labels.dataSync() as ArrayLike<number | bigint>, Number), 10).mean;
  feats.dispose(); pred.dispose(); test.images.dispose(); test.labels.dispose();
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

/** classifier-FID against the test set, class adherence and within-class diversity of images in [-1, 1]. */
export function sampleMetrics(classifier: FashionClassifier, images: Tensor, labels: number[], classifierKey = 'default'): SampleMetrics {
  const ref = reference(classifier, classifierKey);
  const unit = toUnit(images);
  const { feats, pred } = features(classifier, unit);
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

interface EvalRow extends SampleMetrics {
  setting: Record<string, unknown>;
  nfe: number;
  seconds: number;
  bitsPerDim?: number;
}

/**
 * refinery eval diffusion: for each combination of the listed settings, draw --n samples (classes
 * balanced, the same seed for every row) and report classifier-FID, adherence and diversity.
 */
export function evalDiffusion(args: string[]): number {
  const { flags } = parseFlags(args);
  const ckpt = typeof flags.checkpoint === 'string' ? flags.checkpoint : shippedFile(DIFFUSION_CHECKPOINT);
  if (!fs.existsSync(ckpt)) throw new Error(`--checkpoint: no such file ${ckpt}`);
  const clfPath = typeof flags.classifier === 'string' ? flags.classifier : shippedFile(REFERENCE_CHECKPOINT);
  if (!fs.existsSync(clfPath)) throw new Error(`--classifier: no such file ${clfPath}`);
  const { denoiser, meta } = loadDiffusionModel(ckpt);
  const classifier = loadClassifier(clfPath);
  const n = intFlag(flags, 'n', 1000);
  const unconditional = Boolean(flags.unconditional);
  const labels = Array.from({ length: n }, (_, i) => (unconditional ? -1 : i % 10));
  // the list-valued flags are swept below; the rest are shared by every row
  const guidances = numberListFlag(flags, 'guidance', [3]);
  const temperatures = flags.temperature === undefined ? [undefined] : numberListFlag(flags, 'temperature', []);
  const samplers = flags.sampler === undefined ? ['heun' as SamplerName] : String(flags.sampler).split(',').map((s) => choiceFlag<SamplerName>({ sampler: s.trim() }, 'sampler', 'heun', SAMPLER_NAMES));
  const { guidance: _g, temperature: _t, sampler: _s, nfe: _n, 'classifier-guidance': _c, ...shared } = flags;
  const base = sampleOptions({ ...shared, sampler: samplers[0] }, labels);
  const nfes = flags.nfe === undefined ? [null] : numberListFlag(flags, 'nfe', []);
  const cgScales: (number | undefined)[] = flags['classifier-guidance'] === undefined ? [undefined] : numberListFlag(flags, 'classifier-guidance', []);
  const cgOption = cgScales[0] === undefined ? undefined : classifierOption(flags, 1);
  const gridDir = typeof flags.grids === 'string' ? flags.grids : null;
  if (gridDir) assertWritable(path.join(gridDir, 'grid.png'), '--grids', { createDir: true });
  const rows: EvalRow[] = [];
  const sampling = !flags['bpd-only'];
  if (!sampling && flags.bpd === undefined) throw new Error('--bpd-only: give --bpd N too');
  if (sampling) for (const sampler of samplers) for (const nfe of nfes) for (const guidance of guidances) for (const temperature of temperatures) for (const cg of cgScales) {
    const steps = nfe === null ? base.steps : stepsForNfe(sampler, nfe);
    const cgOpt = cg === undefined ? undefined : { ...cgOption!, scale: cg };
    const opts: GenerateOptions = { ...base, sampler, steps, guidance, temperature, classifier: cgOpt };
    const setting = { sampler, steps, guidance: temperature === undefined && cg === undefined ? guidance : undefined, temperature, classifierGuidance: cg };
    const t0 = performance.now();
    const what = cg !== undefined ? `classifier γ=${cg}` : temperature === undefined ? `γ=${guidance}` : `T=${temperature}`;
    const imgs = generate(denoiser, { ...opts, progress: `${sampler} ${steps} steps ${what}` }); // progress goes to stderr, JSON to stdout
    const seconds = (performance.now() - t0) / 1000;
    const m = sampleMetrics(classifier, imgs, labels, clfPath);
    if (gridDir) {
      const tag = `${sampler}-${steps}-${cg !== undefined ? `cg${cg}` : temperature === undefined ? `g${guidance}` : `t${temperature}`}`;
      // the first 8 samples of each class, one class per row
      const idx = classGridLabels(8).map((c, k) => c + 10 * (k % 8));
      saveImageGrid(path.join(gridDir, `${tag}.png`), scope(() => toUnit(imgs.indexSelect(0, tensor(idx.filter((i) => i < n), { dtype: 'int64' })))), { nrow: 8 });
    }
    imgs.dispose();
    const row: EvalRow = { setting, nfe: samplerNfe(sampler, steps) * (temperature === undefined && cg === undefined && guidance !== 0 && guidance !== 1 ? 2 : 1), seconds, ...m };
    rows.push(row);
    if (flags.json) console.log(JSON.stringify({ checkpoint: ckpt, ...row }));
    else console.log(`${sampler.padEnd(15)} steps ${String(steps).padStart(3)} ${what.padEnd(16)} FID ${m.fid.toFixed(2).padStart(7)}  adherence ${(100 * m.adherence).toFixed(1).padStart(5)}%  diversity ${m.diversity.toFixed(3)} (test set ${m.referenceDiversity.toFixed(3)})  ${seconds.toFixed(0)} s`);
  }
  if (flags.floor) {
    // the same metrics for n real training images: FID's small-sample floor, the classifier's own adherence, real diversity
    const train = fashionMinusOne('train');
    const idx = torch.randperm(train.images.shape[0], { generator: new Generator(0) }).narrow(0, 0, n);
    const imgs = train.images.indexSelect(0, idx);
    const lab = Array.from(train.labels.indexSelect(0, idx).dataSync() as ArrayLike<number | bigint>, Number);
    const m = sampleMetrics(classifier, imgs, lab, clfPath);
    if (flags.json) console.log(JSON.stringify({ checkpoint: 'real training images', setting: { real: true }, nfe: 0, seconds: 0, ...m }));
    else console.log(`real train images (${n})         FID ${m.fid.toFixed(2).padStart(7)}  adherence ${(100 * m.adherence).toFixed(1).padStart(5)}%  diversity ${m.diversity.toFixed(3)}`);
    imgs.dispose(); idx.dispose(); train.images.dispose(); train.labels.dispose();
  }
  if (flags.bpd !== undefined) {
    const count = intFlag(flags, 'bpd', 64);
    const test = fashionMinusOne('test');
    const x = test.images.narrow(0, 0, count);
    const g = new Generator(0);
    const t0 = performance.now();
    const bpd = noGrad(() => {
      const parts: number[] = [];
      for (let i = 0; i < count; i += 16) {
        const xb = x.narrow(0, i, Math.min(16, count - i));
        const v = scope(() => bitsPerDim(denoiser, xb, { generator: g, steps: intFlag(flags, 'bpd-steps', 48), extra: { labels: null } }));
        parts.push(...Array.from(v.dataSync() as unknown as ArrayLike<number>));
        v.dispose();
      }
      return parts;
    });
    const mean = bpd.reduce((s, v) => s + v, 0) / bpd.length;
    const se = Math.sqrt(bpd.reduce((s, v) => s + (v - mean) ** 2, 0) / (bpd.length - 1) / bpd.length);
    const line = { checkpoint: ckpt, bitsPerDim: mean, stderr: se, images: count, seconds: (performance.now() - t0) / 1000 };
    if (flags.json) console.log(JSON.stringify(line));
    else console.log(`bits/dim ${mean.toFixed(3)} ± ${se.toFixed(3)} (unconditional, ${count} test images, PF-ODE Heun, Hutchinson, ${line.seconds.toFixed(0)} s)`);
    test.images.dispose(); test.labels.dispose();
  }
  void meta;
  return 0;
}
