import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, assertGradcheck, functions as torch, memory, scope, tensor } from '../../src/tensor';
import { amplitudeToDb, amplitudeToDbTorchaudio, istft, powerToDb, stft, stftLibrosa, stftTorchaudio } from '../../src/audio';
import { EPS, cplxT, fx, maxAbs, maxAbsDiff, realT, signal } from './fixture';

const nFft: number = fx.nFft, hop: number = fx.hop, length: number = fx.length;
// fp32 FFT error bound per bin: a few eps log2(n) times the frame's L2 norm, which is at most
// sqrt(nFft) max|x| (the Hann window is <= 1); the reference is fp32 torch or float64 numpy.
const stftTol = (maxX: number) => 4 * EPS * Math.log2(nFft) * Math.sqrt(nFft) * maxX;

test('stft, torchaudio convention (reflect padding) matches torchaudio.transforms.Spectrogram(power=None)', () => {
  scope(() => {
    const x = signal();
    const s = stftTorchaudio(x, { nFft, hopLength: hop });
    assert.equal(s.dtype, 'complex64');
    assert.deepEqual(s.shape, [nFft / 2 + 1, 1 + Math.floor(length / hop)]);
    const want = cplxT(fx.stftTorchaudio);
    const err = maxAbsDiff(s, want);
    assert.ok(err <= stftTol(maxAbs(x)), `max error ${err} vs bound ${stftTol(maxAbs(x))}`);
    // the window centred inside nFft when winLength < nFft
    const s96 = stft(x, { nFft, hopLength: hop, winLength: 96, center: true, padMode: 'reflect' });
    const err96 = maxAbsDiff(s96, cplxT(fx.stftTorchaudioWin96));
    assert.ok(err96 <= stftTol(maxAbs(x)), `winLength 96: max error ${err96}`);
  });
});

test("stft, librosa convention (zero padding, periodic Hann) matches numpy following librosa.stft's definition", () => {
  scope(() => {
    const x = signal();
    const s = stftLibrosa(x, { nFft, hopLength: hop });
    const want = cplxT(fx.stftLibrosa);
    assert.deepEqual(s.shape, want.shape);
    const err = maxAbsDiff(s, want);
    assert.ok(err <= stftTol(maxAbs(x)), `max error ${err}`);
    // the two conventions differ only in the frames that reach into the padding
    const ta = stftTorchaudio(x, { nFft, hopLength: hop });
    const inner = Math.ceil(nFft / 2 / hop);
    const frames = s.shape[1];
    const mid = frames - 2 * inner;
    assert.ok(maxAbsDiff(s.narrow(1, inner, mid), ta.narrow(1, inner, mid)) <= 2 * stftTol(maxAbs(x)));
    assert.ok(maxAbsDiff(s.narrow(1, 0, 1), ta.narrow(1, 0, 1)) > 0.1);
  });
});

test('stft keeps leading batch dimensions and treats each row alone', () => {
  scope(() => {
    const x = torch.randn([2, 3, 300], { generator: new Generator(3) });
    const s = stftLibrosa(x, { nFft: 64, hopLength: 16 });
    assert.deepEqual(s.shape, [2, 3, 33, 19]);
    const row = stftLibrosa(x.select(0, 1).select(0, 2), { nFft: 64, hopLength: 16 });
    assert.equal(maxAbsDiff(s.select(0, 1).select(0, 2), row), 0);
  });
});

