// Vocoding: audio from a mel spectrogram. The features a mel-conditioned WaveNet is trained on (a
// log-mel magnitude spectrogram), the data it is trained on (mini-NSynth notes and espeak-ng speech),
// aligned random crops of codes and frames, the baseline a vocoder must beat (Griffin-Lim from the same
// mel, the linear magnitude recovered by non-negative least squares as librosa's mel_to_stft does), and
// `vocode`, which reads a WAV file and writes the resynthesised one.
import { Generator, Tensor, assertWritable, functions as torch, noGrad, scope } from '../tensor';
import { Progress, loadModel } from '../train';
import { requireFile, shippedFile } from '../train/shipped';
import { AudioSplit, NoteGrid, miniNsynth, spokenWords } from './datasets';
import { DEFAULT_WAVENET, WAVENET_KIND, WaveNet, WaveNetConfig, generate } from './wavenet';
import { logSpectralDistance, spectralConvergenceOf } from './metrics';
import { readWav, writeWav } from './wav';
import { spreadIndices } from './notes_report';
import { downmixMono, resample } from './resample';
import { melFilterbank, melSpectrogram } from './mel';
import { muLawEncodeTorchaudio } from './mulaw';
import { griffinLim } from './phase';
import { LIBROSA_STFT } from './spectral';

/**
 * The vocoder's mel spectrogram: librosa's conventions (centred frames, zero padding, periodic Hann,
 * Slaney scale and area norm), 1024-point frames, hop 256 (16 ms at 16 kHz), 80 bands from 0 to 8 kHz,
 * on the magnitude (power 1), as HiFi-GAN's and most neural vocoders' front ends.
 */
export const VOCODER_MEL = { sampleRate: 16000, nFft: 1024, hopLength: 256, nMels: 80, fMin: 0, fMax: 8000, scale: 'slaney', norm: 'slaney' } as const;
export type VocoderMel = { sampleRate: number; nFft: number; hopLength: number; nMels: number; fMin: number; fMax: number; scale: 'slaney' | 'htk'; norm: 'slaney' | null };

/** Floor of the mel magnitude before the logarithm (about -100 dB). */
export const MEL_FLOOR = 1e-5;

/** Mel magnitude [..., nMels, frames] of audio [..., samples]: melSpectrogram in librosa's conventions, power 1. */
export function melMagnitude(audio: Tensor, m: VocoderMel = VOCODER_MEL): Tensor {
  return melSpectrogram(audio, { ...m, ...LIBROSA_STFT, power: 1 });
}

/**
 * The conditioning features: (ln max(mel, 1e-5) + 5) / 5, so that silence is -1.3 and loud harmonics
 * are near 1 (a fixed affine map of the log-mel; `featuresToMel` inverts it).
 */
export function melFeatures(audio: Tensor, m: VocoderMel = VOCODER_MEL): Tensor {
  return scope(() => melMagnitude(audio, m).clampMin(MEL_FLOOR).log().add(5).div(5));
}

export function featuresToMel(features: Tensor): Tensor {
  return scope(() => features.mul(5).sub(5).exp());
}

/**
 * Linear magnitude S >= 0 [..., nFft/2 + 1, frames] whose mel projection B S best matches mel [..., nMels, frames]
 * in least squares (non-negative least squares, as librosa.feature.inverse.mel_to_stft), by Lee and
 * Seung's multiplicative updates S <- S (Bᵀ M) / (Bᵀ B S), which keep S non-negative and never increase
 * ‖B S - M‖², started from Bᵀ M.
 */
export function melToLinear(mel: Tensor, m: VocoderMel = VOCODER_MEL, iterations = 200): Tensor {
  if (!Number.isInteger(iterations) || iterations < 0 || iterations > 100_000) throw new RangeError(`melToLinear: iterations must be an integer in 0..100000, got ${iterations}`);
  if (!(mel instanceof Tensor) || mel.ndim < 2 || mel.shape[mel.ndim - 2] !== m.nMels) {
    throw new RangeError(`melToLinear: mel must be a Tensor [..., ${m.nMels}, frames], got ${mel instanceof Tensor ? `[${mel.shape.join(', ')}]` : typeof mel}`);
  }
  return noGrad(() => scope(() => {
    const B = melFilterbank(m).to(mel.dtype), Bt = B.t(), BtB = Bt.matmul(B);
    const M = mel.clampMin(0);
    const num = Bt.matmul(M);
    let S = num.clampMin(1e-12);
    for (let i = 0; i < iterations; i++) {
      S = scope(() => S.mul(num).div(BtB.matmul(S).clampMin(1e-20)));
    }
    return S;
  }));
}

/** Griffin-Lim (momentum 0.99, librosa's) from a mel magnitude: melToLinear, then `iterations` of fast Griffin-Lim. */
export function griffinLimFromMel(mel: Tensor, o: { length?: number; iterations?: number; momentum?: number; generator?: Generator; mel?: VocoderMel } = {}): Tensor {
  const m = o.mel ?? VOCODER_MEL;
  return scope(() => griffinLim(melToLinear(mel, m), {
    nFft: m.nFft, hopLength: m.hopLength, ...LIBROSA_STFT, nIter: o.iterations ?? 100, momentum: o.momentum ?? 0.99, length: o.length, generator: o.generator ?? new Generator(0),
  }));
}

