// Overload resolution for the generated op table (src/tensor/generated/ops.ts), as PyTorch's
// argument parser does: positional args in schema order, keyword args from a trailing options object.
import { DTYPE_CODES, DTYPE_NAMES, MEMORY_FORMAT_CODES } from '../types';
import type { OpOverload } from './generated/ops';
import { native } from './native';
import { checkDevice, checkDtype, didYouMean, isDevice, isDtype, show } from './options';

export interface TensorLike {
  _id: number;
  readonly _handle: number;
}
interface TensorClass {
  new (id: number): TensorLike;
  prototype: TensorLike;
}
interface GeneratorLike {
  readonly _handle: number;
}

let TensorCtor: TensorClass;
let GeneratorCtor: new (...a: never[]) => GeneratorLike;
export function registerClasses(t: TensorClass, g: new (...a: never[]) => GeneratorLike): void {
  TensorCtor = t;
  GeneratorCtor = g;
}

const NO = Symbol('nomatch');
// int64 as doubles: [-2^63, 2^63), the largest double below 2^63 being 2^63 - 1024
const isInt64 = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63)
  || (typeof v === 'bigint' && v >= -(2n ** 63n) && v < 2n ** 63n);
const isInt = isInt64;
const outOfInt64 = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && !isInt64(v)) || (typeof v === 'bigint' && !isInt64(v));

export function isOptions(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

function convert(kind: string, v: unknown): unknown {
  if (v === null) return kind.endsWith('?') || kind === 'LY?' ? null : NO;
  switch (kind) {
    case 'T': case 'Tm': case 'T?':
      return v instanceof TensorCtor ? v._handle : NO;
    case 'TL': case 'TLr': {
      if (!Array.isArray(v)) return NO;
      const out = new Array(v.length);
      for (let k = 0; k < v.length; k++) {
        if (!(v[k] instanceof TensorCtor)) return NO;
        out[k] = v[k]._handle;
      }
      return out;
    }
    case 'T?L': {
      if (!Array.isArray(v)) return NO;
      const out = new Array(v.length);
      for (let k = 0; k < v.length; k++) {
        if (v[k] === null || v[k] === undefined) out[k] = null;
        else if (v[k] instanceof TensorCtor) out[k] = v[k]._handle;
        else return NO;
      }
      return out;
    }
    case 'I': case 'I?':
      return isInt(v) ? v : NO;
    case 'IA': case 'IA?':
      if (isInt(v)) return v;
      return Array.isArray(v) && v.every(isInt) ? v : NO;
    case 'F': case 'F?':
      return typeof v === 'number' ? v : NO;
    case 'FA?':
      if (typeof v === 'number') return [v];
      return Array.isArray(v) && v.every((x) => typeof x === 'number') ? v : NO;
    case 'B': case 'B?':
      return typeof v === 'boolean' ? v : NO;
    case 'BA2': case 'BA3': case 'BA4':
      return Array.isArray(v) && v.length === Number(kind[2]) && v.every((x) => typeof x === 'boolean') ? v : NO;
    case 'S': case 'S?':
      return typeof v === 'number' || typeof v === 'boolean' || (typeof v === 'bigint' && isInt64(v)) ? v : NO;
    case 'SA':
      return Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'boolean' || (typeof x === 'bigint' && isInt64(x))) ? v : NO;
    case 'ST': case 'ST?':
      return isDtype(v) ? DTYPE_CODES[v] : NO;
    case 'STR': case 'STR?':
      return typeof v === 'string' ? v : NO;
    case 'G?':
      return v instanceof GeneratorCtor ? v._handle : NO;
    case 'MF': case 'MF?':
      return typeof v === 'string' && Object.prototype.hasOwnProperty.call(MEMORY_FORMAT_CODES, v) ? MEMORY_FORMAT_CODES[v as keyof typeof MEMORY_FORMAT_CODES] : NO;
    case 'DV': case 'DV?':
      return isDevice(v) ? v : NO;
    default:
      return NO;
  }
}

// `x.view(2, 3)` for `x.view([2, 3])`: PyTorch packs trailing ints into the single int-list argument.
function packVarargs(ov: OpOverload, self: unknown, args: unknown[], n: number): unknown[] | null {
  const params = ov.a.filter((a) => !(a[2] & 2) && !(self !== undefined && a[0] === 'self'));
  if (params.length !== 1 || params[0][1] !== 'IA' || n < 2) return null;
  for (let k = 0; k < n; k++) if (!isInt(args[k])) return null;
  return [args.slice(0, n)];
}

