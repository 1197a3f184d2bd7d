import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import {
  RawTensor, SafeDType, SafetensorsFile, layout, serialize, deserialize, saveRaw, loadRaw,
} from '../../src/tensor/safetensors_format';
import { writeFileAtomic } from '../../src/tensor/files';

// The real module object, so tests can patch it underneath the code under test.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const fs: typeof import('fs') = require('fs');

const PYTHON = '/usr/bin/python3';
const INTEROP = path.resolve(__dirname, '../../../test/tensor/safetensors_interop.py');

type Value = number | bigint | boolean;

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'safetensors-test-'));
}

// --- value <-> byte helpers (little-endian host assumed, like the format) ---

function halfBits(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (Number.isNaN(v)) return 0x7e00;
  if (a === Infinity) return sign | 0x7c00;
  if (a === 0) return sign;
  if (a < 2 ** -14) return sign | checkedInt(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | checkedInt((a / 2 ** e - 1) * 1024);
}

function checkedInt(x: number): number {
  assert.ok(Number.isInteger(x), `test value ${x} is not exactly representable`);
  return x;
}

function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function encode(dtype: SafeDType, values: Value[]): Uint8Array {
  const nums = values as number[];
  switch (dtype) {
    case 'F64': return new Uint8Array(Float64Array.from(nums).buffer);
    case 'F32': return new Uint8Array(Float32Array.from(nums).buffer);
    case 'F16': return new Uint8Array(Uint16Array.from(nums, halfBits).buffer);
    case 'BF16': {
      const f32 = new Uint32Array(Float32Array.from(nums).buffer);
      f32.forEach((b) => assert.equal(b & 0xffff, 0, 'test value not exact in bfloat16'));
      return new Uint8Array(Uint16Array.from(f32, (b) => b >>> 16).buffer);
    }
    case 'I64': return new Uint8Array(BigInt64Array.from(values as bigint[]).buffer);
    case 'I32': return new Uint8Array(Int32Array.from(nums).buffer);
    case 'I16': return new Uint8Array(Int16Array.from(nums).buffer);
    case 'I8': return new Uint8Array(Int8Array.from(nums).buffer);
    case 'U8': return Uint8Array.from(nums);
    case 'BOOL': return Uint8Array.from(values as boolean[], (b) => (b ? 1 : 0));
  }
}

function decode(t: RawTensor): Value[] {
  const b = t.data.slice(); // copy: views of a file need not be aligned for typed arrays
  switch (t.dtype) {
    case 'F64': return [...new Float64Array(b.buffer)];
    case 'F32': return [...new Float32Array(b.buffer)];
    case 'F16': return [...new Uint16Array(b.buffer)].map(halfValue);
    case 'BF16': return [...new Uint16Array(b.buffer)].map((h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0]);
    case 'I64': return [...new BigInt64Array(b.buffer)];
    case 'I32': return [...new Int32Array(b.buffer)];
    case 'I16': return [...new Int16Array(b.buffer)];
    case 'I8': return [...new Int8Array(b.buffer)];
    case 'U8': return [...b];
    case 'BOOL': return [...b].map((x) => x !== 0);
  }
}

// Same tensors as sample() in safetensors_interop.py, values flattened row-major.
const SAMPLE: Record<string, { dtype: SafeDType; shape: number[]; values: Value[] }> = {
  f64: { dtype: 'F64', shape: [2, 3], values: [0.1, -2.5, 1e300, 5e-324, -0, Infinity] },
  f32: { dtype: 'F32', shape: [4], values: [1.5, -3.25, 2 ** -149, NaN] },
  f16: { dtype: 'F16', shape: [6], values: [1, -2.5, 65504, 2 ** -24, Infinity, -0] },
  bf16: { dtype: 'BF16', shape: [2, 2], values: [1, -3.140625, 2 ** 100, 2 ** -130] },
  i64: { dtype: 'I64', shape: [4], values: [2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -7n] },
  i32: { dtype: 'I32', shape: [2], values: [-(2 ** 31), 2 ** 31 - 1] },
  i16: { dtype: 'I16', shape: [3], values: [-32768, 32767, 0] },
  i8: { dtype: 'I8', shape: [2], values: [-128, 127] },
  u8: { dtype: 'U8', shape: [3], values: [0, 255, 17] },
  mask: { dtype: 'BOOL', shape: [1, 3], values: [true, false, true] },
  scalar: { dtype: 'I64', shape: [], values: [42n] },
  empty: { dtype: 'F32', shape: [0, 3], values: [] },
};
const SAMPLE_META = { format: 'pt', step: '1200', note: 'héllo ✓' };

function sampleRaw(): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  for (const [name, s] of Object.entries(SAMPLE)) out[name] = { dtype: s.dtype, shape: s.shape, data: encode(s.dtype, s.values) };
  return out;
}

