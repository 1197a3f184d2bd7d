import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, functions as torch, scope, tensor } from '../../src/tensor';
import { saveCheckpoint } from '../../src/train';
import {
  VOCODER_MEL, WAVENET_KIND, WaveNet, featuresToMel, generateNotes, logSpectralDistance, melCrops, melFeatures, melFilterbank,
  melMagnitude, melToLinear, muLawDecodeTorchaudio, padClips, spectralConvergenceOf, trainWavenet, vocodeFile, vocodeWithWavenet, writeWav,
} from '../../src/audio';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-vocoder-'));
process.env.REFINERY_CACHE_DIR = path.join(tmp, 'cache');
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const tone = (f: number, n: number, sr = 16000, a = 0.5) => torch.arange(n, { dtype: 'float64' }).mul((2 * Math.PI * f) / sr).sin().mul(a);

test('logSpectralDistance and spectralConvergenceOf: a gain g gives |20 log10 g| dB and |1 - g| exactly; identical clips give 0', () => {
  scope(() => {
    const g = new Generator(3);
    const x = torch.randn([2, 4096], { generator: g, dtype: 'float64' }).mul(0.1).add(torch.stack([tone(440, 4096), tone(1000, 4096)], 0));
    for (const gain of [0.5, 2, 1.1]) {
      const lsd = logSpectralDistance(x, x.mul(gain)), sc = spectralConvergenceOf(x, x.mul(gain));
      lsd.forEach((v) => assert.ok(Math.abs(v - Math.abs(20 * Math.log10(gain))) < 1e-9, `LSD ${v} for gain ${gain}`));
      sc.forEach((v) => assert.ok(Math.abs(v - Math.abs(1 - gain)) < 1e-12, `SC ${v} for gain ${gain}`));
    }
    assert.deepEqual(logSpectralDistance(x, x), [0, 0]);
    assert.throws(() => logSpectralDistance(x, x.narrow(1, 0, 100)), /ref and est must have the same shape/);
  });
});

test('melToLinear: non-negative least squares; the mel of its answer matches a mel made from a non-negative spectrum, and more iterations never fit worse', () => {
  scope(() => {
    const B = melFilterbank(VOCODER_MEL).to('float64');
    const S = torch.rand([513, 20], { generator: new Generator(1), dtype: 'float64' }).pow(4);
    const M = B.matmul(S);
    const err = (it: number) => {
      const X = melToLinear(M, VOCODER_MEL, it);
      assert.ok((X.min().item() as number) >= 0, 'non-negative');
      return (B.matmul(X).sub(M).norm().item() as number) / (M.norm().item() as number);
    };
    const e10 = err(10), e100 = err(100), e400 = err(400);
    assert.ok(e100 <= e10 + 1e-12 && e400 <= e100 + 1e-12, `residuals ${e10} ${e100} ${e400}`);
    assert.ok(e400 < 0.02, `relative residual after 400 iterations ${e400}`);
    assert.throws(() => melToLinear(M.narrow(0, 0, 10)), /mel must be a Tensor \[\.\.\., 80, frames\]/);
  });
});

test('melFeatures invert through featuresToMel to the floored mel magnitude', () => {
  scope(() => {
    const x = tone(330, 8000, 16000).to('float32');
    const m = melMagnitude(x), back = featuresToMel(melFeatures(x));
    const want = m.clampMin(1e-5);
    assert.ok((back.sub(want).abs().div(want).max().item() as number) < 1e-4);
    assert.deepEqual(m.shape, [80, 1 + Math.floor(8000 / 256)]);
  });
});

test('melCrops: codes are mu-law of a hop-aligned window of the padded clip, and local frames are the features of that window\'s frames', () => {
  scope(() => {
    const audio = torch.stack([tone(220, 3000), tone(880, 3000)], 0).to('float32');
    const clips = padClips(audio, 300);
    assert.equal(clips.pad, 512); // ceil(300 / 256) * 256
    const { codes, local } = melCrops(clips, 700, 5, new Generator(7));
    assert.deepEqual(codes.shape, [5, 700]);
    assert.deepEqual(local.shape, [5, 80, 3]);
    const x = muLawDecodeTorchaudio(codes);
    for (let i = 0; i < 5; i++) {
      // find the clip and frame the crop came from: its local frames must be that clip's features at those frames
      let found = false;
      for (let c = 0; c < 2 && !found; c++) {
        for (let f = 0; f * 256 + 700 <= clips.audio.shape[1] && !found; f++) {
          const w = clips.audio.select(0, c).narrow(0, f * 256, 700);
          if ((w.sub(x.select(0, i)).abs().max().item() as number) < 0.03) {
            assert.ok((clips.features.select(0, c).narrow(1, f, 3).sub(local.select(0, i)).abs().max().item() as number) === 0);
            found = true;
          }
        }
      }
      assert.ok(found, `crop ${i} is not a hop-aligned window`);
    }
  });
});

