// A small instrument classifier on mini-NSynth's real renders, used as the audio models' judge (as the
// Fashion-MNIST reference classifier is for the image models): the accuracy with which it recognises
// the instrument a note was generated for, and the Fréchet distance between its penultimate features
// of generated and of real notes ("classifier-FD", the audio counterpart of classifier-FID).
import { Generator, Tensor, functions as torch, manualSeed, noGrad, scope } from '../tensor';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, Module, ReLU, Sequential, init } from '../nn';
import { Adam } from '../optim';
import { Progress, loadModel, saveCheckpoint } from '../train';
import { requireFile, shippedFile } from '../train/shipped';
import { featureStats, frechetDistance } from '../diffusion/metrics';
import { NoteGrid, miniNsynth } from './datasets';
import { melFeatures } from './vocoder';

export const AUDIO_CLASSIFIER_KIND = 'instrument-classifier';
export const AUDIO_CLASSIFIER_CHECKPOINT = 'checkpoints/instrument-classifier.safetensors';

export interface InstrumentClassifierConfig { channels: [number, number, number]; hidden: number; classes: number; sampleRate: number }
export const DEFAULT_INSTRUMENT_CLASSIFIER: InstrumentClassifierConfig = { channels: [16, 32, 64], hidden: 64, classes: 10, sampleRate: 16000 };

/**
 * audio [N, samples] at 16 kHz -> [N, classes] logits: the vocoder's log-mel features [N, 1, 80, frames],
 * three conv3x3-BN-ReLU-maxpool2 blocks, average pooling to 4 x 4 (any length), linear(hidden)-ReLU =
 * features, linear(classes).
 */
export class InstrumentClassifier extends Module {
  body: Sequential;
  head: Sequential;
  out: Linear;
  readonly config: InstrumentClassifierConfig;

  constructor(config: Partial<InstrumentClassifierConfig> = {}, o: { generator?: Generator } = {}) {
    super();
    const c = { ...DEFAULT_INSTRUMENT_CLASSIFIER, ...config };
    this.config = c;
    const g = o.generator, heW = init.heNormal({ gain: 'relu' });
    const block = (cin: number, cout: number) => [new Conv2d(cin, cout, 3, { padding: 1, b: null, W: heW, generator: g }), new BatchNorm2d(cout), new ReLU(), new MaxPool2d(2)];
    this.body = new Sequential(...block(1, c.channels[0]), ...block(c.channels[0], c.channels[1]), ...block(c.channels[1], c.channels[2]));
    this.head = new Sequential(new Linear(c.channels[2] * 16, c.hidden, { W: heW, generator: g }), new ReLU());
    this.out = new Linear(c.hidden, c.classes, { generator: g });
  }

  /** Penultimate features [N, hidden]. */
  features(audio: Tensor): Tensor {
    if (!(audio instanceof Tensor) || audio.ndim !== 2 || audio.shape[1] < 1024) throw new RangeError(`InstrumentClassifier: audio must be a Tensor [clips, samples >= 1024], got ${audio instanceof Tensor ? `[${audio.shape.join(', ')}]` : typeof audio}`);
    return scope(() => {
      const h = this.body(melFeatures(audio.to('float32')).unsqueeze(1)) as Tensor;
      return this.head(torch.adaptiveAvgPool2d(h, [4, 4]).flatten(1)) as Tensor;
    });
  }

  forward(audio: Tensor): Tensor {
    return scope(() => this.out(this.features(audio)) as Tensor);
  }
}

/** Random gain (0.3..1.5) and onset delay (0..0.1 s) so that the judge does not key on one loudness or alignment. */
function augment(x: Tensor, g: Generator, sampleRate: number): Tensor {
  return scope(() => {
    const [n, t] = x.shape;
    const gain = torch.rand([n, 1], { generator: g }).mul(1.2).add(0.3);
    const shift = Math.floor((torch.rand([1], { generator: g }).item() as number) * 0.1 * sampleRate);
    return torch.constantPadNd(x, [shift, 0]).narrow(1, 0, t).mul(gain);
  });
}

export interface TrainInstrumentClassifierOptions { steps?: number; batchSize?: number; lr?: number; seed?: number; data?: NoteGrid; progress?: boolean; out?: string }

