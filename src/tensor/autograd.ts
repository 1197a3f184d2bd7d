// Autograd entry points beyond Tensor.backward(): grad mode, torch.autograd.grad and custom
// functions whose forward and backward are TypeScript.
import { native } from './native';
import { keep, scope } from './memory';
import { Tensor } from './tensor';
import { checkOptions, show } from './options';

function withGradMode<R>(enabled: boolean, fn: () => R): R {
  const prev = native.SetGradEnabled(enabled);
  try {
    return fn();
  } finally {
    native.SetGradEnabled(prev);
  }
}
/** Runs fn with gradient recording off (`torch.no_grad()`). */
export function noGrad<R>(fn: () => R): R {
  return withGradMode(false, fn);
}
/** Runs fn with gradient recording on (`torch.enable_grad()`). */
export function enableGrad<R>(fn: () => R): R {
  return withGradMode(true, fn);
}
export function isGradEnabled(): boolean {
  const prev = native.SetGradEnabled();
  return prev;
}

// Whether each backward pass now running keeps its graph (retainGraph, which defaults to
// createGraph): a custom function frees its saved tensors after its backward when it does not.
const retaining: boolean[] = [];
/** Runs a native backward pass, noting whether it retains the graph (for custom functions). */
export function backwardPass<R>(retainGraph: boolean, fn: () => R): R {
  retaining.push(retainGraph);
  try {
    return fn();
  } finally {
    retaining.pop();
  }
}

export interface GradOptions {
  gradOutputs?: (Tensor | null)[];
  retainGraph?: boolean;
  createGraph?: boolean;
  allowUnused?: boolean;
}

/** `torch.autograd.grad`: gradients of outputs w.r.t. inputs (null where unused and allowUnused). */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], opts: GradOptions = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  for (const [name, list] of [['outputs', outs], ['inputs', ins]] as const) {
    const bad = list.findIndex((t) => !(t instanceof Tensor));
    if (bad >= 0) throw new TypeError(`grad(): ${name}[${bad}] must be a Tensor, got ${show(list[bad])}`);
  }
  opts = checkOptions('grad()', opts, { gradOutputs: 'any', retainGraph: 'boolean', createGraph: 'boolean', allowUnused: 'boolean' });
  const ids = backwardPass(opts.retainGraph ?? opts.createGraph ?? false, () => native.AutogradGrad(outs.map((t) => t._handle), ins.map((t) => t._handle),
    opts.gradOutputs ? opts.gradOutputs.map((g) => (g ? g._handle : null)) : null,
    opts.retainGraph ?? null, opts.createGraph ?? false, opts.allowUnused ?? false));
  return ids.map((id) => (id === null ? null : new Tensor(id)));
}

/** What a custom function's forward may stash for its backward. */
export interface FunctionContext {
  saved: Tensor[];
  saveForBackward(...tensors: Tensor[]): void;
  [key: string]: unknown;
}

export interface CustomFunction<I extends Tensor[]> {
  name?: string;
  /** Runs without gradient recording; returns the output tensors. */
  forward(ctx: FunctionContext, ...inputs: I): Tensor | Tensor[];
  /** Receives one gradient per output (null where none flowed); returns one gradient per input (or null). */
  backward(ctx: FunctionContext, ...grads: (Tensor | null)[]): (Tensor | null) | (Tensor | null)[];
}

/**
 * Applies a custom autograd function (`torch.autograd.Function.apply`): forward and backward are
 * TypeScript callbacks; libtorch's engine calls backward when gradients flow through the outputs.
 */
export function applyFunction<I extends Tensor[]>(fn: CustomFunction<I>, ...inputs: I): Tensor[] {
  const saved: Tensor[] = [];
  const ctx: FunctionContext = {
    saved,
    saveForBackward(...ts: Tensor[]) {
      // An input keeps its autograd identity (a second handle), so that a backward run with
      // createGraph can be differentiated again; anything else is saved detached.
      for (const t of ts) saved.push(keep((inputs as Tensor[]).includes(t) ? new Tensor(native.Share(t._handle)) : t.detach()));
    },
  };
  // Saved tensors are freed as soon as no backward can use them: at once when no graph node is
  // made, after the backward of a pass that does not retain the graph, else by the GC backstop.
  const freeSaved = () => {
    for (const t of saved) t.dispose();
  };
  let out: Tensor | Tensor[];
  try {
    out = noGrad(() => fn.forward(ctx, ...inputs));
  } catch (e) {
    freeSaved();
    throw e;
  }
  // An input returned as an output gets its own handle: the output's slot is rewired to the new node.
  const outs = (Array.isArray(out) ? out : [out]).map((o) => (inputs.includes(o as never) ? noGrad(() => o.alias()) : o));
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) freeSaved();
  let released = false;
  const trampoline = (gradIds: (number | null)[]): (number | null)[] => {
    // Returned handles are shared (a second handle) and handed to native code, which frees them.
    const label = fn.name ?? 'CustomFunction';
    if (released && saved.length) {
      for (const id of gradIds) if (id !== null) native.Free(id);
      throw new Error(`${label}: trying to backward through the graph a second time (its saved tensors were freed); pass retainGraph: true to the first backward`);
    }
    try {
      return scope(() => {
        const grads = gradIds.map((id) => (id === null ? null : new Tensor(id)));
        const r = fn.backward(ctx, ...grads);
        const rs = Array.isArray(r) ? r : [r];
        if (rs.length !== inputs.length) throw new Error(`${label}.backward returned ${rs.length} gradients for ${inputs.length} inputs`);
        return rs.map((g) => (g ? native.Share(g._handle) : null));
      });
    } finally {
      if (retaining.length && !retaining[retaining.length - 1]) {
        released = true;
        freeSaved();
      }
    }
  };
  native.CustomFunction(fn.name ?? 'CustomFunctionBackward', trampoline, inputs.map((t) => t._handle), outs.map((t) => t._handle));
  return outs;
}
