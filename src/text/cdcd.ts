// CDCD: continuous diffusion for categorical data (Dieleman et al. 2022, arXiv 2211.15089), the
// post's model. Tokens are embedded, Gaussian noise is added to the embeddings, and the
// bidirectional backbone predicts the clean tokens with the cross-entropy loss (score
// interpolation); the noise levels are drawn through a learned time warping.
//
// Embeddings: a learned table normalised to unit L2 norm and scaled by sqrt(d), so each embedding
// has mean square 1 per dimension (unit variance per dimension of the data, CDCD §3.1).
// Noise: x = e + σ ε with σ(t) = t on [t_min, t_max] = [1, 300] (CDCD's values). Why this range: two
// embeddings at distance about sqrt(2d) (d = 64: 11.3) are told apart at σ = 1 with a margin of
// about 11 noise standard deviations (the prediction is all but certain), and at σ = 300 their
// distance is 0.04 σ (the noisy input carries almost nothing): the range spans from "determined" to
// "uninformative", and the time warping decides where within it to train.
// Input scaling c_in = 1/sqrt(1 + σ²) (EDM's c_in with σ_data = 1); the noise level enters through
// adaLN-Zero on c_noise = ln(σ)/4 (EDM).
// Score interpolation (CDCD §3.2): D(x, σ) = Σ_v p_θ(v | x, σ) e_v, the expected embedding under the
// predicted distribution, so the score is (D - x)/σ² and every sampler of src/diffusion applies.
// Time warping (CDCD §3.3; Plaid's LossCDF, Gulrajani & Hashimoto 2023): an unnormalised monotone
// piecewise-linear F̃(t) is regressed onto the (detached) cross-entropy as a function of t;
// normalised, it is a CDF from whose inverse the training t are drawn (low-discrepancy u) and by
// which the sampling steps are spaced (equal steps in u = F(t)).
// Self-conditioning (Chen et al. 2022, "Analog bits"; CDCD §3.4): for half the batch a first pass
// (no gradient) gives an expected embedding that is fed to the second pass as an extra input.
// Conditioning by a mask of clean positions (CDCD §3.5): prefix, random spans or fully random masks
// in training; the clean embeddings are given at those positions with a flag, and the loss is on
// the noised positions only. The same mechanism infills; classifier-free guidance contrasts the
// model with and without the clean positions.
import { Generator, Tensor, functions as torch, keep, noGrad, scope, tensor } from '../tensor';
import { F } from '../tensor';
import { Module } from '../nn/module';
import { Embedding } from '../nn/layers/embedding';
import { Parameter, value } from '../nn/param';
import { normal } from '../nn/init';
import { Adam } from '../optim/adam';
import { Denoiser } from '../diffusion/denoiser';
import { classifierFreeGuidance } from '../diffusion/guidance';
import { SamplerName, samplerInfo } from '../diffusion/samplers';
import { MASK_ID } from './bpe';
import { BackboneConfig, SampleOptions, TextLM, TextLMConfig, registerTextModel } from './lm';
import { templateRows } from './mdlm';
import { TextTransformer } from './transformer';

export const CDCD_KIND = 'text-cdcd';

export interface CdcdOptions {
  /** Embedding size d (default 64). */
  embedDim: number;
  tMin: number;
  tMax: number;
  /** Draw training t through the learned CDF (true) or uniformly on [t_min, t_max] (false). */
  warp: boolean;
  /** Bins of the piecewise-linear CDF (default 100). */
  bins: number;
  /** Learning rate of the CDF's own Adam (default 1e-2). */
  cdfLr: number;
  /** Fraction of the batch trained with self-conditioning (default 0.5). */
  selfCond: number;
  /** Fraction of sequences with some clean (conditioning) positions (default 0.5). */
  condFraction: number;
}

export const DEFAULT_CDCD: CdcdOptions = { embedDim: 64, tMin: 1, tMax: 300, warp: true, bins: 100, cdfLr: 1e-2, selfCond: 0.5, condFraction: 0.5 };

