// refinery train rotnet / eval rotnet / ensemble: flags and printing over trainRotnet,
// evaluateRotnet and rotnetEnsemble (src/vision).
import * as path from 'path';
import { ROTATED_TASKS } from '../data';
import { DEFAULT_ROTNET, DEFAULT_ROTNET_TRAIN, ROTNET_ARCHS, evaluateRotnet, rotnetEnsemble, trainRotnet } from '../vision';
import { MAX_MINUTES, UsageError, choice, command, file, fileList, int, jsonFlag, num, outFile, resumeFlag, runName, runsDirFlag, seedFlag } from './flags';
import { MAX_BATCH_IMAGES } from './limits';

const d = DEFAULT_ROTNET_TRAIN;


export const trainRotnetCommand = command({
  name: 'train rotnet',
  summary: 'train a rotation-invariant convnet (plain, cyclic pooling, cyclic rolls, dihedral) on a rotated task',
  description: `Tasks (built reproducibly from the local datasets): mnist-rot (digits at uniform random angles,
2,000 labelled, 4,000 test, 3,000 unlabelled) and fashion-rot (rotated and shrunk Fashion-MNIST,
12,000 labelled, 10,000 test, 46,000 unlabelled). Trains for at most --max-minutes (Ctrl-C saves a
checkpoint; --resume continues), then writes runs/NAME/model.safetensors, result.json and index.html
(learning curves, confusion matrix, an augmented batch). --pseudo-from trains on soft pseudo-labels
of the unlabelled pool predicted by the given checkpoints.`,
  flags: {
    arch: choice({ description: 'network', choices: ROTNET_ARCHS, default: DEFAULT_ROTNET.arch }),
    task: choice({ description: 'rotated task', choices: ROTATED_TASKS, default: d.task }),
    'max-minutes': num({ description: 'stop training after this many minutes', default: 10, above: 0, max: MAX_MINUTES, valueName: 'M' }),
    steps: int({ description: 'stop after this many optimizer steps (default: only the time limit)', min: 1, max: 100_000_000 }),
    width: int({ description: 'channels of the first conv stage (then 2x, 2x)', default: DEFAULT_ROTNET.width, min: 1, max: 512 }),
    params: int({ description: 'instead of --width: the width giving the parameter count closest to this', min: 100, max: 100_000_000 }),
    hidden: int({ description: 'units of the dense layer', default: DEFAULT_ROTNET.hidden, min: 1, max: 8192 }),
    pool: choice({ description: 'cyclic pooling function', choices: ['rms', 'mean', 'max'] as const, default: DEFAULT_ROTNET.pool }),
    dropout: num({ description: 'dropout before the softmax layer', default: DEFAULT_ROTNET.dropout, min: 0, below: 1 }),
    augment: choice({ description: 'realtime affine augmentation of every batch', choices: ['on', 'off'] as const, default: 'on' }),
    'batch-size': int({ description: 'images per step (the cyclic networks process 4x or 8x views)', default: d.batchSize, min: 2, max: MAX_BATCH_IMAGES }),
    lr: num({ description: 'Adam learning rate', default: d.lr, above: 0, max: 1 }),
    'weight-decay': num({ description: 'Adam weight decay', default: d.weightDecay, min: 0, max: 1 }),
    'pseudo-from': fileList({ description: 'checkpoints whose TTA predictions on the unlabelled pool are soft pseudo-labels', checkpoint: 'rotnet' }),
    'pseudo-fraction': num({ description: 'share of each batch from the pseudo-labelled pool', default: d.pseudoFraction, min: 0, below: 1, valueName: 'F' }),
    'pseudo-tta': int({ description: 'TTA transforms for the pseudo-labels', default: d.pseudoTta, min: 1, max: 1000 }),
    'eval-every': int({ description: 'validation metrics and a checkpoint every this many steps', default: 200, min: 1, max: 10_000_000 }),
    seed: seedFlag(),
    name: runName('run folder name (default rotnet-TASK-ARCH)', 'rotnet'),
    'runs-dir': runsDirFlag(),
    resume: resumeFlag(),
    out: outFile({ description: 'where to write the weights (default runs/NAME/model.safetensors)', ext: '.safetensors' }),
  },
  check(f, given) {
    if (given.has('params') && given.has('width')) throw new UsageError('--width and --params: give one of them, not both');
    if (given.has('pseudo-fraction') && !given.has('pseudo-from')) throw new UsageError('--pseudo-fraction needs --pseudo-from (the checkpoints that make the pseudo-labels)');
  },
  async run(f, given) {
    const r = await trainRotnet({
      config: {
        task: f.task, batchSize: f['batch-size'], lr: f.lr, weightDecay: f['weight-decay'], augment: f.augment === 'on', seed: f.seed,
        pseudoFrom: f['pseudo-from'] ?? [], pseudoFraction: f['pseudo-fraction'], pseudoTta: f['pseudo-tta'],
        model: { arch: f.arch, width: f.width, hidden: f.hidden, pool: f.pool, dropout: f.dropout },
      },
      params: f.params, maxMinutes: f['max-minutes'], maxSteps: f.steps, evalEvery: f['eval-every'],
      name: given.has('name') ? f.name : undefined, runsDir: f['runs-dir'], resume: f.resume, out: f.out,
      log: (m) => console.log(`refinery ${m}`),
    });
    if (r.status === 'interrupted') {
      console.log(`interrupted at step ${r.step}; resume with --resume --name ${path.basename(r.runDir)} (checkpoint ${r.checkpoint})`);
      return 130;
    }
    return 0;
  },
});

