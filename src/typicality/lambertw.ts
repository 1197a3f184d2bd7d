// The Lambert W function, the inverse of w ↦ w e^w, on its two real branches W0 (w ≥ −1, x ≥ −1/e)
// and W−1 (w ≤ −1, −1/e ≤ x < 0), by Halley iteration from branch-specific starting points.

const INV_E = Math.exp(-1);

/** The principal branch W0(x), x ≥ −1/e. */
export function lambertW0(x: number): number {
  if (Number.isNaN(x) || x < -INV_E - 1e-15) throw new Error(`lambertW0: expected x >= -1/e, got ${x}`);
  if (x === 0) return 0;
  if (x === Infinity) return Infinity;
  let w: number;
  if (x < -0.25) w = branchPointSeries(x, 1);
  else if (x < 3) w = Math.log1p(x);
  else {
    const l1 = Math.log(x), l2 = Math.log(l1);
    w = l1 - l2 + l2 / l1; // asymptotic W(x) ≈ log x − log log x + log log x / log x
  }
  return halley(x, w);
}

/** The lower branch W−1(x), −1/e ≤ x < 0. */
export function lambertWm1(x: number): number {
  if (Number.isNaN(x) || x < -INV_E - 1e-15 || x >= 0) throw new Error(`lambertWm1: expected -1/e <= x < 0, got ${x}`);
  let w: number;
  if (x < -0.25) w = branchPointSeries(x, -1);
  else {
    const l1 = Math.log(-x), l2 = Math.log(-l1);
    w = l1 - l2 + l2 / l1;
  }
  return halley(x, w);
}

// Near x = −1/e: W ≈ −1 ± p − p²/3 ± 11 p³/72 with p = sqrt(2 (e x + 1)) (+ for W0, − for W−1).
function branchPointSeries(x: number, sign: 1 | -1): number {
  const p = sign * Math.sqrt(Math.max(0, 2 * (Math.E * x + 1)));
  return -1 + p - (p * p) / 3 + (11 / 72) * p * p * p;
}

// Halley's method on f(w) = w e^w − x:
// w ← w − f / (e^w (w + 1) − (w + 2) f / (2w + 2))
function halley(x: number, w: number): number {
  for (let i = 0; i < 100; i++) {
    const ew = Math.exp(w);
    const f = w * ew - x;
    const wp1 = w + 1;
    if (wp1 === 0 || f === 0) return w; // exactly at the branch point, or exact
    const step = f / (ew * wp1 - ((w + 2) * f) / (2 * wp1));
    if (!Number.isFinite(step)) return w;
    w -= step;
    if (Math.abs(step) <= 4e-16 * (1 + Math.abs(w))) break;
  }
  return w;
}
