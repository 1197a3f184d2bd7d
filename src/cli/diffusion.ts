// refinery train diffusion / sample / eval diffusion: flags and printing over trainDiffusion,
// sampleGrid and evaluateDiffusion (src/diffusion).
import * as path from 'path';
import {
  DEFAULT_DIFFUSION_TRAIN, NOISES, PREDICTIONS, SAMPLER_NAMES, WEIGHTINGS, evaluateDiffusion, sampleGrid, trainDiffusion,
} from '../diffusion';
import { MAX_MINUTES, UsageError, bool, choice, choiceList, command, file, int, ddpFlags, ddpOptions, autotuneFlag, deviceFlag, jsonFlag, nprocFlag, num, numList, outDir, outFile, resumeFlag, runName, runsDirFlag, seedFlag } from './flags';
import { processGroupFromEnv, relaunch } from './launch';
import type { AutotuneMode } from '../conv/plan';
import { MAX_BATCH_IMAGES, MAX_EVAL_SAMPLES, MAX_GUIDANCE, MAX_NFE, MAX_SAMPLER_STEPS, MAX_SAMPLES } from './limits';

const d = DEFAULT_DIFFUSION_TRAIN;
const MAX_BATCH = MAX_BATCH_IMAGES, MAX_STEPS = MAX_SAMPLER_STEPS;