/**
 * A monotone piecewise-linear function on [tMin, tMax] with `bins` bins (knots spaced evenly in
 * log t: the cross-entropy changes over decades of σ), fitted online to the cross-entropy as a
 * function of t. Knot values F̃_k = offset + Σ_{j<k} softplus(w_j): monotone by construction.
 * Normalised (F̃ - F̃_0)/(F̃_K - F̃_0) it is a CDF F on [tMin, tMax]; F and its inverse are exact
 * piecewise-linear maps (float64, from the knot values).
 */
export class LossCDF extends Module {
  readonly tMin: number;
  readonly tMax: number;
  readonly bins: number;
  /** The knots t_0 = tMin < ... < t_K = tMax. */
  readonly knots: number[];
  w: Parameter;
  offset: Parameter;

  constructor(tMin: number, tMax: number, bins = 100, o: { initialRise?: number } = {}) {
    super();
    if (!(tMin > 0 && tMax > tMin && Number.isFinite(tMax))) throw new RangeError(`LossCDF: need 0 < tMin < tMax, got tMin ${tMin}, tMax ${tMax}`);
    if (!Number.isSafeInteger(bins) || bins < 1) throw new RangeError(`LossCDF: bins must be a positive integer, got ${bins}`);
    this.tMin = tMin;
    this.tMax = tMax;
    this.bins = bins;
    this.knots = Array.from({ length: bins + 1 }, (_, k) => (k === bins ? tMax : tMin * Math.pow(tMax / tMin, k / bins)));
    // equal increments: F starts uniform in log t (log-uniform σ); its total rise starts at initialRise
    const inc = (o.initialRise ?? 8) / bins;
    const w0 = Math.log(Math.expm1(inc));
    this.w = noGrad(() => Parameter.from(torch.full([bins], w0), ['cdf']));
    this.offset = noGrad(() => Parameter.from(torch.zeros([1]), ['cdf']));
  }

  forward(t: Tensor): Tensor {
    return this.evaluate(t);
  }

  /** Unnormalised knot values F̃_0..F̃_K (K + 1), differentiable. */
  knotValues(): Tensor {
    return scope(() => torch.cat([torch.zeros([1]), F.softplus(this.w).cumsum(0)]).add(this.offset));
  }

  /** F̃(t) for t (B,) (differentiable in the parameters): linear interpolation between knots. */
  evaluate(t: Tensor): Tensor {
    return scope(() => {
      const ts = Array.from(t.to('float64').dataSync());
      const idx: number[] = [], lam: number[] = [];
      for (const v of ts) {
        const k = this.binOf(v);
        idx.push(k);
        lam.push((Math.min(Math.max(v, this.tMin), this.tMax) - this.knots[k]) / (this.knots[k + 1] - this.knots[k]));
      }
      const vals = this.knotValues();
      const i = tensor(idx, { dtype: 'int64' });
      const l = tensor(lam);
      const lo = vals.indexSelect(0, i), hi = vals.indexSelect(0, i.add(1));
      return lo.add(hi.sub(lo).mul(l));
    });
  }

  private binOf(t: number): number {
    if (t <= this.tMin) return 0;
    if (t >= this.tMax) return this.bins - 1;
    const k = Math.floor(Math.log(t / this.tMin) / Math.log(this.tMax / this.tMin) * this.bins);
    // guard the rounding at knot boundaries
    let b = Math.min(Math.max(k, 0), this.bins - 1);
    while (b > 0 && t < this.knots[b]) b--;
    while (b < this.bins - 1 && t >= this.knots[b + 1]) b++;
    return b;
  }

  /** The normalised CDF at the knots: 0 = F(t_0) < ... < F(t_K) = 1 (float64). */
  cdfAtKnots(): number[] {
    const v = scope(() => Array.from(this.knotValues().to('float64').dataSync()));
    const lo = v[0], span = v[v.length - 1] - v[0];
    return v.map((x) => (x - lo) / span);
  }

