import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { assertWritable, writeFileAtomic } from '../../src/tensor/files';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'files-test-'));
}

test('writeFileAtomic errors name the destination, never the temp file', () => {
  const dir = tmpDir();
  const target = path.join(dir, 'no', 'such', 'out.png');
  assert.throws(() => writeFileAtomic(target, Uint8Array.of(1)), (err: NodeJS.ErrnoException) => {
    assert.equal(err.code, 'ENOENT');
    assert.match(err.message, new RegExp(`^cannot write ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: its folder .* does not exist`));
    assert.doesNotMatch(err.message, /\.tmp-/);
    return true;
  });
  const occupied = path.join(dir, 'occupied');
  fs.mkdirSync(occupied);
  assert.throws(() => writeFileAtomic(occupied, Uint8Array.of(1)), (err: NodeJS.ErrnoException) => {
    assert.match(err.message, /occupied: it is a directory/);
    assert.doesNotMatch(err.message, /\.tmp-/);
    return true;
  });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['occupied']);
  fs.rmSync(dir, { recursive: true });
});

test('writeFileAtomic writes chunked contents in order', () => {
  const dir = tmpDir();
  const target = path.join(dir, 'chunks.bin');
  writeFileAtomic(target, (write) => {
    write(Uint8Array.of(1, 2));
    write(new Uint8Array(0));
    write(Uint8Array.of(3));
  });
  assert.deepEqual([...fs.readFileSync(target)], [1, 2, 3]);
  fs.rmSync(dir, { recursive: true });
});

test('assertWritable refuses a directory, a file as folder and a missing folder before any work, and leaves nothing behind', () => {
  const dir = tmpDir();
  assert.throws(() => assertWritable(dir, '--out'), /^Error: --out: cannot write ".*": it is a directory; give a file name$/);
  const file = path.join(dir, 'plain');
  fs.writeFileSync(file, 'x');
  assert.throws(() => assertWritable(path.join(file, 'model.safetensors'), '--out'), new RegExp(`--out: cannot write .*: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a folder`));
  assert.throws(() => assertWritable(path.join(file, 'a', 'b.png'), '--grids'), /--grids: cannot write .*plain is not a folder/);
  assert.throws(() => assertWritable(path.join(dir, 'missing', 'm.safetensors'), '--out'), /--out: cannot write .*: its folder .*missing does not exist/);
  assert.throws(() => assertWritable('', '--out'), /--out: cannot write "": expected a file path/);
  // fine: an existing folder, an existing file (replaced atomically later), a folder it may create
  assertWritable(path.join(dir, 'new.safetensors'), '--out');
  assertWritable(file, '--out');
  assertWritable(path.join(dir, 'made', 'deeper', 'm.safetensors'), '--out', { createDir: true });
  assert.ok(fs.statSync(path.join(dir, 'made', 'deeper')).isDirectory());
  assert.deepEqual(fs.readdirSync(dir).sort(), ['made', 'plain']);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'made', 'deeper')), []);
  fs.rmSync(dir, { recursive: true });
});

test('assertWritable refuses a read-only file system', (t) => {
  // /proc is mounted on every Linux machine and refuses new files even for root
  if (process.platform !== 'linux' || !fs.existsSync('/proc/self')) return t.skip('no /proc');
  assert.throws(() => assertWritable('/proc/refinery-out.safetensors', '--out'), /--out: cannot write .*: its folder \/proc does not accept new files/);
});

test('assertWritable refuses a folder it cannot create under /proc without hanging', (t) => {
  // Node's mkdirSync(recursive) spins forever on /proc (mkdir answers ENOENT there): found by
  // `refinery sample --out /proc/nope/x.png`, which hung at 100% CPU
  if (process.platform !== 'linux' || !fs.existsSync('/proc/self')) return t.skip('no /proc');
  assert.throws(() => assertWritable('/proc/refinery-nope/deeper/x.png', '--out', { createDir: true }),
    /^Error: --out: cannot write "\/proc\/refinery-nope\/deeper\/x.png": cannot create the folder \/proc\/refinery-nope: /);
});