export const trainDiffusionCommand = command({
  name: 'train diffusion',
  summary: 'train the class-conditional diffusion model on Fashion-MNIST; sample grids and a report in runs/NAME',
  description: `The README's main job: an EDM U-Net with classifier-free-guidance dropout, Adam with an EMA of the
weights, at most --max-minutes of training (Ctrl-C saves a checkpoint; --resume continues it), then
labelled grids at each --guidance scale, a denoising trajectory and runs/NAME/index.html.`,
  flags: {
    'max-minutes': num({ description: 'stop training after this many minutes, then save and sample', default: 20, above: 0, max: MAX_MINUTES, valueName: 'M' }),
    steps: int({ description: 'stop after this many optimizer steps (default: only the time limit)', min: 1, max: 10_000_000 }),
    prediction: choice({ description: 'what the network predicts', choices: PREDICTIONS, default: d.model.prediction }),
    weighting: choice({ description: 'loss weighting over noise levels', choices: WEIGHTINGS, default: d.weighting }),
    noise: choice({ description: 'training noise-level distribution (likelihood-is needs --weighting likelihood)', choices: NOISES, default: d.noise }),
    'sigma-data': num({ description: 'standard deviation of the data (EDM preconditioning)', default: d.model.sigmaData, above: 0, max: 100 }),
    channels: int({
      description: 'U-Net base channels', default: d.model.unet.channels, min: 2, max: 512, check: (v) => v % 2 === 0,
      expected: 'an even integer in [2, 512] (the noise embedding is half sines, half cosines)',
    }),
    'res-blocks': int({ description: 'residual blocks per U-Net level', default: d.model.unet.numResBlocks ?? 1, min: 1, max: 8 }),
    dropout: num({ description: 'dropout in the residual blocks', default: d.model.unet.dropout ?? 0, min: 0, below: 1 }),
    'batch-size': int({ description: 'images per step', default: d.batchSize, min: 1, max: MAX_BATCH }),
    lr: num({ description: 'peak learning rate (cosine schedule with warmup)', default: d.lr, above: 0, max: 1 }),
    warmup: int({ description: 'learning-rate warmup steps', default: d.warmup, min: 0, max: 1_000_000 }),
    ema: num({ description: 'EMA decay of the weights', default: d.emaDecay, min: 0, below: 1 }),
    'cond-drop': num({ description: 'probability of dropping the label (classifier-free guidance)', default: d.condDrop, min: 0, max: 1, valueName: 'P' }),
    'grad-clip': num({ description: 'clip the gradient norm to this (0: no clipping)', default: d.gradClip, min: 0, max: 1e6 }),
    seed: seedFlag(),
    'preview-every': int({ description: 'preview grid, held-out losses and a checkpoint every this many steps', default: 500, min: 1, max: 10_000_000 }),
    guidance: numList({ description: 'guidance scales of the final grids', default: [0, 1, 2, 3, 5], min: 0, max: MAX_GUIDANCE }),
    'sample-steps': int({ description: 'Heun steps of the final grids and trajectory', default: 18, min: 1, max: MAX_STEPS }),
    name: runName('run folder name (default diffusion, or diffusion-2, ... when that exists)', 'diffusion'),
    'runs-dir': runsDirFlag(),
    resume: resumeFlag(),
    out: outFile({ description: 'where to write the EMA weights (default runs/NAME/model.safetensors)', ext: '.safetensors' }),
    nproc: nprocFlag(),
    ...ddpFlags(),
    device: deviceFlag(),
    autotune: autotuneFlag(),
  },
  async run(f, given) {
    const launched = await relaunch(f.nproc);
    if (launched !== null) return launched;
    const processGroup = await processGroupFromEnv();
    // --name pins the folder; without it, trainDiffusion picks a fresh one (diffusion, diffusion-2, ...)
    const named = given.has('name');
    const r = await trainDiffusion({
      config: {
        weighting: f.weighting, noise: f.noise, batchSize: f['batch-size'], lr: f.lr, warmup: f.warmup, emaDecay: f.ema,
        condDrop: f['cond-drop'], gradClip: f['grad-clip'], seed: f.seed,
        model: { prediction: f.prediction, sigmaData: f['sigma-data'], unet: { channels: f.channels, numResBlocks: f['res-blocks'], dropout: f.dropout } },
      },
      maxMinutes: f['max-minutes'], maxSteps: f.steps, previewEvery: f['preview-every'], guidances: f.guidance, sampleSteps: f['sample-steps'],
      name: named ? f.name : undefined, runsDir: f['runs-dir'], resume: f.resume, out: f.out,
      log: (m) => console.log(`refinery ${m}`),
      processGroup, ddp: ddpOptions(f), device: f.device, autotune: f.autotune as AutotuneMode,
    });
    processGroup?.destroy();
    if (processGroup && processGroup.rank !== 0) return r.status === 'interrupted' ? 130 : 0; // rank 0 reports
    if (r.status === 'interrupted') {
      console.log(`interrupted at step ${r.step}; resume with --resume${named ? ` --name ${f.name}` : ` --name ${path.basename(r.runDir)}`} (checkpoint ${r.checkpoint})`);
      return 130;
    }
    return 0;
  },
  check(f) {
    if (f.noise === 'likelihood-is' && f.weighting !== 'likelihood') {
      throw new UsageError(`--noise likelihood-is importance-samples the likelihood weighting: give --weighting likelihood (got --weighting ${f.weighting})`);
    }
  },
});

/** Flags of the sampling settings, shared by sample and eval diffusion. */
const samplingFlags = {
  seed: seedFlag('seed of the initial noise (the same for every setting)'),
  'batch-size': int({ description: 'samples per network call', default: 100, min: 1, max: MAX_BATCH }),
  clip: bool({ description: 'clip the denoised estimate to [-1, 1] at every step' }),
  threshold: num({ description: "Imagen's dynamic thresholding percentile (e.g. 0.995)", above: 0, below: 1, valueName: 'P' }),
  churn: num({ description: "EDM's stochastic churn (heun)", min: 0, max: 100 }),
  eta: num({ description: 'noise of the DDIM step (0 deterministic, 1 DDPM-like)', min: 0, max: 10 }),
};

