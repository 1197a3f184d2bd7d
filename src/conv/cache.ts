// The meta-optimizer's persistent memory (the post's first wish: "cache its results on disk"): one
// JSON file of decisions, keyed by everything that changes which algorithm is fastest, written
// atomically; a corrupt or foreign file is ignored with a warning, never fatal.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cacheDir, torchVersion, writeFileAtomic } from '../tensor';
import { ConvOp, ConvProblem } from './problem';
import type { PoolProblem } from './pool';

export const CACHE_FORMAT = 'refinery-conv-cache';
export const CACHE_VERSION = 1;

/** One tuned operation. Times are milliseconds (the minimum over the timed calls). */
export interface ConvDecision {
  /** a convolution's operation, or 'pool' (forward and input gradient of a pooling layer) */
  op: ConvOp | 'pool';
  /** human-readable problem, for listings */
  problem: string;
  winner: string;
  /** intra-op threads the winner runs with */
  threads: number;
  /** every timed candidate ("name" or "name@threads"), in ms */
  times: Record<string, number>;
  /** candidates not timed, and why (inapplicable, excluded, threw, wrong) */
  skipped: Record<string, string>;
  defaultMs: number;
  winnerMs: number;
  /** defaultMs / winnerMs */
  speedup: number;
  tunedAt: string;
}

/** The user's cache file: REFINERY_CONV_CACHE, else conv-cache.json in Refinery's cache folder (`cacheDir()`: $REFINERY_CACHE_DIR, $XDG_CACHE_HOME/refinery or ~/.cache/refinery). */
export function defaultCachePath(): string {
  if (process.env.REFINERY_CONV_CACHE) return path.resolve(process.env.REFINERY_CONV_CACHE);
  return path.join(cacheDir(), 'conv-cache.json');
}

let cpuModelMemo: string | undefined;
/** The CPU model string (the first core's), where the OS names one. */
export function cpuModel(): string {
  if (cpuModelMemo === undefined) cpuModelMemo = (os.cpus()[0]?.model ?? 'unknown cpu').replace(/\s+/g, ' ').trim();
  return cpuModelMemo;
}

/**
 * The cache key of one operation: op, transposed, shapes, stride, padding, dilation, output padding,
 * groups, dtype, device, memory format, thread count, libtorch version and CPU model.
 */
export function decisionKey(op: ConvOp, p: ConvProblem, memoryFormat: string, threads: number): string {
  return [
    op, p.transposed ? 'transposed' : 'regular',
    `x=${p.inputShape.join('x')}`, `w=${p.weightShape.join('x')}`,
    `stride=${p.stride.join(',')}`, `pad=${p.padding.join(',')}`, `dil=${p.dilation.join(',')}`,
    `outpad=${p.outputPadding.join(',')}`, `groups=${p.groups}`,
    p.dtype, String(p.device), memoryFormat, `threads=${threads}`, `libtorch=${torchVersion}`, `cpu=${cpuModel()}`,
  ].join('|');
}

/** The cache key of one pooling: kind, shape, window, stride, padding, dilation, modes, dtype, device, layout, threads, libtorch and CPU. */
export function poolKey(p: PoolProblem, threads: number): string {
  return [
    'pool', p.kind, `x=${p.inputShape.join('x')}`, `k=${p.kernel.join('x')}`, `stride=${p.stride.join(',')}`, `pad=${p.padding.join(',')}`,
    `dil=${p.dilation.join(',')}`, p.ceilMode ? 'ceil' : 'floor', p.countIncludePad ? 'count-pad' : 'exclude-pad',
    p.dtype, String(p.device), p.layout, `threads=${threads}`, `libtorch=${torchVersion}`, `cpu=${cpuModel()}`,
  ].join('|');
}

export type Warn = (message: string) => void;
export const warnToStderr: Warn = (m) => process.stderr.write(`refinery: ${m}\n`);

/** The decisions in memory, backed by a file unless `file` is null. */
export class ConvCache {
  readonly entries = new Map<string, ConvDecision>();

  constructor(readonly file: string | null, private readonly warn: Warn = warnToStderr) {
    if (file) this.load(file);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.warn(`conv cache ${file} cannot be read (${(e as Error).message}); starting empty`);
      return;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      this.warn(`conv cache ${file} is corrupt (${(e as Error).message}); ignoring it, it will be rewritten`);
      return;
    }
    const d = data as { format?: unknown; version?: unknown; entries?: unknown };
    if (typeof d !== 'object' || d === null || d.format !== CACHE_FORMAT || typeof d.entries !== 'object' || d.entries === null) {
      this.warn(`conv cache ${file} is not a Refinery conv cache (no "format": "${CACHE_FORMAT}"); ignoring it, it will be rewritten`);
      return;
    }
    if (d.version !== CACHE_VERSION) {
      this.warn(`conv cache ${file} has version ${JSON.stringify(d.version)}, this Refinery writes ${CACHE_VERSION}; ignoring it, it will be rewritten`);
      return;
    }
    let bad = 0;
    for (const [k, v] of Object.entries(d.entries as Record<string, unknown>)) {
      if (isDecision(v)) this.entries.set(k, v);
      else bad++;
    }
    if (bad) this.warn(`conv cache ${file}: ignored ${bad} malformed entr${bad === 1 ? 'y' : 'ies'}`);
  }

  get(key: string): ConvDecision | undefined {
    return this.entries.get(key);
  }

  set(key: string, d: ConvDecision): void {
    this.entries.set(key, d);
    this.save();
  }

  clear(): number {
    const n = this.entries.size;
    this.entries.clear();
    if (this.file) fs.rmSync(this.file, { force: true });
    return n;
  }

  save(): void {
    if (!this.file) return;
    const body = { format: CACHE_FORMAT, version: CACHE_VERSION, entries: Object.fromEntries(this.entries) };
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      writeFileAtomic(this.file, Buffer.from(`${JSON.stringify(body, null, 1)}\n`));
    } catch (e) {
      this.warn(`conv cache not saved: ${(e as Error).message}`);
    }
  }
}

function isDecision(v: unknown): v is ConvDecision {
  const d = v as ConvDecision;
  return typeof d === 'object' && d !== null && typeof d.winner === 'string' && typeof d.op === 'string' &&
    Number.isInteger(d.threads) && typeof d.times === 'object' && d.times !== null;
}

/** The decisions in a cache file (none when it is missing; warnings for a corrupt or foreign one). */
export function readConvCache(file: string = defaultCachePath(), warn: Warn = warnToStderr): { file: string; entries: [string, ConvDecision][] } {
  const c = new ConvCache(file, warn);
  return { file, entries: [...c.entries] };
}

/** Deletes the cache file; returns how many decisions it held. */
export function clearConvCache(file: string = defaultCachePath(), warn: Warn = warnToStderr): { file: string; removed: number } {
  const c = new ConvCache(file, warn);
  const removed = c.entries.size;
  fs.rmSync(file, { force: true });
  return { file, removed };
}

/** One line per decision: op, problem, winner, speed-up over libtorch and every candidate's time. */
export function convCacheLines(entries: [string, ConvDecision][]): string[] {
  return entries.map(([, d]) => {
    const times = Object.entries(d.times).sort((a, b) => a[1] - b[1]).map(([n, ms]) => `${n} ${ms.toFixed(2)}`).join(', ');
    return `${d.op.padEnd(10)} ${d.problem}\n           = ${d.winner}${d.threads ? ` (${d.threads} thr)` : ''}, ${d.speedup.toFixed(2)}x libtorch; ms: ${times}`;
  });
}
