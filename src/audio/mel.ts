// Mel filterbanks, mel spectrograms and MFCCs. The filterbank follows torchaudio.functional.
// melscale_fbanks and librosa.filters.mel (the same construction in both): nFft / 2 + 1 bin
// frequencies linspace(0, sr / 2), nMels + 2 points evenly spaced on the mel scale between fMin
// and fMax, triangles min(rising, falling) clipped at 0, optionally scaled to unit area ('slaney':
// 2 / (f[m + 2] - f[m])). Scale and norm are explicit: torchaudio defaults to HTK / none, librosa
// to Slaney / 'slaney'. Computed in float64, returned float32 (as librosa does).
import { Tensor, scope, tensor } from '../tensor';
import { PadMode, checkPositiveInt, powerToDb, amplitudeToDbTorchaudio, stft, powerSpectrogram, StftOptions } from './spectral';

export type MelScale = 'htk' | 'slaney';
export type MelNorm = 'slaney' | null;

/** Hz to mel. HTK: 2595 log10(1 + f / 700). Slaney (Auditory Toolbox): linear f / (200/3) below 1 kHz, logarithmic (step ln(6.4) / 27) above. */
export function hzToMel(f: number, scale: MelScale): number {
  if (scale === 'htk') return 2595 * Math.log10(1 + f / 700);
  const fSp = 200 / 3, minLogHz = 1000, minLogMel = minLogHz / fSp, logstep = Math.log(6.4) / 27;
  return f >= minLogHz ? minLogMel + Math.log(f / minLogHz) / logstep : f / fSp;
}

/** The inverse of hzToMel. */
export function melToHz(m: number, scale: MelScale): number {
  if (scale === 'htk') return 700 * (10 ** (m / 2595) - 1);
  const fSp = 200 / 3, minLogHz = 1000, minLogMel = minLogHz / fSp, logstep = Math.log(6.4) / 27;
  return m >= minLogMel ? minLogHz * Math.exp(logstep * (m - minLogMel)) : fSp * m;
}

export interface MelFilterbankOptions {
  sampleRate: number;
  nFft: number;
  nMels: number;
  fMin?: number;
  /** Default sampleRate / 2. */
  fMax?: number;
  scale: MelScale;
  norm: MelNorm;
}

function checkMel(fn: string, o: MelFilterbankOptions): { fMin: number; fMax: number } {
  if (o === null || typeof o !== 'object') throw new TypeError(`${fn}: options must be an object, got ${String(o)}`);
  if (typeof o.sampleRate !== 'number' || !(o.sampleRate > 0) || !Number.isFinite(o.sampleRate)) throw new RangeError(`${fn}: sampleRate must be a positive number, got ${String(o.sampleRate)}`);
  checkPositiveInt(fn, 'nFft', o.nFft);
  checkPositiveInt(fn, 'nMels', o.nMels);
  if (o.scale !== 'htk' && o.scale !== 'slaney') throw new RangeError(`${fn}: scale must be 'htk' (torchaudio's default) or 'slaney' (librosa's), got ${String(o.scale)}`);
  if (o.norm !== null && o.norm !== 'slaney') throw new RangeError(`${fn}: norm must be null (torchaudio's default) or 'slaney' (librosa's), got ${String(o.norm)}`);
  const fMin = o.fMin ?? 0, fMax = o.fMax ?? o.sampleRate / 2;
  if (!(fMin >= 0) || !(fMax > fMin) || fMax > o.sampleRate / 2) {
    throw new RangeError(`${fn}: need 0 <= fMin < fMax <= sampleRate / 2 = ${o.sampleRate / 2}, got fMin ${fMin}, fMax ${fMax}`);
  }
  return { fMin, fMax };
}

/** The filterbank as a float32 [nMels, nFft / 2 + 1] matrix (librosa's layout; torchaudio's is its transpose). */
export function melFilterbank(o: MelFilterbankOptions): Tensor {
  const { fMin, fMax } = checkMel('melFilterbank', o);
  const nFreqs = Math.floor(o.nFft / 2) + 1, nMels = o.nMels;
  const freqs = Array.from({ length: nFreqs }, (_, i) => (nFreqs === 1 ? 0 : (i * (o.sampleRate / 2)) / (nFreqs - 1)));
  const mMin = hzToMel(fMin, o.scale), mMax = hzToMel(fMax, o.scale);
  const fPts = Array.from({ length: nMels + 2 }, (_, i) => melToHz(mMin + ((mMax - mMin) * i) / (nMels + 1), o.scale));
  const w = new Float32Array(nMels * nFreqs);
  for (let m = 0; m < nMels; m++) {
    const lo = fPts[m], c = fPts[m + 1], hi = fPts[m + 2];
    const enorm = o.norm === 'slaney' ? 2 / (hi - lo) : 1;
    for (let k = 0; k < nFreqs; k++) {
      const rising = (freqs[k] - lo) / (c - lo), falling = (hi - freqs[k]) / (hi - c);
      w[m * nFreqs + k] = Math.max(0, Math.min(rising, falling)) * enorm;
    }
  }
  return tensor(w, { shape: [nMels, nFreqs] });
}

