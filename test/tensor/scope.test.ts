// scope(): what it finds in a returned value (any depth, class instances, Sets, Map keys), and
// async functions, which it refuses before they run; a function that returns a promise anyway gets
// one catchable error, and the orphaned rest of it cannot kill the process (child process).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { Tensor, functions as torch, scope, memory } from '../../src/tensor';

const TENSOR = path.join(__dirname, '..', '..', 'src', 'tensor');

function live(): number {
  return memory().liveTensors;
}

test('scope finds returned tensors at any depth, in class instances, Sets and Map keys, and through cycles', () => {
  class Pair {
    constructor(public a: Tensor, public rest: { deeper: unknown }) {}
  }
  const n = live();
  let made: Tensor[] = [];
  let garbage!: Tensor;
  const r = scope(() => {
    garbage = torch.ones([1]);
    made = Array.from({ length: 6 }, (_, k) => torch.full([1], k));
    const cyclic: { self?: unknown; t: Tensor } = { t: made[5] };
    cyclic.self = cyclic;
    const deep = [[[[[[{ x: [made[0]] }]]]]]]; // depth 8
    return {
      deep,
      pair: new Pair(made[1], { deeper: new Pair(made[2], { deeper: null }) }),
      set: new Set([made[3]]),
      keyed: new Map([[made[4], 'key']]),
      cyclic,
    };
  });
  assert.ok(garbage.isDisposed, 'a tensor that is not returned is freed');
  assert.deepEqual(made.map((t) => t.isDisposed), Array(6).fill(false), 'every returned tensor survives');
  assert.deepEqual(made.map((t) => t.item()), [0, 1, 2, 3, 4, 5]);
  assert.equal(live(), n + 6);
  assert.equal((r.deep[0][0][0][0][0][0] as { x: Tensor[] }).x[0], made[0]);
  for (const t of made) t.dispose();
  assert.equal(live(), n);
});

test('scope does not call getters of the returned value, and walks large results once per object', () => {
  const n = live();
  let calls = 0;
  const shared = { t: undefined as unknown as Tensor };
  const r = scope(() => {
    shared.t = torch.ones([2]);
    const o = { get g() { calls++; return torch.zeros([1]); } };
    // 10,000 references to one object: visited once
    return { o, many: Array(10_000).fill(shared) };
  });
  assert.equal(calls, 0);
  assert.equal(r.many.length, 10_000);
  assert.ok(!shared.t.isDisposed);
  shared.t.dispose();
  assert.equal(live(), n);
});

test('scope(async fn) and generator functions are refused before they run, with a TypeError that says why', () => {
  const n = live();
  let ran = false;
  for (const fn of [
    async () => { ran = true; },
    function* () { ran = true; },
    async function* () { ran = true; },
  ]) {
    assert.throws(() => scope(fn as () => unknown), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^scope\(fn\): fn is an? (async |generator |async generator )function/);
      assert.match(e.message, /code after an `await`.*would use freed tensors/);
      return true;
    });
  }
  assert.equal(ran, false);
  assert.throws(() => scope(42 as never), /scope\(fn\): fn must be a function, got number/);
  assert.equal(live(), n);
});

// In a child process: an unhandled rejection there would end it with status 1.
function child(code: string) {
  const r = spawnSync(process.execPath, ['-e', `const { scope, functions: torch, memory } = require(${JSON.stringify(TENSOR)});\n${code}`], {
    encoding: 'utf8',
    timeout: 30_000,
    killSignal: 'SIGKILL',
    env: { ...process.env, REFINERY_NUM_THREADS: '1' },
  });
  return r;
}

test('a function that returns a promise: one catchable TypeError, the orphaned rest fails quietly, the process lives on', () => {
  const r = child(`
    let caught = [];
    // not an async function, so it cannot be refused up front
    const fn = () => (async () => { const a = torch.ones([2]); await null; a.add(1); return 'orphan finished'; })();
    try { scope(fn); } catch (e) { caught.push(e.constructor.name + ': ' + e.message); }
    const base = memory().liveTensors;
    setTimeout(() => {
      console.log(JSON.stringify({ caught, liveDelta: memory().liveTensors - base }));
    }, 50);
  `);
  assert.equal(r.status, 0, `child died: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /Unhandled|disposed/);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(out.caught.length, 1);
  assert.match(out.caught[0], /^TypeError: scope\(fn\): fn returned a Promise; a scope frees its tensors when fn returns/);
  assert.equal(out.liveDelta, 0);
});

test('the reported case: scope(async () => { ...; await null; a.add(1) }) throws at once; nothing runs, the process lives on', () => {
  const r = child(`
    let caught = '';
    try { scope(async () => { const a = torch.ones([2]); await null; a.add(1); }); } catch (e) { caught = e.constructor.name; }
    setTimeout(() => console.log(JSON.stringify({ caught, live: memory().liveTensors })), 20);
  `);
  assert.equal(r.status, 0, `child died: ${r.stderr}`);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { caught: 'TypeError', live: 0 });
});