  /** F(t), normalised (float64). */
  cdf(t: number, knotsCdf = this.cdfAtKnots()): number {
    if (t <= this.tMin) return 0;
    if (t >= this.tMax) return 1;
    const k = this.binOf(t);
    const l = (t - this.knots[k]) / (this.knots[k + 1] - this.knots[k]);
    return knotsCdf[k] + l * (knotsCdf[k + 1] - knotsCdf[k]);
  }

  /** F⁻¹(u) for u in [0, 1] (float64): the exact inverse of the piecewise-linear F. */
  inverse(u: number, knotsCdf = this.cdfAtKnots()): number {
    if (!(u >= 0 && u <= 1)) throw new RangeError(`LossCDF.inverse: u must lie in [0, 1], got ${u}`);
    let lo = 0, hi = this.bins; // find k with F_k <= u <= F_{k+1}
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (knotsCdf[mid] <= u) lo = mid; else hi = mid;
    }
    const d = knotsCdf[lo + 1] - knotsCdf[lo];
    const l = d > 0 ? (u - knotsCdf[lo]) / d : 0;
    return this.knots[lo] + l * (this.knots[lo + 1] - this.knots[lo]);
  }

  /** The density F'(t) (normalised) at t (float64). */
  density(t: number, knotsCdf = this.cdfAtKnots()): number {
    const k = this.binOf(t);
    return (knotsCdf[k + 1] - knotsCdf[k]) / (this.knots[k + 1] - this.knots[k]);
  }

  /**
   * Plaid's LossCDF regression: mean over the batch of (F̃(t_i) - ce_i)² / (t_i f(t_i)), where f is
   * the density t_i was drawn from. t·f(t) is that density in log t, so the importance weights make
   * the fit uniform over log t (the spacing of the knots) whatever the sampling distribution; ce is
   * detached.
   */
  fitLoss(t: Tensor, ce: Tensor, density: Tensor): Tensor {
    return scope(() => this.evaluate(t).sub(ce.detach()).square().div(density.mul(t)).mean());
  }
}

/** Low-discrepancy u for a batch: (v + i/B) mod 1 with one uniform v. */
function lowDiscrepancy(B: number, generator: Generator): number[] {
  const v = scope(() => torch.rand([1], { generator }).item());
  return Array.from({ length: B }, (_, i) => (v + i / B) % 1);
}

/**
 * Clean-position masks (B, L) bool for training: a fraction `condFraction` of the sequences get one
 * of a prefix (length uniform in [1, L/2]), random spans (2 spans, each up to L/4), or a fully
 * random mask (each position clean with a rate drawn uniformly in [0, 0.8]); the rest none.
 */
export function conditioningMasks(B: number, L: number, condFraction: number, generator: Generator): Tensor {
  return scope(() => {
    const r = Array.from(torch.rand([B, 6], { generator, dtype: 'float64' }).dataSync());
    const perPos = Array.from(torch.rand([B, L], { generator, dtype: 'float64' }).dataSync());
    const rows: boolean[][] = [];
    for (let b = 0; b < B; b++) {
      const u = r.slice(6 * b, 6 * b + 6);
      const row = new Array<boolean>(L).fill(false);
      if (u[0] < condFraction) {
        const mode = Math.floor(u[1] * 3);
        if (mode === 0) {
          const n = 1 + Math.floor(u[2] * (L / 2));
          for (let j = 0; j < n; j++) row[j] = true;
        } else if (mode === 1) {
          for (const [a, c] of [[u[2], u[3]], [u[4], u[5]]]) {
            const len = 1 + Math.floor(c * (L / 4));
            const start = Math.floor(a * (L - len));
            for (let j = start; j < start + len; j++) row[j] = true;
          }
        } else {
          const rate = 0.8 * u[2];
          for (let j = 0; j < L; j++) row[j] = perPos[b * L + j] < rate;
        }
      }
      rows.push(row);
    }
    return tensor(rows.map((row) => row.map((v) => (v ? 1 : 0))), { dtype: 'int64' }).to('bool');
  });
}

