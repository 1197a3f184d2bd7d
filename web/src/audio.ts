// The audio page: notes of a WaveNet checkpoint at a pitch and instrument, played in the page and
// downloadable as WAV.
import { el, getJSON, runJob } from './api';

interface AudioOptions {
  checkpoints: { id: string; problem?: string }[];
  instruments: string[];
  limits: { count: number; seconds: number };
  defaults: { pitch: number; instrument: number; seconds: number; count: number; temperature: number; seed: number };
}

let running: AbortController | null = null;

export function leaveAudio(): void {
  running?.abort();
  running = null;
}

export async function audioPage(root: HTMLElement): Promise<void> {
  const kinds = await getJSON<{ name: string; options: AudioOptions }[]>('/api/kinds');
  const o = kinds.find((k) => k.name === 'audio')!.options;
  if (!o.checkpoints.length) {
    root.replaceChildren(el('div', { class: 'panel' }, 'No WaveNet checkpoint here yet: `refinery train wavenet` writes one into a run folder, and it appears in this list.'));
    return;
  }
  const d = o.defaults;
  const checkpoint = el('select', { id: 'audio-checkpoint' }, ...o.checkpoints.map((c) => el('option', { value: c.id }, `${c.id}${c.problem ? ' (unreadable)' : ''}`)));
  const num = (id: string, v: number, min: number, max: number, step = 1) => el('input', { id, type: 'number', value: String(v), min: String(min), max: String(max), step: String(step) });
  const pitch = num('audio-pitch', d.pitch, 0, 127), seconds = num('audio-seconds', d.seconds, 0.05, o.limits.seconds, 0.05);
  const count = num('audio-count', d.count, 1, o.limits.count), temperature = num('audio-temperature', d.temperature, 0.05, 10, 0.05), seed = num('audio-seed', d.seed, 0, 2 ** 32 - 1);
  const instrument = el('select', { id: 'audio-instrument' }, ...o.instruments.map((name, i) => el('option', { value: String(i) }, `${i} ${name}`)));
  const go = el('button', { id: 'audio-generate' }, 'Generate');
  const error = el('div', { class: 'error', id: 'audio-error' });
  const status = el('div', { class: 'status', id: 'audio-status' });
  const out = el('div', { id: 'clips' });
  root.replaceChildren(el('div', { class: 'cols' },
    el('div', { class: 'panel' }, el('h2', {}, 'Audio'),
      el('label', { for: 'audio-checkpoint' }, 'checkpoint'), checkpoint,
      el('div', { class: 'row' }, el('div', {}, el('label', { for: 'audio-pitch' }, 'MIDI pitch'), pitch), el('div', {}, el('label', { for: 'audio-seconds' }, 'seconds'), seconds)),
      el('label', { for: 'audio-instrument' }, 'instrument'), instrument,
      el('div', { class: 'row' },
        el('div', {}, el('label', { for: 'audio-count' }, 'notes'), count),
        el('div', {}, el('label', { for: 'audio-temperature' }, 'temperature'), temperature),
        el('div', {}, el('label', { for: 'audio-seed' }, 'seed'), seed)),
      el('div', { class: 'row' }, go), error),
    el('div', { class: 'panel' }, status, out)));
  go.addEventListener('click', () => void (async () => {
    leaveAudio();
    const ctl = new AbortController();
    running = ctl;
    error.textContent = '';
    out.replaceChildren();
    go.disabled = true;
    status.textContent = 'generating…';
    delete status.dataset.outcome;
    const params = { checkpoint: checkpoint.value, pitch: pitch.value, instrument: instrument.value, seconds: seconds.value, count: count.value, temperature: temperature.value, seed: seed.value };
    try {
      await runJob('audio', params, (event, data) => {
        if (event === 'queued') status.textContent = `waiting: position ${data.position} in the queue`;
        else if (event === 'audio') {
          out.replaceChildren(...data.clips.map((src: string, i: number) => el('figure', {}, el('audio', { controls: '', src }),
            el('figcaption', {}, el('a', { href: src, download: `note-${params.pitch}-${params.instrument}-seed${params.seed}-${i + 1}.wav` }, 'download WAV')))));
          status.textContent = `${data.clips.length} notes in ${data.seconds.toFixed(1)} s (${Math.round(data.samplesPerSecond)} samples/s)`;
        } else if (event === 'error') error.textContent = data.message;
        else if (event === 'end') status.dataset.outcome = data.outcome;
      }, ctl.signal);
    } catch (e) {
      if ((e as Error).name !== 'AbortError') { error.textContent = (e as Error).message; status.textContent = ''; status.dataset.outcome = 'refused'; }
    } finally {
      if (running === ctl) running = null;
      go.disabled = false;
    }
  })());
}
