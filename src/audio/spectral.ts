// Short-time Fourier transform and its inverse through the engine's FFT ops (ATen stft/istft), with
// the padding conventions of the reference libraries named: librosa (center=True, pad_mode
// 'constant', i.e. zeros, since librosa 0.10) and torchaudio (center=True, reflect padding). Both use
// a periodic Hann window and the unnormalised DFT sum_n x[n] w[n] e^{-2 pi i k n / nFft}.
// Spectrograms are complex tensors shaped [..., nFft / 2 + 1, frames]; waveforms [..., time].
import { Tensor, functions as torch, scope } from '../tensor';

export type PadMode = 'constant' | 'reflect';

export interface StftOptions {
  nFft: number;
  /** Frame step; default nFft / 4 (floor), as both libraries. */
  hopLength?: number;
  /** Window length (<= nFft); the window is centred inside nFft, as both libraries do. Default nFft. */
  winLength?: number;
  /** A window tensor of winLength samples, or 'hann' (periodic, the default of both libraries). */
  window?: Tensor | 'hann';
  /** Pad nFft / 2 on both sides so that frame t is centred on sample t * hopLength. Default true. */
  center?: boolean;
  /** How `center` pads: 'constant' (zeros, librosa) or 'reflect' (torchaudio). Required when center. */
  padMode?: PadMode;
}

/** librosa's convention: centred frames, zero padding, periodic Hann. */
export const LIBROSA_STFT = { center: true, padMode: 'constant' } as const;
/** torchaudio's convention (transforms.Spectrogram and friends): centred frames, reflect padding, periodic Hann. */
export const TORCHAUDIO_STFT = { center: true, padMode: 'reflect' } as const;

