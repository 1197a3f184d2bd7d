// The one checkpoint format: a single safetensors file (architecture decision 7) holding a named
// set of stateful objects, each object's state dict under its name:
//   model.<dotted name>   the model's tensors (its state dict)
//   optim.<key>           the optimizer's state dict
//   <name>.<key>          any further object (`objects`: an EMA, a second model, a data sampler)
//   rng.<name>            generator states (uint8), always including rng.default
//   extra.<name>          any further tensors the caller saves
// and, in __metadata__ (strings), format "pt", the objects' names and kinds (`objects`, JSON), the
// data position and counters (step, epoch, batch_in_epoch, optim_step_count), the run config as
// JSON and JSON bookkeeping (extra). Python's safetensors and torch read it as it is. Files are
// written atomically (temp file, fsync, rename).
//
// `loadCheckpoint(file, kind)` reads a file once and restores what the caller asks for, nothing
// else: loading a model for inference leaves every generator, the global one included, alone. It
// also reads a plain PyTorch state dict (a file without Refinery's metadata, e.g. saved from the
// torch.nn twin of a model): `restore({ model })` then maps PyTorch's names (src/nn/pytorch.ts).
import * as fs from 'fs';
import * as path from 'path';
import { Generator, Tensor, loadFile, saveFile, scope, writeFileAtomic } from '../tensor';
import { Module, loadStateDict, stateDict } from '../nn/module';
import { loadPytorchStateDict, pytorchStateDict } from '../nn/pytorch';
import type { Parameter } from '../nn/param';
import { processAlive } from './lock';

/** Anything with state a checkpoint can hold: optimizers, an EMA, a sampler's position. */
export interface Stateful {
  /** Its state by name; saving copies the values, so it may return its own tensors. */
  stateDict(): Record<string, Tensor>;
  /** Copies `state` into the object; the caller keeps ownership of the tensors. */
  loadStateDict(state: Record<string, Tensor>): void;
}

/** What a checkpoint holds by name: a Module (its tensors) or any Stateful object. */
export type CheckpointObject = Module | Stateful;

/** What the training code needs from an optimizer (src/optim's optimizers have this shape). */
export interface OptimizerLike extends Stateful {
  step(): void;
  zeroGrad(): void;
  stepCount: number;
  lr(): number;
  params: Parameter[];
}

export interface CheckpointState {
  model: Module;
  optimizer?: OptimizerLike;
  /** Further stateful objects by name (an EMA: `{ ema }`), saved as `<name>.<key>`. */
  objects?: Record<string, CheckpointObject>;
  /** Optimizer steps taken. */
  step: number;
  epoch?: number;
  /** Batches of `epoch` already consumed. */
  batchInEpoch?: number;
  /**
   * Generator states by name: a Generator (its current state is saved) or a state tensor taken
   * earlier with `getState()`. The default generator is always saved as `default`.
   */
  generators?: Record<string, Generator | Tensor>;
  /** The run config (JSON-serializable). */
  config?: unknown;
  /** JSON-serializable bookkeeping. */
  extra?: Record<string, unknown>;
  /** Further tensors, saved as `extra.<name>`. */
  tensors?: Record<string, Tensor>;
}

const FORMAT_VERSION = '1';
// names with a fixed meaning; `objects` may not use them
const RESERVED = new Set(['model', 'optim', 'rng', 'extra']);

function checkName(kind: string, name: string): void {
  if (!name || name.includes('\0')) throw new TypeError(`saveCheckpoint: invalid ${kind} name ${JSON.stringify(name)}`);
}

function stateOf(o: CheckpointObject): Record<string, Tensor> {
  return o instanceof Module ? stateDict(o) : o.stateDict();
}

