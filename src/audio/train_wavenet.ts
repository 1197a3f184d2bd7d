// Training WaveNet on mini-NSynth, pitch- and instrument-conditioned, through the repository's
// training loop (run folder, progress bar, metrics.jsonl, checkpoints, resume, Ctrl-C), then
// generating notes with the cached sampler into the run's report (players, waveforms, spectrograms).
// `refinery train wavenet` calls trainWavenet; `refinery generate audio` generateNotes.
import * as path from 'path';
import { Generator, Tensor, assertWritable, functions as torch, getNumThreads, keep, manualSeed, noGrad, scope, tensor } from '../tensor';
import { Adam, EMA, cosineWithWarmup } from '../optim';
import { AdamWithEma } from '../train/adam_with_ema';
import { numParams } from '../nn';
import { Progress, loadModel, saveCheckpoint, train, writeReport } from '../train';
import { requireFile, shippedFile } from '../train/shipped';
import { AudioDataset, GM_INSTRUMENTS, NoteGrid, miniNsynth } from './datasets';
import { muLawEncodeTorchaudio } from './mulaw';
import { writeWav } from './wav';
import { notesSection } from './notes_report';
import { DEFAULT_WAVENET, WAVENET_KIND, WaveNet, WaveNetConfig, generate, receptiveField } from './wavenet';
import { checkAudioJob, checkNoteRequest, failer, noteFiles } from './job';
import { generateDiffWaveNotes } from './train_diffwave';
import { SpeechGrid, VOCODER_MEL, VocoderMel, melCrops, padClips, pickClips, vocoderClips } from './vocoder';
import { compareVocoding } from './vocoding_report';

export interface WavenetTrainConfig {
  model: WaveNetConfig;
  /** The mini-NSynth grid trained on (default: miniNsynth's). */
  data: NoteGrid;
  batchSize: number;
  /** Samples per training crop (the loss covers all of them; crops start up to a receptive field before the note). */
  cropLength: number;
  lr: number;
  warmup: number;
  gradClip: number;
  /** Decay of the weights' exponential moving average used for evaluation and generation. */
  emaDecay: number;
  seed: number;
  /**
   * 'labels': notes from pitch and instrument (global conditioning, mini-NSynth); 'mel': a vocoder, audio
   * from its mel spectrogram (local conditioning on `mel` frames, mini-NSynth notes and espeak-ng speech).
   */
  conditioning: 'labels' | 'mel';
  /** The vocoder's mel spectrogram (conditioning 'mel'). */
  mel: VocoderMel;
  /** The vocoder's speech clips (conditioning 'mel'; with the `data` notes). */
  speech: SpeechGrid;
}

export const DEFAULT_WAVENET_MODEL: WaveNetConfig = {
  ...DEFAULT_WAVENET, layers: 10, stacks: 2, residualChannels: 32, gateChannels: 64, skipChannels: 64,
  globalClasses: { pitch: 128, instrument: 10 },
};

export const DEFAULT_WAVENET_TRAIN: WavenetTrainConfig = {
  model: DEFAULT_WAVENET_MODEL, data: {}, batchSize: 4, cropLength: 4096, lr: 2e-3, warmup: 100, gradClip: 1, emaDecay: 0.999, seed: 0,
  conditioning: 'labels', mel: { ...VOCODER_MEL }, speech: {},
};

/** Where the committed WaveNet checkpoint lives (relative to the package root). */
export const WAVENET_CHECKPOINT = 'checkpoints/wavenet-nsynth.safetensors';

export interface TrainWavenetOptions {
  config?: Partial<Omit<WavenetTrainConfig, 'model'>> & { model?: Partial<WaveNetConfig> };
  /** Stop after this many minutes (default 20), then save and generate. */
  maxMinutes?: number;
  maxSteps?: number;
  /** Validation and checkpoint interval in steps (default 200). */
  evalEvery?: number;
  /** Seconds of each generated note in the report (default 1). */
  sampleSeconds?: number;
  name?: string;
  runsDir?: string;
  resume?: boolean;
  /** Final weights (.safetensors); default <run dir>/wavenet.safetensors. */
  out?: string;
  log?: ((msg: string) => void) | null;
}

