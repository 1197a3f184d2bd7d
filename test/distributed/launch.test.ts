// launch() and `refinery launch`: torchrun's variables for each rank, prefixed output of ranks
// other than 0, the first failing rank named with its exit, the command passed through unparsed.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { PassThrough } from 'stream';
import { launch } from '../../src/distributed';

const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const show = "const e = process.env; console.log([e.RANK, e.LOCAL_RANK, e.WORLD_SIZE, e.MASTER_ADDR, e.MASTER_PORT > 0, e.REFINERY_NUM_THREADS].join(' '))";

test('launch: every rank gets its variables; output of rank > 0 is prefixed; the first failure is named', async () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const ok = await launch({ nproc: 3, command: ['node', '-e', show], stdout: out, stderr: new PassThrough(), env: { ...process.env, REFINERY_NUM_THREADS: '1' } });
  assert.equal(ok.code, 0);
  assert.equal(ok.failedRank, null);
  assert.deepEqual(text.trim().split('\n').sort(), ['0 0 3 127.0.0.1 true 1', '[rank 1] 1 1 3 127.0.0.1 true 1', '[rank 2] 2 2 3 127.0.0.1 true 1']);
  const bad = await launch({ nproc: 2, command: ['node', '-e', 'process.exit(process.env.RANK === "1" ? 7 : 0)'], stdout: new PassThrough(), stderr: new PassThrough() });
  assert.equal(bad.code, 7);
  assert.equal(bad.failedRank, 1);
  assert.match(bad.message, /^launch: rank 1 \(pid \d+\) exited with code 7; rank 0: code 0$/);
  await assert.rejects(launch({ nproc: 0, command: ['node'] }), /nproc must be a positive integer, got 0/);
});

test('refinery launch passes the command line through (its flags after the command are the command\'s)', () => {
  const r = spawnSync(process.execPath, [cli, 'launch', '--nproc', '2', 'node', '-e', 'console.log(process.argv.slice(1).join(","), process.env.RANK)', '--', '--steps', '3'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').sort(), ['--steps,3 0', '[rank 1] --steps,3 1']);
  const none = spawnSync(process.execPath, [cli, 'launch', '--nproc', '2'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(none.status, 2);
  assert.equal(none.stderr.trim(), 'refinery launch: expected COMMAND... (the command each rank runs), got nothing');
  const badFlag = spawnSync(process.execPath, [cli, 'launch', '--nprocs', '2', 'node'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(badFlag.status, 2);
  assert.match(badFlag.stderr, /--nprocs.*did you mean --nproc/);
});
