// The text page: a language model checkpoint (from the run folders, or shipped), a prompt or a
// sentence with ___ for each gap to fill (the diffusion models MDLM and CDCD), and the samples.
import { el, getJSON, runJob } from './api';

interface TextOptions {
  checkpoints: { id: string; problem?: string; model?: string }[];
  limits: { n: number; steps: number; chars: number };
  defaults: { n: number; steps: number; gap: number; seed: number };
}

let running: AbortController | null = null;

export function leaveText(): void {
  running?.abort();
  running = null;
}

export async function textPage(root: HTMLElement): Promise<void> {
  const kinds = await getJSON<{ name: string; options: TextOptions }[]>('/api/kinds');
  const o = kinds.find((k) => k.name === 'text')!.options;
  if (!o.checkpoints.length) {
    root.replaceChildren(el('div', { class: 'panel' }, 'No text checkpoint here yet: `refinery train text` writes one into a run folder, and it appears in this list.'));
    return;
  }
  const checkpoint = el('select', { id: 'text-checkpoint' }, ...o.checkpoints.map((c) => el('option', { value: c.id }, `${c.id}${c.model ? ` (${c.model})` : ''}${c.problem ? ' (unreadable)' : ''}`)));
  const text = el('textarea', { id: 'text-input', rows: '3', maxlength: String(o.limits.chars) });
  text.value = 'The ___ of the ___ was ___.';
  const num = (id: string, v: number, min: number, max: number) => el('input', { id, type: 'number', value: String(v), min: String(min), max: String(max) });
  const n = num('text-n', o.defaults.n, 1, o.limits.n), steps = num('text-steps', o.defaults.steps, 1, o.limits.steps);
  const gap = num('text-gap', o.defaults.gap, 1, 32), seed = num('text-seed', o.defaults.seed, 0, 2 ** 32 - 1);
  const go = el('button', { id: 'text-sample' }, 'Sample');
  const error = el('div', { class: 'error', id: 'text-error' });
  const status = el('div', { class: 'status', id: 'text-status' });
  const out = el('ol', { id: 'texts', class: 'texts' });
  root.replaceChildren(el('div', { class: 'cols' },
    el('div', { class: 'panel' }, el('h2', {}, 'Text'),
      el('label', { for: 'text-checkpoint' }, 'checkpoint'), checkpoint,
      el('label', { for: 'text-input' }, 'prompt, or a sentence with ___ for each gap (diffusion models)'), text,
      el('div', { class: 'row' },
        el('div', {}, el('label', { for: 'text-n' }, 'samples'), n),
        el('div', {}, el('label', { for: 'text-steps' }, 'steps'), steps),
        el('div', {}, el('label', { for: 'text-gap' }, 'tokens per gap'), gap),
        el('div', {}, el('label', { for: 'text-seed' }, 'seed'), seed)),
      el('div', { class: 'row' }, go), error),
    el('div', { class: 'panel' }, status, out)));
  go.addEventListener('click', () => void (async () => {
    leaveText();
    const ctl = new AbortController();
    running = ctl;
    error.textContent = '';
    out.replaceChildren();
    go.disabled = true;
    status.textContent = 'sampling…';
    delete status.dataset.outcome;
    try {
      await runJob('text', { checkpoint: checkpoint.value, text: text.value, n: n.value, steps: steps.value, gap: gap.value, seed: seed.value }, (event, data) => {
        if (event === 'queued') status.textContent = `waiting: position ${data.position} in the queue`;
        else if (event === 'start') status.textContent = `sampling ${data.n} texts with the ${data.model} model${data.infill ? ' (infilling)' : ''}…`;
        else if (event === 'texts') {
          out.replaceChildren(...data.texts.map((t: string) => el('li', {}, t)));
          status.textContent = `${data.texts.length} samples, ${data.nfe} network evaluations, ${data.seconds.toFixed(1)} s`;
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