/** The CDCD model: embeddings, the backbone (vectors in, logits out, adaLN on ln σ / 4) and the time-warping CDF. */
export class CDCDNet extends Module {
  readonly opts: CdcdOptions;
  embed: Embedding;
  net: TextTransformer;
  warp: LossCDF;

  constructor(b: BackboneConfig, o: CdcdOptions, generator?: Generator) {
    super();
    this.opts = { ...o };
    this.embed = new Embedding(b.vocabSize, o.embedDim, { generator, W: normal(1) });
    this.net = new TextTransformer({
      vocabSize: b.vocabSize, maxLen: b.seqLen, dim: b.dim, depth: b.depth, heads: b.heads, mlpRatio: b.mlpRatio,
      positions: b.positions, causal: false, adaLN: true, inputDim: 2 * o.embedDim + 1,
    }, generator);
    this.warp = new LossCDF(o.tMin, o.tMax, o.bins);
  }

  /** The normalised embedding table (V, d): each row has L2 norm sqrt(d). */
  embeddings(): Tensor {
    return scope(() => {
      const W = value(this.embed.W);
      return W.div(W.norm(2, [1], true).clampMin(1e-8)).mul(Math.sqrt(this.opts.embedDim)); // (V, d), rows of norm sqrt(d)
    });
  }

  /**
   * Logits (B, L, V) from noisy embeddings x (B, L, d) at σ (B,), the clean embeddings `clean`
   * (B, L, d) at the positions `given` (B, L) bool, and a self-conditioning estimate (B, L, d).
   */
  forward(x: Tensor, sigma: Tensor, given: Tensor, clean: Tensor, selfCond: Tensor): Tensor {
    return scope(() => {
      const cIn = sigma.square().add(1).rsqrt().view([-1, 1, 1]);               // (B, 1, 1) EDM c_in, σ_data = 1
      const g = given.unsqueeze(2);                                                 // (B, L, 1)
      const xIn = torch.where(g, clean, x.mul(cIn));                                // (B, L, d)
      const inp = torch.cat([xIn, selfCond, g.to(x.dtype)], 2);                     // (B, L, 2d + 1)
      return this.net(inp, { noise: sigma.log().div(4) });
    });
  }

  /** Score interpolation: the expected embedding under softmax(logits / temperature), (B, L, d). */
  expectedEmbedding(logits: Tensor, temperature = 1): Tensor {
    return scope(() => logits.div(temperature).softmax(-1).matmul(this.embeddings()));
  }
}

/** Score interpolation as a function (for tests and users): Σ_v softmax(logits)_v e_v. */
export function scoreInterpolation(logits: Tensor, embeddings: Tensor): Tensor {
  return scope(() => logits.softmax(-1).matmul(embeddings));
}

/** Logits (B, L, V) of the clean tokens from noisy embeddings z (B, L, d) at noise levels σ (B,). */
export type NoisyLogits = (z: Tensor, sigma: Tensor) => Tensor;

export interface DiffusionBoundOptions {
  /** Draws of t per window for the diffusion term (default 8). */
  draws?: number;
  /** Draws of z_{t_min} per window for the reconstruction term (default 1). */
  reconDraws?: number;
  /**
   * The noise level t_d in [t_min, t_max] at which the decoder reads the tokens (default t_min): the
   * reverse process runs from t_max down to t_d and the network's prediction at t_d is the decoder.
   * Every choice gives a valid bound (of a slightly different generative model); a t_d above t_min
   * trades a larger reconstruction term for a smaller diffusion term.
   */
  tDecoder?: number;
  generator: Generator;
}

/** The terms of the variational bound per window, in nats (summed over the window's tokens). */
export interface DiffusionBound {
  /** recon + diffusion + prior, one per window: an estimate of an upper bound on -log p(window). */
  total: number[];
  recon: number[];
  diffusion: number[];
  prior: number[];
}

