// One pre-norm Transformer backbone for the three language models (issue 11): the same width and
// depth causally for the autoregressive model and bidirectionally for masked diffusion and CDCD.
//
//   input   token ids (B, T) through an Embedding, or vectors (B, T, inputDim) through a Linear (CDCD)
//   blocks  x + gate1·attn(mod1(LN(x))), then x + gate2·mlp(mod2(LN(x)))       (GPT-2 / nanoGPT layout)
//   output  LN, Linear to vocabSize logits                                        (B, T, V)
//
// Positions: rotary (RoFormer, Su et al. 2021; the rotate-half form of GPT-NeoX) on the queries and
// keys, or a learned table added to the input. Optional adaptive LayerNorm on a noise level: the
// adaLN-Zero of DiT (Peebles & Xie 2023), a shift, scale and gate per block branch regressed from
// a sinusoidal embedding of the noise level, zero-initialised so every block starts as the identity.
// The causal model generates with a key/value cache: each step runs only the new positions.
//
// The attention projections are the layer library's MultiheadAttention's (q, k, v, out); its own
// forward has no cache or rotary positions, so the attention itself is computed here.
import { Generator, Tensor, functions as torch, keep, scope } from '../tensor';
import { Module } from '../nn/module';
import { Embedding } from '../nn/layers/embedding';
import { Linear } from '../nn/layers/linear';
import { LayerNorm } from '../nn/layers/norm';
import { MultiheadAttention } from '../nn/layers/attention';
import { GELU, SiLU } from '../nn/layers/activation';
import { Sequential } from '../nn/layers/container';
import { SinusoidalEmbedding } from '../nn/layers/noise_embedding';
import { normal, zeros } from '../nn/init';
import { value } from '../nn/param';

export const POSITIONS = ['rotary', 'learned'] as const;
export type Positions = typeof POSITIONS[number];

export interface TextTransformerConfig {
  /** Output logits per position (and input token ids when `inputDim` is 0). */
  vocabSize: number;
  /** Longest sequence (learned positions; the generation limit). */
  maxLen: number;
  dim: number;
  depth: number;
  heads: number;
  /** MLP hidden size as a multiple of dim. */
  mlpRatio: number;
  positions: Positions;
  causal: boolean;
  /** adaLN-Zero conditioning on a per-sequence noise level. */
  adaLN: boolean;
  /** 0: the input is token ids; > 0: the input is vectors of this size (CDCD). */
  inputDim: number;
}

export function checkTransformerConfig(c: TextTransformerConfig, who = 'TextTransformer'): void {
  const fail = (k: string, v: unknown, what: string) => { throw new RangeError(`${who}: ${k} must be ${what}, got ${JSON.stringify(v)}`); };
  for (const k of ['vocabSize', 'maxLen', 'dim', 'depth', 'heads'] as const) if (!Number.isSafeInteger(c[k]) || c[k] <= 0) fail(k, c[k], 'a positive integer');
  if (c.dim % c.heads) fail('dim', c.dim, `divisible by heads (${c.heads})`);
  if (c.positions === 'rotary' && (c.dim / c.heads) % 2) fail('dim / heads', c.dim / c.heads, 'even for rotary positions');
  if (!(c.mlpRatio > 0)) fail('mlpRatio', c.mlpRatio, 'a positive number');
  if (!(POSITIONS as readonly string[]).includes(c.positions)) fail('positions', c.positions, `one of ${POSITIONS.join(', ')}`);
  if (!Number.isSafeInteger(c.inputDim) || c.inputDim < 0) fail('inputDim', c.inputDim, 'an integer >= 0');
}

/** Keys and values of every layer for the positions seen so far (B, H, S, dh each); dispose() frees them. */
export class KVCache {
  k: (Tensor | null)[];
  v: (Tensor | null)[];
  /** Positions cached. */
  length = 0;
  constructor(depth: number) {
    this.k = new Array(depth).fill(null);
    this.v = new Array(depth).fill(null);
  }
  /** Appends this layer's new keys/values and returns the whole (kept) ones. */
  append(layer: number, k: Tensor, v: Tensor): [Tensor, Tensor] {
    const old = [this.k[layer], this.v[layer]];
    const nk = keep(old[0] ? torch.cat([old[0], k], 2) : k.clone());
    const nv = keep(old[1] ? torch.cat([old[1], v], 2) : v.clone());
    old[0]?.dispose();
    old[1]?.dispose();
    this.k[layer] = nk;
    this.v[layer] = nv;
    return [nk, nv];
  }
  dispose(): void {
    for (const t of [...this.k, ...this.v]) t?.dispose();
    this.k.fill(null);
    this.v.fill(null);
    this.length = 0;
  }
}

