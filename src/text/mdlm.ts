// Masked (absorbing-state) diffusion as MDLM (Sahoo et al. 2024, "Simple and Effective Masked
// Diffusion Language Models"): each token is replaced by <mask> independently with probability
// 1 - α_t, the bidirectional backbone predicts the clean tokens (SUBS parameterisation: never the
// mask; unmasked tokens are carried over), trained on the continuous-time ELBO.
//
// Schedule: log-linear, α_t = 1 - t (MDLM's σ(t) = -log(1 - t)), t ∈ [0, 1].
// Continuous-time NELBO (MDLM Eq. 10-11): with α'_t / (1 - α_t) = -1/t,
//   L(x) = E_{t ~ U(0,1)} E_{z_t} [ (1/t) Σ_{l: z_t^l = m} -log p_θ(x^l | z_t) ],
// an upper bound on -log p(x); per token it bounds the perplexity from above.
// Sampling: ancestral steps t -> s (MDLM Eq. 7): a masked token is revealed with probability
// (α_s - α_t)/(1 - α_t) = (t - s)/t, drawn from p_θ; revealed tokens never change. The network is
// not conditioned on t, so when a step reveals nothing its output is reused (MDLM's cache).
import { Generator, Tensor, functions as torch, noGrad, scope, tensor } from '../tensor';
import { MASK_ID } from './bpe';
import { BackboneConfig, SampleOptions, TextLM, TextLMConfig, registerTextModel } from './lm';
import { TextTransformer, TextTransformerConfig } from './transformer';

export const MDLM_KIND = 'text-mdlm';

/** Smallest t drawn in training and evaluation (MDLM's sampling_eps): keeps the 1/t weight finite. */
export const MDLM_T_MIN = 1e-3;

export function mdlmBackbone(b: BackboneConfig): TextTransformerConfig {
  return { vocabSize: b.vocabSize, maxLen: b.seqLen, dim: b.dim, depth: b.depth, heads: b.heads, mlpRatio: b.mlpRatio, positions: b.positions, causal: false, adaLN: false, inputDim: 0 };
}

/** SUBS log-probabilities (B, L, V) from logits: the mask token gets probability 0. */
export function subsLogProbs(logits: Tensor): Tensor {
  return scope(() => {
    const V = logits.shape[2];
    const isMask = torch.zeros([V], { dtype: 'bool' });
    isMask.i(MASK_ID).fill_(true);
    return logits.maskedFill(isMask, -Infinity).logSoftmax(-1);
  });
}

/** z_t: each token of x (B, L) masked with probability t (B,) (α_t = 1 - t). */
export function mdlmCorrupt(x: Tensor, t: Tensor, generator: Generator): Tensor {
  return scope(() => {
    const u = torch.rand(x.shape, { generator });                                   // (B, L)
    return x.maskedFill(u.lt(t.unsqueeze(1)), MASK_ID);
  });
}

/** Per-sequence NELBO integrand (1/t) Σ_{masked} -log p_θ(x^l | z_t): (B,) from log-probs (B, L, V). */
export function mdlmIntegrand(logp: Tensor, x: Tensor, z: Tensor, t: Tensor): Tensor {
  return scope(() => {
    const nll = logp.gather(2, x.unsqueeze(2)).squeeze(2).neg();                   // (B, L)
    const masked = z.eq(MASK_ID).to(nll.dtype);
    return nll.mul(masked).sum(1).div(t);                                           // (B,)
  });
}

/** Antithetic (low-discrepancy) times for a batch: t_i = t_min + (1 - t_min)·((u + i/B) mod 1). */
export function stratifiedTimes(B: number, generator: Generator, tMin = 0): Tensor {
  return scope(() => {
    const u = torch.rand([1], { generator });
    const grid = torch.arange(B, { dtype: 'float32' }).div(B).add(u).remainder(1);
    return grid.mul(1 - tMin).add(tMin);
  });
}

/** One Monte Carlo estimate of the NELBO of each sequence of x (B, L): (B,) nats. */
export function mdlmNelbo(net: (z: Tensor) => Tensor, x: Tensor, generator: Generator): Tensor {
  return scope(() => {
    const t = stratifiedTimes(x.shape[0], generator, MDLM_T_MIN);
    const z = mdlmCorrupt(x, t, generator);
    return mdlmIntegrand(subsLogProbs(net(z)), x, z, t);
  });
}

export interface MdlmSampleOptions {
  /** (B, L) template: token ids, with MASK_ID where a token is to be generated. Given tokens never change. */
  template: Tensor;
  steps: number;
  generator: Generator;
  /** Reuse the network output when a step revealed nothing (default true). */
  cache?: boolean;
}

/**
 * Ancestral sampling from t = 1 to 0 in `steps` equal steps; returns the tokens (B, L) and the
 * network evaluations. Positions given in the template are never changed.
 */
export function mdlmSample(net: (z: Tensor) => Tensor, o: MdlmSampleOptions): { tokens: Tensor; nfe: number } {
  if (!Number.isSafeInteger(o.steps) || o.steps < 1) throw new RangeError(`mdlmSample: steps must be a positive integer, got ${o.steps}`);
  const useCache = o.cache ?? true;
  let nfe = 0;
  return noGrad(() => scope(() => {
    let z = o.template.clone();                                                     // (B, L)
    let probs: Tensor | null = null;
    for (let i = 0; i < o.steps; i++) {
      const t = 1 - i / o.steps, s = 1 - (i + 1) / o.steps;
      if (!probs || !useCache) {
        probs = subsLogProbs(net(z)).exp();                                         // (B, L, V)
        nfe++;
      }
      const [B, L, V] = probs.shape;
      const masked = z.eq(MASK_ID);
      // reveal each masked token with probability (t - s)/t (all of them at s = 0)
      const reveal = torch.rand([B, L], { generator: o.generator }).lt((t - s) / t).logicalAnd(masked);
      const draw = probs.reshape([B * L, V]).multinomial(1, { generator: o.generator }).reshape([B, L]);
      const next = torch.where(reveal, draw, z);
      const changed = Boolean(reveal.any().item());
      z = next;
      if (changed) probs = null;
    }
    return { tokens: z, nfe };
  }));
}

