// Decoding strategies for autoregressive models.
//
// Every way of reshaping the next-token distribution is a LogitsProcessor with one signature,
// (logits (B, V), ctx?) => logits (B, V) with -Infinity for removed tokens, built by a factory
// (`temperature(t)`, `topK(k)`, `topP(p)`, `typical(mass)`, `greedy()`) and chained by `compose`.
// `sampleToken` draws from processed logits with an explicit Generator; `generate` runs the
// sampling loop; `beamSearch` approximates the mode. As the typicality post argues, the mode of a
// long sequence distribution is not a typical sample ("too likely": repetitive text, silent audio),
// so beam search is for tasks where MAP decoding is wanted, and `typical` keeps tokens whose
// information content is close to the expected one instead of the most likely ones.
//
// Memory: every function runs its temporaries in a scope; only the returned tensors survive.
import { Tensor, Generator, functions as torch, scope } from '../tensor';

export interface LogitsContext {
  /** index of the token being produced (0 for the first generated token) */
  step?: number;
  /** (B, T) int64 history, prefix included */
  tokens?: Tensor;
}

/** (B, V) float logits -> (B, V) processed logits; removed tokens are -Infinity. */
export type LogitsProcessor = (logits: Tensor, ctx?: LogitsContext) => Tensor;

// Cumulative masses are compared with this slack, so a threshold that sits exactly on a
// cumulative boundary (up to float rounding of softmax) counts as reached.
const MASS_TOLERANCE = 1e-6;

function checkLogits(logits: Tensor, who: string): void {
  if (logits.ndim !== 2) throw new Error(`${who}: logits must be (B, V), got shape [${logits.shape}]`);
}

/**
 * Keep, per row, the tokens of `order` (B, V) (indices, most preferred first) until their
 * cumulative probability reaches `mass`; the first token of the order is always kept.
 * Returns the (B, V) bool mask of removed tokens, in vocabulary order.
 */
function removedOutsideMass(probs: Tensor, order: Tensor, mass: number): Tensor {
  const sorted = probs.gather(-1, order);                         // (B, V) probabilities in preference order
  const before = sorted.cumsum(-1).sub(sorted);                   // (B, V) mass strictly before each token
  const dropSorted = before.ge(mass - MASS_TOLERANCE);            // (B, V) the set already reached `mass`
  dropSorted.i(':', 0).fill_(false);                              // the first token always stays
  return dropSorted.scatter(-1, order, dropSorted);               // back to vocabulary order
}

/** Divide logits by t (t < 1 sharpens, t > 1 flattens). Use greedy() for t -> 0. */
export function temperature(t: number): LogitsProcessor {
  if (!(t > 0) || !Number.isFinite(t)) throw new Error(`temperature: t must be a positive finite number, got ${t} (use greedy() for t -> 0)`);
  return (logits) => {
    checkLogits(logits, 'temperature');
    return logits.div(t);
  };
}

/** Keep exactly the k highest logits per row; ties go to the lower token index. */
export function topK(k: number): LogitsProcessor {
  if (!Number.isInteger(k) || k < 1) throw new Error(`topK: k must be a positive integer, got ${k}`);
  return (logits) => {
    checkLogits(logits, 'topK');
    const V = logits.shape[1];
    if (k >= V) return logits.clone();
    return scope(() => {
      // a stable descending sort keeps equal logits in index order: deterministic ties
      const [, order] = logits.sort({ stable: true, dim: -1, descending: true }); // (B, V)
      const rank = torch.arange(V, { dtype: 'int64' }).expand(logits.shape);     // (B, V)
      const dropSorted = rank.ge(k);
      const removed = dropSorted.scatter(-1, order, dropSorted);
      return logits.maskedFill(removed, -Infinity);
    });
  };
}

/** Keep only the argmax of each row (ties: the lowest index). */
export function greedy(): LogitsProcessor {
  const top1 = topK(1);
  return (logits, ctx) => top1(logits, ctx);
}

/**
 * Nucleus sampling (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration", Sec. 3.1):
 * keep the smallest set of most likely tokens whose cumulative probability is >= p; the top token
 * is always kept.
 */
export function topP(p: number): LogitsProcessor {
  if (!(p > 0 && p <= 1)) throw new Error(`topP: p must be in (0, 1], got ${p}`);
  return (logits) => {
    checkLogits(logits, 'topP');
    if (p >= 1) return logits.clone();
    return scope(() => {
      const probs = logits.softmax(-1, { dtype: 'float64' });                    // (B, V)
      const [, order] = probs.sort({ stable: true, dim: -1, descending: true }); // (B, V) most likely first
      return logits.maskedFill(removedOutsideMass(probs, order, p), -Infinity);
    });
  };
}

