import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, assertGradcheck, functions as torch, scope } from '../../src/tensor';
import { LIBROSA_MEL, TORCHAUDIO_MEL, dctMatrix, hzToMel, melFilterbank, melSpectrogram, melToHz, mfcc, MelScale } from '../../src/audio';
import { EPS, fx, maxAbs, maxAbsDiff, realT, signal } from './fixture';

const sampleRate: number = fx.sampleRate, nFft: number = fx.nFft, hop: number = fx.hop, nMels: number = fx.nMels, nMfcc: number = fx.nMfcc;

// torchaudio builds the bank in float32: the bin and corner frequencies carry eps relative error, so
// a ramp (f - f_lo) / (f_c - f_lo) is off by about eps f_max / (smallest corner spacing).
function fbTol(scale: MelScale, fMin: number, fMax: number): number {
  const m0 = hzToMel(fMin, scale), m1 = hzToMel(fMax, scale);
  let minGap = Infinity;
  for (let i = 0; i <= nMels; i++) minGap = Math.min(minGap, melToHz(m0 + ((m1 - m0) * (i + 1)) / (nMels + 1), scale) - melToHz(m0 + ((m1 - m0) * i) / (nMels + 1), scale));
  return 8 * EPS * (fMax / minGap);
}

test('hzToMel / melToHz: the published fixed points and inverse of each other', () => {
  assert.ok(Math.abs(hzToMel(700, 'htk') - 2595 * Math.log10(2)) < 1e-9);
  assert.ok(Math.abs(hzToMel(1000, 'slaney') - 15) < 1e-12);
  assert.ok(Math.abs(hzToMel(200, 'slaney') - 3) < 1e-12);
  for (const s of ['htk', 'slaney'] as const) for (const f of [0, 55, 999, 1000, 1001, 4000, 11025]) assert.ok(Math.abs(melToHz(hzToMel(f, s), s) - f) < 1e-9 * (1 + f));
});

test('melFilterbank matches torchaudio.functional.melscale_fbanks: HTK and Slaney scales, norm none and slaney, fMin/fMax', () => {
  scope(() => {
    const keys = Object.keys(fx.melFbanks);
    assert.equal(keys.length, 6);
    for (const key of keys) {
      const [scale, norm, lo, hi] = key.split('_');
      const want = realT(fx.melFbanks[key]).t(); // torchaudio: [nFreqs, nMels]
      const got = melFilterbank({ sampleRate, nFft, nMels, fMin: +lo, fMax: +hi, scale: scale as MelScale, norm: norm === 'none' ? null : 'slaney' });
      assert.deepEqual(got.shape, [nMels, nFft / 2 + 1]);
      const tol = fbTol(scale as MelScale, +lo, +hi) * maxAbs(want);
      const err = maxAbsDiff(got, want);
      assert.ok(err <= tol, `${key}: ${err} vs ${tol}`);
    }
  });
});

test("Slaney norm gives each triangle unit area in Hz (librosa's 'slaney' norm); no norm peaks at 1", () => {
  scope(() => {
    const fb = melFilterbank({ sampleRate: 16000, nFft: 4096, nMels: 40, scale: 'slaney', norm: 'slaney' });
    const df = 16000 / 4096;
    const areas = fb.sum(1).mul(df).dataSync();
    // the trapezoid sum of a sampled triangle is exact up to the bins straddling the corners
    for (const a of areas) assert.ok(Math.abs(a - 1) < 0.02, `area ${a}`);
    const raw = melFilterbank({ sampleRate: 16000, nFft: 4096, nMels: 40, scale: 'htk', norm: null });
    // a bin lies within df / 2 of each centre; the narrowest (first) triangle's slope is 1 / its half-width
    const halfWidth = melToHz(hzToMel(8000, 'htk') / 41, 'htk');
    for (const p of raw.amax(1).dataSync()) assert.ok(p >= 1 - df / 2 / halfWidth && p <= 1, `peak ${p}`);
  });
});

// mel error from the power spectrum's (2 |S| stft error, |S|^2 <= max) and the bank's
function melTol(mel: ReturnType<typeof realT>, fbRelTol: number): number {
  const maxS = Math.sqrt(maxAbs(mel));
  const stftErr = 4 * EPS * Math.log2(nFft) * Math.sqrt(nFft);
  return 4 * (2 * maxS * stftErr + fbRelTol * maxS * maxS) + 8 * EPS * maxAbs(mel);
}

