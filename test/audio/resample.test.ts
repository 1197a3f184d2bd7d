import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, functions as torch, scope, tensor } from '../../src/tensor';
import { downmixMono, resample } from '../../src/audio';
import { EPS, fx, maxAbs, maxAbsDiff } from './fixture';

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
const x200 = () => tensor(Float32Array.from((fx.signal as number[]).slice(0, 200)));

test('resample matches torchaudio.functional.resample (up, down, 8000 -> 11025, a wider and lower-rolloff filter)', () => {
  scope(() => {
    for (const key of Object.keys(fx.resample)) {
      const [o, n, lw, ro] = key.split('_').map(Number);
      const want = tensor(Float32Array.from(fx.resample[key] as number[]));
      const got = resample(x200(), o, n, { lowpassFilterWidth: lw, rolloff: ro });
      assert.deepEqual(got.shape, want.shape, key);
      // Each output is a dot product over the ~2 lw orig / base nonzero taps: fp32 accumulation gives
      // ~eps * taps * max|x|. torchaudio also builds its kernel in float32: the argument
      // t = ((j - width) / orig - p / new) * base carries ~2 eps (1 + width / orig) * base zero
      // crossings of error (large when the reduced rates are large, e.g. 320:441), and the windowed
      // sinc moves by at most ~pi * scale per crossing; we build it in float64.
      const g = gcd(o, n), oo = o / g, nn = n / g, base = Math.min(oo, nn) * ro;
      const width = Math.ceil((lw * oo) / base);
      const taps = 2 * Math.ceil((lw * oo) / base) + 1; // input samples within lw zero crossings
      const dt = 2 * EPS * (1 + width / oo) * base;
      const tol = (4 * EPS * taps + taps * Math.PI * dt * (base / oo)) * maxAbs(x200());
      const err = maxAbsDiff(got, want);
      assert.ok(err <= tol, `${key}: ${err} vs ${tol}`);
    }
  });
});

test('resample: a tone below both Nyquists survives a round trip; a tone above the new Nyquist is removed', () => {
  scope(() => {
    const sr = 16000, n = 1600;
    const tone = (f: number, rate: number, len: number) => tensor(Float64Array.from({ length: len }, (_, t) => Math.sin((2 * Math.PI * f * t) / rate)));
    const down = resample(tone(1000, sr, n), sr, 8000);
    const ref = tone(1000, 8000, 800);
    // away from the ends (the filter sees zero padding there) the 1 kHz tone is reproduced
    assert.ok(maxAbsDiff(down.narrow(0, 50, 700), ref.narrow(0, 50, 700)) < 2e-3);
    const back = resample(down, 8000, sr);
    assert.ok(maxAbsDiff(back.narrow(0, 100, 1400), tone(1000, sr, n).narrow(0, 100, 1400)) < 4e-3);
    // 6 kHz is above 4 kHz: anti-aliasing leaves almost nothing (the windowed sinc's stopband)
    const alias = resample(tone(6000, sr, n), sr, 8000);
    assert.ok(maxAbs(alias.narrow(0, 50, 700)) < 1e-2, `${maxAbs(alias.narrow(0, 50, 700))}`);
  });
});

test('resample keeps leading dimensions; equal rates copy; bad input is named', () => {
  scope(() => {
    const x = torch.randn([2, 3, 100], { generator: new Generator(2), dtype: 'float64' });
    const y = resample(x, 3, 2);
    assert.deepEqual(y.shape, [2, 3, 67]);
    // a batched convolution may sum in another order than a single row's (libtorch 2.x does): equal to float64 rounding
    assert.ok(maxAbsDiff(y.select(0, 1).select(0, 2), resample(x.select(0, 1).select(0, 2), 3, 2)) < 1e-12);
    assert.equal(maxAbsDiff(resample(x, 44100, 44100), x), 0);
    assert.throws(() => resample(x, 0, 8000), /resample: origFreq must be a positive integer \(Hz\), got 0/);
    assert.throws(() => resample(x, 8000, 22050.5), /resample: newFreq must be a positive integer \(Hz\), got 22050.5/);
    assert.throws(() => resample(x, 8000, 16000, { rolloff: 1.5 }), /rolloff must be in \(0, 1\], got 1.5/);
    assert.throws(() => resample(x.to('int64'), 8000, 16000), /resample: x must be float32 or float64, got int64/);
  });
});

test('downmixMono averages channels', () => {
  scope(() => {
    const m = downmixMono(tensor([[1, 2, 3], [3, 4, -3]], { dtype: 'float32' }));
    assert.deepEqual(m.shape, [1, 3]);
    assert.deepEqual(m.dataSync(), [2, 3, 0]);
    assert.throws(() => downmixMono(tensor([1, 2], { dtype: 'float32' })), /downmixMono: x must be shaped \[\.\.\., channels, time\], got \[2\]/);
  });
});