/**
 * Locally typical sampling (Meister et al. 2022, "Locally Typical Sampling", Eq. 5-6): rank tokens
 * by |-log p(x) - H| with H = -sum p log p the entropy of the predictive distribution, and keep the
 * smallest set of best-ranked tokens whose cumulative probability is >= mass. The most likely
 * token is removed when its surprisal is far below the entropy (it is "too likely").
 */
export function typical(mass: number): LogitsProcessor {
  if (!(mass > 0 && mass <= 1)) throw new Error(`typical: mass must be in (0, 1], got ${mass}`);
  return (logits) => {
    checkLogits(logits, 'typical');
    return scope(() => {
      const logp = logits.logSoftmax(-1, { dtype: 'float64' });                   // (B, V)
      const probs = logp.exp();                                                   // (B, V)
      // 0 * log 0 = 0 for tokens already removed
      const plogp = torch.where(probs.gt(0), probs.mul(logp), 0);                 // (B, V)
      const H = plogp.sum(-1, { keepdim: true }).neg();                           // (B, 1) entropy, nats
      const surprise = logp.neg().sub(H).abs();                                   // (B, V) |-log p - H|, inf for removed
      const [, order] = surprise.sort({ stable: true, dim: -1 });                 // (B, V) most typical first
      return logits.maskedFill(removedOutsideMass(probs, order, mass), -Infinity);
    });
  };
}

/** Apply processors left to right: compose(a, b)(x) = b(a(x)). Intermediates are freed. */
export function compose(...processors: LogitsProcessor[]): LogitsProcessor {
  return (logits, ctx) => scope(() => {
    let x = logits;
    for (const proc of processors) x = proc(x, ctx);
    return x === logits ? logits.clone() : x;
  });
}

/**
 * Classifier-free guidance on next-token logits (Sanchez et al. 2023, "Stay on topic with
 * Classifier-Free Guidance", Eq. 7; Dieleman 2022, "Guidance: a cheat code", autoregressive section):
 * log p̂(x) = log p(x|∅) + γ (log p(x|c) - log p(x|∅)), on log-softmaxed inputs. γ = 0 is the
 * unconditional model, γ = 1 the conditional one, γ > 1 amplifies the conditioning. Tokens that are
 * impossible under either model (where ∞ - ∞ would appear) come out as -Infinity.
 */
export function cfgLogits(uncond: Tensor, cond: Tensor, gamma: number): Tensor {
  checkLogits(uncond, 'cfgLogits');
  checkLogits(cond, 'cfgLogits');
  if (!Number.isFinite(gamma)) throw new Error(`cfgLogits: gamma must be finite, got ${gamma}`);
  return scope(() => {
    const lu = uncond.logSoftmax(-1);                                             // (B, V) log p(x|∅)
    const lc = cond.logSoftmax(-1);                                               // (B, V) log p(x|c)
    if (gamma === 0) return lu;
    if (gamma === 1) return lc;
    const guided = lu.add(lc.sub(lu).mul(gamma));                                // (B, V)
    return guided.maskedFill(guided.isnan(), -Infinity);
  });
}

/**
 * Draw one token per row from softmax(logits) with an explicit seeded generator: (B, V) -> (B,)
 * int64. Rows with a single finite logit always give that token (greedy).
 */
export function sampleToken(logits: Tensor, opts: { generator: Generator }): Tensor {
  checkLogits(logits, 'sampleToken');
  if (!opts || !(opts.generator instanceof Generator)) throw new Error('sampleToken: an explicit { generator } is required');
  return scope(() => {
    const probs = logits.softmax(-1, { dtype: 'float64' });                     // (B, V)
    if (probs.isnan().any().item()) throw new Error('sampleToken: a row has no finite logit (every token removed)');
    return probs.multinomial(1, { generator: opts.generator }).squeeze(-1);      // (B,)
  });
}

/** A starting prefix: one token id (with batchSize rows) or a (B, T0) int64 tensor. */
function prefixTokens(bos: number | Tensor, batchSize: number | undefined, who: string): Tensor {
  if (typeof bos === 'number') {
    if (!Number.isInteger(bos) || bos < 0) throw new Error(`${who}: bos must be a token id, got ${bos}`);
    return torch.full([batchSize ?? 1, 1], bos, { dtype: 'int64' });
  }
  if (bos.ndim !== 2) throw new Error(`${who}: a bos tensor must be a (B, T0) prefix, got shape [${bos.shape}]`);
  return bos.to('int64');
}

