// The runs folder as the studio shows it: run folders (those with a config.json or a metrics.jsonl,
// at most two levels down), their config, their pictures, and their metrics read incrementally so
// that a page can follow a run while it trains.
import * as fs from 'fs';
import * as path from 'path';
import { RUN_NAME } from '../cli/flags';
import { MetricRecord, parseMetricLines } from '../train/metrics';
import { RefusedPath, isInside } from './files';

export interface RunSummary {
  name: string;
  /** Last change of metrics.jsonl or config.json (ms since the epoch). */
  mtime: number;
  hasMetrics: boolean;
  hasReport: boolean;
  images: string[];
}

const isRun = (dir: string): boolean => fs.existsSync(path.join(dir, 'config.json')) || fs.existsSync(path.join(dir, 'metrics.jsonl'));

/** The run folders under `runsDir`, newest first. */
export function listRuns(runsDir: string): RunSummary[] {
  const out: RunSummary[] = [];
  const visit = (rel: string, depth: number): void => {
    const dir = path.join(runsDir, rel);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory() || !RUN_NAME.test(e.name)) continue;
      const name = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(runsDir, name);
      if (isRun(full)) out.push(summary(runsDir, name));
      else if (depth < 1) visit(name, depth + 1);
    }
  };
  visit('', 0);
  return out.sort((a, b) => b.mtime - a.mtime || a.name.localeCompare(b.name));
}

/** The folder of run `name` (validated: run-name components only, inside runsDir, a run folder). */
export function runDir(runsDir: string, name: string): string {
  const parts = name.split('/');
  if (parts.length > 2 || !parts.every((p) => RUN_NAME.test(p))) throw new RefusedPath('outside', `run: expected a run name like NAME or GROUP/NAME, got ${JSON.stringify(name)}`);
  const dir = path.join(runsDir, ...parts);
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    throw new RefusedPath('missing', `run: no run ${JSON.stringify(name)} in ${runsDir}`);
  }
  if (!isInside(fs.realpathSync(runsDir), real)) throw new RefusedPath('outside', `run: ${JSON.stringify(name)} leads out of the runs folder`);
  if (!isRun(real)) throw new RefusedPath('missing', `run: ${JSON.stringify(name)} has no config.json or metrics.jsonl`);
  return real;
}

/** At most this many pictures per run (the newest by name: step numbers are zero-padded). */
const MAX_IMAGES = 48;

/**
 * PNG files of a run folder (its grids): in the folder and in its subfolders one level down
 * (`samples/step-000500.png`), as paths relative to the run folder, sorted, the last MAX_IMAGES.
 */
export function runImages(dir: string): string[] {
  const out: string[] = [];
  const scan = (rel: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isFile() && e.name.toLowerCase().endsWith('.png')) out.push(p);
      else if (e.isDirectory() && depth === 0 && e.name !== 'checkpoints' && !e.name.startsWith('.')) scan(p, 1);
    }
  };
  scan('', 0);
  return out.sort().slice(-MAX_IMAGES);
}

function mtimeOf(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

export function summary(runsDir: string, name: string): RunSummary {
  const dir = path.join(runsDir, name);
  return {
    name,
    mtime: Math.max(mtimeOf(path.join(dir, 'metrics.jsonl')), mtimeOf(path.join(dir, 'config.json'))),
    hasMetrics: fs.existsSync(path.join(dir, 'metrics.jsonl')),
    hasReport: fs.existsSync(path.join(dir, 'index.html')),
    images: runImages(dir),
  };
}

export function runConfig(dir: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Follows a growing metrics.jsonl: each `read()` returns the records of the lines completed since
 * the last one ({ reset: true } and every record again when the file was rewritten shorter, as a
 * resumed run does).
 */
export class MetricsFollower {
  private offset = 0;
  private line = 1;

  constructor(readonly file: string) {}

  read(): { reset: boolean; records: MetricRecord[] } {
    let size: number;
    try {
      size = fs.statSync(this.file).size;
    } catch {
      return { reset: false, records: [] };
    }
    let reset = false;
    if (size < this.offset) {
      this.offset = 0;
      this.line = 1;
      reset = true;
    }
    if (size === this.offset) return { reset, records: [] };
    const fd = fs.openSync(this.file, 'r');
    let buf: Buffer;
    try {
      buf = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
    } finally {
      fs.closeSync(fd);
    }
    const nl = buf.lastIndexOf(0x0a);
    if (nl < 0) return { reset, records: [] };
    const text = buf.subarray(0, nl + 1).toString('utf8');
    const records = parseMetricLines(text, this.file, this.line);
    this.offset += nl + 1;
    this.line += text.split('\n').length - 1;
    return { reset, records };
  }
}
