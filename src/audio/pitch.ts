// Pitch estimation with YIN (de Cheveigné and Kawahara 2002): per frame, the difference function
// d(τ) = Σ_j (x_j − x_{j+τ})², its cumulative-mean normalisation d'(τ) = d(τ) τ / Σ_{k≤τ} d(k), the
// first dip below an absolute threshold (the global minimum when none is), refined by parabolic
// interpolation; f0 = sampleRate / τ. Used to score generated notes: does the note have the pitch
// it was conditioned on?
import { Tensor, functions as torch, scope, tensor } from '../tensor';

export interface YinOptions {
  sampleRate: number;
  /** Lowest and highest f0 searched (Hz). Default 40 and 2000. */
  fMin?: number;
  fMax?: number;
  /** Integration window in samples. Default max(256, 1.5 periods of fMin). */
  frameLength?: number;
  hopLength?: number;
  /** Absolute threshold on d' (the paper's step 4). Default 0.1. */
  threshold?: number;
}

export interface YinResult {
  /** f0 per clip and frame [clips, frames] in Hz (NaN where unvoiced). */
  f0: Tensor;
  /** The minimum of d' per frame (the aperiodicity: low is periodic). */
  aperiodicity: Tensor;
}

/** YIN over audio [samples] or [clips, samples]. */
export function yin(audio: Tensor, o: YinOptions): YinResult {
  if (!(audio instanceof Tensor) || (audio.ndim !== 1 && audio.ndim !== 2)) throw new RangeError(`yin: audio must be a Tensor [samples] or [clips, samples], got ${audio instanceof Tensor ? `[${audio.shape.join(', ')}]` : typeof audio}`);
  const sr = o.sampleRate;
  if (!(sr > 0) || !Number.isFinite(sr)) throw new RangeError(`yin: sampleRate must be a positive number, got ${sr}`);
  const fMin = o.fMin ?? 40, fMax = o.fMax ?? 2000, threshold = o.threshold ?? 0.1;
  if (!(fMin > 0 && fMax > fMin && fMax < sr / 2)) throw new RangeError(`yin: need 0 < fMin < fMax < sampleRate / 2, got fMin ${fMin}, fMax ${fMax} at ${sr} Hz`);
  if (!(threshold > 0 && threshold < 1)) throw new RangeError(`yin: threshold must be in (0, 1), got ${threshold}`);
  const tauMin = Math.max(2, Math.floor(sr / fMax)), tauMax = Math.ceil(sr / fMin);
  const W = o.frameLength ?? Math.max(256, Math.ceil(2.5 * tauMax) - tauMax);
  const hop = o.hopLength ?? Math.max(1, Math.floor(W / 2));
  const x2 = audio.ndim === 1 ? audio.unsqueeze(0) : audio;
  const [clips, n] = x2.shape;
  if (n < W + tauMax + 1) throw new RangeError(`yin: clips of ${n} samples are too short for frames of ${W} samples and lags up to ${tauMax} (fMin ${fMin} Hz): need ${W + tauMax + 1}`);
  return scope(() => {
    const x = x2.to('float64');
    const frames = x.unfold(1, W + tauMax + 1, hop); // [clips, F, W + tauMax + 1]
    const F = frames.shape[1];
    const flat = frames.reshape([clips * F, W + tauMax + 1]);
    // r(τ) = Σ_{j<W} x_j x_{j+τ}, τ = 0 .. tauMax: a grouped correlation of each frame with its own first W samples.
    const r = torch.conv1d(flat.unsqueeze(0), flat.narrow(1, 0, W).unsqueeze(1), null, { groups: clips * F }).squeeze(0); // [CF, tauMax + 2]
    // energies e(τ) = Σ_{j<W} x_{j+τ}²: differences of the cumulative sum of squares.
    const c = torch.cat([torch.zeros([clips * F, 1], { dtype: 'float64' }), flat.square().cumsum(1)], 1);
    const e = c.narrow(1, W, tauMax + 1).sub(c.narrow(1, 0, tauMax + 1)); // [CF, tauMax + 1]
    const d = e.narrow(1, 0, 1).add(e).sub(r.narrow(1, 0, tauMax + 1).mul(2)).clampMin(0); // d(τ), d(0) = 0
    // d'(τ) = d(τ) τ / Σ_{k=1..τ} d(k); d'(0) = 1
    const tau = torch.arange(tauMax + 1, { dtype: 'float64' });
    const cum = d.cumsum(1);
    const dn = d.mul(tau).div(cum.clampMin(1e-300)).narrow(1, 1, tauMax); // τ = 1 .. tauMax
    const dnv = dn.toTypedArray() as Float64Array;
    const f0 = new Float64Array(clips * F), ap = new Float64Array(clips * F);
    for (let i = 0; i < clips * F; i++) {
      const row = (k: number) => dnv[i * tauMax + (k - 1)];
      let best = -1, bestV = Infinity;
      for (let k = tauMin; k <= tauMax; k++) {
        const v = row(k);
        if (v < bestV) [best, bestV] = [k, v];
        if (v < threshold) {
          // the first dip below the threshold: follow it down to its local minimum
          let j = k;
          while (j + 1 <= tauMax && row(j + 1) < row(j)) j++;
          [best, bestV] = [j, row(j)];
          break;
        }
      }
      ap[i] = bestV;
      if (best < 0 || bestV >= threshold) {
        f0[i] = NaN;
        continue;
      }
      // parabolic interpolation of d' around the minimum
      let t = best;
      if (best > 1 && best < tauMax) {
        const a = row(best - 1), b = row(best), cc = row(best + 1), den = a - 2 * b + cc;
        if (den > 0) t = best + (0.5 * (a - cc)) / den;
      }
      f0[i] = sr / t;
    }
    return { f0: tensor(f0).reshape([clips, F]), aperiodicity: tensor(ap).reshape([clips, F]) };
  });
}

/** MIDI number (fractional) of a frequency: 69 + 12 log2(f / 440). */
export const hzToMidi = (f: number): number => 69 + 12 * Math.log2(f / 440);

/**
 * One pitch per clip: the median f0 of its voiced frames (NaN when fewer than a quarter of the frames are voiced),
 * as a MIDI number.
 */
export function notePitch(audio: Tensor, o: YinOptions): number[] {
  return scope(() => {
    const { f0 } = yin(audio, o);
    const rows = f0.tolist() as number[][];
    return rows.map((r) => {
      const v = r.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
      if (v.length < Math.max(1, r.length / 4)) return NaN;
      return hzToMidi(v[Math.floor(v.length / 2)]);
    });
  });
}

/**
 * Pitch accuracy: the fraction of clips whose estimated pitch is within `cents` (default 50) of the target MIDI
 * pitch, with octave errors counted as errors; also the fraction within 50 cents of any octave of it (pitch class).
 */
export function pitchAccuracy(audio: Tensor, targets: number[], o: YinOptions & { cents?: number }): { accuracy: number; pitchClassAccuracy: number; estimated: number[] } {
  const est = notePitch(audio, o);
  if (est.length !== targets.length) throw new RangeError(`pitchAccuracy: ${est.length} clips but ${targets.length} targets`);
  const tol = (o.cents ?? 50) / 100;
  let ok = 0, okClass = 0;
  est.forEach((p, i) => {
    if (!Number.isFinite(p)) return;
    const dev = p - targets[i];
    if (Math.abs(dev) <= tol) ok++;
    const m = ((dev % 12) + 12) % 12;
    if (Math.min(m, 12 - m) <= tol) okClass++;
  });
  return { accuracy: ok / est.length, pitchClassAccuracy: okClass / est.length, estimated: est };
}
