// The autoregressive baseline: the backbone run causally, trained with next-token cross-entropy,
// its exact test perplexity, and generation with a key/value cache through the typicality module's
// decoding strategies (temperature, top-k, nucleus, typical, beam search) and classifier-free
// guidance for language models (Sanchez et al. 2023).
//
// A training window w (B, L) is predicted from [<bos>, w_0 .. w_{L-2}]: every one of its L tokens is
// scored, the first from <bos> alone, so the AR likelihood covers the same tokens as the diffusion
// models' bounds.
import { Generator, Tensor, functions as torch, noGrad, scope, tensor } from '../tensor';
import { F } from '../tensor';
import { LogitsProcessor, beamSearch, cfgLogits, generate } from '../typicality/decoding';
import { KVCache, TextTransformer, TextTransformerConfig } from './transformer';
import { BOS_ID, EOS_ID } from './bpe';

export const AR_KIND = 'text-ar';

/** The model config of the autoregressive model: causal, token input, no noise conditioning. */
export function arModelConfig(c: Omit<TextTransformerConfig, 'causal' | 'adaLN' | 'inputDim'>): TextTransformerConfig {
  return { ...c, causal: true, adaLN: false, inputDim: 0 };
}

/** [<bos>, w_0 .. w_{L-2}]: (B, L) inputs whose outputs predict w (B, L). */
export function arInputs(windows: Tensor, bos: number): Tensor {
  return scope(() => {
    const [B, L] = windows.shape;
    return torch.cat([torch.full([B, 1], bos, { dtype: 'int64' }), windows.narrow(1, 0, L - 1)], 1);
  });
}

/** Mean next-token cross-entropy (nats per token) of windows (B, L). */
export function arLoss(model: TextTransformer, windows: Tensor, bos: number): Tensor {
  return scope(() => {
    const logits = model(arInputs(windows, bos));                                 // (B, L, V)
    const V = logits.shape[2];
    return F.crossEntropy(logits.reshape([-1, V]), windows.reshape([-1]));
  });
}

/** Exact negative log-likelihood (nats, summed) of windows (N, L), in batches; and the token count. */
export function arNll(model: TextTransformer, windows: Tensor, bos: number, batchSize = 32): { nll: number; tokens: number } {
  let nll = 0;
  const N = windows.shape[0];
  noGrad(() => {
    for (let i = 0; i < N; i += batchSize) {
      nll += scope(() => arLoss(model, windows.narrow(0, i, Math.min(batchSize, N - i)), bos).item()) * Math.min(batchSize, N - i) * windows.shape[1];
    }
  });
  return { nll, tokens: N * windows.shape[1] };
}

/**
 * A next-token function over growing histories (B, T) -> logits (B, V) that runs the network only
 * on the positions it has not seen, keeping keys and values in a cache. The histories of successive
 * calls must extend each other (as `generate` calls it). dispose() frees the cache.
 */
export function cachedStep(model: TextTransformer): { step: (tokens: Tensor) => Tensor; dispose: () => void; nfe: () => number } {
  const cache: KVCache = model.newCache();
  let calls = 0;
  return {
    step: (tokens: Tensor) => scope(() => {
      const fed = cache.length;
      const T = tokens.shape[1];
      if (T <= fed) throw new Error(`cachedStep: the history (${T} tokens) must extend the ${fed} already cached`);
      calls++;
      const logits = model(tokens.narrow(1, fed, T - fed), { cache });             // (B, T - fed, V)
      return logits.select(1, T - fed - 1);                                         // (B, V)
    }),
    dispose: () => cache.dispose(),
    nfe: () => calls,
  };
}

/** The same next-token function without a cache (every call runs the whole history). */
export function uncachedStep(model: TextTransformer): (tokens: Tensor) => Tensor {
  return (tokens) => scope(() => model(tokens).select(1, tokens.shape[1] - 1));
}

export interface ARGenerateOptions {
  /** Prompt tokens (after <bos>); [] for unconditional text. */
  prompt: number[];
  /** Tokens to generate after the prompt. */
  length: number;
  batchSize?: number;
  processors?: LogitsProcessor[];
  /** Classifier-free guidance scale γ on the prompt (1: plain conditional; needs a prompt). */
  guidance?: number;
  /** Stop rows at <eos> (default: generate `length` tokens regardless). */
  stopAtEos?: boolean;
  /** Use the key/value cache (default true). */
  cache?: boolean;
  generator: Generator;
}

