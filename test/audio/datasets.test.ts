import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { scope } from '../../src/tensor';
import { miniNsynth, renderNote, speak, spokenWords, splitOf } from '../../src/audio';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-audio-data-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

// Frequency of the strongest spectral peak of x (a plain DFT around the expected frequency, with
// parabolic interpolation of the log magnitude): an estimator independent of our STFT code.
function peakHz(x: Float32Array, rate: number, lo: number, hi: number): number {
  const n = x.length, step = 0.25;
  const mag = (f: number) => {
    let re = 0, im = 0;
    for (let t = 0; t < n; t++) {
      const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * t) / n); // Hann window
      re += w * x[t] * Math.cos((2 * Math.PI * f * t) / rate);
      im -= w * x[t] * Math.sin((2 * Math.PI * f * t) / rate);
    }
    return Math.hypot(re, im);
  };
  let best = lo, bestM = -1;
  for (let f = lo; f <= hi; f += step) {
    const m = mag(f);
    if (m > bestM) [best, bestM] = [f, m];
  }
  return best;
}

test('renderNote: a deterministic render of exactly seconds x sampleRate samples at the MIDI pitch (A4 = 440 Hz, equal temperament)', () => {
  const a = renderNote({ program: 73, pitch: 69, velocity: 100, seconds: 0.5 }); // flute: a strong fundamental
  const b = renderNote({ program: 73, pitch: 69, velocity: 100, seconds: 0.5 });
  assert.equal(a.length, 8000);
  assert.deepEqual(a, b);
  let peak = 0;
  for (const v of a) peak = Math.max(peak, Math.abs(v));
  assert.ok(peak > 0.05 && peak < 1, `peak amplitude ${peak}`);
  // Sustained part (0.1..0.35 s): the fundamental within 10 cents of 440 Hz; the DFT grid is 0.25 Hz.
  const f = peakHz(a.subarray(1600, 5600), 16000, 400, 480);
  assert.ok(Math.abs(1200 * Math.log2(f / 440)) < 10, `A4 rendered at ${f} Hz`);
  const f2 = peakHz(renderNote({ program: 73, pitch: 81, velocity: 100, seconds: 0.5 }).subarray(1600, 5600), 16000, 840, 920);
  assert.ok(Math.abs(1200 * Math.log2(f2 / 880)) < 10, `A5 rendered at ${f2} Hz`);
  // Louder velocity, louder note.
  const quiet = renderNote({ program: 73, pitch: 69, velocity: 30, seconds: 0.5 });
  const rms = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  assert.ok(rms(quiet) < rms(a));
});

test('renderNote / speak: bad arguments are named with the value and what was expected', () => {
  assert.throws(() => renderNote({ program: 128, pitch: 60, velocity: 100 }), /program must hold integers in 0\.\.127, got 128/);
  assert.throws(() => renderNote({ program: 0, pitch: 60.5, velocity: 100 }), /pitch must hold integers in 0\.\.127, got 60\.5/);
  assert.throws(() => renderNote({ program: 0, pitch: 60, velocity: 0 }), /velocity must hold integers in 1\.\.127, got 0/);
  assert.throws(() => renderNote({ program: 0, pitch: 60, velocity: 1, seconds: 0 }), /seconds must be in \(0, 30\], got 0/);
  assert.throws(() => renderNote({ program: 0, pitch: 60, velocity: 1, soundfont: '/nonexistent.sf2' }), /soundfont \/nonexistent\.sf2 not found/);
  assert.throws(() => speak(''), /text must be a non-empty string/);
  assert.throws(() => speak('hi', { voice: 'en; rm -rf /' }), /voice must be an espeak-ng voice name/);
  assert.throws(() => miniNsynth('training' as never, { cacheDir: tmp }), /split must be 'train', 'valid', 'test' or 'all', got "training"/);
});