function match(ov: OpOverload, self: unknown, args: unknown[], n: number, kw: Record<string, unknown> | undefined): unknown[] | typeof NO {
  const spec = ov.a;
  const out = new Array(spec.length);
  let p = 0;
  let used = 0;
  for (let j = 0; j < spec.length; j++) {
    const name = spec[j][0], kind = spec[j][1], flags = spec[j][2];
    if (kind === 'TO') {
      let dt = null, dev = null;
      if (kw) {
        if (kw.dtype !== undefined) {
          if (!isDtype(kw.dtype)) return NO;
          dt = DTYPE_CODES[kw.dtype];
          used++;
        }
        if (kw.device !== undefined) {
          if (!isDevice(kw.device)) return NO;
          dev = kw.device;
          used++;
        }
        if (kw.requiresGrad !== undefined) used++;
      }
      out[j] = dt === null && dev === null ? undefined : [dt, dev];
      continue;
    }
    let v: unknown;
    if (self !== undefined && name === 'self') v = self;
    else if (!(flags & 2) && p < n) v = args[p++];
    else if (kw !== undefined && kw[name] !== undefined) {
      v = kw[name];
      used++;
    }
    if (v === undefined) {
      if (flags & 1) continue;
      return NO;
    }
    const c = convert(kind, v);
    if (c === NO) return NO;
    out[j] = c;
  }
  if (p < n) return NO;
  if (kw !== undefined) {
    let count = 0;
    for (const k in kw) if (kw[k] !== undefined) count++;
    if (count !== used) return NO;
  }
  return out;
}

function wrapReturn(r: string, v: unknown, ov: OpOverload, self: unknown, args: unknown[], n: number): unknown {
  switch (r[0]) {
    case 'T':
      if (r === 'TV') return (v as (number | null)[]).map((id) => (id === null ? null : new TensorCtor(id)));
      return v === null ? null : new TensorCtor(v as number);
    case 'S':
      if (r.startsWith('SELF:')) {
        const idx = Number(r.slice(5));
        const name = ov.a[idx][0];
        if (self !== undefined && name === 'self') return self;
        // positional index among the non-self args
        let p = 0;
        for (let j = 0; j < idx; j++) if (!(self !== undefined && ov.a[j][0] === 'self') && !(ov.a[j][2] & 2)) p++;
        return p < n ? args[p] : undefined;
      }
      if (r === 'ST') return DTYPE_NAMES[v as number];
      return v;
    default:
      return v;
  }
}

