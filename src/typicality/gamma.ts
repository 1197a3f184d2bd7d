// The log-gamma function and the regularized lower incomplete gamma function P(a, x), in float64:
// the special functions behind the chi distribution and the area of the unit K-sphere.

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

// Stirling series coefficients B_{2k} / (2k (2k - 1)) for k = 1..7 (Bernoulli numbers B_2..B_14).
const STIRLING = [1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156];

/** log|Γ(x)| for real x (Stirling series after shifting x ≥ 15; reflection for x < 0.5). +∞ at the poles 0, −1, −2, … */
export function lgamma(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return Infinity;
  if (x <= 0 && Number.isInteger(x)) return Infinity;
  if (x < 0.5) {
    // Γ(x) Γ(1 − x) = π / sin(πx)
    return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  }
  // Γ(x) = Γ(x + n) / (x (x + 1) … (x + n − 1)), so the asymptotic series is used where it is exact to float64
  let shift = 0;
  let prod = 1;
  while (x < 15) {
    prod *= x;
    x += 1;
    if (prod > 1e250) {
      shift += Math.log(prod);
      prod = 1;
    }
  }
  shift += Math.log(prod);
  const inv = 1 / x, inv2 = inv * inv;
  let series = 0;
  for (let k = STIRLING.length - 1; k >= 0; k--) series = series * inv2 + STIRLING[k];
  // log Γ(x) ≈ (x − ½) log x − x + ½ log 2π + Σ_k B_2k / (2k (2k−1) x^{2k−1})
  return (x - 0.5) * Math.log(x) - x + HALF_LOG_2PI + series * inv - shift;
}

const EPS = 1e-16;
const TINY = 1e-300;

/** The regularized lower incomplete gamma function P(a, x) = γ(a, x) / Γ(a), a > 0, x ≥ 0. */
export function gammaP(a: number, x: number): number {
  checkArgs(a, x);
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  return x < a + 1 ? gammaSeries(a, x) : 1 - gammaContinuedFraction(a, x);
}

/** The regularized upper incomplete gamma function Q(a, x) = 1 − P(a, x), accurate where P is close to 1. */
export function gammaQ(a: number, x: number): number {
  checkArgs(a, x);
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaSeries(a, x) : gammaContinuedFraction(a, x);
}

function checkArgs(a: number, x: number): void {
  if (!(a > 0) || !(x >= 0)) throw new Error(`incomplete gamma: expected a > 0 and x >= 0, got a=${a}, x=${x}`);
}

// P(a, x) = x^a e^{−x} / Γ(a + 1) · Σ_{n≥0} x^n / ((a + 1) … (a + n)); converges fast for x < a + 1.
function gammaSeries(a: number, x: number): number {
  let term = 1, sum = 1;
  for (let n = 1; n < 10000; n++) {
    term *= x / (a + n);
    sum += term;
    if (term < sum * EPS) break;
  }
  return Math.exp(a * Math.log(x) - x - lgamma(a + 1)) * sum;
}

// Q(a, x) = x^a e^{−x} / Γ(a) · 1 / (x + 1 − a − 1·(1 − a) / (x + 3 − a − 2·(2 − a) / (x + 5 − a − …))),
// evaluated with the modified Lentz method; converges fast for x ≥ a + 1.
function gammaContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let f = d;
  for (let n = 1; n < 10000; n++) {
    const an = -n * (n - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    f *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  return Math.exp(a * Math.log(x) - x - lgamma(a)) * f;
}