function assertSameTensors(actual: Record<string, RawTensor>, expected: Record<string, RawTensor>): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const [name, e] of Object.entries(expected)) {
    const a = actual[name];
    assert.equal(a.dtype, e.dtype, name);
    assert.deepEqual(a.shape, e.shape, name);
    assert.deepEqual(Buffer.from(a.data), Buffer.from(e.data), name);
  }
}

// --- round trips and layout ---

test('round trip of every dtype, zero-dim and empty tensors, and metadata', () => {
  const tensors: Record<string, RawTensor> = {
    ...sampleRaw(),
    'zero-dim f16': { dtype: 'F16', shape: [], data: encode('F16', [-0.5]) },
    'zero-dim bool': { dtype: 'BOOL', shape: [], data: encode('BOOL', [true]) },
    'empty u8': { dtype: 'U8', shape: [0], data: new Uint8Array(0) },
    'empty bf16': { dtype: 'BF16', shape: [3, 0, 2], data: new Uint8Array(0) },
    '0': { dtype: 'I8', shape: [1], data: encode('I8', [-1]) },
    __proto__x: { dtype: 'U8', shape: [1], data: encode('U8', [9]) },
  };
  const meta = { ...SAMPLE_META, '': 'empty key', 'quote"\\': 'esc\n\u0001' };
  const back = deserialize(serialize(tensors, meta));
  assertSameTensors(back.tensors, tensors);
  assert.deepEqual(back.metadata, meta);
  for (const [name, s] of Object.entries(SAMPLE)) assert.deepEqual(decode(back.tensors[name]), s.values, name);
});

test('tensor named __proto__ is stored as data, not as a prototype', () => {
  const tensors: Record<string, RawTensor> = {};
  Object.defineProperty(tensors, '__proto__', { value: { dtype: 'U8', shape: [1], data: Uint8Array.of(5) }, enumerable: true });
  const back = deserialize(serialize(tensors));
  assert.deepEqual(Object.keys(back.tensors), ['__proto__']);
  assert.deepEqual([...back.tensors['__proto__'].data], [5]);
});

test('no tensors and no metadata', () => {
  const buf = serialize({});
  assert.deepEqual(deserialize(buf), { tensors: {}, metadata: {} });
  assert.equal(buf.length, 16); // "{}" padded to 8 bytes
});

test('saveRaw/loadRaw round trip through a file', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'ckpt.safetensors');
  saveRaw(file, sampleRaw(), SAMPLE_META);
  const back = loadRaw(file);
  assertSameTensors(back.tensors, sampleRaw());
  assert.deepEqual(back.metadata, SAMPLE_META);
  assert.deepEqual(fs.readdirSync(dir), ['ckpt.safetensors']);
  fs.rmSync(dir, { recursive: true });
});

test('header is space-padded so the data starts 8-byte aligned', () => {
  for (let len = 1; len <= 17; len++) {
    const name = 'x'.repeat(len);
    const buf = serialize({ [name]: { dtype: 'U8', shape: [1], data: Uint8Array.of(7) } });
    const n = Number(buf.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0, `name length ${len}`);
    const header = buf.subarray(8, 8 + n).toString('utf8');
    const json = header.trimEnd();
    assert.ok(json.endsWith('}'));
    assert.match(header.slice(json.length), /^ {0,7}$/);
    assert.deepEqual(JSON.parse(json), { [name]: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } });
  }
});

