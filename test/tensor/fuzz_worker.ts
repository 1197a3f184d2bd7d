// Child process of fuzz.test.ts: thousands of random calls across the generated op table, through
// the dispatcher (functions[name](...), tensor[name](...)) and straight into the raw native functions
// (native.ops[i](...)) with garbage. Before each call it writes one `CALL ...` line to stdout, so
// that when libtorch kills the process the parent can name the op and its arguments; at the end it
// writes one `RESULT {json}` line.
//
//   node dist/test/tensor/fuzz_worker.js [--seed N] [--dispatch-rounds R] [--raw-rounds R] [--only NAME]
//   node dist/test/tensor/fuzz_worker.js --replay MODE:STATE:OP     one call, from a CALL line
//   node dist/test/tensor/fuzz_worker.js --regressions              inputs that used to crash
// (exploring: --skip a,b and --filter REGEX; FUZZ_LOG_ERRORS=1 prints every error to stderr)
//
// Every size is bounded (at most 4 dims, sizes at most 5) so that no op allocates much or runs long;
// "huge" integers are at least 2^44, so that any allocation they size fails at once instead of
// committing gigabytes. See HUGE_INT_EXEMPT for the ops whose integer arguments are loop counts.
import * as fs from 'fs';
import { Tensor, Generator, functions, tensor, memory, Scope } from '../../src/tensor';
import { OPS, OpOverload } from '../../src/tensor/generated/ops';
import { native } from '../../src/tensor/native';

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
function opt(name: string, dflt: string): string {
  const k = argv.indexOf(name);
  return k >= 0 && k + 1 < argv.length ? argv[k + 1] : dflt;
}
const SEED = Number(opt('--seed', '20240611'));
const DISPATCH_ROUNDS = Number(opt('--dispatch-rounds', '3'));
const RAW_ROUNDS = Number(opt('--raw-rounds', '2'));
const ONLY = opt('--only', '');
// `--replay MODE:STATE:OP`: one call, as printed on a CALL line (the PRNG state before the call)
const REPLAY = opt('--replay', '');
// `--regressions`: only the inputs that crashed or hung the process before the native guards
const REGRESSIONS = argv.includes('--regressions');
// `--skip a,b`: leave ops out (for exploring past a known crash; the test passes none)
const SKIP = new Set(opt('--skip', '').split(',').filter(Boolean));
// `--filter REGEX`: only ops whose name matches (for exploring)
const FILTER = new RegExp(opt('--filter', ''));