export function checkPositiveInt(fn: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`${fn}: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

interface Resolved { nFft: number; hop: number; winLength: number; center: boolean; padMode: PadMode }

export function resolveStft(fn: string, o: StftOptions): Resolved {
  if (o === null || typeof o !== 'object') throw new TypeError(`${fn}: options must be an object with nFft, got ${String(o)}`);
  const nFft = checkPositiveInt(fn, 'nFft', o.nFft);
  const hop = o.hopLength === undefined ? Math.max(1, Math.floor(nFft / 4)) : checkPositiveInt(fn, 'hopLength', o.hopLength);
  const winLength = o.winLength === undefined ? nFft : checkPositiveInt(fn, 'winLength', o.winLength);
  if (winLength > nFft) throw new RangeError(`${fn}: winLength must be <= nFft (${nFft}), got ${winLength}`);
  const center = o.center ?? true;
  if (typeof center !== 'boolean') throw new TypeError(`${fn}: center must be a boolean, got ${String(center)}`);
  const padMode = o.padMode as PadMode;
  if (center && padMode !== 'constant' && padMode !== 'reflect') {
    throw new RangeError(`${fn}: padMode must be 'constant' (librosa) or 'reflect' (torchaudio) when center is true, got ${String(padMode)}`);
  }
  if (o.window !== undefined && o.window !== 'hann') {
    if (!(o.window instanceof Tensor)) throw new TypeError(`${fn}: window must be 'hann' or a Tensor, got ${String(o.window)}`);
    if (o.window.ndim !== 1 || o.window.shape[0] !== winLength) {
      throw new RangeError(`${fn}: window must be 1-D of winLength ${winLength} samples, got shape [${o.window.shape.join(', ')}]`);
    }
  }
  return { nFft, hop, winLength, center, padMode };
}

function windowFor(o: StftOptions, r: Resolved, dtype: 'float32' | 'float64'): Tensor {
  return o.window instanceof Tensor ? o.window.to(dtype) : torch.hannWindow(r.winLength, true, { dtype });
}

function checkWave(fn: string, x: Tensor): void {
  if (!(x instanceof Tensor)) throw new TypeError(`${fn}: x must be a Tensor, got ${typeof x}`);
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new TypeError(`${fn}: x must be float32 or float64, got ${x.dtype}`);
  if (x.ndim < 1) throw new RangeError(`${fn}: x must have a time axis (shape [..., time]), got a scalar`);
}

/** Complex STFT of x [..., time] to [..., nFft / 2 + 1, frames]; frames = 1 + floor(time / hop) when centred. */
export function stft(x: Tensor, o: StftOptions): Tensor {
  checkWave('stft', x);
  const r = resolveStft('stft', o);
  const n = x.shape[x.ndim - 1];
  if (r.center && r.padMode === 'reflect' && n <= Math.floor(r.nFft / 2)) {
    throw new RangeError(`stft: reflect padding needs more than nFft / 2 = ${Math.floor(r.nFft / 2)} samples, got ${n}`);
  }
  if (!r.center && n < r.nFft) throw new RangeError(`stft: x needs at least nFft = ${r.nFft} samples without centring, got ${n}`);
  const lead = x.shape.slice(0, -1);
  return scope(() => {
    const w = windowFor(o, r, x.dtype as 'float32' | 'float64');
    const s = x.reshape([-1, n]).stft(r.nFft, {
      hopLength: r.hop, winLength: r.winLength, window: w, center: r.center, padMode: r.padMode ?? 'reflect',
      normalized: false, onesided: true, returnComplex: true,
    });
    return s.reshape([...lead, s.shape[1], s.shape[2]]);
  });
}

/** stft with librosa's convention (zero padding). */
export const stftLibrosa = (x: Tensor, o: Omit<StftOptions, 'center' | 'padMode'>): Tensor => stft(x, { ...o, ...LIBROSA_STFT });
/** stft with torchaudio's convention (reflect padding). */
export const stftTorchaudio = (x: Tensor, o: Omit<StftOptions, 'center' | 'padMode'>): Tensor => stft(x, { ...o, ...TORCHAUDIO_STFT });

export interface IstftOptions extends Omit<StftOptions, 'padMode'> {
  /** Output length in samples (trims or zero-pads the end); default what the frames cover. */
  length?: number;
}

/**
 * Inverse STFT by weighted overlap-add (ATen istft; librosa.istft and torchaudio's
 * InverseSpectrogram compute the same): sum_t w(n - tH) frame_t(n) / sum_t w^2(n - tH), the
 * centre padding trimmed. The padding mode does not matter here. Needs a window whose squared
 * overlap-add is nonzero everywhere (NOLA), which Hann with hop <= nFft / 2 satisfies.
 */
export function istft(spec: Tensor, o: IstftOptions): Tensor {
  if (!(spec instanceof Tensor)) throw new TypeError(`istft: spec must be a Tensor, got ${typeof spec}`);
  if (spec.dtype !== 'complex64' && spec.dtype !== 'complex128') throw new TypeError(`istft: spec must be complex64 or complex128, got ${spec.dtype}`);
  const r = resolveStft('istft', { ...o, padMode: 'constant' });
  if (spec.ndim < 2 || spec.shape[spec.ndim - 2] !== Math.floor(r.nFft / 2) + 1) {
    throw new RangeError(`istft: spec must be shaped [..., nFft / 2 + 1 = ${Math.floor(r.nFft / 2) + 1}, frames], got [${spec.shape.join(', ')}]`);
  }
  if (o.length !== undefined) checkPositiveInt('istft', 'length', o.length);
  const [nf, nt] = spec.shape.slice(-2);
  const lead = spec.shape.slice(0, -2);
  return scope(() => {
    const w = windowFor(o, r, spec.dtype === 'complex128' ? 'float64' : 'float32');
    const y = spec.reshape([-1, nf, nt]).istft(r.nFft, {
      hopLength: r.hop, winLength: r.winLength, window: w, center: r.center, normalized: false, onesided: true,
      length: o.length ?? null, returnComplex: false,
    });
    return y.reshape([...lead, y.shape[1]]);
  });
}

/** |S|. */
export function magnitude(spec: Tensor): Tensor {
  if (!(spec instanceof Tensor)) throw new TypeError(`magnitude: spec must be a Tensor, got ${typeof spec}`);
  return spec.abs();
}

/** |S|^power (power 2: the power spectrogram; 1: magnitude). */
export function powerSpectrogram(spec: Tensor, power = 2): Tensor {
  if (!(spec instanceof Tensor)) throw new TypeError(`powerSpectrogram: spec must be a Tensor, got ${typeof spec}`);
  if (typeof power !== 'number' || !(power > 0) || !Number.isFinite(power)) throw new RangeError(`powerSpectrogram: power must be a positive number, got ${power}`);
  return scope(() => (power === 1 ? spec.abs() : spec.abs().pow(power)));
}

export interface DbOptions {
  /** Reference value: 0 dB at |S| = ref. Default 1. */
  ref?: number;
  /** Floor on the input (and on ref) before the logarithm. */
  amin?: number;
  /** Floor the output at (its maximum over the WHOLE tensor) - topDb; null for none. Default 80. */
  topDb?: number | null;
}

function checkDb(fn: string, S: Tensor, o: DbOptions, aminDefault: number): { ref: number; amin: number; topDb: number | null } {
  if (!(S instanceof Tensor)) throw new TypeError(`${fn}: S must be a Tensor, got ${typeof S}`);
  if (S.dtype !== 'float32' && S.dtype !== 'float64') throw new TypeError(`${fn}: S must be real float32 or float64 (take magnitude() of a complex spectrogram), got ${S.dtype}`);
  const ref = o.ref ?? 1;
  const amin = o.amin ?? aminDefault;
  const topDb = o.topDb === undefined ? 80 : o.topDb;
  if (!(amin > 0)) throw new RangeError(`${fn}: amin must be > 0, got ${amin}`);
  if (!(ref > 0)) throw new RangeError(`${fn}: ref must be > 0, got ${ref}`);
  if (topDb !== null && !(topDb >= 0)) throw new RangeError(`${fn}: topDb must be >= 0 or null, got ${topDb}`);
  return { ref, amin, topDb };
}

/** librosa.power_to_db: 10 log10(max(amin, S)) - 10 log10(max(amin, ref)), then max(., max - topDb); amin default 1e-10. */
export function powerToDb(S: Tensor, o: DbOptions = {}): Tensor {
  const { ref, amin, topDb } = checkDb('powerToDb', S, o, 1e-10);
  return scope(() => {
    const db = S.clampMin(amin).log10().mul(10).sub(10 * Math.log10(Math.max(amin, ref)));
    return topDb === null ? db : db.maximum(db.amax().sub(topDb));
  });
}

/** librosa.amplitude_to_db: powerToDb(S^2, ref^2, amin^2, topDb); amin default 1e-5. */
export function amplitudeToDb(S: Tensor, o: DbOptions = {}): Tensor {
  const { ref, amin, topDb } = checkDb('amplitudeToDb', S, o, 1e-5);
  return scope(() => powerToDb(S.abs().square(), { ref: ref * ref, amin: amin * amin, topDb }));
}

/**
 * torchaudio.functional.amplitude_to_DB: multiplier log10(max(x, amin)) - multiplier dbMultiplier;
 * the topDb floor is taken per item over the last three dims (channel, freq, time) when x has more
 * than three, over everything otherwise. multiplier 10 for power, 20 for amplitude.
 */
export function amplitudeToDbTorchaudio(x: Tensor, o: { multiplier?: number; amin?: number; dbMultiplier?: number; topDb?: number | null } = {}): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`amplitudeToDbTorchaudio: x must be a Tensor, got ${typeof x}`);
  const multiplier = o.multiplier ?? 10, amin = o.amin ?? 1e-10, dbMultiplier = o.dbMultiplier ?? 0;
  const topDb = o.topDb === undefined ? 80 : o.topDb;
  if (!(amin > 0)) throw new RangeError(`amplitudeToDbTorchaudio: amin must be > 0, got ${amin}`);
  if (x.ndim < 2) throw new RangeError(`amplitudeToDbTorchaudio: x must be shaped [..., freq, time], got [${x.shape.join(', ')}]`);
  return scope(() => {
    const db = x.clampMin(amin).log10().mul(multiplier).sub(multiplier * dbMultiplier);
    if (topDb === null) return db;
    const s = db.shape;
    const packed = db.reshape([-1, s.length > 2 ? s[s.length - 3] : 1, s[s.length - 2], s[s.length - 1]]);
    return packed.maximum(packed.amax([-3, -2, -1], true).sub(topDb)).reshape(s);
  });
}