test('writer places larger items first, then sorts by name, keeping tensors aligned', () => {
  const buf = serialize({
    c: { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) },
    b: { dtype: 'F16', shape: [1], data: encode('F16', [1]) },
    a: { dtype: 'F16', shape: [1], data: encode('F16', [2]) },
    d: { dtype: 'F64', shape: [1], data: encode('F64', [3]) },
  });
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  assert.deepEqual(Object.keys(header), ['d', 'a', 'b', 'c']);
  assert.deepEqual(header.d.data_offsets, [0, 8]);
  assert.deepEqual(header.a.data_offsets, [8, 10]);
  assert.deepEqual(header.b.data_offsets, [10, 12]);
  assert.deepEqual(header.c.data_offsets, [12, 15]);
});

test('exact bytes of a small example', () => {
  const buf = serialize(
    { a: { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) }, b: { dtype: 'F32', shape: [2], data: encode('F32', [1, -2]) } },
    { k: 'v' },
  );
  // 132 bytes of JSON; 8 + 132 = 140, so 4 spaces of padding and N = 136 = 0x88.
  const header =
    '{"__metadata__":{"k":"v"},' +
    '"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"a":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}' +
    '    ';
  const expected = Buffer.concat([
    Buffer.from([0x88, 0, 0, 0, 0, 0, 0, 0]),
    Buffer.from(header, 'ascii'),
    Buffer.from([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]), // 1.0f, -2.0f
    Buffer.from([1, 2, 3]),
  ]);
  assert.deepEqual(buf, expected);
});

// --- malformed input ---

/** Build a file from a header (object, exact text or bytes) and a data buffer, with an optional length override. */
function file(header: unknown, data: number | Uint8Array = 0, length?: bigint): Buffer {
  const text =
    header instanceof Uint8Array ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(length ?? BigInt(text.length));
  return Buffer.concat([prefix, text, typeof data === 'number' ? Buffer.alloc(data) : data]);
}

const f32x2 = (offsets: unknown = [0, 8]) => ({ dtype: 'F32', shape: [2], data_offsets: offsets });

