// Byte-level BPE (Sennrich et al. 2016; the byte-level variant of GPT-2, Radford et al. 2019),
// trained, saved and loaded in the JSON format of Hugging Face `tokenizers` (tokenizer.json:
// model BPE, pre-tokenizer and decoder ByteLevel without a prefix space), so that
// `tokenizers.Tokenizer.from_file("tokenizer.json")` in Python encodes exactly as this does.
//
// Text -> UTF-8 bytes, split first by GPT-2's pre-tokenisation pattern (contractions, runs of letters,
// of digits, of other symbols, each with at most one leading space; whitespace runs), each byte
// written as one printable character (GPT-2's byte-to-unicode table), then merged. Any string
// round-trips exactly: every byte is in the base vocabulary.
//
// Training follows the Hugging Face BPE trainer: ids are the special tokens first, then the 256
// byte characters in code-point order, then one id per merge in order. Each merge takes the most
// frequent adjacent pair over the pre-tokenised words (weighted by word count); ties go to the
// pair with the smaller (left id, right id), as the trainer's heap orders them.
import * as fs from 'fs';
import { writeFileAtomic } from '../tensor';

/** GPT-2's pre-tokenisation pattern (the one of `tokenizers`' ByteLevel pre-tokenizer). */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** The default special tokens, in id order: padding, mask (absorbing state), beginning and end of document. */
export const DEFAULT_SPECIALS = ['<pad>', '<mask>', '<bos>', '<eos>'] as const;
/** Their ids in every tokenizer trained with the default specials (the models rely on them). */
export const PAD_ID = 0, MASK_ID = 1, BOS_ID = 2, EOS_ID = 3;

/** GPT-2's table: byte b -> a printable character (printable Latin-1 bytes map to themselves). */
function byteTable(): { toChar: string[]; toByte: Map<string, number> } {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const toChar: string[] = new Array(256);
  for (const b of keep) toChar[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (toChar[b] === undefined) toChar[b] = String.fromCharCode(256 + n++);
  const toByte = new Map<string, number>();
  toChar.forEach((c, b) => toByte.set(c, b));
  return { toChar, toByte };
}
const BYTES = byteTable();

/** Pre-tokenised pieces of `text`, each in byte-character form. */
export function pretokenize(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(GPT2_PATTERN)) {
    let s = '';
    for (const b of Buffer.from(m[0], 'utf8')) s += BYTES.toChar[b];
    out.push(s);
  }
  return out;
}

export interface BpeTrainOptions {
  /** Final vocabulary size, special tokens and the 256 bytes included (default 4096). */
  vocabSize?: number;
  /** Special tokens, given the first ids (default <pad>, <mask>, <bos>, <eos>). */
  specials?: readonly string[];
  /** Pairs seen fewer times than this are never merged (default 2). */
  minFrequency?: number;
}

export class ByteLevelBPE {
  /** Token string (byte-character form, or a special token) by id. */
  readonly tokens: string[];
  /** Merges in order: [left, right] token strings. */
  readonly merges: [string, string][];
  readonly specials: string[];
  private readonly ids = new Map<string, number>();
  private readonly rank = new Map<number, number>(); // pair key -> merge index
  private readonly mergedId = new Map<number, number>(); // pair key -> id of the merged token
  private readonly pieceCache = new Map<string, number[]>();

  constructor(tokens: string[], merges: [string, string][], specials: string[]) {
    this.tokens = tokens;
    this.merges = merges;
    this.specials = specials;
    tokens.forEach((t, i) => {
      if (this.ids.has(t)) throw new Error(`ByteLevelBPE: token ${JSON.stringify(t)} appears twice in the vocabulary`);
      this.ids.set(t, i);
    });
    for (const c of BYTES.toChar) if (!this.ids.has(c)) throw new Error(`ByteLevelBPE: the vocabulary lacks the byte token ${JSON.stringify(c)}`);
    for (const s of specials) if (!this.ids.has(s)) throw new Error(`ByteLevelBPE: the vocabulary lacks the special token ${JSON.stringify(s)}`);
    merges.forEach(([a, b], r) => {
      const ia = this.ids.get(a), ib = this.ids.get(b), im = this.ids.get(a + b);
      if (ia === undefined || ib === undefined || im === undefined) throw new Error(`ByteLevelBPE: merge ${r} "${a} ${b}" uses or makes a token not in the vocabulary`);
      this.rank.set(pairKey(ia, ib), r);
      this.mergedId.set(pairKey(ia, ib), im);
    });
  }

  get vocabSize(): number {
    return this.tokens.length;
  }

  /** Id of a token string (special tokens by their text, e.g. '<eos>'); throws when absent. */
  id(token: string): number {
    const i = this.ids.get(token);
    if (i === undefined) throw new Error(`ByteLevelBPE: no token ${JSON.stringify(token)} in the vocabulary`);
    return i;
  }