export interface GenerateOptions {
  processors?: LogitsProcessor[];
  /** total length of the returned sequences, prefix included */
  maxLength: number;
  /** a start token id, or a (B, T0) int64 prefix */
  bos: number | Tensor;
  /** rows when bos is a number (default 1) */
  batchSize?: number;
  /** rows stop at eos; later positions are filled with eos */
  eos?: number;
  generator: Generator;
}

/**
 * Ancestral sampling: stepFn maps the (B, T) history to next-token logits (B, V), the processors
 * reshape them (ctx.step counts generated tokens), sampleToken draws. Stops at maxLength or when
 * every row has emitted eos. Returns tokens (B, T) and each row's length (through its eos).
 */
export function generate(stepFn: (tokens: Tensor) => Tensor, opts: GenerateOptions): { tokens: Tensor; lengths: number[] } {
  const { maxLength, eos, generator } = opts;
  const process = compose(...(opts.processors ?? []));
  let tokens = scope(() => prefixTokens(opts.bos, opts.batchSize, 'generate').clone()); // (B, T0), ours to free
  const B = tokens.shape[0];
  const T0 = tokens.shape[1];
  if (!(maxLength >= T0)) throw new Error(`generate: maxLength ${maxLength} is shorter than the prefix (${T0})`);
  let finished = torch.zeros([B], { dtype: 'bool' });
  for (let step = 0; tokens.shape[1] < maxLength; step++) {
    const [nextTokens, nextFinished] = scope(() => {
      const logits = process(stepFn(tokens), { step, tokens });                 // (B, V)
      let tok = sampleToken(logits, { generator });                             // (B,)
      if (eos !== undefined) tok = torch.where(finished, eos, tok);             // finished rows pad with eos
      const grown = torch.cat([tokens, tok.unsqueeze(1)], 1);                   // (B, T+1)
      const fin = eos === undefined ? finished.clone() : finished.logicalOr(tok.eq(eos));
      return [grown, fin];
    });
    tokens.dispose();
    finished.dispose();
    tokens = nextTokens;
    finished = nextFinished;
    if (eos !== undefined && scope(() => finished.all().item())) break;
  }
  finished.dispose();
  const T = tokens.shape[1];
  if (T < maxLength) {
    const padded = scope(() => torch.cat([tokens, torch.full([B, maxLength - T], eos!, { dtype: 'int64' })], 1));
    tokens.dispose();
    tokens = padded;
  }
  // a row's length runs through its first generated eos
  const rows = tokens.tolist() as number[][];
  const lengths = rows.map((r) => {
    const at = eos === undefined ? -1 : r.indexOf(eos, T0);
    return at < 0 ? maxLength : at + 1;
  });
  return { tokens, lengths };
}

export interface BeamSearchOptions {
  beams: number;
  /** total length of the returned sequences, prefix included */
  maxLength: number;
  /** a start token id, or a (B, T0) int64 prefix */
  bos: number | Tensor;
  /** rows when bos is a number (default 1) */
  batchSize?: number;
  /** a beam that emits eos is finished: its score is frozen and it is padded with eos */
  eos?: number;
  /** rank by score / (generated length)^lengthPenalty (Wu et al. 2016 use a smoothed length); 0: raw log-probability */
  lengthPenalty?: number;
}

export interface BeamSearchResult {
  /** (B, maxLength) int64 best sequence per row (eos-padded after a finish) */
  tokens: Tensor;
  /** (B,) float64 log-probability of the best sequence */
  scores: Tensor;
  /** (B, beams, maxLength) int64 every final beam, best first */
  beamTokens: Tensor;
  /** (B, beams) float64 log-probabilities of the final beams, best first */
  beamScores: Tensor;
}

/**
 * Batched beam search for approximate MAP decoding. stepFn maps the (B·beams, T) histories to
 * next-token log-probabilities (B·beams, V) (they are log-softmaxed again, which is the identity on
 * normalised inputs). Finished beams stay in the beam with a frozen score and only extend with eos,
 * so with lengthPenalty 0 a finished hypothesis is only displaced by a strictly better one. Each
 * step keeps the `beams` best of the beams·V candidates (ties: lower beam, then lower token).
 */