const ropeTables = new Map<string, [Tensor, Tensor]>();
/** cos and sin (maxLen, dh) of rotary positions, θ_i = 10000^(-2i/dh), both halves alike (kept, shared). */
function ropeTable(maxLen: number, dh: number): [Tensor, Tensor] {
  const key = `${maxLen}:${dh}`;
  let t = ropeTables.get(key);
  if (!t) {
    t = scope(() => {
      const inv = torch.arange(dh / 2, { dtype: 'float64' }).mul(-2 / dh * Math.log(10000)).exp();   // (dh/2)
      const ang = torch.arange(maxLen, { dtype: 'float64' }).unsqueeze(1).mul(inv.unsqueeze(0));      // (L, dh/2)
      const full = torch.cat([ang, ang], 1);                                                           // (L, dh)
      return [keep(full.cos().to('float32')), keep(full.sin().to('float32'))] as [Tensor, Tensor];
    });
    ropeTables.set(key, t);
  }
  return t;
}

/** Rotates (B, H, T, dh) by the angles of positions start .. start+T-1 (rotate-half form). */
export function applyRotary(x: Tensor, start: number, maxLen: number): Tensor {
  const [, , T, dh] = x.shape;
  const [cos, sin] = ropeTable(maxLen, dh);
  const c = cos.narrow(0, start, T).to(x.dtype), s = sin.narrow(0, start, T).to(x.dtype); // (T, dh)
  const [x1, x2] = x.chunk(2, -1);
  const rotated = torch.cat([x2.neg(), x1], -1);                                            // (B, H, T, dh)
  return x.mul(c).add(rotated.mul(s));
}

export class TextBlock extends Module {
  readonly heads: number;
  ln1: LayerNorm;
  attn: MultiheadAttention;
  ln2: LayerNorm;
  mlp: Sequential;
  /** adaLN-Zero: cond (B, dim) -> shift, scale, gate of both branches (B, 6·dim); null without. */
  mod: Linear | null;

  constructor(dim: number, heads: number, mlpRatio: number, adaLN: boolean, generator?: Generator) {
    super();
    this.heads = heads;
    const init = { generator };
    this.ln1 = new LayerNorm(dim, { affine: !adaLN });
    this.attn = new MultiheadAttention(dim, heads, { ...init, bias: false });
    this.ln2 = new LayerNorm(dim, { affine: !adaLN });
    const hidden = Math.round(dim * mlpRatio);
    this.mlp = new Sequential(new Linear(dim, hidden, init), new GELU(), new Linear(hidden, dim, init));
    this.mod = adaLN ? new Linear(dim, 6 * dim, { W: zeros, b: zeros }) : null;
  }

  /** x (B, T, D) at positions start.. -> (B, T, D). */
  forward(x: Tensor, o: { cond?: Tensor; causal: boolean; rotary: boolean; maxLen: number; cache?: KVCache; layer?: number; start?: number }): Tensor {
    return scope(() => {
      const [B, T, D] = x.shape;
      const H = this.heads, dh = D / H;
      const start = o.start ?? 0;
      let mods: Tensor[] | null = null;
      if (this.mod) {
        if (!o.cond) throw new Error('TextBlock: an adaLN block needs a noise-level condition');
        mods = this.mod(o.cond).unsqueeze(1).chunk(6, -1); // 6 × (B, 1, D)
      }
      const modulate = (h: Tensor, shift?: Tensor, scale?: Tensor) => (shift && scale ? h.mul(scale.add(1)).add(shift) : h);
      const gated = (h: Tensor, gate?: Tensor) => (gate ? h.mul(gate) : h);

      const h = modulate(this.ln1(x), mods?.[0], mods?.[1]);
      const heads = (t: Tensor) => t.view([B, T, H, dh]).transpose(1, 2);       // (B, T, D) -> (B, H, T, dh)
      let q = heads(this.attn.q(h)), k = heads(this.attn.k(h));
      let v = heads(this.attn.v(h));
      if (o.rotary) {
        q = applyRotary(q, start, o.maxLen);
        k = applyRotary(k, start, o.maxLen);
      }
      if (o.cache) [k, v] = o.cache.append(o.layer!, k, v);                     // (B, H, S, dh), S = start + T
      const S = k.shape[2];
      let scores = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(dh));        // (B, H, T, S)
      if (o.causal) {
        // query i (position start+i) sees keys j <= start+i
        const future = torch.ones([T, S], { dtype: 'bool' }).triu(start + 1);
        scores = scores.maskedFill(future, -Infinity);
      }
      const y = scores.softmax(-1).matmul(v).transpose(1, 2).reshape([B, T, D]); // (B, T, D)
      const x1 = x.add(gated(this.attn.out(y), mods?.[2]));
      const h2 = modulate(this.ln2(x1), mods?.[3], mods?.[4]);
      return x1.add(gated(this.mlp(h2), mods?.[5]));
    });
  }
}

