// The IDX format of MNIST and its relatives (LeCun et al., http://yann.lecun.com/exdb/mnist/):
//   bytes 0-1  zero
//   byte  2    dtype code: 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double
//   byte  3    number of dimensions d
//   then d big-endian uint32 sizes, then the data, big-endian, row-major.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { Tensor, fromBytes } from '../tensor';

export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A parsed IDX array: `data` is row-major in host byte order. */
export interface IdxArray {
  shape: number[];
  dtype: IdxDType;
  data: IdxData;
}

const CODES: Readonly<Record<number, { dtype: IdxDType; size: number }>> = {
  0x08: { dtype: 'uint8', size: 1 },
  0x09: { dtype: 'int8', size: 1 },
  0x0b: { dtype: 'int16', size: 2 },
  0x0c: { dtype: 'int32', size: 4 },
  0x0d: { dtype: 'float32', size: 4 },
  0x0e: { dtype: 'float64', size: 8 },
};

/**
 * Parses IDX bytes (gzip-compressed or not). `source` names the origin in error messages.
 * The header, the element count and the data length are all checked; nothing is guessed.
 */
export function parseIdx(bytes: Uint8Array, source = 'IDX buffer'): IdxArray {
  const fail = (why: string): never => {
    throw new Error(`${source}: ${why}`);
  };
  let buf = bytes;
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (e) {
      fail(`not a valid gzip stream (${(e as Error).message})`);
    }
  }
  if (buf.length < 4) fail(`too short for an IDX header (${buf.length} bytes, need at least 4)`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    fail(`bad magic 0x${hex(buf[0])}${hex(buf[1])}${hex(buf[2])}${hex(buf[3])}: an IDX file starts with two zero bytes`);
  }
  const code = CODES[buf[2]];
  if (!code) fail(`unknown IDX data type code 0x${hex(buf[2])} (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)`);
  const ndim = buf[3];
  const headerBytes = 4 + 4 * ndim;
  if (buf.length < headerBytes) fail(`truncated header: ${ndim} dimensions need ${headerBytes} bytes, the file has ${buf.length}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < ndim; d++) {
    const n = view.getUint32(4 + 4 * d, false);
    shape.push(n);
    count *= n;
  }
  const expected = count * code.size;
  const found = buf.length - headerBytes;
  if (found < expected) {
    fail(`truncated data: shape [${shape.join(', ')}] of ${code.dtype} needs ${expected} bytes after the header, found ${found}`);
  }
  if (found > expected) {
    fail(`${found - expected} unexpected trailing bytes after the data of shape [${shape.join(', ')}] (${code.dtype})`);
  }
  return { shape, dtype: code.dtype, data: decode(view, headerBytes, count, code.dtype) };
}

/** Reads an IDX file; `.gz` files (recognised by their gzip magic, not their name) are decompressed. */
export function readIdx(file: string): IdxArray {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read IDX file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseIdx(bytes, file);
}

/** The IDX array as a tensor of the same dtype and shape (a copy). */
export function toTensor(a: IdxArray): Tensor {
  const d = a.data;
  return fromBytes(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), a.shape, a.dtype);
}

function decode(view: DataView, offset: number, count: number, dtype: IdxDType): IdxData {
  switch (dtype) {
    case 'uint8': return new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int8': return new Int8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

const hex = (b: number | undefined) => (b ?? 0).toString(16).padStart(2, '0');
