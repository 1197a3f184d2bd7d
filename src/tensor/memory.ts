// Deterministic memory (architecture decision 3): dispose() frees at once; scope(fn) frees what
// was created inside and is neither returned nor kept; a FinalizationRegistry is only the backstop.
import { native } from './native';

export interface Owned {
  _id: number;
  _kept: boolean;
  _reg: boolean;
}
// Tensors inside a scope get the GC backstop only if they outlive every scope (registration
// costs more than the op itself for tiny tensors).
function backstopFor(t: Owned): void {
  if (t._id !== 0 && !t._reg) {
    t._reg = true;
    backstop.register(t, t._id, t);
    native.Backstop(t._id);
  }
}

const backstop = new FinalizationRegistry<number>((id) => native.Free(id));
const scopes: Owned[][] = [];

export function track(t: Owned): void {
  if (scopes.length) scopes[scopes.length - 1].push(t);
  else backstopFor(t);
}

export function release(t: Owned): void {
  if (t._id === 0) return;
  native.Free(t._id);
  if (t._reg) backstop.unregister(t);
  t._id = 0;
}

/** Marks a tensor so that no enclosing scope frees it (TF.js `keep`). */
export function keep<T extends Owned>(t: T): T {
  t._kept = true;
  backstopFor(t);
  return t;
}

function collect(value: unknown, into: Set<Owned>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if ('_id' in value && '_reg' in value) {
    into.add(value as Owned);
  } else if (Array.isArray(value)) {
    for (const v of value) collect(v, into, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, into, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, into, depth + 1);
  }
}

/** A scope that can also be closed with `using`: `using s = new Scope();`. */
export class Scope {
  private readonly items: Owned[] = [];
  private closed = false;
  constructor() {
    scopes.push(this.items);
  }
  /** Ends the scope, freeing what it tracked except `survivors`, which move to the enclosing scope. */
  close(survivors?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    const i = scopes.lastIndexOf(this.items);
    if (i >= 0) scopes.splice(i, 1);
    const keepers = new Set<Owned>();
    collect(survivors, keepers);
    const parent = scopes.length ? scopes[scopes.length - 1] : null;
    for (const t of this.items) {
      if (t._id === 0) continue;
      if (t._kept) continue;
      if (keepers.has(t)) {
        if (parent) parent.push(t);
        else backstopFor(t);
      } else {
        release(t);
      }
    }
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Runs `fn`, then frees every tensor created inside that is not returned (or nested in what is returned) or kept. */
export function scope<R>(fn: () => R): R {
  const s = new Scope();
  let result: R | undefined;
  try {
    result = fn();
    if (result instanceof Promise) throw new TypeError('scope(fn): fn must be synchronous (it returned a Promise)');
    return result;
  } finally {
    s.close(result);
  }
}

export function memory(): { liveTensors: number; liveBytes: number; peakBytes: number } {
  return native.Memory();
}
export function resetPeakMemory(): void {
  native.Memory(true);
}
