// A run's index.html: one self-contained page (no scripts, no network) with a line plot of every
// metric in metrics.jsonl against step as inline SVG, the images and audio in the run folder, and
// the config. Regenerated while the run goes on (it then reloads itself once a minute).
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../tensor';
import { downsample, fmt, logTicks, niceTicks } from './axes';
import { MetricRecord, metricNames, readMetrics } from './metrics';

export { niceTicks } from './axes';

export interface ReportOptions {
  /** Page title (default: the folder name). */
  title?: string;
  /** Shown in the header, e.g. "running", "completed", "interrupted"; "running" makes the page reload itself. */
  status?: string;
  /** The step and epoch shown in the header (default: those of the last metric record). */
  step?: number;
  epoch?: number;
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.gif', '.webp', '.svg']);
const AUDIO_EXT = new Set(['.wav', '.mp3', '.ogg', '.flac']);
const SKIP_DIRS = new Set(['checkpoints', 'node_modules']);
const MAX_MEDIA = 200;

/** Writes `dir/index.html` atomically from the folder's metrics.jsonl, config.json and media; returns its path. */
export function writeReport(dir: string, opts: ReportOptions & {
  /** Extra sections after the metrics (see renderReport). */
  sections?: { heading: string; html: string }[];
  /** Chooses which of the media found in the folder the Media section lists (e.g. those the sections do not show). */
  media?: (found: string[]) => string[];
} = {}): string {
  const records = readMetrics(path.join(dir, 'metrics.jsonl'));
  let config: unknown;
  try {
    config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  } catch {
    config = undefined;
  }
  const found = findMedia(dir);
  const html = renderReport({ ...opts, title: opts.title ?? path.basename(dir), records, config, media: opts.media ? opts.media(found) : found });
  const out = path.join(dir, 'index.html');
  writeFileAtomic(out, Buffer.from(html, 'utf8'));
  return out;
}

/** The report page for the given contents; `media` are paths relative to the page. */
export function renderReport(r: ReportOptions & {
  title: string;
  records: MetricRecord[];
  config?: unknown;
  media?: string[];
  /** Extra sections after the metrics (HTML bodies, e.g. figures from linePlot/barPlot); with no records the metrics section is left out. */
  sections?: { heading: string; html: string }[];
}): string {
  const last = r.records.length ? r.records[r.records.length - 1] : undefined;
  const step = r.step ?? last?.step;
  const epoch = r.epoch ?? last?.epoch;
  const facts = [
    r.status,
    step !== undefined ? `step ${step}` : 'no metrics yet',
    epoch !== undefined ? `epoch ${epoch}` : undefined,
    `updated ${new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`,
  ].filter(Boolean).join(' · ');

  const plots = metricNames(r.records).map((name) => {
    const pts: [number, number][] = [];
    for (const rec of r.records) {
      const v = rec[name];
      if (v !== undefined) pts.push([rec.step, v]);
    }
    return `<figure>${linePlot(name, pts)}</figure>`;
  });

  const media = (r.media ?? []).map((m) => {
    const src = m.split('/').map(encodeURIComponent).join('/');
    const tag = AUDIO_EXT.has(path.extname(m).toLowerCase())
      ? `<audio controls preload="none" src="${esc(src)}"></audio>`
      : `<a href="${esc(src)}"><img src="${esc(src)}" loading="lazy" alt="${esc(m)}"></a>`;
    return `<figure>${tag}<figcaption>${esc(m)}</figcaption></figure>`;
  });

  const sections = r.sections ?? [];
  const rows = flatten(r.config).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`);

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
${r.status === 'running' ? '<meta http-equiv="refresh" content="60">\n' : ''}<title>${esc(r.title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { margin: 0 0 4px; font-size: 22px; }
h2 { margin: 28px 0 8px; font-size: 17px; border-bottom: 1px solid #ddd; }
.facts { color: #666; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; }
figcaption { font-size: 12px; color: #666; }
img { max-width: 512px; image-rendering: pixelated; border: 1px solid #eee; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 2px 12px 2px 0; font-family: ui-monospace, monospace; font-size: 13px; vertical-align: top; }
th { font-weight: normal; color: #555; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .title { font-size: 13px; fill: #111; }
</style>
</head>
<body>
<h1>${esc(r.title)}</h1>
<p class="facts">${esc(facts)}</p>
${sections.length && !plots.length ? '' : `<h2>Metrics</h2>\n${plots.length ? `<div class="grid">\n${plots.join('\n')}\n</div>` : '<p>No metrics yet.</p>'}\n`}${sections.map((x) => `<h2>${esc(x.heading)}</h2>\n${x.html}\n`).join('')}${media.length ? `<h2>Media</h2>\n<div class="grid">\n${media.join('\n')}\n</div>\n` : ''}<h2>Config</h2>
${rows.length ? `<table>\n${rows.join('\n')}\n</table>` : '<p>No config.</p>'}
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------- plots

const W = 460, H = 240;
const M = { left: 58, right: 14, top: 30, bottom: 30 };

/** An inline SVG line plot of `points` ([step, value], in step order); log-scaled when positive over 2+ decades. */
export function linePlot(title: string, points: [number, number][], xLabel = 'step'): string {
  return seriesPlot(title, [{ label: '', points }], xLabel);
}

export interface PlotSeries {
  /** Legend text ('' for none). */
  label: string;
  /** [x, y] in x order. */
  points: [number, number][];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/**
 * Several line series on shared axes (a legend when they have labels); y log-scaled when positive
 * over 2+ decades unless `logY` says otherwise; x log-scaled with `logX` (positive x only).
 * `standalone` gives a file of its own (xmlns, white background, fonts) for a README figure.
 */
export function seriesPlot(title: string, series: PlotSeries[], xLabel = 'step', o: { logX?: boolean; logY?: boolean; standalone?: boolean } = {}): string {
  const tx = o.logX ? Math.log10 : (v: number) => v;
  const all = series.map((sr) => sr.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0)));
  const finite = all.flat();
  const dropped = series.reduce((a, sr) => a + sr.points.length, 0) - finite.length;
  const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
  const parts: string[] = [];
  const last = series.length === 1 ? series[0].points : [];
  const lastV = last.length ? last[last.length - 1][1] : undefined;
  parts.push(`<text class="title" x="${M.left}" y="16">${esc(title)}</text>`);
  if (lastV !== undefined) {
    parts.push(`<text x="${W - M.right}" y="16" text-anchor="end">last ${esc(fmt(lastV))}${dropped ? ` · ${dropped} non-finite omitted` : ''}</text>`);
  }
  if (finite.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no finite values</text>`);
    return svg(title, parts, o.standalone);
  }

  const ys = finite.map((p) => p[1]);
  let ymin = Math.min(...ys), ymax = Math.max(...ys);
  const log = o.logY ?? (ymin > 0 && ymax / ymin >= 100);
  const ty = log ? Math.log10 : (v: number) => v;
  let y0 = ty(ymin), y1 = ty(ymax);
  if (y1 - y0 === 0) {
    const pad = Math.abs(y0) * 0.1 || 1;
    y0 -= pad;
    y1 += pad;
  } else {
    const pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
  }
  let x0 = tx(finite[0][0]), x1 = tx(finite[finite.length - 1][0]);
  for (const [x] of finite) {
    if (tx(x) < x0) x0 = tx(x);
    if (tx(x) > x1) x1 = tx(x);
  }
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  const sx = (x: number) => M.left + ((tx(x) - x0) / (x1 - x0)) * pw;
  const sy = (v: number) => M.top + (1 - (ty(v) - y0) / (y1 - y0)) * ph;

  // grid and ticks
  const yTicks = log ? logTicks(10 ** y0, 10 ** y1) : niceTicks(y0, y1, 5);
  for (const t of yTicks) {
    const y = r1(sy(t));
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${esc(fmt(t))}</text>`);
  }
  for (const t of o.logX ? logTicks(10 ** x0, 10 ** x1) : niceTicks(x0, x1, 5)) {
    const x = r1(sx(t));
    parts.push(`<line x1="${x}" x2="${x}" y1="${M.top}" y2="${H - M.bottom}" stroke="#f3f3f3"/>`);
    parts.push(`<text x="${x}" y="${H - M.bottom + 16}" text-anchor="middle">${esc(fmt(t))}</text>`);
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#ccc"/>`);
  parts.push(`<text x="${W - M.right}" y="${H - 4}" text-anchor="end">${esc(xLabel)}</text>`);

  all.forEach((pts, k) => {
    if (!pts.length) return;
    const color = COLORS[k % COLORS.length];
    const shown = downsample(pts, sx, pw);
    if (shown.length === 1) {
      parts.push(`<circle cx="${r1(sx(shown[0][0]))}" cy="${r1(sy(shown[0][1]))}" r="3" fill="${color}"/>`);
    } else {
      const d = shown.map(([x, y], i) => `${i ? 'L' : 'M'}${r1(sx(x))} ${r1(sy(y))}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5" stroke-linejoin="round"/>`);
    }
    if (series[k].label) {
      const ly = M.top + 14 + 14 * k;
      parts.push(`<line x1="${M.left + 8}" x2="${M.left + 26}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`);
      parts.push(`<text x="${M.left + 30}" y="${ly}">${esc(series[k].label)}</text>`);
    }
  });
  return svg(title, parts, o.standalone);
}

