// The "generated vs real notes" section of an audio model's run report: a few validation notes spread
// over pitches and instruments, the model's notes for the same labels, WAV players, waveform and
// log-mel pictures, and the pitch accuracy (YIN) of both, so that a reader can see and hear how far
// the model is from the data.
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, scope, tensor } from '../tensor';
import type { AudioDataset } from './datasets';
import { writeWav } from './wav';
import { saveSpectrogramPng, saveWaveformPng } from './pictures';
import { pitchAccuracy } from './pitch';

/** Up to `count` indices spread evenly over 0..n-1 (the middle of each of `count` equal parts). */
export function spreadIndices(n: number, count: number): number[] {
  const k = Math.min(count, n);
  return Array.from({ length: k }, (_, i) => Math.floor(((i + 0.5) * n) / k));
}

/** Up to `count` notes spread evenly over the set (indices). */
export function spreadNotes(ds: AudioDataset, count = 6): number[] {
  return spreadIndices(ds.audio.shape[0], count);
}

/**
 * Writes dir/notes/ (WAVs and pictures) and returns the report section and the pitch accuracies.
 * `generate(labels, length)` returns the model's audio [B, length] for labels { pitch, instrument } of B notes.
 */
export function notesSection(dir: string, ds: AudioDataset, seconds: number, how: string,
  generate: (labels: Record<string, Tensor>, length: number) => Tensor, say: (m: string) => void, count = 6,
): { sections: { heading: string; html: string }[]; pitchAccuracy: { generated: number; real: number } } {
  return scope(() => {
    const notes = spreadNotes(ds, count);
    const index = tensor(notes, { dtype: 'int64' });
    const labels: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(ds.labels)) labels[k] = v.indexSelect(0, index);
    const length = Math.round(seconds * ds.sampleRate);
    const gen = generate(labels, length).to('float32');
    const real = ds.audio.indexSelect(0, index).narrow(1, 0, Math.min(length, ds.audio.shape[1]));
    fs.mkdirSync(path.join(dir, 'notes'), { recursive: true });
    const pitch = labels.pitch.dataSync(), inst = labels.instrument.dataSync();
    const yinOpts = { sampleRate: ds.sampleRate, fMin: 50, fMax: 2000 };
    // YIN needs clips of at least a frame and the longest lag (about 0.05 s at fMin 50 Hz); shorter notes are not scored.
    const score = (x: Tensor) => (x.shape[1] >= 1024 ? pitchAccuracy(x, pitch, yinOpts) : { accuracy: NaN, pitchClassAccuracy: NaN, estimated: pitch.map(() => NaN) });
    const accGen = score(gen), accReal = score(real);
    const fmt = (p: number) => (Number.isFinite(p) ? p.toFixed(2) : gen.shape[1] >= 1024 ? 'unvoiced' : 'too short');
    const rows: string[] = [];
    notes.forEach((_, i) => {
      const name = ds.classes.instrument[inst[i]];
      const tag = `${String(i).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-')}-${pitch[i]}`;
      writeWav(path.join(dir, 'notes', `${tag}-generated.wav`), gen.select(0, i), ds.sampleRate);
      writeWav(path.join(dir, 'notes', `${tag}-real.wav`), real.select(0, i), ds.sampleRate);
      rows.push(`<tr><td>${name}</td><td>${pitch[i]}</td><td>${fmt(accGen.estimated[i])}</td><td>${fmt(accReal.estimated[i])}</td>`
        + `<td><audio controls preload="none" src="notes/${tag}-generated.wav"></audio></td><td><audio controls preload="none" src="notes/${tag}-real.wav"></audio></td></tr>`);
    });
    saveWaveformPng(path.join(dir, 'notes', 'waveforms-generated.png'), gen, { width: 400, height: 48 });
    saveWaveformPng(path.join(dir, 'notes', 'waveforms-real.png'), real, { width: 400, height: 48 });
    saveSpectrogramPng(path.join(dir, 'notes', 'spectrograms-generated.png'), gen, ds.sampleRate, { nrow: notes.length });
    saveSpectrogramPng(path.join(dir, 'notes', 'spectrograms-real.png'), real, ds.sampleRate, { nrow: notes.length });
    say(`pitch accuracy (YIN, within 50 cents) of the ${notes.length} notes: generated ${(100 * accGen.accuracy).toFixed(0)}%, real ${(100 * accReal.accuracy).toFixed(0)}%`);
    const table = `<table><tr><th>instrument</th><th>pitch</th><th>YIN pitch, generated</th><th>YIN pitch, real</th><th>generated</th><th>real</th></tr>${rows.join('')}</table>`
      + `<p>Pitch accuracy (YIN within 50 cents of the label): generated ${(100 * accGen.accuracy).toFixed(0)}%, real ${(100 * accReal.accuracy).toFixed(0)}%.</p>`;
    const figs = ['generated', 'real'].map((w) => `<figure><figcaption>waveforms, ${w}</figcaption><img src="notes/waveforms-${w}.png"></figure>`
      + `<figure><figcaption>log-mel spectrograms, ${w} (left to right, as the table)</figcaption><img src="notes/spectrograms-${w}.png" style="height:160px;image-rendering:auto"></figure>`).join('');
    return {
      sections: [{ heading: `Notes: generated (${how}, ${seconds} s) and real, same pitch and instrument`, html: `${table}<div class="grid">${figs}</div>` }],
      pitchAccuracy: { generated: accGen.accuracy, real: accReal.accuracy },
    };
  });
}
