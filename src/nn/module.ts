// Modules: a layer is a small class whose public fields are its tensors, sub-layers and
// hyperparameters; calling it runs `forward`. Structure is derived by walking fields
// (tinygrad's state dicts, equinox's modules): nothing is registered.
import { DType, Device, Tensor, checkShape, isLaidOut, noGrad, scope } from '../tensor';
import { native } from '../tensor/native';
import { Expr, Parameter, Tag } from './param';

export interface Module {
  /** Calling a module runs its forward. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (...args: any[]): any;
}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export abstract class Module {
  /** Train mode (dropout active, batch-norm statistics updated) or eval mode. */
  declare training: boolean;

  constructor() {
    // A module is a function object whose prototype is the layer class, so `layer(x)` works.
    const self = function (...args: unknown[]): unknown {
      return (self as unknown as Module).forward(...args);
    };
    delete (self as { name?: string }).name;
    delete (self as { length?: number }).length;
    Object.setPrototypeOf(self, new.target.prototype);
    // set here, not as a field initializer: that would land on the `this` this constructor discards
    (self as unknown as Module).training = true;
    return self as unknown as Module;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  abstract forward(...args: any[]): any;

  /** Sets train mode on this module and every sub-module. */
  train(mode = true): this {
    for (const m of modules(this)) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /**
   * Moves every tensor of the module (parameters, buffers, an expression's inputs) to a device
   * and/or a floating-point dtype, in place, as PyTorch's `Module.to`: each tensor keeps its
   * identity (optimizers, EMAs and expressions that hold it follow), its gradient moves with it;
   * a dtype applies to floating-point tensors only. Move the optimizer's state with `optimizer.to`.
   * `{ memoryFormat: 'channelsLast' }` re-lays every 4-d floating-point tensor out as NHWC (and
   * `'contiguous'` back), as PyTorch's `model.to(memory_format=...)`: convolutions then run, and
   * return their outputs, in that layout.
   */
  to(target: Device | DType | { device?: Device; dtype?: DType; memoryFormat?: 'contiguous' | 'channelsLast' }): this {
    const o = typeof target === 'object' ? target : isDtypeName(target) ? { dtype: target as DType } : { device: target as Device };
    noGrad(() => scope(() => {
      for (const [, t] of namedTensors(this)) moveInPlace(t, o);
    }));
    return this;
  }
}

const DTYPE_NAMES = new Set(['float16', 'bfloat16', 'float32', 'float64', 'complex64', 'complex128', 'uint8', 'int8', 'int16', 'int32', 'int64', 'bool']);
function isDtypeName(s: string): boolean {
  return DTYPE_NAMES.has(s);
}

/** Gives `t` its data moved to `o.device` / cast to `o.dtype` (floating point only), keeping its identity and moving its grad. */
export function moveInPlace(t: Tensor, o: { device?: Device; dtype?: DType; memoryFormat?: 'contiguous' | 'channelsLast' }): void {
  const floating = t.dtype === 'float16' || t.dtype === 'bfloat16' || t.dtype === 'float32' || t.dtype === 'float64';
  const dtype = o.dtype !== undefined && floating ? o.dtype : t.dtype;
  const device = o.device ?? t.device;
  const mf = o.memoryFormat !== undefined && floating && t.ndim === 4 ? o.memoryFormat : undefined;
  if (o.memoryFormat !== undefined && o.memoryFormat !== 'contiguous' && o.memoryFormat !== 'channelsLast') {
    throw new TypeError(`Module.to: memoryFormat must be 'contiguous' or 'channelsLast', got ${JSON.stringify(o.memoryFormat)}`);
  }
  const relayout = mf !== undefined && !isLaidOut(t, mf, true);
  if (dtype === t.dtype && device === t.device && !relayout) return;
  const g = t.grad;
  const moved = t.detach().to({ dtype, device, ...(mf ? { memoryFormat: mf, copy: relayout } : {}) });
  native.SetData(t._handle, moved._handle);
  if (g) t.grad = g.to({ dtype, device, ...(mf ? { memoryFormat: mf } : {}) });
}

const SKIP_FIELDS = new Set(['training']);

type Visit = (path: string, value: unknown) => void;

/** Walks the fields of a module in declaration order: sub-modules, arrays of them, tensors, exprs. */
function walk(obj: object, prefix: string, visit: Visit, seen: Set<object>): void {
  if (seen.has(obj)) return;
  seen.add(obj);
  const entries = obj instanceof Map ? [...obj.entries()] : Object.entries(obj);
  for (const [key, v] of entries) {
    if (SKIP_FIELDS.has(String(key)) || v === null || v === undefined) continue;
    const path = prefix ? `${prefix}.${String(key)}` : String(key);
    if (v instanceof Tensor || v instanceof Expr) visit(path, v);
    else if (v instanceof Module) {
      visit(path, v);
      walk(v, path, visit, seen);
    } else if (Array.isArray(v) || v instanceof Map) {
      if ((Array.isArray(v) ? v : [...v.values()]).some((e) => e instanceof Module || e instanceof Tensor || e instanceof Expr)) walk(v, path, visit, seen);
    }
  }
}

/** The module and all its sub-modules (each once). */
export function modules(root: Module): Module[] {
  const out: Module[] = [root];
  walk(root, '', (_, v) => { if (v instanceof Module && !out.includes(v)) out.push(v); }, new Set());
  return out;
}

/** Every tensor of a module by dotted name, including an Expr's free inputs (`W.0`); shared ones once. */
export function namedTensors(root: Module): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  const seen = new Set<Tensor>();
  const add = (path: string, t: Tensor) => {
    if (!seen.has(t)) {
      seen.add(t);
      out.push([path, t]);
    }
  };
  const visitExpr = (path: string, e: Expr) => e.inputs.forEach((i, k) => {
    if (i instanceof Expr) visitExpr(`${path}.${k}`, i);
    else add(`${path}.${k}`, i);
  });
  walk(root, '', (path, v) => {
    if (v instanceof Tensor) add(path, v);
    else if (v instanceof Expr) visitExpr(path, v);
  }, new Set());
  // an expression input already saved under its own module's name keeps that name
  return out;
}

export interface ParamFilter {
  trainable?: boolean;
  regularizable?: boolean;
  [tag: string]: boolean | undefined;
}

/**
 * The learnable leaves of a module (Lasagne's `get_params`): Parameters in its fields and in the
 * expressions it uses, deduplicated, filtered by tags (`{ regularizable: true }`, `{ trainable: false }`).
 */
export function params(root: Module, filter: ParamFilter = {}): Parameter[] {
  const out: Parameter[] = [];
  for (const [, t] of namedTensors(root)) {
    if (!(t instanceof Parameter)) continue;
    let ok = true;
    for (const [tag, want] of Object.entries(filter)) {
      if (want === undefined) continue;
      if (t.tags.has(tag as Tag) !== want) ok = false;
    }
    if (ok) out.push(t);
  }
  return out;
}

/** Parameters with their dotted names. */
export function namedParams(root: Module, filter: ParamFilter = {}): [string, Parameter][] {
  const keep = new Set(params(root, filter));
  return namedTensors(root).filter(([, t]) => keep.has(t as Parameter)) as [string, Parameter][];
}

/** Number of learnable scalars (each shared tensor counted once). */
export function numParams(root: Module, filter: ParamFilter = {}): number {
  return params(root, filter).reduce((n, p) => n + p.numel(), 0);
}

/** PyTorch-style state dict: dotted name -> tensor (the module's own tensors, not copies). */
export function stateDict(root: Module): Record<string, Tensor> {
  const out: Record<string, Tensor> = Object.create(null);
  for (const [k, t] of namedTensors(root)) out[k] = t;
  return out;
}

/**
 * The message of a strict state-dict load that does not fit: the missing and unexpected names, at
 * most `max` of each (a state dict of another model would list hundreds), and a hint when not one
 * name matches.
 */
export function mismatchMessage(fn: string, missing: string[], unexpected: string[], matched: number, max = 12): string {
  const list = (names: string[]) => `[${names.slice(0, max).join(', ')}${names.length > max ? `, ... ${names.length - max} more (${names.length} in all)` : ''}]`;
  const hint = matched === 0 && missing.length > 0 && unexpected.length > 0 ? '; not one name matches: is it the state of another kind of model?' : '';
  return `${fn}: missing ${list(missing)}, unexpected ${list(unexpected)}${hint}`;
}

/** Copies values into the module's tensors in place; shapes must match. Returns what was missing or unexpected. */
export function loadStateDict(root: Module, state: Record<string, Tensor>, opts: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
  const own = namedTensors(root);
  const names = new Set(own.map(([k]) => k));
  const missing = own.filter(([k]) => !(k in state)).map(([k]) => k);
  const unexpected = Object.keys(state).filter((k) => !names.has(k));
  if ((opts.strict ?? true) && (missing.length || unexpected.length)) {
    throw new Error(mismatchMessage('loadStateDict', missing, unexpected, own.length - missing.length));
  }
  noGrad(() => {
    for (const [k, t] of own) {
      const src = state[k];
      if (!src) continue;
      checkShape('loadStateDict', k, src, t, "the module's tensor");
      t.copy_(src);
    }
  });
  return { missing, unexpected };
}
