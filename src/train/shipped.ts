// Files shipped with the package (the reference checkpoints under checkpoints/), found from any
// working directory, and the one check that a file to read exists and is a regular file.
import * as fs from 'fs';
import * as path from 'path';

/**
 * A file shipped with the package (e.g. `checkpoints/...`): the path as given when it exists there,
 * else relative to the package root (this file is dist/src/train/shipped.js: ../../..).
 */
export function shippedFile(rel: string): string {
  if (fs.existsSync(rel)) return rel;
  const fromRoot = path.resolve(__dirname, '..', '..', '..', rel);
  return fs.existsSync(fromRoot) ? fromRoot : rel;
}

/** Throws a clear error unless `file` is an existing regular file (`who` names the caller). */
export function requireFile(file: string, who: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new Error(`${who}: no such file ${file}`);
  }
  if (!st.isFile()) throw new Error(`${who}: ${file} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}, expected a checkpoint file`);
}
