// A pre-norm transformer block (GPT-2 / nanoGPT layout): x + attn(ln1(x)), then x + mlp(ln2(x)).
import { Generator, Tensor, scope } from '../../tensor';
import { Module } from '../module';
import { GELU } from './activation';
import { AttentionCallOptions, MultiheadAttention } from './attention';
import { Sequential } from './container';
import { Dropout } from './dropout';
import { Linear } from './linear';
import { LayerNorm } from './norm';
import { InitOptions, positiveInt } from './util';

export interface TransformerBlockOptions extends InitOptions {
  /** Hidden size of the MLP as a multiple of dim (default 4). */
  mlpRatio?: number;
  /** Dropout on the attention weights and on both residual branches (default 0). */
  dropout?: number;
  dropoutGenerator?: Generator;
  /** Every call is causal unless the call says otherwise. */
  causal?: boolean;
  eps?: number;
}

export class TransformerBlock extends Module {
  readonly dim: number;
  readonly causal: boolean;
  ln1: LayerNorm;
  attn: MultiheadAttention;
  ln2: LayerNorm;
  mlp: Sequential;
  drop: Dropout;

  constructor(dim: number, numHeads: number, o: TransformerBlockOptions = {}) {
    super();
    this.dim = positiveInt(dim, 'TransformerBlock: dim');
    this.causal = o.causal ?? false;
    const init = { generator: o.generator, dtype: o.dtype };
    const hidden = Math.round(dim * (o.mlpRatio ?? 4));
    this.ln1 = new LayerNorm(dim, { ...init, eps: o.eps });
    this.attn = new MultiheadAttention(dim, numHeads, { ...init, dropout: o.dropout, dropoutGenerator: o.dropoutGenerator });
    this.ln2 = new LayerNorm(dim, { ...init, eps: o.eps });
    this.mlp = new Sequential(new Linear(dim, hidden, init), new GELU(), new Linear(hidden, dim, init));
    this.drop = new Dropout(o.dropout ?? 0, { generator: o.dropoutGenerator });
  }

  /** (B, T, D) -> (B, T, D). */
  forward(x: Tensor, o: AttentionCallOptions = {}): Tensor {
    return scope(() => {
      const h = x.add(this.drop(this.attn(this.ln1(x), { ...o, causal: o.causal ?? this.causal })));
      return h.add(this.drop(this.mlp(this.ln2(h))));
    });
  }
}
