import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { parseIdx, readIdx, toTensor } from '../../src/data/idx';
import { memory } from '../../src/tensor';

// Builds an IDX file by hand, independently of the reader: magic, big-endian dims, big-endian data.
function idx(code: number, dims: number[], values: number[]): Buffer {
  const size = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 }[code] ?? 1;
  const buf = Buffer.alloc(4 + 4 * dims.length + size * values.length);
  buf[2] = code;
  buf[3] = dims.length;
  dims.forEach((d, i) => buf.writeUInt32BE(d, 4 + 4 * i));
  const off = 4 + 4 * dims.length;
  values.forEach((v, i) => {
    const o = off + size * i;
    if (code === 0x08) buf.writeUInt8(v, o);
    else if (code === 0x09) buf.writeInt8(v, o);
    else if (code === 0x0b) buf.writeInt16BE(v, o);
    else if (code === 0x0c) buf.writeInt32BE(v, o);
    else if (code === 0x0d) buf.writeFloatBE(v, o);
    else if (code === 0x0e) buf.writeDoubleBE(v, o);
  });
  return buf;
}

const CASES: [number, string, number[]][] = [
  [0x08, 'uint8', [0, 1, 127, 128, 254, 255]],
  [0x09, 'int8', [-128, -1, 0, 1, 100, 127]],
  [0x0b, 'int16', [-32768, -2, 0, 258, 1000, 32767]],
  [0x0c, 'int32', [-2147483648, -70000, 0, 65536, 123456789, 2147483647]],
  [0x0d, 'float32', [-1.5, 0, 0.25, 3.140625, -(2 ** 100), 65504]],
  [0x0e, 'float64', [-1.5, 0, 0.1, Math.PI, -1e300, 2 ** -1074]],
];

test('parseIdx reads every dtype code with big-endian dims and data; toTensor keeps dtype, shape, values', () => {
  for (const [code, dtype, values] of CASES) {
    const a = parseIdx(idx(code, [2, 3], values));
    assert.equal(a.dtype, dtype);
    assert.deepEqual(a.shape, [2, 3]);
    assert.deepEqual(Array.from(a.data), values, dtype);
    const before = memory().liveTensors;
    const t = toTensor(a);
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(t.tolist(), [values.slice(0, 3), values.slice(3)], dtype);
    t.dispose();
    assert.equal(memory().liveTensors, before);
  }
});

test('parseIdx: shapes of 1 to 4 dims, empty dims, large dims', () => {
  assert.deepEqual(parseIdx(idx(0x08, [4], [1, 2, 3, 4])).shape, [4]);
  const a = parseIdx(idx(0x08, [2, 1, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]));
  assert.deepEqual(a.shape, [2, 1, 2, 2]);
  assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(parseIdx(idx(0x0d, [0, 28, 28], [])).shape, [0, 28, 28]);
  // a dim above 2^31 reads as unsigned (and then cannot match the data)
  const big = idx(0x08, [0x80000001], []);
  assert.throws(() => parseIdx(big), /needs 2147483649 bytes/);
});

test('gzip is decompressed transparently, from buffers and files', () => {
  const raw = idx(0x0b, [3], [-5, 7, 300]);
  assert.deepEqual(Array.from(parseIdx(zlib.gzipSync(raw)).data), [-5, 7, 300]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idx-test-'));
  try {
    fs.writeFileSync(path.join(dir, 'a-idx1-short'), raw);
    fs.writeFileSync(path.join(dir, 'a-idx1-short.gz'), zlib.gzipSync(raw));
    // recognised by content, not by name
    fs.writeFileSync(path.join(dir, 'gz-without-suffix'), zlib.gzipSync(raw));
    for (const f of ['a-idx1-short', 'a-idx1-short.gz', 'gz-without-suffix']) {
      const a = readIdx(path.join(dir, f));
      assert.equal(a.dtype, 'int16');
      assert.deepEqual(Array.from(a.data), [-5, 7, 300]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed IDX input gives errors that say what is wrong', () => {
  const good = idx(0x08, [2, 2], [1, 2, 3, 4]);
  assert.throws(() => parseIdx(good.subarray(0, 3)), /too short for an IDX header \(3 bytes/);
  assert.throws(() => parseIdx(Buffer.alloc(0)), /too short/);
  const magic = Buffer.from(good);
  magic[0] = 0x50; // e.g. a PNG or text file
  assert.throws(() => parseIdx(magic), /bad magic 0x50000802.*two zero bytes/);
  const code = Buffer.from(good);
  code[2] = 0x0a;
  assert.throws(() => parseIdx(code), /unknown IDX data type code 0x0a/);
  assert.throws(() => parseIdx(good.subarray(0, 9)), /truncated header: 2 dimensions need 12 bytes, the file has 9/);
  assert.throws(() => parseIdx(good.subarray(0, 15)), /truncated data: shape \[2, 2\] of uint8 needs 4 bytes after the header, found 3/);
  const f32 = idx(0x0d, [3], [1, 2, 3]);
  assert.throws(() => parseIdx(f32.subarray(0, f32.length - 1)), /shape \[3\] of float32 needs 12 bytes.*found 11/);
  assert.throws(() => parseIdx(Buffer.concat([good, Buffer.from([0])])), /1 unexpected trailing bytes/);
  assert.throws(() => parseIdx(Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3])), /not a valid gzip stream/);
  assert.throws(() => parseIdx(zlib.gzipSync(good).subarray(0, 20)), /not a valid gzip stream/);
  assert.throws(() => parseIdx(good.subarray(0, 3), 'my-buffer'), /^Error: my-buffer: /);
});

test('readIdx names the file in every error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idx-test-'));
  try {
    const file = path.join(dir, 'train-images-idx3-ubyte');
    fs.writeFileSync(file, idx(0x08, [10, 28, 28], []));
    assert.throws(() => readIdx(file), (e: Error) => e.message.startsWith(`${file}: truncated data`));
    const gz = path.join(dir, 'labels.gz');
    fs.writeFileSync(gz, zlib.gzipSync(Buffer.from('not idx at all')));
    assert.throws(() => readIdx(gz), (e: Error) => e.message.startsWith(`${gz}: bad magic`));
    const missing = path.join(dir, 'missing');
    assert.throws(() => readIdx(missing), (e: Error) => e.message === `${missing}: cannot read IDX file (ENOENT)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
