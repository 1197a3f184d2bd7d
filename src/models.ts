// The model kinds a Refinery checkpoint may hold (the shipped ones): how to build each (with a
// throwaway generator: the weights are loaded), what it takes as input, and its torch.nn twin in
// python/refinery_twins.py; and the conversions to and from PyTorch's names.
// `refinery export` calls exportPytorch, `refinery import` importPytorch.
import { Generator, assertWritable } from './tensor';
import type { Module } from './nn/module';
import { loadCheckpoint, saveCheckpoint, savePytorch } from './train';
import { CLASSIFIER_INPUT, CLASSIFIER_KIND, DEFAULT_CLASSIFIER, FashionClassifier } from './vision/classifier';
import { DEFAULT_NOISY_CLASSIFIER, NOISY_CLASSIFIER_KIND, NoisyClassifier } from './diffusion/noisy_classifier';
import { DEFAULT_DIFFUSION_MODEL, DIFFUSION_INPUT, DIFFUSION_KIND, buildUNet } from './diffusion/model';

export interface ModelKind {
  build: (config: never) => Module;
  defaults: unknown;
  input: unknown;
  /** The class in python/refinery_twins.py. */
  twin: string;
}

export const MODEL_KINDS: Record<string, ModelKind> = {
  [CLASSIFIER_KIND]: {
    build: (c: typeof DEFAULT_CLASSIFIER) => new FashionClassifier(c, { generator: new Generator(0) }),
    defaults: DEFAULT_CLASSIFIER, input: CLASSIFIER_INPUT, twin: 'FashionClassifier',
  },
  [NOISY_CLASSIFIER_KIND]: {
    build: (c: typeof DEFAULT_NOISY_CLASSIFIER) => new NoisyClassifier(c, { generator: new Generator(0) }),
    defaults: DEFAULT_NOISY_CLASSIFIER, twin: 'NoisyClassifier',
    input: { range: [-1, 1], note: 'noisy images x0 + sigma * n with x0 in [-1, 1]; forward(x, sigma) scales by c_in itself' },
  },
  [DIFFUSION_KIND]: {
    build: (c: typeof DEFAULT_DIFFUSION_MODEL) => buildUNet(c, new Generator(0)),
    defaults: DEFAULT_DIFFUSION_MODEL, input: DIFFUSION_INPUT, twin: 'UNet (wrapped by Denoiser)',
  },
};

/** The kinds' names, e.g. for a choice of `kind`. */
export const MODEL_KIND_NAMES = Object.keys(MODEL_KINDS);

/** Reads `file` once and builds its model (the kind from the file, or `kind` where it records none). */
export function readModel(file: string, kind?: string): { kind: string; model: Module; step: number; config: Record<string, unknown>; twin: string } {
  const known = MODEL_KIND_NAMES.join(', ');
  if (kind !== undefined && !Object.prototype.hasOwnProperty.call(MODEL_KINDS, kind)) throw new RangeError(`readModel: kind must be one of ${known}, got ${JSON.stringify(kind)}`);
  const ck = loadCheckpoint(file);
  try {
    if (kind !== undefined && ck.kind !== null && ck.kind !== kind) throw new Error(`readModel: ${file} records kind "${ck.kind}", not "${kind}"`);
    const k = kind ?? ck.kind;
    if (k === null) throw new Error(`readModel: ${file} records no kind: give its kind (one of ${known})`);
    if (!Object.prototype.hasOwnProperty.call(MODEL_KINDS, k)) throw new Error(`readModel: ${file} holds a "${k}" model; the known kinds are ${known}`);
    const m = MODEL_KINDS[k];
    const config = (ck.config ?? {}) as Record<string, unknown>;
    const model = m.build((config.model ?? m.defaults) as never);
    ck.restore({ model });
    return { kind: k, model, step: ck.step, twin: m.twin, config: { ...config, kind: k, model: config.model ?? m.defaults, input: config.input ?? m.input } };
  } finally {
    ck.dispose();
  }
}

const withSuffix = (file: string, suffix: string) => file.replace(/(\.safetensors)?$/, suffix);

/**
 * A Refinery checkpoint -> a safetensors file with PyTorch's names and the config in its metadata,
 * for `twin.load_state_dict(state, strict=True)` (default out: the file with .pt.safetensors).
 */
export function exportPytorch(file: string, o: { out?: string } = {}): { kind: string; out: string; twin: string } {
  const out = o.out ?? withSuffix(file, '.pt.safetensors');
  assertWritable(out, 'exportPytorch: out', { createDir: true });
  const { kind, model, step, config, twin } = readModel(file);
  // BatchNorm's num_batches_tracked: the steps trained (each ran one training-mode forward)
  savePytorch(out, model, { ...config, twin }, { numBatchesTracked: step });
  return { kind, out, twin };
}

/** A PyTorch state dict of a twin -> a Refinery checkpoint (default out: the file with .refinery.safetensors). */
export function importPytorch(file: string, o: { kind?: string; out?: string } = {}): { kind: string; out: string } {
  const out = o.out ?? withSuffix(file, '.refinery.safetensors');
  assertWritable(out, 'importPytorch: out', { createDir: true });
  const { kind, model, config } = readModel(file, o.kind);
  const { twin: _twin, ...rest } = config;
  saveCheckpoint(out, { model, step: 0, config: { ...rest, importedFrom: file } });
  return { kind, out };
}
