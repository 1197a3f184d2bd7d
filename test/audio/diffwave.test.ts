import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, noGrad, scope, tensor } from '../../src/tensor';
import { Adam } from '../../src/optim';
import { diffusionLoss, edmWeighting, logNormalSigmas } from '../../src/diffusion';
import { DiffWave, diffwaveLabels, notePitch, sampleDiffWave } from '../../src/audio';

const maxDiff = (a: Tensor, b: Tensor) => scope(() => a.sub(b).abs().max().item());

test('DiffWave: non-causal receptive field of (k-1)/2 sum(dilations) on each side, exact in float64; zero-initialised output makes D = c_skip x', () => {
  scope(() => {
    const m = new DiffWave({ layers: 4, cycle: 2, residualChannels: 6, globalClasses: { pitch: 3 } }, { generator: new Generator(1), dtype: 'float64' });
    // the output projection starts at zero (DiffWave): give it weights so that the test sees the stack
    noGrad(() => (m.post2.W as Tensor).copy_(torch.randn((m.post2.W as Tensor).shape, { generator: new Generator(2), dtype: 'float64' })));
    const rf = m.receptiveField; // dilations 1 2 1 2, kernel 3: 6 per side
    assert.equal(rf, 6);
    const T = 40, x = torch.randn([1, T], { generator: new Generator(3), dtype: 'float64' });
    const c = torch.zeros([1], { dtype: 'float64' }), labels = tensor([[1]], { dtype: 'int64' });
    const base = m(x, c, { labels });
    const p = 20;
    const moved = x.clone();
    moved.select(1, p).add_(1);
    const diff = m(moved, c, { labels }).sub(base).abs().squeeze(0).dataSync();
    diff.forEach((d: number, t: number) => {
      if (Math.abs(t - p) <= rf) assert.ok(d > 0, `output ${t} is within ${rf} of ${p} but did not move`);
      else assert.equal(d, 0, `output ${t} is beyond the receptive field of sample ${p} but moved by ${d}`);
    });
    const fresh = new DiffWave({ layers: 2, cycle: 2, residualChannels: 4, globalClasses: {} }, { generator: new Generator(1), dtype: 'float64' });
    const D = fresh.denoiser(), sd2 = fresh.config.sigmaData ** 2;
    const s = 0.7, out = D(x, torch.full([1], s, { dtype: 'float64' }));
    assert.ok(maxDiff(out, x.mul(sd2 / (s * s + sd2))) < 1e-15);
  });
});

test('DiffWave: labels with -1 for the null class; wrong shapes and classes are named', () => {
  scope(() => {
    const m = new DiffWave({ layers: 2, cycle: 2, residualChannels: 4, globalClasses: { pitch: 3, instrument: 2 } });
    const x = torch.zeros([2, 16]), c = torch.zeros([2]);
    assert.deepEqual(m(x, c, { labels: tensor([[0, -1], [2, 1]], { dtype: 'int64' }) }).shape, [2, 16]);
    assert.deepEqual(m(x, c, { labels: null }).shape, [2, 16]);
    assert.deepEqual(diffwaveLabels(m, { pitch: [1, 2], instrument: [0, 1] }).tolist(), [[1, 0], [2, 1]]);
    assert.throws(() => m(x, c, { labels: tensor([[3, 0], [0, 0]], { dtype: 'int64' }) }), /labels column 0 \(pitch\) must be in -1\.\.2, got values in 0\.\.3/);
    assert.throws(() => m(x, c, { labels: tensor([[0], [0]], { dtype: 'int64' }) }), /labels must have shape \[2, 2\] \(pitch, instrument\), got \[2, 1\]/);
    assert.throws(() => m(torch.zeros([16]), torch.zeros([1])), /x must be a Tensor \[batch, samples\], got \[16\]/);
    assert.throws(() => new DiffWave({ kernelSize: 2 }), /kernelSize must be odd/);
    assert.throws(() => diffwaveLabels(m, { pitch: [1] }), /missing instrument/);
  });
});

test('DiffWave through src/diffusion: trained on two sine "pitches", sampled notes have the pitch of their label (Heun, and with guidance)', () => {
  scope(() => {
    const T = 512, sr = 16000, periods = [16, 25];
    const m = new DiffWave({ layers: 6, cycle: 6, residualChannels: 24, globalClasses: { pitch: 2 }, sigmaData: 0.35 }, { generator: new Generator(0) });
    const D = m.denoiser(), opt = new Adam(m, { lr: 3e-3 }), g = new Generator(1);
    for (let i = 0; i < 250; i++) scope(() => {
      const pitch = torch.randint(0, 2, [8], { generator: g });
      const period = pitch.to('float32').mul(periods[1] - periods[0]).add(periods[0]).unsqueeze(1);
      const phase = torch.rand([8, 1], { generator: g }).mul(2 * Math.PI);
      const x = torch.arange(T, { dtype: 'float32' }).unsqueeze(0).mul(2 * Math.PI).div(period).add(phase).sin().mul(0.5);
      opt.zeroGrad();
      diffusionLoss(D, x, { generator: g, weighting: edmWeighting({ sigmaData: 0.35 }), sigmaSampler: logNormalSigmas(), extra: { labels: pitch.unsqueeze(1) } }).backward();
      opt.step();
    });
    const want = periods.map((p) => sr / p);
    for (const guidance of [1, 2]) {
      const labels = tensor([0, 0, 0, 1, 1, 1], { dtype: 'int64' }).unsqueeze(1);
      const x = sampleDiffWave(m, { labels, length: T, steps: 16, guidance, generator: new Generator(5) });
      assert.ok(x.abs().max().item() <= 1);
      const hz = notePitch(x, { sampleRate: sr, fMin: 200, fMax: 2000 }).map((v) => 440 * 2 ** ((v - 69) / 12));
      const voiced = hz.filter(Number.isFinite).length;
      assert.ok(voiced >= 5, `guidance ${guidance}: only ${voiced} of 6 samples are voiced (${hz.map((v) => v.toFixed(0)).join(', ')})`);
      // every voiced sample is nearer (in log frequency) to its label's pitch than to the other one
      hz.forEach((f, i) => {
        if (!Number.isFinite(f)) return;
        const d = want.map((w) => Math.abs(Math.log(f / w)));
        assert.equal(d[0] < d[1] ? 0 : 1, i < 3 ? 0 : 1, `guidance ${guidance}: sample ${i} at ${f.toFixed(0)} Hz for label ${i < 3 ? 0 : 1} (${want.map((w) => w.toFixed(0)).join(' / ')} Hz)`);
      });
    }
  });
});
