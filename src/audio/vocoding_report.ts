// The "vocoded vs Griffin-Lim vs real" section of a vocoder's run report: held-out notes and speech
// resynthesised from their mel spectrograms by the WaveNet vocoder and by Griffin-Lim from the same mel,
// with players, log-mel pictures and the log-spectral distance and spectral convergence of both.
import * as fs from 'fs';
import * as path from 'path';
import { Generator, Tensor, scope, tensor } from '../tensor';
import { Progress } from '../train';
import { writeWav } from './wav';
import { saveSpectrogramPng } from './pictures';
import { logSpectralDistance, spectralConvergenceOf } from './metrics';
import type { WaveNet } from './wavenet';
import { VocoderClips, VocoderMel, griffinLimFromMel, melMagnitude, pickClips, vocodeWithWavenet } from './vocoder';

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

export function vocodingSection(dir: string, clips: VocoderClips, model: WaveNet, mel: VocoderMel, say: (m: string) => void, perKind = 3): { heading: string; html: string }[] {
  return scope(() => {
    const idx = pickClips(clips.kinds, perKind);
    const real = clips.audio.indexSelect(0, tensor(idx, { dtype: 'int64' }));
    const n = real.shape[1];
    const bar = new Progress({ total: n, label: 'vocode', unit: 'samples' });
    const t0 = performance.now();
    const wn = vocodeWithWavenet(model, real, { mel, generator: new Generator(0), onProgress: (d) => bar.set(d), every: 500 });
    bar.close();
    const secs = (performance.now() - t0) / 1000;
    say(`vocoded ${idx.length} clips of ${n} samples in ${secs.toFixed(1)} s (${((idx.length * n) / secs).toFixed(0)} samples/s, cached)`);
    const gl = griffinLimFromMel(melMagnitude(real, mel), { length: n, mel });
    const d = { wavenet: { lsd: logSpectralDistance(real, wn), sc: spectralConvergenceOf(real, wn) }, gl: { lsd: logSpectralDistance(real, gl), sc: spectralConvergenceOf(real, gl) } };
    fs.mkdirSync(path.join(dir, 'vocoded'), { recursive: true });
    const rows = idx.map((c, i) => {
      const tag = `${String(i).padStart(2, '0')}-${clips.kinds[c]}`;
      const player = (w: string) => `<td><audio controls preload="none" src="vocoded/${tag}-${w}.wav"></audio></td>`;
      writeWav(path.join(dir, 'vocoded', `${tag}-real.wav`), real.select(0, i), clips.sampleRate);
      writeWav(path.join(dir, 'vocoded', `${tag}-wavenet.wav`), wn.select(0, i), clips.sampleRate);
      writeWav(path.join(dir, 'vocoded', `${tag}-griffin-lim.wav`), gl.select(0, i), clips.sampleRate);
      return `<tr><td>${clips.kinds[c]}</td>${player('real')}${player('wavenet')}${player('griffin-lim')}`
        + `<td>${d.wavenet.lsd[i].toFixed(2)} / ${d.wavenet.sc[i].toFixed(3)}</td><td>${d.gl.lsd[i].toFixed(2)} / ${d.gl.sc[i].toFixed(3)}</td></tr>`;
    });
    for (const [w, x] of [['real', real], ['wavenet', wn], ['griffin-lim', gl]] as [string, Tensor][]) saveSpectrogramPng(path.join(dir, 'vocoded', `spectrograms-${w}.png`), x, clips.sampleRate, { nrow: idx.length });
    say(`log-spectral distance (dB) / spectral convergence, mean of ${idx.length} held-out clips: WaveNet ${mean(d.wavenet.lsd).toFixed(2)} / ${mean(d.wavenet.sc).toFixed(3)}, Griffin-Lim ${mean(d.gl.lsd).toFixed(2)} / ${mean(d.gl.sc).toFixed(3)}`);
    const table = '<table><tr><th>clip</th><th>real</th><th>WaveNet vocoder</th><th>Griffin-Lim (100 it., momentum 0.99)</th><th>WaveNet LSD dB / SC</th><th>Griffin-Lim LSD dB / SC</th></tr>'
      + `${rows.join('')}<tr><td colspan="4">mean</td><td>${mean(d.wavenet.lsd).toFixed(2)} / ${mean(d.wavenet.sc).toFixed(3)}</td><td>${mean(d.gl.lsd).toFixed(2)} / ${mean(d.gl.sc).toFixed(3)}</td></tr></table>`;
    const figs = ['real', 'wavenet', 'griffin-lim'].map((w) => `<figure><figcaption>log-mel spectrograms, ${w} (left to right, as the table)</figcaption><img src="vocoded/spectrograms-${w}.png" style="height:160px;image-rendering:auto"></figure>`).join('');
    return [{ heading: 'Vocoding held-out notes and speech from their mel spectrograms', html: `${table}<p>LSD: log-spectral distance (dB, lower is better); SC: spectral convergence (lower is better); both on 1024-point magnitude STFTs.</p><div class="grid">${figs}</div>` }];
  });
}
