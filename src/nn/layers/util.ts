// Plumbing shared by the layer classes: how a layer turns the specs in its options into tensors
// with the right tags, fixed tensors that no scope frees, and int-or-tuple hyperparameters.
import { DType, Generator, Tensor, checkShape, noGrad, scope } from '../../tensor';
import { Expr, Initializer, ParamLike, ParamSpec, Tag, makeParam, value } from '../param';

/** Options every layer with tensors accepts: the generator its initializers draw from, and the dtype. */
export interface InitOptions {
  generator?: Generator;
  dtype?: DType;
}

export const WEIGHT: Tag[] = ['trainable', 'regularizable'];
export const BIAS: Tag[] = ['trainable'];

/**
 * A parameter of a layer: `spec` if given (an initializer, constant, Parameter, fixed Tensor or
 * Expr), else `def`; null means "none". An Expr is evaluated once to check its shape.
 */
export function param(spec: ParamSpec | undefined, def: Initializer, shape: number[], name: string,
  tags: Tag[], o: InitOptions): ParamLike | null {
  const p = makeParam(spec === undefined ? def : spec, shape, name, { tags, generator: o.generator, dtype: o.dtype });
  if (p instanceof Expr) checkExprShape(p, shape, name);
  return p;
}

/** Like `param`, for a tensor that must exist. */
export function required(spec: ParamSpec | undefined, def: Initializer, shape: number[], name: string,
  tags: Tag[], o: InitOptions): ParamLike {
  const p = param(spec, def, shape, name, tags, o);
  if (p === null) throw new TypeError(`${name}: this layer needs it; null is not allowed`);
  return p;
}

/**
 * A fixed (non-learnable) tensor such as a frequency table: an initializer's result is kept out of
 * every scope and does not require grad; a Tensor or Expr passed by the user is used as it is.
 */
export function fixed(spec: ParamSpec | undefined, def: Initializer, shape: number[], name: string, o: InitOptions): ParamLike {
  const s = spec === undefined ? def : spec;
  if (s === null) throw new TypeError(`${name}: this layer needs it; null is not allowed`);
  if (s instanceof Tensor || s instanceof Expr) return required(s, def, shape, name, [], o);
  const t = noGrad(() => {
    if (typeof s !== 'function') {
      // a number or list of numbers: reuse makeParam's conversion, then drop the Parameter wrapper
      const p = makeParam(s, shape, name, { tags: [], dtype: o.dtype }) as Tensor;
      const d = p.detach();
      p.dispose();
      return d;
    }
    return s(shape, { generator: o.generator, dtype: o.dtype });
  });
  checkShape(name, "the initializer's result", t, shape);
  return t.keep();
}

/** A kept, non-learnable tensor (running statistics, masks). */
export function buffer(make: () => Tensor): Tensor {
  return noGrad(make).keep();
}

function checkExprShape(e: Expr, shape: number[], name: string): void {
  const got = scope(() => noGrad(() => value(e).shape));
  checkShape(name, "the expression's value", got, shape);
}

/** `3` -> `[3, 3]` for a 2-d layer; a list must have `n` entries. */
export function tuple(v: number | number[], n: number, name: string): number[] {
  const out = Array.isArray(v) ? v : new Array<number>(n).fill(v);
  if (out.length !== n || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new TypeError(`${name}: expected a non-negative integer or a list of ${n}, got ${JSON.stringify(v)}`);
  }
  return out;
}

export function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v <= 0) throw new TypeError(`${name}: expected a positive integer, got ${v}`);
  return v;
}

export function probability(p: number, name: string): number {
  if (!(p >= 0 && p < 1)) throw new RangeError(`${name}: expected a probability in [0, 1), got ${p}`);
  return p;
}