const MALFORMED: [string, Uint8Array, RegExp][] = [
  ['empty file', new Uint8Array(0), /file is 0 bytes, shorter than the 8-byte header length/],
  ['7-byte file', new Uint8Array(7), /file is 7 bytes, shorter than the 8-byte header length/],
  ['header length over the limit', file({}, 0, 100_000_001n), /header length 100000001 exceeds the 100000000-byte limit/],
  ['header length 2^64-1', file({}, 0, 2n ** 64n - 1n), /header length 18446744073709551615 exceeds/],
  ['header length beyond the file', file({}, 0, 3n), /header length 3 is beyond the end of the file \(2 bytes/],
  ['invalid UTF-8', file(Uint8Array.of(0x7b, 0xff, 0x7d)), /header is not valid UTF-8/],
  ['empty header', file(''), /header is not valid JSON: unexpected end/],
  ['truncated JSON', file('{"a":'), /header is not valid JSON/],
  ['trailing garbage', file('{} x'), /header is not valid JSON: unexpected data after the header object/],
  ['single quotes', file("{'a':1}"), /header is not valid JSON: expected a string key/],
  ['trailing comma', file('{"a":{},}'), /header is not valid JSON/],
  ['raw control character', file('{"a\n":{}}'), /header is not valid JSON: control character in string/],
  ['bad escape', file('{"\\x":{}}'), /header is not valid JSON: bad escape/],
  ['NUL padding', file('{}\0\0\0\0\0\0'), /header is not valid JSON/],
  ['deep nesting', file('['.repeat(100) + ']'.repeat(100)), /nested too deeply/],
  ['header is an array', file([]), /header is not a JSON object/],
  ['header is a string', file('"x"'), /header is not a JSON object/],
  ['duplicate tensor name', file(`{"a":${JSON.stringify(f32x2())},"a":${JSON.stringify(f32x2())}}`, 8), /header has duplicate key "a"/],
  ['duplicate via escape', file(`{"a":${JSON.stringify(f32x2())},"\\u0061":${JSON.stringify(f32x2())}}`, 8), /duplicate key "a"/],
  ['duplicate field', file('{"a":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}}'), /duplicate key "dtype"/],
  ['entry not an object', file({ a: 1 }), /tensor "a": entry must be an object/],
  ['entry is null', file({ a: null }), /tensor "a": entry must be an object/],
  ['missing dtype', file({ a: { shape: [0], data_offsets: [0, 0] } }), /tensor "a": missing field "dtype"/],
  ['unexpected field', file({ a: { ...f32x2(), extra: 1 } }, 8), /tensor "a": unexpected field "extra"/],
  ['unknown dtype', file({ a: { ...f32x2(), dtype: 'U16' } }, 8), /tensor "a": unknown dtype "U16"/],
  ['lowercase dtype', file({ a: { ...f32x2(), dtype: 'f32' } }, 8), /unknown dtype "f32"/],
  ['dtype not a string', file({ a: { ...f32x2(), dtype: 4 } }, 8), /unknown dtype 4/],
  ['negative dim', file({ a: { ...f32x2(), shape: [-2] } }, 8), /tensor "a": shape must be an array of non-negative safe integers/],
  ['fractional dim', file({ a: { ...f32x2(), shape: [1.5] } }, 8), /shape must be an array/],
  ['unsafe dim', file({ a: { ...f32x2(), shape: [2 ** 53] } }, 8), /shape must be an array/],
  ['string dim', file({ a: { ...f32x2(), shape: ['2'] } }, 8), /shape must be an array/],
  ['shape not an array', file({ a: { ...f32x2(), shape: 2 } }, 8), /shape must be an array/],
  ['offsets reversed', file({ a: f32x2([8, 0]) }, 8), /tensor "a": data_offsets must be \[begin, end\]/],
  ['offsets too short', file({ a: f32x2([0]) }, 8), /data_offsets must be \[begin, end\]/],
  ['offsets too long', file({ a: f32x2([0, 8, 8]) }, 8), /data_offsets must be \[begin, end\]/],
  ['negative offset', file({ a: f32x2([-8, 0]) }, 8), /data_offsets must be \[begin, end\]/],
  ['offsets not an array', file({ a: f32x2('0-8') }, 8), /data_offsets must be \[begin, end\]/],
  ['span too small', file({ a: f32x2([0, 7]) }, 7), /tensor "a": data_offsets span 7 bytes but shape \[2\] of F32 needs 8/],
  ['span too large', file({ a: f32x2([0, 9]) }, 9), /span 9 bytes but shape \[2\] of F32 needs 8/],
  ['huge shape', file({ a: { ...f32x2(), shape: [2 ** 52, 2 ** 52] } }, 8), /needs 81129638414606681695789005144064/],
  ['past the buffer', file({ a: f32x2() }, 4), /tensor "a": data_offsets end 8 is beyond the 4-byte data buffer/],
  ['overlap', file({ a: f32x2([0, 8]), b: f32x2([4, 12]) }, 12), /tensors "a" and "b" overlap/],
  ['same range twice', file({ a: f32x2([0, 8]), b: f32x2([0, 8]) }, 8), /overlap/],
  ['gap between', file({ a: f32x2([0, 8]), b: f32x2([12, 20]) }, 20), /gap in the data buffer: bytes 8\.\.12 belong to no tensor/],
  ['gap at start', file({ a: f32x2([4, 12]) }, 12), /gap in the data buffer: bytes 0\.\.4/],
  ['trailing bytes', file({ a: f32x2() }, 11), /data buffer has 3 trailing bytes/],
  ['data but no tensors', file({}, 1), /data buffer has 1 trailing bytes/],
  ['metadata is an array', file({ __metadata__: [] }), /__metadata__ must be an object mapping strings to strings/],
  ['metadata is a string', file({ __metadata__: 'x' }), /__metadata__ must be an object/],
  ['metadata is null', file({ __metadata__: null }), /__metadata__ must be an object/],
  ['metadata value not a string', file({ __metadata__: { step: 3 } }), /__metadata__ value for key "step" is not a string/],
  ['metadata nested object', file({ __metadata__: { a: {} } }), /__metadata__ value for key "a" is not a string/],
  ['duplicate metadata key', file('{"__metadata__":{"k":"1","k":"2"}}'), /duplicate key "k"/],
];

for (const [name, buf, message] of MALFORMED) {
  test(`rejects malformed file: ${name}`, () => {
    assert.throws(() => deserialize(buf), message);
  });
}

test('accepts an unpadded header and a header with surrounding whitespace', () => {
  const tensors = { a: { dtype: 'U8' as const, shape: [2], data: Uint8Array.of(1, 2) } };
  const text = '\r\n\t {"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}';
  const back = deserialize(file(text, Uint8Array.of(1, 2)));
  assertSameTensors(back.tensors, tensors);
});

test('serialize rejects inconsistent tensors', () => {
  const ok = (): RawTensor => ({ dtype: 'F32', shape: [2], data: new Uint8Array(8) });
  assert.throws(() => serialize({ a: { ...ok(), data: new Uint8Array(7) } }), /tensor "a": data has 7 bytes but shape \[2\] of F32 needs 8/);
  assert.throws(() => serialize({ a: { ...ok(), dtype: 'F8' as SafeDType } }), /tensor "a": unknown dtype "F8"/);
  assert.throws(() => serialize({ a: { ...ok(), shape: [-2] } }), /tensor "a": shape must be/);
  assert.throws(() => serialize({ a: { ...ok(), data: [0, 0, 0, 0, 0, 0, 0, 0] as unknown as Uint8Array } }), /data must be a Uint8Array/);
  assert.throws(() => serialize({ __metadata__: ok() }), /tensor name "__metadata__" is reserved/);
  assert.throws(() => serialize({ a: ok() }, { step: 3 } as unknown as Record<string, string>), /__metadata__ value for key "step" is not a string/);
});

test('deserialize returns views with the right offsets into an offset buffer', () => {
  const inner = serialize(sampleRaw(), SAMPLE_META);
  const outer = new Uint8Array(inner.length + 13);
  outer.set(inner, 5);
  const back = deserialize(outer.subarray(5, 5 + inner.length));
  assertSameTensors(back.tensors, sampleRaw());
});

// --- atomic writes ---

test('interrupted write leaves the previous file intact and no temp file', (t) => {
  const dir = tmpDir();
  const target = path.join(dir, 'model.safetensors');
  saveRaw(target, sampleRaw(), SAMPLE_META);
  const before = fs.readFileSync(target);

  const realWrite = fs.writeSync;
  let calls = 0;
  // First call writes half of what was asked (a short write), the next one fails like a full disk.
  fs.writeSync = ((fd: number, buf: Uint8Array, off: number, len: number) => {
    if (calls++ > 0) throw Object.assign(new Error('simulated ENOSPC'), { code: 'ENOSPC' });
    return realWrite(fd, buf, off, Math.floor(len / 2));
  }) as typeof fs.writeSync;
  t.after(() => {
    fs.writeSync = realWrite;
  });

  const big = { w: { dtype: 'U8' as const, shape: [1 << 16], data: new Uint8Array(1 << 16).fill(3) } };
  assert.throws(() => saveRaw(target, big), /simulated ENOSPC/);
  assert.equal(calls, 2, 'the short write must be resumed before failing');
  fs.writeSync = realWrite;

  assert.deepEqual(fs.readFileSync(target), before);
  assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  assertSameTensors(loadRaw(target).tensors, sampleRaw());
  fs.rmSync(dir, { recursive: true });
});

test('failed rename removes the temp file and rethrows', () => {
  const dir = tmpDir();
  const target = path.join(dir, 'occupied');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'keep'), 'x');
  assert.throws(() => writeFileAtomic(target, Uint8Array.of(1, 2, 3)), (err: NodeJS.ErrnoException) => typeof err.code === 'string');
  assert.deepEqual(fs.readdirSync(dir), ['occupied']);
  fs.rmSync(dir, { recursive: true });
});

