// Checks for what a user spells: option objects (unknown keys get a "did you mean"), dtype and
// device names. Every error names the function, the option and the value, and says what is expected.
import { DTYPE_CODES, DType, Device } from '../types';
import { Generator, Tensor } from './tensor';

export const DTYPES = Object.keys(DTYPE_CODES) as DType[];
export const DEVICE_RE = /^(cpu|cuda|mps|meta)(:\d+)?$/;
const DEVICES = "'cpu', 'cuda' or 'cuda:N' (also 'mps', 'meta')";

export const isDtype = (v: unknown): v is DType => typeof v === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_CODES, v);
export const isDevice = (v: unknown): v is Device => typeof v === 'string' && DEVICE_RE.test(v);

/** How a value is shown in an error message. */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Tensor) return v.isDisposed ? 'a disposed Tensor' : `a ${v.dtype} Tensor of shape [${v.shape.join(', ')}]`;
  if (Array.isArray(v)) return v.length > 8 ? `an array of length ${v.length}` : `[${v.map(show).join(', ')}]`;
  if (typeof v === 'function') return 'a function';
  if (v !== null && typeof v === 'object') return Object.getPrototypeOf(v) === Object.prototype ? `{ ${Object.keys(v).join(', ')} }` : `a ${v.constructor?.name ?? 'object'}`;
  return String(v);
}

function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/**
 * "; did you mean 'x'?" for the closest candidate within a third of the name's length, or one that
 * shares a long prefix with it ('reduce' for 'reduction'); else "".
 */
export function didYouMean(name: string, candidates: readonly string[]): string {
  let best = '', bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  if (bestD <= Math.max(1, Math.floor(name.length / 3))) return `; did you mean '${best}'?`;
  const lower = name.toLowerCase();
  const shared = (c: string) => {
    let k = 0;
    while (k < c.length && c[k].toLowerCase() === lower[k]) k++;
    return k;
  };
  const prefixed = candidates.find((c) => shared(c) >= Math.max(4, Math.ceil(name.length / 2)));
  return prefixed ? `; did you mean '${prefixed}'?` : '';
}

/** The dtype named by `v`; a TypeError naming `fn` and the accepted names otherwise. */
export function checkDtype(fn: string, v: unknown, what = 'dtype'): DType {
  if (isDtype(v)) return v;
  const hint = typeof v === 'string' ? didYouMean(v, DTYPES) : '';
  throw new TypeError(`${fn}: unknown ${what} ${show(v)}${hint}; expected one of ${DTYPES.join(', ')}`);
}

/** The device named by `v`; a TypeError naming `fn` and the accepted forms otherwise. */
export function checkDevice(fn: string, v: unknown, what = 'device'): Device {
  if (isDevice(v)) return v;
  throw new TypeError(`${fn}: unknown ${what} ${show(v)}; expected ${DEVICES}`);
}

/**
 * What an option may hold: a primitive kind, 'tensor' (a Tensor or null), 'ints' (an int or int
 * list; 'ints?' also null), 'nums' (a number or number list), 'any', or the list of accepted strings.
 */
export type OptionKind = 'number' | 'int' | 'boolean' | 'string' | 'tensor' | 'ints' | 'ints?' | 'nums' | 'generator' | 'dtype' | 'device' | 'any' | readonly string[];

const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
const KIND_TEST: Record<string, [(v: unknown) => boolean, string]> = {
  number: [(v) => typeof v === 'number', 'a number'],
  int: [isInt, 'an integer'],
  boolean: [(v) => typeof v === 'boolean', 'a boolean'],
  string: [(v) => typeof v === 'string', 'a string'],
  tensor: [(v) => v === null || v instanceof Tensor, 'a Tensor or null'],
  ints: [(v) => isInt(v) || (Array.isArray(v) && v.every(isInt)), 'an integer or a list of integers'],
  'ints?': [(v) => v === null || isInt(v) || (Array.isArray(v) && v.every(isInt)), 'an integer, a list of integers or null'],
  nums: [(v) => typeof v === 'number' || (Array.isArray(v) && v.every((x) => typeof x === 'number')), 'a number or a list of numbers'],
  generator: [(v) => v instanceof Generator, 'a Generator'],
  dtype: [isDtype, `a dtype (${DTYPES.join(', ')})`],
  device: [isDevice, `a device (${DEVICES})`],
  any: [() => true, ''],
};

/**
 * Checks an options object against its specification: it must be a plain object (or undefined),
 * with known keys only and values of the declared kinds (undefined counts as absent).
 * `fn` names the function in errors, e.g. "F.dropout".
 */
export function checkOptions<O extends object>(fn: string, o: O | undefined, spec: Record<string, OptionKind>): O {
  if (o === undefined) return {} as O;
  if (o === null || typeof o !== 'object' || Array.isArray(o) || o instanceof Tensor) {
    const hint = o instanceof Tensor || typeof o === 'number' || typeof o === 'boolean' ? " (PyTorch's keyword arguments, and positional ones after the inputs, go in this object)" : '';
    throw new TypeError(`${fn}: expected an options object { ${Object.keys(spec).join(', ')} }, got ${show(o)}${hint}`);
  }
  const keys = Object.keys(spec);
  for (const [k, v] of Object.entries(o)) {
    if (!Object.prototype.hasOwnProperty.call(spec, k)) {
      throw new TypeError(`${fn}: unknown option '${k}'${didYouMean(k, keys)}; expected one of ${keys.join(', ')}`);
    }
    if (v === undefined) continue;
    const kind = spec[k];
    if (typeof kind !== 'string') {
      if (!kind.includes(v as string)) throw new TypeError(`${fn}: option ${k} must be one of ${kind.map(show).join(', ')}, got ${show(v)}`);
      continue;
    }
    if (kind === 'dtype') checkDtype(fn, v);
    if (kind === 'device') checkDevice(fn, v);
    const [test, desc] = KIND_TEST[kind];
    if (!test(v)) throw new TypeError(`${fn}: option ${k} must be ${desc}, got ${show(v)}`);
  }
  return o;
}

/** A number within [lo, hi] (inclusive unless `open` says which end is open), else a RangeError. */
export function checkRange(fn: string, name: string, v: number, lo: number, hi: number, open: '' | 'lo' | 'hi' = ''): number {
  const ok = (open === 'lo' ? v > lo : v >= lo) && (open === 'hi' ? v < hi : v <= hi);
  if (!ok) throw new RangeError(`${fn}: ${name} must be in ${open === 'lo' ? '(' : '['}${lo}, ${hi}${open === 'hi' ? ')' : ']'}, got ${v}`);
  return v;
}
