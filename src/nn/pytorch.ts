// PyTorch names for a module's tensors, so that a state dict saved here loads with
// `model.load_state_dict(state, strict=True)` into the torch.nn twin of the architecture, and one
// saved by PyTorch loads here. The names are derived from the module's structure, not registered:
//   - a Sequential's `layers` are its children in torch.nn (`body.layers.0.W` -> `body.0.weight`);
//   - W, b, gamma, beta -> weight, bias, weight, bias (torch.nn's names for every layer kind);
//   - camelCase fields -> snake_case (`inConv` -> `in_conv`, `runningMean` -> `running_mean`);
//   - arrays of modules keep their indices (a torch.nn.ModuleList; nulls become nn.Identity());
//   - a BatchNorm with running statistics gains the `num_batches_tracked` counter torch.nn keeps.
import { Tensor, functions as torch } from '../tensor';
import { Module, loadStateDict, mismatchMessage, namedTensors } from './module';
import { Expr } from './param';
import { Sequential } from './layers/container';
import { BatchNorm1d, BatchNorm2d } from './layers/norm';

const LEAF_NAMES: Readonly<Record<string, string>> = { W: 'weight', b: 'bias', gamma: 'weight', beta: 'bias' };
const BATCHES_TRACKED = 'num_batches_tracked';

/** camelCase -> snake_case (`noiseEmbed` -> `noise_embed`, `runningVar` -> `running_var`). */
export function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

function child(obj: unknown, seg: string): unknown {
  if (obj instanceof Expr) return obj.inputs[Number(seg)];
  if (obj instanceof Map) return obj.get(seg);
  return (obj as Record<string, unknown>)[seg];
}

interface Naming {
  /** Refinery name -> PyTorch name, in state-dict order. */
  names: Map<string, string>;
  /** PyTorch prefixes (`body.1`) of the BatchNorm layers that keep running statistics. */
  batchNorms: string[];
}

function naming(root: Module): Naming {
  const names = new Map<string, string>();
  const batchNorms: string[] = [];
  const owner = new Map<string, string>(); // PyTorch name -> Refinery name, to catch collisions
  for (const [name] of namedTensors(root)) {
    const segs = name.split('.');
    const out: string[] = [];
    let obj: unknown = root;
    segs.forEach((seg, i) => {
      const next = child(obj, seg);
      if (obj instanceof Sequential && seg === 'layers') {
        obj = next;
        return;
      }
      const leaf = obj instanceof Module && (next instanceof Tensor || next instanceof Expr);
      out.push(/^\d+$/.test(seg) ? seg : leaf && seg in LEAF_NAMES ? LEAF_NAMES[seg] : snakeCase(seg));
      if (i === segs.length - 1 && seg === 'runningMean' && (obj instanceof BatchNorm1d || obj instanceof BatchNorm2d)) {
        batchNorms.push(out.slice(0, -1).join('.'));
      }
      obj = next;
    });
    const torchName = out.join('.');
    const taken = owner.get(torchName);
    if (taken !== undefined) throw new Error(`pytorchNames: ${JSON.stringify(taken)} and ${JSON.stringify(name)} both map to ${JSON.stringify(torchName)}`);
    owner.set(torchName, name);
    names.set(name, torchName);
  }
  return { names, batchNorms };
}

/** Refinery name -> PyTorch name of each of the module's tensors (`body.layers.1.runningMean` -> `body.1.running_mean`). */
export function pytorchNames(root: Module): Map<string, string> {
  return naming(root).names;
}

/**
 * The module's state dict under PyTorch's names: what `twin.state_dict()` of the torch.nn twin
 * holds. The values are the module's own tensors, except the `num_batches_tracked` counters
 * (0-d int64, value `numBatchesTracked`, default 0), which are new: create them inside a scope.
 */
export function pytorchStateDict(root: Module, o: { numBatchesTracked?: number } = {}): Record<string, Tensor> {
  const { names, batchNorms } = naming(root);
  const own = new Map(namedTensors(root));
  const out: Record<string, Tensor> = Object.create(null);
  for (const [name, torchName] of names) out[torchName] = own.get(name)!;
  for (const prefix of batchNorms) out[`${prefix}.${BATCHES_TRACKED}`] = torch.full([], o.numBatchesTracked ?? 0, { dtype: 'int64' });
  return out;
}

/**
 * Copies a state dict with PyTorch's names (`twin.state_dict()`, or a file saved from it) into the
 * module. Strict by default: every tensor of the module must be present and nothing else (the
 * BatchNorm `num_batches_tracked` counters are accepted and ignored, as this BatchNorm keeps none).
 * Shapes must match. Returns what was missing or unexpected, in PyTorch's names.
 */
export function loadPytorchStateDict(root: Module, state: Record<string, Tensor>, o: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
  const { names, batchNorms } = naming(root);
  const fromTorch = new Map([...names].map(([ours, theirs]) => [theirs, ours]));
  const counters = new Set(batchNorms.map((p) => `${p}.${BATCHES_TRACKED}`));
  const mapped: Record<string, Tensor> = Object.create(null);
  const unexpected: string[] = [];
  for (const [k, t] of Object.entries(state)) {
    const ours = fromTorch.get(k);
    if (ours !== undefined) mapped[ours] = t;
    else if (!counters.has(k)) unexpected.push(k);
  }
  const missing = [...names].filter(([ours]) => !(ours in mapped)).map(([, theirs]) => theirs);
  if ((o.strict ?? true) && (missing.length || unexpected.length)) {
    throw new Error(mismatchMessage('loadPytorchStateDict', missing, unexpected, names.size - missing.length));
  }
  try {
    loadStateDict(root, mapped, { strict: false });
  } catch (err) {
    // name the tensor by its PyTorch name too
    throw new Error((err as Error).message.replace(/^loadStateDict: (\S+)/, (m, k: string) => `loadPytorchStateDict: ${names.get(k) ?? k} (${k})`));
  }
  return { missing, unexpected };
}
