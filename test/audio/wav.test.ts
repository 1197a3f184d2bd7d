import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, functions as torch, scope, tensor } from '../../src/tensor';
import { decodeWav, encodeWav, readWav, writeWav } from '../../src/audio';
import { fx, maxAbsDiff, realT } from './fixture';

const dir = path.resolve(__dirname, '../../../test/audio/wav');

test('readWav: PCM 8/16/24/32-bit mono and stereo, float32 with a LIST chunk, WAVE_FORMAT_EXTENSIBLE, as torchaudio.load reads them', () => {
  const names = Object.keys(fx.wav);
  assert.equal(names.length, 10);
  scope(() => {
    for (const name of names) {
      const w = readWav(path.join(dir, name));
      const want = realT(fx.wav[name].samples);
      assert.equal(w.sampleRate, fx.wav[name].sampleRate, name);
      assert.deepEqual(w.samples.shape, want.shape, name);
      // integer / 2^(bits - 1) is exact in float32 up to 24 bits; sox (torchaudio's backend) holds
      // samples as 32-bit integers, so 32-bit PCM and float files go through one float32 rounding
      const tol = name.startsWith('pcm32') || name.startsWith('float') ? 2 ** -24 : 0;
      assert.ok(maxAbsDiff(w.samples, want) <= tol, `${name}: ${maxAbsDiff(w.samples, want)}`);
    }
    const f = readWav(path.join(dir, 'float32_2ch_list.wav'));
    assert.equal(f.float, true);
    assert.equal(f.bitsPerSample, 32);
  });
});

test('writeWav then readWav round trips every format, mono and stereo; integers quantise to within half a step', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-wav-'));
  try {
    scope(() => {
      // within [-0.98, 0.98), below 8-bit's largest code 127/128, so nothing clips (clipping is tested below)
      const x = torch.rand([2, 301], { generator: new Generator(4) }).mul(2).sub(1).mul(0.98);
      for (const [bits, float] of [[8, false], [16, false], [24, false], [32, false], [32, true], [64, true]] as const) {
        for (const s of [x, x.select(0, 0)]) {
          const file = path.join(tmp, `t${bits}${float}.wav`);
          writeWav(file, s, 44100, { bitsPerSample: bits, float });
          const w = readWav(file);
          assert.equal(w.sampleRate, 44100);
          assert.equal(w.bitsPerSample, bits);
          const want = s.ndim === 1 ? s.unsqueeze(0) : s;
          assert.deepEqual(w.samples.shape, want.shape);
          // half a quantisation step 2^-(bits-1) / 2, plus float32's own rounding of the result
          const tol = float ? 0 : 2 ** -bits + 2 ** -24;
          assert.ok(maxAbsDiff(w.samples, want) <= tol, `${bits}-bit${float ? ' float' : ''}: ${maxAbsDiff(w.samples, want)}`);
          assert.equal(fs.statSync(file).size, 44 + want.shape[0] * want.shape[1] * (bits / 8) + ((want.shape[0] * want.shape[1] * (bits / 8)) & 1));
        }
      }
      // integer formats clip to [-1, 1 - 2^-(bits-1)]
      const clipped = decodeWav(encodeWav(tensor([-3, 2, 1, -1]), 8000, { bitsPerSample: 16, float: false })).samples.dataSync();
      assert.deepEqual(clipped, [-1, 32767 / 32768, 32767 / 32768, -1]);
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('readWav bad input: a non-WAV file, a truncated header, a 0-length file, a truncated data chunk, unsupported formats', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-wav-'));
  try {
    const put = (name: string, bytes: Uint8Array) => {
      const f = path.join(tmp, name);
      fs.writeFileSync(f, bytes);
      return f;
    };
    const good = fs.readFileSync(path.join(dir, 'pcm16_2ch.wav'));
    assert.throws(() => readWav(put('empty.wav', new Uint8Array(0))), /readWav: .*empty\.wav is not a WAV file this reader supports: the file is empty \(0 bytes\)/);
    assert.throws(() => readWav(put('short.wav', good.subarray(0, 7))), /truncated header \(7 bytes, a RIFF header needs 12\)/);
    assert.throws(() => readWav(put('text.wav', Buffer.from('hello, this is not audio'))), /no RIFF\/WAVE signature \(starts with "hell"/);
    assert.throws(() => readWav(put('cut.wav', good.subarray(0, good.length - 10))), /truncated data chunk \(86 of 96 bytes\)/);
    assert.throws(() => readWav(put('nofmt.wav', good.subarray(0, 30))), /truncated fmt chunk/);
    const alaw = Buffer.from(good);
    alaw.writeUInt16LE(6, 20);
    assert.throws(() => readWav(put('alaw.wav', alaw)), /sample format 6 \(supported: 1 = PCM, 3 = IEEE float\)/);
    const b12 = Buffer.from(good);
    b12.writeUInt16LE(12, 34);
    assert.throws(() => readWav(put('b12.wav', b12)), /12-bit PCM samples/);
    assert.throws(() => readWav(path.join(tmp, 'missing.wav')), /ENOENT/);
    scope(() => {
      assert.throws(() => encodeWav(tensor([0.1]), 8000, { bitsPerSample: 12, float: false }), /encodeWav: bitsPerSample must be 8, 16, 24 or 32 \(PCM\) or 32, 64 \(float\), got 12/);
      assert.throws(() => encodeWav(tensor([0.1]), 0), /encodeWav: sampleRate must be a positive integer, got 0/);
      assert.throws(() => encodeWav(tensor([[[0.1]]]), 8000), /encodeWav: samples must be \[frames\] or \[channels, frames\], got \[1, 1, 1\]/);
      assert.throws(() => encodeWav(tensor([NaN]), 8000), /encodeWav: sample 0 of channel 0 is NaN/);
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
