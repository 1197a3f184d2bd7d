import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, noGrad, scope, tensor } from '../../src/tensor';
import { Adam } from '../../src/optim';
import { WaveNet, generate, muLawDecodeTorchaudio, muLawEncodeTorchaudio, receptiveField, wavenetDilations, wavenetStepper } from '../../src/audio';

function model64(o: ConstructorParameters<typeof WaveNet>[0], seed = 1): WaveNet {
  return new WaveNet(o, { generator: new Generator(seed), dtype: 'float64' });
}
const maxDiff = (a: Tensor, b: Tensor) => scope(() => a.sub(b).abs().max().item());

test('receptiveField: the references\' formulas (r9y9/wavenet_vocoder 24 layers, 4 stacks, k=3: 505; ibab/tensorflow-wavenet 5 x 1..512, k=2, initial width 2: 5117)', () => {
  assert.deepEqual(wavenetDilations(3, 2), [1, 2, 4, 1, 2, 4]);
  assert.equal(receptiveField(24 / 4, 4, 3), 505);
  assert.equal(receptiveField(10, 5, 2, 2), 5117);
  assert.equal(receptiveField(10, 1, 2), 1024);
  assert.throws(() => receptiveField(0, 1), /layers must be an integer >= 1, got 0/);
});

test('causality (an exact perturbation test in float64): output t never depends on codes after t, and depends on exactly the last receptiveField codes', () => {
  scope(() => {
    const m = model64({ layers: 4, stacks: 2, kernelSize: 2, residualChannels: 8, gateChannels: 8, skipChannels: 8 });
    const rf = m.receptiveField; // 31
    assert.equal(rf, 31);
    const T = rf + 12, g = new Generator(3);
    const codes = torch.randint(0, 256, [2, T], { generator: g });
    const base = noGrad(() => m(codes));
    for (const p of [0, 5, T - rf - 1, T - rf, T - 7, T - 1]) {
      const changed = codes.clone();
      changed.select(1, p).copy_(codes.select(1, p).add(101).remainder(256));
      const out = noGrad(() => m(changed));
      // Outputs before p are bit for bit the same (they never read code p) ...
      if (p > 0) assert.equal(maxDiff(out.narrow(2, 0, p), base.narrow(2, 0, p)), 0, `outputs before ${p} moved`);
      // ... and the last output changes exactly when p is within its receptive field.
      const lastMoved = maxDiff(out.narrow(2, T - 1, 1), base.narrow(2, T - 1, 1));
      if (p >= T - rf) assert.ok(lastMoved > 0, `code ${p} is inside the receptive field of output ${T - 1} but did not move it`);
      else assert.equal(lastMoved, 0, `code ${p} is outside the receptive field of output ${T - 1} but moved it by ${lastMoved}`);
    }
  });
});

test('generate: cached (fast-wavenet queues) and naive (whole receptive field) give the same codes for the same seed, with global and local conditioning, kernel 2 and 3', () => {
  scope(() => {
    for (const kernelSize of [2, 3]) {
      const m = model64({ layers: 3, stacks: 2, kernelSize, residualChannels: 8, gateChannels: 12, skipChannels: 8, globalClasses: { pitch: 5, instrument: 3 }, localChannels: 4, localHop: 4 });
      const length = 3 * m.receptiveField + 5;
      const labels = { pitch: tensor([1, 4], { dtype: 'int64' }), instrument: tensor([2, 0], { dtype: 'int64' }) };
      const local = torch.randn([2, 4, Math.ceil(length / 4)], { generator: new Generator(9), dtype: 'float64' });
      const a = generate(m, { length, labels, local, generator: new Generator(5), method: 'cached', withLogits: true });
      const b = generate(m, { length, labels, local, generator: new Generator(5), method: 'naive', withLogits: true });
      assert.deepEqual(a.codes.dataSync(), b.codes.dataSync(), `kernel ${kernelSize}`);
      assert.ok(maxDiff(a.logits!, b.logits!) < 1e-10, `kernel ${kernelSize}: logits differ by ${maxDiff(a.logits!, b.logits!)}`);
      // Both equal the teacher-forced forward pass over [start, codes[:-1]] (conv1d, an independent path); the input at
      // position p is sample p - 1, and the prediction of sample p sees frame p (localOffset 0).
      const inputs = torch.cat([torch.full([2, 1], 128, { dtype: 'int64' }), a.codes.narrow(1, 0, length - 1)], 1);
      const tf = noGrad(() => m(inputs, labels, local, 0));
      assert.ok(maxDiff(tf, a.logits!) < 1e-10, `kernel ${kernelSize}: cached logits vs forward ${maxDiff(tf, a.logits!)}`);
      // The samples are not degenerate: a random model spreads its draws.
      assert.ok(new Set(a.codes.dataSync()).size > 20);
    }
  });
});

