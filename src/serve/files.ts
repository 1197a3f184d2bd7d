// The only way the studio reads a file named by a request: a path below one root folder, checked
// twice: lexically (no `..`, no absolute path, no NUL, after percent-decoding) and after resolving
// symbolic links (a link inside the root that points out of it is refused too).
import * as fs from 'fs';
import * as path from 'path';

/** Why a requested path was refused: 'outside' (403) or 'missing' (404). */
export class RefusedPath extends Error {
  constructor(readonly reason: 'outside' | 'missing', message: string) {
    super(message);
  }
}

/**
 * The real path of the regular file `rel` (a request path, percent-encoded or not) below `root`, or
 * RefusedPath. `rel` is decoded once more (a URL router has decoded it already; `%252e%252e` is then
 * refused as `%2e%2e`, never served as a literal file name, since no name under a served folder needs it).
 */
export function resolveInside(root: string, rel: string): string {
  let decoded = rel;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    throw new RefusedPath('missing', `not a valid path: ${JSON.stringify(rel)}`);
  }
  if (decoded.includes('\0')) throw new RefusedPath('outside', 'a path with a NUL byte');
  const parts = decoded.split(/[\\/]+/);
  if (path.isAbsolute(decoded) || /^[A-Za-z]:/.test(decoded) || parts.includes('..')) {
    throw new RefusedPath('outside', `${JSON.stringify(rel)} leaves the served folder`);
  }
  const realRoot = fs.realpathSync(root);
  const lexical = path.resolve(realRoot, ...parts.filter((p) => p !== '' && p !== '.'));
  let real: string;
  try {
    real = fs.realpathSync(lexical);
  } catch {
    throw new RefusedPath('missing', `no such file: ${JSON.stringify(rel)}`);
  }
  if (!isInside(realRoot, real)) throw new RefusedPath('outside', `${JSON.stringify(rel)} leads out of the served folder`);
  if (!fs.statSync(real).isFile()) throw new RefusedPath('missing', `not a file: ${JSON.stringify(rel)}`);
  return real;
}

/** Whether `p` is `root` or below it (both absolute and resolved). */
export function isInside(root: string, p: string): boolean {
  const r = path.relative(root, p);
  return r === '' || (!r.startsWith('..') && !path.isAbsolute(r));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8', '.jsonl': 'text/plain; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.wav': 'audio/wav', '.ico': 'image/x-icon', '.log': 'text/plain; charset=utf-8',
};

/** The Content-Type of a file served by its extension (unknown: a download). */
export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}
