// The arithmetic of a plot's axes and points, with no dependency on Node or the DOM: shared by the
// run report's SVG (report.ts) and Refinery Studio's plots in the browser (web/src/plot.ts).

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Round values (1, 2, 5 x 10^k) covering [lo, hi] > 0, for a log axis. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) out.push(Number(v.toPrecision(12)));
    }
  }
  // many decades: powers of ten only
  return out.length > 8 ? out.filter((v) => Number.isInteger(Math.log10(v))) : out;
}

/** A tick label: 4 significant digits, 12k / 1.2M for large integers, exponent form when tiny or huge. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e4 && Number.isInteger(v)) return a >= 1e6 ? `${Number((v / 1e6).toPrecision(3))}M` : `${Number((v / 1e3).toPrecision(3))}k`;
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/**
 * More points than pixels: keeps each pixel column's lowest and highest value (in x order), so that
 * spikes survive; `sx` maps x to pixels, `width` is the plot's width in pixels.
 */
export function downsample(pts: [number, number][], sx: (x: number) => number, width: number): [number, number][] {
  if (pts.length <= 2 * width) return pts;
  const out: [number, number][] = [];
  let col = -1;
  let lo: [number, number] | null = null, hi: [number, number] | null = null;
  const flush = () => {
    if (!lo || !hi) return;
    if (lo === hi) out.push(lo);
    else if (lo[0] <= hi[0]) out.push(lo, hi);
    else out.push(hi, lo);
  };
  for (const p of pts) {
    const c = Math.floor(sx(p[0]));
    if (c !== col) {
      flush();
      col = c;
      lo = hi = p;
    } else {
      if (p[1] < lo![1]) lo = p;
      if (p[1] > hi![1]) hi = p;
    }
  }
  flush();
  return out;
}
