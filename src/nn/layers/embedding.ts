// A lookup table of learnable vectors, indexed by integer ids.
import { F, Tensor, noGrad, scope } from '../../tensor';
import { Module } from '../module';
import { ParamLike, ParamSpec, value } from '../param';
import { normal } from '../init';
import { InitOptions, WEIGHT, positiveInt, required } from './util';

export interface EmbeddingOptions extends InitOptions {
  /** [num, dim]. Default N(0, 1), as torch.nn.Embedding. */
  W?: ParamSpec;
  /** This row gets no gradient and starts at zero. */
  paddingIdx?: number;
}

/** (...) int64 ids -> (..., dim). */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  W: ParamLike;

  constructor(numEmbeddings: number, embeddingDim: number, o: EmbeddingOptions = {}) {
    super();
    this.numEmbeddings = positiveInt(numEmbeddings, 'Embedding: numEmbeddings');
    this.embeddingDim = positiveInt(embeddingDim, 'Embedding: embeddingDim');
    let pad = o.paddingIdx ?? null;
    if (pad !== null) {
      if (!Number.isInteger(pad) || pad < -numEmbeddings || pad >= numEmbeddings) throw new RangeError(`Embedding: paddingIdx ${pad} out of range`);
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    this.W = required(o.W, normal(1), [numEmbeddings, embeddingDim], 'Embedding.W', WEIGHT, o);
    // a table we created starts with a zero padding row; one passed in is the caller's
    if (pad !== null && o.W === undefined) noGrad(() => (this.W as Tensor).i(pad!).zero_().dispose());
  }

  forward(indices: Tensor): Tensor {
    return scope(() => F.embedding(indices, value(this.W), { paddingIdx: this.paddingIdx }));
  }
}
