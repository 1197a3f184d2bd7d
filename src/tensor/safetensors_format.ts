// safetensors byte layer: encoding, decoding and atomic file writes.
//
// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON header
// (space-padded so that 8 + N is a multiple of 8), then the data buffer.
// The header maps tensor names to {dtype, shape, data_offsets} (offsets are
// relative to the data buffer) plus an optional "__metadata__" string map.
//
// Write order: entries are sorted by item size descending, then by name.
// Because the data buffer starts 8-byte aligned, this puts every tensor at an
// offset that is a multiple of its item size, so readers can view it in place.
//
// This file has no dependency on the Tensor class; safetensors.ts adds that.

import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** `data` holds numel * itemsize little-endian bytes. */
export interface RawTensor {
  dtype: SafeDType;
  shape: number[];
  data: Uint8Array;
}

export const ITEM_SIZE: Readonly<Record<SafeDType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Readers refuse headers longer than this, so a corrupt length cannot demand huge allocations. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';
const ENTRY_FIELDS = ['dtype', 'shape', 'data_offsets'];
// The header is at most three levels deep; anything deeper is garbage and must not blow the stack.
const MAX_JSON_DEPTH = 32;

function fail(msg: string): never {
  throw new Error(`safetensors: ${msg}`);
}

function isDType(x: unknown): x is SafeDType {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(ITEM_SIZE, x);
}