class MDLMModel implements TextLM {
  readonly name = 'mdlm' as const;
  readonly kind = MDLM_KIND;
  readonly module: TextTransformer;
  constructor(readonly config: TextLMConfig, generator?: Generator) {
    this.module = new TextTransformer(mdlmBackbone(config.backbone), generator);
  }
  private net = (z: Tensor) => this.module(z);
  loss(windows: Tensor, generator: Generator) {
    return scope(() => {
      const nelbo = mdlmNelbo(this.net, windows, generator);                        // (B,)
      return { loss: nelbo.mean().div(windows.shape[1]) };                          // nats per token
    });
  }
  /** The NELBO (`draws` Monte Carlo estimates per window, averaged; stratified t across the batch within each draw). */
  nll(windows: Tensor, generator: Generator, o: { draws?: number } = {}) {
    const K = o.draws ?? 1;
    if (!Number.isSafeInteger(K) || K < 1) throw new RangeError(`nll: draws must be a positive integer, got ${o.draws}`);
    const perWindow = new Array<number>(windows.shape[0]).fill(0);
    for (let k = 0; k < K; k++) {
      const d = noGrad(() => scope(() => Array.from(mdlmNelbo(this.net, windows, generator).to('float64').dataSync())));
      d.forEach((v, b) => { perWindow[b] += v / K; });
    }
    return { nll: perWindow.reduce((a, b) => a + b, 0), tokens: windows.numel(), bound: true, measure: 'elbo' as const, perWindow };
  }

  sample(o: SampleOptions) {
    const L = this.config.backbone.seqLen;
    const rows = templateRows(o, L, 'mdlm');
    const r = scope(() => {
      const out = mdlmSample(this.net, { template: tensor(rows, { dtype: 'int64' }), steps: o.steps ?? 64, generator: o.generator });
      return { tokens: out.tokens.tolist() as number[][], nfe: out.nfe };
    });
    return r;
  }
}

/** The (B, L) template of a sample call: an infilling template, or a prompt followed by masks. */
export function templateRows(o: SampleOptions, L: number, who: string): number[][] {
  if (o.templates) {
    if (o.templates.length !== o.batchSize) throw new RangeError(`${who}: ${o.templates.length} templates for batchSize ${o.batchSize}`);
    return o.templates.map((t) => templateRows({ ...o, templates: undefined, template: t, batchSize: 1 }, L, who)[0]);
  }
  let row: number[];
  if (o.template) {
    if (o.template.length > L) throw new RangeError(`${who}: the template has ${o.template.length} tokens, more than the model's maximum length ${L}`);
    row = o.template.map((v) => (v === null ? MASK_ID : v));
    while (row.length < L) row.push(MASK_ID);
  } else {
    if (o.prompt.length >= L) throw new RangeError(`${who}: the prompt has ${o.prompt.length} tokens; the model's maximum length is ${L}, leaving no room to generate`);
    row = [...o.prompt, ...new Array<number>(L - o.prompt.length).fill(MASK_ID)];
  }
  if (!Number.isSafeInteger(o.batchSize) || o.batchSize < 1) throw new RangeError(`${who}: batchSize must be a positive integer, got ${o.batchSize}`);
  return Array.from({ length: o.batchSize }, () => row.slice());
}

/**
 * Semi-autoregressive generation of `length` tokens (SSD-LM, Han et al. 2023; MDLM §4.2): a first
 * window, then each next window keeps the last `overlap` tokens as its given prefix.
 */
export function mdlmGenerateLong(net: (z: Tensor) => Tensor, o: { length: number; seqLen: number; overlap?: number; steps: number; batchSize: number; prompt?: number[]; generator: Generator }): { tokens: number[][]; nfe: number } {
  const L = o.seqLen, overlap = o.overlap ?? Math.floor(L / 2);
  if (!(overlap >= 0 && overlap < L)) throw new RangeError(`mdlmGenerateLong: overlap must be in [0, ${L - 1}], got ${overlap}`);
  const out: number[][] = Array.from({ length: o.batchSize }, () => [...(o.prompt ?? [])]);
  let nfe = 0;
  while (out[0].length < o.length) {
    const ctx = out.map((r) => r.slice(Math.max(0, r.length - overlap)));
    const rows = ctx.map((c) => [...c, ...new Array<number>(L - c.length).fill(MASK_ID)]);
    const r = scope(() => {
      const s = mdlmSample(net, { template: tensor(rows, { dtype: 'int64' }), steps: o.steps, generator: o.generator });
      return { tokens: s.tokens.tolist() as number[][], nfe: s.nfe };
    });
    nfe += r.nfe;
    r.tokens.forEach((row, b) => out[b].push(...row.slice(ctx[b].length)));
  }
  return { tokens: out.map((r) => r.slice(0, o.length)), nfe };
}

registerTextModel('mdlm', (c, g) => new MDLMModel(c, g));

