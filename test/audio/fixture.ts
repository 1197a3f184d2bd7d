// Loads test/audio/fixtures.json, written by test/audio/gen_fixtures.py (torchaudio 0.13.1 and
// numpy references following librosa's and GANSynth's definitions; see that script).
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, functions as torch, tensor } from '../../src/tensor';

export interface Real { shape: number[]; data: number[] }
export interface Cplx { shape: number[]; re: number[]; im: number[] }
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const fx: any = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../test/audio/fixtures.json'), 'utf8'));

/** float32 machine epsilon. */
export const EPS = 2 ** -23;

export const realT = (r: Real): Tensor => tensor(Float32Array.from(r.data), { shape: r.shape });
export const cplxT = (c: Cplx): Tensor => torch.complex(tensor(Float32Array.from(c.re), { shape: c.shape }), tensor(Float32Array.from(c.im), { shape: c.shape }));
export const signal = (): Tensor => tensor(Float32Array.from(fx.signal as number[]));

/** Largest |a - b| over all elements (complex: modulus of the difference). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  return a.sub(b).abs().amax().item();
}
export const maxAbs = (a: Tensor): number => a.abs().amax().item();