/**
 * A Monte Carlo estimate of the continuous-time variational bound on -log p(w) (VDM, Kingma et al.
 * 2021, eq. 17 for the variance-exploding process; Song et al. 2021, "Maximum likelihood training of
 * score-based diffusion models", Thm. 1) of the generative model that CDCD samples from:
 *
 *   z_{t_max} ~ N(0, t_max² I), the reverse-time SDE from t_max to t_min with the denoiser
 *   ê(z, t) = Σ_v softmax(logits(z, t))_v E_v (score interpolation: score (ê - z)/t²), then the
 *   decoder p(w | z_{t_min}) = Π_i softmax(logits(z_{t_min}, t_min))_{i, w_i}.
 *
 * For the forward process z_t = e + t ε (σ(t) = t, e = E[w]):
 *
 *   -log p(w) ≤ E_ε[-log p(w | e + t_min ε)]                                    (reconstruction)
 *             + ∫_{t_min}^{t_max} (1/t³) E_ε ||e - ê(e + t ε, t)||² dt                (diffusion)
 *             + Σ_i ||e_i||² / (2 t_max²)                                        (prior: KL(N(e, t_max²) || N(0, t_max²)))
 *
 * The diffusion term is ½ ∫ g(t)² E||∇log q_t(z | w) - s(z, t)||² dt with g² = dσ²/dt = 2t and
 * ∇log q - s = (e - ê)/t², i.e. ½ · 2t/t⁴ = 1/t³ (VDM's -½ SNR'(t) with SNR = 1/t²). It is
 * importance-sampled with t drawn from q(t) ∝ 1/t² on [t_min, t_max] (t = 1/(1/t_min - u(1/t_min -
 * 1/t_max)), u uniform; weight (1/t³)/q(t) = (1/t_min - 1/t_max)/t), i.i.d. per window and draw, so
 * the per-window totals are independent estimates whose mean's standard error is their standard
 * deviation / √n. With the exact denoiser of a token distribution π and the Bayes decoder the bound
 * equals -log π(w) up to the two KL terms at t_max (test/text/cdcd_bound.test.ts checks that). With
 * `tDecoder` = t_d the decoder reads z_{t_d} and the integral starts at t_d (t_min above is t_d).
 */
export function diffusionBound(logits: NoisyLogits, E: Tensor, tokens: Tensor, tMin: number, tMax: number, o: DiffusionBoundOptions): DiffusionBound {
  const K = o.draws ?? 8, R = o.reconDraws ?? 1;
  if (!Number.isSafeInteger(K) || K < 1) throw new RangeError(`diffusionBound: draws must be a positive integer, got ${o.draws}`);
  if (!Number.isSafeInteger(R) || R < 1) throw new RangeError(`diffusionBound: reconDraws must be a positive integer, got ${o.reconDraws}`);
  if (!(tMin > 0 && tMax > tMin && Number.isFinite(tMax))) throw new RangeError(`diffusionBound: need 0 < tMin < tMax, got tMin ${tMin}, tMax ${tMax}`);
  const td = o.tDecoder ?? tMin;
  if (!(td >= tMin && td < tMax)) throw new RangeError(`diffusionBound: tDecoder must lie in [tMin, tMax) = [${tMin}, ${tMax}), got ${o.tDecoder}`);
  tMin = td;
  return noGrad(() => scope(() => {
    const [B, L] = tokens.shape;
    const V = E.shape[0];
    const e = F.embedding(tokens, E);                                                  // (B, L, d)
    const col = (x: Tensor) => Array.from(x.to('float64').dataSync());
    const prior = col(e.square().sum([1, 2]).div(2 * tMax * tMax));
    const recon = new Array<number>(B).fill(0), diffusion = new Array<number>(B).fill(0);
    for (let r = 0; r < R; r++) scope(() => {
      const z = e.add(torch.randn(e.shape, { generator: o.generator }).mul(tMin));
      const lg = logits(z, torch.full([B], tMin));
      const ce = F.crossEntropy(lg.reshape([-1, V]), tokens.reshape([-1]), { reduction: 'none' }).view([B, L]).sum(1);
      col(ce).forEach((v, b) => { recon[b] += v / R; });
    });
    const a = 1 / tMin - 1 / tMax;
    for (let k = 0; k < K; k++) scope(() => {
      const u = torch.rand([B], { generator: o.generator, dtype: 'float64' });
      const t = u.mul(-a).add(1 / tMin).reciprocal();                                 // (B,) float64, density ∝ 1/t²
      const t32 = t.to('float32');
      const z = e.add(torch.randn(e.shape, { generator: o.generator }).mul(t32.view([-1, 1, 1])));
      const eHat = logits(z, t32).softmax(-1).matmul(E);                              // (B, L, d)
      const err = e.sub(eHat).square().sum([1, 2]).to('float64');                     // (B,)
      col(err.mul(a).div(t)).forEach((v, b) => { diffusion[b] += v / K; });
    });
    return { total: prior.map((p, b) => p + recon[b] + diffusion[b]), recon, diffusion, prior };
  }));
}

