// Data-parallel training through train({ processGroup }) with real processes on 127.0.0.1
// (ddp_child.ts, launched by launch()): N = 2 and 3 ranks with a share of each global batch of 12
// give the weights and losses of one process with the whole batch; a run resumes on another world
// size; a killed rank stops the others with a message naming it, and the run resumes from its last
// checkpoint.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { PassThrough } from 'stream';
import { native } from '../../src/tensor/native';
import { launch } from '../../src/distributed';
import { readMetrics } from '../../src/train';

const hasGloo = Boolean(native.distributedBackends);
const child = path.join(__dirname, 'ddp_child.js');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ddp-test-'));
const env: NodeJS.ProcessEnv = { ...process.env, REFINERY_NUM_THREADS: '1' };

interface Out {
  status: string; step: number; resumedFrom: number | null; weights: Record<string, number[]>;
  ddp?: { overlapped: boolean; buckets: number; launchedInBackward: number };
}

function single(name: string, steps: number, resume = false): Out {
  const envNoRank = { ...env };
  for (const k of ['WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT']) delete envNoRank[k];
  const r = spawnSync(process.execPath, [child, root, name, String(steps), ...(resume ? ['resume'] : [])], { env: envNoRank, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function ranks(n: number, name: string, steps: number, opts: { resume?: boolean; extraEnv?: NodeJS.ProcessEnv } = {}) {
  const stdout = new PassThrough(), stderr = new PassThrough();
  let out = '', err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const result = await launch({ nproc: n, command: ['node', child, root, name, String(steps), ...(opts.resume ? ['resume'] : [])], env: { ...env, ...opts.extraEnv }, stdout, stderr, grace: 20 });
  const last = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  return { result, out: last ? (JSON.parse(last) as Out) : null, err };
}

// float64 throughout: the ranks' mean of per-rank mean gradients differs from the whole batch's mean
// gradient only in summation order (a few ulps per step); ten steps of SGD with lr 0.1 and momentum
// 0.9 on an O(1) problem amplify that by far less than 1e4, so 1e-12 on weights of size ~1 holds.
const TOL = 1e-12;
function assertClose(a: Record<string, number[]>, b: Record<string, number[]>, what: string) {
  for (const k of Object.keys(b)) {
    assert.equal(a[k].length, b[k].length);
    const worst = Math.max(...a[k].map((v, i) => Math.abs(v - b[k][i])));
    assert.ok(worst <= TOL, `${what}: ${k} differs by ${worst}`);
  }
}

let reference: Out;
const refLoss = () => readMetrics(path.join(root, 'ref', 'metrics.jsonl')).filter((r) => r['train/loss'] !== undefined);

test('one process, batch 12: the reference', { skip: !hasGloo && 'built without Gloo' }, () => {
  reference = single('ref', 10);
  assert.equal(reference.step, 10);
});

for (const n of [2, 3]) {
  test(`${n} ranks with batch ${12 / n} each give the weights and losses of one process with batch 12`, { skip: !hasGloo && 'built without Gloo' }, async () => {
    const { result, out, err } = await ranks(n, `n${n}`, 10);
    assert.equal(result.code, 0, err + result.message);
    assert.equal(out!.step, 10);
    // the default path: one 25 MiB bucket, launched from backward's hook on the last gradient
    assert.deepEqual(out!.ddp, { overlapped: true, buckets: 1, launchedInBackward: 1 });
    assertClose(out!.weights, reference.weights, `${n} ranks`);
    // the logged training loss is the mean over the ranks: the whole batch's loss
    const mine = readMetrics(path.join(root, `n${n}`, 'metrics.jsonl')).filter((r) => r['train/loss'] !== undefined);
    assert.deepEqual(mine.map((r) => r.step), refLoss().map((r) => r.step));
    mine.forEach((r, i) => assert.ok(Math.abs(r['train/loss']! - refLoss()[i]['train/loss']!) <= TOL));
    // only rank 0 wrote: one metrics file, checkpoints at 4, 8 and the end
    assert.deepEqual(fs.readdirSync(path.join(root, `n${n}`, 'checkpoints')).filter((f) => f.endsWith('.safetensors')).sort(),
      ['step-00000004.safetensors', 'step-00000008.safetensors', 'step-00000010.safetensors']);
  });
}

test('gradients reduced during backward in several buckets, or after it, give the weights of one process', { skip: !hasGloo && 'built without Gloo' }, async () => {
  // 100-byte buckets split the float64 MLP (b2 16 B, w2 128 B, b1 64 B, w1 320 B) into one bucket per
  // parameter; every one of them is launched by backward's hooks, none left for after it
  const over = await ranks(2, 'buckets', 10, { extraEnv: { BUCKET_BYTES: '100' } });
  assert.equal(over.result.code, 0, over.err);
  assert.deepEqual(over.out!.ddp, { overlapped: true, buckets: 4, launchedInBackward: 4 });
  assertClose(over.out!.weights, reference.weights, 'overlapped, 4 buckets');
  const after = await ranks(3, 'after', 10, { extraEnv: { OVERLAP: '0', BUCKET_BYTES: '100' } });
  assert.equal(after.result.code, 0, after.err);
  assert.equal(after.out!.ddp!.overlapped, false);
  assertClose(after.out!.weights, reference.weights, 'reduced after backward');
});

test('a run of 2 ranks resumes on 3 ranks and ends where one process does', { skip: !hasGloo && 'built without Gloo' }, async () => {
  const first = await ranks(2, 'grow', 6);
  assert.equal(first.result.code, 0, first.err);
  const second = await ranks(3, 'grow', 10, { resume: true });
  assert.equal(second.result.code, 0, second.err);
  assert.equal(second.out!.resumedFrom, 6);
  assertClose(second.out!.weights, reference.weights, 'resumed on 3 ranks');
});

test('a killed rank stops the others with a message naming it; the run resumes from its last checkpoint', { skip: !hasGloo && 'built without Gloo' }, async () => {
  const crashed = await ranks(2, 'crash', 10, { extraEnv: { DIE_AT: '6', DIE_RANK: '1' } });
  assert.equal(crashed.result.failedRank, 1);
  assert.equal(crashed.result.ranks[1].signal, 'SIGKILL');
  assert.match(crashed.result.message, /^launch: rank 1 \(pid \d+\) was killed by SIGKILL; rank 0: code 1$/);
  // rank 0 stopped on its own (not by the launcher's SIGTERM), saying which rank went away
  assert.match(crashed.err, /rank 0: distributed: allReduce on rank 0 (failed|stopped): rank 1 stopped responding \(no heartbeat for 1 s\)/);
  const resumed = await ranks(2, 'crash', 10, { resume: true });
  assert.equal(resumed.result.code, 0, resumed.err);
  assert.equal(resumed.out!.resumedFrom, 4);
  assertClose(resumed.out!.weights, reference.weights, 'resumed after the crash');
});
