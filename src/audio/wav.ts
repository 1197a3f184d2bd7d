// WAV (RIFF WAVE) read and write: PCM 8 (unsigned), 16, 24 and 32-bit integer, and IEEE float 32 and
// 64-bit, any number of channels, WAVE_FORMAT_EXTENSIBLE read. Samples as float32 in [-1, 1), integers
// divided by 2^(bits - 1) (8-bit: (u - 128) / 128), as torchaudio.load(normalize=True) and soundfile do.
import * as fs from 'fs';
import { Tensor, tensor, writeFileAtomic } from '../tensor';

export interface WavFormat {
  /** 8, 16, 24 or 32 for integer PCM; 32 or 64 for float. */
  bitsPerSample: number;
  float: boolean;
}

export interface Wav extends WavFormat {
  sampleRate: number;
  /** float32 [channels, frames]. */
  samples: Tensor;
}

const PCM = 1, FLOAT = 3, EXTENSIBLE = 0xfffe;

function fail(file: string, why: string): never {
  throw new Error(`readWav: ${file} is not a WAV file this reader supports: ${why}`);
}

/** Parse WAV bytes; `name` appears in errors. */
export function decodeWav(buf: Uint8Array, name = '<buffer>'): Wav {
  if (!(buf instanceof Uint8Array)) throw new TypeError(`decodeWav: buf must be a Uint8Array or Buffer, got ${typeof buf}`);
  if (buf.length === 0) fail(name, 'the file is empty (0 bytes)');
  if (buf.length < 12) fail(name, `truncated header (${buf.length} bytes, a RIFF header needs 12)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = (o: number) => String.fromCharCode(buf[o], buf[o + 1], buf[o + 2], buf[o + 3]);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') fail(name, `no RIFF/WAVE signature (starts with ${JSON.stringify(tag(0))}, form ${JSON.stringify(tag(8))})`);
  let fmt: { format: number; channels: number; sampleRate: number; blockAlign: number; bits: number } | null = null;
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = tag(off), size = dv.getUint32(off + 4, true), body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) fail(name, `truncated fmt chunk (${Math.min(size, buf.length - body)} bytes, needs 16)`);
      let format = dv.getUint16(body, true);
      const bits = dv.getUint16(body + 14, true);
      if (format === EXTENSIBLE) {
        if (size < 40 || body + 26 > buf.length) fail(name, 'truncated WAVE_FORMAT_EXTENSIBLE fmt chunk');
        format = dv.getUint16(body + 24, true); // first two bytes of the subformat GUID
      }
      fmt = { format, channels: dv.getUint16(body + 2, true), sampleRate: dv.getUint32(body + 4, true), blockAlign: dv.getUint16(body + 12, true), bits };
    } else if (id === 'data') {
      if (!fmt) fail(name, 'data chunk before the fmt chunk');
      const { format, channels, sampleRate, blockAlign, bits } = fmt;
      const float = format === FLOAT;
      if (format !== PCM && format !== FLOAT) fail(name, `sample format ${format} (supported: 1 = PCM, 3 = IEEE float)`);
      if (float ? bits !== 32 && bits !== 64 : ![8, 16, 24, 32].includes(bits)) fail(name, `${bits}-bit ${float ? 'float' : 'PCM'} samples (supported: PCM 8/16/24/32, float 32/64)`);
      if (channels < 1 || blockAlign !== channels * (bits / 8)) fail(name, `inconsistent fmt chunk (channels ${channels}, block align ${blockAlign}, ${bits} bits)`);
      if (sampleRate < 1) fail(name, `sample rate ${sampleRate}`);
      const avail = Math.min(size, buf.length - body);
      if (avail < size) fail(name, `truncated data chunk (${avail} of ${size} bytes)`);
      const frames = Math.floor(size / blockAlign);
      const out = new Float32Array(channels * frames);
      const w = bits / 8;
      for (let f = 0; f < frames; f++) {
        for (let c = 0; c < channels; c++) {
          const p = body + f * blockAlign + c * w;
          let v: number;
          if (float) v = bits === 32 ? dv.getFloat32(p, true) : dv.getFloat64(p, true);
          else if (bits === 8) v = (buf[p] - 128) / 128;
          else if (bits === 16) v = dv.getInt16(p, true) / 32768;
          else if (bits === 24) v = (((buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16)) << 8) >> 8) / 8388608;
          else v = dv.getInt32(p, true) / 2147483648;
          out[c * frames + f] = v;
        }
      }
      return { sampleRate, bitsPerSample: bits, float, samples: tensor(out, { shape: [channels, frames] }) };
    }
    off = body + size + (size & 1); // chunks are padded to even sizes
  }
  fail(name, fmt ? 'no data chunk' : 'no fmt chunk');
}

/** Read a WAV file: float32 samples [channels, frames] in [-1, 1). */
export function readWav(file: string): Wav {
  if (typeof file !== 'string') throw new TypeError(`readWav: file must be a path string, got ${typeof file}`);
  return decodeWav(fs.readFileSync(file), file);
}

/**
 * Encode samples [channels, frames] (or [frames], mono) as WAV bytes. Integer formats clip to
 * [-1, 1) and round to nearest (x * 2^(bits - 1)); float formats store the values as they are.
 */
export function encodeWav(samples: Tensor, sampleRate: number, format: WavFormat = { bitsPerSample: 16, float: false }): Buffer {
  if (!(samples instanceof Tensor)) throw new TypeError(`encodeWav: samples must be a Tensor, got ${typeof samples}`);
  if (samples.ndim !== 1 && samples.ndim !== 2) throw new RangeError(`encodeWav: samples must be [frames] or [channels, frames], got [${samples.shape.join(', ')}]`);
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > 0xffffffff) throw new RangeError(`encodeWav: sampleRate must be a positive integer, got ${sampleRate}`);
  const { bitsPerSample: bits, float } = format;
  if (float ? bits !== 32 && bits !== 64 : ![8, 16, 24, 32].includes(bits)) {
    throw new RangeError(`encodeWav: bitsPerSample must be 8, 16, 24 or 32 (PCM) or 32, 64 (float), got ${bits}${float ? ' float' : ''}`);
  }
  const [channels, frames] = samples.ndim === 1 ? [1, samples.shape[0]] : samples.shape;
  if (channels < 1 || channels > 0xffff) throw new RangeError(`encodeWav: channels must be 1..65535, got ${channels}`);
  const data = samples.dataSync(); // row-major: channel c's frames at c * frames
  const w = bits / 8, blockAlign = channels * w, size = frames * blockAlign;
  if (size > 0xffffffff - 36) throw new RangeError(`encodeWav: ${size} bytes of samples exceed the 4 GiB RIFF limit`);
  const out = Buffer.alloc(44 + size + (size & 1));
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + size + (size & 1), 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(float ? FLOAT : PCM, 20);
  out.writeUInt16LE(channels, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * blockAlign, 28);
  out.writeUInt16LE(blockAlign, 32);
  out.writeUInt16LE(bits, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(size, 40);
  const full = 2 ** (bits - 1);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      const v = data[c * frames + f];
      const p = 44 + f * blockAlign + c * w;
      if (float) {
        if (bits === 32) out.writeFloatLE(v, p);
        else out.writeDoubleLE(v, p);
        continue;
      }
      if (Number.isNaN(v)) throw new RangeError(`encodeWav: sample ${f} of channel ${c} is NaN`);
      const q = Math.max(-full, Math.min(full - 1, Math.round(v * full)));
      if (bits === 8) out.writeUInt8(q + 128, p);
      else if (bits === 16) out.writeInt16LE(q, p);
      else if (bits === 24) out.writeIntLE(q, p, 3);
      else out.writeInt32LE(q, p);
    }
  }
  return out;
}

/** Write a WAV file (atomically). */
export function writeWav(file: string, samples: Tensor, sampleRate: number, format?: WavFormat): void {
  if (typeof file !== 'string') throw new TypeError(`writeWav: file must be a path string, got ${typeof file}`);
  writeFileAtomic(file, encodeWav(samples, sampleRate, format));
}
