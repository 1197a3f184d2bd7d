// refinery export / refinery import: checkpoints to and from PyTorch's names, for the torch.nn
// twins of the shipped models in python/refinery_twins.py.
import { parseArgs } from 'util';
import { Generator, assertWritable } from '../tensor';
import type { Module } from '../nn/module';
import { loadCheckpoint, saveCheckpoint, savePytorch } from '../train';
import { CLASSIFIER_INPUT, CLASSIFIER_KIND, DEFAULT_CLASSIFIER, FashionClassifier } from '../vision/classifier';
import { DEFAULT_NOISY_CLASSIFIER, NOISY_CLASSIFIER_KIND, NoisyClassifier } from '../diffusion/noisy_classifier';
import { DEFAULT_DIFFUSION_MODEL, DIFFUSION_INPUT, DIFFUSION_KIND, buildUNet } from '../diffusion/model';

/** The model kinds a checkpoint may hold: how to build one (a throwaway generator: the weights are loaded), its input, its twin. */
const MODELS: Record<string, { build: (config: never) => Module; defaults: unknown; input: unknown; twin: string }> = {
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

/** Reads `file` once and builds its model (kind from the file, or `kindFlag` where it records none). */
function readModel(file: string, kindFlag: string | undefined) {
  const known = Object.keys(MODELS).join(', ');
  if (kindFlag !== undefined && !Object.prototype.hasOwnProperty.call(MODELS, kindFlag)) throw new Error(`--kind: expected one of ${known}, got ${JSON.stringify(kindFlag)}`);
  const ck = loadCheckpoint(file);
  try {
    if (kindFlag !== undefined && ck.kind !== null && ck.kind !== kindFlag) throw new Error(`--kind ${kindFlag}: ${file} records kind "${ck.kind}"`);
    const kind = kindFlag ?? ck.kind;
    if (kind === null) throw new Error(`${file} records no kind: give --kind (one of ${known})`);
    if (!Object.prototype.hasOwnProperty.call(MODELS, kind)) throw new Error(`${file} holds a "${kind}" model; export knows ${known}`);
    const m = MODELS[kind];
    const config = (ck.config ?? {}) as Record<string, unknown>;
    const model = m.build((config.model ?? m.defaults) as never);
    ck.restore({ model });
    return { kind, m, model, step: ck.step, config: { ...config, kind, model: config.model ?? m.defaults, input: config.input ?? m.input } };
  } finally {
    ck.dispose();
  }
}

const USAGE = {
  export: 'usage: refinery export CHECKPOINT [--format pytorch] [--out PATH]\n' +
    '  writes the model of a Refinery checkpoint with PyTorch\'s names (default PATH: CHECKPOINT with .pt.safetensors),\n' +
    '  for twin.load_state_dict(state, strict=True) with python/refinery_twins.py\n',
  import: 'usage: refinery import FILE [--kind fashion-classifier|noisy-classifier|diffusion] [--out PATH]\n' +
    '  reads a PyTorch state dict (names of the torch.nn twin) and writes a Refinery checkpoint\n' +
    '  (default PATH: FILE with .refinery.safetensors); --kind when the file\'s metadata records none\n',
};

function parse(cmd: 'export' | 'import', args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args, allowPositionals: true, strict: true,
      options: { out: { type: 'string' }, format: { type: 'string' }, kind: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    process.stderr.write(`refinery ${cmd}: ${(err as Error).message}\n${USAGE[cmd]}`);
    return null;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE[cmd]);
    return null;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`refinery ${cmd}: expected one file, got ${positionals.length}\n${USAGE[cmd]}`);
    return null;
  }
  if (cmd === 'export' && values.kind !== undefined) {
    process.stderr.write(`refinery export: --kind is for import (a checkpoint records its kind)\n${USAGE[cmd]}`);
    return null;
  }
  if (cmd === 'import' && values.format !== undefined) {
    process.stderr.write(`refinery import: --format is for export\n${USAGE[cmd]}`);
    return null;
  }
  if (values.format !== undefined && values.format !== 'pytorch') {
    process.stderr.write(`refinery export: --format: expected pytorch, got ${JSON.stringify(values.format)}\n`);
    return null;
  }
  return { file: positionals[0], out: values.out, kind: values.kind };
}

const withSuffix = (file: string, suffix: string) => file.replace(/(\.safetensors)?$/, suffix);

/** refinery export: a Refinery checkpoint -> a safetensors file with PyTorch's names and the config in its metadata. */
export function exportCommand(args: string[]): number {
  const a = parse('export', args);
  if (!a) return args.includes('--help') || args.includes('-h') ? 0 : 2;
  const out = a.out ?? withSuffix(a.file, '.pt.safetensors');
  assertWritable(out, '--out', { createDir: true });
  const { kind, m, model, step, config } = readModel(a.file, undefined);
  // BatchNorm's num_batches_tracked: the steps trained (each ran one training-mode forward)
  savePytorch(out, model, { ...config, twin: m.twin }, { numBatchesTracked: step });
  console.log(`${a.file} (${kind}) -> ${out}: PyTorch names for refinery_twins.${m.twin.split(' ')[0]}; load_state_dict(state, strict=True)`);
  return 0;
}

/** refinery import: a PyTorch state dict of a twin -> a Refinery checkpoint. */
export function importCommand(args: string[]): number {
  const a = parse('import', args);
  if (!a) return args.includes('--help') || args.includes('-h') ? 0 : 2;
  const out = a.out ?? withSuffix(a.file, '.refinery.safetensors');
  assertWritable(out, '--out', { createDir: true });
  const { kind, model, config } = readModel(a.file, a.kind);
  const { twin: _twin, ...rest } = config as Record<string, unknown>;
  saveCheckpoint(out, { model, step: 0, config: { ...rest, importedFrom: a.file } });
  console.log(`${a.file} (${kind}) -> ${out}: a Refinery checkpoint`);
  return 0;
}
