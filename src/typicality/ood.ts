// Out-of-distribution detection with a likelihood model, two ways (Nalisnick et al. 2019, "Detecting
// out-of-distribution inputs to deep generative models using typicality"; discussed in Dieleman's
// "Musings on typicality", 2020):
//
//   likelihood thresholding: an input is OOD when its −log p(x) is large (its likelihood small);
//   the typicality test:     a batch of M inputs is OOD when |−(1/M) Σ log p(x_m) − Ĥ| is large, where
//                            Ĥ estimates the model's entropy from training data. The threshold is the
//                            (1 − alpha)-quantile of that statistic over K bootstrap batches of
//                            held-out in-distribution data. M = 1 is a two-sided likelihood band: an
//                            input is flagged when it is much LESS likely than typical, but also when
//                            it is much MORE likely (the mode is not typical).
//
// Everything here takes log-likelihood scores as plain arrays (or 1-d tensors): the functions do not
// care which model produced them. Scores are negative log-likelihoods (e.g. bits/dim), so higher
// means less likely; every OOD score is "higher = more OOD".
import { Generator, Tensor, functions as torch, noGrad, scope } from '../tensor';

/** Scores as a plain array, a typed array, or a 1-d tensor. */
export type Scores = ArrayLike<number> | Tensor;

/** A Float64Array copy of `s` (a tensor is read out as float64). */
export function toFloat64(s: Scores): Float64Array {
  if (s instanceof Tensor) {
    if (s.ndim !== 1) throw new TypeError(`expected a 1-d tensor of scores, got shape [${s.shape.join(', ')}]`);
    return scope(() => Float64Array.from(s.detach().to('float64').toTypedArray() as Float64Array));
  }
  return Float64Array.from(s);
}