// ---------------------------------------------------------------- deterministic PRNG (mulberry32)
let rngState = SEED >>> 0;
function rand(): number {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const chance = (p: number) => rand() < p;
function pick<T>(a: readonly T[]): T {
  return a[Math.floor(rand() * a.length)];
}

// ---------------------------------------------------------------- op-specific bounds
// Ops whose integer/scalar arguments are iteration counts inside libtorch rather than sizes: a huge
// value there does not fail an allocation but loops ~2^53 times (libtorch behaves the same under
// PyTorch). They get small integers only; everything else about them is fuzzed.
const HUGE_INT_EXEMPT = new Set<string>([
  // special_*_polynomial_*(x, n): for |x| > 1 the recurrence runs n steps
  'specialChebyshevPolynomialT', 'specialChebyshevPolynomialU', 'specialChebyshevPolynomialV',
  'specialChebyshevPolynomialW', 'specialHermitePolynomialH', 'specialHermitePolynomialHe',
  'specialLaguerrePolynomialL', 'specialLegendrePolynomialP', 'specialShiftedChebyshevPolynomialT',
  'specialShiftedChebyshevPolynomialU', 'specialShiftedChebyshevPolynomialV', 'specialShiftedChebyshevPolynomialW',
]);

// ---------------------------------------------------------------- value pools
const DTYPES = ['float32', 'float32', 'float32', 'float64', 'int64', 'int64', 'int32', 'bool', 'uint8', 'int8',
  'int16', 'float16', 'bfloat16', 'complex64', 'complex128'] as const;
type DT = (typeof DTYPES)[number];
const FLOATS = [0, -0, 1, -1, 0.5, 2, 3.7, -2.25, 1e-3, NaN, Infinity, -Infinity, 1e300, -1e300, 5e-324];
const SMALL_INTS = [-2, -1, 0, 0, 1, 1, 1, 2, 2, 3, 4];
// at least 2^44 in magnitude: any allocation they size fails fast (more than RAM) instead of committing memory
const HUGE_INTS: (number | bigint)[] = [2 ** 53 - 1, -(2 ** 53), 2 ** 60, -(2 ** 62), 1e15, 2n ** 62n, -(2n ** 62n), 2n ** 63n - 1n];
const STRINGS = ['mean', 'sum', 'none', 'reflect', 'constant', 'replicate', 'circular', 'zeros', 'border', 'reflection',
  'bilinear', 'nearest', 'bicubic', 'ij', 'xy', 'floor', 'trunc', 'reduced', 'complete', 'r', 'fro', 'nuc', 'amax',
  'amin', 'prod', 'tanh', 'left', 'right', 'linear', 'lower', 'higher', 'midpoint', 'ortho', 'forward', 'backward',
  'L', 'U', 'gelsd', 'gels', 'gelsy', 'gesvd', 'gesvdj', '', 'garbage', '...', 'ii->i', 'ij,jk->ik', 'i,i->', 'abc', '\u00ff\u0000x'];
const GARBAGE: (() => unknown)[] = [
  () => undefined, () => null, () => 'str', () => ({}), () => [], () => [1, 2, 3], () => [[]], () => -1, () => 0,
  () => 2 ** 50, () => 2.5, () => NaN, () => Infinity, () => -Infinity, () => true, () => 7n, () => 2n ** 70n,
  () => Symbol('s'), () => () => 1, () => new Float32Array(4), () => ({ valueOf: () => 3 }), () => ['a', {}],
  () => new Array(30).fill(1), () => [1.5, 2], () => [NaN], () => new Map(), () => new Date(0),
];

// ---------------------------------------------------------------- per-call context
interface Ctx {
  name: string;
  base: number[]; // a shape shared by the call's tensors, so that many calls get past the shape checks
  desc: string[];
  evil: number; // evil arrays made in this call
  huge: boolean;
  clean: boolean; // no garbage, no disposed tensors: gets deeper into the kernels
}

function shapeStr(s: number[]): string {
  return `[${s.join(',')}]`;
}
function randShape(maxRank = 4): number[] {
  const r = randInt(0, maxRank);
  return Array.from({ length: r }, () => (chance(0.06) ? 0 : randInt(1, 5)));
}
function variantOf(base: number[]): number[] {
  const u = rand();
  if (u < 0.45) return base.slice();
  if (u < 0.6) return base.slice(randInt(0, base.length)); // broadcastable suffix
  if (u < 0.7) return base.map((d) => (chance(0.5) ? 1 : d));
  if (u < 0.8 && base.length >= 2) return [...base.slice(0, -2), base[base.length - 1], base[base.length - 2]];
  return randShape();
}

function makeValues(n: number, dt: DT): Float64Array | BigInt64Array {
  if (dt === 'int64') {
    const a = new BigInt64Array(n);
    for (let k = 0; k < n; k++) a[k] = BigInt(chance(0.02) ? pick([-100, 100, 1 << 20]) : randInt(-1, 4));
    return a;
  }
  const a = new Float64Array(n);
  const isFloat = !['int32', 'bool', 'uint8', 'int8', 'int16'].includes(dt);
  for (let k = 0; k < n; k++) {
    if (dt === 'bool') a[k] = randInt(0, 1);
    else if (!isFloat) {
      const v = randInt(-1, 4);
      a[k] = dt === 'uint8' && v < 0 ? v + 256 : v; // tensor() refuses -1 as uint8; 255 is what the cast gave
    }
    else a[k] = chance(0.03) ? pick([NaN, Infinity, -Infinity, 1e30]) : Math.round((rand() * 6 - 3) * 100) / 100;
  }
  return a;
}

const live: Tensor[] = []; // every tensor made for the current call, for the "evil getter"

function makeTensor(ctx: Ctx, shape?: number[]): Tensor {
  const dt = pick(DTYPES);
  const s = shape ?? variantOf(ctx.base);
  const n = s.reduce((a, b) => a * b, 1);
  const vals = makeValues(n, dt);
  let t: Tensor;
  const mode = rand();
  if (mode < 0.12 && s.length >= 2) {
    // non-contiguous: a transposed copy
    const sw = [...s];
    [sw[0], sw[1]] = [sw[1], sw[0]];
    const raw = tensor(vals, { shape: sw, dtype: dt as never });
    t = raw.transpose(0, 1);
  } else if (mode < 0.18 && s.length >= 1 && s[0] > 1) {
    // a stride-0 expanded view
    const one = [1, ...s.slice(1)];
    const raw = tensor(makeValues(one.reduce((a, b) => a * b, 1), dt), { shape: one, dtype: dt as never });
    t = raw.expand(s);
  } else {
    t = tensor(vals, { shape: s, dtype: dt as never });
  }
  let d = `${dt}${shapeStr(s)}`;
  if (REPLAY) d += `{strides=${shapeStr(t.stride())} values=${JSON.stringify(t.dataSync())}}`;
  if (chance(0.1) && ['float32', 'float64', 'complex64'].includes(dt)) {
    const leaf = t.detach();
    leaf.requiresGrad_(true);
    t = chance(0.5) ? leaf : leaf.mul(1);
    d += 'g';
  }
  live.push(t);
  if (!ctx.clean && chance(0.04)) {
    t.dispose();
    d += '(disposed)';
  }
  ctx.desc.push(d);
  return t;
}

function intFor(ctx: Ctx): number | bigint {
  const u = rand();
  if (u < 0.7) return pick(SMALL_INTS);
  if (u < 0.82) return ctx.base.length ? randInt(-ctx.base.length, ctx.base.length - 1) : 0;
  if (u < 0.92) return ctx.base.length ? pick(ctx.base) : 1;
  if (!ctx.huge) return randInt(-5, 5);
  return pick(HUGE_INTS);
}

// An array whose element getter disposes every tensor of the call (and makes new ones), run while
// the native side converts its arguments: the native code must not hold references into the handle
// table across conversions.
function evilArray(ctx: Ctx, values: unknown[]): unknown[] {
  ctx.evil++;
  const a = values.slice();
  Object.defineProperty(a, 0, {
    get() {
      for (const t of live) t.dispose();
      for (let k = 0; k < 3; k++) live.push(tensor([1, 2, 3]));
      return values[0];
    },
    enumerable: true,
  });
  return a;
}

function gen(): Generator | null {
  if (chance(0.5)) return null;
  const g = new Generator(randInt(0, 100));
  if (chance(0.15)) g.dispose();
  return g;
}

/** A plausible value for an argument kind (what the dispatcher accepts), sometimes an edge case. */
function plausible(ctx: Ctx, kind: string): unknown {
  const k = kind.endsWith('?') ? kind.slice(0, -1) : kind;
  if (kind.endsWith('?') && chance(0.3)) return null;
  switch (k) {
    case 'T': case 'Tm':
      return makeTensor(ctx);
    case 'TL': case 'TLr': {
      const n = randInt(0, 3);
      const shape = variantOf(ctx.base);
      const a = Array.from({ length: n }, () => makeTensor(ctx, chance(0.7) ? shape : undefined));
      return !ctx.clean && chance(0.03) && a.length ? evilArray(ctx, a) : a;
    }
    case 'T?L':
      return Array.from({ length: randInt(0, 3) }, () => (chance(0.3) ? null : makeTensor(ctx)));
    case 'I':
      return intFor(ctx);
    case 'IA': {
      if (chance(0.15)) return intFor(ctx);
      const u = rand();
      const a = u < 0.35 ? ctx.base.slice() : Array.from({ length: randInt(0, 4) }, () => intFor(ctx));
      if (chance(0.1) && !ctx.huge) a.push(-1);
      return !ctx.clean && chance(0.03) && a.length ? evilArray(ctx, a) : a;
    }
    case 'F':
      return pick(FLOATS);
    case 'FA':
      return Array.from({ length: randInt(0, 3) }, () => pick(FLOATS));
    case 'B':
      return chance(0.5);
    case 'BA2': case 'BA3': case 'BA4':
      return Array.from({ length: Number(k[2]) }, () => chance(0.5));
    case 'S': {
      const u = rand();
      if (u < 0.5) return pick(SMALL_INTS);
      if (u < 0.8) return pick(FLOATS);
      if (u < 0.9) return chance(0.5);
      return ctx.huge ? pick(HUGE_INTS) : randInt(-3, 3);
    }
    case 'SA': // a foreach op's scalar per tensor (sometimes too few or too many)
      return Array.from({ length: randInt(0, 3) }, () => plausible(ctx, 'S'));
    case 'ST':
      return chance(0.9) ? pick(DTYPES) : pick(['float99', 'qint8', '']);
    case 'STR':
      return pick(STRINGS);
    case 'G':
      return gen();
    case 'MF':
      return pick(['contiguous', 'preserve', 'channelsLast', 'channelsLast3d', 'channelsLast3d', 'bogus']);
    case 'DV':
      return pick(['cpu', 'cpu', 'meta', 'cuda:0', 'cuda:7', 'mps', 'bogus', 'cpu:3']);
    case 'LY': // an optional layout (2.x binds ops with one): only null is accepted
      return pick([null, 'strided', 'sparse', 3]);
    case 'TO':
      return undefined; // handled as options
    default:
      throw new Error(`fuzz_worker: unknown argument kind ${kind}`);
  }
}

function garbage(ctx: Ctx): unknown {
  const u = rand();
  if (u < 0.15) return makeTensor(ctx); // a tensor where something else is expected
  if (u < 0.2) {
    const t = makeTensor(ctx);
    t.dispose();
    return t;
  }
  const v = pick(GARBAGE)();
  // no huge integers for the ops whose integers are loop counts (HUGE_INT_EXEMPT)
  return typeof v === 'number' && Math.abs(v) >= 2 ** 44 && HUGE_INT_EXEMPT.has(ctx.name) ? 5 : v;
}

function describe(v: unknown): string {
  if (v instanceof Tensor) return 'T';
  if (REPLAY && Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
  if (REPLAY && v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${describe(x)}`).join(', ')} }`;
  }
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol') return 'Symbol';
  if (typeof v === 'function') return 'fn';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.length}]`;
  if (v instanceof Generator) return 'G';
  if (v !== null && typeof v === 'object') return 'obj';
  return String(v);
}

// ---------------------------------------------------------------- outcome bookkeeping
const stats = {
  calls: 0, ok: 0, typeErrors: 0, rangeErrors: 0, errors: 0, disposedErrors: 0,
  bad: [] as string[], leaked: 0, byMode: { dispatch: 0, raw: 0 } as Record<string, number>, evil: 0, ms: 0,
};
function out(line: string): void {
  fs.writeSync(1, line + '\n');
}

function checkError(where: string, e: unknown): void {
  if (!(e instanceof Error)) {
    stats.bad.push(`${where}: threw a non-Error ${String(e)}`);
    return;
  }
  const m = e.message;
  if (process.env.FUZZ_LOG_ERRORS) fs.writeSync(2, `${where.slice(0, 160)}\n  -> ${e.name}: ${m.split('\n')[0].slice(0, 200)}\n`);
  if (typeof m !== 'string' || m.trim() === '') stats.bad.push(`${where}: ${e.name} with an empty message`);
  else if (/Exception raised from|frame #\d/.test(m)) stats.bad.push(`${where}: message leaks a C++ backtrace: ${m.slice(0, 300)}`);
  if (e instanceof TypeError) stats.typeErrors++;
  else if (e instanceof RangeError) stats.rangeErrors++;
  else stats.errors++;
  if (/disposed/.test(m)) stats.disposedErrors++;
}

// ---------------------------------------------------------------- dispatcher fuzz
const entries = Object.entries(OPS).filter(([name]) => (!ONLY || name === ONLY) && !SKIP.has(name) && FILTER.test(name));

function dispatchCall(name: string, overloads: OpOverload[]): void {
  const st = rngState;
  const ctx: Ctx = { name, base: randShape(), desc: [], evil: 0, huge: !HUGE_INT_EXEMPT.has(name) && chance(0.08), clean: chance(0.5) };
  const ov = pick(overloads);
  const asMethod = overloads.some((o) => o.m) && (!overloads.some((o) => o.f) || chance(0.5));
  let self: Tensor | undefined;
  const args: unknown[] = [];
  const kw: Record<string, unknown> = {};
  const useKw = chance(0.3);
  let skipped = false;
  for (const [an, kind, flags] of ov.a) {
    if (kind === 'TO') {
      if (chance(0.5)) kw.dtype = plausible(ctx, 'ST');
      if (chance(0.2)) kw.device = plausible(ctx, 'DV');
      if (chance(0.1)) kw.requiresGrad = true;
      continue;
    }
    if (asMethod && an === 'self') {
      self = makeTensor(ctx);
      continue;
    }
    const optional = (flags & 1) !== 0;
    if (optional && chance(0.4)) {
      skipped = true; // leave the default; later arguments must then be named
      continue;
    }
    const v = !ctx.clean && chance(0.08) ? garbage(ctx) : plausible(ctx, kind);
    if ((flags & 2) || skipped || (optional && useKw)) kw[an] = v;
    else args.push(v);
  }
  // structural mistakes
  const u = ctx.clean ? 1 : rand();
  if (u < 0.05 && args.length) args.pop();
  else if (u < 0.1) args.push(garbage(ctx));
  else if (u < 0.12) kw.bogusOption = 1;
  if (Object.keys(kw).length) args.push(kw);
  if (asMethod && !self) self = makeTensor(ctx);
  stats.evil += ctx.evil;

  const where = `dispatch${ctx.clean ? '(clean)' : ''} ${asMethod ? 'tensor.' : 'functions.'}${name}(${args.map(describe).join(', ')}) tensors=${ctx.desc.join(' ')}${ctx.huge ? ' huge' : ''}`;
  out(`CALL ${stats.calls} [replay dispatch:${st}:${name}] ${where}`);
  stats.calls++;
  stats.byMode.dispatch++;
  try {
    if (asMethod) (self as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args);
    else (functions as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args);
    stats.ok++;
  } catch (e) {
    checkError(where, e);
  }
}

// ---------------------------------------------------------------- raw native fuzz
const byIndex: { name: string; ov: OpOverload }[] = [];
for (const [name, ovs] of Object.entries(OPS)) for (const ov of ovs) byIndex[ov.i] = { name, ov };

function rawHandle(ctx: Ctx): unknown {
  const u = rand();
  if (u < 0.55) return makeTensor(ctx)._id; // may be 0 when the tensor was disposed
  if (u < 0.65) {
    const id = native.FromBytes(new Float32Array(2), [2], 6);
    native.Free(id);
    return id; // a freed handle (not reused until the next allocation)
  }
  return pick<unknown>([0, -1, 1.5, 0.999, 1e9, 2 ** 32 + 1, NaN, Infinity, -0, '1', [1], { id: 1 }, null, undefined, true, 1n]);
}

function rawValid(ctx: Ctx, kind: string): unknown {
  const k = kind.endsWith('?') ? kind.slice(0, -1) : kind;
  if (kind.endsWith('?') && chance(0.2)) return pick([null, undefined]);
  switch (k) {
    case 'T': case 'Tm': return rawHandle(ctx);
    case 'TL': case 'TLr': case 'T?L': {
      const a = Array.from({ length: randInt(0, 3) }, () => (k === 'T?L' && chance(0.3) ? null : rawHandle(ctx)));
      return chance(0.05) && a.length ? evilArray(ctx, a) : a;
    }
    case 'ST': return chance(0.8) ? randInt(0, 18) : pick([-1, 19, 99, 2.5, NaN, 2 ** 31, -(2 ** 31)]);
    case 'MF': return chance(0.8) ? randInt(0, 4) : pick([-1, 2.5, NaN, 1e10]);
    case 'G': return chance(0.5) ? 0 : pick([1, 2, 1e6, -1, 0.5, NaN]);
    case 'DV': return pick(['cpu', 'meta', 'cuda', 'cuda:99', 'cpu:-1', 'xla', '', 'cpu\u0000', 'c'.repeat(100)]);
    case 'TO': return pick<unknown>([undefined, null, [6, 'cpu'], [null, null], [99, 'cpu'], [6, 'bogus'], [], ['6'], {}, [6, 'meta'], [18, null], [12, null]]);
    case 'IA': {
      const p = plausible(ctx, k);
      if (Array.isArray(p) && chance(0.2)) p.push(pick<unknown>([NaN, 1.5, 'x', null, 2 ** 64, -(2 ** 70), 1n]));
      return p;
    }
    case 'I': return chance(0.8) ? plausible(ctx, k) : pick<unknown>([NaN, Infinity, -Infinity, 0.5, 1e300, -1e300, 2 ** 63, -(2 ** 63), 2n ** 70n, -(2n ** 64n)]);
    case 'G?': return 0;
    default: return plausible(ctx, kind);
  }
}

function freeResult(r: unknown, ov: OpOverload): void {
  // handles come back as numbers (or arrays of numbers for Tensor[] / tuples)
  const free = (v: unknown) => {
    if (typeof v === 'number') native.Free(v);
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'number') native.Free(x);
  };
  if (ov.r.length === 1) {
    if (ov.r[0] === 'T' || ov.r[0] === 'TV') free(r);
  } else if (ov.r.length > 1 && Array.isArray(r) && !ov.r.every((x) => x.startsWith('SELF'))) {
    r.forEach((v, k) => {
      if (ov.r[k] === 'T' || ov.r[k] === 'TV') free(v);
    });
  }
}

function rawCall(i: number): void {
  const st = rngState;
  const entry = byIndex[i];
  const name = entry ? entry.name : `#${i}`;
  const ctx: Ctx = { name, base: randShape(), desc: [], evil: 0, huge: !HUGE_INT_EXEMPT.has(name) && chance(0.08), clean: false };
  const spec = entry ? entry.ov.a : [];
  const args: unknown[] = [];
  const garbageRate = pick([0, 0.1, 0.3, 0.7]);
  for (const [, kind] of spec) args.push(chance(garbageRate) ? garbage(ctx) : rawValid(ctx, kind));
  const u = rand();
  if (u < 0.1) args.length = randInt(0, args.length); // missing arguments
  else if (u < 0.2) for (let k = randInt(1, 3); k > 0; k--) args.push(garbage(ctx)); // extra arguments
  stats.evil += ctx.evil;
  const where = `raw ops[${i}] ${name}(${args.map(describe).join(', ')}) tensors=${ctx.desc.join(' ')}${ctx.huge ? ' huge' : ''}`;
  out(`CALL ${stats.calls} [replay raw:${st}:${i}] ${where}`);
  stats.calls++;
  stats.byMode.raw++;
  try {
    const r = native.ops[i](...args);
    if (entry) freeResult(r, entry.ov);
    stats.ok++;
  } catch (e) {
    checkError(where, e);
  }
}

