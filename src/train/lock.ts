// A run folder is used by one process at a time: `<run>/.lock` holds the owner's pid, host and
// process start time, and is created with O_EXCL, so that of two processes opening the same run
// exactly one gets it. A lock whose process has died (or whose pid now belongs to another process,
// told apart by its start time) is stale and is taken over. Within one process the lock is
// re-entrant (counted), and whatever is still held is removed when the process exits.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

interface LockInfo {
  pid: number;
  host: string;
  /** Linux: the process start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  procStart: string | null;
  since: string;
}

const held = new Map<string, number>(); // lock path -> open count in this process
let exitHook = false;

/** Whether a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function procStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: fields after the last ')' are plain
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function readLock(file: string): LockInfo | null {
  try {
    const info = JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
    return typeof info.pid === 'number' ? info : null;
  } catch {
    return null; // half-written by a process that died at once, or removed meanwhile
  }
}

/** Whether the process that wrote `info` is still running (a lock from another host counts as live). */
function ownerAlive(info: LockInfo): boolean {
  if (info.host !== os.hostname()) return true;
  if (!processAlive(info.pid)) return false;
  const now = procStart(info.pid);
  return info.procStart === null || now === null || now === info.procStart;
}

/**
 * Takes the lock of folder `dir` for this process, or throws naming `what`, the folder and the
 * process that holds it. Returns a release function (call it once).
 */
export function lockFolder(dir: string, what: string): () => void {
  const file = path.join(dir, '.lock');
  const count = held.get(file);
  if (count !== undefined) {
    held.set(file, count + 1);
    return once(() => release(file));
  }
  const mine: LockInfo = { pid: process.pid, host: os.hostname(), procStart: procStart(process.pid), since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const other = readLock(file);
      if (other && ownerAlive(other)) {
        const where = other.host === mine.host ? `process ${other.pid}` : `process ${other.pid} on host ${other.host}`;
        throw new Error(`${what} is in use by ${where} (since ${other.since}): wait for it to finish or stop it` +
          (other.host === mine.host ? '' : `; if that process is gone, delete ${file}`));
      }
      if (attempt >= 50) throw new Error(`${what}: cannot take the lock ${file}`);
      if (other === null && attempt < 20) {
        // being written right now (between its creation and its write): give it a moment
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
      fs.rmSync(file, { force: true }); // stale (its process is gone) or garbage
      continue;
    }
    try {
      fs.writeSync(fd, JSON.stringify(mine) + '\n');
    } finally {
      fs.closeSync(fd);
    }
    break;
  }
  held.set(file, 1);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const f of held.keys()) fs.rmSync(f, { force: true });
    });
  }
  return once(() => release(file));
}

function release(file: string): void {
  const n = held.get(file);
  if (n === undefined) return;
  if (n > 1) held.set(file, n - 1);
  else {
    held.delete(file);
    const info = readLock(file);
    if (info?.pid === process.pid) fs.rmSync(file, { force: true });
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      f();
    }
  };
}