/** The bound of a CDCD network (no given positions, no self-conditioning), per window. */
export function cdcdBound(net: CDCDNet, tokens: Tensor, o: DiffusionBoundOptions): DiffusionBound {
  return noGrad(() => scope(() => {
    const [B, L] = tokens.shape;
    const given = torch.zeros([B, L], { dtype: 'bool' });
    const fn: NoisyLogits = (z, sigma) => net(z, sigma, given, torch.zerosLike(z), torch.zerosLike(z));
    return diffusionBound(fn, net.embeddings(), tokens, net.opts.tMin, net.opts.tMax, o);
  }));
}

export interface CdcdSampleOptions {
  /** (B, L) int64 template: token ids where given, MASK_ID where to generate. */
  template: Tensor;
  steps: number;
  /** Sampler of src/diffusion (default 'euler'); deterministic ones are the probability-flow ODE. */
  sampler?: SamplerName;
  /** Classifier-free guidance scale on the given tokens (1: none). */
  guidance?: number;
  /** Temperature of the predicted distributions inside score interpolation (default 1). */
  temperature?: number;
  /** Steps equally spaced in warped time u = F(t) (default true) or in log t. */
  warped?: boolean;
  generator: Generator;
}

/** The noise levels of a sampling run: steps + 1 levels from t_max down to t_min (equal in u = F(t)), then 0. */
export function cdcdSigmas(cdf: LossCDF, steps: number, warped = true): number[] {
  if (!Number.isSafeInteger(steps) || steps < 1) throw new RangeError(`cdcdSigmas: steps must be a positive integer, got ${steps}`);
  const kc = cdf.cdfAtKnots();
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const u = 1 - i / (steps - 1 || 1);
    out.push(warped ? cdf.inverse(u, kc) : cdf.tMax * Math.pow(cdf.tMin / cdf.tMax, i / (steps - 1 || 1)));
  }
  if (steps === 1) out.splice(1);
  // strictly decreasing (a flat stretch of F would repeat a level)
  for (let i = 1; i < out.length; i++) if (!(out[i] < out[i - 1])) out[i] = out[i - 1] * (1 - 1e-9);
  out.push(0);
  return out;
}

/**
 * Samples tokens with a sampler of src/diffusion on the probability-flow ODE of the score-interpolation
 * denoiser; given tokens are held fixed (their embeddings are the denoiser's output there), and the
 * final state is read out as the nearest embedding. Returns tokens (B, L) and network evaluations.
 */
