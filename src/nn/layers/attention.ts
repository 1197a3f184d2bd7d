// Multi-head scaled dot-product attention (Vaswani et al. 2017), batch-first: (B, T, D).
import { F, Generator, Tensor, functions as torch, scope } from '../../tensor';
import { Module } from '../module';
import { Linear, LinearOptions } from './linear';
import { InitOptions, positiveInt, probability } from './util';

export interface MultiheadAttentionOptions extends InitOptions {
  /** Biases on the four projections (default true). */
  bias?: boolean;
  /** Dropout rate on the attention weights, in train mode. */
  dropout?: number;
  /** Generator of the attention dropout masks. */
  dropoutGenerator?: Generator;
  /** Feature size of the keys/values source for cross-attention (default embedDim). */
  kvDim?: number;
  /** Parameter specs for each projection (`{ q: { W: ... } }`). */
  q?: LinearOptions;
  k?: LinearOptions;
  v?: LinearOptions;
  out?: LinearOptions;
}

export interface AttentionCallOptions {
  /** Keys and values come from here (B, S, kvDim) instead of from x (cross-attention). */
  context?: Tensor;
  /** (B, S) bool, true where a key is padding and must not be attended to (PyTorch's key_padding_mask). */
  keyPaddingMask?: Tensor;
  /** Position t attends to keys at positions <= t only. */
  causal?: boolean;
  /** (T, S) or (B, H, T, S): bool (true = not allowed) or float (added to the scores). */
  attnMask?: Tensor;
}

export class MultiheadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly dropout: number;
  dropoutGenerator: Generator | null;
  q: Linear;
  k: Linear;
  v: Linear;
  out: Linear;

  constructor(embedDim: number, numHeads: number, o: MultiheadAttentionOptions = {}) {
    super();
    this.embedDim = positiveInt(embedDim, 'MultiheadAttention: embedDim');
    this.numHeads = positiveInt(numHeads, 'MultiheadAttention: numHeads');
    if (embedDim % numHeads) throw new TypeError(`MultiheadAttention: embedDim (${embedDim}) must be divisible by numHeads (${numHeads})`);
    this.dropout = probability(o.dropout ?? 0, 'MultiheadAttention: dropout');
    this.dropoutGenerator = o.dropoutGenerator ?? null;
    const kv = o.kvDim ?? embedDim;
    const lin = (spec: LinearOptions | undefined): LinearOptions => ({
      generator: o.generator, dtype: o.dtype, ...(o.bias === false ? { b: null } : {}), ...spec,
    });
    this.q = new Linear(embedDim, embedDim, lin(o.q));
    this.k = new Linear(kv, embedDim, lin(o.k));
    this.v = new Linear(kv, embedDim, lin(o.v));
    this.out = new Linear(embedDim, embedDim, lin(o.out));
  }

  /** (B, T, D) -> (B, T, D). */
  forward(x: Tensor, o: AttentionCallOptions = {}): Tensor {
    return scope(() => this.attend(x, o, false)[0]);
  }

  /** The attention probabilities (B, H, T, S) after masking, before dropout. */
  attentionWeights(x: Tensor, o: AttentionCallOptions = {}): Tensor {
    return scope(() => this.attend(x, o, true)[1]);
  }

  private attend(x: Tensor, o: AttentionCallOptions, weightsOnly: boolean): [Tensor, Tensor] {
    const [B, T] = x.shape;
    const src = o.context ?? x;
    const S = src.shape[1];
    const H = this.numHeads, dh = this.embedDim / H;
    const heads = (t: Tensor, n: number) => t.view([B, n, H, dh]).transpose(1, 2); // (B, n, D) -> (B, H, n, dh)
    const q = heads(this.q(x), T), k = heads(this.k(src), S), v = heads(this.v(src), S);
    let scores = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(dh)); // (B, H, T, S)
    if (o.attnMask) {
      scores = o.attnMask.dtype === 'bool' ? scores.maskedFill(o.attnMask, -Infinity) : scores.add(o.attnMask);
    }
    if (o.causal) {
      const future = torch.ones([T, S], { dtype: 'bool', device: x.device }).triu(1); // j > t
      scores = scores.maskedFill(future, -Infinity);
    }
    if (o.keyPaddingMask) {
      const m = o.keyPaddingMask;
      if (m.dtype !== 'bool' || m.ndim !== 2 || m.shape[0] !== B || m.shape[1] !== S) {
        throw new TypeError(`MultiheadAttention: keyPaddingMask must be a bool tensor of shape [${B}, ${S}], got ${m.dtype}[${m.shape.join(', ')}]`);
      }
      scores = scores.maskedFill(m.view([B, 1, 1, S]), -Infinity);
    }
    const weights = scores.softmax(-1);
    if (weightsOnly) return [weights, weights];
    const dropped = this.training && this.dropout > 0
      ? F.dropout(weights, { p: this.dropout, training: true, generator: this.dropoutGenerator ?? undefined })
      : weights;
    const y = dropped.matmul(v).transpose(1, 2).reshape([B, T, this.embedDim]); // (B, T, H·dh)
    return [this.out(y), weights];
  }
}