  get pad(): number { return this.id(this.specials[0]); }
  get mask(): number { return this.id(this.specials[1]); }
  get bos(): number { return this.id(this.specials[2]); }
  get eos(): number { return this.id(this.specials[3]); }

  /** Trains on `texts` (see the file comment for the exact rule). */
  static train(texts: Iterable<string>, o: BpeTrainOptions = {}): ByteLevelBPE {
    const specials = [...(o.specials ?? DEFAULT_SPECIALS)];
    const vocabSize = o.vocabSize ?? 4096;
    const minFrequency = o.minFrequency ?? 2;
    if (new Set(specials).size !== specials.length || specials.length < 4) throw new RangeError(`ByteLevelBPE.train: specials must be at least 4 distinct tokens (pad, mask, bos, eos), got ${JSON.stringify(specials)}`);
    if (!Number.isSafeInteger(vocabSize) || vocabSize < specials.length + 256) throw new RangeError(`ByteLevelBPE.train: vocabSize must be an integer >= ${specials.length + 256} (specials and the 256 bytes), got ${vocabSize}`);
    if (!Number.isSafeInteger(minFrequency) || minFrequency < 1) throw new RangeError(`ByteLevelBPE.train: minFrequency must be a positive integer, got ${minFrequency}`);
    const tokens = [...specials, ...[...BYTES.toChar].sort()];
    const idOf = new Map(tokens.map((t, i) => [t, i]));
    // word types with counts, each as a list of token ids
    const counts = new Map<string, number>();
    for (const text of texts) for (const p of pretokenize(text)) counts.set(p, (counts.get(p) ?? 0) + 1);
    const words: number[][] = [];
    const freq: number[] = [];
    for (const [w, c] of counts) {
      words.push([...w].map((ch) => idOf.get(ch)!));
      freq.push(c);
    }
    const pairCount = new Map<number, number>();
    const where = new Map<number, Set<number>>();
    const addWord = (wi: number, sign: number) => {
      const w = words[wi];
      for (let j = 0; j + 1 < w.length; j++) {
        const k = pairKey(w[j], w[j + 1]);
        pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freq[wi]);
        if (sign > 0) {
          let s = where.get(k);
          if (!s) where.set(k, (s = new Set()));
          s.add(wi);
        }
      }
    };
    for (let wi = 0; wi < words.length; wi++) addWord(wi, 1);
    const merges: [string, string][] = [];
    while (tokens.length < vocabSize) {
      let best = -1, bestCount = 0;
      for (const [k, c] of pairCount) {
        // the most frequent pair; ties: the smaller (left, right), i.e. the smaller key
        if (c > bestCount || (c === bestCount && c > 0 && k < best)) { best = k; bestCount = c; }
      }
      if (best < 0 || bestCount < minFrequency) break;
      const a = Math.floor(best / PAIR_BASE), b = best % PAIR_BASE;
      const merged = tokens.length;
      tokens.push(tokens[a] + tokens[b]);
      merges.push([tokens[a], tokens[b]]);
      for (const wi of where.get(best)!) {
        const w = words[wi];
        let has = false;
        for (let j = 0; j + 1 < w.length; j++) if (w[j] === a && w[j + 1] === b) { has = true; break; }
        if (!has) continue;
        addWord(wi, -1);
        const out: number[] = [];
        for (let j = 0; j < w.length; j++) {
          if (j + 1 < w.length && w[j] === a && w[j + 1] === b) { out.push(merged); j++; } else out.push(w[j]);
        }
        words[wi] = out;
        addWord(wi, 1);
      }
      where.delete(best);
      for (const [k, c] of pairCount) if (c === 0) pairCount.delete(k);
    }
    return new ByteLevelBPE(tokens, merges, specials);
  }

  /** Token ids of one pre-tokenised piece (byte-character form), lowest-rank merge first. */
  private encodePiece(piece: string): number[] {
    const hit = this.pieceCache.get(piece);
    if (hit) return hit;
    const ids = [...piece].map((ch) => this.ids.get(ch)!);
    for (;;) {
      let bestRank = Infinity, at = -1;
      for (let j = 0; j + 1 < ids.length; j++) {
        const r = this.rank.get(pairKey(ids[j], ids[j + 1]));
        if (r !== undefined && r < bestRank) { bestRank = r; at = j; }
      }
      if (at < 0) break;
      const k = pairKey(ids[at], ids[at + 1]);
      const m = this.mergedId.get(k)!;
      // merge every occurrence of this pair, left to right (as the Hugging Face BPE model does)
      const out: number[] = [];
      for (let j = 0; j < ids.length; j++) {
        if (j + 1 < ids.length && pairKey(ids[j], ids[j + 1]) === k) { out.push(m); j++; } else out.push(ids[j]);
      }
      ids.splice(0, ids.length, ...out);
    }
    if (this.pieceCache.size < 200_000) this.pieceCache.set(piece, ids);
    return ids;
  }

  /** Text -> token ids (no special tokens are added; text that looks like one is encoded as bytes). */
  encode(text: string): number[] {
    if (typeof text !== 'string') throw new TypeError(`ByteLevelBPE.encode: text must be a string, got ${typeof text}`);
    const out: number[] = [];
    for (const p of pretokenize(text)) for (const id of this.encodePiece(p)) out.push(id);
    return out;
  }

  /** Token ids -> text. Special tokens are dropped unless `keepSpecials`. */
  decode(ids: Iterable<number>, o: { keepSpecials?: boolean } = {}): string {
    const special = new Set(this.specials.map((s) => this.ids.get(s)!));
    const parts: string[] = [];
    let bytes: number[] = [];
    const flush = () => { if (bytes.length) parts.push(Buffer.from(bytes).toString('utf8')); bytes = []; };
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.tokens.length) throw new RangeError(`ByteLevelBPE.decode: token id ${id} is outside 0..${this.tokens.length - 1}`);
      if (special.has(id)) {
        flush();
        if (o.keepSpecials) parts.push(this.tokens[id]);
        continue;
      }
      for (const ch of this.tokens[id]) bytes.push(BYTES.toByte.get(ch)!);
    }
    flush();
    return parts.join('');
  }

  /** The tokenizer.json object of Hugging Face `tokenizers`. */
  toJSON(): object {
    const vocab: Record<string, number> = {};
    this.tokens.forEach((t, i) => { vocab[t] = i; });
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: this.specials.map((s) => ({
        id: this.ids.get(s), content: s, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
      })),
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: byteLevel,
      decoder: byteLevel,
      model: {
        type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: false, byte_fallback: false, vocab, merges: this.merges.map(([a, b]) => `${a} ${b}`),
      },
    };
  }

  /** Writes tokenizer.json (atomically). */
  save(file: string): void {
    writeFileAtomic(file, Buffer.from(JSON.stringify(this.toJSON()) + '\n'));
  }

  /** From a tokenizer.json object (merges as "a b" strings or as [a, b] pairs, both of which `tokenizers` writes). */
  static fromJSON(json: unknown, who = 'ByteLevelBPE.fromJSON'): ByteLevelBPE {
    const j = json as { model?: { type?: string; vocab?: Record<string, number>; merges?: unknown[] }; added_tokens?: { content: string; id: number; special?: boolean }[]; pre_tokenizer?: { type?: string; add_prefix_space?: boolean } };
    if (!j || typeof j !== 'object' || !j.model || j.model.type !== 'BPE' || !j.model.vocab || !Array.isArray(j.model.merges)) {
      throw new Error(`${who}: not a tokenizer.json with a BPE model (model.type "BPE", model.vocab, model.merges)`);
    }
    if (j.pre_tokenizer?.type !== 'ByteLevel' || j.pre_tokenizer.add_prefix_space) {
      throw new Error(`${who}: only byte-level BPE without a prefix space is supported (pre_tokenizer ByteLevel, add_prefix_space false), got ${JSON.stringify(j.pre_tokenizer)}`);
    }
    const tokens: string[] = [];
    for (const [t, i] of Object.entries(j.model.vocab)) {
      if (!Number.isInteger(i) || i < 0) throw new Error(`${who}: vocab id of ${JSON.stringify(t)} is ${i}, expected a non-negative integer`);
      tokens[i] = t;
    }
    for (const a of j.added_tokens ?? []) tokens[a.id] = a.content;
    for (let i = 0; i < tokens.length; i++) if (tokens[i] === undefined) throw new Error(`${who}: vocab ids are not contiguous (no token has id ${i})`);
    const merges = j.model.merges.map((m, r): [string, string] => {
      if (Array.isArray(m) && m.length === 2) return [String(m[0]), String(m[1])];
      if (typeof m === 'string' && m.split(' ').length === 2) return m.split(' ') as [string, string];
      throw new Error(`${who}: merge ${r} is ${JSON.stringify(m)}, expected "a b" or [a, b]`);
    });
    const specials = (j.added_tokens ?? []).filter((a) => a.special !== false).sort((a, b) => a.id - b.id).map((a) => a.content);
    if (specials.length < 4) throw new Error(`${who}: expected at least 4 special tokens (pad, mask, bos, eos) in added_tokens, got ${specials.length}`);
    return new ByteLevelBPE(tokens, merges, specials);
  }

  static load(file: string): ByteLevelBPE {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`ByteLevelBPE.load: cannot read ${file}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`ByteLevelBPE.load: ${file} is not JSON`);
    }
    return ByteLevelBPE.fromJSON(json, `ByteLevelBPE.load(${file})`);
  }
}

const PAIR_BASE = 1 << 20;
function pairKey(a: number, b: number): number {
  return a * PAIR_BASE + b;
}