test('istft matches torchaudio.transforms.InverseSpectrogram on a spectrogram with altered phase', () => {
  scope(() => {
    const S = cplxT(fx.stftTorchaudio);
    const [F, T] = S.shape;
    // theta[f, t] = 0.3 sin(0.7 f + 1.3 t), applied in float64 and rounded to complex64 as the script does
    const re = torch.real(S).to('float64'), im = torch.imag(S).to('float64');
    const th = new Float64Array(F * T);
    for (let f = 0; f < F; f++) for (let t = 0; t < T; t++) th[f * T + t] = 0.3 * Math.sin(0.7 * f + 1.3 * t);
    const theta = tensor(th, { shape: [F, T] });
    const c = theta.cos(), s = theta.sin();
    const P = torch.complex(re.mul(c).sub(im.mul(s)).to('float32'), re.mul(s).add(im.mul(c)).to('float32'));
    const y = istft(P, { nFft, hopLength: hop, length });
    const want = tensor(Float32Array.from(fx.istftTorchaudio as number[]));
    assert.deepEqual(y.shape, [length]);
    // inverse FFT error per sample ~ eps log2(n) max|y|, divided by the window's squared sum (>= 1 away from the ends)
    const tol = 16 * EPS * Math.log2(nFft) * maxAbs(want);
    const err = maxAbsDiff(y, want);
    assert.ok(err <= tol, `max error ${err} vs ${tol}`);
  });
});

test('istft(stft(x)) == x to fp32 precision, both conventions, Hann at hop nFft/4 and nFft/2 (COLA)', () => {
  scope(() => {
    const x = torch.randn([2, 1000], { generator: new Generator(5) });
    for (const h of [64, 128]) {
      for (const conv of [stftLibrosa, stftTorchaudio]) {
        const y = istft(conv(x, { nFft: 256, hopLength: h }), { nFft: 256, hopLength: h, length: 1000 });
        const err = maxAbsDiff(x, y);
        const tol = 16 * EPS * Math.log2(256) * maxAbs(x);
        assert.ok(err <= tol, `hop ${h}: ${err} vs ${tol}`);
      }
    }
  });
});

test("amplitudeToDb / powerToDb match numpy following librosa's definitions (amin, ref, top_db over the whole array)", () => {
  scope(() => {
    const S = cplxT(fx.stftLibrosa).abs();
    for (const [key, opts] of [['amplitudeToDbLibrosa', {}], ['amplitudeToDbLibrosaTop40', { ref: 2, amin: 1e-3, topDb: 40 }]] as const) {
      const want = realT(fx[key]);
      const got = amplitudeToDb(S, opts);
      // 20 log10 turns a relative error r of |S| into 20 r / ln 10 dB; |S| carries stftTol, the floors are exact
      const amin = (opts as { amin?: number }).amin ?? 1e-5;
      const tol = S.clampMin(amin).reciprocal().mul((20 / Math.LN10) * stftTol(1)).add(64 * EPS * 100);
      const bad = got.sub(want).abs().gt(tol).sum().item();
      assert.equal(bad, 0, `${key}: ${bad} values out of tolerance; max diff ${maxAbsDiff(got, want)}`);
    }
    // topDb null: no floor; power and amplitude scales agree
    const p = S.square();
    const a = powerToDb(p, { topDb: null }), b = amplitudeToDb(S, { topDb: null });
    assert.ok(maxAbsDiff(a, b) <= 1e-4 * maxAbs(a));
    // closed forms: 10 log10 of powers of ten, the 1e-10 floor, and the 80 dB floor below the maximum
    const q = tensor([1, 1e-3, 1e-6, 0], { dtype: 'float64' });
    assert.deepEqual(powerToDb(q, { topDb: null }).dataSync(), [0, -30, -60, -100]);
    assert.deepEqual(powerToDb(q).dataSync(), [0, -30, -60, -80]);
    assert.deepEqual(powerToDb(q.mul(10), { ref: 10, topDb: 50 }).dataSync(), [0, -30, -50, -50]);
  });
});