function mean(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

/**
 * The entropy estimate Ĥ: the mean of −log p over (held-out or training) in-distribution inputs,
 * in whatever unit the scores are (bits/dim for the PixelCNN).
 */
export function entropyEstimate(nll: Scores): number {
  const a = toFloat64(nll);
  if (a.length === 0) throw new RangeError('entropyEstimate: no scores');
  return mean(a);
}

/**
 * The empirical q-quantile with linear interpolation between order statistics (NumPy's default,
 * "type 7"): q = 0 is the minimum, q = 1 the maximum.
 */
export function quantile(values: Scores, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${q}`);
  const a = toFloat64(values).sort();
  if (a.length === 0) throw new RangeError('quantile: no values');
  const h = (a.length - 1) * q;
  const lo = Math.floor(h), hi = Math.ceil(h);
  return a[lo] + (h - lo) * (a[hi] - a[lo]);
}

/** The typicality statistic of one batch of scores: |mean(nll) − Ĥ|. */
export function typicalityStatistic(batchNll: Scores, entropy: number): number {
  const a = toFloat64(batchNll);
  if (a.length === 0) throw new RangeError('typicalityStatistic: empty batch');
  return Math.abs(mean(a) - entropy);
}

export interface BootstrapOptions {
  /** Batch size M (default 1). */
  batchSize?: number;
  /** Number of bootstrap batches K (default 10,000). */
  batches?: number;
  /** False-alarm rate: the threshold is the (1 − alpha)-quantile (default 0.01). */
  alpha?: number;
  /** Where the resampling indices come from (default: a Generator seeded 0). */
  generator?: Generator;
}

export interface TypicalityThreshold {
  entropy: number;
  batchSize: number;
  alpha: number;
  /** ε: a batch is flagged OOD when its statistic exceeds it. */
  epsilon: number;
  /** The K bootstrap statistics (unsorted). */
  statistics: Float64Array;
}

/**
 * Calibrates the typicality test: K batches of M scores are drawn with replacement from `heldOut`
 * (in-distribution data not used for Ĥ), and ε is the (1 − alpha)-quantile of their statistics.
 */
export function bootstrapThreshold(heldOut: Scores, entropy: number, o: BootstrapOptions = {}): TypicalityThreshold {
  const a = toFloat64(heldOut);
  const M = o.batchSize ?? 1, K = o.batches ?? 10000, alpha = o.alpha ?? 0.01;
  if (!Number.isInteger(M) || M < 1) throw new RangeError(`bootstrapThreshold: batchSize must be a positive integer, got ${M}`);
  if (!Number.isInteger(K) || K < 1) throw new RangeError(`bootstrapThreshold: batches must be a positive integer, got ${K}`);
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`bootstrapThreshold: alpha must be in (0, 1), got ${alpha}`);
  if (a.length === 0) throw new RangeError('bootstrapThreshold: no held-out scores');
  const gen = o.generator ?? new Generator(0);
  const idx = noGrad(() => scope(() => torch.randint(0, a.length, [K * M], { generator: gen, dtype: 'int32' }).toTypedArray() as Int32Array));
  const statistics = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let m = 0; m < M; m++) s += a[idx[k * M + m]];
    statistics[k] = Math.abs(s / M - entropy);
  }
  if (!o.generator) gen.dispose();
  return { entropy, batchSize: M, alpha, epsilon: quantile(statistics, 1 - alpha), statistics };
}

/** Whether a batch is flagged OOD by a calibrated typicality test. */
export function isAtypical(batchNll: Scores, t: TypicalityThreshold): boolean {
  return typicalityStatistic(batchNll, t.entropy) > t.epsilon;
}

/**
 * Splits scores into consecutive disjoint batches of M (a remainder shorter than M is dropped) and
 * returns each batch's typicality statistic: the OOD scores of the typicality test at batch size M.
 */
export function batchStatistics(nll: Scores, entropy: number, M: number): Float64Array {
  const a = toFloat64(nll);
  const n = Math.floor(a.length / M);
  const out = new Float64Array(n);
  for (let b = 0; b < n; b++) out[b] = typicalityStatistic(a.subarray(b * M, (b + 1) * M), entropy);
  return out;
}

/**
 * Throws unless every score is finite: NaN has no rank, and two infinite scores make the sort's
 * comparator NaN (Infinity - Infinity), which silently scrambles the order.
 */
function checkFinite(who: string, inDist: Float64Array, ood: Float64Array): void {
  for (const [name, a] of [['in-distribution', inDist], ['OOD', ood]] as const) {
    const i = a.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) throw new RangeError(`${who}: ${name} score ${i} is ${a[i]}; scores must be finite numbers`);
  }
}

/**
 * Area under the ROC curve with `ood` as the positive class and higher score = more OOD: the
 * Mann-Whitney probability P(score(ood) > score(in)) + ½ P(equal), from average ranks (ties count half).
 * 1 is perfect separation, 0.5 chance, 0 perfectly reversed.
 */
export function auroc(inDist: Scores, ood: Scores): number {
  const neg = toFloat64(inDist), pos = toFloat64(ood);
  const n0 = neg.length, n1 = pos.length;
  if (n0 === 0 || n1 === 0) throw new RangeError('auroc: both sets need at least one score');
  const all: { v: number; p: boolean }[] = [];
  for (const v of neg) all.push({ v, p: false });
  for (const v of pos) all.push({ v, p: true });
  checkFinite('auroc', neg, pos);
  all.sort((x, y) => x.v - y.v);
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j].v === all[i].v) j++;
    const avgRank = (i + 1 + j) / 2; // ranks i+1 .. j
    for (let k = i; k < j; k++) if (all[k].p) rankSum += avgRank;
    i = j;
  }
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n0 * n1);
}

/**
 * ROC curve points [fpr, tpr], from (0, 0) to (1, 1), one per distinct threshold (tied scores move
 * both rates at once, so the trapezoid area under the points equals `auroc`). With `maxPoints`, the
 * curve is thinned to about that many points (the ends are always kept).
 */
export function rocCurve(inDist: Scores, ood: Scores, o: { maxPoints?: number } = {}): [number, number][] {
  const neg = toFloat64(inDist), pos = toFloat64(ood);
  const n0 = neg.length, n1 = pos.length;
  if (n0 === 0 || n1 === 0) throw new RangeError('rocCurve: both sets need at least one score');
  checkFinite('rocCurve', neg, pos);
  const all: { v: number; p: boolean }[] = [];
  for (const v of neg) all.push({ v, p: false });
  for (const v of pos) all.push({ v, p: true });
  all.sort((x, y) => y.v - x.v); // flag the highest scores first
  const pts: [number, number][] = [[0, 0]];
  let tp = 0, fp = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j].v === all[i].v) {
      if (all[j].p) tp++; else fp++;
      j++;
    }
    pts.push([fp / n0, tp / n1]);
    i = j;
  }
  const max = o.maxPoints;
  if (max === undefined || pts.length <= max) return pts;
  const step = (pts.length - 1) / (max - 1);
  const out: [number, number][] = [];
  for (let k = 0; k < max; k++) out.push(pts[Math.round(k * step)]);
  return out;
}

/** The trapezoid area under ROC points (equals `auroc` for an unthinned `rocCurve`). */
export function rocArea(points: [number, number][]): number {
  let s = 0;
  for (let i = 1; i < points.length; i++) s += (points[i][0] - points[i - 1][0]) * (points[i][1] + points[i - 1][1]) / 2;
  return s;
}

/**
 * A histogram with `o.bins` equal-width bins over [lo, hi] (default: the data's range): the result's
 * `bins` are the bin EDGES (one more than `counts`); values outside are clamped into the end bins.
 */
export function histogram(values: Scores, o: { bins?: number; lo?: number; hi?: number } = {}): { bins: number[]; counts: number[] } {
  const a = toFloat64(values);
  const nb = o.bins ?? 40;
  let lo = o.lo ?? Infinity, hi = o.hi ?? -Infinity;
  if (o.lo === undefined || o.hi === undefined) for (const v of a) { if (o.lo === undefined) lo = Math.min(lo, v); if (o.hi === undefined) hi = Math.max(hi, v); }
  if (!(hi > lo)) hi = lo + 1;
  const edges = Array.from({ length: nb + 1 }, (_, k) => lo + ((hi - lo) * k) / nb);
  const counts = new Array<number>(nb).fill(0);
  for (const v of a) counts[Math.min(nb - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * nb)))]++;
  return { bins: edges, counts };
}

/** Result of evaluating one detector on in-distribution vs OOD scores. */
export interface DetectorResult {
  method: string;
  batchSize: number;
  auroc: number;
  /** The calibrated threshold (likelihood: the (1 − alpha)-quantile of held-out −log p; typicality: ε). */
  threshold: number;
  /** Fraction of in-distribution evaluation inputs/batches flagged at the threshold. */
  fpr: number;
  /** Fraction of OOD inputs/batches flagged at the threshold. */
  tpr: number;
  nIn: number;
  nOod: number;
}

function flaggedFraction(scores: Float64Array, threshold: number): number {
  let c = 0;
  for (const v of scores) if (v > threshold) c++;
  return c / scores.length;
}

/**
 * Likelihood thresholding (OOD score = −log p), its threshold the (1 − alpha)-quantile of held-out
 * in-distribution scores (one-sided: only unlikely inputs are flagged).
 */
export function likelihoodDetector(heldOut: Scores, evalIn: Scores, ood: Scores, alpha = 0.01): DetectorResult & { inScores: Float64Array; oodScores: Float64Array } {
  const inScores = toFloat64(evalIn), oodScores = toFloat64(ood);
  const threshold = quantile(heldOut, 1 - alpha);
  return {
    method: 'likelihood', batchSize: 1, auroc: auroc(inScores, oodScores), threshold,
    fpr: flaggedFraction(inScores, threshold), tpr: flaggedFraction(oodScores, threshold),
    nIn: inScores.length, nOod: oodScores.length, inScores, oodScores,
  };
}

/** The typicality test at batch size M: bootstrap-calibrated on `heldOut`, scored on disjoint batches of `evalIn` and `ood`. */
export function typicalityDetector(entropy: number, heldOut: Scores, evalIn: Scores, ood: Scores, o: BootstrapOptions = {}): DetectorResult & { inScores: Float64Array; oodScores: Float64Array } {
  const M = o.batchSize ?? 1;
  const t = bootstrapThreshold(heldOut, entropy, o);
  const inScores = batchStatistics(evalIn, entropy, M), oodScores = batchStatistics(ood, entropy, M);
  return {
    method: 'typicality', batchSize: M, auroc: auroc(inScores, oodScores), threshold: t.epsilon,
    fpr: flaggedFraction(inScores, t.epsilon), tpr: flaggedFraction(oodScores, t.epsilon),
    nIn: inScores.length, nOod: oodScores.length, inScores, oodScores,
  };
}