export function cdcdSample(model: CDCDNet, o: CdcdSampleOptions): { tokens: Tensor; nfe: number } {
  const gamma = o.guidance ?? 1;
  const temp = o.temperature ?? 1;
  if (!Number.isFinite(gamma)) throw new RangeError(`cdcdSample: guidance must be a finite number, got ${gamma}`);
  if (!(temp > 0)) throw new RangeError(`cdcdSample: temperature must be a positive number, got ${temp}`);
  const info = samplerInfo(o.sampler ?? 'euler');
  let nfe = 0;
  return noGrad(() => scope(() => {
    const E = model.embeddings();                                                  // (V, d)
    const tpl = o.template;
    const [B, L] = tpl.shape;
    const given = tpl.ne(MASK_ID);                                                 // (B, L)
    const clean = F.embedding(tpl.clampMin(0), E).mul(given.unsqueeze(2).to('float32')); // (B, L, d)
    const anyGiven = Boolean(given.any().item());
    // self-conditioning: the previous estimate per batch layout (B rows, or 2B with guidance)
    let prev: Tensor | null = null;
    const base: Denoiser = (x, sigma, extra) => scope(() => {
      nfe++;
      const cond = (extra?.cond as Tensor | undefined) ?? given;                   // (B', L) bool
      const n = x.shape[0];
      const cl = n === B ? clean : torch.cat([clean, clean], 0);
      const sc = prev && prev.shape[0] === n ? prev : torch.zerosLike(x);
      const logits = model(x, sigma, cond, cl, sc);
      const d = model.expectedEmbedding(logits, temp);
      if (prev) prev.dispose();
      prev = keep(d.clone());
      return torch.where(cond.unsqueeze(2), cl, d);
    });
    const guided: Denoiser = gamma !== 1 && anyGiven
      ? classifierFreeGuidance(base, { scale: gamma, key: 'cond', cond: given, nullCond: torch.zerosLike(given) })
      : base;
    // given positions are clean: the denoiser returns their embeddings whatever the guidance
    const denoiser: Denoiser = (x, sigma, extra) => scope(() => torch.where(given.unsqueeze(2), clean, guided(x, sigma, extra)));
    const sig = cdcdSigmas(model.warp, o.steps, o.warped ?? true);
    const x0 = torch.randn([B, L, model.opts.embedDim], { generator: o.generator }).mul(sig[0]);
    const xT = info.fn(denoiser, x0, tensor(sig), { generator: o.generator });      // (B, L, d)
    if (prev) (prev as Tensor).dispose();
    // nearest embedding (equal norms: the largest dot product)
    const scores = xT.matmul(E.t());                                               // (B, L, V)
    const special = torch.zeros([E.shape[0]], { dtype: 'bool' });
    special.i(MASK_ID).fill_(true);
    const tokens = scores.maskedFill(special, -Infinity).argmax(-1);               // (B, L), never <mask>
    return { tokens: torch.where(given, tpl, tokens), nfe };
  }));
}

class CDCDModel implements TextLM {
  readonly name = 'cdcd' as const;
  readonly kind = CDCD_KIND;
  readonly module: CDCDNet;
  readonly opts: CdcdOptions;
  /**
   * The CDF's own optimizer. Its gradients are cleared after each of its steps, so the model's
   * optimizer and gradient clipping never see them; its state is saved in training checkpoints
   * (`checkpointObjects`), so a resumed run continues exactly.
   */
  readonly cdfOpt: Adam;
  constructor(readonly config: TextLMConfig, generator?: Generator) {
    this.opts = { ...DEFAULT_CDCD, ...(config.cdcd as Partial<CdcdOptions> | undefined) };
    this.module = new CDCDNet(config.backbone, this.opts, generator);
    this.cdfOpt = new Adam([this.module.warp.w, this.module.warp.offset], { lr: this.opts.cdfLr });
  }

  checkpointObjects() {
    return { cdfOptim: this.cdfOpt };
  }

  /** Training t for a batch and the density each was drawn from. */
  private times(B: number, generator: Generator): { t: number[]; density: number[] } {
    const u = lowDiscrepancy(B, generator);
    const w = this.module.warp;
    if (!this.opts.warp) {
      const span = w.tMax - w.tMin;
      return { t: u.map((v) => w.tMin + v * span), density: u.map(() => 1 / span) };
    }
    const kc = w.cdfAtKnots();
    const t = u.map((v) => w.inverse(v, kc));
    return { t, density: t.map((v) => w.density(v, kc)) };
  }