// ---------------------------------------------------------------- main
function replay(spec: string): void {
  const [mode, state, op] = spec.split(':');
  rngState = Number(state) >>> 0;
  const s = new Scope();
  if (mode === 'dispatch') dispatchCall(op, OPS[op]);
  else rawCall(Number(op));
  s.close();
  out('REPLAYED ' + JSON.stringify(stats));
}

// ---------------------------------------------------------------- regressions
// Each of these killed the process (signal or abort) or hung it before the guards in
// native/src/convert.h and tools/gen_ops.py (GUARDS); now each must throw a JS Error.
function regressions(): void {
  const f = functions as unknown as Record<string, (...a: unknown[]) => unknown>;
  const z = (shape: number[], dtype = 'float32') => f.zeros(shape, { dtype }) as Tensor;
  const withNaN = () => tensor([[1, 2, 3], [4, NaN, 6], [7, 8, Infinity]]);
  const cases: [string, () => unknown][] = [
    ['alignTensors([])', () => f.alignTensors([])],
    ['quantizedLstmCell(hx of length 1)', () => f.quantizedLstmCell(z([3, 5]), [z([3, 5])], z([20, 5]), z([20, 5]), z([20]), z([20]),
      z([20, 5]), z([20, 5]), z([20]), z([20]), 1, 1, 0, 0)],
    ['maxUnpool2d(outputSize=[])', () => f.maxUnpool2d(z([2, 0, 3], 'uint8'), z([], 'float16'), [])],
    ['maxUnpool3d(outputSize=[])', () => f.maxUnpool3d(z([2, 0, 3]), z([], 'int64'), [], [2, 2, 2], 1)],
    ['toSparseBsr(blocksize=[])', () => z([]).toSparseBsr([])],
    ['fractionalMaxPool2dBackward(kernelSize=[])', () => f.fractionalMaxPool2dBackward(z([]), z([]), [], [], z([4, 4, 4, 2]))],
    ['thnnConv2d(stride=[])', () => f.thnnConv2d(z([], 'int64'), z([]), [1], z([], 'int64'), [], [])],
    ['slowConv3dForward(padding=[])', () => f.slowConv3dForward(z([3, 2, 0], 'complex64'), z([0], 'bfloat16'), [1, 4, 4, -1], null, [2, 0, -1], [])],
    ['reflectionPad2dBackward(padding=[])', () => f.reflectionPad2dBackward(z([2, 2]), z([1], 'int64'), [])],
    ['reflectionPad1dBackward(padding=[0])', () => f.reflectionPad1dBackward(z([]), z([1, 5, 1, 2]), [0, 1, 2])],
    ['nativeChannelShuffle(groups=0)', () => f.nativeChannelShuffle(z([2, 3]), 0)],
    ['nativeChannelShuffle(channels % groups)', () => f.nativeChannelShuffle(z([1, 1, 1, 1]), 2)],
    ['nativeChannelShuffle(empty channels)', () => f.nativeChannelShuffle(z([2, 0, 2, 5], 'bool'), 4)],
    ['matrixExpBackward(0-d)', () => f.matrixExpBackward(z([], 'int64'), z([], 'int8'))],
    ['chooseQparamsOptimized(numel=-1)', () => f.chooseQparamsOptimized(z([5]), -1, 0, 0, 2)],
    ['chooseQparamsOptimized(numel > input)', () => f.chooseQparamsOptimized(z([3, 0]), 7, 1, 0, 0)],
    ['histogramdd(bins=[])', () => f.histogramdd(z([1, 1]), [])],
    ['unfoldBackward(inconsistent sizes)', () => f.unfoldBackward(z([5, 4]).t(), [5], 0, 2, 3)],
    ['linalgSvd(NaN)', () => f.linalgSvd(withNaN())],
    ['linalgPinv(NaN)', () => f.linalgPinv(withNaN())],
    ['linalgEigvals(NaN)', () => f.linalgEigvals(withNaN())],
    ['linalgLstsq(gelsd, NaN)', () => f.linalgLstsq(withNaN(), withNaN(), { driver: 'gelsd' })],
    ['linalgMatrixNorm(nuc, NaN)', () => f.linalgMatrixNorm(withNaN(), 'nuc')],
    ['nativeBatchNorm(eval, no running stats)', () => f.nativeBatchNorm(z([4, 3]), null, null, null, null, false, 0.1, 1e-5)],
    ['nativeBatchNorm(running stats of the wrong size)', () => f.nativeBatchNorm(z([4, 3]), null, null, z([1]), z([1]), false, 0.1, 1e-5)],
    ['nativeBatchNorm(empty batch)', () => f.nativeBatchNorm(z([0, 3]), null, null, null, null, true, 0.1, 1e-5)],
    ['nativeBatchNormBackward(no saved stats)', () => f.nativeBatchNormBackward(z([4, 3]), z([4, 3]), null, null, null, null, null, true, 1e-5, [true, true, true])],
    ['nativeBatchNormBackward(empty)', () => f.nativeBatchNormBackward(z([0, 3]), z([0, 3]), null, z([3]), z([3]), null, null, false, 1e-5, [true, true, true])],
    ['batchNormUpdateStats(empty)', () => f.batchNormUpdateStats(z([0, 3]), z([3]), z([3]), 0.1)],
    ['adaptiveMaxPool2dBackward(indices out of range)', () => f.adaptiveMaxPool2dBackward(z([1, 2, 2, 2]), z([1, 2, 4, 4]), f.full([1, 2, 2, 2], 1e6, { dtype: 'int64' }))],
    ['adaptiveMaxPool3dBackward(indices out of range)', () => f.adaptiveMaxPool3dBackward(z([1, 2, 2, 2, 2]), z([1, 2, 4, 4, 4]), f.full([1, 2, 2, 2, 2], 1e6, { dtype: 'int64' }))],
    ['maxPool2dWithIndicesBackward(indices out of range)', () => f.maxPool2dWithIndicesBackward(z([1, 1, 2, 2]), z([1, 1, 4, 4]), [2, 2], [2, 2], [0, 0], [1, 1], false, f.full([1, 1, 2, 2], 1e6, { dtype: 'int64' }))],
    ['maxPool3dWithIndicesBackward(indices out of range)', () => f.maxPool3dWithIndicesBackward(z([1, 1, 2, 2, 2]), z([1, 1, 4, 4, 4]), [2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], false, f.full([1, 1, 2, 2, 2], 1e6, { dtype: 'int64' }))],
    ['embeddingDenseBackward(scaleGradByFreq, indices out of range)', () => f.embeddingDenseBackward(z([3, 4]), f.full([3], 1e6, { dtype: 'int64' }), 5, -1, true)],
    ['ctcLoss(targets out of range)', () => f.ctcLoss(z([5, 2, 4]), f.full([2, 3], 1e6, { dtype: 'int64' }), [5, 5], [3, 3])],
    ['searchsorted(sorter out of range)', () => f.searchsorted(tensor([1, 2, 3]), tensor([2.5]), { sorter: f.full([3], 1e6, { dtype: 'int64' }) })],
    ['segmentReduce(unsafe, bad lengths)', () => f.segmentReduce(z([5]), 'sum', { lengths: f.full([2], 1e6, { dtype: 'int64' }), unsafe: true })],
    ['smoothL1LossBackward(integers, tiny beta)', () => f.smoothL1LossBackward(z([3], 'int64'), tensor([1, 2, 3]), tensor([3, 2, 1]), 0, 5e-324)],
    ['linalgEig(Inf)', () => f.linalgEig(withNaN())],
    ['lstm(h and c of different sizes)', () => f.lstm(z([5, 2, 3]), [z([3, 2, 4]), z([1, 2, 4])], [z([16, 3]), z([16, 4])], false, 1, 0, false, false, false)],
    ['lstm(packed, empty batch sizes)', () => f.lstm(z([6, 3]), z([0], 'int64'), [z([1, 2, 4]), z([1, 2, 4])], [z([16, 3]), z([16, 4])], false, 1, 0, false, false)],
    ['rnnTanh(packed, empty batch sizes)', () => f.rnnTanh(z([6, 3]), z([0], 'int64'), z([1, 2, 4]), [z([4, 3]), z([4, 4])], false, 1, 0, false, false)],
    ['gruCell(w_ih with too few rows)', () => f.gruCell(z([2, 3]), z([2, 4]), z([2, 3]), z([12, 4]))],
    ['rreluWithNoise(noise smaller than self)', () => f.rreluWithNoise(z([3, 5]), z([1, 5, 1]), { training: true })],
    ['slowConv3d(no input channels)', () => f.slowConv3d(z([1, 0], 'int8'), z([1, 0]), 1)],
    ['mkldnnConvolution(one padding value for 2-d)', () => f.mkldnnConvolution(z([1, 2, 2, 2]), z([2, 2, 1, 1]), null, [0], [1], [1], 1)],
    ['mkldnnConvolution(empty batch)', () => f.mkldnnConvolution(z([0, 2, 2, 2]), z([2, 2, 1, 1]), null, [0, 0], [1, 1], [1, 1], 1)],
    ['ones(2^62 x 4)', () => f.ones([2 ** 62, 4])],
    ['ones(2n^62n, 4)', () => f.ones([2n ** 62n, 4n])],
    ['view(2^70n)', () => z([4]).view([2n ** 70n] as never)],
    ['view(NaN)', () => z([4]).view([NaN])],
    // these read past a too-short random_samples or indices (garbage or an internal assert)
    ['fractionalMaxPool2d(randomSamples of one element)', () => f.fractionalMaxPool2d(z([2, 3, 8, 8]), 2, 4, z([1]))],
    ['fractionalMaxPool3d(randomSamples of one element)', () => f.fractionalMaxPool3d(z([2, 3, 8, 8, 8]), 2, 4, z([1]))],
    ['fractionalMaxPool2d(NaN randomSamples)', () => f.fractionalMaxPool2d(z([1, 1, 8, 8]), 2, 4, f.full([1, 1, 2], NaN))],
    ['fractionalMaxPool2dBackward(indices of one element)', () => f.fractionalMaxPool2dBackward(z([1, 1, 4, 4]), z([1, 1, 8, 8]), 2, 4, z([1], 'int64'))],
    ['multiMarginLoss(weight shorter than the classes)', () => f.multiMarginLoss(z([2, 3]), z([2], 'int64'), 1, 1, z([1]))],
    ['multiMarginLossBackward(weight shorter than the classes)', () => f.multiMarginLossBackward(z([]), z([2, 3]), z([2], 'int64'), 1, 1, z([1]))],
    ['fractionalMaxPool3dBackward(indices of one element)', () => f.fractionalMaxPool3dBackward(z([1, 1, 4, 4, 4]), z([1, 1, 8, 8, 8]), 2, 4, z([1], 'int64'))],
  ];
  const r = { cases: cases.length, threw: 0, failures: [] as string[] };
  for (const [label, fn] of cases) {
    out(`CALL ${stats.calls++} regression ${label}`);
    const s = new Scope();
    try {
      fn();
      r.failures.push(`${label}: returned instead of throwing`);
    } catch (e) {
      if (process.env.FUZZ_LOG_ERRORS && e instanceof Error) fs.writeSync(2, `${label}\n  -> ${e.message.split('\n')[0].slice(0, 300)}\n`);
      if (e instanceof Error && e.message) r.threw++;
      else r.failures.push(`${label}: threw ${String(e)}`);
    } finally {
      s.close();
    }
  }
  // argument conversion runs JS (an element getter) that frees the tensor and grows the handle table:
  // the op must still see the tensor it was given
  out(`CALL ${stats.calls++} regression view(self freed by a getter of size)`);
  const id = native.FromBytes(new Float32Array([1, 2, 3, 4, 5, 6]), [6], 6);
  const size = [2, 3];
  const made: number[] = [];
  Object.defineProperty(size, 0, {
    get() {
      native.Free(id);
      for (let k = 0; k < 5000; k++) made.push(native.FromBytes(new Float32Array(1), [1], 6));
      return 2;
    },
  });
  const v = native.ops[OPS.view.find((o) => o.a[1][1] === 'IA')!.i](id, size) as number;
  const got = Array.from(new Float32Array(native.ToBytes(v)));
  if (JSON.stringify(native.Shape(v)) !== '[2,3]' || JSON.stringify(got) !== '[1,2,3,4,5,6]') {
    r.failures.push(`view with a freeing getter gave shape ${JSON.stringify(native.Shape(v))} data ${JSON.stringify(got)}`);
  }
  native.Free(v);
  for (const m of made) native.Free(m);
  out('REGRESSIONS ' + JSON.stringify(r));
}

