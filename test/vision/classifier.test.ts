import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, functions as torch, memory, scope } from '../../src/tensor';
import { numParams, stateDict } from '../../src/nn';
import { fashionMnist } from '../../src/data';
import { FashionClassifier, evaluate } from '../../src/vision/classifier';
import { REFERENCE_CHECKPOINT, loadClassifier } from '../../src/vision';

const root = path.resolve(__dirname, '..', '..', '..');

test('the committed reference checkpoint classifies Fashion-MNIST test images', () => {
  const model = loadClassifier(path.join(root, REFERENCE_CHECKPOINT));
  const t = fashionMnist('test');
  const n = 2000;
  const r = scope(() => evaluate(model, t.images.narrow(0, 0, n), t.labels.narrow(0, 0, n)));
  assert.equal(r.n, n);
  // 92.80% on all 10,000; any 2,000 of them stay well above 90%
  assert.ok(r.accuracy > 0.9, `accuracy ${r.accuracy}`);
  assert.ok(r.logLoss < 0.3, `log loss ${r.logLoss}`);
});

test('architecture: parameter count, names, features and logits shapes', () => {
  const model = new FashionClassifier({}, { generator: new Generator(0) });
  assert.equal(numParams(model), 458730);
  const names = Object.keys(stateDict(model));
  assert.ok(names.includes('body.layers.0.W') && names.includes('out.W') && names.includes('body.layers.1.runningMean'), names.join(','));
  model.eval();
  const live = memory().liveTensors;
  scope(() => {
    const x = torch.rand([3, 1, 28, 28], { generator: new Generator(1) });
    assert.deepEqual(model.features(x).shape, [3, 128]);
    assert.deepEqual(model(x).shape, [3, 10]);
  });
  assert.equal(memory().liveTensors, live);
});

test('loadClassifier refuses a checkpoint of something else', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cls-'));
  const file = path.join(dir, 'x.safetensors');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { saveFile } = require('../../src/tensor/safetensors');
  saveFile(file, { a: torch.zeros([2]) }, { config: JSON.stringify({ kind: 'other' }) });
  assert.throws(() => loadClassifier(file), /not a (fashion-classifier|Refinery) checkpoint/);
});
