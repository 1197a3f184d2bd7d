// Closed forms from "Musings on typicality" and its addendum (Dieleman, 2020): the chi distribution
// of a standard Gaussian's radius, annulus masses, the Gaussian mirage M_K, differential entropies,
// the mirage's typical radius (Lambert W), the unit K-sphere's area, typical-set membership and the
// unfair-coin table. Plain float64 numbers; the samplers return tensors from an explicit Generator.
import { Generator, Tensor, functions as torch } from '../tensor';
import { gammaP, gammaQ, lgamma } from './gamma';
import { lambertW0 } from './lambertw';

/** The Euler–Mascheroni constant γ. */
export const EULER_GAMMA = 0.5772156649015329;

const LOG_2PI = Math.log(2 * Math.PI);
const LOG_PI = Math.log(Math.PI);

function checkDim(K: number): void {
  if (!Number.isInteger(K) || K < 1) throw new Error(`expected a dimensionality K >= 1 (integer), got ${K}`);
}

// ------------------------------------------------------------------- chi distribution χ_K

/** log f_χK(r) = (K − 1) log r − r²/2 − (K/2 − 1) log 2 − log Γ(K/2), the log-density of the radius of x ~ N_K. */
export function chiLogPdf(r: number, K: number): number {
  checkDim(K);
  if (r < 0) return -Infinity;
  if (r === 0) return K === 1 ? 0.5 * Math.log(2 / Math.PI) : -Infinity;
  return (K - 1) * Math.log(r) - (r * r) / 2 - (K / 2 - 1) * Math.LN2 - lgamma(K / 2);
}

/** f_χK(r), the density of the distance from the mode of x ~ N(0, I_K). */
export function chiPdf(r: number, K: number): number {
  return Math.exp(chiLogPdf(r, K));
}

/** F_χK(r) = P(K/2, r²/2), the probability that x ~ N(0, I_K) lies within radius r. */
export function chiCdf(r: number, K: number): number {
  checkDim(K);
  return r <= 0 ? 0 : gammaP(K / 2, (r * r) / 2);
}

/** 1 − F_χK(r) = Q(K/2, r²/2), accurate in the upper tail. */
export function chiSurvival(r: number, K: number): number {
  checkDim(K);
  return r <= 0 ? 1 : gammaQ(K / 2, (r * r) / 2);
}

/** The mode of χ_K, sqrt(K − 1) (addendum: "it actually sits at sqrt(K − 1)"). */
export function chiMode(K: number): number {
  checkDim(K);
  return Math.sqrt(K - 1);
}

/** The probability mass of N(0, I_K) in the annulus r0 ≤ |x| ≤ r1 (a chi cdf difference). */
export function gaussianAnnulusMass(K: number, r0: number, r1: number): number {
  if (r1 < r0) throw new Error(`gaussianAnnulusMass: expected r0 <= r1, got ${r0}, ${r1}`);
  // the smaller of the two tails keeps the difference accurate when both cdfs are close to 1
  const median = Math.sqrt(Math.max(K - 2 / 3, 0));
  return r0 >= median ? chiSurvival(r0, K) - chiSurvival(r1, K) : chiCdf(r1, K) - chiCdf(r0, K);
}

// ------------------------------------------------------------------------ the K-sphere

/** log of the surface area of the unit K-sphere (in R^K), log(2 π^{K/2} / Γ(K/2)); −∞ for K = 0. */
export function logUnitSphereArea(K: number): number {
  if (!Number.isInteger(K) || K < 0) throw new Error(`expected an integer K >= 0, got ${K}`);
  if (K === 0) return -Infinity; // 1/Γ(0) = 0
  return Math.LN2 + (K / 2) * LOG_PI - lgamma(K / 2);
}

/** The surface area of the unit K-sphere, 2 π^{K/2} / Γ(K/2) (largest at K = 7, then → 0). */
export function unitSphereArea(K: number): number {
  return Math.exp(logUnitSphereArea(K));
}

// --------------------------------------------------------------------------- N_K and M_K

/** log f_NK(x) = −K/2 log 2π − xᵀx/2 for |x| = r. */
export function gaussianLogDensity(r: number, K: number): number {
  checkDim(K);
  return -(K / 2) * LOG_2PI - (r * r) / 2;
}

/**
 * log f_MK(x) for |x| = r: the half-Gaussian HN(0, K) density of the radius times the uniform density
 * on the sphere of radius r (addendum, "Typical sets of N_K and M_K"):
 * f_MK(x) = 2/sqrt(2πK) exp(−r²/(2K)) · Γ(K/2) / (2 π^{K/2} r^{K−1}).
 */
export function mirageLogDensity(r: number, K: number): number {
  checkDim(K);
  if (r < 0) throw new Error(`mirageLogDensity: expected a radius r >= 0, got ${r}`);
  const halfNormal = Math.LN2 - 0.5 * (LOG_2PI + Math.log(K)) - (r * r) / (2 * K);
  const uniformOnSphere = -logUnitSphereArea(K) - (K === 1 ? 0 : (K - 1) * Math.log(r));
  return halfNormal + uniformOnSphere;
}

/** H(N_K) = K/2 log(2πe) nats. */
export function gaussianEntropy(K: number): number {
  checkDim(K);
  return (K / 2) * (LOG_2PI + 1);
}

/**
 * H(M_K) = ½ + (K − 1)/2 (log(K/2) − γ) − log(Γ(K/2) / (sqrt(2πK) π^{K/2})) nats (addendum, "In summary");
 * H(M_1) = ½ log(2πe) = H(N_1).
 */