  loss(windows: Tensor, generator: Generator) {
    return scope(() => {
      const m = this.module;
      const [B, L] = windows.shape;
      const E = m.embeddings();
      const e = F.embedding(windows, E);                                            // (B, L, d)
      const given = conditioningMasks(B, L, this.opts.condFraction, generator);     // (B, L)
      const { t, density } = this.times(B, generator);
      const sigma = tensor(t);                                                      // σ(t) = t, (B,)
      const x = e.add(torch.randn(e.shape, { generator }).mul(sigma.view([-1, 1, 1])));
      // self-conditioning on the first selfCond·B rows: a first pass without gradient
      const nSc = Math.round(this.opts.selfCond * B);
      let sc = torch.zerosLike(e);
      if (nSc > 0) {
        const first = noGrad(() => m.expectedEmbedding(m(x, sigma, given, e, torch.zerosLike(e))));
        const keepRows = torch.arange(B).lt(nSc).view([-1, 1, 1]);
        sc = torch.where(keepRows, first, sc).detach();
      }
      const logits = m(x, sigma, given, e, sc);                      // (B, L, V)
      const V = logits.shape[2];
      const ce = F.crossEntropy(logits.reshape([-1, V]), windows.reshape([-1]), { reduction: 'none' }).view([B, L]);
      const noised = given.logicalNot().to('float32');                              // loss on noised positions only
      const perSeq = ce.mul(noised).sum(1).div(noised.sum(1).clampMin(1));          // (B,)
      const loss = ce.mul(noised).sum().div(noised.sum().clampMin(1));
      // fit the warping CDF to the per-sequence cross-entropy (its own optimizer; ce detached). Its
      // gradients are cleared after its step: the model's optimizer and the gradient clipping of the
      // training loop must not see them (the fit's gradient is ~100x the model's and would scale the
      // model's gradient down through the clipping).
      const fitValue = scope(() => {
        this.cdfOpt.zeroGrad();
        const fit = m.warp.fitLoss(sigma, perSeq.detach(), tensor(density).clampMin(1e-12));
        fit.backward();
        this.cdfOpt.step();
        this.cdfOpt.zeroGrad();
        return fit.item();
      });
      return { loss, cdf_fit: fitValue };
    });
  }

  /** The variational bound of `diffusionBound` (nats summed over the windows' tokens, and per window). */
  nll(windows: Tensor, generator: Generator, o: { draws?: number; tDecoder?: number } = {}) {
    const r = cdcdBound(this.module, windows, { draws: o.draws ?? 8, reconDraws: 1, tDecoder: o.tDecoder, generator });
    return { nll: r.total.reduce((x, y) => x + y, 0), tokens: windows.numel(), bound: true, measure: 'vlb' as const, perWindow: r.total, terms: r };
  }

  sample(o: SampleOptions) {
    const L = this.config.backbone.seqLen;
    const rows = templateRows(o, L, 'cdcd');
    return scope(() => {
      const out = cdcdSample(this.module, { template: tensor(rows, { dtype: 'int64' }), steps: o.steps ?? 64, guidance: o.guidance, generator: o.generator });
      return { tokens: out.tokens.tolist() as number[][], nfe: out.nfe };
    });
  }

  /** The learned CDF and its density for the report. */
  warpPlot(): [number, number][][] {
    const w = this.module.warp;
    const kc = w.cdfAtKnots();
    const fitted = scope(() => Array.from(w.knotValues().dataSync()));
    return [
      w.knots.map((t, k) => [t, kc[k]] as [number, number]),
      w.knots.slice(0, -1).map((t) => [t, w.density(t, kc)] as [number, number]),
      w.knots.map((t, k) => [t, fitted[k]] as [number, number]),
    ];
  }
}

registerTextModel('cdcd', (c, g) => new CDCDModel(c, g));