// Plain assignment would treat a tensor named "__proto__" as a prototype change.
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function isShape(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function byteSize(shape: number[], dtype: SafeDType): bigint {
  return shape.reduce((n, d) => n * BigInt(d), BigInt(ITEM_SIZE[dtype]));
}

function checkMetadata(meta: unknown): Record<string, string> {
  const isMap = meta instanceof Map || (typeof meta === 'object' && meta !== null && !Array.isArray(meta));
  if (!isMap) fail(`${METADATA_KEY} must be an object mapping strings to strings`);
  const entries = meta instanceof Map ? [...meta] : Object.entries(meta as object);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (typeof v !== 'string') fail(`${METADATA_KEY} value for key ${JSON.stringify(k)} is not a string`);
    setOwn(out, k, v);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Writing

export function serialize(tensors: Record<string, RawTensor>, metadata?: Record<string, string>): Buffer {
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === METADATA_KEY) fail(`tensor name ${JSON.stringify(METADATA_KEY)} is reserved`);
    if (!isDType(t.dtype)) fail(`tensor ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!isShape(t.shape)) fail(`tensor ${JSON.stringify(name)}: shape must be an array of non-negative safe integers`);
    if (!(t.data instanceof Uint8Array)) fail(`tensor ${JSON.stringify(name)}: data must be a Uint8Array`);
    const need = byteSize(t.shape, t.dtype);
    if (BigInt(t.data.length) !== need) {
      fail(`tensor ${JSON.stringify(name)}: data has ${t.data.length} bytes but shape [${t.shape}] of ${t.dtype} needs ${need}`);
    }
  }
  entries.sort(([a, ta], [b, tb]) => ITEM_SIZE[tb.dtype] - ITEM_SIZE[ta.dtype] || (a < b ? -1 : a > b ? 1 : 0));

  // Built by hand rather than via one JSON.stringify of an object, because JS
  // objects move integer-like keys ("0", "12") to the front.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const meta = checkMetadata(metadata);
    if (Object.keys(meta).length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(meta)}`);
  }
  let offset = 0;
  for (const [name, t] of entries) {
    const end = offset + t.data.length;
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset = end;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const headerLen = json.length + ((8 - ((8 + json.length) % 8)) % 8);
  if (headerLen > MAX_HEADER_BYTES) fail(`header would be ${headerLen} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);

  const out = Buffer.alloc(8 + headerLen + offset, 0x20);
  out.writeBigUInt64LE(BigInt(headerLen), 0);
  json.copy(out, 8);
  let pos = 8 + headerLen;
  for (const [, t] of entries) {
    out.set(t.data, pos);
    pos += t.data.length;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Reading

/** Tensor `data` in the result are views into `buf`, not copies. */
export function deserialize(buf: Uint8Array): { tensors: Record<string, RawTensor>; metadata: Record<string, string> } {
  if (buf.length < 8) fail(`file is ${buf.length} bytes, shorter than the 8-byte header length`);
  const n = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n > BigInt(buf.length - 8)) fail(`header length ${n} is beyond the end of the file (${buf.length - 8} bytes after the length)`);
  const headerLen = Number(n);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf.subarray(8, 8 + headerLen));
  } catch {
    fail('header is not valid UTF-8');
  }
  const header = parseJson(text);
  if (!(header instanceof Map)) fail('header is not a JSON object');

  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  let metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors: Record<string, RawTensor> = {};

  for (const [name, entry] of header) {
    if (name === METADATA_KEY) {
      metadata = checkMetadata(entry);
      continue;
    }
    const what = `tensor ${JSON.stringify(name)}`;
    if (!(entry instanceof Map)) fail(`${what}: entry must be an object`);
    for (const key of entry.keys()) if (!ENTRY_FIELDS.includes(key)) fail(`${what}: unexpected field ${JSON.stringify(key)}`);
    for (const key of ENTRY_FIELDS) if (!entry.has(key)) fail(`${what}: missing field ${JSON.stringify(key)}`);

    const dtype = entry.get('dtype');
    if (!isDType(dtype)) fail(`${what}: unknown dtype ${JSON.stringify(dtype)}`);
    const shape = entry.get('shape');
    if (!isShape(shape)) fail(`${what}: shape must be an array of non-negative safe integers`);
    const offs = entry.get('data_offsets');
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
      fail(`${what}: data_offsets must be [begin, end] with non-negative integers and begin <= end`);
    }
    const [begin, end] = offs as [number, number];
    const need = byteSize(shape, dtype);
    if (BigInt(end - begin) !== need) {
      fail(`${what}: data_offsets span ${end - begin} bytes but shape [${shape}] of ${dtype} needs ${need}`);
    }
    if (end > dataLen) fail(`${what}: data_offsets end ${end} is beyond the ${dataLen}-byte data buffer`);

    spans.push({ name, begin, end });
    setOwn(tensors, name, { dtype, shape, data: new Uint8Array(buf.buffer, buf.byteOffset + dataStart + begin, end - begin) });
  }

  // The tensors must tile the data buffer exactly: no overlap, no gap, nothing left over.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev = '';
  for (const s of spans) {
    if (s.begin < cursor) fail(`tensors ${JSON.stringify(prev)} and ${JSON.stringify(s.name)} overlap in the data buffer`);
    if (s.begin > cursor) fail(`gap in the data buffer: bytes ${cursor}..${s.begin} belong to no tensor`);
    cursor = s.end;
    prev = s.name;
  }
  if (cursor !== dataLen) fail(`data buffer has ${dataLen - cursor} trailing bytes that belong to no tensor`);

  return { tensors, metadata };
}

// Strict RFC 8259 parser. JSON.parse silently keeps the last of duplicate keys;
// this one rejects them and returns objects as Maps (safe for any key).
function parseJson(text: string): unknown {
  let i = 0;
  function bad(why: string): never {
    fail(`header is not valid JSON: ${why} at offset ${i}`);
  }
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const plain = /[^"\\\u0000-\u001f]*/y;
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const escapes: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

  const str = (): string => {
    i++; // opening quote
    let out = '';
    for (;;) {
      plain.lastIndex = i;
      plain.exec(text);
      out += text.slice(i, plain.lastIndex);
      i = plain.lastIndex;
      const c = text[i];
      if (c === '"') {
        i++;
        return out;
      }
      if (c !== '\\') bad(c === undefined ? 'unterminated string' : 'control character in string');
      const e = text[i + 1];
      if (e === 'u') {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) bad('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else {
        if (!(e in escapes)) bad('bad escape');
        out += escapes[e];
        i += 2;
      }
    }
  };

  const value = (depth: number): unknown => {
    if (depth > MAX_JSON_DEPTH) bad('nested too deeply');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = new Map<string, unknown>();
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') bad('expected a string key');
        const key = str();
        if (obj.has(key)) fail(`header has duplicate key ${JSON.stringify(key)}`);
        ws();
        if (text[i] !== ':') bad("expected ':'");
        i++;
        obj.set(key, value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return obj;
        } else bad("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return arr;
        } else bad("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    number.lastIndex = i;
    const m = number.exec(text);
    if (!m) bad(c === undefined ? 'unexpected end' : 'unexpected character');
    i = number.lastIndex;
    return Number(m[0]);
  };

  const v = value(0);
  ws();
  if (i !== text.length) bad('unexpected data after the header object');
  return v;
}

// ---------------------------------------------------------------------------
// Files

/**
 * Replace `file` so that readers see either the old or the new contents, never
 * a partial write, even across a crash: write a temp file in the same
 * directory, fsync it, rename it over `file`, then fsync the directory.
 */
export function writeFileAtomic(file: string, data: Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = `${file}.tmp-${process.pid}-${crypto.randomBytes(6).toString('hex')}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    let done = 0;
    while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // the original error is the one worth reporting
      }
    }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dir);
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    // Windows cannot open directories and some filesystems cannot fsync them;
    // the rename has already happened, so only report real I/O failures.
    const code = (err as NodeJS.ErrnoException).code;
    if (!['EISDIR', 'EINVAL', 'ENOTSUP', 'EPERM', 'EACCES'].includes(code ?? '')) throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export function saveRaw(file: string, tensors: Record<string, RawTensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(file, serialize(tensors, metadata));
}

export function loadRaw(file: string): { tensors: Record<string, RawTensor>; metadata: Record<string, string> } {
  // Read into a fresh, unshared ArrayBuffer so tensor views keep the alignment the writer gave them.
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = fs.readSync(fd, buf, done, size - done, done);
      if (n === 0) fail(`${file} shrank while being read`);
      done += n;
    }
    return deserialize(buf);
  } finally {
    fs.closeSync(fd);
  }
}