export const sampleCommand = command({
  name: 'sample',
  summary: 'draw samples from a diffusion checkpoint into a PNG grid',
  description: 'Without --class, classes 0-9 in turn (one per column); --classifier-guidance steers the\nunconditional model with the noise-conditional classifier instead of classifier-free guidance.',
  flags: {
    checkpoint: file({ description: 'diffusion checkpoint (default: the shipped checkpoints/fashion-diffusion.safetensors)', checkpoint: 'diffusion' }),
    n: int({ description: 'number of samples', default: 64, min: 1, max: MAX_SAMPLES }),
    class: int({ description: 'one class for every sample, 0-9 (-1: unconditional)', min: -1, max: 9, valueName: 'C' }),
    sampler: choice({ description: 'sampler', choices: SAMPLER_NAMES, default: 'heun' }),
    steps: int({ description: 'noise levels', default: 18, min: 1, max: MAX_STEPS }),
    nfe: int({ description: 'instead of --steps: the most steps that spend at most this many network evaluations', min: 1, max: MAX_NFE }),
    guidance: num({ description: 'classifier-free guidance scale (0 unconditional, 1 conditional)', default: 3, min: 0, max: MAX_GUIDANCE }),
    temperature: num({ description: 'score temperature instead of guidance (scales the conditional score)', above: 0, max: 100, valueName: 'T' }),
    'classifier-guidance': num({ description: 'classifier guidance scale (the unconditional model steered by the noisy classifier)', min: 0, max: MAX_GUIDANCE, valueName: 'S' }),
    'noisy-classifier': file({ description: 'noise-conditional classifier for --classifier-guidance (default: the shipped one)', checkpoint: 'noisy-classifier' }),
    ...samplingFlags,
    out: outFile({ description: 'PNG file to write', default: 'samples.png', ext: '.png' }),
    device: deviceFlag(),
  },
  check(f, given) {
    if (given.has('nfe') && given.has('steps')) throw new UsageError('--steps and --nfe: give one of them, not both');
  },
  run(f) {
    const r = sampleGrid({
      checkpoint: f.checkpoint, n: f.n, classLabel: f.class, sampler: f.sampler, steps: f.steps, nfe: f.nfe, guidance: f.guidance,
      temperature: f.temperature, seed: f.seed, batchSize: f['batch-size'], clip: f.clip, threshold: f.threshold, churn: f.churn, eta: f.eta,
      classifierGuidance: f['classifier-guidance'] === undefined ? undefined : { scale: f['classifier-guidance'], file: f['noisy-classifier'] },
      out: f.out, progress: 'sampling', device: f.device,
    });
    console.log(`${r.n} samples (${r.description}), ${r.sampler} ${r.steps} steps, guidance ${r.guidance}, ${r.seconds.toFixed(1)} s -> ${r.out}`);
    return 0;
  },
});

