// Phase: GANSynth's instantaneous frequency (Engel et al. 2019, magenta/models/gansynth/lib/
// spectral_ops.py) and its inverse, and Griffin-Lim phase reconstruction with momentum
// (Perraudin et al. 2013, "A fast Griffin-Lim algorithm"; as librosa.griffinlim and torchaudio).
import { Generator, Tensor, functions as torch, scope } from '../tensor';
import { IstftOptions, PadMode, istft, stft } from './spectral';

function checkReal(fn: string, name: string, x: Tensor): void {
  if (!(x instanceof Tensor)) throw new TypeError(`${fn}: ${name} must be a Tensor, got ${typeof x}`);
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new TypeError(`${fn}: ${name} must be real float32 or float64, got ${x.dtype}`);
  if (x.ndim < 1) throw new RangeError(`${fn}: ${name} must have a time axis (the last), got a scalar`);
}

/**
 * Instantaneous frequency of a phase spectrogram [..., freq, frames], time the last axis:
 * unwrap along time (numpy.unwrap: jumps larger than pi replaced by their 2 pi-equivalent in
 * [-pi, pi), a jump of exactly -pi after a positive one kept at +pi), finite difference, the first
 * frame's phase kept, all divided by pi. Values lie in [-1, 1] after the first frame. A jump of
 * exactly +-pi is ambiguous (real DC and Nyquist bins jump between 0 and +-pi): computed in the
 * input's precision it gives +-1, and float64 code fed float32 phases may give the other sign.
 */
export function instantaneousFrequency(phase: Tensor): Tensor {
  checkReal('instantaneousFrequency', 'phase', phase);
  const n = phase.shape[phase.ndim - 1];
  return scope(() => {
    const first = phase.narrow(-1, 0, 1);
    if (n === 1) return first.div(Math.PI);
    const dd = phase.diff(1, -1);
    let ddmod = dd.add(Math.PI).remainder(2 * Math.PI).sub(Math.PI);
    ddmod = torch.where(ddmod.eq(-Math.PI).logicalAnd(dd.gt(0)), torch.fullLike(ddmod, Math.PI), ddmod);
    // diff(unwrap(p)) = dd + correction, correction 0 where |dd| < pi; taken directly rather than
    // differencing the cumulated phase, which would lose precision as it grows
    const dphase = torch.where(dd.abs().lt(Math.PI), dd, ddmod);
    return torch.cat([first, dphase], -1).div(Math.PI);
  });
}

/** The inverse of instantaneousFrequency: phase = cumsum(pi IF) along time (equal to the input phase modulo 2 pi). */
export function phaseFromInstantaneousFrequency(ifreq: Tensor): Tensor {
  checkReal('phaseFromInstantaneousFrequency', 'ifreq', ifreq);
  return scope(() => ifreq.mul(Math.PI).cumsum(-1));
}

export interface GriffinLimOptions extends IstftOptions {
  padMode: PadMode;
  /** Iterations; default 32 (both libraries). */
  nIter?: number;
  /** Fast Griffin-Lim momentum; default 0.99 (both libraries); 0 for the classic algorithm. */
  momentum?: number;
  /** Initial phase: 'random' (uniform angle, librosa's default; needs generator for reproducibility) or 'ones' (zero phase). Default 'random'. */
  init?: 'random' | 'ones';
  generator?: Generator;
}

/**
 * Waveform whose STFT magnitude approximates `mag` [..., nFft / 2 + 1, frames]:
 *   c_n = stft(istft(mag e^{i angle})); angle_n = c_n - momentum / (1 + momentum) c_{n-1}, normalised
 * (librosa.griffinlim and torchaudio.functional.griffinlim, c_0 = 0). Returns istft(mag e^{i angle}).
 */
export function griffinLim(mag: Tensor, o: GriffinLimOptions): Tensor {
  checkReal('griffinLim', 'mag', mag);
  const nIter = o.nIter ?? 32, momentum = o.momentum ?? 0.99, init = o.init ?? 'random';
  if (!Number.isInteger(nIter) || nIter < 0) throw new RangeError(`griffinLim: nIter must be an integer >= 0, got ${nIter}`);
  if (typeof momentum !== 'number' || !(momentum >= 0) || !(momentum < 1)) throw new RangeError(`griffinLim: momentum must be in [0, 1), got ${momentum}`);
  if (init !== 'random' && init !== 'ones') throw new RangeError(`griffinLim: init must be 'random' or 'ones', got ${String(init)}`);
  const n = mag.ndim >= 2 ? mag.shape[mag.ndim - 1] : 0;
  const length = o.length ?? (o.center === false ? undefined : (n - 1) * (o.hopLength ?? Math.floor(o.nFft / 4)));
  const io = { ...o, length };
  const k = momentum / (1 + momentum);
  return scope(() => {
    const cdt = mag.dtype === 'float64' ? 'complex128' : 'complex64';
    let angles = init === 'ones'
      ? torch.complex(torch.onesLike(mag), torch.zerosLike(mag))
      : torch.polar(torch.onesLike(mag), torch.rand(mag.shape, { dtype: mag.dtype, generator: o.generator }).mul(2 * Math.PI));
    const m = mag.to(cdt);
    let prev: Tensor | null = null;
    for (let i = 0; i < nIter; i++) {
      const last: Tensor | null = prev;
      const [a, rebuilt] = scope((): [Tensor, Tensor] => {
        const r: Tensor = stft(istft(m.mul(angles), io), o);
        const u: Tensor = last === null ? r : r.sub(last.mul(k));
        return [u.div(u.abs().add(1e-16).to(cdt)), r];
      });
      // free the previous iterate at once rather than at the end of the outer scope
      angles.dispose();
      if (last) last.dispose();
      angles = a;
      prev = rebuilt;
    }
    return istft(m.mul(angles), io);
  });
}

/** Spectral convergence || mag - |stft(y)| ||_F / || mag ||_F (Sturmel and Daudet 2011), the Griffin-Lim progress measure. */
export function spectralConvergence(mag: Tensor, y: Tensor, o: Parameters<typeof stft>[1]): number {
  checkReal('spectralConvergence', 'mag', mag);
  return scope(() => {
    const s = stft(y, o).abs();
    if (s.shape.join() !== mag.shape.join()) throw new RangeError(`spectralConvergence: stft(y) is shaped [${s.shape.join(', ')}], mag [${mag.shape.join(', ')}]`);
    return mag.sub(s).square().sum().sqrt().item() as number / (mag.square().sum().sqrt().item() as number);
  });
}
