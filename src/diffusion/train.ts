// Training the class-conditional diffusion model on Fashion-MNIST (the README's main job): the EDM
// U-Net with classifier-free-guidance dropout, Adam with an EMA of the weights, through the
// repository's training loop, then labelled sample grids at several guidance scales, a denoising
// trajectory and the run's HTML report. `refinery train diffusion` calls trainDiffusion.
import * as fs from 'fs';
import * as path from 'path';
import { Generator, Tensor, assertWritable, checkComputeDevice, functions as torch, getNumThreads, keep, manualSeed, scope } from '../tensor';
import { DataLoader, FASHION_MNIST_CLASSES, datasetTo, fashionMnist, saveImageGrid } from '../data';
import { type ProcessGroup, assertCollectivesOn } from '../distributed/process_group';
import { RANK_SEED_STRIDE } from '../distributed/ddp';
import { Adam, EMA, cosineWithWarmup } from '../optim';
import { numParams } from '../nn';
import { saveCheckpoint, train, writeReport } from '../train';
import { AdamWithEma } from '../train/adam_with_ema';
import { DEFAULT_DIFFUSION_MODEL, DIFFUSION_INPUT, DIFFUSION_KIND, DiffusionModelConfig, PREDICTIONS, buildUNet, denoiserOf, generate } from './model';
import { samplerNfe } from './samplers';
import { Denoiser, denoiseAt } from './denoiser';
import { SigmaSampler, Weighting, diffusionLoss, edmWeighting, epsWeighting, likelihoodImportance, likelihoodWeighting, logNormalSigmas, logUniformSigmas, minSnrWeighting, uniformTimeSigmas, uniformWeighting } from './objectives';
import { vpLinearSchedule } from './schedules';
import { toSymmetric, toUnit } from './images';
import { AutotuneMode, jobPlanner } from '../conv/plan';

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

/** The shipped model (README): sampling and evaluation use it when no checkpoint is given. */
export const DIFFUSION_CHECKPOINT = 'checkpoints/fashion-diffusion.safetensors';

/** Fashion-MNIST's training set size: the largest batch a training step can draw. */
const TRAIN_IMAGES = 60000;

