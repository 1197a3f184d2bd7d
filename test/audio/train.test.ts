import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, functions as torch, scope } from '../../src/tensor';
import { loadDiffWave, loadWavenet, muLawDecodeTorchaudio, noteCrops, readWav, trainDiffWave, trainWavenet } from '../../src/audio';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-audio-train-'));
process.env.REFINERY_CACHE_DIR = path.join(tmp, 'cache');
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const data = { pitches: [55, 67, 79], velocities: [100], programs: [0, 40, 73], seconds: 0.25 };

test('noteCrops: crops of silence-padded notes, mu-law coded; the same generator gives the same batch', () => {
  scope(() => {
    const audio = torch.linspace(-0.9, 0.9, 50).reshape([2, 25]);
    const a = noteCrops(audio, 10, 5, 6, new Generator(1)), b = noteCrops(audio, 10, 5, 6, new Generator(1));
    assert.deepEqual(a.codes.dataSync(), b.codes.dataSync());
    assert.deepEqual(a.codes.shape, [6, 10]);
    // each crop is a run of consecutive samples of its note (or the silence before it)
    const x = muLawDecodeTorchaudio(a.codes);
    const idx = a.index.dataSync();
    for (let i = 0; i < 6; i++) {
      const row = x.select(0, i).dataSync(), note = audio.select(0, idx[i]).dataSync();
      const padded = [...new Array(5).fill(0), ...note];
      const start = padded.findIndex((_, s) => row.every((v, j) => Math.abs(v - padded[s + j]) < 0.02 + 0.05 * Math.abs(padded[s + j])));
      assert.ok(start >= 0, `crop ${i} is not a window of note ${idx[i]}`);
    }
    assert.throws(() => noteCrops(audio, 40, 5, 1, new Generator(1)), /length 40 exceeds the 30 samples of a padded note/);
  });
});

test('refinery train wavenet / train diffwave as library calls: run folders with checkpoints, notes, pictures and reports', async () => {
  const w = await trainWavenet({ config: { data, model: { layers: 4, stacks: 1, residualChannels: 8, gateChannels: 8, skipChannels: 8 }, cropLength: 64 }, maxSteps: 3, evalEvery: 2, sampleSeconds: 0.1, runsDir: tmp, name: 'wn', log: null });
  assert.equal(w.status, 'completed');
  assert.equal(w.step, 3);
  assert.ok(Number.isFinite(w.valBits) && w.valBits > 0 && w.valBits < 9, `validation bits ${w.valBits}`);
  for (const f of ['config.json', 'metrics.jsonl', 'index.html', 'wavenet.safetensors', 'notes/waveforms-generated.png', 'notes/spectrograms-real.png']) assert.ok(fs.existsSync(path.join(w.runDir, f)), f);
  const wavs = fs.readdirSync(path.join(w.runDir, 'notes')).filter((f) => f.endsWith('-generated.wav'));
  assert.equal(wavs.length, 3);
  const wav = readWav(path.join(w.runDir, 'notes', wavs[0]));
  assert.equal(wav.sampleRate, 16000);
  assert.equal(wav.samples.shape[1], 1600);
  assert.match(fs.readFileSync(path.join(w.runDir, 'index.html'), 'utf8'), /<audio controls[^>]*generated\.wav/);
  const { model } = loadWavenet(w.out!);
  assert.equal(model.config.layers, 4);

  const d = await trainDiffWave({ config: { data, model: { layers: 2, cycle: 2, residualChannels: 8 } }, maxSteps: 2, evalEvery: 1, sampleSteps: 2, runsDir: tmp, name: 'dw', log: null });
  assert.equal(d.status, 'completed');
  assert.ok(d.pitchAccuracy && d.pitchAccuracy.real === 1, `real notes' pitch accuracy ${JSON.stringify(d.pitchAccuracy)}`);
  for (const f of ['index.html', 'diffwave.safetensors', 'notes/waveforms-real.png']) assert.ok(fs.existsSync(path.join(d.runDir, f)), f);
  assert.equal(loadDiffWave(d.out!).config.layers, 2);
  await assert.rejects(trainWavenet({ config: { data, cropLength: 10 }, maxSteps: 1, runsDir: tmp, name: 'bad', log: null }), /cropLength must be at least the receptive field \(2047 samples\), got 10/);
});
