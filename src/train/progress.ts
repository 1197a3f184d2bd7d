// The one progress reporter for long work (training, sampling, evaluation, data preparation).
// On a terminal: one line redrawn in place (count/total, percentage, bar, elapsed<ETA, rate,
// fields such as the current loss). Elsewhere (CI logs, files, pipes): a plain line every
// `intervalMs` and at every `percentStep` percent, so logs stay short and readable.

/** The streams a reporter can write to: process.stderr, a file stream, or a test's capture. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Extra values shown after the counters, e.g. `{ loss: 0.4213, lr: 3e-4 }`. */
export type ProgressFields = Record<string, number | string | undefined>;

export interface ProgressOptions {
  /** Number of units when done; without it, only the count and rate are shown. */
  total?: number;
  /** Shown first on the line. */
  label?: string;
  /** Units already done before this reporter started (a resumed run); excluded from the rate. */
  initial?: number;
  /** Name of a unit in the rate (default "it": "12.5 it/s"). */
  unit?: string;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Redraw in place (default: whether the stream is a TTY). */
  tty?: boolean;
  /** TTY: redraw at most this often (default 100 ms). */
  redrawMs?: number;
  /** Plain: a line at least this often while updates arrive (default 10 s). */
  intervalMs?: number;
  /** Plain: also a line each time this many percent of the total are passed (default 10). */
  percentStep?: number;
  /** Clock in milliseconds (tests pass a fake one). */
  now?: () => number;
}

// Exponential smoothing of the rate, as tqdm: 0 keeps the overall average, 1 the latest interval.
const SMOOTHING = 0.3;

export class Progress {
  total: number | undefined;
  readonly label: string;
  readonly unit: string;
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly redrawMs: number;
  private readonly intervalMs: number;
  private readonly percentStep: number;
  private readonly now: () => number;
  private readonly start: number;
  private readonly initial: number;
  private count: number;
  private fields: ProgressFields = {};
  // rate smoothing: EMAs of units and milliseconds between samples
  private sampleTime: number;
  private sampleCount: number;
  private emaUnits = 0;
  private emaMs = 0;
  private lastDraw = -Infinity;
  private lastLineCount = -1;
  private nextPercent: number;
  private drawn = false;
  private closed = false;

  constructor(opts: ProgressOptions = {}) {
    if (opts.total !== undefined && !(Number.isFinite(opts.total) && opts.total >= 0)) {
      throw new RangeError(`Progress: total must be a non-negative number, got ${opts.total}`);
    }
    this.total = opts.total;
    this.label = opts.label ?? '';
    this.unit = opts.unit ?? 'it';
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    this.redrawMs = opts.redrawMs ?? 100;
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.percentStep = opts.percentStep ?? 10;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
    this.initial = opts.initial ?? 0;
    this.count = this.initial;
    this.sampleTime = this.start;
    this.sampleCount = this.count;
    this.nextPercent = this.percentAfter(this.count);
    this.lastDraw = this.tty ? -Infinity : this.start;
  }

  /** Changes the expected total (e.g. an estimate that firms up as work proceeds). */
  setTotal(total: number | undefined): void {
    if (total !== undefined && !(Number.isFinite(total) && total >= 0)) throw new RangeError(`Progress: total must be a non-negative number, got ${total}`);
    this.total = total;
  }

  /** Advances by `n` units and merges `fields` into the displayed ones. */
  update(n = 1, fields?: ProgressFields): void {
    this.set(this.count + n, fields);
  }

  /** Sets the count (and merges `fields`); redraws when due. */
  set(count: number, fields?: ProgressFields): void {
    if (this.closed) return;
    this.count = count;
    if (fields) this.setFields(fields);
    const t = this.now();
    if (this.tty) {
      if (t - this.lastDraw >= this.redrawMs || count === this.total) this.draw(t);
    } else {
      const pct = this.total ? (100 * count) / this.total : 0;
      if (t - this.lastDraw >= this.intervalMs || (this.total && pct >= this.nextPercent)) this.draw(t);
    }
  }

