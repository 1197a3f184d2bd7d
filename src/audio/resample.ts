// Band-limited resampling by a rational factor, as torchaudio.functional.resample (sinc interpolation
// with a Hann-squared window; Julius O. Smith's "Digital Audio Resampling"): the factor is reduced
// to new/orig by their gcd, and each of the `new` output phases is a windowed-sinc FIR low-pass at
// rolloff * min(orig, new) / 2, applied as one strided convolution. Also mono downmix.
import { Tensor, functions as torch, scope, tensor } from '../tensor';
import { conv } from '../conv/conv';

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export interface ResampleOptions {
  /** Half-width of the sinc in zero crossings; default 6 (torchaudio). Larger: sharper, slower. */
  lowpassFilterWidth?: number;
  /** Cutoff as a fraction of the lower Nyquist frequency; default 0.99 (torchaudio). */
  rolloff?: number;
}

/** The [newFreq, 1, 2 width + origFreq] kernels and width (torchaudio's _get_sinc_resample_kernel, computed in float64). */
function sincKernel(orig: number, next: number, lowpass: number, rolloff: number): { kernel: Float64Array; width: number; size: number } {
  const base = Math.min(orig, next) * rolloff;
  const width = Math.ceil((lowpass * orig) / base);
  const size = 2 * width + orig;
  const kernel = new Float64Array(next * size);
  const scale = base / orig;
  for (let p = 0; p < next; p++) {
    for (let j = 0; j < size; j++) {
      // t = ((j - width) / orig - p / new) * base in zero crossings, clamped to +-lowpass
      let t = (-p / next + (j - width) / orig) * base;
      t = Math.max(-lowpass, Math.min(lowpass, t));
      const window = Math.cos((t * Math.PI) / lowpass / 2) ** 2;
      const x = t * Math.PI;
      kernel[p * size + j] = (x === 0 ? 1 : Math.sin(x) / x) * window * scale;
    }
  }
  return { kernel, width, size };
}

/**
 * Resample x [..., time] from origFreq to newFreq (positive integers; any ratio, reduced by the
 * gcd): output length ceil(newFreq / origFreq time). Equal rates return a copy.
 */
export function resample(x: Tensor, origFreq: number, newFreq: number, opts: ResampleOptions = {}): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`resample: x must be a Tensor, got ${typeof x}`);
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new TypeError(`resample: x must be float32 or float64, got ${x.dtype}`);
  if (x.ndim < 1) throw new RangeError('resample: x must have a time axis (shape [..., time]), got a scalar');
  for (const [name, v] of [['origFreq', origFreq], ['newFreq', newFreq]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`resample: ${name} must be a positive integer (Hz), got ${v}`);
  }
  const lowpass = opts.lowpassFilterWidth ?? 6, rolloff = opts.rolloff ?? 0.99;
  if (!Number.isInteger(lowpass) || lowpass < 1) throw new RangeError(`resample: lowpassFilterWidth must be a positive integer, got ${lowpass}`);
  if (!(rolloff > 0 && rolloff <= 1)) throw new RangeError(`resample: rolloff must be in (0, 1], got ${rolloff}`);
  if (origFreq === newFreq) return x.clone();
  const g = gcd(origFreq, newFreq);
  const orig = origFreq / g, next = newFreq / g;
  const { kernel, width, size } = sincKernel(orig, next, lowpass, rolloff);
  const shape = x.shape, n = shape[shape.length - 1];
  return scope(() => {
    const k = tensor(kernel, { shape: [next, 1, size] }).to(x.dtype);
    const padded = torch.constantPadNd(x.reshape([-1, 1, n]), [width, width + orig]); // (B, 1, n + 2 width + orig)
    const y = conv(padded, k, null, { dims: 1, stride: [orig], padding: [0], dilation: [1], groups: 1, transposed: false, outputPadding: [0] }); // (B, new, frames)
    const flat = y.transpose(1, 2).reshape([y.shape[0], -1]); // interleave the phases
    const target = Math.ceil((next * n) / orig);
    return flat.narrow(1, 0, target).reshape([...shape.slice(0, -1), target]);
  });
}

/** Mean over the channel axis: [channels, time] (or [..., channels, time]) to [1, time] ([..., 1, time]). */
export function downmixMono(x: Tensor): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`downmixMono: x must be a Tensor, got ${typeof x}`);
  if (x.ndim < 2) throw new RangeError(`downmixMono: x must be shaped [..., channels, time], got [${x.shape.join(', ')}]`);
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new TypeError(`downmixMono: x must be float32 or float64, got ${x.dtype}`);
  return x.mean(-2, true);
}
