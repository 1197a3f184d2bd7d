// Token data for the language models: the shipped Brown tokenizer and the splits as fixed-length
// windows. Each split is one token stream, documents in corpus order, each followed by <eos> (the
// document separator, as GPT-2's <|endoftext|>), cut into non-overlapping windows of `len`
// tokens (the tail shorter than a window is dropped). Every model is trained and evaluated on the
// same windows: the likelihoods of the three models are over exactly the same tokens.
import { Tensor, scope, tensor } from '../tensor';
import { shippedFile } from '../train/shipped';
import { ByteLevelBPE } from './bpe';
import { TextSplit, brownSplit } from './corpus';

/** The tokenizer shipped with the package: trained on the Brown train split, 4096 tokens. */
export const BROWN_TOKENIZER = 'checkpoints/brown-bpe-4k.tokenizer.json';

/** The shipped tokenizer (see BROWN_TOKENIZER). */
export function brownTokenizer(): ByteLevelBPE {
  return ByteLevelBPE.load(shippedFile(BROWN_TOKENIZER));
}

const streams = new Map<string, Int32Array>();

/** The split's token stream: every document's tokens followed by <eos> (cached per tokenizer object). */
export function tokenStream(split: TextSplit, bpe: ByteLevelBPE): Int32Array {
  const key = `${split}:${bpe.vocabSize}:${bpe.merges.length}:${bpe.merges[bpe.merges.length - 1]?.join(' ')}`;
  let s = streams.get(key);
  if (!s) {
    const ids: number[] = [];
    for (const d of brownSplit(split)) {
      for (const id of bpe.encode(d.text)) ids.push(id);
      ids.push(bpe.eos);
    }
    s = Int32Array.from(ids);
    streams.set(key, s);
  }
  return s;
}

/** Non-overlapping windows of `len` tokens of the split: (N, len) int64 (the caller owns it). */
export function tokenWindows(split: TextSplit, bpe: ByteLevelBPE, len: number): Tensor {
  if (!Number.isSafeInteger(len) || len < 2) throw new RangeError(`tokenWindows: len must be an integer >= 2, got ${len}`);
  const s = tokenStream(split, bpe);
  const n = Math.floor(s.length / len);
  return scope(() => tensor(s.slice(0, n * len), { shape: [n, len] }).to('int64'));
}