test('a mel vocoder trains end to end (notes and speech), vocodes held-out clips beside Griffin-Lim, and `vocode` reads and writes WAV', async () => {
  const r = await trainWavenet({
    config: {
      conditioning: 'mel', data: { pitches: [58, 60, 62], velocities: [100], programs: [0], seconds: 0.25 }, speech: { words: ['two', 'six'], voices: ['en-us', 'en-gb'], rates: [160], seconds: 0.25 },
      model: { layers: 3, stacks: 1, residualChannels: 8, gateChannels: 8, skipChannels: 8 }, cropLength: 512,
    }, maxSteps: 2, evalEvery: 2, runsDir: tmp, name: 'voc', log: null,
  });
  assert.equal(r.status, 'completed');
  assert.equal(r.config.model.localChannels, 80);
  assert.deepEqual(r.config.model.globalClasses, {});
  for (const f of ['index.html', 'vocoded/spectrograms-wavenet.png', 'vocoded/spectrograms-griffin-lim.png']) assert.ok(fs.existsSync(path.join(r.runDir, f)), f);
  assert.ok(fs.readdirSync(path.join(r.runDir, 'vocoded')).some((f) => f.endsWith('-speech-wavenet.wav')));
  assert.match(fs.readFileSync(path.join(r.runDir, 'index.html'), 'utf8'), /Griffin-Lim/);

  // the CLI's library call
  const wav = path.join(tmp, 'in.wav');
  writeWav(wav, tone(440, 1600).to('float32'), 16000);
  const out = path.join(tmp, 'out.wav');
  const v = vocodeFile(wav, { out, checkpoint: r.out!, progress: false });
  assert.ok(fs.existsSync(out) && v.samples === 1600 && Number.isFinite(v.logSpectralDistance));
  const gl = vocodeFile(wav, { out, method: 'griffin-lim' });
  assert.ok(gl.spectralConvergence < 0.5, `Griffin-Lim on a pure tone: SC ${gl.spectralConvergence}`);

  // bad input: a rate the model was not trained on, a non-WAV file, a truncated header, an empty file, a note model
  const w22 = path.join(tmp, 'in22.wav');
  writeWav(w22, tone(440, 2205, 22050).to('float32'), 22050);
  assert.throws(() => vocodeFile(w22, { out, checkpoint: r.out! }), /in22\.wav is sampled at 22050 Hz, but the vocoder works at 16000 Hz \(pass --resample/);
  assert.equal(vocodeFile(w22, { out, checkpoint: r.out!, resample: true, progress: false }).samples, 1600);
  const txt = path.join(tmp, 'notes.txt');
  fs.writeFileSync(txt, 'not a sound at all, just some text');
  assert.throws(() => vocodeFile(txt, { out, checkpoint: r.out! }), /not a WAV file/);
  const trunc = path.join(tmp, 'trunc.wav');
  fs.writeFileSync(trunc, fs.readFileSync(wav).subarray(0, 20));
  assert.throws(() => vocodeFile(trunc, { out, checkpoint: r.out! }), /trunc\.wav.*(truncated|header)/);
  const empty = path.join(tmp, 'empty.wav');
  fs.writeFileSync(empty, '');
  assert.throws(() => vocodeFile(empty, { out, checkpoint: r.out! }), /empty/);
  const note = path.join(tmp, 'note-model.safetensors');
  saveCheckpoint(note, { model: new WaveNet({ layers: 2, globalClasses: { pitch: 128 } }, { generator: new Generator(0) }), step: 0, config: { kind: WAVENET_KIND, model: { layers: 2, globalClasses: { pitch: 128 } } } });
  assert.throws(() => vocodeFile(wav, { out, checkpoint: note }), /is a label-conditioned WaveNet.*not a mel vocoder/);
  assert.throws(() => generateNotes({ checkpoint: r.out!, pitch: 60, instrument: 0, out }), /is a mel vocoder/);
  scope(() => {
    const model = new WaveNet({ layers: 2, globalClasses: { pitch: 128 } });
    assert.throws(() => vocodeWithWavenet(model, tensor([[0, 0]])), /not a mel vocoder for 80 bands at hop 256/);
  });
});
