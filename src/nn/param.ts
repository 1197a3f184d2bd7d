// Parameters in the Lasagne spirit: a layer parameter is a learnable tensor (Parameter), a fixed
// tensor, or an expression over learnable tensors re-evaluated on every forward
// (Sander Dieleman & Jan Schlüter, "arbitrary expressions as layer parameters", 2015).
import { Tensor, DType, Generator, checkShape, fromBytes, noGrad } from '../tensor';
import { native } from '../tensor/native';

export type Tag = 'trainable' | 'regularizable' | string;

/** A learnable leaf tensor with tags. It is a Tensor: raw tensor code uses it directly. */
export class Parameter extends Tensor {
  tags: Set<Tag>;
  constructor(id: number, tags: Iterable<Tag> = ['trainable', 'regularizable']) {
    super(id);
    this.tags = new Set(tags);
  }
  /** A Parameter holding (a detached copy of the handle to) `t`'s data; `t` itself is left alone. */
  static from(t: Tensor, tags?: Iterable<Tag>): Parameter {
    const d = t.detach();
    const p = new Parameter(native.Share(d._handle), tags);
    d.dispose();
    p.requiresGrad_(p.isFloatingPoint());
    p.keep();
    return p;
  }
}

/** An expression over other parameters, e.g. `expr((w) => w.t(), encoder.W)`. */
export class Expr {
  constructor(readonly fn: (...inputs: Tensor[]) => Tensor, readonly inputs: ParamLike[]) {}
  /** Evaluates the expression (a new tensor each call, recorded by autograd). */
  value(): Tensor {
    const vals = this.inputs.map((i) => (i instanceof Expr ? i.value() : i));
    try {
      return this.fn(...vals);
    } finally {
      vals.forEach((v, k) => { if (this.inputs[k] instanceof Expr) v.dispose(); });
    }
  }
  /** The Parameters this expression is built from. */
  leaves(): Parameter[] {
    return this.inputs.flatMap((i) => (i instanceof Expr ? i.leaves() : i instanceof Parameter ? [i] : []));
  }
}

export function expr(fn: (...inputs: Tensor[]) => Tensor, ...inputs: ParamLike[]): Expr {
  if (typeof fn !== 'function') throw new TypeError('expr(fn, ...inputs): fn must be a function');
  inputs.forEach((i, k) => {
    if (!(i instanceof Tensor) && !(i instanceof Expr)) throw new TypeError(`expr(): input ${k} must be a Tensor, Parameter or Expr`);
  });
  return new Expr(fn, inputs);
}

/** What a layer field may hold for a parameter. */
export type ParamLike = Tensor | Expr;

/** The tensor a ParamLike stands for now. An Expr gives a new tensor: free it (scopes do). */
export function value(p: ParamLike): Tensor;
export function value(p: ParamLike | null): Tensor | null;
export function value(p: ParamLike | null): Tensor | null {
  if (p === null) return null;
  return p instanceof Expr ? p.value() : p;
}

/** An initializer: returns a new tensor of the given shape. */
export type Initializer = (shape: number[], opts: { generator?: Generator; dtype?: DType }) => Tensor;

/** A parameter spec as a layer constructor accepts it (Lasagne's `add_param`). */
export type ParamSpec = ParamLike | Initializer | number | number[] | null;

/**
 * Resolves a spec: an initializer or constant becomes a new Parameter with `tags`; a Tensor
 * (Parameter or fixed) or Expr is used as it is, after checking its shape where it can be known.
 */
export function makeParam(spec: ParamSpec, shape: number[], name: string,
  opts: { tags?: Iterable<Tag>; generator?: Generator; dtype?: DType } = {}): ParamLike | null {
  if (spec === null) return null;
  if (spec instanceof Tensor) {
    checkShape(name, 'the given tensor', spec, shape);
    return spec;
  }
  if (spec instanceof Expr) return spec;
  let t: Tensor;
  if (typeof spec === 'function') {
    t = spec(shape, { generator: opts.generator, dtype: opts.dtype });
  } else if (typeof spec === 'number' || Array.isArray(spec)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const vals = typeof spec === 'number' ? new Float32Array(n).fill(spec) : Float32Array.from(spec);
    if (vals.length !== n) throw new TypeError(`${name}: ${vals.length} values for shape [${shape.join(', ')}]`);
    t = fromBytes(new Uint8Array(vals.buffer), shape, 'float32');
    if (opts.dtype && opts.dtype !== 'float32') {
      const c = t.to(opts.dtype);
      t.dispose();
      t = c;
    }
  } else {
    throw new TypeError(`${name}: expected a Tensor, Expr, initializer, number or null`);
  }
  const p = noGrad(() => Parameter.from(t, opts.tags));
  t.dispose();
  return p;
}
