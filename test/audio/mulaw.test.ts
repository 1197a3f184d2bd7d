import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { functions as torch, scope, tensor } from '../../src/tensor';
import { muCompressLibrosa, muExpandLibrosa, muLawDecodeTorchaudio, muLawEncodeTorchaudio } from '../../src/audio';
import { EPS, fx } from './fixture';

const input = () => tensor(Float32Array.from(fx.muLawInput as number[]));

// Codes are exact except where the value before rounding sits within float32 rounding of a bin edge:
// there the two computations (ours and the reference's, each fp32 or fp64) may land either side.
function assertCodes(got: number[], want: number[], edgeDistance: (i: number) => number, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < got.length; i++) {
    if (got[i] === want[i]) continue;
    assert.ok(Math.abs(got[i] - want[i]) === 1 && edgeDistance(i) < 1e-4, `${what}[${i}] (x = ${fx.muLawInput[i]}): ${got[i]} vs ${want[i]}`);
  }
}

test('mu-law, torchaudio convention: codes 0..255 (and 0..15) as torchaudio.functional.mu_law_encoding', () => {
  scope(() => {
    for (const [q, key] of [[256, 'muLawEncodeTorchaudio'], [16, 'muLawEncodeTorchaudio16']] as const) {
      const codes = muLawEncodeTorchaudio(input(), q);
      assert.equal(codes.dtype, 'int64');
      const mu = q - 1;
      const edge = (i: number) => {
        const x = fx.muLawInput[i];
        const v = ((Math.sign(x) * Math.log1p(mu * Math.abs(x))) / Math.log1p(mu) + 1) / 2 * mu + 0.5;
        return Math.abs(v - Math.round(v));
      };
      assertCodes(codes.dataSync(), fx[key], edge, key);
      assert.equal(Math.min(...codes.dataSync()), 0);
      assert.equal(Math.max(...codes.dataSync()), mu);
    }
  });
});

test('mu-law, torchaudio convention: decoding every code as torchaudio.functional.mu_law_decoding', () => {
  scope(() => {
    const y = muLawDecodeTorchaudio(torch.arange(256, { dtype: 'int64' })).dataSync();
    const want: number[] = fx.muLawDecodeTorchaudio;
    // a few fp32 ops on values <= 1, exp amplifying the argument's rounding by up to log1p(255) ~ 5.5
    for (let i = 0; i < 256; i++) assert.ok(Math.abs(y[i] - want[i]) <= 16 * EPS, `code ${i}: ${y[i]} vs ${want[i]}`);
    assert.equal(y[0], -1);
    assert.ok(Math.abs(y[255] - 1) <= 4 * EPS);
  });
});

test("mu-law, librosa convention: signed codes -128..127 and the continuous curve (numpy following librosa's mu_compress)", () => {
  scope(() => {
    const edge = (i: number) => {
      const x = fx.muLawInput[i];
      const v = ((Math.sign(x) * Math.log1p(255 * Math.abs(x))) / Math.log1p(255) + 1) * 127.5;
      return Math.abs(v - Math.round(v));
    };
    const codes = muCompressLibrosa(input());
    assert.equal(codes.dtype, 'int64');
    assertCodes(codes.dataSync(), fx.muCompressLibrosa, edge, 'muCompressLibrosa');
    assert.equal(Math.min(...codes.dataSync()), -128);
    assert.equal(Math.max(...codes.dataSync()), 127);
    const c = muCompressLibrosa(input(), { quantize: false }).dataSync();
    const want: number[] = fx.muCompressLibrosaContinuous;
    for (let i = 0; i < c.length; i++) assert.ok(Math.abs(c[i] - want[i]) <= EPS, `continuous[${i}]: ${c[i]} vs ${want[i]}`);
  });
});

test("mu-law, librosa convention: expanding every code (numpy following librosa's mu_expand)", () => {
  scope(() => {
    const y = muExpandLibrosa(torch.arange(-128, 128, { dtype: 'int64' })).dataSync();
    const want: number[] = fx.muExpandLibrosa;
    for (let i = 0; i < 256; i++) assert.ok(Math.abs(y[i] - want[i]) <= 16 * EPS, `code ${i - 128}: ${y[i]} vs ${want[i]}`);
  });
});

test('mu-law round trips: decode(encode(x)) within one code step (codes are rounded, so half a step in the companded domain)', () => {
  scope(() => {
    const x = input();
    const back = muLawDecodeTorchaudio(muLawEncodeTorchaudio(x)).dataSync();
    const xs = x.dataSync();
    for (let i = 0; i < xs.length; i++) {
      // the step in x of one code at x is (1 + 255|x|) ln(256) / 255 * (2 / 255)
      const step = ((1 + 255 * Math.abs(xs[i])) * Math.log(256)) / 255 * (2 / 255);
      assert.ok(Math.abs(back[i] - xs[i]) <= step, `x ${xs[i]} -> ${back[i]}`);
    }
  });
});

test('mu-law bad input: clear errors', () => {
  scope(() => {
    assert.throws(() => muLawEncodeTorchaudio(tensor([1, 2], { dtype: 'int64' })), /muLawEncodeTorchaudio: x must be float32 or float64, got int64/);
    assert.throws(() => muLawEncodeTorchaudio(input(), 1), /quantizationChannels must be an integer >= 2, got 1/);
    assert.throws(() => muCompressLibrosa(input(), { mu: 2.5 }), /muCompressLibrosa: mu must be an integer >= 1, got 2.5/);
  });
});