export interface MelSpectrogramOptions extends Omit<StftOptions, 'padMode'>, Omit<MelFilterbankOptions, 'nFft'> {
  padMode: PadMode;
  /** Exponent of the magnitude before the filterbank; default 2 (power), as both libraries. */
  power?: number;
}

/** torchaudio.transforms.MelSpectrogram's conventions: reflect padding, HTK scale, no norm. */
export const TORCHAUDIO_MEL = { center: true, padMode: 'reflect', scale: 'htk', norm: null } as const;
/** librosa.feature.melspectrogram's conventions: zero padding, Slaney scale, Slaney area norm. */
export const LIBROSA_MEL = { center: true, padMode: 'constant', scale: 'slaney', norm: 'slaney' } as const;

/** Mel spectrogram [..., nMels, frames] = filterbank @ |stft(x)|^power. */
export function melSpectrogram(x: Tensor, o: MelSpectrogramOptions): Tensor {
  checkMel('melSpectrogram', { ...o, nFft: o.nFft });
  return scope(() => {
    const fb = melFilterbank(o);
    const p = powerSpectrogram(stft(x, o), o.power ?? 2);
    return fb.to(p.dtype).matmul(p);
  });
}

/**
 * DCT-II matrix [nMfcc, nMels]: row k is cos(pi / nMels (n + 1/2) k); 'ortho' scales row 0 by
 * sqrt(1 / nMels) and the others by sqrt(2 / nMels) (scipy.fft.dct(norm='ortho'), torchaudio's
 * create_dct transposed); null gives the unnormalised 2 cos(...) of scipy's default.
 */
export function dctMatrix(nMfcc: number, nMels: number, norm: 'ortho' | null = 'ortho'): Tensor {
  checkPositiveInt('dctMatrix', 'nMfcc', nMfcc);
  checkPositiveInt('dctMatrix', 'nMels', nMels);
  if (nMfcc > nMels) throw new RangeError(`dctMatrix: nMfcc must be <= nMels (${nMels}), got ${nMfcc}`);
  if (norm !== 'ortho' && norm !== null) throw new RangeError(`dctMatrix: norm must be 'ortho' or null, got ${String(norm)}`);
  const d = new Float32Array(nMfcc * nMels);
  for (let k = 0; k < nMfcc; k++) {
    const s = norm === null ? 2 : k === 0 ? Math.sqrt(1 / nMels) : Math.sqrt(2 / nMels);
    for (let n = 0; n < nMels; n++) d[k * nMels + n] = s * Math.cos((Math.PI / nMels) * (n + 0.5) * k);
  }
  return tensor(d, { shape: [nMfcc, nMels] });
}

export interface MfccOptions extends MelSpectrogramOptions {
  nMfcc: number;
  /**
   * How the mel power spectrogram becomes dB before the DCT: 'librosa' (power_to_db, ref 1,
   * amin 1e-10, top_db over the whole tensor) or 'torchaudio' (amplitude_to_DB, multiplier 10,
   * amin 1e-10, top_db per item over channel, freq and time).
   */
  db: 'librosa' | 'torchaudio';
  /** Default 80. */
  topDb?: number | null;
}

/** MFCC [..., nMfcc, frames]: orthonormal DCT-II over mels of the dB mel spectrogram (librosa.feature.mfcc, torchaudio.transforms.MFCC). */
export function mfcc(x: Tensor, o: MfccOptions): Tensor {
  checkPositiveInt('mfcc', 'nMfcc', o.nMfcc);
  if (o.db !== 'librosa' && o.db !== 'torchaudio') throw new RangeError(`mfcc: db must be 'librosa' or 'torchaudio', got ${String(o.db)}`);
  if (o.nMfcc > o.nMels) throw new RangeError(`mfcc: nMfcc must be <= nMels (${o.nMels}), got ${o.nMfcc}`);
  return scope(() => {
    const mel = melSpectrogram(x, o);
    const topDb = o.topDb === undefined ? 80 : o.topDb;
    const db = o.db === 'librosa' ? powerToDb(mel, { topDb }) : amplitudeToDbTorchaudio(mel, { multiplier: 10, amin: 1e-10, dbMultiplier: 0, topDb });
    return dctMatrix(o.nMfcc, o.nMels).to(db.dtype).matmul(db);
  });
}

