import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, functions as torch, memory, scope, tensor } from '../../src/tensor';
import { griffinLim, instantaneousFrequency, istft, phaseFromInstantaneousFrequency, spectralConvergence, stftTorchaudio } from '../../src/audio';
import { EPS, cplxT, fx, maxAbs, maxAbsDiff, realT, signal } from './fixture';

const nFft: number = fx.nFft, hop: number = fx.hop, length: number = fx.length;

// the phase the script used: atan2 of the stored torchaudio STFT in float64, rounded to float32
function fixturePhase() {
  const c = fx.stftTorchaudio;
  const p = new Float32Array(c.re.length);
  for (let i = 0; i < p.length; i++) p[i] = Math.atan2(c.im[i], c.re[i]);
  return tensor(p, { shape: c.shape });
}

test("instantaneousFrequency matches numpy's unwrap / diff / pi (GANSynth's definition)", () => {
  scope(() => {
    const got = instantaneousFrequency(fixturePhase());
    const want = realT(fx.instantaneousFrequency);
    assert.deepEqual(got.shape, want.shape);
    // The DC and Nyquist bins are real: their phase is 0 or +-pi, and a jump of exactly pi is
    // ambiguous (float32 pi exceeds float64 pi, so numpy on the float64 values wraps it the other
    // way). Those rows only take values in {0, +-1}; the others are compared.
    const F = got.shape[0];
    for (const row of [0, F - 1]) for (const v of got.select(0, row).dataSync()) assert.ok([0, 1, -1].includes(v), `row ${row}: ${v}`);
    // one fp32 subtraction of phases <= pi (plus one 2 pi correction), divided by pi
    const err = maxAbsDiff(got.narrow(0, 1, F - 2), want.narrow(0, 1, F - 2));
    assert.ok(err <= 8 * EPS, `max error ${err}`);
    const rest = got.narrow(-1, 1, got.shape[1] - 1);
    assert.ok(rest.abs().amax().item() <= 1);
  });
});

test('instantaneousFrequency: closed forms (a steady partial gives a constant IF; jumps of exactly pi)', () => {
  scope(() => {
    // phase advancing by 0.9 pi per frame, wrapped into (-pi, pi]
    const n = 40;
    const p = Float64Array.from({ length: n }, (_, t) => Math.atan2(Math.sin(0.9 * Math.PI * t + 0.2), Math.cos(0.9 * Math.PI * t + 0.2)));
    const IF = instantaneousFrequency(tensor(p, { shape: [1, n] })).dataSync();
    assert.ok(Math.abs(IF[0] - 0.2 / Math.PI) < 1e-12);
    for (let t = 1; t < n; t++) assert.ok(Math.abs(IF[t] - 0.9) < 1e-12, `t ${t}: ${IF[t]}`);
    // numpy.unwrap keeps a jump of +pi at +pi and maps -pi to -pi
    const j = instantaneousFrequency(tensor([[0, Math.PI, 0, -Math.PI]], { dtype: 'float64' })).dataSync();
    assert.deepEqual(j, [0, 1, -1, -1]);
  });
});

test('phaseFromInstantaneousFrequency inverts instantaneousFrequency (the phase modulo 2 pi)', () => {
  scope(() => {
    const S = cplxT(fx.stftTorchaudio);
    const phase = torch.angle(S);
    const back = phaseFromInstantaneousFrequency(instantaneousFrequency(phase));
    // cumulated rounding: each frame adds about eps times the running phase (<= 2 pi t)
    const T = phase.shape[1];
    const err = maxAbsDiff(torch.polar(torch.onesLike(back), back), torch.polar(torch.onesLike(phase), phase));
    assert.ok(err <= 4 * EPS * 2 * Math.PI * T * T, `max error ${err}`);
    // and a waveform rebuilt from |S| and the recovered phase is the original
    const y = istft(torch.polar(S.abs(), back), { nFft, hopLength: hop, length });
    const x = signal();
    assert.ok(maxAbsDiff(x, y) <= 4 * EPS * 2 * Math.PI * T * T * maxAbs(x) + 16 * EPS * Math.log2(nFft) * maxAbs(x));
  });
});