function main(): void {
  if (REPLAY) return replay(REPLAY);
  if (REGRESSIONS) return regressions();
  const t0 = Date.now();
  const before = memory().liveTensors;
  const runOne = (f: () => void) => {
    const s = new Scope();
    try {
      f();
    } finally {
      s.close();
      live.length = 0;
    }
  };
  for (let round = 0; round < DISPATCH_ROUNDS; round++) {
    for (const [name, overloads] of entries) runOne(() => dispatchCall(name, overloads));
  }
  const indices = ONLY ? (OPS[ONLY] ?? []).map((o) => o.i) : Array.from({ length: native.ops.length }, (_, k) => k);
  for (let round = 0; round < RAW_ROUNDS; round++) {
    for (const i of indices) if (!SKIP.has(byIndex[i]?.name) && FILTER.test(byIndex[i]?.name ?? '')) runOne(() => rawCall(i));
  }
  // a few hand-written entry points with garbage as well
  const hand: [string, (...a: unknown[]) => unknown][] = [
    ['Free', native.Free], ['Share', native.Share], ['FromBytes', native.FromBytes], ['ToBytes', native.ToBytes],
    ['ScalarTensor', native.ScalarTensor], ['Item', native.Item], ['Meta', native.Meta], ['Shape', native.Shape],
    ['RequiresGrad', native.RequiresGrad], ['Grad', native.Grad], ['SetGrad', native.SetGrad],
    ['Backward', native.Backward], ['AutogradGrad', native.AutogradGrad], ['GeneratorSeed', native.GeneratorSeed],
    ['GeneratorSetState', native.GeneratorSetState], ['SetNumThreads', native.SetNumThreads],
  ] as never;
  for (let round = 0; round < RAW_ROUNDS * 20 && !ONLY; round++) {
    for (const [hn, fn] of hand) {
      runOne(() => {
        const ctx: Ctx = { name: hn, base: randShape(), desc: [], evil: 0, huge: false, clean: false };
        const args = Array.from({ length: randInt(0, 5) }, () => (chance(0.5) ? rawHandle(ctx) : garbage(ctx)));
        if (hn === 'FromBytes' && chance(0.5)) args.splice(0, 3, new Uint8Array(8), pick<unknown>([[2], [2, 1], [-2], [2 ** 62, 4], [8], []]), randInt(-1, 19));
        if (hn === 'SetNumThreads') args.splice(0, args.length, pick<unknown>([0, -1, 'x', NaN, 1.5]));
        const where = `hand ${hn}(${args.map(describe).join(', ')}) tensors=${ctx.desc.join(' ')}`;
        out(`CALL ${stats.calls} ${where}`);
        stats.calls++;
        try {
          const r = fn(...args);
          if (typeof r === 'number' && ['Share', 'FromBytes', 'ScalarTensor', 'Grad'].includes(hn)) native.Free(r);
          stats.ok++;
        } catch (e) {
          checkError(where, e);
        }
      });
    }
  }
  native.SetNumThreads(Number(process.env.REFINERY_NUM_THREADS || 2));
  native.SetGradEnabled(true);
  stats.leaked = memory().liveTensors - before;
  stats.ms = Date.now() - t0;
  out('RESULT ' + JSON.stringify(stats));
}

main();
