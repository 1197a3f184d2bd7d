// The runs page: the run folders, newest first; a run's curves (one plot per metric, new points
// as they are appended: the server follows metrics.jsonl and streams them), its pictures (reloaded
// when they change) and its config; a second run's curves on the same plots to compare.
import { el, getJSON } from './api';
import { COLORS, legend, linePlot } from './plot';

interface RunSummary { name: string; mtime: number; hasMetrics: boolean; hasReport: boolean; images: string[] }
type MetricRecord = Record<string, number | null> & { step: number };

const open: EventSource[] = [];
let listTimer: ReturnType<typeof setInterval> | undefined;

export function leaveRuns(): void {
  for (const s of open.splice(0)) s.close();
  clearInterval(listTimer);
}

const runUrl = (name: string, file: string): string => `/runs/${[...name.split('/'), ...file.split('/')].map(encodeURIComponent).join('/')}`;

/** Follows a run's metrics; calls `changed` after each batch of new records. */
function follow(name: string, records: MetricRecord[], changed: () => void, images?: (list: { name: string; version: number }[]) => void): void {
  const src = new EventSource(`/api/runs/metrics?name=${encodeURIComponent(name)}`);
  open.push(src);
  src.addEventListener('records', (e) => {
    const d = JSON.parse((e as MessageEvent).data) as { reset: boolean; records: MetricRecord[] };
    if (d.reset) records.length = 0;
    records.push(...d.records);
    changed();
  });
  if (images) src.addEventListener('images', (e) => images(JSON.parse((e as MessageEvent).data).images));
}

export async function runsPage(root: HTMLElement, selected?: string): Promise<void> {
  leaveRuns();
  const { runsDir, runs } = await getJSON<{ runsDir: string; runs: RunSummary[] }>('/api/runs');
  const list = el('ul', { class: 'runlist', id: 'runlist' });
  const side = el('div', { class: 'panel' }, el('h2', {}, 'Runs'), el('div', { class: 'muted' }, runsDir), list);
  const main = el('div', { id: 'run-view' });
  root.replaceChildren(el('div', { class: 'cols' }, side, main));
  if (!runs.length) main.append(el('div', { class: 'panel' }, `No run folders in ${runsDir} yet: \`refinery train diffusion\` (or any training command) writes one.`));
  const fill = (rs: RunSummary[], active: string | undefined): void => {
    list.replaceChildren(...rs.map((r) => {
      const li = el('li', { 'data-run': r.name }, r.name, el('small', {}, new Date(r.mtime).toLocaleString()));
      if (r.name === active) li.classList.add('active');
      li.addEventListener('click', () => { location.hash = `#runs/${r.name}`; });
      return li;
    }));
  };
  const name = selected ?? runs[0]?.name;
  fill(runs, name);
  // new run folders appear in the list without a reload
  listTimer = setInterval(() => {
    getJSON<{ runs: RunSummary[] }>('/api/runs').then((r) => fill(r.runs, name), () => undefined);
  }, 5000);
  if (!name) return;
  const detail = await getJSON<{ name: string; config: unknown; images: string[]; hasReport: boolean }>(`/api/runs/detail?name=${encodeURIComponent(name)}`);
  const compareSel = el('select', { id: 'compare-run' }, el('option', { value: '' }, 'compare with… (none)'));
  for (const r of runs) if (r.name !== name) compareSel.append(el('option', { value: r.name }, r.name));
  const plots = el('div', { class: 'plots', id: 'plots' });
  const legendBox = el('div');
  const imgs = el('div', { class: 'images', id: 'run-images' });
  const count = el('span', { class: 'muted', id: 'record-count' });
  main.replaceChildren(
    el('div', { class: 'panel' },
      el('h2', {}, name, ' ', count),
      detail.hasReport ? el('a', { href: runUrl(name, 'index.html'), target: '_blank' }, 'report (index.html)') : '',
      el('label', { for: 'compare-run' }, 'compare curves with'), compareSel, legendBox),
    el('h3', {}, 'Curves'), plots,
    el('h3', {}, 'Pictures'), imgs,
    el('h3', {}, 'Config'), el('pre', { id: 'run-config' }, JSON.stringify(detail.config, null, 2)));

  const mine: MetricRecord[] = [];
  let other: MetricRecord[] = [];
  let otherName = '';
  let queued = false;
  const draw = (): void => {
    queued = false;
    count.textContent = `(${mine.length} records)`;
    count.dataset.count = String(mine.length);
    const names = new Set<string>();
    for (const r of [...mine, ...other]) for (const k of Object.keys(r)) if (!['step', 'epoch', 'time'].includes(k)) names.add(k);
    const series = (rs: MetricRecord[], k: string, label: string, color: string, dashed = false) =>
      ({ name: label, color, dashed, points: rs.filter((r) => typeof r[k] === 'number').map((r): [number, number] => [r.step, r[k] as number]) });
    plots.replaceChildren(...[...names].map((k) => {
      const s = [series(mine, k, name, COLORS[0])];
      if (otherName) s.push(series(other, k, otherName, COLORS[1], true));
      const positive = s.every((x) => x.points.every((p) => p[1] > 0));
      const p = linePlot(s, { title: k, xLabel: 'step', width: 290, height: 200, logY: positive && /loss|nll|bpd|grad/i.test(k) });
      p.setAttribute('data-metric', k);
      return p;
    }));
    legendBox.replaceChildren(otherName ? legend([{ name, color: COLORS[0] }, { name: otherName, color: COLORS[1] }]) : '');
  };
  const changed = (): void => {
    if (!queued) { queued = true; requestAnimationFrame(draw); }
  };
  follow(name, mine, changed, (list) => {
    imgs.replaceChildren(...list.map((f) => el('figure', {}, el('img', { src: `${runUrl(name, f.name)}?v=${f.version}`, alt: f.name }), el('figcaption', {}, f.name))));
  });
  compareSel.addEventListener('change', () => {
    while (open.length > 1) open.pop()!.close();
    other = [];
    otherName = compareSel.value;
    if (otherName) follow(otherName, other, changed);
    changed();
  });
  draw();
}