test('writeFileAtomic replaces an existing file', () => {
  const dir = tmpDir();
  const target = path.join(dir, 'f.bin');
  fs.writeFileSync(target, 'old contents that are longer');
  writeFileAtomic(target, Uint8Array.of(9, 8, 7));
  assert.deepEqual([...fs.readFileSync(target)], [9, 8, 7]);
  assert.deepEqual(fs.readdirSync(dir), ['f.bin']);
  fs.rmSync(dir, { recursive: true });
});

test('writeFileAtomic into a missing directory throws and leaves nothing behind', () => {
  const dir = tmpDir();
  assert.throws(() => writeFileAtomic(path.join(dir, 'no', 'such', 'f.bin'), Uint8Array.of(1)), /ENOENT/);
  assert.deepEqual(fs.readdirSync(dir), []);
  fs.rmSync(dir, { recursive: true });
});

// --- interop with an independent Python implementation (torch) ---

const hasTorch = (() => {
  const r = spawnSync(PYTHON, [INTEROP, 'check'], { encoding: 'utf8' });
  return r.status === 0;
})();

function python(...args: string[]): string {
  const r = spawnSync(PYTHON, [INTEROP, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, `python ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

function flatten(v: unknown): unknown[] {
  return Array.isArray(v) ? v.flatMap(flatten) : [v];
}

// Python sends ints as strings and non-finite floats as "inf"/"-inf"/"nan".
function fromPython(dtype: SafeDType, v: unknown): Value {
  if (typeof v === 'boolean' || typeof v === 'number') return v;
  const s = v as string;
  if (s === 'nan') return NaN;
  if (s === 'inf' || s === '-inf') return s === 'inf' ? Infinity : -Infinity;
  return dtype === 'I64' ? BigInt(s) : Number(s);
}

test('Python (torch) reads what we write', (t) => {
  if (!hasTorch) return t.skip(`${PYTHON} cannot import torch`);
  const dir = tmpDir();
  const target = path.join(dir, 'from-ts.safetensors');
  saveRaw(target, sampleRaw(), SAMPLE_META);
  const out = JSON.parse(python('read', target));
  assert.equal(out.header_aligned, true);
  assert.equal(out.header_padding_is_spaces, true);
  assert.deepEqual(out.metadata, SAMPLE_META);
  assert.deepEqual(Object.keys(out.tensors).sort(), Object.keys(SAMPLE).sort());
  for (const [name, s] of Object.entries(SAMPLE)) {
    const got = out.tensors[name];
    assert.equal(got.dtype, s.dtype, name);
    assert.deepEqual(got.shape, s.shape, name);
    assert.deepEqual(flatten(got.values).map((v) => fromPython(s.dtype, v)), s.values, name);
  }
  fs.rmSync(dir, { recursive: true });
});

test('we read what Python (torch) writes', (t) => {
  if (!hasTorch) return t.skip(`${PYTHON} cannot import torch`);
  const dir = tmpDir();
  const target = path.join(dir, 'from-py.safetensors');
  python('write', target);
  const back = loadRaw(target);
  assert.deepEqual(back.metadata, SAMPLE_META);
  assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(SAMPLE).sort());
  for (const [name, s] of Object.entries(SAMPLE)) {
    assert.equal(back.tensors[name].dtype, s.dtype, name);
    assert.deepEqual(back.tensors[name].shape, s.shape, name);
    assert.deepEqual(decode(back.tensors[name]), s.values, name);
  }
  // Both writers use the same tensor order, so the data buffers must match byte for byte.
  const ours = serialize(back.tensors, back.metadata);
  const theirs = fs.readFileSync(target);
  const dataOf = (b: Buffer) => b.subarray(8 + Number(b.readBigUInt64LE(0)));
  assert.deepEqual(dataOf(ours), dataOf(theirs));
  fs.rmSync(dir, { recursive: true });
});

// --- files: errors that name the file, and files over 4 GiB read tensor by tensor ---

test('a directory, a text file, a missing file and truncated files are refused with the path and the reason', () => {
  const dir = tmpDir();
  assert.throws(() => loadRaw(dir), new RegExp(`${escape(dir)}: is a directory, not a safetensors file`));
  const missing = path.join(dir, 'nope.safetensors');
  assert.throws(() => loadRaw(missing), new RegExp(`${escape(missing)}: no such file`));
  const text = path.join(dir, 'notes.txt');
  fs.writeFileSync(text, 'just some words, not tensors\n');
  // "just som" read as a little-endian u64 is 7885648055778899306
  assert.throws(() => loadRaw(text), new RegExp(`${escape(text)}: not a safetensors file: its first 8 bytes give a header length of 7885648055778899306, over the 100000000-byte limit \\(it starts with the text "just som"\\)`));
  const tiny = path.join(dir, 'tiny');
  fs.writeFileSync(tiny, 'abc');
  assert.throws(() => loadRaw(tiny), /tiny: not a safetensors file: it is 3 bytes, shorter than the 8-byte header length/);

  const good = serialize(sampleRaw(), SAMPLE_META);
  const cut = path.join(dir, 'cut.safetensors');
  fs.writeFileSync(cut, good.subarray(0, good.length - 5));
  const headerLen = Number(good.readBigUInt64LE(0));
  const dataLen = good.length - 8 - headerLen;
  assert.throws(() => loadRaw(cut), new RegExp(`${escape(cut)}: truncated: the header says the data is ${dataLen} bytes \\(file size ${good.length}\\), the file has ${dataLen - 5} \\(file size ${good.length - 5}\\)`));
  fs.writeFileSync(cut, good.subarray(0, 20));
  assert.throws(() => loadRaw(cut), new RegExp(`truncated: the header says it is ${headerLen} bytes, the file has 12 after the length`));
  // the reasons of the byte layer keep their words, prefixed with the file
  fs.writeFileSync(cut, Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('[]')]));
  assert.throws(() => loadRaw(cut), /cut\.safetensors: header is not a JSON object/);
  fs.rmSync(dir, { recursive: true });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('a sparse file of more than 4 GiB: header offsets past 2^32 are read exactly, a 4 GiB tensor is refused clearly', () => {
  // Only the header and the 8-byte tail tensor occupy disk; the 4 GiB "big" tensor is a hole.
  const dir = tmpDir();
  const file = path.join(dir, 'big.safetensors');
  const bigBytes = 2 ** 32 + 24;
  const plan = layout({ big: { dtype: 'U8', shape: [bigBytes] }, z_tail: { dtype: 'U8', shape: [8] } }, { note: 'sparse' });
  assert.deepEqual(plan.entries, [{ name: 'big', begin: 0, end: bigBytes }, { name: 'z_tail', begin: bigBytes, end: bigBytes + 8 }]);
  const tail = Uint8Array.of(1, 2, 3, 4, 250, 251, 252, 253);
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, plan.header, 0, plan.header.length, 0);
    fs.ftruncateSync(fd, plan.header.length + plan.dataBytes);
    fs.writeSync(fd, tail, 0, tail.length, plan.header.length + bigBytes);
  } finally {
    fs.closeSync(fd);
  }
  const f = SafetensorsFile.open(file);
  try {
    assert.equal(f.dataStart, plan.header.length);
    assert.deepEqual(f.metadata, { note: 'sparse' });
    assert.deepEqual(f.tensors.z_tail, { dtype: 'U8', shape: [8], begin: bigBytes, end: bigBytes + 8 });
    assert.deepEqual([...f.read('z_tail').data], [...tail]);
    assert.throws(() => f.read('big'), /tensor "big" is 4294967320 bytes; tensors of 4294967295 bytes \(4 GiB\) or more cannot be read into one buffer/);
    assert.throws(() => f.read('nope'), /no tensor "nope"/);
  } finally {
    f.close();
  }
  assert.throws(() => loadRaw(file), /tensor "big" is 4294967320 bytes/);
  fs.rmSync(dir, { recursive: true });
});

test('saveRaw writes the header and then each tensor, never the whole file as one buffer', (t) => {
  const dir = tmpDir();
  const target = path.join(dir, 'streamed.safetensors');
  const realWrite = fs.writeSync;
  const sizes: number[] = [];
  fs.writeSync = ((fd: number, buf: Uint8Array, off: number, len: number) => {
    sizes.push(len);
    return realWrite(fd, buf, off, len);
  }) as typeof fs.writeSync;
  t.after(() => {
    fs.writeSync = realWrite;
  });
  const raw = { a: { dtype: 'F32' as const, shape: [1000], data: new Uint8Array(4000).fill(1) }, b: { dtype: 'U8' as const, shape: [3000], data: new Uint8Array(3000).fill(2) } };
  saveRaw(target, raw, { k: 'v' });
  fs.writeSync = realWrite;
  const { header } = layout(raw, { k: 'v' });
  assert.deepEqual(sizes, [header.length, 4000, 3000]);
  assert.deepEqual(fs.readFileSync(target), serialize(raw, { k: 'v' }));
  fs.rmSync(dir, { recursive: true });
});
