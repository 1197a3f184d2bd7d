// Training the DiffWave-style waveform diffusion model on mini-NSynth (whole notes, pitch and
// instrument labels with conditioning dropout for classifier-free guidance) through the training loop,
// with src/diffusion's EDM loss; then notes sampled with Heun next to real ones in the report.
// `refinery train diffwave` calls trainDiffWave.
import * as path from 'path';
import { Generator, Tensor, assertWritable, functions as torch, getNumThreads, keep, manualSeed, noGrad, scope } from '../tensor';
import { Adam, EMA, cosineWithWarmup } from '../optim';
import { numParams } from '../nn';
import { Progress, loadModel, saveCheckpoint, train, writeReport } from '../train';
import { AdamWithEma } from '../train/adam_with_ema';
import { diffusionLoss, edmWeighting, logNormalSigmas } from '../diffusion/objectives';
import { denoiseAt } from '../diffusion/denoiser';
import { requireFile, shippedFile } from '../train/shipped';
import { writeWav } from './wav';
import { NoteGrid, miniNsynth } from './datasets';
import { notesSection } from './notes_report';
import { checkAudioJob, checkNoteRequest, failer, noteFiles } from './job';
import { DEFAULT_DIFFWAVE, DIFFWAVE_KIND, DiffWave, DiffWaveConfig, sampleDiffWave } from './diffwave';

export interface DiffWaveTrainConfig {
  model: DiffWaveConfig;
  data: NoteGrid;
  batchSize: number;
  lr: number;
  warmup: number;
  emaDecay: number;
  /** Probability of dropping each example's labels (classifier-free guidance). */
  condDrop: number;
  gradClip: number;
  seed: number;
}

export const DEFAULT_DIFFWAVE_TRAIN: DiffWaveTrainConfig = {
  model: DEFAULT_DIFFWAVE, data: {}, batchSize: 4, lr: 2e-3, warmup: 100, emaDecay: 0.999, condDrop: 0.1, gradClip: 1, seed: 0,
};

export interface TrainDiffWaveOptions {
  config?: Partial<Omit<DiffWaveTrainConfig, 'model'>> & { model?: Partial<DiffWaveConfig> };
  maxMinutes?: number;
  maxSteps?: number;
  evalEvery?: number;
  /** Sampler steps (Heun) and guidance of the report's notes. Default 12 and 2. */
  sampleSteps?: number;
  guidance?: number;
  name?: string;
  runsDir?: string;
  resume?: boolean;
  out?: string;
  log?: ((msg: string) => void) | null;
}

export interface TrainDiffWaveResult {
  status: 'completed' | 'time-limit' | 'interrupted';
  step: number;
  config: DiffWaveTrainConfig;
  runDir: string;
  out: string | null;
  checkpoint: string;
  minutes: number;
  /** Pitch accuracy (YIN) of the report's generated notes, and of the real ones. */
  pitchAccuracy: { generated: number; real: number } | null;
}

