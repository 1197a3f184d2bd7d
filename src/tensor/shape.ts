// The one shape-equality check: every place that needs two shapes to be equal (a parameter and its
// replacement, a state-dict entry and the tensor it loads into) asks here, so that every such
// error reads the same way and names the operation, the argument and both shapes.
import type { Tensor } from './tensor';

type ShapeLike = Tensor | readonly number[];

const dimsOf = (s: ShapeLike): readonly number[] => (Array.isArray(s) ? s : (s as Tensor).shape);

/** `[2, 3]`, as the error messages print a shape. */
export const formatShape = (s: ShapeLike): string => `[${dimsOf(s).join(', ')}]`;

/** True when the two shapes have the same rank and the same size in every dimension. */
export function sameShape(a: ShapeLike, b: ShapeLike): boolean {
  const x = dimsOf(a), y = dimsOf(b);
  return x.length === y.length && x.every((d, k) => d === y[k]);
}

/**
 * Throws unless `got` has the shape `expected`:
 * "<op>: <arg> has shape [3, 2], expected [2, 3] (<why>)". `op` names the operation (e.g.
 * 'Linear', 'Adam.loadStateDict'), `arg` the argument or entry that was given, `why` (optional)
 * where the expected shape comes from.
 */
export function checkShape(op: string, arg: string, got: ShapeLike, expected: ShapeLike, why?: string): void {
  if (sameShape(got, expected)) return;
  throw new Error(`${op}: ${arg} has shape ${formatShape(got)}, expected ${formatShape(expected)}${why ? ` (${why})` : ''}`);
}
