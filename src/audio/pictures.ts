// Pictures of sounds for run reports: a waveform (per pixel column, the range of the samples it
// covers) and a log-mel spectrogram (low frequencies at the bottom), both as PNG.
import { Tensor, functions as torch, scope } from '../tensor';
import { saveImageGrid } from '../data/png';
import { TORCHAUDIO_MEL, melSpectrogram } from './mel';
import { powerToDb } from './spectral';

function check(audio: Tensor, fn: string): Tensor {
  if (!(audio instanceof Tensor) || (audio.ndim !== 1 && audio.ndim !== 2)) throw new RangeError(`${fn}: audio must be a Tensor [samples] or [clips, samples], got ${audio instanceof Tensor ? `[${audio.shape.join(', ')}]` : typeof audio}`);
  if (audio.shape[audio.ndim - 1] < 2) throw new RangeError(`${fn}: audio must have at least 2 samples, got ${audio.shape[audio.ndim - 1]}`);
  return audio.ndim === 1 ? audio.unsqueeze(0) : audio;
}

/** Waveforms [clips, samples] (values in [-1, 1]) as a grid of width x height pictures, one per clip. */
export function saveWaveformPng(file: string, audio: Tensor, o: { width?: number; height?: number; nrow?: number } = {}): void {
  const width = o.width ?? 256, height = o.height ?? 64;
  scope(() => {
    const x = check(audio, 'saveWaveformPng').to('float32').clamp(-1, 1);
    const [n, t] = x.shape;
    const cols = Math.min(width, t);
    // Each column covers t / cols samples: its min and max (adaptive pooling over time).
    const hi = torch.adaptiveMaxPool1d(x.unsqueeze(1), [cols])[0].squeeze(1); // [n, cols]
    const lo = torch.adaptiveMaxPool1d(x.neg().unsqueeze(1), [cols])[0].squeeze(1).neg();
    // Row r (top 0) stands for amplitude 1 - 2 (r + 0.5) / height; lit when within [lo, hi] of its column (or the centre line).
    const amp = torch.arange(height, { dtype: 'float32' }).add(0.5).mul(-2 / height).add(1).view([1, height, 1]);
    const half = 1 / height;
    const lit = amp.ge(lo.unsqueeze(1).sub(half)).logicalAnd(amp.le(hi.unsqueeze(1).add(half)));
    const img = lit.to('float32').mul(-0.85).add(1); // dark trace on white
    saveImageGrid(file, img.view([n, 1, height, cols]), { nrow: o.nrow ?? 1, padding: 2, padValue: 1 });
  });
}

/** Log-mel spectrograms (dB, top 80 dB) of audio [clips, samples] at `sampleRate`, low frequencies at the bottom. */
export function saveSpectrogramPng(file: string, audio: Tensor, sampleRate: number, o: { nMels?: number; nFft?: number; hop?: number; nrow?: number } = {}): void {
  scope(() => {
    const x = check(audio, 'saveSpectrogramPng').to('float32');
    const nFft = o.nFft ?? 512, hop = o.hop ?? 128, nMels = o.nMels ?? 64;
    const mel = melSpectrogram(x, { ...TORCHAUDIO_MEL, nFft, hopLength: hop, nMels, sampleRate });
    const db = powerToDb(mel, { topDb: null }); // [n, mels, frames]; each clip scaled to its own top 80 dB
    const img = db.sub(db.amax([1, 2], true)).div(80).add(1).clamp(0, 1).flip([1]);
    saveImageGrid(file, img.unsqueeze(1), { nrow: o.nrow ?? 1, padding: 2, padValue: 1 });
  });
}