export const evalRotnetCommand = command({
  name: 'eval rotnet',
  summary: 'accuracy and log loss of a rotnet checkpoint on its task, with test-time augmentation',
  flags: {
    checkpoint: file({ description: 'rotnet checkpoint (runs/NAME/model.safetensors)', checkpoint: 'rotnet' }),
    tta: int({ description: 'test-time augmentation: average over this many quasi-random (Halton) transforms (1: none)', default: 1, min: 1, max: 1000 }),
    split: choice({ description: 'which split of the task', choices: ['test', 'valid', 'train', 'unlabelled'] as const, default: 'test' }),
    'save-probs': outFile({ description: 'also write the predicted probabilities and labels here', ext: '.safetensors' }),
    json: jsonFlag(),
  },
  check(f) {
    if (f.checkpoint === undefined) throw new UsageError('--checkpoint: expected a rotnet checkpoint file, got nothing');
  },
  run(f) {
    const r = evaluateRotnet({ checkpoint: f.checkpoint!, tta: f.tta, split: f.split, saveProbs: f['save-probs'] });
    if (f.json) console.log(JSON.stringify(r));
    else console.log(`${r.checkpoint}: ${r.task} ${r.split} accuracy ${(100 * r.accuracy).toFixed(2)}% (${r.n} images), log loss ${r.logLoss.toFixed(4)}, TTA ${r.tta}, ${r.seconds.toFixed(1)} s`);
    return 0;
  },
});

export const ensembleCommand = command({
  name: 'ensemble',
  summary: 'weighted ensemble of rotnet checkpoints: weights fitted on validation log loss (L-BFGS), scored on the test set',
  flags: {
    checkpoints: fileList({ description: 'two or more rotnet checkpoints trained on the same task', checkpoint: 'rotnet', min: 2 }),
    tta: int({ description: 'TTA transforms per model (1: none)', default: 1, min: 1, max: 1000 }),
    json: jsonFlag(),
  },
  check(f) {
    if (!f.checkpoints) throw new UsageError('--checkpoints: expected two or more rotnet checkpoint files, got nothing');
  },
  run(f) {
    const r = rotnetEnsemble({ checkpoints: f.checkpoints!, tta: f.tta });
    if (f.json) { console.log(JSON.stringify(r)); return 0; }
    const row = (name: string, v: { accuracy: number; logLoss: number }, t: { accuracy: number; logLoss: number }) =>
      console.log(`${name.padEnd(48)} valid ${(100 * v.accuracy).toFixed(2).padStart(6)}% ${v.logLoss.toFixed(4)}   test ${(100 * t.accuracy).toFixed(2).padStart(6)}% ${t.logLoss.toFixed(4)}`);
    console.log(`${r.task}, TTA ${r.tta}: accuracy and log loss`);
    for (const m of r.models) row(m.checkpoint, m.valid, m.test);
    row('uniform average', r.uniform.valid, r.uniform.test);
    row(`weighted (${r.weights.map((w) => w.toFixed(3)).join(', ')})`, r.weighted.valid, r.weighted.test);
    return 0;
  },
});