/** An inline SVG bar plot (a histogram when `bars` are bin centres and counts): [x, height] with heights >= 0, bars of equal width. */
export function barPlot(title: string, bars: [number, number][], xLabel = ''): string {
  const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
  const parts: string[] = [`<text class="title" x="${M.left}" y="16">${esc(title)}</text>`];
  const ok = bars.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (ok.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no finite values</text>`);
    return svg(title, parts);
  }
  const xs = ok.map((b) => b[0]);
  const step = ok.length > 1 ? (Math.max(...xs) - Math.min(...xs)) / (ok.length - 1) : 1;
  const x0 = Math.min(...xs) - step / 2, x1 = Math.max(...xs) + step / 2;
  const y1 = Math.max(...ok.map((b) => b[1])) * 1.05 || 1;
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (v: number) => M.top + (1 - v / y1) * ph;
  for (const t of niceTicks(0, y1, 4)) {
    const y = r1(sy(t));
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${esc(fmt(t))}</text>`);
  }
  for (const t of niceTicks(x0, x1, 5)) parts.push(`<text x="${r1(sx(t))}" y="${H - M.bottom + 16}" text-anchor="middle">${esc(fmt(t))}</text>`);
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#ccc"/>`);
  if (xLabel) parts.push(`<text x="${W - M.right}" y="${H - 4}" text-anchor="end">${esc(xLabel)}</text>`);
  const bw = Math.max(0.5, (step / (x1 - x0)) * pw * 0.9);
  const d = ok.map(([x, y]) => `M${r1(sx(x) - bw / 2)} ${r1(sy(0))}V${r1(sy(Math.max(0, y)))}h${r1(bw)}V${r1(sy(0))}z`).join('');
  parts.push(`<path d="${d}" fill="#1f77b4"/>`);
  return svg(title, parts);
}

