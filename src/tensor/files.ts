// Writing files safely: the one atomic-write helper (checkpoints, reports, configs, PNGs and
// metrics all go through it) and the up-front check that a destination can be written, so that a
// bad output path fails before hours of training rather than after.
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import * as os from 'os';

/** Receives the file's contents in order, chunk by chunk. */
export type ChunkWriter = (write: (chunk: Uint8Array) => void) => void;

/**
 * Replace `file` so that readers see either the old or the new contents, never a partial write,
 * even across a crash: write a temp file in the same directory, fsync it, rename it over `file`,
 * then fsync the directory. `data` is the whole contents, or a function that writes them in chunks
 * (so that a file larger than one Buffer can be written). Errors name `file`, not the temp file.
 */
export function writeFileAtomic(file: string, data: Uint8Array | ChunkWriter): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = `${file}.tmp-${process.pid}-${crypto.randomBytes(6).toString('hex')}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    const out = fd;
    const write = (chunk: Uint8Array) => {
      let done = 0;
      while (done < chunk.length) done += fs.writeSync(out, chunk, done, Math.min(chunk.length - done, MAX_IO));
    };
    if (typeof data === 'function') data(write);
    else write(data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // the original error is the one worth reporting
      }
    }
    fs.rmSync(tmp, { force: true });
    throw writeError(file, tmp, err);
  }
  syncDir(dir);
}

/** Largest single read or write (Node refuses lengths of 2 GiB and more in one call). */
export const MAX_IO = 1 << 30;

function writeError(file: string, tmp: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code !== 'string' || typeof e.message !== 'string') return err;
  const out = new Error(`cannot write ${file}: ${reason(e, path.dirname(path.resolve(file))).split(tmp).join(file)}`) as NodeJS.ErrnoException;
  out.code = e.code;
  out.cause = err;
  return out;
}

function reason(e: NodeJS.ErrnoException, dir: string): string {
  switch (e.code) {
    case 'ENOENT': return `its folder ${dir} does not exist (ENOENT)`;
    case 'ENOTDIR': return `a part of ${dir} is not a folder (ENOTDIR)`;
    case 'EACCES': case 'EPERM': return `permission denied (${e.code})`;
    case 'EROFS': return 'read-only file system (EROFS)';
    case 'ENOSPC': return `no space left on the device (ENOSPC): ${e.message}`;
    case 'EISDIR': return 'it is a directory (EISDIR)';
    default: return e.message;
  }
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    // Windows cannot open directories and some filesystems cannot fsync them;
    // the rename has already happened, so only report real I/O failures.
    const code = (err as NodeJS.ErrnoException).code;
    if (!['EISDIR', 'EINVAL', 'ENOTSUP', 'EPERM', 'EACCES'].includes(code ?? '')) throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Throws unless `file` can be written with `writeFileAtomic`: it is not a directory, and its folder
 * exists (or `createDir`: can be created) and accepts a new file (probed by creating and removing
 * one). `what` names the destination in the error, e.g. "--out" or "checkpoint". Call it before
 * long work whose result goes to `file`.
 */
export function assertWritable(file: string, what: string, o: { createDir?: boolean } = {}): void {
  const fail = (why: string): never => {
    throw new Error(`${what}: cannot write ${JSON.stringify(file)}: ${why}`);
  };
  if (typeof file !== 'string' || file === '') fail('expected a file path');
  const abs = path.resolve(file);
  const st = statOrNull(abs);
  if (st?.isDirectory()) fail('it is a directory; give a file name');
  // the nearest existing ancestor decides whether the folder exists or could be created
  let dir = path.dirname(abs);
  const missing: string[] = []; // the folders to create, nearest the root last
  for (let d = dir; ; d = path.dirname(d)) {
    const s = statOrNull(d);
    if (s) {
      if (!s.isDirectory()) fail(`${d} is not a folder`);
      break;
    }
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  if (missing.length > 0) {
    if (!o.createDir) fail(`its folder ${dir} does not exist`);
    // one level at a time: Node's mkdirSync(recursive) spins forever where mkdir answers ENOENT
    // for a folder whose parent exists (under /proc or /sys, for example)
    for (const d of missing.reverse()) {
      try {
        fs.mkdirSync(d);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statOrNull(d)?.isDirectory()) continue;
        const e = err as NodeJS.ErrnoException;
        fail(`cannot create the folder ${d}: ${e.code === 'ENOENT' ? 'the file system refuses new folders there (ENOENT)' : reason(e, d)}`);
      }
    }
  }
  dir = path.dirname(abs);
  const probe = path.join(dir, `.write-probe-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
  try {
    fs.closeSync(fs.openSync(probe, 'wx'));
  } catch (err) {
    fail(`its folder ${dir} does not accept new files: ${reason(err as NodeJS.ErrnoException, dir)}`);
  }
  fs.rmSync(probe, { force: true });
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

/**
 * The folder where Refinery keeps what it computes once and reuses (rendered datasets, the
 * convolution tuner's timings): `$REFINERY_CACHE_DIR`, else `$XDG_CACHE_HOME/refinery`, else
 * `~/.cache/refinery`; `sub` names a folder inside it. Created on demand.
 */
export function cacheDir(sub?: string): string {
  const home = process.env.HOME || os.homedir();
  const root = process.env.REFINERY_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(home, '.cache'), 'refinery');
  const dir = sub ? path.join(root, sub) : root;
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
