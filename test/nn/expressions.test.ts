// The four examples of "arbitrary expressions as layer parameters" (Dieleman & Schlüter 2015),
// each trained for a few hundred steps: tied autoencoder weights, a low-rank factorised weight,
// positive weights (exp and softplus of a learned tensor) and positive semi-definite weights.
// The constraint must hold after training, the loss must fall, and gradients must reach the
// learnable tensors underneath the expression.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { F, Generator, Tensor, functions as torch, noGrad, scope, tensor } from '../../src/tensor';
import * as nn from '../../src/nn';
import { Module, Parameter, expr, init, makeParam, namedParams, numParams, params, stateDict, value } from '../../src/nn';
import { Adam } from '../../src/optim';

/** Full-batch training: returns the loss before the first and after the last step. */
function train(model: Module, loss: () => Tensor, steps: number, lr: number): { first: number; last: number } {
  const opt = new Adam(model, { lr });
  let first = NaN, last = NaN;
  for (let s = 0; s <= steps; s++) {
    const l = scope(() => {
      opt.zeroGrad();
      const L = loss();
      if (s < steps) {
        L.backward();
        opt.step();
      }
      return L.item();
    });
    if (s === 0) first = l;
    last = l;
  }
  opt.dispose();
  return { first, last };
}

/** After one backward pass, every learnable leaf has a non-zero gradient. */
function assertGradientsReach(model: Module, loss: () => Tensor, leaves: Parameter[]): void {
  scope(() => {
    for (const p of leaves) p.zeroGrad();
    loss().backward();
    for (const p of leaves) {
      const g = p.grad;
      assert.ok(g !== null, 'a leaf under the expression got no gradient');
      assert.ok(g.abs().sum().item() > 0, 'a leaf under the expression got a zero gradient');
    }
    for (const p of params(model)) p.zeroGrad();
  });
}

const param = (shape: number[], initializer: nn.Initializer, generator: Generator): Parameter =>
  makeParam(initializer, shape, 'w', { generator }) as Parameter;

test('tied-weight autoencoder: decoder W = encoder Wᵀ, one learnable matrix, still tied after training', () => {
  scope(() => {
    const g = new Generator(1);
    // data near a 4-dimensional subspace of R^16
    const z = torch.randn([128, 4], { generator: g });
    const basis = torch.randn([4, 16], { generator: g }).mul(0.4);
    const X = z.matmul(basis).add(torch.randn([128, 16], { generator: g }).mul(0.05));

    const enc = new nn.Linear(16, 6, { generator: g });
    const dec = new nn.Linear(6, 16, { W: expr((w) => w.t(), enc.W) }); // l3 = DenseLayer(l2, 784, W=l2.W.T)
    const ae = new nn.Sequential(enc, new nn.Tanh(), dec);

    assert.deepEqual(namedParams(ae).map(([k]) => k), ['layers.0.W', 'layers.0.b', 'layers.2.b']);
    assert.deepEqual(params(ae).filter((p) => p.ndim === 2), [enc.W], 'exactly one learnable matrix');
    assert.deepEqual(Object.keys(stateDict(ae)), ['layers.0.W', 'layers.0.b', 'layers.2.b']);

    const loss = () => F.mseLoss(ae(X), X);
    const { first, last } = train(ae, loss, 300, 1e-2);
    assert.ok(last < 0.2 * first, `reconstruction loss ${first} -> ${last}`);

    // the expression is re-evaluated on every call: the decoder sees the trained encoder weight
    const W = value(dec.W);
    assert.deepEqual(W.shape, [16, 6]);
    assert.deepEqual(W.dataSync(), (enc.W as Tensor).t().dataSync(), 'decoder W equals encoder Wᵀ exactly');

    // the shared matrix gets the gradient of both of its uses
    assertGradientsReach(ae, loss, [enc.W as Parameter]);
    const [gTied] = scope(() => {
      for (const p of params(ae)) p.zeroGrad();
      loss().backward();
      return [(enc.W as Tensor).grad!];
    });
    const gSum = scope(() => {
      // the same network with an untied copy of the weight in each place: the tied gradient is the sum
      const W1 = (enc.W as Tensor).detach().requiresGrad_(true), W2 = (enc.W as Tensor).detach().requiresGrad_(true);
      const h = F.linear(X, W1, value(enc.b)).tanh();
      F.mseLoss(F.linear(h, W2.t(), value(dec.b)), X).backward();
      return W1.grad!.add(W2.grad!);
    });
    assert.ok(gTied.sub(gSum).abs().max().item() < 1e-6, 'tied gradient = encoder-use + decoder-use gradients');
    for (const p of params(ae)) p.zeroGrad();
  });
});

