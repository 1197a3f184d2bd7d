// The one shape-equality check (src/tensor/shape.ts): what it accepts, and that its error names the
// operation, the argument, both shapes and where the expected shape comes from.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { checkShape, formatShape, functions as torch, sameShape, scope } from '../../src/tensor';

test('sameShape compares rank and every dimension, for tensors and plain shapes alike', () => {
  scope(() => {
    assert.equal(sameShape([2, 3], [2, 3]), true);
    assert.equal(sameShape([], []), true, 'two scalars');
    assert.equal(sameShape([2, 3], [3, 2]), false);
    assert.equal(sameShape([6], [2, 3]), false, 'same number of elements is not the same shape');
    assert.equal(sameShape([2, 3], [2, 3, 1]), false, 'a trailing 1 changes the rank');
    assert.equal(sameShape([1], []), false);
    assert.equal(sameShape(torch.zeros([4, 0]), [4, 0]), true, 'a tensor against a list');
    assert.equal(sameShape(torch.zeros([4, 1]), torch.zeros([4])), false, 'no broadcasting');
  });
});

test('checkShape passes silently on equal shapes and names op, argument, shapes and reason otherwise', () => {
  scope(() => {
    checkShape('op', 'x', torch.zeros([2, 3]), [2, 3]);
    assert.throws(() => checkShape('Adam.loadStateDict', 'exp_avg.0', torch.zeros([2, 3]), torch.zeros([3, 2]), 'the shape of parameter 0'),
      (e: Error) => e.message === 'Adam.loadStateDict: exp_avg.0 has shape [2, 3], expected [3, 2] (the shape of parameter 0)');
    assert.throws(() => checkShape('f', 'y', [], [1]), (e: Error) => e.message === 'f: y has shape [], expected [1]');
  });
  assert.equal(formatShape([1, 28, 28]), '[1, 28, 28]');
});
