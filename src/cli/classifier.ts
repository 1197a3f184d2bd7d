// refinery train classifier / eval classifier: flags and printing over trainClassifier and
// evaluateClassifierFile (src/vision).
import { DEFAULT_CLASSIFIER_TRAIN, evaluateClassifierFile, trainClassifier } from '../vision';
import { MAX_BATCH_IMAGES } from './limits';
import { command, file, int, ddpFlags, ddpOptions, autotuneFlag, deviceFlag, jsonFlag, nprocFlag, num, outFile, resumeFlag, runName, runsDirFlag, seedFlag } from './flags';
import type { AutotuneMode } from '../conv/plan';
import { processGroupFromEnv, relaunch } from './launch';

const d = DEFAULT_CLASSIFIER_TRAIN;

export const trainClassifierCommand = command({
  name: 'train classifier',
  summary: 'train the Fashion-MNIST reference convnet (run folder runs/NAME)',
  description: 'Exits with 1 when the test accuracy is below 91%.',
  flags: {
    epochs: int({ description: 'passes over the 60,000 training images', default: d.epochs, min: 1, max: 1000 }),
    'batch-size': int({ description: 'images per step', default: d.batchSize, min: 1, max: MAX_BATCH_IMAGES }),
    lr: num({ description: 'peak learning rate (cosine schedule with warmup)', default: d.lr, above: 0, max: 1 }),
    seed: seedFlag(),
    name: runName('run folder name', 'classifier'),
    'runs-dir': runsDirFlag(),
    resume: resumeFlag(),
    out: outFile({ description: 'where to write the weights (default runs/NAME/classifier.safetensors)', ext: '.safetensors' }),
    nproc: nprocFlag(),
    ...ddpFlags(),
    device: deviceFlag(),
    autotune: autotuneFlag(),
  },
  async run(f) {
    const launched = await relaunch(f.nproc);
    if (launched !== null) return launched;
    const processGroup = await processGroupFromEnv();
    const r = await trainClassifier({
      processGroup, ddp: ddpOptions(f), device: f.device, autotune: f.autotune as AutotuneMode,
      config: { epochs: f.epochs, batchSize: f['batch-size'], lr: f.lr, seed: f.seed },
      name: f.name, runsDir: f['runs-dir'], resume: f.resume, out: f.out, log: (m) => console.log(`refinery ${m}`),
    });
    if (r.status === 'interrupted') {
      console.log(`interrupted at step ${r.step}; resume with --resume --name ${f.name} (checkpoint ${r.checkpoint})`);
      return 130;
    }
    processGroup?.destroy();
    if (processGroup && processGroup.rank !== 0) return 0;
    return r.accuracy >= 0.91 ? 0 : 1;
  },
});

export const evalClassifierCommand = command({
  name: 'eval classifier',
  summary: 'test accuracy and log loss of a classifier checkpoint on the Fashion-MNIST test set',
  flags: {
    checkpoint: file({ description: 'classifier checkpoint (default: the shipped checkpoints/fashion-classifier.safetensors)', checkpoint: 'fashion-classifier' }),
    json: jsonFlag(),
    device: deviceFlag(),
  },
  run(f) {
    const r = evaluateClassifierFile(f.checkpoint, { device: f.device });
    const ckpt = f.checkpoint ?? 'checkpoints/fashion-classifier.safetensors';
    if (f.json) console.log(JSON.stringify({ checkpoint: ckpt, ...r }));
    else console.log(`${ckpt}: test accuracy ${(100 * r.accuracy).toFixed(2)}% (${r.n} images), log loss ${r.logLoss.toFixed(4)}, ${r.seconds.toFixed(1)} s`);
    return 0;
  },
});
