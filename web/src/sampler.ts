// The diffusion sampler page: the settings (checkpoint, class, guidance slider, sampler, steps,
// seed, n, further γ from the same noise), the trajectory live (x and D(x, σ) at every step), then
// the grids side by side with PNG downloads. Cancel (or leaving the page) stops the job on the server.
import { el, getJSON, runJob } from './api';

interface DiffusionOptions {
  checkpoints: { id: string; problem?: string }[];
  classes: string[];
  samplers: { name: string; description: string; stochastic: boolean }[];
  limits: { n: number; steps: number; guidance: number; compare: number };
  defaults: { checkpoint: string; guidance: number; sampler: string; steps: number; seed: number; n: number };
}

let running: AbortController | null = null;

/** A canvas with the first 28 x 28 image of a PNG grid (padding `pad`). */
function firstCell(src: string, pad: number, title: string): HTMLCanvasElement {
  const c = el('canvas', { width: '28', height: '28', title });
  const img = new Image();
  img.onload = () => c.getContext('2d')!.drawImage(img, pad, pad, 28, 28, 0, 0, 28, 28);
  img.src = src;
  return c;
}

/** Stops the job of this page (when the page is left). */
export function leaveSampler(): void {
  running?.abort();
  running = null;
}

export async function samplerPage(root: HTMLElement): Promise<void> {
  const kinds = await getJSON<{ name: string; options: DiffusionOptions }[]>('/api/kinds');
  const o = kinds.find((k) => k.name === 'diffusion')!.options;
  const d = o.defaults;
  const select = (id: string, items: [string, string][], value: string): HTMLSelectElement => {
    const s = el('select', { id });
    for (const [v, text] of items) s.append(el('option', { value: v }, text));
    s.value = value;
    return s;
  };
  const number = (id: string, value: number, min: number, max: number, step = 1): HTMLInputElement =>
    el('input', { id, type: 'number', value: String(value), min: String(min), max: String(max), step: String(step) });
  const checkpoint = select('checkpoint', o.checkpoints.map((c) => [c.id, c.id === 'shipped' ? 'shipped Fashion-MNIST model' : `${c.id}${c.problem ? ' (unreadable)' : ''}`]), d.checkpoint);
  const cls = select('class', [['', 'classes 0-9 in turn'], ['-1', 'unconditional'], ...o.classes.map((c, i): [string, string] => [String(i), `${i} ${c}`])], '');
  const guidance = el('input', { id: 'guidance', type: 'range', min: '0', max: '10', step: '0.1', value: String(d.guidance) });
  const guidanceOut = el('output', { id: 'guidance-value' }, String(d.guidance));
  guidance.addEventListener('input', () => { guidanceOut.textContent = guidance.value; });
  const sampler = select('sampler', o.samplers.map((s) => [s.name, s.name]), d.sampler);
  const samplerInfo = el('div', { class: 'muted' });
  const describe = (): void => { samplerInfo.textContent = o.samplers.find((s) => s.name === sampler.value)?.description ?? ''; };
  sampler.addEventListener('change', describe);
  describe();
  const steps = number('steps', d.steps, 1, o.limits.steps);
  const seed = number('seed', d.seed, 0, 2 ** 32 - 1);
  const n = number('n', d.n, 1, o.limits.n);
  const compare = el('input', { id: 'compare', type: 'text', placeholder: 'e.g. 0, 1, 6', value: '' });
  const go = el('button', { id: 'sample' }, 'Sample');
  const stop = el('button', { id: 'cancel', class: 'secondary' }, 'Cancel');
  stop.disabled = true;
  const error = el('div', { class: 'error', id: 'error' });
  const status = el('div', { class: 'status', id: 'status' });
  const xImg = el('img', { class: 'pix', id: 'live-x', alt: 'x' });
  const dImg = el('img', { class: 'pix', id: 'live-d', alt: 'D(x, σ)' });
  const xCap = el('figcaption', {}, 'x (scaled by σ_data / √(σ² + σ_data²))');
  const dCap = el('figcaption', {}, 'D(x, σ)');
  // the trajectory of the first image: x (top row) and D(x, σ) (bottom row) at every step
  const stripX = el('div', { class: 'strip', id: 'strip-x' });
  const stripD = el('div', { class: 'strip', id: 'strip-d' });
  const grids = el('div', { class: 'grids', id: 'grids' });
  const form = el('div', { class: 'panel' },
    el('h2', {}, 'Settings'),
    el('label', { for: 'checkpoint' }, 'checkpoint'), checkpoint,
    el('label', { for: 'class' }, 'class'), cls,
    el('label', { for: 'guidance' }, 'guidance scale γ = ', guidanceOut), guidance,
    el('label', { for: 'sampler' }, 'sampler'), sampler, samplerInfo,
    el('div', { class: 'row' },
      el('div', {}, el('label', { for: 'steps' }, 'steps'), steps),
      el('div', {}, el('label', { for: 'n' }, 'images'), n),
      el('div', {}, el('label', { for: 'seed' }, 'seed'), seed)),
    el('label', { for: 'compare' }, `same noise, other γ (up to ${o.limits.compare}, comma-separated)`), compare,
    el('div', { class: 'row' }, go, stop),
    error);
  const view = el('div', {},
    status,
    el('div', { class: 'live' }, el('figure', {}, xImg, xCap), el('figure', {}, dImg, dCap)),
    el('div', { class: 'muted traj' }, 'trajectory of the first image: x (top) and D(x, σ) (bottom) at each step'), stripX, stripD,
    grids);
  root.replaceChildren(el('div', { class: 'cols' }, form, view));

  const start = async (): Promise<void> => {
    leaveSampler();
    error.textContent = '';
    stripX.replaceChildren();
    stripD.replaceChildren();
    grids.replaceChildren();
    const params: Record<string, unknown> = {
      checkpoint: checkpoint.value, guidance: Number(guidance.value), sampler: sampler.value,
      steps: steps.value, seed: seed.value, n: n.value,
    };
    if (cls.value !== '') params.class = cls.value;
    if (compare.value.trim() !== '') params.compare = compare.value.replace(/\s+/g, '');
    const ctl = new AbortController();
    running = ctl;
    go.disabled = true;
    stop.disabled = false;
    const t0 = performance.now();
    let total = 0, first = 0, pad = 2;
    status.textContent = 'starting…';
    try {
      await runJob('diffusion', params, (event, data) => {
        if (event === 'queued') status.textContent = `waiting: position ${data.position} in the queue`;
        else if (event === 'start') { total = data.steps; pad = data.n > 1 ? 2 : 0; status.textContent = `sampling ${data.n} images, ${data.steps} steps (${data.nfe} network evaluations per image)`; }
        else if (event === 'step') {
          if (data.i === 0) first = performance.now() - t0;
          xImg.src = data.x;
          dImg.src = data.denoised;
          xCap.textContent = `x at σ = ${data.sigma.toPrecision(3)} (scaled by σ_data / √(σ² + σ_data²))`;
          dCap.textContent = `D(x, σ = ${data.sigma.toPrecision(3)})`;
          const title = `step ${data.i + 1}, σ = ${data.sigma.toPrecision(3)}`;
          stripX.append(firstCell(data.x, pad, title));
          stripD.append(firstCell(data.denoised, pad, title));
          const rate = data.i > 0 ? (data.i / ((data.ms - 0) / 1000)) : 0;
          status.textContent = `step ${data.i + 1}/${total}, σ = ${data.sigma.toPrecision(3)}${rate ? `, ${rate.toFixed(1)} steps/s` : ''}; first step after ${(first / 1000).toFixed(2)} s`;
          status.dataset.step = String(data.i + 1);
        } else if (event === 'progress') status.textContent = `γ = ${data.guidance}: step ${data.i + 1}/${data.steps}`;
        else if (event === 'grid') {
          const img = el('img', { class: 'pix', src: data.png, alt: `samples at γ = ${data.guidance}`, 'data-guidance': String(data.guidance) });
          const a = el('a', { href: data.png, download: `samples-${sampler.value}-g${data.guidance}-seed${seed.value}.png` }, 'download PNG');
          grids.append(el('figure', {}, img, el('figcaption', {}, `γ = ${data.guidance} (${data.seconds.toFixed(1)} s) · `, a)));
        } else if (event === 'error') error.textContent = data.message;
        else if (event === 'end') {
          status.dataset.outcome = data.outcome;
          if (data.outcome === 'done') status.textContent = `done in ${((performance.now() - t0) / 1000).toFixed(1)} s (first step after ${(first / 1000).toFixed(2)} s)`;
          else if (data.outcome === 'cancelled') status.textContent = 'cancelled';
          else status.textContent = 'failed';
        }
      }, ctl.signal);
    } catch (e) {
      if ((e as Error).name === 'AbortError') { status.textContent = 'cancelled'; status.dataset.outcome = 'cancelled'; }
      else { error.textContent = (e as Error).message; status.textContent = ''; status.dataset.outcome = 'refused'; }
    } finally {
      if (running === ctl) running = null;
      go.disabled = false;
      stop.disabled = true;
    }
  };
  go.addEventListener('click', () => void start());
  stop.addEventListener('click', () => leaveSampler());
}
