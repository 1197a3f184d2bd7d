// The Fashion-MNIST reference classifier. Later issues use its penultimate features as the
// feature space for generative-model metrics ("classifier-FID"), so its architecture and the
// committed checkpoint are kept stable (see README).
import { Generator, Tensor, scope } from '../tensor';
import { ClassifierMetrics, classifierMetrics } from '../train/evaluate';
import { BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, Module, Sequential, ReLU, Flatten, init } from '../nn';

export interface ClassifierConfig {
  channels: [number, number, number];
  hidden: number;
  dropout: number;
  classes: number;
}
export const DEFAULT_CLASSIFIER: ClassifierConfig = { channels: [32, 64, 64], hidden: 128, dropout: 0.3, classes: 10 };
/** The `kind` in the config of a classifier's checkpoint. */
export const CLASSIFIER_KIND = 'fashion-classifier';

/**
 * (N, 1, 28, 28) images in [0, 1] -> (N, classes) logits:
 * conv3x3(c0)-BN-ReLU-pool2 · conv3x3(c1)-BN-ReLU-pool2 · conv3x3(c2)-BN-ReLU (default 32, 64, 64) · flatten · dropout · linear(hidden)-ReLU = features · dropout · linear(classes).
 */
export class FashionClassifier extends Module {
  body: Sequential;
  head: Sequential;
  out: Linear;
  drop: Dropout;
  readonly config: ClassifierConfig;

  constructor(config: Partial<ClassifierConfig> = {}, o: { generator?: Generator } = {}) {
    super();
    const c = { ...DEFAULT_CLASSIFIER, ...config };
    this.config = c;
    const g = o.generator;
    const heW = init.heNormal({ gain: 'relu' });
    const block = (cin: number, cout: number) => [
      new Conv2d(cin, cout, 3, { padding: 1, b: null, W: heW, generator: g }), new BatchNorm2d(cout), new ReLU(),
    ];
    this.body = new Sequential(
      ...block(1, c.channels[0]), new MaxPool2d(2),
      ...block(c.channels[0], c.channels[1]), new MaxPool2d(2),
      ...block(c.channels[1], c.channels[2]), new Flatten(),
    );
    this.drop = new Dropout(c.dropout, { generator: g });
    this.head = new Sequential(new Linear(c.channels[2] * 7 * 7, c.hidden, { W: heW, generator: g }), new ReLU());
    this.out = new Linear(c.hidden, c.classes, { generator: g });
  }

  /** Penultimate features (N, hidden): the space classifier-FID is computed in. */
  features(x: Tensor): Tensor {
    return scope(() => this.head(this.drop(this.body(normalize(x)))));
  }

  forward(x: Tensor): Tensor {
    return scope(() => this.out(this.drop(this.features(x))));
  }
}

// Fashion-MNIST training-set pixel mean and std (of [0, 1] pixels).
export const FASHION_MEAN = 0.2860;
export const FASHION_STD = 0.3530;
/** What forward() expects and does to its input first, as checkpoints record it (`config.input`). */
export const CLASSIFIER_INPUT = { range: [0, 1], mean: [FASHION_MEAN], std: [FASHION_STD], note: '(x - mean) / std inside forward(); uint8 input is divided by 255 first' };
function normalize(x: Tensor): Tensor {
  const f = x.dtype === 'uint8' ? x.float().div(255) : x;
  const out = f.sub(FASHION_MEAN).div(FASHION_STD);
  if (f !== x) f.dispose();
  return out;
}

/** Accuracy and mean log loss of `model` over a labelled set, in eval mode, in batches. */
export function evaluate(model: Module, images: Tensor, labels: Tensor, batchSize = 1000): ClassifierMetrics {
  return classifierMetrics(model, images, labels, { batchSize });
}