/**
 * Samples continuations: (B, length) generated token ids (prompt excluded) and the network
 * evaluations spent. With guidance γ ≠ 1 the next-token log-probabilities are
 * log p(x|∅) + γ (log p(x|prompt) - log p(x|∅)) (Sanchez et al. 2023, Eq. 7), the unconditional
 * branch seeing <bos> and the continuation only.
 */
export function arGenerate(model: TextTransformer, o: ARGenerateOptions): { tokens: number[][]; nfe: number } {
  const bos = BOS_ID;
  const B = o.batchSize ?? 1;
  const maxLen = model.config.maxLen;
  if (!Number.isSafeInteger(o.length) || o.length < 1) throw new RangeError(`arGenerate: length must be a positive integer, got ${o.length}`);
  if (1 + o.prompt.length + o.length - 1 > maxLen) {
    throw new RangeError(`arGenerate: the prompt (${o.prompt.length} tokens) plus <bos> and ${o.length} new tokens exceed the model's maximum length ${maxLen} (at most ${maxLen + 1 - 1 - o.prompt.length} new tokens after this prompt)`);
  }
  const gamma = o.guidance ?? 1;
  if (!Number.isFinite(gamma)) throw new RangeError(`arGenerate: guidance must be a finite number, got ${gamma}`);
  if (gamma !== 1 && o.prompt.length === 0) throw new RangeError('arGenerate: guidance needs a prompt (it contrasts the prompted and unprompted model)');
  const P = o.prompt.length;
  const useCache = o.cache ?? true;
  const cond = useCache ? cachedStep(model) : { step: uncachedStep(model), dispose: () => {}, nfe: () => 0 };
  const uncond = gamma !== 1 ? (useCache ? cachedStep(model) : { step: uncachedStep(model), dispose: () => {}, nfe: () => 0 }) : null;
  let evals = 0;
  const stepFn = (tokens: Tensor): Tensor => scope(() => {
    evals++;
    const lc = cond.step(tokens);                                                    // (B, V)
    if (!uncond) return lc;
    evals++;
    // the unprompted history: <bos> then the continuation only
    const cont = tokens.narrow(1, 1 + P, tokens.shape[1] - 1 - P);
    const lu = uncond.step(torch.cat([tokens.narrow(1, 0, 1), cont], 1));
    return cfgLogits(lu, lc, gamma);
  });
  try {
    return noGrad(() => scope(() => {
      const prefix = tensor([[bos, ...o.prompt]], { dtype: 'int64' }).expand([B, 1 + P]).contiguous();
      const out = generate(stepFn, {
        bos: prefix, maxLength: 1 + P + o.length, processors: o.processors, generator: o.generator,
        eos: o.stopAtEos ? EOS_ID : undefined,
      });
      const rows = (out.tokens.tolist() as number[][]).map((r) => r.slice(1 + P));
      return { tokens: rows, nfe: evals };
    }));
  } finally {
    cond.dispose();
    uncond?.dispose();
  }
}

/** Beam search continuations of a prompt (no cache: beams reorder every step): best row of each beam set. */
export function arBeamSearch(model: TextTransformer, o: { prompt: number[]; length: number; beams: number; lengthPenalty?: number }): { tokens: number[]; logProb: number } {
  const P = o.prompt.length;
  if (P + o.length > model.config.maxLen) throw new RangeError(`arBeamSearch: the prompt (${P}) plus ${o.length} new tokens exceed the model's maximum length ${model.config.maxLen}`);
  return noGrad(() => scope(() => {
    const prefix = tensor([[BOS_ID, ...o.prompt]], { dtype: 'int64' });
    const r = beamSearch(uncachedStep(model), { bos: prefix, maxLength: 1 + P + o.length, beams: o.beams, lengthPenalty: o.lengthPenalty });
    return { tokens: (r.tokens.tolist() as number[][])[0].slice(1 + P), logProb: r.scores.item() };
  }));
}

