// Parameter initializers (Lasagne's `lasagne.init`, PyTorch's `torch.nn.init`). Each factory
// returns an `Initializer`: `(shape, { generator, dtype }) => Tensor`, a new tensor drawn from the
// given generator (the default one when none is given), so the same seed gives the same weights,
// and the same numbers as `torch.nn.init` after `torch.manual_seed(seed)`.
// Weight layout is PyTorch's: (fan_out, fan_in, ...kernel); a grouped conv's is (out, in/groups, ...k).
import { Tensor, functions as torch, noGrad, scope } from '../tensor';
import type { Initializer } from './param';

/** A gain: a number, or the nonlinearity that follows the layer (PyTorch's `calculate_gain`). */
export type Gain = number | 'linear' | 'sigmoid' | 'tanh' | 'relu' | 'selu';

/** The gain for a leaky ReLU of negative slope `alpha`: sqrt(2 / (1 + alpha^2)) (He et al. 2015). */
export function leakyRelu(alpha = 0.01): number {
  return Math.sqrt(2 / (1 + alpha * alpha));
}

/** The gain as a number: 'linear'/'sigmoid' 1, 'tanh' 5/3, 'relu' sqrt(2), 'selu' 3/4 (as PyTorch). */
export function gainValue(gain: Gain): number {
  if (typeof gain === 'number') return gain;
  switch (gain) {
    case 'linear': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'selu': return 3 / 4;
    default: throw new TypeError(`unknown gain ${JSON.stringify(gain)}: use a number, 'linear', 'sigmoid', 'tanh', 'relu', 'selu' or leakyRelu(alpha)`);
  }
}

/** Fan-in and fan-out of a weight of shape (out, in, ...kernel), as PyTorch computes them. */
export function fans(shape: number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new RangeError(`fans: a weight needs at least 2 dimensions (out, in, ...kernel), got [${shape.join(', ')}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

type Opts = Parameters<Initializer>[1];

function uniformIn(shape: number[], lo: number, hi: number, o: Opts): Tensor {
  return noGrad(() => torch.empty(shape, { dtype: o.dtype ?? 'float32' }).uniform_(lo, hi, { generator: o.generator ?? null }));
}
function normalWith(shape: number[], mean: number, std: number, o: Opts): Tensor {
  return noGrad(() => torch.empty(shape, { dtype: o.dtype ?? 'float32' }).normal_(mean, std, { generator: o.generator ?? null }));
}

/** Constant `value` everywhere. */
export function constant(value: number): Initializer {
  return (shape, o = {}) => torch.full(shape, value, { dtype: o.dtype ?? 'float32' });
}

/** Zeros (biases). An initializer itself: it has nothing to configure. */
export const zeros: Initializer = (shape, o = {}) => torch.zeros(shape, { dtype: o.dtype ?? 'float32' });

/** Ones (normalization scales). */
export const ones: Initializer = (shape, o = {}) => torch.ones(shape, { dtype: o.dtype ?? 'float32' });

/** N(mean, std^2). */
export function normal(std: number, mean = 0): Initializer {
  if (!(std >= 0)) throw new RangeError(`normal: std must be >= 0, got ${std}`);
  return (shape, o = {}) => normalWith(shape, mean, std, o);
}

/** U(-range, range), or U(lo, hi) for `range = [lo, hi]`. */
export function uniform(range: number | [number, number]): Initializer {
  const [lo, hi] = typeof range === 'number' ? [-range, range] : range;
  if (!(hi >= lo)) throw new RangeError(`uniform: empty range [${lo}, ${hi}]`);
  return (shape, o = {}) => uniformIn(shape, lo, hi, o);
}

// Glorot & Bengio 2010, eq. 16: Var(W) = 2 / (fan_in + fan_out), times gain^2.
function glorotStd(shape: number[], gain: Gain): number {
  const { fanIn, fanOut } = fans(shape);
  return gainValue(gain) * Math.sqrt(2 / (fanIn + fanOut));
}

/** Glorot/Xavier uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)). */
export function glorotUniform(opts: { gain?: Gain } = {}): Initializer {
  return (shape, o = {}) => {
    const a = Math.sqrt(3) * glorotStd(shape, opts.gain ?? 1);
    return uniformIn(shape, -a, a, o);
  };
}

/** Glorot/Xavier normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)). */
export function glorotNormal(opts: { gain?: Gain } = {}): Initializer {
  return (shape, o = {}) => normalWith(shape, 0, glorotStd(shape, opts.gain ?? 1), o);
}

export interface HeOptions {
  /** sqrt(2) ('relu') by default; `leakyRelu(alpha)` for a leaky slope. */
  gain?: Gain;
  /** 'fanIn' (default) preserves the forward variance, 'fanOut' the backward one. */
  mode?: 'fanIn' | 'fanOut';
}

// He et al. 2015, eq. 10 (fanIn) / eq. 14 (fanOut): std = gain / sqrt(fan).
function heStd(shape: number[], opts: HeOptions): number {
  const mode = opts.mode ?? 'fanIn';
  if (mode !== 'fanIn' && mode !== 'fanOut') throw new TypeError(`He init: mode must be 'fanIn' or 'fanOut', got ${JSON.stringify(mode)}`);
  const f = fans(shape);
  return gainValue(opts.gain ?? 'relu') / Math.sqrt(mode === 'fanIn' ? f.fanIn : f.fanOut);
}

/** He/Kaiming uniform: U(-b, b), b = gain * sqrt(3 / fan). */
export function heUniform(opts: HeOptions = {}): Initializer {
  return (shape, o = {}) => {
    const b = Math.sqrt(3) * heStd(shape, opts);
    return uniformIn(shape, -b, b, o);
  };
}

/** He/Kaiming normal: N(0, std^2), std = gain / sqrt(fan). */
export function heNormal(opts: HeOptions = {}): Initializer {
  return (shape, o = {}) => normalWith(shape, 0, heStd(shape, opts), o);
}

/**
 * Orthogonal (Saxe et al. 2014): the weight viewed as a (shape[0], rest) matrix has orthonormal
 * rows or columns (whichever are fewer), times `gain`. Q of the QR decomposition of a Gaussian
 * matrix, with columns multiplied by sign(diag R) so that Q is uniform over the orthogonal group.
 */
export function orthogonal(opts: { gain?: Gain } = {}): Initializer {
  const gain = gainValue(opts.gain ?? 1);
  return (shape, o = {}) => {
    if (shape.length < 2) throw new RangeError(`orthogonal: a weight needs at least 2 dimensions, got [${shape.join(', ')}]`);
    const rows = shape[0];
    const cols = shape.slice(1).reduce((a, b) => a * b, 1);
    if (rows * cols === 0) return torch.zeros(shape, { dtype: o.dtype ?? 'float32' });
    return noGrad(() => scope(() => {
      const g = normalWith([rows, cols], 0, 1, o); // (rows, cols)
      const a = rows < cols ? g.t() : g; // (max, min): QR of the tall matrix
      const [q, r] = torch.linalgQr(a); // q: (max, min)
      const qs = q.mul(r.diag(0).sign()); // sign correction, column by column
      const w = rows < cols ? qs.t() : qs; // (rows, cols)
      return w.mul(gain).reshape(shape).contiguous();
    }));
  };
}