  /** Merges `fields` into the displayed ones (an undefined value removes a field); draws on the next update. */
  setFields(fields: ProgressFields): void {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) delete this.fields[k];
      else this.fields[k] = v;
    }
  }

  /** Prints a message on its own line without breaking the bar. */
  log(message: string): void {
    if (this.tty && this.drawn && !this.closed) {
      this.stream.write(`\r\x1b[K${message}\n`);
      this.draw(this.now());
    } else {
      this.stream.write(`${message}\n`);
    }
  }

  /** Draws the final state and ends the line. Idempotent. */
  close(fields?: ProgressFields): void {
    if (this.closed) return;
    if (fields) this.setFields(fields);
    const t = this.now();
    if (this.tty) {
      this.draw(t);
      this.stream.write('\n');
    } else if (this.lastLineCount !== this.count) {
      this.draw(t);
    }
    this.closed = true;
  }

  /** Units per second, smoothed (0 until time has passed). */
  rate(): number {
    this.sample(this.now());
    return this.emaMs > 0 ? (1000 * this.emaUnits) / this.emaMs : 0;
  }

  /** Seconds left at the current rate (undefined without a total or a rate). */
  eta(): number | undefined {
    const r = this.rate();
    if (this.total === undefined || r <= 0) return undefined;
    return Math.max(0, this.total - this.count) / r;
  }

  /** Yields the items of `items`, advancing the reporter by one per item, and closes it at the end. */
  static *wrap<T>(items: Iterable<T>, opts: ProgressOptions = {}): Generator<T> {
    const total = opts.total ?? (Array.isArray(items) ? items.length : undefined);
    const p = new Progress({ ...opts, total });
    try {
      for (const x of items) {
        yield x;
        p.update();
      }
    } finally {
      p.close();
    }
  }

  /** The line as it would be drawn now (without terminal control characters). */
  line(width = Infinity): string {
    return this.compose(this.now(), width);
  }

  private percentAfter(count: number): number {
    if (!this.total || this.percentStep <= 0) return Infinity;
    const pct = (100 * count) / this.total;
    return (Math.floor(pct / this.percentStep) + 1) * this.percentStep;
  }

  private sample(t: number): void {
    const dt = t - this.sampleTime;
    if (dt <= 0) return;
    const dn = this.count - this.sampleCount;
    if (this.emaMs === 0) {
      this.emaUnits = dn;
      this.emaMs = dt;
    } else {
      this.emaUnits = SMOOTHING * dn + (1 - SMOOTHING) * this.emaUnits;
      this.emaMs = SMOOTHING * dt + (1 - SMOOTHING) * this.emaMs;
    }
    this.sampleTime = t;
    this.sampleCount = this.count;
  }

  private draw(t: number): void {
    this.sample(t);
    this.lastDraw = t;
    this.lastLineCount = this.count;
    if (this.tty) {
      const width = Math.max(20, (this.stream.columns ?? 80) - 1);
      this.stream.write(`\r${this.compose(t, width)}\x1b[K`);
      this.drawn = true;
    } else {
      this.stream.write(`${this.compose(t, Infinity)}\n`);
      this.nextPercent = this.percentAfter(this.count);
    }
  }

  private compose(t: number, width: number): string {
    const elapsed = (t - this.start) / 1000;
    const r = this.emaMs > 0 ? (1000 * this.emaUnits) / this.emaMs : 0;
    const rate = r <= 0 ? `? ${this.unit}/s` : r >= 1 ? `${formatNumber(r, 3)} ${this.unit}/s` : `${formatNumber(1 / r, 3)} s/${this.unit}`;
    const eta = this.total !== undefined && r > 0 ? formatDuration(Math.max(0, this.total - this.count) / r) : '?';
    const fields = Object.entries(this.fields).map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : v}`).join(' ');
    const label = this.label ? `${this.label} ` : '';
    if (this.total === undefined) {
      return clip(`${label}${this.count} ${this.unit} [${formatDuration(elapsed)}, ${rate}]${fields ? ' ' + fields : ''}`, width);
    }
    const frac = this.total > 0 ? Math.min(1, this.count / this.total) : 1;
    const pct = `${Math.floor(100 * frac)}%`.padStart(4);
    const counts = `${this.count}/${this.total}`;
    if (!this.tty) {
      return `${label}${counts} (${pct.trim()}) ${rate} elapsed ${formatDuration(elapsed)} eta ${eta}${fields ? ' ' + fields : ''}`;
    }
    const head = `${label}${pct} `;
    const tail = ` ${counts} [${formatDuration(elapsed)}<${eta}, ${rate}]${fields ? ' ' + fields : ''}`;
    const barWidth = Math.min(30, width - head.length - tail.length - 2);
    if (barWidth < 5) return clip(head.trimEnd() + tail, width);
    return clip(`${head}|${bar(frac, barWidth)}|${tail}`, width);
  }
}

const PARTIAL = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

function bar(frac: number, width: number): string {
  const eighths = Math.round(frac * width * 8);
  const full = Math.floor(eighths / 8);
  const rest = eighths % 8;
  return ('█'.repeat(full) + (full < width ? PARTIAL[rest] : '')).padEnd(width);
}

function clip(s: string, width: number): string {
  return s.length <= width ? s : s.slice(0, Math.max(0, width - 1)) + '…';
}

/** `h:mm:ss` (or `m:ss`; `Nd h:mm:ss` beyond a day). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  let s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  const hms = h > 0 || d > 0 ? `${d > 0 ? String(h).padStart(2, '0') : h}:${String(m).padStart(2, '0')}:${sec}` : `${String(m).padStart(2, '0')}:${sec}`;
  return d > 0 ? `${d}d ${hms}` : hms;
}

/** A short rendering of a metric: integers as they are, others with `digits` significant digits. */
export function formatNumber(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(digits - 1);
  return String(Number(v.toPrecision(digits)));
}