/** The loss weighting and noise-level distribution of a training config. */
export function objectiveOf(cfg: Pick<DiffusionTrainConfig, 'weighting' | 'noise' | 'model'>): { weighting: Weighting; sigmaSampler: SigmaSampler } {
  if (!(WEIGHTINGS as readonly string[]).includes(cfg.weighting)) throw new RangeError(`objectiveOf: weighting must be one of ${WEIGHTINGS.join(', ')}, got ${JSON.stringify(cfg.weighting)}`);
  if (!(NOISES as readonly string[]).includes(cfg.noise)) throw new RangeError(`objectiveOf: noise must be one of ${NOISES.join(', ')}, got ${JSON.stringify(cfg.noise)}`);
  const vp = vpLinearSchedule();
  if (cfg.noise === 'likelihood-is') {
    if (cfg.weighting !== 'likelihood') throw new RangeError(`objectiveOf: noise 'likelihood-is' importance-samples the likelihood weighting; use it with weighting 'likelihood', not '${cfg.weighting}'`);
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

/** Checks a training config (throws a RangeError naming the field, its value and what is expected). */
export function checkDiffusionTrainConfig(cfg: DiffusionTrainConfig): void {
  const fail = (field: string, v: unknown, what: string) => { throw new RangeError(`trainDiffusion: ${field} must be ${what}, got ${JSON.stringify(v)}`); };
  const posInt = (field: string, v: number) => { if (!Number.isSafeInteger(v) || v <= 0) fail(field, v, 'a positive integer'); };
  if (!PREDICTIONS.includes(cfg.model.prediction)) fail('model.prediction', cfg.model.prediction, `one of ${PREDICTIONS.join(', ')}`);
  if (!(cfg.model.sigmaData > 0) || !Number.isFinite(cfg.model.sigmaData)) fail('model.sigmaData', cfg.model.sigmaData, 'a positive number');
  posInt('model.unet.channels', cfg.model.unet.channels);
  // the U-Net's Fourier noise embedding has `channels` features, half sines and half cosines
  if (cfg.model.unet.channels % 2) fail('model.unet.channels', cfg.model.unet.channels, 'even (the noise embedding is half sines, half cosines)');
  posInt('model.unet.numResBlocks', cfg.model.unet.numResBlocks ?? 1);
  const dropout = cfg.model.unet.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) fail('model.unet.dropout', dropout, 'in [0, 1)');
  posInt('batchSize', cfg.batchSize);
  if (cfg.batchSize > TRAIN_IMAGES) fail('batchSize', cfg.batchSize, `at most the ${TRAIN_IMAGES} training images`);
  if (!(cfg.lr > 0) || !Number.isFinite(cfg.lr)) fail('lr', cfg.lr, 'a positive number');
  if (!Number.isSafeInteger(cfg.warmup) || cfg.warmup < 0) fail('warmup', cfg.warmup, 'an integer >= 0');
  if (!(cfg.emaDecay >= 0 && cfg.emaDecay < 1)) fail('emaDecay', cfg.emaDecay, 'in [0, 1)');
  if (!(cfg.condDrop >= 0 && cfg.condDrop <= 1)) fail('condDrop', cfg.condDrop, 'a probability in [0, 1]');
  if (!(cfg.gradClip >= 0) || !Number.isFinite(cfg.gradClip)) fail('gradClip', cfg.gradClip, 'a number >= 0 (0: no clipping)');
  if (!Number.isSafeInteger(cfg.seed) || cfg.seed < 0) fail('seed', cfg.seed, 'a non-negative integer');
  objectiveOf(cfg);
}

export interface TrainDiffusionOptions {
  /** Overrides of DEFAULT_DIFFUSION_TRAIN (model and model.unet: overrides of DEFAULT_DIFFUSION_MODEL). */
  config?: Partial<Omit<DiffusionTrainConfig, 'model'>> & {
    model?: Partial<Omit<DiffusionModelConfig, 'unet'>> & { unet?: Partial<DiffusionModelConfig['unet']> };
  };
  /** Stop after this many minutes of training (default 20), then save and sample as usual. */
  maxMinutes?: number;
  /** Stop after this many optimizer steps (default: only the time limit). */
  maxSteps?: number;
  /** Preview grid, held-out losses and a checkpoint every this many steps (default 500). */
  previewEvery?: number;
  /** Guidance scales of the final sample grids (default 0, 1, 2, 3, 5). */
  guidances?: number[];
  /** Heun steps of the final grids and trajectory (default 18). */
  sampleSteps?: number;
  /** Run folder name under runsDir; default 'diffusion', or diffusion-2, -3, ... when that exists (unless resuming). */
  name?: string;
  runsDir?: string;
  resume?: boolean;
  /** Final EMA weights (.safetensors); default <run dir>/model.safetensors. */
  out?: string;
  /** Where messages go (default console.log; null for none). */
  log?: ((msg: string) => void) | null;
  /**
   * Data-parallel training on the ranks of this group (see train()): batchSize is the global batch
   * (a multiple of the world size); rank 0 writes the run folder, samples and the weights.
   */
  processGroup?: ProcessGroup;
  /** With processGroup: gradient bucket size and overlap with backward (train()'s bucketBytes, overlapGradients). */
  ddp?: { bucketBytes?: number; overlapGradients?: boolean };
  /**
   * Where the model trains and samples: 'cpu' (default), 'cuda' or 'cuda:N'; checked against the
   * machine. The data set is moved there once; random numbers are drawn on the CPU generators and
   * moved, so a seed gives the same run on any device (to its arithmetic).
   */
  device?: string;
  /**
   * 'step' times whole training steps to choose the memory layout (NCHW or channels-last) and the
   * thread count, and re-times the thread counts when the step time drifts (src/conv/plan.ts); 'all'
   * also chooses every convolution's implementation (the meta-optimizer, cached on disk); 'off'
   * (default here; the CLI's default is 'step') runs as configured.
   */
  autotune?: AutotuneMode;
}

export interface TrainDiffusionResult {
  /** 'completed' (steps done), 'time-limit' (maxMinutes reached; saved and sampled) or 'interrupted' (signal; checkpointed only). */
  status: 'completed' | 'time-limit' | 'interrupted';
  step: number;
  config: DiffusionTrainConfig;
  runDir: string;
  /** The EMA weights written, or null when interrupted. */
  out: string | null;
  /** The last checkpoint of the run (to resume from). */
  checkpoint: string;
  minutes: number;
}

/** Fashion-MNIST images as float32 in [-1, 1] (the labels as they are). */
export function fashionSymmetric(split: 'train' | 'test'): { images: Tensor; labels: Tensor } {
  const d = fashionMnist(split);
  const images = toSymmetric(d.images);
  d.images.dispose();
  return { images, labels: d.labels };
}

/** A grid with one row per class: `perClass` samples of each class, classes 0..9 top to bottom. */
export function classGridLabels(perClass: number, classes = 10): number[] {
  const out: number[] = [];
  for (let c = 0; c < classes; c++) for (let j = 0; j < perClass; j++) out.push(c);
  return out;
}

/** An HTML block: a PNG grid with the class names of its rows on the left (rows of `cell` px). */
function labelledGrid(src: string, title: string, rows: readonly string[], cell: number): string {
  const labels = rows.map((r) => `<div style="height:${cell}px;line-height:${cell}px;text-align:right;padding-right:6px;font-size:13px">${r}</div>`).join('');
  return `<figure style="display:inline-block;margin:0 18px 18px 0"><figcaption><b>${title}</b></figcaption>`
    + `<div style="display:flex;align-items:flex-start"><div style="padding-top:2px">${labels}</div>`
    + `<img src="${src}" style="image-rendering:pixelated;width:auto;height:${rows.length * cell + 2}px"></div></figure>`;
}


export async function trainDiffusion(opts: TrainDiffusionOptions = {}): Promise<TrainDiffusionResult> {
  const d = DEFAULT_DIFFUSION_TRAIN;
  const over = opts.config ?? {};
  const cfg: DiffusionTrainConfig = {
    ...d, ...over,
    model: { ...d.model, ...over.model, unet: { ...d.model.unet, ...over.model?.unet } },
  };
  checkDiffusionTrainConfig(cfg);
  const maxMinutes = opts.maxMinutes ?? 20;
  if (!(maxMinutes > 0) || !Number.isFinite(maxMinutes)) throw new RangeError(`trainDiffusion: maxMinutes must be a positive number, got ${maxMinutes}`);
  const maxSteps = opts.maxSteps ?? 1_000_000;
  const previewEvery = opts.previewEvery ?? 500;
  const sampleSteps = opts.sampleSteps ?? 18;
  for (const [k, v] of [['maxSteps', maxSteps], ['previewEvery', previewEvery], ['sampleSteps', sampleSteps]] as const) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`trainDiffusion: ${k} must be a positive integer, got ${v}`);
  }
  const guidances = opts.guidances ?? [0, 1, 2, 3, 5];
  if (guidances.some((g) => !(g >= 0) || !Number.isFinite(g))) throw new RangeError(`trainDiffusion: guidances must be finite numbers >= 0, got ${JSON.stringify(guidances)}`);
  const pg = opts.processGroup;
  const rank = pg?.rank ?? 0;
  // 'cuda' on several ranks: each its own GPU, cuda:LOCAL_RANK (torchrun's convention)
  const device = checkComputeDevice('trainDiffusion', opts.device === 'cuda' && pg ? `cuda:${pg.localRank}` : opts.device ?? 'cpu');
  if (pg && device !== 'cpu') assertCollectivesOn(device, 'trainDiffusion');
  const say = opts.log === null || rank !== 0 ? () => {} : (opts.log ?? ((m: string) => console.log(m)));
  const runsDir = opts.runsDir ?? 'runs';
  let name = opts.name ?? 'diffusion';
  // without a name, a fresh run never collides with an earlier one: diffusion, diffusion-2, ...
  if (opts.name === undefined && !opts.resume) {
    for (let k = 2; fs.existsSync(path.join(runsDir, name, 'config.json')); k++) name = `diffusion-${k}`;
  }
  // every rank settles the name before rank 0 creates the folder
  if (pg) await pg.barrier();
  const objective = objectiveOf(cfg);
  if (opts.out !== undefined) assertWritable(opts.out, 'trainDiffusion: out', { createDir: true });

  manualSeed(cfg.seed);
  const initGen = new Generator(cfg.seed);
  // each rank draws its own noise and label dropout (rank 0: the single-process streams)
  const noiseGen = new Generator(cfg.seed + 1 + RANK_SEED_STRIDE * rank);
  const dropGen = new Generator(cfg.seed + 2 + RANK_SEED_STRIDE * rank);
  const net = buildUNet(cfg.model, initGen).to(device);
  const emaNet = buildUNet(cfg.model).to(device); // evaluation copy that receives the EMA weights
  emaNet.eval();
  const denoiser = denoiserOf(net, cfg.model);
  const emaDenoiser = denoiserOf(emaNet, cfg.model);

  const data = datasetTo(fashionSymmetric('train'), device);
  const loader = new DataLoader(data, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed, dropLast: true, shard: pg });
  const adam = new Adam(net, { lr: cosineWithWarmup({ base: cfg.lr, warmup: cfg.warmup, total: Number.MAX_SAFE_INTEGER / 2 }) });
  const ema = new EMA(net, { decay: cfg.emaDecay, warmup: true });
  const optimizer = new AdamWithEma(adam, ema, cfg.gradClip);

  // a fixed held-out batch and fixed noise: the EMA model's denoising loss at a few noise levels
  const test = fashionSymmetric('test');
  const evalX = keep(test.images.narrow(0, 0, 128).to({ device, copy: true }));
  const evalLabels = keep(test.labels.narrow(0, 0, 128).to({ device, copy: true }));
  test.images.dispose(); test.labels.dispose();
  const evalSigmas = [0.05, 0.3, 1, 5];
  const evalNoise = keep(scope(() => torch.randn([evalSigmas.length, ...evalX.shape], { generator: new Generator(12345) }).to({ device })));

  const t0 = Date.now();
  say(`train diffusion: U-Net ${numParams(net).toLocaleString('en-US')} parameters, ${cfg.model.prediction}-prediction, ${cfg.weighting} weighting, ${cfg.noise} noise levels, batch ${cfg.batchSize}, `
    + `cond. dropout ${cfg.condDrop}, EMA ${cfg.emaDecay}; at most ${maxMinutes} min${maxSteps < 1_000_000 ? ` or ${maxSteps} steps` : ''}, ${pg ? `${pg.worldSize} processes x ` : ''}${getNumThreads()} threads -> ${path.join(runsDir, name)}`);
  const result = await train({
    run: name, runsDir, config: cfg, resume: Boolean(opts.resume), model: net, optimizer, objects: { ema },
    allowConfigChange: false,
    data: (epoch, startBatch) => loader.epoch(epoch, { startBatch }),
    stepFn: (batch: { images: Tensor; labels: Tensor }) => {
      const b = batch.images.shape[0];
      // conditioning dropout: each label becomes the null class (-1) with probability condDrop
      const drop = torch.rand([b], { generator: dropGen }).lt(cfg.condDrop).to({ device });
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
      const imgs = generate(emaDenoiser, { labels: classGridLabels(4), guidance: 3, sampler: 'heun', steps: 12, seed: 0, device });
      saveImageGrid(path.join(ctx.run.dir, 'samples', `step-${String(ctx.step).padStart(6, '0')}.png`), toUnit(imgs), { nrow: 4 });
      imgs.dispose();
      return out;
    },
    generators: { noise: noiseGen, dropout: dropGen },
    processGroup: pg, ...opts.ddp,
    planner: jobPlanner(net, { mode: opts.autotune ?? 'off', job: 'trainDiffusion', device, distributed: pg !== undefined && pg !== null, steps: maxSteps, log: say }),
  });
  const timeUp = result.stoppedBy === 'time';
  const minutes = () => (Date.now() - t0) / 60000;
  if (result.status !== 'completed' || rank !== 0) {
    evalX.dispose(); evalLabels.dispose(); evalNoise.dispose();
    if (result.status === 'completed') return { status: timeUp ? 'time-limit' : 'completed', step: result.step, config: cfg, runDir: result.run.dir, out: null, checkpoint: result.checkpoint, minutes: minutes() };
    return { status: 'interrupted', step: result.step, config: cfg, runDir: result.run.dir, out: null, checkpoint: result.checkpoint, minutes: minutes() };
  }
  const dir = result.run.dir;
  ema.copyTo(emaNet);
  const out = opts.out ?? path.join(dir, 'model.safetensors');
  saveCheckpoint(out, { model: emaNet, step: result.step, config: { kind: DIFFUSION_KIND, model: cfg.model, input: DIFFUSION_INPUT, train: cfg, steps: result.step, minutes: minutes() } });
  say(`${timeUp ? `time limit (${maxMinutes} min) reached` : 'done'} after ${result.step} steps; EMA weights saved to ${out}`);

  // labelled grids at several guidance scales, same noise and labels for each
  const sections: { heading: string; html: string }[] = [];
  const perClass = 8;
  const blocks: string[] = [];
  for (const g of guidances) {
    const imgs = generate(emaDenoiser, { labels: classGridLabels(perClass), guidance: g, sampler: 'heun', steps: sampleSteps, seed: 0, progress: `guidance ${g}`, device });
    const file = `grid-guidance-${g}.png`;
    saveImageGrid(path.join(dir, file), toUnit(imgs), { nrow: perClass });
    imgs.dispose();
    blocks.push(labelledGrid(file, `γ = ${g}`, FASHION_MNIST_CLASSES, 30 * 2));
  }
  sections.push({ heading: `Samples: Heun, ${sampleSteps} steps (${samplerNfe('heun', sampleSteps)} evaluations), one row per class, same noise in every grid`, html: blocks.join('') });
  const traj = trajectoryStrip(emaDenoiser, path.join(dir, 'trajectory.png'), sampleSteps, device);
  sections.push({ heading: 'Denoising trajectory (γ = 3): the estimate D(x, σ) at each step, σ from 80 down to 0', html: `<img src="trajectory.png" style="image-rendering:pixelated;width:100%;max-width:${traj}px">` });
  // the grids and trajectory are in the sections; the Media section keeps only the training previews
  writeReport(dir, { status: timeUp ? 'completed (time limit)' : 'completed', step: result.step, sections, media: (found) => found.filter((f) => f.startsWith('samples/')) });
  say(`grids at guidance ${guidances.join(', ')} and the report: ${path.join(dir, 'index.html')}`);
  evalX.dispose(); evalLabels.dispose(); evalNoise.dispose();
  return { status: timeUp ? 'time-limit' : 'completed', step: result.step, config: cfg, runDir: dir, out, checkpoint: result.checkpoint, minutes: minutes() };
}

/** One sample per class (rows), the denoised estimate at each step (columns); returns the image width in px. */
function trajectoryStrip(model: Denoiser, file: string, steps: number, device = 'cpu'): number {
  const frames: Tensor[] = [];
  const imgs = generate(model, {
    labels: classGridLabels(1), guidance: 3, sampler: 'heun', steps, seed: 1, device,
    callback: (info) => { frames.push(keep(info.denoised.clone())); },
  });
  frames.push(imgs);
  const stacked = scope(() => toUnit(torch.stack(frames, 1).reshape([-1, 1, 28, 28]))); // (10·(steps+1), 1, 28, 28) row-major by class
  saveImageGrid(file, stacked, { nrow: frames.length });
  frames.forEach((f) => f.dispose());
  stacked.dispose();
  return frames.length * 30 * 2;
}