test('melSpectrogram, torchaudio conventions, matches torchaudio.transforms.MelSpectrogram; librosa conventions match numpy', () => {
  scope(() => {
    const x = signal();
    const ta = melSpectrogram(x, { ...TORCHAUDIO_MEL, sampleRate, nFft, hopLength: hop, nMels });
    const wantTa = realT(fx.melSpectrogramTorchaudio);
    assert.deepEqual(ta.shape, wantTa.shape);
    let err = maxAbsDiff(ta, wantTa), tol = melTol(wantTa, fbTol('htk', 0, sampleRate / 2));
    assert.ok(err <= tol, `torchaudio: ${err} vs ${tol}`);
    const lr = melSpectrogram(x, { ...LIBROSA_MEL, sampleRate, nFft, hopLength: hop, nMels });
    const wantLr = realT(fx.melSpectrogramLibrosa);
    err = maxAbsDiff(lr, wantLr);
    tol = melTol(wantLr, fbTol('slaney', 0, sampleRate / 2)) * maxAbs(realT(fx.melFbanks[`slaney_slaney_0_${sampleRate / 2}`]));
    assert.ok(err <= tol, `librosa: ${err} vs ${tol}`);
  });
});

test('mfcc matches torchaudio.transforms.MFCC (and numpy following librosa.feature.mfcc) frame by frame', () => {
  scope(() => {
    const x = signal();
    for (const [db, conv, melKey, mfccKey, scale] of [
      ['torchaudio', TORCHAUDIO_MEL, 'melSpectrogramTorchaudio', 'mfccTorchaudio', 'htk'],
      ['librosa', LIBROSA_MEL, 'melSpectrogramLibrosa', 'mfccLibrosa', 'slaney'],
    ] as const) {
      const got = mfcc(x, { ...conv, sampleRate, nFft, hopLength: hop, nMels, nMfcc, db });
      const want = realT(fx[mfccKey]);
      assert.deepEqual(got.shape, want.shape);
      // dB turns the mel error e into 10 e / (ln 10 mel) per band; the orthonormal DCT keeps each
      // frame's L2 norm, so the frame's MFCC error is at most the L2 norm of the band errors.
      const mel = realT(fx[melKey]);
      let fbScale = 1;
      if (scale === 'slaney') fbScale = maxAbs(realT(fx.melFbanks[`slaney_slaney_0_${sampleRate / 2}`]));
      const e = melTol(mel, fbTol(scale, 0, sampleRate / 2)) * fbScale;
      const bandErr = mel.clampMin(1e-10).reciprocal().mul((10 / Math.LN10) * e);
      const frameTol = bandErr.square().sum(0).sqrt().add(1e-4).dataSync();
      const frameErr = got.sub(want).square().sum(0).sqrt().dataSync();
      for (let t = 0; t < frameErr.length; t++) assert.ok(frameErr[t] <= frameTol[t], `${db} frame ${t}: ${frameErr[t]} vs ${frameTol[t]}`);
    }
  });
});

test('dctMatrix (ortho) is orthonormal when square, and has scipy-unnormalised rows otherwise', () => {
  scope(() => {
    const d = dctMatrix(16, 16);
    const eye = d.matmul(d.t());
    assert.ok(maxAbsDiff(eye, eye.diagonal().diagEmbed()) < 16 * EPS && Math.abs(eye.diagonal().amin().item() - 1) < 16 * EPS);
    const u = dctMatrix(3, 8, null);
    assert.ok(Math.abs(u.select(0, 0).sum().item() - 16) < 1e-5);
  });
});

test('mel bad input: clear errors', () => {
  assert.throws(() => melFilterbank({ sampleRate, nFft, nMels, scale: 'mel' as MelScale, norm: null }), /melFilterbank: scale must be 'htk' \(torchaudio's default\) or 'slaney' \(librosa's\), got mel/);
  assert.throws(() => melFilterbank({ sampleRate, nFft, nMels, scale: 'htk', norm: 'area' as never }), /norm must be null .* or 'slaney' .*, got area/);
  assert.throws(() => melFilterbank({ sampleRate, nFft, nMels, scale: 'htk', norm: null, fMax: 5000 }), /need 0 <= fMin < fMax <= sampleRate \/ 2 = 4000, got fMin 0, fMax 5000/);
  assert.throws(() => dctMatrix(30, 20), /dctMatrix: nMfcc must be <= nMels \(20\), got 30/);
  scope(() => {
    assert.throws(() => mfcc(signal(), { ...LIBROSA_MEL, sampleRate, nFft, nMels, nMfcc, db: 'htk' as never }), /mfcc: db must be 'librosa' or 'torchaudio', got htk/);
  });
});

test('gradients flow through melSpectrogram and mfcc (float64 finite differences)', () => {
  scope(() => {
    const x = torch.randn([48], { generator: new Generator(13), dtype: 'float64', requiresGrad: true });
    const o = { sampleRate: 8000, nFft: 32, hopLength: 8, nMels: 6 };
    assertGradcheck((v) => melSpectrogram(v, { ...LIBROSA_MEL, ...o }), [x]);
    assertGradcheck((v) => mfcc(v, { ...TORCHAUDIO_MEL, ...o, nMfcc: 4, db: 'torchaudio' }), [x]);
  });
});
