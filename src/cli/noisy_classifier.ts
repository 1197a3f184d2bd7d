// refinery train noisy-classifier: flags and printing over trainNoisyClassifier (src/diffusion).
import { DEFAULT_NOISY_TRAIN, NoisySigmaDistribution, trainNoisyClassifier } from '../diffusion';
import { DEFAULT_NOISY_CLASSIFIER } from '../diffusion/noisy_classifier';
import { MAX_BATCH_IMAGES } from './limits';
import { MAX_MINUTES, choice, command, int, num, numList, outFile, resumeFlag, runName, runsDirFlag, seedFlag } from './flags';

const d = DEFAULT_NOISY_TRAIN;
const SIGMAS: Record<'loguniform' | 'lognormal', NoisySigmaDistribution> = {
  loguniform: { dist: 'loguniform', min: 0.002, max: 80 },
  lognormal: { dist: 'lognormal', pMean: -1.2, pStd: 1.2 },
};

export const trainNoisyClassifierCommand = command({
  name: 'train noisy-classifier',
  summary: 'train the noise-conditional Fashion-MNIST classifier for classifier guidance (run folder runs/NAME)',
  flags: {
    steps: int({ description: 'optimizer steps', default: d.steps, min: 1, max: 10_000_000 }),
    'max-minutes': num({ description: 'stop training after this many minutes, then evaluate and save (default: no limit)', above: 0, max: MAX_MINUTES, valueName: 'M' }),
    'batch-size': int({ description: 'images per step (at most the training images used)', default: d.batchSize, min: 1, max: MAX_BATCH_IMAGES }),
    lr: num({ description: 'peak learning rate (cosine schedule with warmup)', default: d.lr, above: 0, max: 1 }),
    seed: seedFlag(),
    channels: numList({ description: 'channels of each stage', integer: true, default: DEFAULT_NOISY_CLASSIFIER.channels, min: 1, max: 1024, valueName: 'C,C,...' }),
    sigma: choice({
      description: 'training noise levels: loguniform (ln sigma uniform over [ln 0.002, ln 80]) or lognormal (EDM: P_mean -1.2, P_std 1.2)',
      choices: ['loguniform', 'lognormal'] as const, default: 'loguniform',
    }),
    subset: int({ description: 'train on the first N training images (default all 60,000)', min: 1, max: 60000 }),
    'eval-images': int({ description: 'test images of the final evaluation (default all 10,000)', min: 1, max: 10000 }),
    name: runName('run folder name', 'noisy-classifier'),
    'runs-dir': runsDirFlag(),
    resume: resumeFlag(),
    out: outFile({ description: 'where to write the weights (default runs/NAME/noisy-classifier.safetensors)', ext: '.safetensors' }),
  },
  async run(f) {
    const r = await trainNoisyClassifier({
      config: { steps: f.steps, batchSize: f['batch-size'], lr: f.lr, seed: f.seed, subset: f.subset ?? null, sigma: SIGMAS[f.sigma], model: { channels: f.channels } },
      name: f.name, runsDir: f['runs-dir'], resume: f.resume, out: f.out, maxMinutes: f['max-minutes'], evalImages: f['eval-images'],
      log: (m) => console.log(m.startsWith('train ') ? `refinery ${m}` : m),
    });
    if (r.status === 'interrupted') {
      console.log(`resume with --resume --name ${f.name}`);
      return 130;
    }
    return 0;
  },
});
