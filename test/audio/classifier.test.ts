import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, functions as torch, noGrad, scope } from '../../src/tensor';
import { saveCheckpoint } from '../../src/train';
import { featureStats } from '../../src/diffusion/metrics';
import {
  DIFFWAVE_KIND, DiffWave, InstrumentClassifier, generateNotes, instrumentAccuracy, instrumentScore, loadInstrumentClassifier, miniNsynth, readWav, trainInstrumentClassifier,
} from '../../src/audio';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-audio-clf-'));
process.env.REFINERY_CACHE_DIR = path.join(tmp, 'cache');
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

test('the instrument judge learns to tell piano, flute and a square lead apart, round-trips, and scores a set against itself with FD 0', () => {
  const data = { pitches: [48, 52, 55, 60, 64, 67, 72, 76], velocities: [100], programs: [0, 73, 80], seconds: 0.25 };
  const out = path.join(tmp, 'judge.safetensors');
  const r = trainInstrumentClassifier({ steps: 120, batchSize: 16, data, progress: false, out });
  const train = miniNsynth('train', data);
  const labels = Array.from(train.labels.instrument.dataSync());
  const acc = instrumentAccuracy(r.model, train.audio, labels);
  assert.ok(acc >= 0.75, `training-note accuracy ${acc} (chance is 1/3)`);
  const loaded = loadInstrumentClassifier(out);
  assert.equal(instrumentAccuracy(loaded, train.audio, labels), acc);
  scope(() => {
    // accuracy is the argmax agreement, computed here independently; FD of a set to itself is 0 (up to eigen-solver round-off)
    const logits = noGrad(() => loaded.forward(train.audio));
    const byHand = Array.from(logits.argmax(1).dataSync()).filter((p, i) => p === labels[i]).length / labels.length;
    const s = instrumentScore(loaded, train.audio, labels, train.audio);
    assert.equal(s.accuracy, byHand);
    // the matrix square roots of a rank-deficient covariance (fewer notes than features) leave sqrt(eps λ) terms
    const tr = featureStats(noGrad(() => loaded.features(train.audio))).cov.trace().item() as number;
    assert.ok(Math.abs(s.frechet) < 1e-5 * tr, `FD to itself ${s.frechet} (trace ${tr})`);
  });
  assert.throws(() => new InstrumentClassifier().features(torch.zeros([2, 100])), /audio must be a Tensor \[clips, samples >= 1024\]/);
  assert.throws(() => trainInstrumentClassifier({ steps: 0 }), /steps must be an integer in 1\.\.1000000, got 0/);
});

test('refinery generate audio --model diffwave: a DiffWave checkpoint writes notes of the asked length; bad labels are refused', () => {
  const ck = path.join(tmp, 'dw.safetensors');
  const cfg = { layers: 2, cycle: 2, residualChannels: 4, kernelSize: 3, globalClasses: { pitch: 128, instrument: 10 }, sampleRate: 16000, sigmaData: 0.2 };
  saveCheckpoint(ck, { model: new DiffWave(cfg, { generator: new Generator(0) }), step: 0, config: { kind: DIFFWAVE_KIND, model: cfg } });
  const out = path.join(tmp, 'n.wav');
  const r = generateNotes({ model: 'diffwave', checkpoint: ck, pitch: 60, instrument: 3, seconds: 0.1, count: 2, steps: 2, out });
  assert.deepEqual(r.files.map((f) => path.basename(f)), ['n-1.wav', 'n-2.wav']);
  const w = readWav(r.files[0]);
  assert.equal(w.sampleRate, 16000);
  assert.deepEqual(w.samples.shape, [1, 1600]);
  assert.throws(() => generateNotes({ model: 'diffwave', checkpoint: ck, pitch: 60, instrument: 10, out }), /instrument must be in 0\.\.9, got 10/);
  assert.throws(() => generateNotes({ model: 'diffwave', checkpoint: ck, pitch: 60, instrument: 0, steps: 0, out }), /steps must be an integer in 1\.\.1000, got 0/);
});
