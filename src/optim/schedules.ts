// Learning-rate schedules as plain functions of the step (0 for the first update); an optimizer
// given one reads `lr = schedule(stepCount)` before each update.

/** A learning rate (or any hyperparameter) as a function of the step. */
export type Schedule = (step: number) => number;

/** The same value at every step. */
export function constant(value: number): Schedule {
  return () => value;
}

/**
 * Piecewise constant from a map of first step -> value, e.g. `{ 0: 0.003, 700: 3e-4, 800: 3e-5 }`
 * (steps 0-699 at 0.003, 700-799 at 3e-4, then 3e-5), the style of Dieleman et al.'s plankton solution.
 */
export function piecewiseConstant(values: Record<number, number>): Schedule {
  const points = Object.entries(values).map(([k, v]) => [Number(k), v] as const).sort((a, b) => a[0] - b[0]);
  if (points.length === 0 || points[0][0] !== 0) throw new RangeError('piecewiseConstant: the map must have an entry for step 0');
  for (const [k, v] of points) {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`piecewiseConstant: steps must be integers >= 0, got ${k}`);
    if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`piecewiseConstant: value at step ${k} must be a number`);
  }
  return (step) => {
    let v = points[0][1];
    for (const [k, x] of points) if (k <= step) v = x;
    return v;
  };
}

/**
 * Linear warm-up from base / warmup to `base` over the first `warmup` steps, then cosine decay
 * (Loshchilov & Hutter 2017, SGDR without restarts) to `final` at step `total`, and `final` after.
 */
export function cosineWithWarmup(opts: { base: number; warmup: number; total: number; final?: number }): Schedule {
  const { base, warmup, total } = opts;
  const final = opts.final ?? 0;
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new RangeError(`cosineWithWarmup: warmup must be an integer >= 0, got ${warmup}`);
  if (!(total > warmup)) {
    throw new RangeError(`cosineWithWarmup: total (the number of steps, ${total}) must be greater than warmup (${warmup}), leaving at least one step of cosine decay`);
  }
  return (step) => {
    if (step < warmup) return (base * (step + 1)) / warmup;
    const progress = Math.min(1, (step - warmup) / (total - warmup));
    return final + 0.5 * (base - final) * (1 + Math.cos(Math.PI * progress));
  };
}
