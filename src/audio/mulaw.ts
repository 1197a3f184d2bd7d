// mu-law companding (ITU-T G.711 style, as used by WaveNet's 256-way softmax output), in the two
// conventions of the reference libraries, named as such: torchaudio's unsigned codes 0..mu and
// librosa's signed codes -(mu+1)/2..(mu-1)/2.
import { Tensor, scope } from '../tensor';

function checkFloat(fn: string, x: Tensor): void {
  if (!(x instanceof Tensor)) throw new TypeError(`${fn}: x must be a Tensor, got ${typeof x}`);
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new TypeError(`${fn}: x must be float32 or float64, got ${x.dtype}`);
}

function checkMu(fn: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${fn}: ${name} must be an integer >= ${min}, got ${v}`);
}

/**
 * torchaudio.functional.mu_law_encoding: x in [-1, 1] to int64 codes 0..quantizationChannels-1.
 * mu = channels - 1; y = sign(x) log1p(mu |x|) / log1p(mu); code = trunc((y + 1) / 2 mu + 0.5).
 * (Values outside [-1, 1] are not clipped, as in torchaudio.)
 */
export function muLawEncodeTorchaudio(x: Tensor, quantizationChannels = 256): Tensor {
  checkFloat('muLawEncodeTorchaudio', x);
  checkMu('muLawEncodeTorchaudio', 'quantizationChannels', quantizationChannels, 2);
  const mu = quantizationChannels - 1;
  return scope(() => {
    const y = x.sign().mul(x.abs().mul(mu).log1p()).div(Math.log1p(mu));
    return y.add(1).div(2).mul(mu).add(0.5).to('int64');
  });
}

/** torchaudio.functional.mu_law_decoding: codes 0..channels-1 back to [-1, 1] (float32 unless codes are float64). */
export function muLawDecodeTorchaudio(codes: Tensor, quantizationChannels = 256): Tensor {
  if (!(codes instanceof Tensor)) throw new TypeError(`muLawDecodeTorchaudio: codes must be a Tensor, got ${typeof codes}`);
  checkMu('muLawDecodeTorchaudio', 'quantizationChannels', quantizationChannels, 2);
  const mu = quantizationChannels - 1;
  return scope(() => {
    const c = codes.dtype === 'float64' ? codes : codes.to('float32');
    const y = c.div(mu).mul(2).sub(1);
    return y.sign().mul(y.abs().mul(Math.log1p(mu)).exp().sub(1)).div(mu);
  });
}

/**
 * librosa.mu_compress(x, mu=255, quantize=true): y = sign(x) log1p(mu |x|) / log1p(mu), then
 * np.digitize(y, linspace(-1, 1, mu + 1), right=True) - (mu + 1) // 2, i.e. int64 codes -128..127
 * for mu = 255. With quantize=false, the continuous y in [-1, 1].
 */
export function muCompressLibrosa(x: Tensor, opts: { mu?: number; quantize?: boolean } = {}): Tensor {
  checkFloat('muCompressLibrosa', x);
  const mu = opts.mu ?? 255;
  checkMu('muCompressLibrosa', 'mu', mu, 1);
  return scope(() => {
    // computed in float64 as numpy does; digitize's bin index is the smallest i with -1 + 2i/mu >= y
    const x64 = x.to('float64');
    const y = x64.sign().mul(x64.abs().mul(mu).log1p()).div(Math.log1p(mu));
    if (opts.quantize === false) return y.to(x.dtype);
    return y.add(1).mul(mu / 2).ceil().clamp(0, mu).sub(Math.floor((mu + 1) / 2)).to('int64');
  });
}

/** librosa.mu_expand(codes, mu=255, quantize=true): codes * 2 / (mu + 1), then sign(y) / mu ((1 + mu)^|y| - 1). */
export function muExpandLibrosa(codes: Tensor, opts: { mu?: number; quantize?: boolean } = {}): Tensor {
  if (!(codes instanceof Tensor)) throw new TypeError(`muExpandLibrosa: codes must be a Tensor, got ${typeof codes}`);
  const mu = opts.mu ?? 255;
  checkMu('muExpandLibrosa', 'mu', mu, 1);
  return scope(() => {
    let y = codes.dtype === 'float64' ? codes : codes.to('float32');
    if (opts.quantize !== false) y = y.mul(2 / (1 + mu));
    return y.sign().div(mu).mul(y.abs().mul(Math.log1p(mu)).exp().sub(1));
  });
}