test('stft / istft bad input: clear errors naming the argument', () => {
  scope(() => {
    const x = signal();
    assert.throws(() => stft(x, { nFft: 0 }), /stft: nFft must be a positive integer, got 0/);
    assert.throws(() => stft(x, { nFft: 64 }), /stft: padMode must be 'constant' \(librosa\) or 'reflect' \(torchaudio\) when center is true, got undefined/);
    assert.throws(() => stftLibrosa(x, { nFft: 64, winLength: 65 }), /winLength must be <= nFft \(64\), got 65/);
    assert.throws(() => stftLibrosa(x, { nFft: 64, hopLength: 1.5 }), /hopLength must be a positive integer, got 1.5/);
    assert.throws(() => stftLibrosa(x, { nFft: 64, window: torch.ones([10]) }), /window must be 1-D of winLength 64 samples, got shape \[10\]/);
    assert.throws(() => stftTorchaudio(x.narrow(0, 0, 10), { nFft: 64 }), /reflect padding needs more than nFft \/ 2 = 32 samples, got 10/);
    assert.throws(() => stftLibrosa(x.to('int64'), { nFft: 64 }), /stft: x must be float32 or float64, got int64/);
    assert.throws(() => istft(x, { nFft: 64 }), /istft: spec must be complex64 or complex128, got float32/);
    assert.throws(() => istft(stftLibrosa(x, { nFft: 64 }), { nFft: 128 }), /istft: spec must be shaped \[\.\.\., nFft \/ 2 \+ 1 = 65, frames\], got \[33, 26\]/);
    assert.throws(() => powerToDb(stftLibrosa(x, { nFft: 64 })), /powerToDb: S must be real float32 or float64/);
    assert.throws(() => powerToDb(x.abs(), { amin: 0 }), /powerToDb: amin must be > 0, got 0/);
  });
});

test('spectral functions free their intermediates', () => {
  const live = memory().liveTensors;
  scope(() => {
    const x = signal();
    istft(stftLibrosa(x, { nFft, hopLength: hop }), { nFft, hopLength: hop });
    amplitudeToDb(stftTorchaudio(x, { nFft, hopLength: hop }).abs());
    assert.ok(memory().liveTensors <= live + 8, `${memory().liveTensors - live} live`);
  });
  assert.equal(memory().liveTensors, live);
});

test('gradients flow through stft and istft (float64 finite differences, both paddings)', () => {
  scope(() => {
    const x = torch.randn([2, 40], { generator: new Generator(11), dtype: 'float64', requiresGrad: true });
    assertGradcheck((v) => stftTorchaudio(v, { nFft: 16, hopLength: 4 }).abs(), [x]);
    assertGradcheck((v) => stftLibrosa(v, { nFft: 16, hopLength: 4 }), [x]);
    assertGradcheck((v) => istft(stftLibrosa(v, { nFft: 16, hopLength: 4 }).mul(2), { nFft: 16, hopLength: 4, length: 40 }), [x]);
  });
});

test('float64 in, complex128 / float64 out, and the same values as float32 to fp32 precision', () => {
  scope(() => {
    const x = signal();
    const s64 = stftLibrosa(x.to('float64'), { nFft, hopLength: hop });
    assert.equal(s64.dtype, 'complex128');
    assert.ok(maxAbsDiff(s64, cplxT(fx.stftLibrosa).to('complex128')) <= stftTol(maxAbs(x)));
    const y = istft(s64, { nFft, hopLength: hop, length });
    assert.equal(y.dtype, 'float64');
    assert.ok(maxAbsDiff(y, x.to('float64')) < 1e-12);
  });
});

test('amplitudeToDbTorchaudio: the top_db floor is per item of a batch of [channel, freq, time], global below 4 dims', () => {
  scope(() => {
    // item 0 peaks at 1 (0 dB), item 1 at 1e-4 (-40 dB); 1e-12 is -120 dB, floored by amin 1e-10 at -100 dB
    const b = tensor([[[[1, 1e-12]]], [[[1e-4, 1e-12]]]], { dtype: 'float64' });
    assert.deepEqual(amplitudeToDbTorchaudio(b, { topDb: 80 }).dataSync(), [0, -80, -40, -100]);
    assert.deepEqual(amplitudeToDbTorchaudio(b, { topDb: 80, amin: 1e-13 }).dataSync(), [0, -80, -40, -120]);
    assert.deepEqual(amplitudeToDbTorchaudio(b.reshape([2, 1, 2]), { topDb: 80 }).dataSync(), [0, -80, -40, -80]);
    assert.deepEqual(amplitudeToDbTorchaudio(b, { topDb: null, multiplier: 20 }).dataSync(), [0, -200, -80, -200]);
  });
});