/** Trains the waveform diffusion model on mini-NSynth; see TrainDiffWaveOptions. */
export async function trainDiffWave(opts: TrainDiffWaveOptions = {}): Promise<TrainDiffWaveResult> {
  const d = DEFAULT_DIFFWAVE_TRAIN, over = opts.config ?? {};
  const cfg: DiffWaveTrainConfig = {
    ...d, ...over, data: { ...d.data, ...over.data },
    model: { ...d.model, ...over.model, globalClasses: { ...(over.model?.globalClasses ?? d.model.globalClasses) } },
  };
  const fail = failer('trainDiffWave');
  const maxMinutes = opts.maxMinutes ?? 20, maxSteps = opts.maxSteps ?? 10_000_000, evalEvery = opts.evalEvery ?? 200;
  const sampleSteps = opts.sampleSteps ?? 12, guidance = opts.guidance ?? 2;
  checkAudioJob('trainDiffWave', cfg, { maxMinutes, maxSteps, evalEvery });
  if (!Number.isSafeInteger(sampleSteps) || sampleSteps <= 0) fail('sampleSteps', sampleSteps, 'a positive integer');
  if (!(cfg.condDrop >= 0 && cfg.condDrop <= 1)) fail('condDrop', cfg.condDrop, 'a probability in [0, 1]');
  if (!Number.isFinite(guidance)) fail('guidance', guidance, 'a finite number');
  const say = opts.log === null ? () => {} : (opts.log ?? ((m: string) => console.log(m)));
  const runsDir = opts.runsDir ?? 'runs', name = opts.name ?? 'diffwave';
  if (opts.out !== undefined) assertWritable(opts.out, 'trainDiffWave: out', { createDir: true });

  manualSeed(cfg.seed);
  const trainSet = miniNsynth('train', { ...cfg.data, verbose: opts.log !== null });
  const validSet = miniNsynth('valid', cfg.data);
  const instruments = trainSet.classes.instrument.length;
  if (cfg.model.globalClasses.instrument !== undefined && cfg.model.globalClasses.instrument < instruments) cfg.model.globalClasses.instrument = instruments;
  // σ_data from the training notes (EDM preconditioning): their standard deviation.
  cfg.model.sigmaData = over.model?.sigmaData ?? Number(trainSet.audio.std().item().toPrecision(3));
  const initGen = new Generator(cfg.seed), noiseGen = new Generator(cfg.seed + 1);
  const net = new DiffWave(cfg.model, { generator: initGen });
  const emaNet = new DiffWave(cfg.model);
  emaNet.eval();
  const D = net.denoiser(), emaD = emaNet.denoiser();
  const labelsOf = (ds: typeof trainSet, index: Tensor) => torch.stack(net.globalNames.map((k) => ds.labels[k].indexSelect(0, index)), 1);
  const adam = new Adam(net, { lr: cosineWithWarmup({ base: cfg.lr, warmup: cfg.warmup, total: Number.MAX_SAFE_INTEGER / 2 }) });
  const ema = new EMA(net, { decay: cfg.emaDecay, warmup: true });
  const optimizer = new AdamWithEma(adam, ema, cfg.gradClip);
  const weighting = edmWeighting({ sigmaData: cfg.model.sigmaData }), sigmaSampler = logNormalSigmas();
  // validation: the EMA model's denoising error at a few noise levels, on fixed notes and noise
  const nVal = Math.min(16, validSet.audio.shape[0]);
  const valX = keep(validSet.audio.narrow(0, 0, nVal).clone());
  const valLabels = keep(labelsOf(validSet, torch.arange(nVal, { dtype: 'int64' })));
  const valSigmas = [0.01, 0.1, 1].map((f) => f * 5 * cfg.model.sigmaData);
  const valNoise = keep(torch.randn([valSigmas.length, ...valX.shape], { generator: new Generator(12345) }));
  const stepsPerEpoch = Math.floor(trainSet.audio.shape[0] / cfg.batchSize);
  const t0 = Date.now();
  say(`train diffwave: ${numParams(net).toLocaleString('en-US')} parameters, receptive field ±${net.receptiveField} samples, σ_data ${cfg.model.sigmaData}, `
    + `${trainSet.audio.shape[0]} training notes of ${trainSet.audio.shape[1]} samples, batch ${cfg.batchSize}; at most ${maxMinutes} min, ${getNumThreads()} threads -> ${path.join(runsDir, name)}`);
  let result;
  try {
    result = await train({
      run: name, runsDir, config: cfg, resume: Boolean(opts.resume), model: net, optimizer, objects: { ema }, allowConfigChange: false,
      data: function* (epoch, startBatch) {
        // a permutation per epoch from its own generator: the data position alone makes a resumed run exact
        const g = new Generator(cfg.seed * 1_000_003 + epoch + 1);
        const perm = keep(torch.randperm(trainSet.audio.shape[0], { generator: g }));
        g.dispose();
        try {
          for (let i = startBatch; i < stepsPerEpoch; i++) {
            const idx = perm.narrow(0, i * cfg.batchSize, cfg.batchSize);
            yield { x: trainSet.audio.indexSelect(0, idx), labels: labelsOf(trainSet, idx) };
          }
        } finally {
          perm.dispose();
        }
      },
      stepFn: (batch: { x: Tensor; labels: Tensor }) => {
        // conditioning dropout: an example's labels all become the null class with probability condDrop
        const drop = torch.rand([batch.x.shape[0], 1], { generator: noiseGen }).lt(cfg.condDrop);
        const labels = batch.labels.maskedFill(drop, -1);
        return { loss: diffusionLoss(D, batch.x, { generator: noiseGen, weighting, sigmaSampler, extra: { labels } }) };
      },
      steps: maxSteps, maxSeconds: maxMinutes * 60, stepsPerEpoch, logEvery: 10,
      evalEvery, checkpointEvery: evalEvery,
      evalFn: () => noGrad(() => scope(() => {
        ema.copyTo(emaNet);
        const out: Record<string, number> = {};
        valSigmas.forEach((s, i) => {
          const den = denoiseAt(emaD, valX.add(valNoise.select(0, i).mul(s)), s, { labels: valLabels });
          out[`mse@sigma=${s.toPrecision(2)}`] = den.sub(valX).square().mean().item();
        });
        return out;
      })),
      generators: { noise: noiseGen },
    });
  } finally {
    trainSet.audio.dispose();
    Object.values(trainSet.labels).forEach((t) => t.dispose());
  }
  const minutes = () => (Date.now() - t0) / 60000;
  const finish = () => { valX.dispose(); valLabels.dispose(); valNoise.dispose(); validSet.audio.dispose(); };
  if (result.status !== 'completed') {
    finish();
    return { status: 'interrupted', step: result.step, config: cfg, runDir: result.run.dir, out: null, checkpoint: result.checkpoint, minutes: minutes(), pitchAccuracy: null };
  }
  const timeUp = result.stoppedBy === 'time';
  const dir = result.run.dir;
  ema.copyTo(emaNet);
  const out = opts.out ?? path.join(dir, 'diffwave.safetensors');
  saveCheckpoint(out, { model: emaNet, step: result.step, config: { kind: DIFFWAVE_KIND, model: cfg.model, train: cfg, steps: result.step, minutes: minutes() } });
  say(`${timeUp ? `time limit (${maxMinutes} min) reached` : 'done'} after ${result.step} steps; EMA weights saved to ${out}`);
  const seconds = validSet.audio.shape[1] / validSet.sampleRate;
  const notes = notesSection(dir, validSet, seconds, `Heun, ${sampleSteps} steps, guidance ${guidance}`, (labels, length) => {
    const bar = new Progress({ total: 1, label: 'sample notes', unit: 'batch' });
    const t1 = performance.now();
    const lab = torch.stack(emaNet.globalNames.map((k) => labels[k]), 1);
    const x = sampleDiffWave(emaNet, { labels: lab, length, steps: sampleSteps, guidance, generator: new Generator(0) });
    bar.set(1);
    bar.close();
    const secs = (performance.now() - t1) / 1000;
    say(`sampled ${lab.shape[0]} notes of ${length} samples in ${secs.toFixed(1)} s (${(secs / (lab.shape[0] * seconds)).toFixed(2)} s per second of audio)`);
    return x;
  }, say);
  writeReport(dir, { status: timeUp ? 'completed (time limit)' : 'completed', step: result.step, sections: notes.sections, media: () => [] });
  say(`generated notes and the report: ${path.join(dir, 'index.html')}`);
  finish();
  return { status: timeUp ? 'time-limit' : 'completed', step: result.step, config: cfg, runDir: dir, out, checkpoint: result.checkpoint, minutes: minutes(), pitchAccuracy: notes.pitchAccuracy };
}