/**
 * An inline SVG confusion matrix: `counts[true][predicted]`, each row shaded by its share of the row
 * (so rare classes read as clearly as common ones), the count in each cell.
 */
export function confusionPlot(title: string, counts: number[][], classes: string[]): string {
  const k = counts.length, cell = Math.max(18, Math.min(36, Math.floor(360 / Math.max(1, k))));
  const left = 110, top = 40, w = left + k * cell + 10, h = top + k * cell + 40;
  const parts: string[] = [`<text class="title" x="${left}" y="16">${esc(title)}</text>`,
    `<text x="${left + (k * cell) / 2}" y="32" text-anchor="middle">predicted</text>`];
  counts.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    parts.push(`<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end">${esc(classes[i] ?? String(i))}</text>`);
    row.forEach((c, j) => {
      const share = c / total, shade = Math.round(255 * (1 - share));
      const fill = i === j ? `rgb(${shade},${Math.round(255 - 0.4 * (255 - shade))},${shade})` : `rgb(255,${shade},${shade})`;
      parts.push(`<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"><title>${esc(`${classes[i] ?? i} -> ${classes[j] ?? j}: ${c}`)}</title></rect>`);
      if (c > 0) parts.push(`<text x="${left + j * cell + cell / 2}" y="${top + i * cell + cell / 2 + 4}" text-anchor="middle" style="font-size:${cell < 26 ? 8 : 10}px">${c}</text>`);
    });
  });
  classes.forEach((name, j) => parts.push(`<text x="${left + j * cell + cell / 2}" y="${top + k * cell + 14}" text-anchor="middle" style="font-size:9px">${esc(name.slice(0, 6))}</text>`));
  parts.push(`<text x="12" y="${top + (k * cell) / 2}" transform="rotate(-90 12 ${top + (k * cell) / 2})" text-anchor="middle">true</text>`);
  return `<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">\n${parts.join('\n')}\n</svg>`;
}

function svg(title: string, parts: string[], standalone = false): string {
  if (standalone) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}" font-family="sans-serif" font-size="11">\n`
      + `<rect width="${W}" height="${H}" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
  }
  return `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">\n${parts.join('\n')}\n</svg>`;
}


const r1 = (v: number) => Math.round(v * 10) / 10;

// ------------------------------------------------------------------------------ helpers

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function flatten(x: unknown, prefix = ''): [string, string][] {
  if (x === undefined) return [];
  if (typeof x === 'object' && x !== null && !Array.isArray(x)) {
    const entries = Object.entries(x);
    if (entries.length === 0 && prefix) return [[prefix, '{}']];
    return entries.flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
  }
  return [[prefix || '(config)', typeof x === 'string' ? x : JSON.stringify(x)]];
}

/** Images and audio under `dir` (not in checkpoints/), as page-relative paths in natural order. */
function findMedia(dir: string): string[] {
  const out: string[] = [];
  const visit = (rel: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (depth < 3 && !SKIP_DIRS.has(e.name)) visit(p, depth + 1);
      } else if (e.isFile()) {
        const ext = path.extname(e.name).toLowerCase();
        if (IMAGE_EXT.has(ext) || AUDIO_EXT.has(ext)) out.push(p);
      }
    }
  };
  visit('', 0);
  out.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  // the newest (last in step order) when there are too many to show
  return out.slice(-MAX_MEDIA);
}
