// safetensors byte layer: encoding and decoding, and files written and read tensor by tensor.
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
import { MAX_IO, writeFileAtomic } from './files';

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

/** Where each tensor goes: the 8-byte length plus padded JSON header, and the data offsets. */
export interface Layout {
  /** The first 8 + N bytes of the file. */
  header: Buffer;
  /** Tensors in file order with their [begin, end) offsets in the data buffer. */
  entries: { name: string; begin: number; end: number }[];
  /** Bytes of the data buffer (the sum of the tensors' sizes; may exceed 4 GiB). */
  dataBytes: number;
}

/**
 * The header and data layout of a file holding tensors of these dtypes and shapes; it needs no
 * tensor data, so files of any size can be planned and then written tensor by tensor.
 */
export function layout(tensors: Record<string, { dtype: SafeDType; shape: number[] }>, metadata?: Record<string, string>): Layout {
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === METADATA_KEY) fail(`tensor name ${JSON.stringify(METADATA_KEY)} is reserved`);
    if (!isDType(t.dtype)) fail(`tensor ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!isShape(t.shape)) fail(`tensor ${JSON.stringify(name)}: shape must be an array of non-negative safe integers`);
  }
  entries.sort(([a, ta], [b, tb]) => ITEM_SIZE[tb.dtype] - ITEM_SIZE[ta.dtype] || (a < b ? -1 : a > b ? 1 : 0));

  // Built by hand rather than via one JSON.stringify of an object, because JS
  // objects move integer-like keys ("0", "12") to the front.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const meta = checkMetadata(metadata);
    if (Object.keys(meta).length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(meta)}`);
  }
  let offset = 0n;
  const out: Layout['entries'] = [];
  for (const [name, t] of entries) {
    const end = offset + byteSize(t.shape, t.dtype);
    if (end > BigInt(Number.MAX_SAFE_INTEGER)) fail(`tensor ${JSON.stringify(name)}: the data would end at byte ${end}, beyond 2^53`);
    const [b, e] = [Number(offset), Number(end)];
    parts.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [b, e] })}`);
    out.push({ name, begin: b, end: e });
    offset = end;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const headerLen = json.length + ((8 - ((8 + json.length) % 8)) % 8);
  if (headerLen > MAX_HEADER_BYTES) fail(`header would be ${headerLen} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  const header = Buffer.alloc(8 + headerLen, 0x20);
  header.writeBigUInt64LE(BigInt(headerLen), 0);
  json.copy(header, 8);
  return { header, entries: out, dataBytes: Number(offset) };
}