/** Where the committed DiffWave checkpoint lives (relative to the package root). */
export const DIFFWAVE_CHECKPOINT = 'checkpoints/diffwave-nsynth.safetensors';

/** Loads a DiffWave checkpoint written by trainDiffWave, in eval mode. */
export function loadDiffWave(file: string): DiffWave {
  return loadModel(file, DIFFWAVE_KIND, (c: DiffWaveConfig) => new DiffWave(c, { generator: new Generator(0) }), DEFAULT_DIFFWAVE).model;
}

/** `refinery generate audio --model diffwave`: notes of one pitch and instrument from a DiffWave checkpoint (default: the shipped one), as WAV. */
export function generateDiffWaveNotes(o: { checkpoint?: string; pitch: number; instrument: number; seconds?: number; count?: number; steps?: number; guidance?: number; seed?: number; out: string; progress?: boolean }): { files: string[]; seconds: number; samplesPerSecond: number } {
  const seconds = o.seconds ?? 1, count = o.count ?? 1, steps = o.steps ?? 12, guidance = o.guidance ?? 2;
  checkNoteRequest(seconds, count);
  if (!Number.isInteger(steps) || steps < 1 || steps > 1000) throw new RangeError(`generateNotes: steps must be an integer in 1..1000, got ${steps}`);
  if (!(guidance >= 0 && guidance <= 100)) throw new RangeError(`generateNotes: guidance must be in [0, 100], got ${guidance}`);
  const file = o.checkpoint ?? shippedFile(DIFFWAVE_CHECKPOINT);
  requireFile(file, 'generateNotes');
  const model = loadDiffWave(file);
  const c = model.config;
  const pitchClasses = c.globalClasses.pitch, instClasses = c.globalClasses.instrument;
  if (pitchClasses !== undefined && (!Number.isInteger(o.pitch) || o.pitch < 0 || o.pitch >= pitchClasses)) throw new RangeError(`generateNotes: pitch must be a MIDI number in 0..${pitchClasses - 1}, got ${o.pitch}`);
  if (instClasses !== undefined && (!Number.isInteger(o.instrument) || o.instrument < 0 || o.instrument >= instClasses)) throw new RangeError(`generateNotes: instrument must be in 0..${instClasses - 1}, got ${o.instrument}`);
  assertWritable(o.out, 'generateNotes: out', { createDir: true });
  return scope(() => {
    const cols = model.globalNames.map((k) => torch.full([count], k === 'pitch' ? o.pitch : k === 'instrument' ? o.instrument : -1, { dtype: 'int64' }));
    const length = Math.round(seconds * c.sampleRate);
    const t0 = performance.now();
    const x = sampleDiffWave(model, { labels: torch.stack(cols, 1), length, steps, guidance, generator: new Generator(o.seed ?? 0) }).clamp(-1, 1);
    const secs = (performance.now() - t0) / 1000;
    const files = noteFiles(o.out, count);
    files.forEach((f, i) => writeWav(f, x.select(0, i), c.sampleRate));
    return { files, seconds: secs, samplesPerSecond: (count * length) / secs };
  });
}