test('miniNsynth: the grid with its labels, rendered once into the cache, read back identically; splits partition it', () => {
  scope(() => {
    const grid = { pitches: [60, 67], velocities: [64, 127], programs: [0, 40], seconds: 0.25, cacheDir: tmp };
    const all = miniNsynth('all', grid);
    assert.deepEqual(all.audio.shape, [8, 4000]);
    assert.equal(all.sampleRate, 16000);
    assert.deepEqual(all.labels.pitch.dataSync(), [60, 60, 67, 67, 60, 60, 67, 67]);
    assert.deepEqual(all.labels.velocity.dataSync(), [64, 127, 64, 127, 64, 127, 64, 127]);
    assert.deepEqual(all.labels.instrument.dataSync(), [0, 0, 0, 0, 1, 1, 1, 1]);
    assert.deepEqual(all.classes.instrument, ['acoustic grand piano', 'violin']);
    // The example for (violin, 67, 127) is the same render as renderNote's.
    const direct = renderNote({ program: 40, pitch: 67, velocity: 127, seconds: 0.25 });
    assert.deepEqual(all.audio.select(0, 7).toTypedArray(), direct);
    const files = fs.readdirSync(tmp).filter((f) => f.startsWith('mini-nsynth-'));
    assert.equal(files.length, 1);
    const mtime = fs.statSync(path.join(tmp, files[0])).mtimeMs;
    const again = miniNsynth('all', grid);
    assert.equal(fs.statSync(path.join(tmp, files[0])).mtimeMs, mtime, 'read from the cache, not rendered again');
    assert.equal(again.audio.sub(all.audio).abs().max().item(), 0);
    const parts = (['train', 'valid', 'test'] as const).map((s) => miniNsynth(s, grid));
    assert.equal(parts.reduce((n, p) => n + p.audio.shape[0], 0), 8);
    const keyOf = (d: typeof all, i: number) => `${[0, 40][d.labels.instrument.dataSync()[i]]}/${d.labels.pitch.dataSync()[i]}/${d.labels.velocity.dataSync()[i]}`;
    parts.forEach((p, k) => {
      for (let i = 0; i < p.audio.shape[0]; i++) assert.equal(splitOf(keyOf(p, i)), ['train', 'valid', 'test'][k]);
    });
    // A changed grid is a different cache entry; a corrupt cache file is rendered again, with a warning.
    fs.writeFileSync(path.join(tmp, files[0]), 'not a safetensors file');
    const warnings: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    (process.stderr as { write: unknown }).write = (s: string) => (warnings.push(String(s)), true);
    let healed;
    try {
      healed = miniNsynth('all', grid);
    } finally {
      (process.stderr as { write: unknown }).write = write;
    }
    assert.match(warnings.join(''), /ignoring unreadable cache/);
    assert.equal(healed.audio.sub(all.audio).abs().max().item(), 0);
  });
});

test('splitOf: a fixed assignment, about 80/10/10 over many keys', () => {
  const counts = { train: 0, valid: 0, test: 0 };
  for (let i = 0; i < 5000; i++) counts[splitOf(`k${i}`)]++;
  assert.equal(splitOf('0/60/127'), splitOf('0/60/127'));
  // Binomial(5000, 0.1): standard deviation 21; 6 sigma bounds.
  assert.ok(Math.abs(counts.valid - 500) < 130 && Math.abs(counts.test - 500) < 130, JSON.stringify(counts));
});

test('speak / spokenWords: espeak-ng speech resampled to 16 kHz, trimmed and centred, labelled by word and voice', () => {
  scope(() => {
    const x = speak('seven', { voice: 'en-us+f3' });
    assert.ok(x.length > 0.2 * 16000 && x.length < 1.5 * 16000, `length ${x.length}`);
    const d = spokenWords('all', { words: ['one', 'two'], voices: ['en-us', 'en-gb'], rates: [160], seconds: 0.8, cacheDir: tmp });
    assert.deepEqual(d.audio.shape, [4, 12800]);
    assert.deepEqual(d.labels.word.dataSync(), [0, 0, 1, 1]);
    assert.deepEqual(d.labels.voice.dataSync(), [0, 1, 0, 1]);
    assert.deepEqual(d.classes.word, ['one', 'two']);
    // Centred: both ends of each window are quieter than its middle.
    for (let i = 0; i < 4; i++) {
      const w = d.audio.select(0, i);
      const edge = w.narrow(0, 0, 800).abs().max().item(), mid = w.narrow(0, 4000, 4800).abs().max().item();
      assert.ok(edge < mid, `example ${i}: edge ${edge} vs middle ${mid}`);
    }
  });
});
