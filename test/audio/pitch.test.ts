import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { functions as torch, scope, tensor } from '../../src/tensor';
import { hzToMidi, notePitch, pitchAccuracy, renderNote, yin } from '../../src/audio';

const sr = 16000;
const sine = (f: number, n = 8000, phase = 0.3) => torch.arange(n, { dtype: 'float64' }).mul((2 * Math.PI * f) / sr).add(phase).sin();

test('yin: pure tones at known frequencies (closed form: f0 = sampleRate / period), within 1 cent below 400 Hz, 5 above', () => {
  scope(() => {
    for (const f of [55, 110, 261.6256, 440, 987.77, 1500]) {
      const { f0, aperiodicity } = yin(sine(f), { sampleRate: sr });
      const v = f0.dataSync();
      assert.ok(v.every(Number.isFinite), `${f} Hz: every frame voiced`);
      // Parabolic interpolation of d' is exact only for a parabola: its bias grows as the period shrinks to a few
      // dozen samples (16 samples at 1 kHz), so high tones get a looser bound.
      const tol = f < 400 ? 1 : 5;
      for (const e of v) assert.ok(Math.abs(1200 * Math.log2(e / f)) < tol, `${f} Hz estimated ${e}`);
      assert.ok(aperiodicity.max().item() < 0.1); // below YIN's threshold: periodic
    }
  });
});

test('yin: a harmonic tone without its fundamental still has the fundamental pitch; noise is unvoiced', () => {
  scope(() => {
    const f = 200; // harmonics 2..5 only
    const x = [2, 3, 4, 5].map((k) => sine(k * f, 8000, k)).reduce((a, b) => a.add(b));
    const v = yin(x, { sampleRate: sr }).f0.dataSync();
    for (const e of v) assert.ok(Math.abs(1200 * Math.log2(e / f)) < 5, `missing fundamental estimated ${e}`);
    const noise = torch.randn([8000], { dtype: 'float64', generator: new (require('../../src/tensor').Generator)(1) });
    const n = yin(noise, { sampleRate: sr }).f0.dataSync();
    assert.ok(n.filter(Number.isFinite).length <= n.length / 4, 'white noise is mostly unvoiced');
  });
});

test('notePitch / pitchAccuracy: MIDI numbers, octave errors counted; validated on rendered notes', () => {
  scope(() => {
    assert.equal(hzToMidi(440), 69);
    const est = notePitch(torch.stack([sine(440), sine(220)], 0), { sampleRate: sr });
    assert.ok(Math.abs(est[0] - 69) < 0.01 && Math.abs(est[1] - 57) < 0.01);
    const acc = pitchAccuracy(torch.stack([sine(440), sine(220)], 0), [69, 69], { sampleRate: sr });
    assert.equal(acc.accuracy, 0.5);
    assert.equal(acc.pitchClassAccuracy, 1);
    // Rendered notes (fluidsynth): flute, violin and trumpet at three pitches are recognised.
    const notes = [], targets = [];
    for (const program of [73, 40, 56]) for (const pitch of [55, 67, 79]) {
      notes.push(tensor(renderNote({ program, pitch, velocity: 100, seconds: 0.5 })));
      targets.push(pitch);
    }
    const r = pitchAccuracy(torch.stack(notes, 0), targets, { sampleRate: sr });
    assert.equal(r.accuracy, 1, `estimated ${r.estimated.map((p) => p.toFixed(2)).join(', ')} for ${targets.join(', ')}`);
    assert.throws(() => yin(sine(440, 300), { sampleRate: sr }), /too short for frames/);
    assert.throws(() => yin(sine(440), { sampleRate: sr, fMax: 9000 }), /need 0 < fMin < fMax < sampleRate \/ 2/);
  });
});