export interface TextForwardOptions {
  /** (B,) noise levels for adaLN (as the model's owner defines them, e.g. log σ / 4 or t). */
  noise?: Tensor;
  /** Key/value cache (causal models): the input is the next positions after cache.length. */
  cache?: KVCache;
}

export class TextTransformer extends Module {
  readonly config: TextTransformerConfig;
  tok: Embedding | null;
  inProj: Linear | null;
  pos: Embedding | null;
  noiseEmbed: SinusoidalEmbedding | null;
  noiseMlp: Sequential | null;
  blocks: TextBlock[];
  lnOut: LayerNorm;
  head: Linear;

  constructor(config: TextTransformerConfig, generator?: Generator) {
    super();
    checkTransformerConfig(config);
    this.config = { ...config };
    const c = config;
    const init = { generator };
    this.tok = c.inputDim === 0 ? new Embedding(c.vocabSize, c.dim, { ...init, W: normal(0.02) }) : null;
    this.inProj = c.inputDim > 0 ? new Linear(c.inputDim, c.dim, init) : null;
    this.pos = c.positions === 'learned' ? new Embedding(c.maxLen, c.dim, { ...init, W: normal(0.02) }) : null;
    this.noiseEmbed = c.adaLN ? new SinusoidalEmbedding(c.dim) : null;
    this.noiseMlp = c.adaLN ? new Sequential(new Linear(c.dim, c.dim, init), new SiLU(), new Linear(c.dim, c.dim, init), new SiLU()) : null;
    this.blocks = [];
    for (let i = 0; i < c.depth; i++) this.blocks.push(new TextBlock(c.dim, c.heads, c.mlpRatio, c.adaLN, generator));
    this.lnOut = new LayerNorm(c.dim);
    this.head = new Linear(c.dim, c.vocabSize, init);
  }

  /** Token ids (B, T) int64, or vectors (B, T, inputDim) -> logits (B, T, vocabSize). */
  forward(input: Tensor, o: TextForwardOptions = {}): Tensor {
    return scope(() => this.head(this.features(input, o)));
  }

  /** The final normalised features (B, T, dim), before the output layer. */
  features(input: Tensor, o: TextForwardOptions = {}): Tensor {
    return scope(() => {
      const c = this.config;
      const T = input.shape[1];
      const start = o.cache?.length ?? 0;
      if (o.cache && !c.causal) throw new Error('TextTransformer: a key/value cache needs a causal model');
      if (start + T > c.maxLen) throw new RangeError(`TextTransformer: positions ${start}..${start + T - 1} exceed the model's maximum length ${c.maxLen}`);
      let x: Tensor;
      if (this.tok) {
        if (input.ndim !== 2 || input.dtype !== 'int64') throw new TypeError(`TextTransformer: expected token ids (B, T) int64, got ${input.dtype}[${input.shape.join(', ')}]`);
        x = this.tok(input);                                                        // (B, T, D)
      } else {
        if (input.ndim !== 3 || input.shape[2] !== c.inputDim) throw new TypeError(`TextTransformer: expected vectors (B, T, ${c.inputDim}), got [${input.shape.join(', ')}]`);
        x = this.inProj!(input);
      }
      if (this.pos) x = x.add(positionRows(value(this.pos.W), start, T));      // (B, T, D)
      let cond: Tensor | undefined;
      if (this.noiseEmbed) {
        if (!o.noise) throw new Error('TextTransformer: this model is conditioned on a noise level (adaLN); pass { noise }');
        cond = this.noiseMlp!(this.noiseEmbed(o.noise));                            // (B, D)
      }
      const rotary = c.positions === 'rotary';
      this.blocks.forEach((b, layer) => {
        x = b(x, { cond, causal: c.causal, rotary, maxLen: c.maxLen, cache: o.cache, layer, start });
      });
      if (o.cache) o.cache.length = start + T;
      return this.lnOut(x);
    });
  }

  newCache(): KVCache {
    return new KVCache(this.config.depth);
  }
}

function positionRows(W: Tensor, start: number, T: number): Tensor {
  return W.narrow(0, start, T).unsqueeze(0); // (1, T, D)
}
