// Vocoding held-out clips both ways and showing it: the WaveNet vocoder and Griffin-Lim from the same mel,
// with WAV players, log-mel pictures, and the log-spectral distance and spectral convergence of both.
// The vocoder's run report and `refinery eval audio` both use it.
import * as fs from 'fs';
import * as path from 'path';
import { Generator, Tensor, scope } from '../tensor';
import { Progress } from '../train';
import { writeWav } from './wav';
import { saveSpectrogramPng } from './pictures';
import { logSpectralDistance, spectralConvergenceOf } from './metrics';
import type { WaveNet } from './wavenet';
import { VocoderMel, griffinLimFromMel, melMagnitude, vocodeWithWavenet } from './vocoder';

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

export interface VocodingComparison {
  section: { heading: string; html: string };
  /** Per clip, in the order of `real`. */
  wavenet: { lsd: number[]; sc: number[] };
  griffinLim: { lsd: number[]; sc: number[] };
  /** Wall seconds of each method for all the clips. */
  seconds: { wavenet: number; griffinLim: number };
}

/**
 * Vocodes `real` [clips, samples] (labelled by `kinds`) from its mel with `model` (cached sampler, seed 0) and
 * with Griffin-Lim (NNLS, 100 iterations, momentum 0.99); writes dir/vocoded/ and returns the report section and figures.
 */
export function compareVocoding(dir: string, real: Tensor, kinds: string[], sampleRate: number, model: WaveNet, mel: VocoderMel, say: (m: string) => void): VocodingComparison {
  return scope(() => {
    const [count, n] = real.shape;
    const bar = new Progress({ total: n, label: 'vocode', unit: 'samples' });
    let t0 = performance.now();
    const wn = vocodeWithWavenet(model, real, { mel, generator: new Generator(0), onProgress: (d) => bar.set(d), every: 500 });
    bar.close();
    const wnSecs = (performance.now() - t0) / 1000;
    say(`vocoded ${count} clips of ${n} samples in ${wnSecs.toFixed(1)} s (${((count * n) / wnSecs).toFixed(0)} samples/s, cached)`);
    t0 = performance.now();
    const gl = griffinLimFromMel(melMagnitude(real, mel), { length: n, mel });
    const glSecs = (performance.now() - t0) / 1000;
    const a = { lsd: logSpectralDistance(real, wn), sc: spectralConvergenceOf(real, wn) };
    const b = { lsd: logSpectralDistance(real, gl), sc: spectralConvergenceOf(real, gl) };
    fs.mkdirSync(path.join(dir, 'vocoded'), { recursive: true });
    const versions: [string, Tensor][] = [['real', real], ['wavenet', wn], ['griffin-lim', gl]];
    const rows = kinds.map((kind, i) => {
      const tag = `${String(i).padStart(2, '0')}-${kind}`;
      for (const [w, x] of versions) writeWav(path.join(dir, 'vocoded', `${tag}-${w}.wav`), x.select(0, i), sampleRate);
      return `<tr><td>${kind}</td>${versions.map(([w]) => `<td><audio controls preload="none" src="vocoded/${tag}-${w}.wav"></audio></td>`).join('')}`
        + `<td>${a.lsd[i].toFixed(2)} / ${a.sc[i].toFixed(3)}</td><td>${b.lsd[i].toFixed(2)} / ${b.sc[i].toFixed(3)}</td></tr>`;
    });
    for (const [w, x] of versions) saveSpectrogramPng(path.join(dir, 'vocoded', `spectrograms-${w}.png`), x, sampleRate, { nrow: count });
    say(`log-spectral distance (dB) / spectral convergence, mean of ${count} held-out clips: WaveNet ${mean(a.lsd).toFixed(2)} / ${mean(a.sc).toFixed(3)}, Griffin-Lim ${mean(b.lsd).toFixed(2)} / ${mean(b.sc).toFixed(3)}`);
    const table = '<table><tr><th>clip</th><th>real</th><th>WaveNet vocoder</th><th>Griffin-Lim (100 it., momentum 0.99)</th><th>WaveNet LSD dB / SC</th><th>Griffin-Lim LSD dB / SC</th></tr>'
      + `${rows.join('')}<tr><td colspan="4">mean</td><td>${mean(a.lsd).toFixed(2)} / ${mean(a.sc).toFixed(3)}</td><td>${mean(b.lsd).toFixed(2)} / ${mean(b.sc).toFixed(3)}</td></tr></table>`;
    const figs = versions.map(([w]) => `<figure><figcaption>log-mel spectrograms, ${w} (left to right, as the table)</figcaption><img src="vocoded/spectrograms-${w}.png" style="height:160px;image-rendering:auto"></figure>`).join('');
    return {
      section: { heading: 'Vocoding held-out notes and speech from their mel spectrograms', html: `${table}<p>LSD: log-spectral distance (dB, lower is better); SC: spectral convergence (lower is better); both on 1024-point magnitude STFTs.</p><div class="grid">${figs}</div>` },
      wavenet: a, griffinLim: b, seconds: { wavenet: wnSecs, griffinLim: glSecs },
    };
  });
}