export interface VocoderClips {
  /** float32 [N, samples] at 16 kHz. */
  audio: Tensor;
  /** 'note' (mini-NSynth) or 'speech' (espeak-ng digits) for each clip. */
  kinds: ('note' | 'speech')[];
  sampleRate: number;
}

/** The spoken-words grid of the vocoder's speech (spokenWords' options). */
export interface SpeechGrid { words?: string[]; voices?: string[]; rates?: number[]; seconds?: number }

/**
 * The vocoder's clips of one split: mini-NSynth notes followed by espeak-ng spoken words (default: the
 * ten digits, six voices, three rates; one second at 16 kHz), shorter ones zero-padded at the end.
 */
export function vocoderClips(split: AudioSplit, o: { notes?: NoteGrid; speech?: SpeechGrid; verbose?: boolean; cacheDir?: string } = {}): VocoderClips {
  const notes = miniNsynth(split, { ...o.notes, verbose: o.verbose, cacheDir: o.cacheDir });
  const speech = spokenWords(split, { ...o.speech, verbose: o.verbose, cacheDir: o.cacheDir });
  if (notes.sampleRate !== speech.sampleRate) throw new RangeError(`vocoderClips: notes at ${notes.sampleRate} Hz and speech at ${speech.sampleRate} Hz`);
  return scope(() => {
    const n = Math.max(notes.audio.shape[1], speech.audio.shape[1]);
    const fit = (a: Tensor) => (a.shape[1] === n ? a : torch.constantPadNd(a, [0, n - a.shape[1]]));
    const audio = torch.cat([fit(notes.audio), fit(speech.audio)], 0);
    const nNotes = notes.audio.shape[0], nSpeech = speech.audio.shape[0];
    for (const d of [notes, speech]) {
      d.audio.dispose();
      Object.values(d.labels).forEach((t) => t.dispose());
    }
    return { audio, kinds: [...Array(nNotes).fill('note'), ...Array(nSpeech).fill('speech')], sampleRate: notes.sampleRate };
  });
}

/** Clips prefixed with `pad` samples of silence (a multiple of the hop) and their features, frame-aligned. */
export interface PaddedClips {
  audio: Tensor;
  features: Tensor;
  pad: number;
  hop: number;
}

export function padClips(audio: Tensor, receptiveField: number, m: VocoderMel = VOCODER_MEL): PaddedClips {
  const hop = m.hopLength, pad = Math.ceil(receptiveField / hop) * hop;
  return scope(() => {
    const a = torch.constantPadNd(audio, [pad, 0]);
    return { audio: a, features: melFeatures(a, m), pad, hop };
  });
}

/**
 * Random crops for training: `length` samples starting at a multiple of the hop (so that the crop's first
 * sample is the first of a frame) and the frames that cover them; codes are torchaudio mu-law.
 */
export function melCrops(clips: PaddedClips, length: number, batch: number, g: Generator): { codes: Tensor; local: Tensor } {
  const [n, t] = clips.audio.shape, hop = clips.hop;
  if (n === 0) throw new RangeError('melCrops: there are no clips to crop (an empty split?)');
  const starts = Math.floor((t - length) / hop) + 1;
  if (starts < 1) throw new RangeError(`melCrops: length ${length} exceeds the ${t} samples of a padded clip`);
  const frames = Math.ceil(length / hop);
  return scope(() => {
    const index = torch.randint(0, clips.audio.shape[0], [batch], { generator: g });
    const f0 = torch.randint(0, starts, [batch, 1], { generator: g });
    const crop = clips.audio.indexSelect(0, index).gather(1, f0.mul(hop).add(torch.arange(length, { dtype: 'int64' }).unsqueeze(0)));
    const feats = clips.features.indexSelect(0, index); // [B, mels, F]
    const fi = f0.add(torch.arange(frames, { dtype: 'int64' }).unsqueeze(0)).unsqueeze(1).expand([batch, feats.shape[1], frames]);
    return { codes: muLawEncodeTorchaudio(crop), local: feats.gather(2, fi) };
  });
}

/** Indices of up to `perKind` notes and `perKind` speech clips, spread evenly over each kind. */
export function pickClips(kinds: ('note' | 'speech')[], perKind: number): number[] {
  return (['note', 'speech'] as const).flatMap((k) => {
    const idx = kinds.map((x, i) => (x === k ? i : -1)).filter((i) => i >= 0);
    return spreadIndices(idx.length, perKind).map((j) => idx[j]);
  });
}

/**
 * WaveNet resynthesis of audio [B, T] from its own mel features (what a vocoder does with a mel
 * predicted by a text-to-speech or music model): the cached sampler conditioned on melFeatures(audio).
 */
