// Deterministic memory (architecture decision 3): dispose() frees at once; scope(fn) frees what
// was created inside and is neither returned nor kept; the garbage collector is only the backstop.
// The backstop lives in the addon (Backstop in native/src/addon.cc): it holds a weak reference to
// each tensor left to it, reports the tensor's memory to V8, and frees the handle once a collection
// has cleared the reference, without waiting for the event loop (a FinalizationRegistry would).
import { native } from './native';

export interface Owned {
  _id: number;
  _kept: boolean;
  _reg: boolean;
}
// Tensors inside a scope get the GC backstop only if they outlive every scope (registration
// costs about as much as a small op).
function backstopFor(t: Owned): void {
  if (t._id !== 0 && !t._reg) {
    t._reg = true;
    native.Backstop(t._id, t);
    if (!jobEndQueued) {
      jobEndQueued = true;
      queueMicrotask(endOfJob);
    }
  }
}
// The addon sweeps tensors dropped in earlier jobs only between jobs (BackstopEpoch).
let jobEndQueued = false;
function endOfJob(): void {
  jobEndQueued = false;
  native.BackstopEpoch();
}

const scopes: Owned[][] = [];

export function track(t: Owned): void {
  if (scopes.length) scopes[scopes.length - 1].push(t);
  else backstopFor(t);
}

export function release(t: Owned): void {
  if (t._id === 0) return;
  native.Free(t._id);
  t._id = 0;
}

/** Marks a tensor so that no enclosing scope frees it (TF.js `keep`). */
export function keep<T extends Owned>(t: T): T {
  t._kept = true;
  backstopFor(t);
  return t;
}

function isOwned(value: object): value is Owned {
  return '_id' in value && '_reg' in value;
}

// Every tensor reachable from a scope's result: through arrays, Maps (keys and values), Sets and the
// own enumerable data properties of any object, class instances included, at any depth, each object
// once. Getters are not called; closures and private (#) fields cannot be seen (keep() those tensors).
function collect(value: unknown, into: Set<Owned>): void {
  if (value === null || typeof value !== 'object') return;
  const seen = new Set<object>();
  const stack: object[] = [value];
  const push = (v: unknown) => {
    if (v !== null && typeof v === 'object' && !seen.has(v)) stack.push(v);
  };
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    if (isOwned(v)) {
      into.add(v);
    } else if (Array.isArray(v)) {
      for (const e of v) push(e);
    } else if (v instanceof Map) {
      for (const [k, e] of v) {
        push(k);
        push(e);
      }
    } else if (v instanceof Set) {
      for (const e of v) push(e);
    } else if (!ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer)) {
      for (const k of Object.keys(v)) {
        const d = Object.getOwnPropertyDescriptor(v, k);
        if (d && 'value' in d) push(d.value);
      }
    }
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

const LAZY_FUNCTIONS: Record<string, string> = {
  AsyncFunction: 'an async function',
  GeneratorFunction: 'a generator function',
  AsyncGeneratorFunction: 'an async generator function',
};
const SYNC_ONLY = 'a scope frees its tensors when fn returns, so code after an `await` (or a lazy generator) would use freed tensors. ' +
  'Scope each synchronous step instead: `for (...) { const loss = scope(() => step(batch)); await ... }`';

/**
 * Runs `fn`, then frees every tensor created inside that is not returned (or nested in what is
 * returned: arrays, Maps, Sets, objects and class instances, at any depth) or kept. `fn` must be
 * synchronous: an async or generator function is refused before it runs; a function that returns a
 * promise anyway gets a TypeError, and the promise's own later failure is absorbed so that the caller
 * sees that one error.
 */
export function scope<R>(fn: () => R): R {
  if (typeof fn !== 'function') throw new TypeError(`scope(fn): fn must be a function, got ${fn === null ? 'null' : typeof fn}`);
  const lazy = LAZY_FUNCTIONS[(fn as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] ?? ''];
  if (lazy) throw new TypeError(`scope(fn): fn is ${lazy}; ${SYNC_ONLY}`);
  const s = new Scope();
  let result: R | undefined;
  try {
    result = fn();
    if (isThenable(result)) {
      const pending = result;
      result = undefined;
      // The rest of fn runs after this scope has freed its tensors and fails there: absorb that.
      try {
        pending.then(undefined, () => undefined);
      } catch {
        // a thenable whose then() throws has nothing to absorb
      }
      throw new TypeError(`scope(fn): fn returned a Promise; ${SYNC_ONLY}`);
    }
    return result;
  } finally {
    s.close(result);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

export interface MemoryStats {
  /** Live tensors of this thread (each worker thread has its own). */
  liveTensors: number;
  /** Their bytes (elements x element size; views count in full). */
  liveBytes: number;
  /** The high-water mark of liveBytes since the last resetPeakMemory(). */
  peakBytes: number;
  /** How many of the live tensors are left to the GC backstop (outside every scope, not disposed). */
  backstopTensors: number;
  /** Live tensors and bytes of all threads together. */
  processLiveTensors: number;
  processLiveBytes: number;
}

/** Tensor counts and bytes; first frees what the last garbage collection found unreachable. */
export function memory(): MemoryStats {
  return native.Memory();
}
export function resetPeakMemory(): void {
  native.Memory(true);
}