export interface TrainWavenetResult {
  status: 'completed' | 'time-limit' | 'interrupted';
  step: number;
  config: WavenetTrainConfig;
  /** Validation negative log-likelihood, bits per sample (NaN when interrupted). */
  valBits: number;
  runDir: string;
  out: string | null;
  checkpoint: string;
  minutes: number;
}

function checkConfig(c: WavenetTrainConfig, run: { maxMinutes: number; maxSteps: number; evalEvery: number }): void {
  checkAudioJob('trainWavenet', c, run);
  const fail = failer('trainWavenet');
  const rf = receptiveField(c.model.layers, c.model.stacks, c.model.kernelSize);
  if (!Number.isSafeInteger(c.cropLength) || c.cropLength < 2 || c.cropLength > 1 << 18) fail('cropLength', c.cropLength, 'an integer in 2..262144 samples');
  if (c.cropLength < rf) fail('cropLength', c.cropLength, `at least the receptive field (${rf} samples)`);
  if (c.conditioning !== 'labels' && c.conditioning !== 'mel') fail('conditioning', c.conditioning, "'labels' (notes from pitch and instrument) or 'mel' (a vocoder)");
}

/**
 * Mu-law codes of random crops: each note is prefixed with `pad` samples of silence (so crops see
 * onsets from silence, as generation starts), then `length` samples are cut at a uniform offset.
 */
export function noteCrops(audio: Tensor, length: number, pad: number, batch: number, g: Generator): { index: Tensor; codes: Tensor } {
  const [n, t] = audio.shape;
  if (length > t + pad) throw new RangeError(`noteCrops: length ${length} exceeds the ${t + pad} samples of a padded note`);
  return scope(() => {
    const index = torch.randint(0, n, [batch], { generator: g });
    const start = torch.randint(0, t + pad - length + 1, [batch, 1], { generator: g });
    const padded = torch.constantPadNd(audio.indexSelect(0, index), [pad, 0]);
    const crop = padded.gather(1, start.add(torch.arange(length, { dtype: 'int64' }).unsqueeze(0)));
    return { index, codes: muLawEncodeTorchaudio(crop) };
  });
}

