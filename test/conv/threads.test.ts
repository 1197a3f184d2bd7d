// Refinery's robust threading defaults: passive OpenMP waiting and a single-threaded OpenBLAS inside
// libtorch's pool, set before the addon loads, never overriding what the user set.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { robustThreadingEnv } from '../../src/tensor/native';

test('robustThreadingEnv sets passive waiting and one BLAS thread unless the user chose otherwise', () => {
  const env: NodeJS.ProcessEnv = {};
  assert.deepEqual(robustThreadingEnv(env), ['OMP_WAIT_POLICY', 'OPENBLAS_NUM_THREADS']);
  assert.deepEqual(env, { OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: '1' });
  const mine: NodeJS.ProcessEnv = { OMP_WAIT_POLICY: 'ACTIVE', OPENBLAS_NUM_THREADS: '2' };
  assert.deepEqual(robustThreadingEnv(mine), []);
  assert.deepEqual(mine, { OMP_WAIT_POLICY: 'ACTIVE', OPENBLAS_NUM_THREADS: '2' });
  const off: NodeJS.ProcessEnv = { REFINERY_OMP_DEFAULTS: '1' };
  robustThreadingEnv(off);
  assert.deepEqual(off, { REFINERY_OMP_DEFAULTS: '1' });
});

test('the policies are in the environment before libgomp and OpenBLAS load (a fresh process)', () => {
  const script = `const fs = require('fs');
    require(${JSON.stringify(path.resolve(__dirname, '../../src/tensor/index.js'))});
    // Node's process.env setter is setenv(3), which libgomp's and OpenBLAS's load-time getenv read;
    // that it takes effect shows in bench conv --part load (the default row matches the PASSIVE rows)
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    console.log(JSON.stringify({ omp: process.env.OMP_WAIT_POLICY, blas: process.env.OPENBLAS_NUM_THREADS, gomp: /libgomp/.test(maps) }));`;
  const env = { ...process.env };
  delete env.OMP_WAIT_POLICY;
  delete env.OPENBLAS_NUM_THREADS;
  delete env.REFINERY_OMP_DEFAULTS;
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { omp: 'PASSIVE', blas: '1', gomp: true });
});