export function beamSearch(stepFn: (tokens: Tensor) => Tensor, opts: BeamSearchOptions): BeamSearchResult {
  const K = opts.beams;
  const { maxLength, eos } = opts;
  const alpha = opts.lengthPenalty ?? 0;
  if (!Number.isInteger(K) || K < 1) throw new Error(`beamSearch: beams must be a positive integer, got ${K}`);
  let state = scope(() => {
    const prefix = prefixTokens(opts.bos, opts.batchSize, 'beamSearch');        // (B, T0)
    const B = prefix.shape[0];
    if (!(maxLength >= prefix.shape[1])) throw new Error(`beamSearch: maxLength ${maxLength} is shorter than the prefix (${prefix.shape[1]})`);
    const tokens = prefix.repeatInterleave(K, 0);                                 // (B·K, T0) beams of a row are adjacent
    // only the first beam is live at the start, so the first step does not pick duplicates
    const first = torch.full([B, K], -Infinity, { dtype: 'float64' });
    first.i(':', 0).fill_(0);
    const scores = first.reshape([B * K]);                                        // (B·K,) summed log-probabilities
    const lengths = torch.zeros([B * K], { dtype: 'float64' });                   // (B·K,) generated tokens
    const finished = torch.zeros([B * K], { dtype: 'bool' });                     // (B·K,)
    return { tokens, scores, lengths, finished, B };
  });
  const B = state.B;
  const rank = (scores: Tensor, lengths: Tensor): Tensor =>
    alpha === 0 ? scores.clone() : scores.div(lengths.clampMin(1).pow(alpha));
  while (state.tokens.shape[1] < maxLength && !scope(() => state.finished.all().item())) {
    const next = scope(() => {
      const { tokens, scores, lengths, finished } = state;
      let logp = stepFn(tokens).logSoftmax(-1, { dtype: 'float64' });           // (B·K, V)
      const V = logp.shape[1];
      if (eos !== undefined) {
        // a finished beam continues only with eos, at no cost
        const eosOnly = torch.full([V], -Infinity, { dtype: 'float64' });
        eosOnly.i(eos).fill_(0);
        logp = torch.where(finished.unsqueeze(1), eosOnly, logp);
      }
      const cand = scores.unsqueeze(1).add(logp);                                 // (B·K, V)
      const candLen = lengths.add(finished.logicalNot().to('float64')).unsqueeze(1).expand([B * K, V]); // (B·K, V)
      const key = rank(cand, candLen).reshape([B, K * V]);                        // (B, K·V)
      const [, order] = key.sort({ stable: true, dim: -1, descending: true });    // (B, K·V)
      const pick = order.narrow(1, 0, K);                                         // (B, K) flat candidate index
      const beam = pick.div(V, { roundingMode: 'floor' });                        // (B, K) parent beam
      const tok = pick.remainder(V);                                              // (B, K) token
      const rows = beam.add(torch.arange(B, { dtype: 'int64' }).unsqueeze(1).mul(K)).reshape([B * K]); // (B·K,) parent rows
      const newTokens = torch.cat([tokens.indexSelect(0, rows), tok.reshape([B * K, 1])], 1); // (B·K, T+1)
      const newScores = cand.reshape([B, K * V]).gather(1, pick).reshape([B * K]);
      const newLengths = candLen.reshape([B, K * V]).gather(1, pick).reshape([B * K]);
      let newFinished = finished.indexSelect(0, rows);
      if (eos !== undefined) newFinished = newFinished.logicalOr(tok.reshape([B * K]).eq(eos));
      return { tokens: newTokens, scores: newScores, lengths: newLengths, finished: newFinished, B };
    });
    state.tokens.dispose(); state.scores.dispose(); state.lengths.dispose(); state.finished.dispose();
    state = next;
  }
  const result = scope(() => {
    let { tokens } = state;
    const T = tokens.shape[1];
    if (T < maxLength) {
      if (eos === undefined) throw new Error('beamSearch: internal error, stopped early without eos');
      tokens = torch.cat([tokens, torch.full([B * K, maxLength - T], eos, { dtype: 'int64' })], 1);
    }
    const key = rank(state.scores, state.lengths).reshape([B, K]);               // (B, K)
    const [, order] = key.sort({ stable: true, dim: -1, descending: true });     // (B, K) best first
    const beamScores = state.scores.reshape([B, K]).gather(1, order);            // (B, K)
    const beamTokens = tokens.reshape([B, K, maxLength])
      .gather(1, order.unsqueeze(2).expand([B, K, maxLength]));                  // (B, K, maxLength)
    return {
      tokens: beamTokens.i(':', 0).contiguous(),
      scores: beamScores.i(':', 0).contiguous(),
      beamTokens,
      beamScores,
    };
  });
  state.tokens.dispose(); state.scores.dispose(); state.lengths.dispose(); state.finished.dispose();
  return result;
}