test('low-rank factorisation: W = w1 · w2 with 784x100 and 100x500 has 128,400 weights instead of 392,000', () => scope(() => {
  const g = new Generator(2);
  const glorot = init.glorotUniform();
  /** A Linear layer whose (out, in) weight is the product of an (in, rank) and a (rank, out) matrix. */
  const factorised = (nIn: number, rank: number, nOut: number) => {
    const w1 = param([nIn, rank], glorot, g);
    const w2 = param([rank, nOut], glorot, g);
    // the post's T.dot(w1, w2) is (in, out); Linear keeps (out, in), hence the transpose
    return { w1, w2, layer: new nn.Linear(nIn, nOut, { W: expr((a, b) => a.matmul(b).t(), w1, w2) }) };
  };
  const { w1, w2, layer: l2 } = factorised(784, 100, 500);
  const plain = new nn.Linear(784, 500, { generator: g });
  assert.equal(numParams(l2, { regularizable: true }), 128400);
  assert.equal(numParams(plain, { regularizable: true }), 392000);
  assert.equal(numParams(l2), 128400 + 500, 'plus the bias');
  assert.deepEqual(params(l2), [w1, w2, l2.b]);
  assert.deepEqual(Object.keys(stateDict(l2)), ['W.0', 'W.1', 'b'], 'expression inputs are named by position');
  const sv = noGrad(() => torch.linalgSvdvals(value(l2.W)).dataSync());
  assert.equal(sv.filter((s) => s > 1e-4 * sv[0]).length, 100, 'the effective weight has rank 100');

  // training, at a size that keeps the test fast: regress onto a rank-3 linear map of the input
  const small = factorised(48, 6, 32);
  const X = torch.randn([128, 48], { generator: g });
  const target = X.matmul(torch.randn([48, 3], { generator: g })).matmul(torch.randn([3, 32], { generator: g })).mul(0.2);
  const loss = () => F.mseLoss(small.layer(X), target);
  const { first, last } = train(small.layer, loss, 300, 1e-2);
  assert.ok(last < 0.05 * first, `loss ${first} -> ${last}`);
  assertGradientsReach(small.layer, loss, [small.w1, small.w2]);
}));

for (const [name, positive] of [
  ['exp', (w: Tensor) => w.exp()],
  ['softplus', (w: Tensor) => F.softplus(w)],
] as const) {
  test(`positive weights via ${name}: every effective weight stays > 0 through training`, () => scope(() => {
    const g = new Generator(3);
    // a target map with mixed signs: an unconstrained layer would learn negative weights
    const X = torch.rand([256, 12], { generator: g });
    const Wtrue = torch.randn([5, 12], { generator: g });
    const Y = X.matmul(Wtrue.t());

    const w = param([5, 12], init.normal(0.01, -10), g); // learn the logarithm, as in the post: Normal(0.01, mean=-10)
    const layer = new nn.Linear(12, 5, { W: expr(positive, w) });
    const loss = () => F.mseLoss(layer(X), Y);
    const { first, last } = train(layer, loss, 300, 5e-2);
    assert.ok(last < 0.5 * first, `loss ${first} -> ${last}`);
    const W = value(layer.W);
    assert.ok(W.min().item() > 0, `smallest effective weight ${W.min().item()}`);
    assertGradientsReach(layer, loss, [w]);

    const free = new nn.Linear(12, 5, { generator: g });
    train(free, () => F.mseLoss(free(X), Y), 300, 5e-2);
    assert.ok((free.W as Tensor).min().item() < 0, 'the unconstrained layer does go negative on this task');
  }));
}

test('positive semi-definite weights w · wᵀ: eigenvalues stay >= 0 through training', () => scope(() => {
  const g = new Generator(4);
  const l2 = new nn.Linear(8, 8, { generator: g });
  const w = param([8, 8], init.glorotUniform(), g);
  const l3 = new nn.Linear(8, 8, { W: expr((a) => a.matmul(a.t()), w) });
  const net = new nn.Sequential(l2, new nn.Tanh(), l3);
  assert.deepEqual(namedParams(net).map(([k]) => k), ['layers.0.W', 'layers.0.b', 'layers.2.W.0', 'layers.2.b']);

  // the target's last layer is symmetric with negative eigenvalues: the best PSD fit clips them
  const X = torch.randn([128, 8], { generator: g });
  const q = torch.linalgQr(torch.randn([8, 8], { generator: g }))[0];
  const S = q.mul(tensor([2, 1.5, 1, 0.5, -0.5, -1, -1.5, -2])).matmul(q.t());
  const Y = l2(X).detach().tanh().matmul(S);
  const loss = () => F.mseLoss(net(X), Y);
  const { first, last } = train(net, loss, 300, 1e-2);
  assert.ok(last < first, `loss ${first} -> ${last}`);
  const W = value(l3.W);
  const eig = torch.linalgEigvalsh(W.double()).dataSync();
  assert.ok(Math.min(...eig) >= -1e-5, `eigenvalues ${eig.map((e) => e.toFixed(6)).join(', ')}`);
  assert.ok(Math.max(...eig) > 0.1, 'not collapsed to zero');
  assertGradientsReach(net, loss, [w]);
}));
