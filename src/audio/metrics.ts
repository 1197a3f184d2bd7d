// Objective measures of reconstructed audio against a reference (vocoding, Griffin-Lim): the
// log-spectral distance in dB and the spectral convergence, both on the magnitude STFT, so that they
// ignore phase and judge a phase-free method (Griffin-Lim) and a waveform model (WaveNet) alike.
import { Tensor, scope } from '../tensor';
import { LIBROSA_STFT, StftOptions, stft } from './spectral';

/** The STFT both measures use by default: librosa's convention, 1024-point frames, hop 256. */
export const METRIC_STFT: StftOptions = { nFft: 1024, hopLength: 256, ...LIBROSA_STFT };

function pair(fn: string, ref: Tensor, est: Tensor): void {
  for (const [name, t] of [['ref', ref], ['est', est]] as const) {
    if (!(t instanceof Tensor) || (t.dtype !== 'float32' && t.dtype !== 'float64') || t.ndim < 1) {
      throw new TypeError(`${fn}: ${name} must be a float waveform tensor [..., samples], got ${t instanceof Tensor ? `${t.dtype} [${t.shape.join(', ')}]` : typeof t}`);
    }
  }
  if (ref.shape.join() !== est.shape.join()) throw new RangeError(`${fn}: ref and est must have the same shape, got [${ref.shape.join(', ')}] and [${est.shape.join(', ')}]`);
}

/**
 * Log-spectral distance in dB, per clip (leading dims flattened, one value per clip): for each frame,
 * the root mean square over frequency bins of 10 log10 P_ref - 10 log10 P_est with P = max(|STFT|², amin),
 * then the mean over frames. amin = 1e-10 (librosa's power_to_db default). A uniform gain g on est gives
 * exactly |20 log10 g| where no bin is clamped.
 */
export function logSpectralDistance(ref: Tensor, est: Tensor, o: { stft?: StftOptions; amin?: number } = {}): number[] {
  pair('logSpectralDistance', ref, est);
  const amin = o.amin ?? 1e-10;
  if (!(amin > 0)) throw new RangeError(`logSpectralDistance: amin must be positive, got ${amin}`);
  return scope(() => {
    const s = o.stft ?? METRIC_STFT;
    const db = (x: Tensor) => stft(x.reshape([-1, x.shape[x.ndim - 1]]), s).abs().square().clampMin(amin).log10().mul(10);
    const d = db(ref).sub(db(est)); // [clips, freqs, frames]
    return Array.from(d.square().mean(1).sqrt().mean(1).to('float64').dataSync());
  });
}

/** Spectral convergence ‖|S_ref| - |S_est|‖_F / ‖|S_ref|‖_F per clip (Sturmel and Daudet 2011). */
export function spectralConvergenceOf(ref: Tensor, est: Tensor, o: { stft?: StftOptions } = {}): number[] {
  pair('spectralConvergenceOf', ref, est);
  return scope(() => {
    const s = o.stft ?? METRIC_STFT;
    const mag = (x: Tensor) => stft(x.reshape([-1, x.shape[x.ndim - 1]]), s).abs();
    const a = mag(ref), b = mag(est);
    return Array.from(a.sub(b).square().sum([1, 2]).sqrt().div(a.square().sum([1, 2]).sqrt()).to('float64').dataSync());
  });
}