/** Trains WaveNet on mini-NSynth (rendered into the cache on first use); see TrainWavenetOptions. */
export async function trainWavenet(opts: TrainWavenetOptions = {}): Promise<TrainWavenetResult> {
  const d = DEFAULT_WAVENET_TRAIN, over = opts.config ?? {};
  const cfg: WavenetTrainConfig = {
    ...d, ...over, data: { ...d.data, ...over.data },
    model: { ...d.model, ...over.model, globalClasses: { ...(over.model?.globalClasses ?? d.model.globalClasses) } },
  };
  cfg.mel = { ...d.mel, ...over.mel };
  cfg.speech = { ...d.speech, ...over.speech };
  const vocoder = cfg.conditioning === 'mel';
  if (vocoder) cfg.model = { ...cfg.model, globalClasses: {}, localChannels: cfg.mel.nMels, localHop: cfg.mel.hopLength };
  const maxMinutes = opts.maxMinutes ?? 20, maxSteps = opts.maxSteps ?? 10_000_000, evalEvery = opts.evalEvery ?? 200;
  // everything is checked before the data is rendered or the model built
  checkConfig(cfg, { maxMinutes, maxSteps, evalEvery });
  const sampleSeconds = opts.sampleSeconds ?? 1;
  if (!(sampleSeconds > 0 && sampleSeconds <= 10)) throw new RangeError(`trainWavenet: sampleSeconds must be in (0, 10], got ${sampleSeconds}`);
  const say = opts.log === null ? () => {} : (opts.log ?? ((m: string) => console.log(m)));
  const runsDir = opts.runsDir ?? 'runs', name = opts.name ?? (vocoder ? 'vocoder' : 'wavenet');
  if (opts.out !== undefined) assertWritable(opts.out, 'trainWavenet: out', { createDir: true });

  manualSeed(cfg.seed);
  const initGen = new Generator(cfg.seed);
  const trainSet = miniNsynth('train', { ...cfg.data, verbose: opts.log !== null });
  const validSet = miniNsynth('valid', cfg.data);
  const instruments = trainSet.classes.instrument.length;
  if (cfg.model.globalClasses.instrument !== undefined && cfg.model.globalClasses.instrument < instruments) cfg.model.globalClasses.instrument = instruments;
  const model = new WaveNet(cfg.model, { generator: initGen });
  const rf = model.receptiveField;
  // vocoder: notes and speech, padded in front with silence, and their mel features
  const vTrain = vocoder ? vocoderClips('train', { notes: cfg.data, speech: cfg.speech, verbose: opts.log !== null }) : null;
  const vValid = vocoder ? vocoderClips('valid', { notes: cfg.data, speech: cfg.speech }) : null;
  const padTrain = vTrain ? padClips(vTrain.audio, rf, cfg.mel) : null;
  const padValid = vValid ? padClips(vValid.audio, rf, cfg.mel) : null;
  if (padTrain) { keep(padTrain.audio); keep(padTrain.features); keep(padValid!.audio); keep(padValid!.features); }
  const labelsOf = (ds: AudioDataset, index: Tensor) => {
    const out: Record<string, Tensor> = {};
    for (const k of model.globalNames) out[k] = ds.labels[k].indexSelect(0, index);
    return out;
  };
  // A fixed validation set: 32 crops of the validation notes (fixed generator), scored at every evaluation.
  const val: { codes: Tensor; index?: Tensor; local?: Tensor } = padValid ? melCrops(padValid, cfg.cropLength, 32, new Generator(12345)) : noteCrops(validSet.audio, cfg.cropLength, rf, 32, new Generator(12345));
  const valLabels = vocoder ? {} : labelsOf(validSet, val.index!);
  Object.values(valLabels).forEach((t) => keep(t));
  keep(val.codes);
  if (val.local) keep(val.local);
  const adam = new Adam(model, { lr: cosineWithWarmup({ base: cfg.lr, warmup: cfg.warmup, total: Number.MAX_SAFE_INTEGER / 2 }) });
  const ema = new EMA(model, { decay: cfg.emaDecay, warmup: true });
  const optimizer = new AdamWithEma(adam, ema, cfg.gradClip);
  const emaModel = new WaveNet(cfg.model); // the evaluation copy that receives the EMA weights
  emaModel.eval();
  const stepsPerEpoch = 1000;
  const t0 = Date.now();
  say(`train wavenet${vocoder ? ' (mel vocoder)' : ''}: ${numParams(model).toLocaleString('en-US')} parameters, receptive field ${rf} samples (${(1000 * rf / cfg.model.sampleRate).toFixed(0)} ms), `
    + `${vTrain ? `${vTrain.audio.shape[0]} training clips (notes and speech)` : `${trainSet.audio.shape[0]} training notes`}, batch ${cfg.batchSize} x ${cfg.cropLength} samples; at most ${maxMinutes} min, ${getNumThreads()} threads -> ${path.join(runsDir, name)}`);
  const valBits = () => noGrad(() => scope(() => {
    ema.copyTo(emaModel);
    let total = 0;
    for (let i = 0; i < 32; i += 8) {
      const idx = tensor([i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7], { dtype: 'int64' });
      const lab: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(valLabels)) lab[k] = v.indexSelect(0, idx);
      total += emaModel.loss(val.codes.indexSelect(0, idx), lab, val.local?.indexSelect(0, idx)).item();
    }
    return total / 4 / Math.LN2;
  }));
  let result;
  try {
    result = await train({
      run: name, runsDir, config: cfg, resume: Boolean(opts.resume), model, optimizer, objects: { ema },
      // runs started before the vocoder existed have no conditioning, mel or speech in their config: the note model ignores the last two
      allowConfigChange: vocoder ? ['speech'] : ['conditioning', 'mel', 'speech'],
      // Batch i of epoch e draws from its own generator: the data position alone makes a resumed run exact.
      data: function* (epoch, startBatch) {
        for (let i = startBatch; i < stepsPerEpoch; i++) {
          const g = new Generator(cfg.seed * 1_000_003 + epoch * stepsPerEpoch + i + 1);
          if (padTrain) {
            const b = melCrops(padTrain, cfg.cropLength + 1, cfg.batchSize, g);
            g.dispose();
            yield { codes: b.codes, labels: undefined, local: b.local };
          } else {
            const b = noteCrops(trainSet.audio, cfg.cropLength + 1, rf, cfg.batchSize, g);
            g.dispose();
            yield { codes: b.codes, labels: labelsOf(trainSet, b.index), index: b.index };
          }
        }
      },
      stepFn: (batch: { codes: Tensor; labels?: Record<string, Tensor>; local?: Tensor }) => {
        const loss = model.loss(batch.codes, batch.labels, batch.local);
        return { loss, bits: loss.detach().div(Math.LN2) };
      },
      steps: maxSteps, maxSeconds: maxMinutes * 60, stepsPerEpoch, logEvery: 10,
      evalEvery, checkpointEvery: evalEvery,
      evalFn: () => ({ valBits: valBits() }),
    });
  } finally {
    trainSet.audio.dispose();
    Object.values(trainSet.labels).forEach((t) => t.dispose());
    if (padTrain) { padTrain.audio.dispose(); padTrain.features.dispose(); vTrain!.audio.dispose(); }
  }
  const minutes = () => (Date.now() - t0) / 60000;
  const timeUp = result.stoppedBy === 'time';
  if (result.status !== 'completed') {
    return { status: 'interrupted', step: result.step, config: cfg, valBits: NaN, runDir: result.run.dir, out: null, checkpoint: result.checkpoint, minutes: minutes() };
  }
  const dir = result.run.dir;
  const bits = valBits();
  const out = opts.out ?? path.join(dir, 'wavenet.safetensors');
  saveCheckpoint(out, { model: emaModel, step: result.step, config: { kind: WAVENET_KIND, model: cfg.model, input: vocoder ? { ...WAVENET_INPUT, labels: 'none', mel: cfg.mel } : WAVENET_INPUT, train: cfg, steps: result.step, minutes: minutes(), valBits: bits } });
  say(`${timeUp ? `time limit (${maxMinutes} min) reached` : 'done'} after ${result.step} steps; validation ${bits.toFixed(3)} bits/sample; weights saved to ${out}`);

  if (padValid) {
    // The vocoder's report: held-out notes and speech resynthesised from their mel, beside Griffin-Lim from the same mel.
    const pick = pickClips(vValid!.kinds, 3);
    const sections = scope(() => [compareVocoding(dir, vValid!.audio.indexSelect(0, tensor(pick, { dtype: 'int64' })), pick.map((i) => vValid!.kinds[i]), vValid!.sampleRate, emaModel, cfg.mel, say).section]);
    writeReport(dir, { status: timeUp ? 'completed (time limit)' : 'completed', step: result.step, sections, media: () => [] });
    say(`vocoded clips and the report: ${path.join(dir, 'index.html')}`);
    for (const t of [padValid.audio, padValid.features, vValid!.audio, validSet.audio]) t.dispose();
    return { status: timeUp ? 'time-limit' : 'completed', step: result.step, config: cfg, valBits: bits, runDir: dir, out, checkpoint: result.checkpoint, minutes: minutes() };
  }

  // Generated notes next to real ones of the same pitch and instrument, in the report.
  const { sections } = notesSection(dir, validSet, sampleSeconds, 'cached sampler, temperature 1', (labels, length) => {
    const bar = new Progress({ total: length, label: 'generate notes', unit: 'samples' });
    const t0 = performance.now();
    const gen = generate(emaModel, { length, labels, generator: new Generator(0), onProgress: (done) => bar.set(done), every: 500 });
    bar.close();
    const secs = (performance.now() - t0) / 1000, n = gen.audio.shape[0];
    say(`generated ${n} x ${length} samples in ${secs.toFixed(1)} s (${((n * length) / secs).toFixed(0)} samples/s, cached)`);
    return gen.audio;
  }, say);
  writeReport(dir, { status: timeUp ? 'completed (time limit)' : 'completed', step: result.step, sections, media: () => [] });
  say(`generated notes and the report: ${path.join(dir, 'index.html')}`);
  validSet.audio.dispose();
  return { status: timeUp ? 'time-limit' : 'completed', step: result.step, config: cfg, valBits: bits, runDir: dir, out, checkpoint: result.checkpoint, minutes: minutes() };
}

