// The Brown corpus as plain text documents for language modelling, with a fixed split by document.
//
// Each of the corpus's 500 files (`ca01` ... `cr09`, about 2,000 words each) is one document. The
// tags are stripped and the words are joined back into running text with the corpus's original
// casing and punctuation: a space between words, none before closing punctuation (`, . ; : ? ! ) ]`)
// or after opening brackets, and the corpus's quote tokens `` and '' written as the double quote
// they stand for, attached to the words they enclose. Sentences are separated by one space.
//
// Split (fixed, by document, so no document straddles two splits): the files in the order of
// cats.txt (sorted by name, hence by genre) are numbered 0..499; file i is
//   test        when i % 10 == 0   (50 documents: ca01, ca11, ...)
//   validation  when i % 10 == 5   (50 documents: ca06, ca16, ...)
//   train       otherwise          (400 documents)
// so every genre is represented in every split in proportion.
import { brownCorpus } from '../data/datasets';

export const TEXT_SPLITS = ['train', 'validation', 'test'] as const;
export type TextSplit = typeof TEXT_SPLITS[number];

export interface TextDocument {
  /** The corpus file, e.g. `ca01`. */
  id: string;
  /** Its genre (`news`, `fiction`, ...). */
  category: string;
  text: string;
}

/** The split of the document numbered `index` (0..499 in cats.txt order), as documented above. */
export function splitOfDocument(index: number): TextSplit {
  const r = index % 10;
  return r === 0 ? 'test' : r === 5 ? 'validation' : 'train';
}

const CLOSING = /^(?:[,.;:?!)\]}]+|'')$/;
const OPENING = /^(?:[([{]|``)$/;

/** Words of the corpus's tokenisation back into running text (see the file comment). */
export function detokenize(words: readonly string[]): string {
  let out = '';
  let glue = true; // no space before the next word (start of text, after an opening token)
  for (const w of words) {
    const word = w === '``' || w === "''" ? '"' : w;
    if (!glue && !CLOSING.test(w)) out += ' ';
    out += word;
    glue = OPENING.test(w);
  }
  return out;
}

let cache: TextDocument[] | null = null;

/** All 500 documents in cats.txt order (cached after the first call). */
export function brownDocuments(): TextDocument[] {
  if (cache) return cache;
  const brown = brownCorpus();
  const docs: TextDocument[] = [];
  let words: string[] = [];
  for (let i = 0; i < brown.sentences.length; i++) {
    const id = brown.files[i];
    if (docs.length === 0 || docs[docs.length - 1].id !== id) {
      if (docs.length) docs[docs.length - 1].text = detokenize(words);
      docs.push({ id, category: brown.categories[i], text: '' });
      words = [];
    }
    for (const w of brown.sentences[i]) words.push(w);
  }
  if (docs.length) docs[docs.length - 1].text = detokenize(words);
  cache = docs;
  return docs;
}

/** The documents of one split (see the file comment for the rule). */
export function brownSplit(split: TextSplit): TextDocument[] {
  if (!(TEXT_SPLITS as readonly string[]).includes(split)) {
    throw new RangeError(`brownSplit: split must be one of ${TEXT_SPLITS.join(', ')}, got ${JSON.stringify(split)}`);
  }
  return brownDocuments().filter((_, i) => splitOfDocument(i) === split);
}
