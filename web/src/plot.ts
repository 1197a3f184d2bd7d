// Line plots as inline SVG: axes with round ticks, one polyline per series, optional shaded band
// and vertical markers. Small on purpose: the pages draw a few hundred points at most per series.
export interface Series {
  name: string;
  points: [number, number][];
  color: string;
  dashed?: boolean;
}

export interface PlotOptions {
  title: string;
  width?: number;
  height?: number;
  xLabel?: string;
  logY?: boolean;
  band?: [number, number];
  markers?: { x: number; label: string; color: string }[];
}

import { downsample, fmt as label, logTicks, niceTicks } from '../../src/train/axes';

const SVG = 'http://www.w3.org/2000/svg';
export const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

export function linePlot(series: Series[], o: PlotOptions): SVGSVGElement {
  const W = o.width ?? 420, H = o.height ?? 240;
  const m = { l: 52, r: 12, t: 24, b: 30 };
  const root = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'plot' });
  const ty = (y: number): number => (o.logY ? Math.log10(y) : y);
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logY || y > 0));
  root.setAttribute('data-points', String(series.reduce((n, s) => n + s.points.length, 0)));
  root.append(Object.assign(svg('text', { x: m.l, y: 15, class: 'title' }), { textContent: o.title }));
  if (!all.length) {
    root.append(Object.assign(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }), { textContent: 'no data yet' }));
    return root;
  }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => ty(p[1]))), Math.max(...all.map((p) => ty(p[1])))];
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad; y1 += pad;
  const sx = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number): number => H - m.b - ((ty(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  if (o.band) root.append(svg('rect', { x: sx(o.band[0]), y: m.t, width: Math.max(0, sx(o.band[1]) - sx(o.band[0])), height: H - m.t - m.b, fill: '#fde68a', opacity: 0.5 }));
  for (const t of niceTicks(x0, x1, 5)) {
    root.append(svg('line', { x1: sx(t), x2: sx(t), y1: H - m.b, y2: H - m.b + 4, stroke: '#999' }));
    root.append(Object.assign(svg('text', { x: sx(t), y: H - m.b + 15, 'text-anchor': 'middle' }), { textContent: label(t) }));
  }
  // on a log axis: round values of the data's own range, placed by their logarithm
  const yTicks = o.logY ? logTicks(10 ** y0, 10 ** y1).map((v) => [Math.log10(v), v]) : niceTicks(y0, y1, 4).map((v) => [v, v]);
  for (const [t, v] of yTicks) {
    const y = H - m.b - ((t - y0) / (y1 - y0)) * (H - m.t - m.b);
    root.append(svg('line', { x1: m.l, x2: W - m.r, y1: y, y2: y, stroke: '#eee' }));
    root.append(Object.assign(svg('text', { x: m.l - 5, y: y + 4, 'text-anchor': 'end' }), { textContent: label(v) }));
  }
  root.append(svg('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, stroke: '#999' }));
  if (o.xLabel) root.append(Object.assign(svg('text', { x: W - m.r, y: H - 4, 'text-anchor': 'end' }), { textContent: o.xLabel }));
  for (const mk of o.markers ?? []) {
    if (mk.x < x0 || mk.x > x1) continue;
    root.append(svg('line', { x1: sx(mk.x), x2: sx(mk.x), y1: m.t, y2: H - m.b, stroke: mk.color, 'stroke-dasharray': '4 3' }));
    root.append(Object.assign(svg('text', { x: sx(mk.x) + 3, y: m.t + 10, fill: mk.color }), { textContent: mk.label }));
  }
  for (const s of series) {
    const pts = downsample(s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logY || y > 0)), sx, W - m.l - m.r);
    if (!pts.length) continue;
    const attrs: Record<string, string | number> = { fill: 'none', stroke: s.color, 'stroke-width': 1.6, points: pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' '), 'data-series': s.name };
    if (s.dashed) attrs['stroke-dasharray'] = '5 3';
    root.append(svg('polyline', attrs));
  }
  return root;
}

/** A legend row: a colour swatch and the name of each series. */
export function legend(series: { name: string; color: string }[]): HTMLElement {
  const d = document.createElement('div');
  d.className = 'legend';
  for (const s of series) {
    const span = document.createElement('span');
    const i = document.createElement('i');
    i.style.background = s.color;
    span.append(i, s.name);
    d.append(span);
  }
  return d;
}