/** Writes one checkpoint file atomically: model, optimizer, further objects, counters, generator states, config. */
export function saveCheckpoint(file: string, s: CheckpointState): void {
  if (!Number.isSafeInteger(s.step) || s.step < 0) throw new RangeError(`saveCheckpoint: step must be a non-negative integer, got ${s.step}`);
  const objects: Record<string, CheckpointObject> = { model: s.model };
  if (s.optimizer) objects.optim = s.optimizer;
  for (const [name, o] of Object.entries(s.objects ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) || RESERVED.has(name)) {
      throw new TypeError(`saveCheckpoint: object name ${JSON.stringify(name)} must be a word without dots and not one of ${[...RESERVED].join(', ')}`);
    }
    if (!(o instanceof Module) && typeof (o as Stateful)?.stateDict !== 'function') throw new TypeError(`saveCheckpoint: object "${name}" is neither a Module nor has stateDict()`);
    objects[name] = o;
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  scope(() => {
    // scope(): frees the state tensors created here (generator states, an optimizer's fresh copies);
    // tensors that already existed (the model's, an optimizer's own) are left alone
    const tensors: Record<string, Tensor> = Object.create(null);
    const kinds: Record<string, string> = {};
    for (const [name, o] of Object.entries(objects)) {
      kinds[name] = o instanceof Module ? 'module' : name === 'optim' ? 'optimizer' : 'state';
      for (const [k, t] of Object.entries(stateOf(o))) tensors[`${name}.${k}`] = t;
    }
    const gens: Record<string, Generator | Tensor> = { default: Generator.default(), ...s.generators };
    for (const [name, g] of Object.entries(gens)) {
      checkName('generator', name);
      tensors[`rng.${name}`] = g instanceof Generator ? g.getState() : g;
    }
    for (const [name, t] of Object.entries(s.tensors ?? {})) {
      checkName('tensor', name);
      tensors[`extra.${name}`] = t;
    }
    const metadata: Record<string, string> = {
      format: 'pt', // what Hugging Face loaders expect of a PyTorch safetensors file
      refinery_checkpoint: FORMAT_VERSION,
      objects: JSON.stringify(kinds),
      step: String(s.step),
      epoch: String(s.epoch ?? 0),
      batch_in_epoch: String(s.batchInEpoch ?? 0),
      config: JSON.stringify(s.config ?? null),
      extra: JSON.stringify(s.extra ?? {}),
      saved_at: new Date().toISOString(),
    };
    if (s.optimizer) metadata.optim_step_count = String(s.optimizer.stepCount);
    saveFile(file, tensors, metadata);
  });
}

/** What `Checkpoint.restore` copies the saved state into; anything not named is left alone. */
export interface RestoreTargets {
  model?: Module;
  optimizer?: OptimizerLike;
  /** Further objects by the names they were saved under (`{ ema }`). */
  objects?: Record<string, CheckpointObject>;
  /** Generators to set to their saved states; pass `{ default: Generator.default() }` to restore the global one. */
  generators?: Record<string, Generator>;
  /** Require the model's tensor names to match exactly (default true). */
  strict?: boolean;
}

/**
 * A checkpoint file read once: the saved objects' state dicts, generator states, counters and
 * config. `restore()` copies them into live objects; `dispose()` frees the tensors.
 */
export class Checkpoint {
  readonly file: string;
  /** 'refinery' (written by saveCheckpoint) or 'pytorch' (a plain state dict with PyTorch's names). */
  readonly format: 'refinery' | 'pytorch';
  /** `config.kind` ("fashion-classifier", "diffusion", ...), when the file records one. */
  readonly kind: string | null;
  readonly step: number;
  readonly epoch: number;
  readonly batchInEpoch: number;
  /** The run config (a PyTorch file: its `config` metadata as JSON, if any). */
  readonly config: unknown;
  readonly extra: Record<string, unknown>;
  /** The raw __metadata__. */
  readonly metadata: Record<string, string>;
  /** State dicts by object name: "model", "optim" and any further objects ("ema"). */
  readonly objects: Record<string, Record<string, Tensor>>;
  /** Generator states by name (uint8). */
  readonly generators: Record<string, Tensor>;
  /** The `extra.<name>` tensors by name (see `takeTensors`). */
  readonly tensors: Record<string, Tensor>;
  private taken = false;

