// PyTorch names derived from a module's structure: the rules, the BatchNorm counter, collisions,
// and a round trip through loadPytorchStateDict.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, scope } from '../../src/tensor';
import { BatchNorm2d, Conv2d, Embedding, GroupNorm, Linear, Module, ReLU, Sequential, stateDict } from '../../src/nn';
import { loadPytorchStateDict, pytorchNames, pytorchStateDict, snakeCase } from '../../src/nn/pytorch';

class Net extends Module {
  body: Sequential;
  outNorm: GroupNorm;
  classEmbed: Embedding;
  blocks: (Linear | null)[];
  constructor(g: Generator) {
    super();
    this.body = new Sequential(new Conv2d(1, 4, 3, { b: null, generator: g }), new BatchNorm2d(4), new ReLU());
    this.outNorm = new GroupNorm(2, 4);
    this.classEmbed = new Embedding(3, 4, { generator: g });
    this.blocks = [new Linear(4, 4, { generator: g }), null, new Linear(4, 2, { generator: g })];
  }
  forward(x: Tensor): Tensor {
    return x;
  }
}

test('names: Sequential children by index, W/b/gamma/beta as weight/bias, snake_case, arrays keep indices', () => {
  const names = Object.fromEntries(pytorchNames(new Net(new Generator(0))));
  assert.deepEqual(names, {
    'body.layers.0.W': 'body.0.weight',
    'body.layers.1.gamma': 'body.1.weight',
    'body.layers.1.beta': 'body.1.bias',
    'body.layers.1.runningMean': 'body.1.running_mean',
    'body.layers.1.runningVar': 'body.1.running_var',
    'outNorm.gamma': 'out_norm.weight',
    'outNorm.beta': 'out_norm.bias',
    'classEmbed.W': 'class_embed.weight',
    'blocks.0.W': 'blocks.0.weight',
    'blocks.0.b': 'blocks.0.bias',
    'blocks.2.W': 'blocks.2.weight',
    'blocks.2.b': 'blocks.2.bias',
  });
  assert.equal(snakeCase('midAttn'), 'mid_attn');
  assert.equal(snakeCase('embed1'), 'embed1');
  assert.equal(snakeCase('numBatchesTracked'), 'num_batches_tracked');
});

test('pytorchStateDict adds num_batches_tracked; loadPytorchStateDict round-trips, ignores it, and is strict', () => {
  const a = new Net(new Generator(1));
  const b = new Net(new Generator(2));
  scope(() => {
    const sd = pytorchStateDict(a, { numBatchesTracked: 12 });
    assert.equal(sd['body.1.num_batches_tracked'].dtype, 'int64');
    assert.equal(sd['body.1.num_batches_tracked'].item(), 12);
    loadPytorchStateDict(b, sd);
    const ours = stateDict(a), theirs = stateDict(b);
    for (const k of Object.keys(ours)) assert.deepEqual(theirs[k].toBytes(), ours[k].toBytes(), k);

    const { 'out_norm.bias': _dropped, ...missing } = sd;
    assert.throws(() => loadPytorchStateDict(b, missing), /loadPytorchStateDict: missing \[out_norm\.bias\], unexpected \[\]/);
    assert.throws(() => loadPytorchStateDict(b, { ...sd, 'module.x': torch.zeros([1]) }), /unexpected \[module\.x\]/);
    assert.deepEqual(loadPytorchStateDict(b, missing, { strict: false }), { missing: ['out_norm.bias'], unexpected: [] });
    assert.throws(() => loadPytorchStateDict(b, { ...sd, 'out_norm.weight': torch.zeros([5]) }),
      /loadPytorchStateDict: out_norm\.weight \(outNorm\.gamma\) has shape \[5\], expected \[4\]/);
  });
});

test('a state dict of another model: at most 12 names of each list, the count, and a hint that nothing matches', () => {
  const b = new Net(new Generator(2));
  scope(() => {
    const other: Record<string, Tensor> = {};
    for (let i = 0; i < 30; i++) other[`layer${i}.weight`] = torch.zeros([1]);
    assert.throws(() => loadPytorchStateDict(b, other), (err: Error) => {
      assert.match(err.message, /^loadPytorchStateDict: missing \[[^\]]*\], unexpected \[layer0\.weight, (layer\d+\.weight, ){11}\.\.\. 18 more \(30 in all\)\]; not one name matches: is it the state of another kind of model\?$/);
      return true;
    });
  });
});

test('two fields that map to one PyTorch name are an error naming both', () => {
  class Clash extends Module {
    W: Tensor = torch.zeros([1]);
    weight: Tensor = torch.zeros([1]);
    forward(x: Tensor): Tensor {
      return x;
    }
  }
  assert.throws(() => pytorchNames(new Clash()), /"W" and "weight" both map to "weight"/);
});