test('generate: float32, the shipped dtype, gives the same codes both ways; greedy decoding is deterministic; audio is the mu-law decode', () => {
  scope(() => {
    const m = new WaveNet({ layers: 5, stacks: 1, residualChannels: 16, gateChannels: 16, skipChannels: 16 }, { generator: new Generator(2) });
    const a = generate(m, { length: 200, batch: 3, generator: new Generator(1) });
    const b = generate(m, { length: 200, batch: 3, generator: new Generator(1), method: 'naive' });
    // Draws landing within float32 rounding of a CDF boundary could differ; count them (expected none).
    const da = a.codes.dataSync(), db = b.codes.dataSync();
    assert.ok(da.filter((v, i) => v !== db[i]).length <= 1, 'cached and naive float32 samples disagree');
    assert.deepEqual(a.codes.shape, [3, 200]);
    const g1 = generate(m, { length: 50, temperature: 0 }), g2 = generate(m, { length: 50, temperature: 0, method: 'naive' });
    assert.deepEqual(g1.codes.dataSync(), g2.codes.dataSync());
    assert.equal(maxDiff(a.audio, muLawDecodeTorchaudio(a.codes)), 0);
    assert.ok(a.audio.abs().max().item() <= 1);
  });
});

test('training: teacher-forced loss falls far below the uniform 8 bits per sample on a periodic waveform', () => {
  scope(() => {
    const m = new WaveNet({ layers: 5, stacks: 1, residualChannels: 16, gateChannels: 16, skipChannels: 32, globalClasses: { pitch: 2 } }, { generator: new Generator(4) });
    const opt = new Adam(m, { lr: 3e-3 });
    // Two "pitches": sines of period 16 and 25 samples with random phases.
    const batch = (g: Generator) => scope(() => {
      const pitch = torch.randint(0, 2, [8], { generator: g });
      const period = pitch.to('float64').mul(9).add(16).unsqueeze(1);
      const phase = torch.rand([8, 1], { generator: g, dtype: 'float64' }).mul(2 * Math.PI);
      const t = torch.arange(256, { dtype: 'float64' }).unsqueeze(0);
      const x = t.mul(2 * Math.PI).div(period).add(phase).sin().mul(0.6).to('float32');
      return { codes: muLawEncodeTorchaudio(x), labels: { pitch } };
    });
    const g = new Generator(7);
    const bits = (v: number) => v / Math.LN2;
    const first = scope(() => { const b = batch(new Generator(99)); return noGrad(() => m.loss(b.codes, b.labels)).item(); });
    for (let i = 0; i < 150; i++) scope(() => {
      const b = batch(g);
      opt.zeroGrad();
      m.loss(b.codes, b.labels).backward();
      opt.step();
    });
    const last = scope(() => { const b = batch(new Generator(99)); return noGrad(() => m.loss(b.codes, b.labels)).item(); });
    assert.ok(bits(first) > 7, `initial ${bits(first)} bits/sample`);
    assert.ok(bits(last) < 4, `after training ${bits(last)} bits/sample (uniform is 8)`);
  });
});

