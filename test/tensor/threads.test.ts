// Intra-op thread counts are bounded: libgomp allocates per-thread state up front, so a huge count
// ended the process from inside the next op (1e9: "Out of memory allocating 224000001344 bytes") and
// 1,000 threads took a minute to start on 2 cores. The bound is 4 threads per available core, at
// least 16; a bad count is refused before libtorch sees it, whether it comes from setNumThreads or
// from REFINERY_NUM_THREADS.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { functions as torch, getNumThreads, setNumThreads, scope } from '../../src/tensor';

// os.availableParallelism() counts the CPUs this process may run on, as the addon does.
const cores = os.availableParallelism();
const max = Math.max(16, 4 * cores);
const TENSOR = path.join(__dirname, '..', '..', 'src', 'tensor');

test('setNumThreads refuses counts outside 1..max(16, 4 x cores) with a RangeError naming the range', () => {
  const before = getNumThreads();
  try {
    for (const n of [0, -1, 1.5, NaN, Infinity, 1e9, max + 1]) {
      assert.throws(() => setNumThreads(n), (e: Error) => {
        assert.ok(e instanceof RangeError, `${n}: ${e.constructor.name}`);
        assert.match(e.message, new RegExp(`^setNumThreads\\(n\\): n must be an integer from 1 to ${max} \\(4 per available core, at least 16; this machine has ${cores} cores\\), got `));
        return true;
      });
      assert.equal(getNumThreads(), before, `${n} left the count alone`);
    }
    for (const bad of ['4', null, undefined, {}, 4n]) {
      assert.throws(() => setNumThreads(bad as never), TypeError);
    }
    setNumThreads(3);
    assert.equal(getNumThreads(), 3);
    assert.equal(scope(() => torch.ones([64, 64]).matmul(torch.ones([64, 64])).sum().item()), 64 ** 3);
  } finally {
    setNumThreads(before);
  }
});

function load(env: string) {
  const code = `const t = require(${JSON.stringify(TENSOR)}); console.log('threads', t.getNumThreads());` +
    ` console.log('sum', t.functions.ones([4, 4]).matmul(t.functions.ones([4, 4])).sum().item());`;
  return spawnSync(process.execPath, ['-e', code], {
    encoding: 'utf8',
    timeout: 30_000,
    killSignal: 'SIGKILL',
    env: { ...process.env, REFINERY_NUM_THREADS: env },
  });
}

test('REFINERY_NUM_THREADS outside the range: loading the library throws a RangeError naming the variable; no op runs', () => {
  for (const v of ['1000000000', '0', '-2', 'abc', '2.5', String(max + 1)]) {
    const r = load(v);
    assert.notEqual(r.status, 0, `REFINERY_NUM_THREADS=${v} was accepted`);
    assert.equal(r.signal, null, `REFINERY_NUM_THREADS=${v}: killed by ${r.signal}`);
    assert.match(r.stderr, new RegExp(`RangeError: REFINERY_NUM_THREADS=${v.replace('.', '\\.')}: expected an integer from 1 to ${max} `));
    assert.doesNotMatch(r.stderr, /libgomp|Out of memory/);
  }
  const ok = load('2');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^threads 2\nsum 64\n/);
  const unset = load('');
  assert.equal(unset.status, 0, unset.stderr);
  assert.match(unset.stdout, new RegExp(`^threads ${cores}\\n`), 'empty means unset: all available cores');
});
