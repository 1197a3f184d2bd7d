// Every hand-written native entry point (native/src/addon.cc) checks its arguments as the generated
// ones do: a wrong type, a missing argument, NaN or a stale handle is a JS Error (a TypeError naming
// the argument for a wrong type), never a crash; and libtorch's logging reaches users as Node warnings,
// without glog's "Logging before InitGoogleLogging()" line.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { functions as torch, memory, getNumThreads, setNumThreads } from '../../src/tensor';
import { native } from '../../src/tensor/native';

type Kind = 'T' | 'T?' | 'TL' | 'TL?' | 'B' | 'B?' | 'I' | 'I?' | 'N' | 'SC' | 'S' | 'F' | 'O' | 'DT' | 'IL' | 'DATA' | 'TN?';
// [name, argument kinds, valid arguments (made fresh for each call)]
type Entry = [string, Kind[], () => unknown[]];

const fresh = () => torch.ones([2, 3])._id;
const leaf = () => torch.ones([2]).requiresGrad_(true)._id;
const loss = () => torch.ones([2]).requiresGrad_(true).mul(2).sum()._id;

const ENTRIES: Entry[] = [
  ['Free', ['N'], () => [fresh()]],
  ['Backstop', ['N', 'O'], () => [fresh(), {}]],
  ['Share', ['T'], () => [fresh()]],
  ['FromBytes', ['DATA', 'IL', 'DT'], () => [new Float32Array(6), [2, 3], 6]],
  ['ToBytes', ['T'], () => [fresh()]],
  ['ScalarTensor', ['SC', 'DT'], () => [1.5, 6]],
  ['Item', ['T'], () => [torch.ones([])._id]],
  ...(['Meta', 'Shape', 'Strides', 'Dtype', 'Dim', 'Numel', 'IsLeaf', 'GradFnName', 'Grad', 'RetainGrad'] as const)
    .map((n): Entry => [n, ['T'], () => [n === 'RetainGrad' ? leaf() : fresh()]]),
  ['RequiresGrad', ['T', 'B?'], () => [fresh(), true]],
  ['SetGrad', ['T', 'TN?'], () => [leaf(), null]],
  ['SetGradEnabled', ['B?'], () => [true]],
  ['Backward', ['TL', 'TL?', 'B?', 'B?', 'TL?'], () => [[loss()], null, null, false, null]],
  ['AutogradGrad', ['TL', 'TL', 'TL?', 'B?', 'B?', 'B?'], () => {
    const x = torch.ones([2]).requiresGrad_(true);
    return [[x.mul(2).sum()._id], [x._id], null, null, false, true];
  }],
  ['CustomFunction', ['S', 'F', 'TL', 'TL'], () => [`f`, () => [null], [leaf()], [fresh()]]],
  ['GeneratorNew', ['I'], () => [1]],
  ['GeneratorFree', ['N'], () => [native.GeneratorNew(2)]],
  ['GeneratorSeed', ['N', 'I?'], () => [native.GeneratorNew(3), 4]],
  ['GeneratorGetState', ['N'], () => [native.GeneratorNew(5)]],
  ['GeneratorSetState', ['N', 'T'], () => { const g = native.GeneratorNew(6); return [g, native.GeneratorGetState(g)]; }],
  ['Memory', ['B?'], () => [false]],
  ['SetNumThreads', ['I'], () => [1]],
];

// Values of the wrong JS type for each kind (a TypeError naming the argument), and values of the
// right type that are still wrong (an Error of any kind).
const WRONG_TYPE: Record<string, unknown[]> = {
  number: ['1', {}, [], true, Symbol('s'), 1n, () => 1],
  scalar: ['1', {}, [], null, () => 1],
  int: ['1', {}, [], true, Symbol('s'), () => 1], // BigInts are integers
  bool: [1, 'true', {}, null],
  string: [1, {}, null, ['f']],
  list: ['1', 1, {}, true],
  function: [1, 'f', {}],
};
const kindType = (k: Kind): string | null =>
  ({ T: 'number', 'T?': 'number', N: 'number', I: 'int', 'I?': 'int', DT: 'number', SC: 'scalar', TL: 'list', 'TL?': 'list', B: 'bool', 'B?': 'bool', S: 'string', F: 'function' } as Record<string, string>)[k] ?? null;
const WRONG_VALUE = [NaN, Infinity, -1, 0, 1.5, 2 ** 60, -0, 1e300, 7 * 2 ** 32 + 1, [NaN], [1.5], ['x'], [2 ** 62, 2 ** 62], [null], [{}]];