test('griffinLim (momentum 0.99 and 0, zero-phase init) matches torchaudio.transforms.GriffinLim', () => {
  scope(() => {
    const mag = cplxT(fx.stftTorchaudio).abs();
    for (const [momentum, key] of [[0.99, 'griffinLimTorchaudio'], [0, 'griffinLimTorchaudioNoMomentum']] as const) {
      const y = griffinLim(mag, { nFft, hopLength: hop, padMode: 'reflect', nIter: fx.griffinLimIters, momentum, init: 'ones', length });
      const want = tensor(Float32Array.from(fx[key] as number[]));
      // 2 (nIter + 1) fp32 STFT / ISTFT passes, each ~ eps log2(n) relative; the phase normalisation
      // can amplify it at weak bins, so the bound is normwise (measured: 1.2e-7 with momentum, 4.9e-8 without)
      const rel = y.sub(want).norm().item() / want.norm().item();
      const bound = 4 * 2 * (fx.griffinLimIters + 1) * EPS * Math.log2(nFft);
      assert.ok(rel <= bound, `momentum ${momentum}: relative error ${rel} vs ${bound}`);
    }
  });
});

test('griffinLim: spectral convergence falls with iterations, faster with momentum 0.99 than without', () => {
  scope(() => {
    const x = signal();
    const o = { nFft, hopLength: hop, padMode: 'reflect' as const, length };
    const mag = stftTorchaudio(x, { nFft, hopLength: hop }).abs();
    const sc = (nIter: number, momentum: number) =>
      spectralConvergence(mag, griffinLim(mag, { ...o, nIter, momentum, init: 'random', generator: new Generator(7) }), o);
    const s0 = sc(0, 0.99), s30 = sc(30, 0), s30m = sc(30, 0.99);
    assert.ok(s30 < s0 && s30m < s30, `${s0} ${s30} ${s30m}`);
    assert.ok(s30m < 0.5 * s0, `${s0} ${s30m}`);
    // same seed, same result
    assert.equal(sc(3, 0.99), sc(3, 0.99));
  });
});

test('griffinLim keeps leading batch dimensions; each item as if alone', () => {
  scope(() => {
    const x = torch.randn([2, 3, 256], { generator: new Generator(9) });
    const o = { nFft: 64, hopLength: 16, padMode: 'constant' as const, nIter: 4, init: 'ones' as const, length: 256 };
    const mag = stftTorchaudio(x, o).abs();
    const y = griffinLim(mag, o);
    assert.deepEqual(y.shape, [2, 3, 256]);
    const one = griffinLim(mag.select(0, 1).select(0, 2), o);
    assert.ok(maxAbsDiff(y.select(0, 1).select(0, 2), one) <= 4 * 2 * 5 * EPS * Math.log2(64) * maxAbs(one));
  });
});

test('phase tools: bad input and memory', () => {
  const live = memory().liveTensors;
  scope(() => {
    const mag = cplxT(fx.stftTorchaudio).abs();
    griffinLim(mag, { nFft, hopLength: hop, padMode: 'constant', nIter: 3, init: 'ones' });
    // the fixture's real, imag and complex tensors, the magnitude, the waveform
    assert.ok(memory().liveTensors <= live + 5, `${memory().liveTensors - live} live`);
    assert.throws(() => griffinLim(mag, { nFft, hopLength: hop, padMode: 'reflect', momentum: 1 }), /griffinLim: momentum must be in \[0, 1\), got 1/);
    assert.throws(() => griffinLim(mag, { nFft, hopLength: hop, padMode: 'reflect', nIter: -1 }), /griffinLim: nIter must be an integer >= 0, got -1/);
    assert.throws(() => griffinLim(cplxT(fx.stftTorchaudio), { nFft, hopLength: hop, padMode: 'reflect' }), /griffinLim: mag must be real float32 or float64, got complex64/);
    assert.throws(() => instantaneousFrequency(tensor([1, 2], { dtype: 'int64' })), /instantaneousFrequency: phase must be real float32 or float64, got int64/);
  });
  assert.equal(memory().liveTensors, live);
});