/** What a WaveNet checkpoint's model expects, as its config records it. */
export const WAVENET_INPUT = { codes: 'mu-law (torchaudio convention, 0..255) of audio in [-1, 1]', sampleRate: 16000, labels: 'pitch: MIDI number; instrument: index into the mini-NSynth instruments' };

/** Loads a WaveNet checkpoint (default: the shipped one), in eval mode. */
export function loadWavenet(file: string = shippedFile(WAVENET_CHECKPOINT)): { model: WaveNet; config: Record<string, unknown> } {
  requireFile(file, 'loadWavenet');
  const r = loadModel(file, WAVENET_KIND, (c: WaveNetConfig) => new WaveNet(c, { generator: new Generator(0) }), DEFAULT_WAVENET_MODEL);
  r.model.eval();
  return r as never;
}

/** The instrument index of a General MIDI program or name in a model trained on the default mini-NSynth. */
export const MINI_NSYNTH_INSTRUMENTS: readonly string[] = Object.values(GM_INSTRUMENTS);

export interface GenerateNotesOptions {
  /** 'wavenet' (default) or 'diffwave' (the waveform diffusion model). */
  model?: 'wavenet' | 'diffwave';
  checkpoint?: string;
  /** DiffWave: Heun steps (default 12) and guidance scale (default 2). */
  steps?: number;
  guidance?: number;
  pitch: number;
  instrument: number;
  seconds?: number;
  /** Notes to generate (each its own draw). Default 1. */
  count?: number;
  temperature?: number;
  seed?: number;
  method?: 'cached' | 'naive';
  /** Output WAV; with count > 1, -1, -2, ... before the extension. */
  out: string;
  progress?: boolean;
}