  constructor(file: string, tensors: Record<string, Tensor>, metadata: Record<string, string>) {
    this.file = file;
    this.metadata = metadata;
    this.objects = Object.create(null);
    this.generators = Object.create(null);
    this.tensors = Object.create(null);
    const json = (key: string, fallback: unknown): unknown => {
      if (metadata[key] === undefined) return fallback;
      try {
        return JSON.parse(metadata[key]);
      } catch {
        throw new Error(`loadCheckpoint: ${file}: metadata "${key}" is not valid JSON`);
      }
    };
    this.format = metadata.refinery_checkpoint === undefined ? 'pytorch' : 'refinery';
    this.config = json('config', null);
    this.kind = recordedKind(this.config, metadata);
    this.extra = this.format === 'refinery' ? (json('extra', {}) as Record<string, unknown>) : {};
    const count = (key: string): number => {
      const v = Number(metadata[key] ?? 0);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`loadCheckpoint: ${file}: metadata "${key}" must be a non-negative integer, got ${JSON.stringify(metadata[key])}`);
      return v;
    };
    this.step = count('step');
    this.epoch = count('epoch');
    this.batchInEpoch = count('batch_in_epoch');
    if (this.format === 'pytorch') {
      this.objects.model = Object.assign(Object.create(null), tensors);
      return;
    }
    for (const name of Object.keys(json('objects', {}) as object)) this.objects[name] = Object.create(null);
    for (const [k, t] of Object.entries(tensors)) {
      const dot = k.indexOf('.');
      const [prefix, rest] = dot < 0 ? [k, ''] : [k.slice(0, dot), k.slice(dot + 1)];
      if (prefix === 'rng') this.generators[rest] = t;
      else if (prefix === 'extra') this.tensors[rest] = t;
      else (this.objects[prefix] ??= Object.create(null))[rest] = t;
    }
  }

  /** Copies the saved state into the given objects (each must have been saved). */
  restore(t: RestoreTargets): void {
    const where = `loadCheckpoint: ${this.file}`;
    const saved = (name: string): Record<string, Tensor> => {
      const state = this.objects[name];
      if (!state) {
        const has = Object.keys(this.objects).join(', ') || 'none';
        throw new Error(`${where} holds no ${name === 'optim' ? 'optimizer' : `"${name}"`} state (it has: ${has})`);
      }
      return state;
    };
    if (t.model) {
      try {
        if (this.format === 'pytorch') loadPytorchStateDict(t.model, saved('model'), { strict: t.strict ?? true });
        else loadStateDict(t.model, saved('model'), { strict: t.strict ?? true });
      } catch (err) {
        throw new Error(`${where}: ${(err as Error).message}`);
      }
    }
    if (t.optimizer) {
      const state = saved('optim');
      try {
        t.optimizer.loadStateDict(state);
      } catch (err) {
        throw new Error(`${where}: optimizer: ${(err as Error).message}`);
      }
      if (this.metadata.optim_step_count !== undefined) t.optimizer.stepCount = Number(this.metadata.optim_step_count);
    }
    for (const [name, o] of Object.entries(t.objects ?? {})) {
      let state = this.objects[name];
      // runs saved before objects had names kept an EMA inside the optimizer's state, as "ema.<key>"
      if (!state && name === 'ema' && this.objects.optim && Object.keys(this.objects.optim).some((k) => k.startsWith('ema.'))) {
        state = Object.create(null);
        for (const [k, v] of Object.entries(this.objects.optim)) if (k.startsWith('ema.')) state[k.slice(4)] = v;
      }
      state ??= saved(name);
      try {
        if (o instanceof Module) loadStateDict(o, state, { strict: t.strict ?? true });
        else o.loadStateDict(state);
      } catch (err) {
        throw new Error(`${where}: "${name}": ${(err as Error).message}`);
      }
    }
    for (const [name, g] of Object.entries(t.generators ?? {})) {
      const state = this.generators[name];
      if (!state) throw new Error(`${where} holds no state for generator "${name}" (it has: ${Object.keys(this.generators).join(', ') || 'none'})`);
      g.setState(state);
    }
  }

  /** Hands the `extra.<name>` tensors to the caller, who then owns them (`dispose()` leaves them alone). */
  takeTensors(): Record<string, Tensor> {
    this.taken = true;
    return this.tensors;
  }

  /** Frees every tensor read from the file (except the extra tensors once taken). */
  dispose(): void {
    for (const state of Object.values(this.objects)) for (const x of Object.values(state)) x.dispose();
    for (const x of Object.values(this.generators)) x.dispose();
    if (!this.taken) for (const x of Object.values(this.tensors)) x.dispose();
  }
}

/** The kind a checkpoint records: its config's `kind`, else the metadata's `kind`; null when neither. */
export function recordedKind(config: unknown, metadata: Record<string, string>): string | null {
  const c = config as { kind?: unknown } | null;
  return typeof c?.kind === 'string' ? c.kind : typeof metadata.kind === 'string' ? metadata.kind : null;
}

/**
 * Reads a checkpoint file once. With `kind`, the file must be a checkpoint of that kind (its
 * config's `kind`; a PyTorch state dict that records no kind is accepted, and its tensors' names
 * and shapes are checked when it is restored). Touches no generator: call `restore()` for that.
 * The caller disposes the result.
 */
export function loadCheckpoint(file: string, kind?: string): Checkpoint {
  const { tensors, metadata } = loadFile(file);
  let ck: Checkpoint;
  try {
    ck = new Checkpoint(file, tensors, metadata);
  } catch (err) {
    for (const t of Object.values(tensors)) t.dispose();
    throw err;
  }
  if (kind !== undefined && ck.kind !== kind && !(ck.format === 'pytorch' && ck.kind === null)) {
    ck.dispose();
    const what = ck.kind === null ? 'it records no kind' : `its config says kind "${ck.kind}"`;
    throw new Error(`loadCheckpoint: ${file} is not a ${kind} checkpoint (${what})`);
  }
  return ck;
}