function describeArg(v: unknown): string {
  if (v instanceof TensorCtor) return v._id ? `Tensor` : 'disposed Tensor';
  if (Array.isArray(v)) return `[${v.map(describeArg).join(', ')}]`;
  if (isOptions(v)) return `{ ${Object.keys(v).join(', ')} }`;
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

export function signature(name: string, ov: OpOverload, method: boolean): string {
  const args = ov.a.filter((a) => !(method && a[0] === 'self')).map((a) => `${a[0]}${a[2] & 1 ? '?' : ''}: ${a[1]}`);
  return `${name}(${args.join(', ')})`;
}

/** Calls the first overload of `name` whose signature accepts the arguments. */
export function callOp(name: string, overloads: OpOverload[], self: unknown, args: unknown[]): unknown {
  let n = args.length;
  let kw: Record<string, unknown> | undefined;
  if (n > 0 && isOptions(args[n - 1])) {
    kw = args[n - 1] as Record<string, unknown>;
    n--;
  }
  const method = self !== undefined;
  for (let pass = 0; pass < 2; pass++) {
    for (const ov of overloads) {
      if (method ? !ov.m : !ov.f) continue;
      let a = args, m = n;
      if (pass === 1) {
        const packed = packVarargs(ov, self, args, n);
        if (!packed) continue;
        a = packed;
        m = 1;
      }
      const conv = match(ov, self, a, m, kw);
      if (conv === NO) continue;
      const fn = native.ops[ov.i];
      const res = fn.apply(null, conv as unknown[]);
      let out: unknown;
      if (ov.r.length === 1) out = wrapReturn(ov.r[0], res, ov, self, a, m);
      else if (ov.r.length === 0) out = undefined;
      else if (ov.r.every((r) => r.startsWith('SELF'))) out = wrapReturn(ov.r[0], res, ov, self, a, m);
      else out = (res as unknown[]).map((v, k) => wrapReturn(ov.r[k], v, ov, self, a, m));
      if (kw?.requiresGrad === true && out instanceof TensorCtor) native.RequiresGrad(out._handle, true);
      return out;
    }
  }
  if (kw) diagnoseOptions(name, overloads, method, kw);
  const big = [...args.slice(0, n), ...Object.values(kw ?? {})].flat().find(outOfInt64);
  if (big !== undefined) {
    throw new RangeError(`${name}(): ${typeof big === 'bigint' ? `${big}n` : big} is outside the int64 range [-9223372036854775808, 9223372036854775807]`);
  }
  const given = [...(method ? ['self'] : []), ...args.map(describeArg)].join(', ');
  const sigs = overloads.filter((o) => (method ? o.m : o.f)).map((o) => '  ' + signature(name, o, method)).join('\n');
  throw new TypeError(`${name}(): no overload accepts (${given}); expected one of:\n${sigs}`);
}

// When no overload matched: a misspelt option, dtype, device or memory format is named as such
// rather than listed among the overloads.
function diagnoseOptions(name: string, overloads: OpOverload[], method: boolean, kw: Record<string, unknown>): void {
  const fn = `${name}()`;
  const known = new Set<string>();
  for (const ov of overloads) {
    if (method ? !ov.m : !ov.f) continue;
    for (const a of ov.a) {
      if (a[1] === 'TO') ['dtype', 'device', 'requiresGrad'].forEach((k) => known.add(k));
      else if (!(method && a[0] === 'self')) known.add(a[0]);
    }
  }
  for (const k of Object.keys(kw)) {
    if (kw[k] !== undefined && !known.has(k)) {
      throw new TypeError(`${fn}: unknown option '${k}'${didYouMean(k, [...known])}; expected one of ${[...known].join(', ')}`);
    }
  }
  if (kw.dtype !== undefined && !isDtype(kw.dtype)) checkDtype(fn, kw.dtype);
  if (kw.device !== undefined && !isDevice(kw.device)) checkDevice(fn, kw.device);
  const mf = kw.memoryFormat;
  if (mf !== undefined && mf !== null && !(typeof mf === 'string' && Object.prototype.hasOwnProperty.call(MEMORY_FORMAT_CODES, mf))) {
    throw new TypeError(`${fn}: unknown memoryFormat ${show(mf)}; expected one of ${Object.keys(MEMORY_FORMAT_CODES).join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Fast paths. For each op name a small function is compiled once from the table: it tries each
// overload with positional arguments only (the common case), with the type checks and handle
// conversions inlined, and falls back to callOp (keyword arguments, varargs, errors).
const INLINE_CHECK: Record<string, [string, string]> = {
  T: ['v instanceof TC', 'v._handle'],
  Tm: ['v instanceof TC', 'v._handle'],
  'T?': ['v === null || v instanceof TC', 'v === null ? null : v._handle'],
  I: ['Number.isSafeInteger(v)', 'v'], // larger integers take the slow path's int64 range check
  F: ["typeof v === 'number'", 'v'],
  B: ["typeof v === 'boolean'", 'v'],
  S: ["typeof v === 'number' || typeof v === 'boolean'", 'v'],
};

export function compileOp(name: string, overloads: OpOverload[], method: boolean): (self: unknown, args: unknown[]) => unknown {
  const lines: string[] = [];
  overloads.forEach((ov, k) => {
    if (method ? !ov.m : !ov.f) return;
    if (ov.r.length !== 1 || ov.a.some((a) => a[1] === 'TO')) return;
    const params = ov.a.map((a, j) => ({ a, j })).filter(({ a }) => !(method && a[0] === 'self'));
    const positional = params.filter(({ a }) => !(a[2] & 2));
    const required = positional.filter(({ a }) => !(a[2] & 1)).length;
    if (params.some(({ a }) => a[2] & 2 && !(a[2] & 1))) return; // a required keyword-only argument
    for (let n = required; n <= positional.length; n++) {
      const conds: string[] = [];
      const callArgs: string[] = new Array(ov.a.length).fill('undefined');
      if (method) callArgs[ov.a.findIndex((a) => a[0] === 'self')] = 'self._handle';
      let ok = true;
      for (let p = 0; p < n; p++) {
        const { a, j } = positional[p];
        const inl = INLINE_CHECK[a[1]];
        const v = `args[${p}]`;
        if (inl) {
          conds.push('(' + inl[0].replace(/\bv\b/g, v) + ')');
          callArgs[j] = '(' + inl[1].replace(/\bv\b/g, v) + ')';
        } else {
          conds.push(`(c${p} = cv(${JSON.stringify(a[1])}, ${v})) !== NO`);
          callArgs[j] = `c${p}`;
        }
      }
      // a positional argument after the given ones may still be required only if it has no default
      for (let p = n; p < positional.length; p++) if (!(positional[p].a[2] & 1)) ok = false;
      if (!ok) continue;
      const r = ov.r[0];
      let ret: string;
      if (r === 'T') ret = `{ const id = f${k}(${callArgs.join(', ')}); return id === null ? null : new TC(id); }`;
      else if (r.startsWith('SELF:') && method && ov.a[Number(r.slice(5))][0] === 'self') ret = `{ f${k}(${callArgs.join(', ')}); return self; }`;
      else ret = `return wr(ovs[${k}], f${k}(${callArgs.join(', ')}), self, args, n);`;
      lines.push(`if (n === ${n}${conds.length ? ' && ' + conds.join(' && ') : ''}) ${ret}`);
    }
  });
  const fnDecls = overloads.map((ov, k) => `const f${k} = ops[${ov.i}];`).join('\n');
  const body = `${fnDecls}
return function op_${name.replace(/[^A-Za-z0-9_$]/g, '_')}(self, args) {
  const n = args.length;
  if (n === 0 || !isOpt(args[n - 1])) {
    let ${Array.from({ length: 12 }, (_, p) => `c${p}`).join(', ')};
    ${lines.join('\n    ')}
  }
  return slow(name, ovs, ${method ? 'self' : 'undefined'}, args);
};`;
  const factory = new Function('TC', 'ops', 'cv', 'NO', 'wr', 'isOpt', 'slow', 'ovs', 'name', body);
  const wrapOne = (ov: OpOverload, v: unknown, self: unknown, args: unknown[], n: number) => wrapReturn(ov.r[0], v, ov, self, args, n);
  return factory(TensorCtor, native.ops, convert, NO, wrapOne, isOptions, callOp, overloads, name);
}
