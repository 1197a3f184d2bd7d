// The one metrics writer: a run's scalars as JSON lines in metrics.jsonl, one record per line:
//   {"step":100,"epoch":0,"time":1718000000.123,"train/loss":0.4213,"lr":0.001}
// Appends go straight to the file (one write per record, no fsync: a crash loses at most the
// records since the last checkpoint, which a resumed run rewrites anyway). Non-finite values are
// written as the strings "NaN", "Infinity", "-Infinity", since JSON has no literal for them.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../tensor';

/** One line of metrics.jsonl: when (step, epoch, Unix time in seconds) and named values. */
export interface MetricRecord {
  step: number;
  epoch?: number;
  time: number;
  [name: string]: number | undefined;
}

const RESERVED = new Set(['step', 'epoch', 'time']);

function encodeValue(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

function decodeValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return undefined;
}

function encodeRecord(r: MetricRecord): string {
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = encodeValue(v);
  return JSON.stringify(out);
}

/** Appends metric records to a metrics.jsonl file. */
export class MetricsWriter {
  readonly path: string;
  private fd: number | null;

  /**
   * Opens `file` for appending, creating it (and its folder) when missing. A partial last line left
   * by a crash is cut off. With `keepUpToStep`, records after that step are dropped first (a run
   * resumed from the checkpoint of that step writes them again).
   */
  constructor(file: string, opts: { keepUpToStep?: number } = {}) {
    this.path = file;
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    if (opts.keepUpToStep !== undefined) truncateMetrics(file, opts.keepUpToStep);
    else dropPartialLine(file);
    this.fd = fs.openSync(file, 'a');
  }

  /** Appends `{ step, epoch, time, ...values }`; `time` defaults to now. Returns the record written. */
  write(step: number, values: Record<string, number>, opts: { epoch?: number; time?: number } = {}): MetricRecord {
    if (this.fd === null) throw new Error(`MetricsWriter: ${this.path} was closed`);
    if (!Number.isSafeInteger(step)) throw new TypeError(`MetricsWriter: step must be an integer, got ${step}`);
    const record: MetricRecord = { step, time: opts.time ?? Date.now() / 1000 };
    if (opts.epoch !== undefined) record.epoch = opts.epoch;
    for (const [k, v] of Object.entries(values)) {
      if (RESERVED.has(k)) throw new TypeError(`MetricsWriter: "${k}" is reserved; name the metric differently`);
      if (typeof v !== 'number') throw new TypeError(`MetricsWriter: metric "${k}" must be a number, got ${typeof v}`);
      record[k] = v;
    }
    const line = Buffer.from(encodeRecord(record) + '\n', 'utf8');
    // one write per record: with O_APPEND, concurrent readers see whole lines
    let done = 0;
    while (done < line.length) done += fs.writeSync(this.fd, line, done, line.length - done);
    return record;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Reads every record of a metrics.jsonl file ([] when it does not exist). A last line cut short by a
 * crash is ignored; a malformed line elsewhere is an error naming the line.
 */
export function readMetrics(file: string): MetricRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return parseMetricLines(text, file);
}

/**
 * The records of the complete lines of metrics.jsonl text (what follows the last newline is a
 * record still being written, or cut short by a crash, and is ignored); `file` and `firstLine`
 * name a malformed line in the error. A reader that follows a growing file (the studio) passes
 * each newly appended chunk.
 */
export function parseMetricLines(text: string, file = 'metrics.jsonl', firstLine = 1): MetricRecord[] {
  const lines = text.split('\n');
  const complete = lines.length - 1; // what follows the last newline is empty or a partial record
  const out: MetricRecord[] = [];
  for (let i = 0; i < complete; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const at = `${file}:${firstLine + i}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new Error(`${at}: not a JSON object: ${line.slice(0, 80)}`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error(`${at}: not a JSON object`);
    const rec: Record<string, number> = Object.create(null);
    for (const [k, v] of Object.entries(obj)) {
      const n = decodeValue(v);
      if (n !== undefined) rec[k] = n;
    }
    if (typeof rec.step !== 'number') throw new Error(`${at}: record has no numeric "step"`);
    out.push({ ...rec } as MetricRecord);
  }
  return out;
}

/** Atomically rewrites `file` keeping only the records with step <= `step` (and no partial line). */
export function truncateMetrics(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const keep = readMetrics(file).filter((r) => r.step <= step);
  writeFileAtomic(file, Buffer.from(keep.map((r) => encodeRecord(r) + '\n').join(''), 'utf8'));
}

/** The names of the values in `records`, in order of first appearance (without step/epoch/time). */
export function metricNames(records: MetricRecord[]): string[] {
  const names = new Set<string>();
  for (const r of records) for (const k of Object.keys(r)) if (!RESERVED.has(k)) names.add(k);
  return [...names];
}

function dropPartialLine(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return;
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return;
    // find the last newline; everything after it is a record cut short
    const chunk = 1 << 16;
    let end = size;
    while (end > 0) {
      const begin = Math.max(0, end - chunk);
      const buf = Buffer.alloc(end - begin);
      fs.readSync(fd, buf, 0, buf.length, begin);
      const nl = buf.lastIndexOf(0x0a);
      if (nl >= 0) {
        fs.ftruncateSync(fd, begin + nl + 1);
        return;
      }
      end = begin;
    }
    fs.ftruncateSync(fd, 0);
  } finally {
    fs.closeSync(fd);
  }
}