test('WaveNet: bad configurations and inputs are named with the value and what was expected', () => {
  assert.throws(() => new WaveNet({ gateChannels: 15 }), /gateChannels must be even/);
  assert.throws(() => new WaveNet({ layers: 17 }), /layers must be at most 16/);
  assert.throws(() => new WaveNet({ globalClasses: { pitch: 0 } }), /globalClasses\.pitch must be an integer >= 1, got 0/);
  scope(() => {
    const m = new WaveNet({ layers: 2, stacks: 1, residualChannels: 4, gateChannels: 4, skipChannels: 4, globalClasses: { pitch: 3 } });
    const codes = torch.zeros([1, 10], { dtype: 'int64' });
    assert.throws(() => m(codes), /conditioned on pitch: pass labels \{ pitch \}/);
    assert.throws(() => m(codes, { pitch: tensor([3], { dtype: 'int64' }) }), /labels\.pitch must be in 0\.\.2, got values in 3\.\.3/);
    assert.throws(() => m(codes, { pitch: tensor([0, 1], { dtype: 'int64' }) }), /labels\.pitch must have shape \[1\], got \[2\]/);
    assert.throws(() => m(torch.zeros([10], { dtype: 'int64' })), /codes must be an int64 Tensor \[batch, time\], got \[10\]/);
    assert.throws(() => generate(m, { length: 0 }), /length must be an integer >= 1, got 0/);
    assert.throws(() => generate(m, { length: 5, labels: { pitch: tensor([0], { dtype: 'int64' }) }, method: 'fast' as never }), /method must be 'cached' or 'naive', got "fast"/);
    assert.throws(() => generate(m, { length: 5, labels: { pitch: tensor([0], { dtype: 'int64' }) }, temperature: -1 }), /temperature must be in \[0, 100\], got -1/);
  });
});

test('generate with a primer: continues exactly where an unprimed greedy generation was, both methods', () => {
  scope(() => {
    const m = model64({ layers: 3, stacks: 2, residualChannels: 8, gateChannels: 8, skipChannels: 8, globalClasses: { pitch: 3 } });
    const labels = { pitch: tensor([2], { dtype: 'int64' }) };
    const K = m.receptiveField + 7;
    const whole = generate(m, { length: 2 * K, labels, temperature: 0 }).codes;
    for (const method of ['cached', 'naive'] as const) {
      const cont = generate(m, { length: K, labels, temperature: 0, prime: whole.narrow(1, 0, K), method }).codes;
      assert.deepEqual(cont.dataSync(), whole.narrow(1, K, K).dataSync(), method);
    }
    // Sampled (temperature 1): the two methods agree on a primed continuation too.
    const a = generate(m, { length: 40, labels, prime: whole.narrow(1, 0, 5), generator: new Generator(3) }).codes;
    const b = generate(m, { length: 40, labels, prime: whole.narrow(1, 0, 5), generator: new Generator(3), method: 'naive' }).codes;
    assert.deepEqual(a.dataSync(), b.dataSync());
    assert.throws(() => generate(m, { length: 5, labels, prime: torch.zeros([2, 3], { dtype: 'int64' }) }), /prime must be int64 codes \[1, P\], got int64 \[2, 3\]/);
  });
});

test('wavenetStepper: streaming one step at a time gives the logits of generate() (cached and naive)', () => {
  scope(() => {
    const m = model64({ layers: 3, stacks: 1, residualChannels: 8, gateChannels: 8, skipChannels: 8 });
    m.eval();
    const ref = generate(m, { length: 12, temperature: 0, withLogits: true });
    for (const method of ['cached', 'naive'] as const) {
      const s = wavenetStepper(m, { method, batch: 1 });
      let prev = torch.full([1], 128, { dtype: 'int64' });
      const codes = ref.codes.dataSync();
      for (let t = 0; t < 12; t++) {
        const z = s.step(prev, t);
        assert.ok(maxDiff(z, ref.logits!.select(2, t)) < 1e-12, `${method} step ${t}`);
        prev = tensor([codes[t]], { dtype: 'int64' });
      }
      s.dispose();
    }
  });
});
