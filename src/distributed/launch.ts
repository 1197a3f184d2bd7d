// `refinery launch --nproc N <command...>`: torchrun's single-machine job for any command. It starts
// N copies with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (a free port unless given) and
// REFINERY_NUM_THREADS (the cores divided among the ranks, unless set), prefixes the output of ranks
// other than 0 with "[rank r]", forwards Ctrl-C, and when one rank fails stops the others after a
// grace period, naming the rank that failed first.
import { ChildProcess, spawn } from 'child_process';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export interface LaunchOptions {
  nproc: number;
  /** The command and its arguments; a first word `refinery` runs this package's CLI with this Node. */
  command: string[];
  masterAddr?: string;
  /** Default: a free port on masterAddr. */
  masterPort?: number;
  /** Seconds the other ranks get to stop on their own after one failed (default 15), before SIGTERM. */
  grace?: number;
  env?: NodeJS.ProcessEnv;
  /** Where the ranks' output goes (default the process's stdout and stderr). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export interface LaunchResult {
  /** 0 when every rank exited with 0; else the first failing rank's code (128 + signal number for a signal). */
  code: number;
  /** Each rank's exit: a code, or the signal that ended it. */
  ranks: { rank: number; code: number | null; signal: NodeJS.Signals | null }[];
  /** The rank that failed first, or null. */
  failedRank: number | null;
  /** A one-line account of a failure ('' on success). */
  message: string;
}

/** A TCP port that was free a moment ago on `host`. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function resolveCommand(command: string[]): [string, string[]] {
  if (command[0] === 'refinery') return [process.execPath, [path.join(__dirname, '..', 'cli', 'main.js'), ...command.slice(1)]];
  if (command[0] === 'node') return [process.execPath, command.slice(1)];
  return [command[0], command.slice(1)];
}

function prefixLines(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, prefix: string): void {
  let buf = '';
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    buf += chunk;
    // progress bars redraw with \r: treat it as a line end too
    const parts = buf.split(/\r?\n|\r/);
    buf = parts.pop() ?? '';
    for (const p of parts) if (p.length) to.write(`${prefix}${p}\n`);
  });
  from.on('end', () => {
    if (buf.length) to.write(`${prefix}${buf}\n`);
  });
}

/** Runs `command` as `nproc` ranks on this machine and resolves when all have exited. */
export async function launch(o: LaunchOptions): Promise<LaunchResult> {
  if (!Number.isSafeInteger(o.nproc) || o.nproc < 1) throw new RangeError(`launch: nproc must be a positive integer, got ${o.nproc}`);
  if (!Array.isArray(o.command) || o.command.length === 0) throw new TypeError('launch: give the command to run (e.g. refinery train diffusion ...)');
  const masterAddr = o.masterAddr ?? '127.0.0.1';
  const masterPort = o.masterPort ?? await freePort(masterAddr);
  const grace = o.grace ?? 15;
  const base = o.env ?? process.env;
  const cores = (os.availableParallelism ? os.availableParallelism() : os.cpus().length) || 1;
  const threads = base.REFINERY_NUM_THREADS || String(Math.max(1, Math.floor(cores / o.nproc)));
  const stdout = o.stdout ?? process.stdout, stderr = o.stderr ?? process.stderr;
  const [file, args] = resolveCommand(o.command);

  const children: ChildProcess[] = [];
  const ranks: LaunchResult['ranks'] = [];
  let failedRank: number | null = null;
  let message = '';
  let killTimer: NodeJS.Timeout | null = null;

  const forward = (sig: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  const onInt = () => forward('SIGINT');
  const onTerm = () => forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);

  try {
    const exits = Array.from({ length: o.nproc }, (_, rank) => new Promise<void>((resolve) => {
      const env = {
        ...base, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(o.nproc),
        LOCAL_WORLD_SIZE: String(o.nproc), MASTER_ADDR: masterAddr, MASTER_PORT: String(masterPort), REFINERY_NUM_THREADS: threads,
      };
      const child = spawn(file, args, { env, stdio: ['inherit', 'pipe', 'pipe'] });
      children[rank] = child;
      const prefix = rank === 0 ? '' : `[rank ${rank}] `;
      if (rank === 0) {
        child.stdout!.pipe(stdout as NodeJS.WritableStream, { end: false });
        child.stderr!.pipe(stderr as NodeJS.WritableStream, { end: false });
      } else {
        prefixLines(child.stdout!, stdout, prefix);
        prefixLines(child.stderr!, stderr, prefix);
      }
      child.on('error', (err) => {
        if (failedRank === null) {
          failedRank = rank;
          message = `launch: rank ${rank} could not start ${JSON.stringify(o.command[0])}: ${err.message}`;
        }
        ranks[rank] = { rank, code: 127, signal: null };
        resolve();
      });
      child.on('exit', (code, signal) => {
        ranks[rank] = { rank, code, signal };
        if ((code !== 0 || signal) && failedRank === null) {
          failedRank = rank;
          message = `launch: rank ${rank} (pid ${child.pid}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`;
          // the others notice through the process group (heartbeat) and exit on their own; if not, stop them
          killTimer = setTimeout(() => forward('SIGTERM'), grace * 1000);
        }
        resolve();
      });
    }));
    await Promise.all(exits);
  } finally {
    if (killTimer) clearTimeout(killTimer);
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
  }
  const first = failedRank === null ? null : ranks[failedRank];
  const code = !first ? 0 : first.signal ? 128 + (os.constants.signals[first.signal] ?? 0) : first.code ?? 1;
  if (first) {
    const others = ranks.filter((r) => r.rank !== failedRank).map((r) => `rank ${r.rank}: ${r.signal ?? `code ${r.code}`}`);
    if (others.length) message += `; ${others.join(', ')}`;
  }
  return { code, ranks, failedRank, message };
}