/**
 * Reads a checkpoint of `kind`, builds a module from its config with `build` (the config's `model`
 * field, or `defaults` when the file records none, as a plain PyTorch state dict may not), restores
 * its tensors and returns it in eval mode, with the whole config. Touches no generator.
 */
export function loadModel<M extends Module, C>(file: string, kind: string, build: (modelConfig: C) => M, defaults?: C): { model: M; config: Record<string, unknown> } {
  const ck = loadCheckpoint(file, kind);
  try {
    const config = (ck.config ?? {}) as Record<string, unknown>;
    const modelConfig = (config.model ?? defaults) as C | undefined;
    if (modelConfig === undefined) throw new Error(`loadCheckpoint: ${file} records no model config (metadata "config" with a "model" field)`);
    const model = build(modelConfig);
    ck.restore({ model });
    model.eval();
    return { model, config };
  } finally {
    ck.dispose();
  }
}

const FILE_RE = /^step-(\d+)\.safetensors$/;
const TEMP_RE = /\.tmp-(\d+)-[0-9a-f]+$/;
const POINTER = 'latest';

/**
 * A folder of checkpoints `step-00001000.safetensors`, the last `keep` of them kept, and a
 * `latest` file naming the newest; every file is replaced atomically, so a crash at any point
 * leaves complete checkpoints and a pointer to one of them.
 */
export class Checkpoints {
  readonly dir: string;
  readonly keep: number;

  constructor(dir: string, opts: { keep?: number } = {}) {
    this.dir = dir;
    this.keep = opts.keep ?? 3;
    if (!(this.keep >= 1)) throw new RangeError(`Checkpoints: keep must be at least 1, got ${this.keep}`);
    fs.mkdirSync(dir, { recursive: true });
    this.removeStaleTemps();
  }

  /** The path a checkpoint of `step` is saved at. */
  pathFor(step: number): string {
    return path.join(this.dir, `step-${String(step).padStart(8, '0')}.safetensors`);
  }

  /** Saves a checkpoint, points `latest` at it, and removes checkpoints beyond the last `keep`. Returns its path. */
  save(state: CheckpointState): string {
    const file = this.pathFor(state.step);
    saveCheckpoint(file, state);
    writeFileAtomic(path.join(this.dir, POINTER), Buffer.from(path.basename(file) + '\n'));
    const all = this.list();
    for (const c of all.slice(0, Math.max(0, all.length - this.keep))) {
      if (c.path !== file) fs.rmSync(c.path, { force: true });
    }
    return file;
  }

  /** The checkpoints in the folder, oldest step first. */
  list(): { step: number; path: string }[] {
    if (!fs.existsSync(this.dir)) return [];
    return fs.readdirSync(this.dir)
      .map((f) => FILE_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ step: Number(m[1]), path: path.join(this.dir, m[0]) }))
      .sort((a, b) => a.step - b.step);
  }

  /** The checkpoint `latest` names, else the one of the highest step; null when there is none. */
  latest(): string | null {
    try {
      const name = fs.readFileSync(path.join(this.dir, POINTER), 'utf8').trim();
      if (FILE_RE.test(name) && fs.existsSync(path.join(this.dir, name))) return path.join(this.dir, name);
    } catch {
      // no pointer yet: fall back to the newest file
    }
    const all = this.list();
    return all.length ? all[all.length - 1].path : null;
  }

  // Temp files of writes that a killed process never finished.
  private removeStaleTemps(): void {
    for (const f of fs.readdirSync(this.dir)) {
      const m = TEMP_RE.exec(f);
      if (m && !processAlive(Number(m[1]))) fs.rmSync(path.join(this.dir, f), { force: true });
    }
  }
}

/**
 * Writes `model`'s tensors under PyTorch's names (src/nn/pytorch.ts), for
 * `twin.load_state_dict(state, strict=True)` on the model's torch.nn twin, with `config` (kind,
 * model config, input normalisation) as JSON in the metadata. Loaders here read the file back.
 */
export function savePytorch(file: string, model: Module, config: unknown, o: { numBatchesTracked?: number } = {}): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  scope(() => saveFile(file, pytorchStateDict(model, o), {
    format: 'pt',
    refinery_export: 'pytorch',
    config: JSON.stringify(config ?? null),
  }));
}