export function vocodeWithWavenet(model: WaveNet, audio: Tensor, o: { temperature?: number; generator?: Generator; onProgress?: (done: number, total: number) => void; every?: number; mel?: VocoderMel } = {}): Tensor {
  const c = model.config, m = o.mel ?? VOCODER_MEL;
  if (c.localChannels !== m.nMels || c.localHop !== m.hopLength) {
    throw new RangeError(`vocode: the model is not a mel vocoder for ${m.nMels} bands at hop ${m.hopLength} (its local conditioning: ${c.localChannels} channels at hop ${c.localHop}; a label-conditioned WaveNet generates notes with \`refinery generate audio\`)`);
  }
  if (!(audio instanceof Tensor) || audio.ndim !== 2) throw new RangeError(`vocode: audio must be a Tensor [clips, samples], got ${audio instanceof Tensor ? `[${audio.shape.join(', ')}]` : typeof audio}`);
  return scope(() => {
    const local = melFeatures(audio.to('float32'), m);
    return generate(model, { length: audio.shape[1], local, temperature: o.temperature, generator: o.generator ?? new Generator(0), onProgress: o.onProgress, every: o.every }).audio;
  });
}

/** The shipped vocoder (relative to the package root). */
export const VOCODER_CHECKPOINT = 'checkpoints/wavenet-vocoder.safetensors';

export interface VocodeFileOptions {
  /** Output WAV (16-bit PCM at the model's rate). */
  out: string;
  /** 'wavenet' (the mel-conditioned WaveNet, default) or 'griffin-lim' (from the same mel). */
  method?: 'wavenet' | 'griffin-lim';
  checkpoint?: string;
  /** Resample input at another rate to the model's (otherwise such input is refused). */
  resample?: boolean;
  temperature?: number;
  /** Griffin-Lim iterations (default 100). */
  iterations?: number;
  seed?: number;
  progress?: boolean;
}

/** Reads a WAV file, resynthesises it from its mel spectrogram and writes `out`; returns the speed and the distances to the input. */
export function vocodeFile(input: string, o: VocodeFileOptions): { seconds: number; samplesPerSecond: number; logSpectralDistance: number; spectralConvergence: number; sampleRate: number; samples: number } {
  const method = o.method ?? 'wavenet';
  if (method !== 'wavenet' && method !== 'griffin-lim') throw new RangeError(`vocode: method must be 'wavenet' or 'griffin-lim', got ${JSON.stringify(method)}`);
  assertWritable(o.out, 'vocode: out', { createDir: true });
  const model = method === 'wavenet' ? loadVocoder(o.checkpoint) : null;
  const rate = model ? model.config.sampleRate : VOCODER_MEL.sampleRate;
  const wav = readWav(input);
  if (wav.sampleRate !== rate && !o.resample) {
    throw new RangeError(`vocode: ${input} is sampled at ${wav.sampleRate} Hz, but the vocoder works at ${rate} Hz (pass --resample to convert it first)`);
  }
  const frames = wav.samples.shape[1];
  if (frames < VOCODER_MEL.nFft) { wav.samples.dispose(); throw new RangeError(`vocode: ${input} has ${frames} samples; at least ${VOCODER_MEL.nFft} (one analysis frame) are needed`); }
  const maxSeconds = 120;
  if (frames / wav.sampleRate > maxSeconds) { wav.samples.dispose(); throw new RangeError(`vocode: ${input} lasts ${(frames / wav.sampleRate).toFixed(1)} s; at most ${maxSeconds} s are vocoded at once (split it)`); }
  try {
    return scope(() => {
      let x = downmixMono(wav.samples); // [1, T]
      if (wav.sampleRate !== rate) x = resample(x, wav.sampleRate, rate);
      const t0 = performance.now();
      let y: Tensor;
      if (model) {
        const bar = o.progress === false ? null : new Progress({ total: x.shape[1], label: 'vocode', unit: 'samples' });
        y = vocodeWithWavenet(model, x, { temperature: o.temperature, generator: new Generator(o.seed ?? 0), onProgress: (n) => bar?.set(n), every: 500 });
        bar?.close();
      } else {
        y = griffinLimFromMel(melMagnitude(x), { length: x.shape[1], iterations: o.iterations, generator: new Generator(o.seed ?? 0) });
      }
      const seconds = (performance.now() - t0) / 1000;
      writeWav(o.out, y.squeeze(0), rate);
      return {
        seconds, samplesPerSecond: x.shape[1] / seconds, sampleRate: rate, samples: x.shape[1],
        logSpectralDistance: logSpectralDistance(x, y)[0], spectralConvergence: spectralConvergenceOf(x, y)[0],
      };
    });
  } finally {
    wav.samples.dispose();
  }
}

/** Loads a mel vocoder checkpoint (default: the shipped one), refusing a label-conditioned WaveNet. */
export function loadVocoder(file: string = shippedFile(VOCODER_CHECKPOINT)): WaveNet {
  requireFile(file, 'loadVocoder');
  const { model } = loadModel(file, WAVENET_KIND, (c: WaveNetConfig) => new WaveNet(c, { generator: new Generator(0) }), DEFAULT_WAVENET);
  if (!model.config.localChannels) {
    throw new RangeError(`loadVocoder: ${file} is a label-conditioned WaveNet (it generates notes: \`refinery generate audio\`), not a mel vocoder`);
  }
  model.eval();
  return model;
}