function checkData(tensors: Record<string, RawTensor>): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (!isDType(t.dtype)) fail(`tensor ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!isShape(t.shape)) fail(`tensor ${JSON.stringify(name)}: shape must be an array of non-negative safe integers`);
    if (!(t.data instanceof Uint8Array)) fail(`tensor ${JSON.stringify(name)}: data must be a Uint8Array`);
    const need = byteSize(t.shape, t.dtype);
    if (BigInt(t.data.length) !== need) {
      fail(`tensor ${JSON.stringify(name)}: data has ${t.data.length} bytes but shape [${t.shape}] of ${t.dtype} needs ${need}`);
    }
  }
}

/** The whole file in one Buffer (so under 4 GiB); `saveRaw` writes files of any size. */
export function serialize(tensors: Record<string, RawTensor>, metadata?: Record<string, string>): Buffer {
  checkData(tensors);
  const { header, entries, dataBytes } = layout(tensors, metadata);
  const out = Buffer.alloc(header.length + dataBytes);
  header.copy(out, 0);
  for (const e of entries) out.set(tensors[e.name].data, header.length + e.begin);
  return out;
}

// ---------------------------------------------------------------------------
// Reading

/** A tensor's entry in a header; `begin`/`end` are offsets into the data buffer. */
export interface TensorInfo {
  dtype: SafeDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Tensor `data` in the result are views into `buf`, not copies. */
export function deserialize(buf: Uint8Array): { tensors: Record<string, RawTensor>; metadata: Record<string, string> } {
  if (buf.length < 8) fail(`file is ${buf.length} bytes, shorter than the 8-byte header length`);
  const n = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n > BigInt(buf.length - 8)) fail(`header length ${n} is beyond the end of the file (${buf.length - 8} bytes after the length)`);
  const headerLen = Number(n);
  const dataStart = 8 + headerLen;
  const { infos, metadata } = parseHeader(buf.subarray(8, dataStart), buf.length - dataStart);
  const tensors: Record<string, RawTensor> = {};
  for (const [name, i] of Object.entries(infos)) {
    setOwn(tensors, name, { dtype: i.dtype, shape: i.shape, data: new Uint8Array(buf.buffer, buf.byteOffset + dataStart + i.begin, i.end - i.begin) });
  }
  return { tensors, metadata };
}

/**
 * Validates a header (the N bytes after the length) against a data buffer of `dataLen` bytes:
 * every entry well formed, and the tensors tiling the buffer exactly. `truncated`, when given,
 * words the error for tensors that end beyond the buffer (a file cut short).
 */
function parseHeader(bytes: Uint8Array, dataLen: number, truncated?: (dataEnd: number) => string): { infos: Record<string, TensorInfo>; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    fail('header is not valid UTF-8');
  }
  const header = parseJson(text);
  if (!(header instanceof Map)) fail('header is not a JSON object');

  let metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const infos: Record<string, TensorInfo> = {};

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
    spans.push({ name, begin, end });
    setOwn(infos, name, { dtype, shape, begin, end });
  }
  const dataEnd = spans.reduce((m, s) => Math.max(m, s.end), 0);
  if (truncated && dataEnd > dataLen) fail(truncated(dataEnd));
  for (const s of spans) if (s.end > dataLen) fail(`tensor ${JSON.stringify(s.name)}: data_offsets end ${s.end} is beyond the ${dataLen}-byte data buffer`);

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

  return { infos, metadata };
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
// Files: written and read tensor by tensor, so that a file may exceed one Buffer (4 GiB); a
// single tensor is still one Uint8Array, so each must stay under 4 GiB.

export function saveRaw(file: string, tensors: Record<string, RawTensor>, metadata?: Record<string, string>): void {
  checkData(tensors);
  const { header, entries } = layout(tensors, metadata);
  writeFileAtomic(file, (write) => {
    write(header);
    for (const e of entries) write(tensors[e.name].data);
  });
}

/** An open safetensors file: its validated header, and reads of one tensor at a time. */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  /** Entries by name, in the header's order. */
  readonly tensors: Readonly<Record<string, TensorInfo>>;
  /** Where the data buffer starts in the file (8 + header length). */
  readonly dataStart: number;
  private fd: number | null;

  private constructor(file: string, fd: number, dataStart: number, tensors: Record<string, TensorInfo>, metadata: Record<string, string>) {
    this.path = file;
    this.fd = fd;
    this.dataStart = dataStart;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /**
   * Opens `file` and validates its header against its size (without reading the data). Errors
   * name the file and say what is wrong: missing, a directory, not a safetensors file, truncated.
   */
  static open(file: string): SafetensorsFile {
    const bad = (msg: string): never => fail(`${file}: ${msg}`);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') bad('no such file');
      if (code === 'EISDIR') bad('is a directory, not a safetensors file');
      bad(`cannot open it: ${(err as Error).message}`);
    }
    try {
      const st = fs.fstatSync(fd!);
      if (st.isDirectory()) bad('is a directory, not a safetensors file');
      const size = st.size;
      if (size < 8) bad(`not a safetensors file: it is ${size} bytes, shorter than the 8-byte header length`);
      const first = readExactly(fd!, 8, 0, file);
      const n = Buffer.from(first).readBigUInt64LE(0);
      if (n > BigInt(MAX_HEADER_BYTES)) {
        const ascii = /^[\x20-\x7e\t\r\n]{8}$/.test(Buffer.from(first).toString('latin1')) ? ` (it starts with the text ${JSON.stringify(Buffer.from(first).toString('latin1'))})` : '';
        bad(`not a safetensors file: its first 8 bytes give a header length of ${n}, over the ${MAX_HEADER_BYTES}-byte limit${ascii}`);
      }
      const headerLen = Number(n);
      if (8 + headerLen > size) bad(`truncated: the header says it is ${headerLen} bytes, the file has ${size - 8} after the length`);
      const dataStart = 8 + headerLen;
      const dataLen = size - dataStart;
      let parsed: ReturnType<typeof parseHeader>;
      try {
        parsed = parseHeader(readExactly(fd!, headerLen, 8, file), dataLen,
          (end) => `truncated: the header says the data is ${end} bytes (file size ${dataStart + end}), the file has ${dataLen} (file size ${size})`);
      } catch (err) {
        bad((err as Error).message.replace(/^safetensors: /, ''));
      }
      return new SafetensorsFile(file, fd!, dataStart, parsed!.infos, parsed!.metadata);
    } catch (err) {
      fs.closeSync(fd!);
      throw err;
    }
  }

  /** The bytes of one tensor, read from the file into a fresh (aligned) buffer. */
  read(name: string): RawTensor {
    if (this.fd === null) fail(`${this.path}: read after close`);
    const info = Object.prototype.hasOwnProperty.call(this.tensors, name) ? this.tensors[name] : undefined;
    if (!info) fail(`${this.path}: no tensor ${JSON.stringify(name)}`);
    const n = info.end - info.begin;
    if (n > MAX_TENSOR_BYTES) fail(`${this.path}: tensor ${JSON.stringify(name)} is ${n} bytes; tensors of ${MAX_TENSOR_BYTES} bytes (4 GiB) or more cannot be read into one buffer`);
    return { dtype: info.dtype, shape: info.shape, data: readExactly(this.fd, n, this.dataStart + info.begin, this.path) };
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** The largest typed array V8 makes (and so the largest tensor a file read can return). */
export const MAX_TENSOR_BYTES = 2 ** 32 - 1;

function readExactly(fd: number, n: number, position: number, file: string): Uint8Array {
  const buf = new Uint8Array(n);
  let done = 0;
  while (done < n) {
    const got = fs.readSync(fd, buf, done, Math.min(n - done, MAX_IO), position + done);
    if (got === 0) fail(`${file}: truncated: ended after ${position + done} bytes while reading`);
    done += got;
  }
  return buf;
}

/** Reads and fully validates `file`, one tensor at a time (each in its own aligned buffer). */
export function loadRaw(file: string): { tensors: Record<string, RawTensor>; metadata: Record<string, string> } {
  const f = SafetensorsFile.open(file);
  try {
    const tensors: Record<string, RawTensor> = {};
    for (const name of Object.keys(f.tensors)) setOwn(tensors, name, f.read(name));
    return { tensors, metadata: f.metadata };
  } finally {
    f.close();
  }
}
