// Embeddings of a continuous scalar such as a diffusion time step or noise level, for
// conditioning a network on it. Both keep their frequencies as a fixed (non-learnable) tensor.
import { Tensor, functions as torch, scope } from '../../tensor';
import { Module } from '../module';
import { ParamLike, ParamSpec, value } from '../param';
import { normal } from '../init';
import { InitOptions, fixed, positiveInt } from './util';

/** (B) or (B, 1) -> (B, n): one row per sample. */
function column(t: Tensor, kind: string, n = 1): Tensor {
  if (t.ndim === 1 && n === 1) return t.unsqueeze(1);
  if (t.ndim === 2 && t.shape[1] === n) return t;
  throw new TypeError(`${kind}: expected shape [B]${n === 1 ? ' or [B, 1]' : ''}${n > 1 ? ` [B, ${n}]` : ''}, got [${t.shape.join(', ')}]`);
}

/**
 * The sinusoidal embedding of transformer positions (Vaswani et al. 2017, §3.5) applied to a
 * continuous t, as in DDPM's time-step embedding: [cos(t·f_i), sin(t·f_i)] with
 * f_i = maxPeriod^(-i / (dim/2)), i = 0 .. dim/2 - 1. An odd dim gets a zero last column.
 */
export class SinusoidalEmbedding extends Module {
  readonly dim: number;
  readonly maxPeriod: number;
  freqs: ParamLike;

  constructor(dim: number, o: { maxPeriod?: number; dtype?: InitOptions['dtype'] } = {}) {
    super();
    this.dim = positiveInt(dim, 'SinusoidalEmbedding: dim');
    this.maxPeriod = o.maxPeriod ?? 10000;
    const half = Math.floor(dim / 2);
    this.freqs = fixed(undefined, (shape, io) => scope(() =>
      torch.arange(shape[0], { dtype: io.dtype ?? 'float32' }).mul(-Math.log(this.maxPeriod) / half).exp()), [half], 'SinusoidalEmbedding.freqs', o);
  }

  /** (B) -> (B, dim). */
  forward(t: Tensor): Tensor {
    return scope(() => {
      const args = column(t, 'SinusoidalEmbedding').mul(value(this.freqs)); // (B, half)
      const emb = torch.cat([args.cos(), args.sin()], 1);
      return this.dim % 2 ? torch.cat([emb, torch.zerosLike(emb.i(':', [0, 1]))], 1) : emb;
    });
  }
}

/**
 * Random Fourier features (Tancik et al. 2020; the noise-level embedding of NCSN++/EDM):
 * [cos(2π v B), sin(2π v B)] with B ~ N(0, scale²) of shape (inFeatures, dim/2), drawn once.
 */
export class FourierFeatures extends Module {
  readonly dim: number;
  readonly inFeatures: number;
  freqs: ParamLike;

  constructor(dim: number, o: InitOptions & { inFeatures?: number; scale?: number; freqs?: ParamSpec } = {}) {
    super();
    this.dim = positiveInt(dim, 'FourierFeatures: dim');
    if (dim % 2) throw new TypeError(`FourierFeatures: dim must be even, got ${dim}`);
    this.inFeatures = positiveInt(o.inFeatures ?? 1, 'FourierFeatures: inFeatures');
    this.freqs = fixed(o.freqs, normal(o.scale ?? 16), [this.inFeatures, dim / 2], 'FourierFeatures.freqs', o);
  }

  /** (B) or (B, inFeatures) -> (B, dim). */
  forward(v: Tensor): Tensor {
    return scope(() => {
      const args = column(v, 'FourierFeatures', this.inFeatures).matmul(value(this.freqs)).mul(2 * Math.PI); // (B, dim/2)
      return torch.cat([args.cos(), args.sin()], 1);
    });
  }
}