/** Trains the judge on mini-NSynth's training notes; returns it with its accuracy on the test notes. */
export function trainInstrumentClassifier(o: TrainInstrumentClassifierOptions = {}): { model: InstrumentClassifier; testAccuracy: number; steps: number } {
  const steps = o.steps ?? 600, batchSize = o.batchSize ?? 32, lr = o.lr ?? 2e-3, seed = o.seed ?? 0;
  if (!Number.isSafeInteger(steps) || steps < 1 || steps > 1_000_000) throw new RangeError(`trainInstrumentClassifier: steps must be an integer in 1..1000000, got ${steps}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 1024) throw new RangeError(`trainInstrumentClassifier: batchSize must be an integer in 1..1024, got ${batchSize}`);
  manualSeed(seed);
  const trainSet = miniNsynth('train', o.data), testSet = miniNsynth('test', o.data);
  const model = new InstrumentClassifier({ classes: trainSet.classes.instrument.length, sampleRate: trainSet.sampleRate }, { generator: new Generator(seed) });
  const opt = new Adam(model, { lr });
  const g = new Generator(seed + 1);
  const bar = o.progress === false ? null : new Progress({ total: steps, label: 'instrument classifier', unit: 'steps' });
  try {
    model.train();
    for (let s = 0; s < steps; s++) {
      const loss = scope(() => {
        const idx = torch.randint(0, trainSet.audio.shape[0], [batchSize], { generator: g });
        const x = augment(trainSet.audio.indexSelect(0, idx), g, trainSet.sampleRate);
        const l = torch.crossEntropyLoss(model.forward(x), trainSet.labels.instrument.indexSelect(0, idx));
        opt.zeroGrad();
        l.backward();
        opt.step();
        return l.item() as number;
      });
      bar?.update(1, { loss: loss.toFixed(3) });
    }
  } finally {
    bar?.close();
  }
  model.eval();
  const testAccuracy = instrumentAccuracy(model, testSet.audio, Array.from(testSet.labels.instrument.dataSync()));
  if (o.out) saveCheckpoint(o.out, { model, step: steps, config: { kind: AUDIO_CLASSIFIER_KIND, model: model.config, steps, testAccuracy, input: 'audio [N, samples] at 16 kHz in [-1, 1]' } });
  for (const d of [trainSet, testSet]) { d.audio.dispose(); Object.values(d.labels).forEach((t) => t.dispose()); }
  g.dispose();
  return { model, testAccuracy, steps };
}

/** Loads the judge (default: the shipped one), in eval mode. */
export function loadInstrumentClassifier(file: string = shippedFile(AUDIO_CLASSIFIER_CHECKPOINT)): InstrumentClassifier {
  requireFile(file, 'loadInstrumentClassifier');
  const { model } = loadModel(file, AUDIO_CLASSIFIER_KIND, (c: InstrumentClassifierConfig) => new InstrumentClassifier(c), DEFAULT_INSTRUMENT_CLASSIFIER);
  model.eval();
  return model;
}

function batched<T>(n: number, size: number, f: (i: number, k: number) => T): T[] {
  const out: T[] = [];
  for (let i = 0; i < n; i += size) out.push(f(i, Math.min(size, n - i)));
  return out;
}

/** Fraction of clips whose argmax class is the given instrument. */
export function instrumentAccuracy(model: InstrumentClassifier, audio: Tensor, instruments: number[]): number {
  if (instruments.length !== audio.shape[0]) throw new RangeError(`instrumentAccuracy: ${audio.shape[0]} clips but ${instruments.length} labels`);
  const preds = noGrad(() => batched(audio.shape[0], 64, (i, k) => scope(() => Array.from(model.forward(audio.narrow(0, i, k)).argmax(1).dataSync())))).flat();
  return preds.filter((p, i) => p === instruments[i]).length / preds.length;
}

/** The judge's scores of generated notes: instrument accuracy, and the Fréchet distance of its features to real notes'. */
export function instrumentScore(model: InstrumentClassifier, audio: Tensor, instruments: number[], real: Tensor): { accuracy: number; frechet: number } {
  return noGrad(() => scope(() => {
    const feats = (x: Tensor) => torch.cat(batched(x.shape[0], 64, (i, k) => model.features(x.narrow(0, i, k))), 0);
    return { accuracy: instrumentAccuracy(model, audio, instruments), frechet: frechetDistance(featureStats(feats(audio)), featureStats(feats(real))) };
  }));
}