export const evalDiffusionCommand = command({
  name: 'eval diffusion',
  summary: 'classifier-FID, class adherence and within-class diversity of a diffusion checkpoint (and bits/dim)',
  description: `Every combination of the listed --sampler, --nfe, --guidance, --temperature and
--classifier-guidance values is one row of --n samples (classes balanced, the same seed for each row).`,
  flags: {
    checkpoint: file({ description: 'diffusion checkpoint (default: the shipped checkpoints/fashion-diffusion.safetensors)', checkpoint: 'diffusion' }),
    classifier: file({ description: 'reference classifier (default: the shipped checkpoints/fashion-classifier.safetensors)', checkpoint: 'fashion-classifier' }),
    n: int({ description: 'samples per setting', default: 1000, min: 1, max: MAX_EVAL_SAMPLES }),
    sampler: choiceList({ description: 'samplers', choices: SAMPLER_NAMES, default: ['heun'] }),
    steps: int({ description: 'noise levels (when no --nfe)', default: 18, min: 1, max: MAX_STEPS }),
    nfe: numList({ description: 'network-evaluation budgets, each one setting', integer: true, min: 1, max: MAX_NFE }),
    guidance: numList({ description: 'classifier-free guidance scales', default: [3], min: 0, max: MAX_GUIDANCE }),
    temperature: numList({ description: 'score temperatures instead of guidance', above: 0, max: 100, valueName: 'T,T,...' }),
    'classifier-guidance': numList({ description: 'classifier guidance scales instead of guidance', min: 0, max: MAX_GUIDANCE, valueName: 'S,S,...' }),
    'noisy-classifier': file({ description: 'noise-conditional classifier for --classifier-guidance (default: the shipped one)', checkpoint: 'noisy-classifier' }),
    unconditional: bool({ description: 'unconditional samples (adherence is then not defined)' }),
    ...samplingFlags,
    floor: bool({ description: 'also the metrics of --n real training images (FID\'s small-sample floor)' }),
    bpd: int({ description: 'also bits/dim of this many test images (PF-ODE, Hutchinson)', min: 1, max: 10000 }),
    'bpd-steps': int({ description: 'Heun steps of the bits/dim ODE', default: 48, min: 1, max: MAX_STEPS }),
    'bpd-only': bool({ description: 'only bits/dim (needs --bpd)' }),
    grids: outDir({ description: 'write a PNG grid per setting (8 samples of each class) into this folder' }),
    json: jsonFlag(),
  },
  check(f) {
    if (f['bpd-only'] && f.bpd === undefined) throw new UsageError('--bpd-only: give --bpd N too (the number of test images)');
  },
  run(f) {
    const ckpt = f.checkpoint ?? 'checkpoints/fashion-diffusion.safetensors';
    const r = evaluateDiffusion({
      checkpoint: f.checkpoint, classifier: f.classifier, n: f.n, unconditional: f.unconditional, samplers: f.sampler, steps: f.steps,
      nfes: f.nfe, guidances: f.guidance, temperatures: f.temperature, classifierGuidance: f['classifier-guidance'], noisyClassifier: f['noisy-classifier'],
      seed: f.seed, batchSize: f['batch-size'], clip: f.clip, threshold: f.threshold, churn: f.churn, eta: f.eta,
      grids: f.grids, floor: f.floor, bpd: f.bpd, bpdSteps: f['bpd-steps'], bpdOnly: f['bpd-only'],
      onRow: (row) => {
        if (f.json) { console.log(JSON.stringify({ checkpoint: ckpt, ...row })); return; }
        const s = row.setting;
        const what = s.classifierGuidance !== undefined ? `classifier γ=${s.classifierGuidance}` : s.temperature === undefined ? `γ=${s.guidance}` : `T=${s.temperature}`;
        console.log(`${s.sampler.padEnd(15)} steps ${String(s.steps).padStart(3)} ${what.padEnd(16)} FID ${row.fid.toFixed(2).padStart(7)}  adherence ${(100 * row.adherence).toFixed(1).padStart(5)}%  ` +
          `diversity ${row.diversity.toFixed(3)} (test set ${row.referenceDiversity.toFixed(3)})  ${row.seconds.toFixed(0)} s`);
      },
    });
    if (r.floor) {
      const m = r.floor;
      if (f.json) console.log(JSON.stringify({ checkpoint: 'real training images', setting: { real: true }, nfe: 0, seconds: 0, ...m }));
      else console.log(`real train images (${m.n})         FID ${m.fid.toFixed(2).padStart(7)}  adherence ${(100 * m.adherence).toFixed(1).padStart(5)}%  diversity ${m.diversity.toFixed(3)}`);
    }
    if (r.bpd) {
      const b = r.bpd;
      if (f.json) console.log(JSON.stringify({ checkpoint: ckpt, ...b }));
      else console.log(`bits/dim ${b.bitsPerDim.toFixed(3)} ± ${b.stderr.toFixed(3)} (unconditional, ${b.images} test images, PF-ODE Heun, Hutchinson, ${b.seconds.toFixed(0)} s)`);
    }
    return 0;
  },
});
