// The one checkpoint format: a single safetensors file (architecture decision 7) holding
//   model.<dotted name>   the model's tensors (its state dict)
//   optim.<key>           the optimizer's state dict
//   rng.<name>            generator states (uint8), always including rng.default
//   extra.<name>          any further tensors the caller saves
// and, in __metadata__ (strings), format "pt", the counters (step, epoch, batch_in_epoch,
// optim_step_count), the run config as JSON and JSON bookkeeping (extra). Python's safetensors
// and torch read it as it is. Files are written atomically (temp file, fsync, rename).
import * as fs from 'fs';
import * as path from 'path';
import { Generator, Tensor, loadFile, saveFile, scope, writeFileAtomic } from '../tensor';
import { Module, loadStateDict, stateDict } from '../nn/module';
import type { Parameter } from '../nn/param';
import { processAlive } from './lock';

/** What the training code needs from an optimizer (src/optim's optimizers have this shape). */
export interface OptimizerLike {
  step(): void;
  zeroGrad(): void;
  stepCount: number;
  lr(): number;
  /** Its state by name; saving copies the values, so it may return its own tensors. */
  stateDict(): Record<string, Tensor>;
  /** Copies `state` into the optimizer; the caller keeps ownership of the tensors. */
  loadStateDict(state: Record<string, Tensor>): void;
  params: Parameter[];
}

export interface CheckpointState {
  model: Module;
  optimizer?: OptimizerLike;
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

export interface LoadedCheckpoint {
  step: number;
  epoch: number;
  batchInEpoch: number;
  config: unknown;
  extra: Record<string, unknown>;
  /** The `extra.<name>` tensors by name; the caller owns them. */
  tensors: Record<string, Tensor>;
  /** The raw __metadata__. */
  metadata: Record<string, string>;
}

const FORMAT_VERSION = '1';

function checkName(kind: string, name: string): void {
  if (!name || name.includes('\0')) throw new TypeError(`saveCheckpoint: invalid ${kind} name ${JSON.stringify(name)}`);
}

/** Writes one checkpoint file atomically: model, optimizer, counters, generator states, config. */
export function saveCheckpoint(file: string, s: CheckpointState): void {
  if (!Number.isSafeInteger(s.step) || s.step < 0) throw new RangeError(`saveCheckpoint: step must be a non-negative integer, got ${s.step}`);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  scope(() => {
    // scope(): frees the state tensors created here (generator states, an optimizer's fresh copies);
    // tensors that already existed (the model's, an optimizer's own) are left alone
    const tensors: Record<string, Tensor> = Object.create(null);
    for (const [k, t] of Object.entries(stateDict(s.model))) tensors[`model.${k}`] = t;
    if (s.optimizer) for (const [k, t] of Object.entries(s.optimizer.stateDict())) tensors[`optim.${k}`] = t;
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

/**
 * Restores a checkpoint in place: the model's tensors (strict by default: names and shapes must
 * match), the optimizer's state when one is given, and the state of each generator given (and of
 * the default generator). Returns the counters, config and bookkeeping.
 */
export function loadCheckpoint(file: string, o: {
  model?: Module;
  optimizer?: OptimizerLike;
  generators?: Record<string, Generator>;
  /** Require the model's tensor names to match exactly (default true). */
  strict?: boolean;
  /** Restore the default generator too (default true). */
  restoreDefaultGenerator?: boolean;
} = {}): LoadedCheckpoint {
  const { tensors, metadata } = loadFile(file);
  const extraTensors: Record<string, Tensor> = {};
  try {
    if (metadata.refinery_checkpoint === undefined) {
      throw new Error(`loadCheckpoint: ${file} is a safetensors file but not a Refinery checkpoint (no refinery_checkpoint in __metadata__)`);
    }
    const model: Record<string, Tensor> = Object.create(null);
    const optim: Record<string, Tensor> = Object.create(null);
    const rng: Record<string, Tensor> = Object.create(null);
    for (const [k, t] of Object.entries(tensors)) {
      const dot = k.indexOf('.');
      const [prefix, rest] = [k.slice(0, dot), k.slice(dot + 1)];
      if (prefix === 'model') model[rest] = t;
      else if (prefix === 'optim') optim[rest] = t;
      else if (prefix === 'rng') rng[rest] = t;
      else if (prefix === 'extra') extraTensors[rest] = t;
    }
    if (o.model) {
      try {
        loadStateDict(o.model, model, { strict: o.strict ?? true });
      } catch (err) {
        throw new Error(`loadCheckpoint: ${file}: ${(err as Error).message}`);
      }
    }
    if (o.optimizer) {
      if (metadata.optim_step_count === undefined) throw new Error(`loadCheckpoint: ${file} holds no optimizer state`);
      o.optimizer.loadStateDict(optim);
      o.optimizer.stepCount = Number(metadata.optim_step_count);
    }
    const gens: Record<string, Generator> = { ...o.generators };
    if (o.restoreDefaultGenerator ?? true) gens.default = Generator.default();
    for (const [name, g] of Object.entries(gens)) {
      const state = rng[name];
      if (!state) throw new Error(`loadCheckpoint: ${file} holds no state for generator "${name}" (it has: ${Object.keys(rng).join(', ') || 'none'})`);
      g.setState(state);
    }
    return {
      step: Number(metadata.step),
      epoch: Number(metadata.epoch ?? 0),
      batchInEpoch: Number(metadata.batch_in_epoch ?? 0),
      config: JSON.parse(metadata.config ?? 'null'),
      extra: JSON.parse(metadata.extra ?? '{}'),
      tensors: extraTensors,
      metadata,
    };
  } catch (err) {
    for (const t of Object.values(extraTensors)) t.dispose();
    throw err;
  } finally {
    const handedOut = new Set(Object.values(extraTensors));
    for (const t of Object.values(tensors)) if (!handedOut.has(t)) t.dispose();
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