function describe(v: unknown): string {
  if (typeof v === 'symbol' || typeof v === 'bigint') return String(v) + (typeof v === 'bigint' ? 'n' : '');
  if (typeof v === 'function') return 'function';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

test('hand-written native entry points: wrong types, missing arguments, NaN and odd numbers throw clear errors, never crash', () => {
  const threads = getNumThreads();
  const genState = native.GeneratorGetState(0);
  const before = memory().liveTensors;
  let calls = 0, typeErrors = 0;
  try {
    for (const [name, kinds, valid] of ENTRIES) {
      const fn = (native as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
      assert.equal(typeof fn, 'function', name);
      for (let i = 0; i < kinds.length; i++) {
        const type = kindType(kinds[i]);
        const optional = kinds[i].endsWith('?');
        const cases: [unknown, boolean][] = [
          ...(type ? WRONG_TYPE[type] : []).map((v): [unknown, boolean] => [v, true]),
          ...WRONG_VALUE.map((v): [unknown, boolean] => [v, false]),
          ...(optional ? [] : [[undefined, true] as [unknown, boolean]]),
        ];
        for (const [bad, isWrongType] of cases) {
          const args = valid();
          args[i] = bad;
          if (bad === undefined) args.length = i; // missing
          const where = `${name}(${args.map(describe).join(', ')})`;
          calls++;
          let threw: unknown = null;
          try {
            const r = fn(...args);
            if (typeof r === 'number' && ['Share', 'FromBytes', 'ScalarTensor', 'Grad'].includes(name)) native.Free(r);
          } catch (e) {
            threw = e;
          }
          if (threw === null) {
            // some wrong values are still valid here (0 as a generator is the default one, -0 is 0 ...)
            assert.ok(!isWrongType || (kinds[i] === 'N' && name === 'Free') || bad === null, `${where} returned`);
            continue;
          }
          assert.ok(threw instanceof Error, `${where} threw a non-Error: ${String(threw)}`);
          assert.ok(threw.message.length > 0, `${where}: empty message`);
          assert.doesNotMatch(threw.message, /Exception raised from|frame #\d/, `${where}: C++ backtrace`);
          if (isWrongType && bad !== undefined && typeof bad !== 'symbol') {
            assert.ok(threw instanceof TypeError, `${where}: ${threw.constructor.name}: ${threw.message}`);
            assert.match(threw.message, new RegExp(`argument ${i}|^setNumThreads\\(n\\)`), `${where}: ${threw.message}`);
            typeErrors++;
          }
        }
      }
      // no arguments at all, and one too many
      for (const args of [[], [...valid(), 1, 2, 3]]) {
        calls++;
        try {
          fn(...args);
        } catch (e) {
          assert.ok(e instanceof Error && e.message.length > 0, `${name}(${args.length} args): ${String(e)}`);
        }
      }
    }
  } finally {
    setNumThreads(threads);
    native.SetGradEnabled(true);
    native.GeneratorSetState(0, genState);
    native.Free(genState);
  }
  assert.ok(calls > 1000 && typeErrors > 150, `${calls} calls, ${typeErrors} TypeErrors`);
  // what these calls made is left to the GC backstop or freed; nothing is leaked into a scope
  assert.ok(memory().liveTensors >= before);
});

test('libtorch warnings: a Node warning (TorchWarning) once per message, and no glog "Logging before InitGoogleLogging()" line', () => {
  const tensorDir = path.join(__dirname, '..', '..', 'src', 'tensor');
  const code = `const t = require(${JSON.stringify(tensorDir)});
    const got = [];
    process.on('warning', (w) => got.push(w.name + ': ' + w.message));
    const a = t.functions.ones([3]);
    for (let k = 0; k < 3; k++) t.functions.meshgrid([a, a]); // warns (no indexing argument)
    setImmediate(() => console.log(JSON.stringify(got)));`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, REFINERY_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim()) as string[];
  assert.equal(got.length, 1, `warnings: ${JSON.stringify(got)}`);
  assert.match(got[0], /^TorchWarning: torch\.meshgrid: in an upcoming release, it will be required to pass the indexing argument/);
  assert.doesNotMatch(r.stderr, /Logging before InitGoogleLogging|^W\d{8} /m);
  const quiet = spawnSync(process.execPath, ['--no-warnings', '-e', code], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, REFINERY_NUM_THREADS: '1' } });
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.equal(quiet.stderr.trim(), '', 'node --no-warnings silences them');
});