export function mirageEntropy(K: number): number {
  checkDim(K);
  const h1 = 0.5;
  const h2 = ((K - 1) / 2) * (Math.log(K / 2) - EULER_GAMMA);
  const h3 = -(lgamma(K / 2) - 0.5 * (LOG_2PI + Math.log(K)) - (K / 2) * LOG_PI);
  return h1 + h2 + h3;
}

/**
 * The radius of M_K's typical set, where f_MK(x) = exp(−H(M_K)), i.e. r²/(2K) + (K − 1) log r = ½ + (K − 1)/2 (log(K/2) − γ):
 * r = sqrt(K (K − 1) W0(exp(1/(K − 1) + log(K/2) − γ) / (K (K − 1)))) (addendum); r = 1 for K = 1.
 * r / sqrt(K) → sqrt(e^{−γ}/2) ≈ 0.52984 as K → ∞.
 */
export function mirageTypicalRadius(K: number): number {
  checkDim(K);
  if (K === 1) return 1; // r²/2 = ½
  const kk = K * (K - 1);
  const logArg = 1 / (K - 1) + Math.log(K / 2) - EULER_GAMMA - Math.log(kk);
  return Math.sqrt(kk * lambertW0(Math.exp(logArg)));
}

/** The K → ∞ limit of mirageTypicalRadius(K) / sqrt(K): W(z) ≈ z for small z gives r² → K e^{−γ} / 2. */
export const MIRAGE_TYPICAL_RADIUS_LIMIT = Math.sqrt(Math.exp(-EULER_GAMMA) / 2);

// ------------------------------------------------------------------------------ samplers

/** n samples from N(0, I_K): (n, K). */
export function sampleGaussian(n: number, K: number, generator: Generator): Tensor {
  checkDim(K);
  return torch.randn([n, K], { generator, dtype: 'float64' });
}

/**
 * n samples from the Gaussian mirage M_K: a direction uniform on the unit sphere (a normalised
 * Gaussian vector) times a radius |N(0, K)| (addendum, "The Gaussian mirage distribution"): (n, K).
 */
export function sampleMirage(n: number, K: number, generator: Generator): Tensor {
  checkDim(K);
  const direction = torch.randn([n, K], { generator, dtype: 'float64' }); // (n, K)
  const unit = direction.div(torch.linalgVectorNorm(direction, 2, [-1], true)); // (n, K) on S^{K−1}
  const radius = torch.randn([n, 1], { generator, dtype: 'float64' }).mul(Math.sqrt(K)).abs(); // (n, 1) ~ HN(0, K)
  return unit.mul(radius);
}

// ------------------------------------------------------------------------------ typicality

/**
 * Whether a sequence of n symbols with total log-probability logProb (nats) is in the ε-typical set of a
 * source with per-symbol entropy `entropy` (nats): |−log p(x)/n − H| ≤ ε.
 */
export function inTypicalSet(logProb: number, n: number, entropy: number, epsilon: number): boolean {
  if (!(n > 0)) throw new Error(`inTypicalSet: expected n > 0, got ${n}`);
  if (!(epsilon >= 0)) throw new Error(`inTypicalSet: expected epsilon >= 0, got ${epsilon}`);
  return Math.abs(-logProb / n - entropy) <= epsilon;
}

/** A model's entropy estimated from the log-likelihoods of its own samples: the mean of −log p (nats). */
export function entropyFromLogLikelihoods(logLikelihoods: number[] | Float64Array | Tensor): number {
  if (logLikelihoods instanceof Tensor) {
    if (logLikelihoods.numel() === 0) throw new Error('entropyFromLogLikelihoods: no log-likelihoods');
    return -logLikelihoods.to('float64').mean().item();
  }
  if (logLikelihoods.length === 0) throw new Error('entropyFromLogLikelihoods: no log-likelihoods');
  let s = 0;
  for (const v of logLikelihoods) s += v;
  return -s / logLikelihoods.length;
}

/**
 * The ε-typical set of N_K: |−log f(x)/K − H(N_K)/K| ≤ ε ⇔ |r²/K − 1| ≤ 2ε, an annulus
 * sqrt(K (1 − 2ε)) ≤ r ≤ sqrt(K (1 + 2ε)); its width and probability mass.
 */
export function gaussianTypicalSet(K: number, epsilon: number): { rMin: number; rMax: number; width: number; mass: number } {
  checkDim(K);
  const rMin = Math.sqrt(Math.max(0, K * (1 - 2 * epsilon)));
  const rMax = Math.sqrt(K * (1 + 2 * epsilon));
  return { rMin, rMax, width: rMax - rMin, mass: gaussianAnnulusMass(K, rMin, rMax) };
}

// ---------------------------------------------------------------------------- coin flips

export interface CoinRow {
  heads: number;
  tails: number;
  /** The probability of one particular sequence with this many heads, p^h (1 − p)^t. */
  pSequence: number;
  /** The number of such sequences, C(n, h). */
  sequences: number;
  /** The probability of observing this many heads, C(n, h) p^h (1 − p)^t (binomial). */
  pHeads: number;
}

/** n choose k, exact for the sizes used here (computed as a running product). */
export function binomial(n: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(k) || n < 0) throw new Error(`binomial: expected integers n >= 0, got ${n}, ${k}`);
  if (k < 0 || k > n) return 0;
  k = Math.min(k, n - k);
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return Math.round(c);
}

/** The unfair-coin table of the post (section 2.1): one row per number of heads 0..n, for n tosses with p(heads) = p. */
export function coinTable(n = 16, p = 0.75): CoinRow[] {
  const rows: CoinRow[] = [];
  for (let h = 0; h <= n; h++) {
    const pSequence = p ** h * (1 - p) ** (n - h);
    const sequences = binomial(n, h);
    rows.push({ heads: h, tails: n - h, pSequence, sequences, pHeads: sequences * pSequence });
  }
  return rows;
}
