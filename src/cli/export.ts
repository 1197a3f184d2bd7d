// refinery export / refinery import: flags and printing over exportPytorch and importPytorch
// (src/models.ts): checkpoints to and from PyTorch's names, for the torch.nn twins of the shipped
// models in python/refinery_twins.py.
import { MODEL_KIND_NAMES, exportPytorch, importPytorch } from '../models';
import { choice, command, outFile } from './flags';

export const exportCommand = command({
  name: 'export',
  summary: "write a checkpoint's model with PyTorch's names, for python/refinery_twins.py (load_state_dict strict)",
  positionals: [{ name: 'CHECKPOINT', description: 'the Refinery checkpoint to export', safetensors: true }],
  flags: {
    format: choice({ description: 'the names to write', choices: ['pytorch'] as const, default: 'pytorch' }),
    out: outFile({ description: 'the file to write (default: CHECKPOINT with .pt.safetensors)', ext: '.safetensors' }),
  },
  run(f, _given, [file]) {
    const r = exportPytorch(file, { out: f.out });
    console.log(`${file} (${r.kind}) -> ${r.out}: PyTorch names for refinery_twins.${r.twin.split(' ')[0]}; load_state_dict(state, strict=True)`);
    return 0;
  },
});

export const importCommand = command({
  name: 'import',
  summary: 'convert a PyTorch state dict of a twin into a Refinery checkpoint',
  positionals: [{ name: 'FILE', description: 'the safetensors state dict (names of the torch.nn twin)', safetensors: true }],
  flags: {
    kind: choice({ description: "the model's kind, when the file's metadata records none", choices: MODEL_KIND_NAMES as readonly string[] }),
    out: outFile({ description: 'the file to write (default: FILE with .refinery.safetensors)', ext: '.safetensors' }),
  },
  run(f, _given, [file]) {
    const r = importPytorch(file, { kind: f.kind, out: f.out });
    console.log(`${file} (${r.kind}) -> ${r.out}: a Refinery checkpoint`);
    return 0;
  },
});
