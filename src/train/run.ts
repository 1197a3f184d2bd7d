// Runs are folders (architecture decision 10):
//   runs/<name>/config.json      the run's config, written when the run starts
//   runs/<name>/metrics.jsonl    scalars over time (metrics.ts)
//   runs/<name>/checkpoints/     step-*.safetensors and `latest` (checkpoint.ts)
//   runs/<name>/index.html       the report (report.ts), beside PNG grids, WAV files, ...
// Resuming checks that the config is the one the run was started with. A run folder is locked
// (runs/<name>/.lock, lock.ts) while a process uses it.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../tensor';
import { Checkpoints } from './checkpoint';
import { lockFolder } from './lock';
import { MetricsWriter, readMetrics, MetricRecord } from './metrics';
import { writeReport, ReportOptions } from './report';

export interface RunOptions {
  /** Folder name under `root`; may contain `/` to group runs (`mnist/lr-3e-4`). */
  name: string;
  /** Parent folder of runs (default "runs"). */
  root?: string;
  /** The run's config (JSON-serializable); written to config.json. */
  config?: unknown;
  /** Continue an existing run folder (its config must match); starts a new one when there is none. */
  resume?: boolean;
  /** On resume, accept a different config: `true` for any change, or the dotted keys that may change. */
  allowConfigChange?: boolean | string[];
  /** Delete an existing run folder and start over. */
  overwrite?: boolean;
  /** Checkpoints kept (default 3). */
  keepCheckpoints?: number;
}

export class Run {
  readonly name: string;
  readonly dir: string;
  readonly config: unknown;
  /** Whether an existing run folder was opened to be continued. */
  readonly resumed: boolean;
  readonly checkpoints: Checkpoints;
  private writer: MetricsWriter | null = null;

  private readonly unlock: () => void;

  private constructor(name: string, dir: string, config: unknown, resumed: boolean, keep: number | undefined, unlock: () => void) {
    this.unlock = unlock;
    this.name = name;
    this.dir = dir;
    this.config = config;
    this.resumed = resumed;
    this.checkpoints = new Checkpoints(path.join(dir, 'checkpoints'), { keep });
  }

  /**
   * Creates `root/name/` with config.json, or opens it to resume (checking the config). The folder
   * is locked for this process until `close()` (or the process exits): a second process opening
   * the same run, to resume it or to start it anew, gets an error naming the process that holds it.
   */
  static open(o: RunOptions): Run {
    const name = checkRunName(o.name);
    const dir = path.resolve(o.root ?? 'runs', name);
    const config = canonical(o.config ?? {});
    const configPath = path.join(dir, 'config.json');
    fs.mkdirSync(dir, { recursive: true });
    // every check below happens under the lock, so that check-then-create is atomic
    const unlock = lockFolder(dir, `run "${name}" (${dir})`);
    try {
      if (o.overwrite) {
        for (const f of fs.readdirSync(dir)) if (f !== '.lock') fs.rmSync(path.join(dir, f), { recursive: true, force: true });
      }
      const exists = fs.existsSync(configPath);
      if (exists && !o.resume) {
        throw new Error(`run "${name}" already exists at ${dir}: pass resume: true to continue it, ` +
          `overwrite: true to start it over, or choose another name`);
      }
      if (exists) {
        const old = canonical(JSON.parse(fs.readFileSync(configPath, 'utf8')));
        const diffs = configDiff(old, config);
        if (diffs.length) {
          const allow = o.allowConfigChange;
          const allowed = allow === true || (Array.isArray(allow) && diffs.every((d) => allow.some((k) => d.key === k || d.key.startsWith(k + '.'))));
          const list = diffs.map((d) => `${d.key}: ${d.old} -> ${d.new}`).join('; ');
          if (!allowed) {
            throw new Error(`run "${name}": the config differs from the one it was started with (${configPath}): ${list}. ` +
              `Resume with the same config, or accept the change with allowConfigChange: [${diffs.map((d) => JSON.stringify(d.key)).join(', ')}] (or true)`);
          }
          // keep the config the run was started with beside the new one
          const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
          let copy = path.join(dir, `config.${stamp}.json`);
          for (let k = 2; fs.existsSync(copy); k++) copy = path.join(dir, `config.${stamp}-${k}.json`);
          fs.copyFileSync(configPath, copy);
          writeFileAtomic(configPath, Buffer.from(JSON.stringify(config, null, 2) + '\n'));
        }
      } else {
        writeFileAtomic(configPath, Buffer.from(JSON.stringify(config, null, 2) + '\n'));
      }
      return new Run(name, dir, config, exists, o.keepCheckpoints, unlock);
    } catch (err) {
      unlock();
      throw err;
    }
  }

  /**
   * The run as a data-parallel rank other than 0 sees it: the same folder and config, read only
   * (no lock, nothing written; rank 0 opened it with `open`).
   */
  static reader(o: Pick<RunOptions, 'name' | 'root' | 'config'>): Run {
    const name = checkRunName(o.name);
    const dir = path.resolve(o.root ?? 'runs', name);
    return new Run(name, dir, canonical(o.config ?? {}), fs.existsSync(path.join(dir, 'config.json')), undefined, () => {});
  }

  get configPath(): string {
    return path.join(this.dir, 'config.json');
  }
  get metricsPath(): string {
    return path.join(this.dir, 'metrics.jsonl');
  }
  get reportPath(): string {
    return path.join(this.dir, 'index.html');
  }

  /** A path inside the run folder (for PNG grids, WAV files, ...); its folder is created. */
  file(...parts: string[]): string {
    const p = path.join(this.dir, ...parts);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    return p;
  }

  /**
   * The run's metrics writer (opened once). `keepUpToStep` drops records after that step: a run
   * resumed from the checkpoint of that step writes them again.
   */
  metrics(opts: { keepUpToStep?: number } = {}): MetricsWriter {
    if (!this.writer) this.writer = new MetricsWriter(this.metricsPath, opts);
    return this.writer;
  }

  readMetrics(): MetricRecord[] {
    return readMetrics(this.metricsPath);
  }

  /** Writes index.html from the folder's current contents; returns its path. */
  writeReport(opts: ReportOptions = {}): string {
    return writeReport(this.dir, { title: this.name, ...opts });
  }

  /** Closes the metrics writer and releases the run folder's lock. */
  close(): void {
    this.writer?.close();
    this.writer = null;
    this.unlock();
  }
}

function checkRunName(name: string): string {
  if (typeof name !== 'string' || !name) throw new TypeError('run name must be a non-empty string');
  const parts = name.split(/[\\/]/);
  if (path.isAbsolute(name) || parts.some((p) => p === '' || p === '.' || p === '..') || name.includes('\0')) {
    throw new TypeError(`run name ${JSON.stringify(name)} must be a relative folder name without "." or ".." parts`);
  }
  return parts.join('/');
}

/** The JSON form of a config (undefined fields dropped), for comparing and writing. */
function canonical(x: unknown): unknown {
  const s = JSON.stringify(x);
  if (s === undefined) throw new TypeError('run config must be JSON-serializable');
  return JSON.parse(s);
}

/** Differences between two JSON values as dotted keys, with both values rendered as JSON. */
export function configDiff(a: unknown, b: unknown, prefix = ''): { key: string; old: string; new: string }[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => configDiff(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  const ja = JSON.stringify(a), jb = JSON.stringify(b);
  if (ja === jb) return [];
  return [{ key: prefix || '(config)', old: ja ?? '(absent)', new: jb ?? '(absent)' }];
}