/** Generates notes of one pitch and instrument with a WaveNet checkpoint and writes them as WAV; returns the files and the speed. */
export function generateNotes(o: GenerateNotesOptions): { files: string[]; seconds: number; samplesPerSecond: number } {
  if (o.model !== undefined && o.model !== 'wavenet' && o.model !== 'diffwave') throw new RangeError(`generateNotes: model must be 'wavenet' or 'diffwave', got ${JSON.stringify(o.model)}`);
  if (o.model === 'diffwave') return generateDiffWaveNotes(o);
  const { model } = loadWavenet(o.checkpoint);
  const c = model.config;
  if (c.localChannels) throw new RangeError(`generateNotes: ${o.checkpoint ?? WAVENET_CHECKPOINT} is a mel vocoder (it resynthesises audio from a mel spectrogram: \`refinery vocode\`), not a note model`);
  const seconds = o.seconds ?? 1, count = o.count ?? 1;
  checkNoteRequest(seconds, count);
  const pitchClasses = c.globalClasses.pitch, instClasses = c.globalClasses.instrument;
  if (pitchClasses !== undefined && (!Number.isInteger(o.pitch) || o.pitch < 0 || o.pitch >= pitchClasses)) throw new RangeError(`generateNotes: pitch must be a MIDI number in 0..${pitchClasses - 1}, got ${o.pitch}`);
  if (instClasses !== undefined && (!Number.isInteger(o.instrument) || o.instrument < 0 || o.instrument >= instClasses)) {
    throw new RangeError(`generateNotes: instrument must be in 0..${instClasses - 1} (${MINI_NSYNTH_INSTRUMENTS.slice(0, instClasses).map((n, i) => `${i} ${n}`).join(', ')}), got ${o.instrument}`);
  }
  assertWritable(o.out, 'generateNotes: out', { createDir: true });
  return scope(() => {
    const labels: Record<string, Tensor> = {};
    if (pitchClasses !== undefined) labels.pitch = torch.full([count], o.pitch, { dtype: 'int64' });
    if (instClasses !== undefined) labels.instrument = torch.full([count], o.instrument, { dtype: 'int64' });
    const length = Math.round(seconds * c.sampleRate);
    const bar = o.progress === false ? null : new Progress({ total: length, label: 'generate', unit: 'samples' });
    const t0 = performance.now();
    const gen = generate(model, { length, batch: count, labels, temperature: o.temperature, generator: new Generator(o.seed ?? 0), method: o.method, onProgress: (n) => bar?.set(n), every: 250 });
    bar?.close();
    const secs = (performance.now() - t0) / 1000;
    const files = noteFiles(o.out, count);
    files.forEach((f, i) => writeWav(f, gen.audio.select(0, i), c.sampleRate));
    return { files, seconds: secs, samplesPerSecond: (count * length) / secs };
  });
}
