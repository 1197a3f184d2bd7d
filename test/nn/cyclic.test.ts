// Cyclic slice / roll / pool (src/nn/layers/cyclic.ts): the group tables against the composition of
// the actual image transforms; transformed inputs permute the views exactly as the Cayley table says,
// through convolutions, pooling and rolls; rolled maps align bit for bit where pooling commutes with
// rotation; the pooled output is invariant to float precision (bound derived below); bad input.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, gradcheck, memory, scope, tensor } from '../../src/tensor';
import * as nn from '../../src/nn';
import { CYCLIC, DIHEDRAL, CyclicConvRoll, CyclicPool, CyclicRoll, CyclicSlice, ViewGroup, ViewGroupName } from '../../src/nn';

const U = 2 ** -24; // float32 unit roundoff
const GROUPS: [ViewGroupName, ViewGroup][] = [['cyclic', CYCLIC], ['dihedral', DIHEDRAL]];

/** The Cayley table found by composing the image transforms: table[g][h] = m with T_g T_h x == T_m x. */
function observedTable(G: ViewGroup): number[][] {
  return scope(() => {
    const x = torch.arange(25, { dtype: 'float32' }).reshape([1, 1, 5, 5]); // distinct values: T_m x identifies m
    const images = Array.from({ length: G.order }, (_, m) => G.apply(x, m));
    return images.map((_, g) => images.map((_, h) => {
      const gh = G.apply(G.apply(x, h), g);
      const hits = images.flatMap((im, m) => (gh.equal(im) ? [m] : []));
      assert.equal(hits.length, 1, `T_${g} T_${h} x matches ${hits.length} group elements`);
      return hits[0];
    }));
  });
}

/** View g of a (V·N, ...) batch. */
const view = (t: Tensor, V: number, g: number): Tensor => t.chunk(V, 0)[g];

function assertSame(a: Tensor, b: Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  assert.ok(a.equal(b), `${what}: not bit for bit equal`);
}

for (const [name, G] of GROUPS) {
  test(`${name}: multiplication table equals the composition of the image transforms`, () => {
    const table = observedTable(G);
    for (let g = 0; g < G.order; g++) {
      for (let h = 0; h < G.order; h++) assert.equal(G.mul(g, h), table[g][h], `${g}·${h}`);
      assert.equal(G.mul(g, G.inv(g)), 0, `${g}·${g}^-1`);
    }
    const abelian = table.every((row, g) => row.every((m, h) => m === table[h][g]));
    assert.equal(abelian, name === 'cyclic', 'C4 is abelian, D4 is not');
  });

  test(`${name}: CyclicSlice stacks T_g x view-major`, () => scope(() => {
    const x = torch.randn([2, 3, 7, 7], { generator: new Generator(1) });
    const y = new CyclicSlice({ group: name })(x);
    assert.deepEqual(y.shape, [2 * G.order, 3, 7, 7]);
    for (let g = 0; g < G.order; g++) assertSame(view(y, G.order, g), G.apply(x, g), `view ${g}`);
    assertSame(view(y, G.order, 0), x, 'view 0 is the input');
  }));

  test(`${name}: CyclicRoll block k of view g is view k·g`, () => scope(() => {
    const V = G.order, x = torch.randn([V * 3, 5], { generator: new Generator(2) });
    const y = new CyclicRoll({ group: name })(x);
    assert.deepEqual(y.shape, [V * 3, V * 5]);
    const table = observedTable(G);
    for (let g = 0; g < V; g++) {
      for (let k = 0; k < V; k++) assertSame(view(y, V, g).narrow(1, 5 * k, 5), view(x, V, table[k][g]), `view ${g} block ${k}`);
    }
    if (name === 'cyclic') assertSame(view(y, V, 1).narrow(1, 5, 5), view(x, V, 2), 'C4: view 1 block 1 is view 2 (the cyclic shift)');
  }));

  // slice -> conv -> leaky relu -> 3x3/2 max pool -> conv roll -> conv -> pool -> conv roll -> dense -> roll.
  // Every per-view layer computes each row from that row alone, and slice and rolls only move values,
  // so a transformed input T_h x must give exactly the views of x permuted by right multiplication:
  // out(T_h x)_g = out(x)_{g·h}, with g·h read from the observed Cayley table.
  const makeNet = (V: number, roll: nn.Module = new CyclicConvRoll({ group: name })) => {
    const gen = new Generator(11);
    return new nn.Sequential(
      new CyclicSlice({ group: name }),
      new nn.Conv2d(2, 4, 3, { padding: 1, generator: gen }), new nn.LeakyReLU(1 / 3), new nn.MaxPool2d(3, { stride: 2 }), // 15 -> 7
      roll,
      new nn.Conv2d(4 * V, 4, 3, { padding: 1, generator: gen }), new nn.LeakyReLU(1 / 3), new nn.MaxPool2d(3, { stride: 2 }), // 7 -> 3
      new CyclicConvRoll({ group: name }),
      new nn.Flatten(), new nn.Linear(4 * V * 9, 6, { generator: gen }),
      new CyclicRoll({ group: name }),
    );
  };

  test(`${name}: a transformed input permutes the views by the Cayley table, bit for bit`, () => scope(() => {
    const V = G.order, table = observedTable(G), net = makeNet(V);
    const x = torch.randn([3, 2, 15, 15], { generator: new Generator(3) });
    const y = net(x);
    assert.deepEqual(y.shape, [3 * V, 6 * V]);
    for (let h = 0; h < V; h++) {
      const yh = net(G.apply(x, h));
      for (let g = 0; g < V; g++) assertSame(view(yh, V, g), view(y, V, table[g][h]), `input T_${h}: view ${g}`);
    }
  }));

  test(`${name}: rolled maps align exactly where max pooling commutes with the group (odd sizes, 3x3/2)`, () => scope(() => {
    // Max pooling 3x3/2 on 15x15 samples a grid symmetric under every T_g, and max is exact, so
    // pool(T_g x) = T_g pool(x) bit for bit; every block of the roll is then view g's own maps.
    const V = G.order, x = torch.randn([2, 3, 15, 15], { generator: new Generator(4) });
    const pool = new nn.MaxPool2d(3, { stride: 2 });
    const y = new CyclicConvRoll({ group: name })(pool(new CyclicSlice({ group: name })(x))); // (V·2, V·3, 7, 7)
    for (let g = 0; g < V; g++) {
      const own = view(y, V, g).narrow(1, 0, 3);
      assertSame(own, G.apply(pool(x), g), `view ${g} is T_g pool(x)`);
      for (let k = 1; k < V; k++) assertSame(view(y, V, g).narrow(1, 3 * k, 3), own, `view ${g} block ${k}`);
    }
    // On 14x14 the 3x3/2 grid (centres 1, 3, ..., 11) is not symmetric: the blocks disagree.
    const z = new CyclicConvRoll({ group: name })(pool(new CyclicSlice({ group: name })(x.narrow(2, 0, 14).narrow(3, 0, 14).contiguous())));
    assert.ok(!view(z, V, 0).narrow(1, 3 * 2, 3).equal(view(z, V, 0).narrow(1, 0, 3)), '14x14: the 180° block is misaligned');
  }));

  for (const pool of ['max', 'mean', 'rms'] as const) {
    test(`${name}: the network after CyclicPool(${pool}) is invariant to the group`, () => scope(() => {
      const V = G.order, net = makeNet(V), cp = new CyclicPool({ group: name, pool });
      const x = torch.randn([3, 2, 15, 15], { generator: new Generator(5) });
      const z = net(x); // (V·3, 6V): the views are permuted exactly by a transform (test above)
      const out = cp(z);
      assert.deepEqual(out.shape, [3, 6 * V]);
      // Pooling V permuted values: max is exact. A sum of V terms in any order is within
      // γ_{V-1}·Σ|z| ≈ (V-1)u·Σ|z| of the exact sum (Higham), so two orders differ by 2(V-1)u·Σ|z|;
      // dividing by V (a power of 2) is exact, and the final rounding adds u·|mean| to each side:
      // |Δmean| ≤ 2V·u·mean|z|. For rms the squares are bitwise equal and positive, the mean square
      // differs by ≤ 2(V-1)u relatively, + eps and the root add ≤ 2u each side, the root halves the
      // rest: |Δrms| ≤ (V + 2)·u·rms.
      const absMean = z.abs().reshape([V, 3, 6 * V]).mean(0);
      const tol = pool === 'max' ? null : pool === 'mean' ? absMean.mul(2 * V * U) : out.mul((V + 2) * U);
      for (let h = 1; h < V; h++) {
        const oh = cp(net(G.apply(x, h)));
        if (tol === null) assertSame(oh, out, `T_${h}`);
        else {
          const excess = oh.sub(out).abs().sub(tol).max().item() as number;
          assert.ok(excess <= 0, `T_${h}: exceeds the bound by ${excess}`);
        }
      }
      if (name === 'cyclic') {
        // a flip is not in C4: the cyclic network is not invariant to it
        const flipped = cp(net(x.flip([3])));
        assert.ok((flipped.sub(out).abs().max().item() as number) > 1e-3, 'C4 network should see flips');
      }
    }));
  }
}

test('dihedral: the 2015 roll (cyclic index shift g+k mod 8) breaks the view permutation; ours keeps it', () => scope(() => {
  // What the kaggle-ndsb code did for 8 views: block k of view g from view (g + k) mod 8, rotated back
  // as for the cyclic group. For flips, g + k is not the group product k·g.
  class ShiftRoll extends nn.Module {
    forward(x: Tensor): Tensor {
      const G = DIHEDRAL, views = x.chunk(8, 0);
      return torch.cat(Array.from({ length: 8 }, (_, k) =>
        G.apply(torch.cat(Array.from({ length: 8 }, (_, g) => views[(g + k) % 8]), 0), G.inv(k))), 1);
    }
  }
  const G = DIHEDRAL, V = 8, table = observedTable(G);
  const gen = new Generator(12);
  const net = (roll: nn.Module) => new nn.Sequential(new CyclicSlice({ group: 'dihedral' }),
    new nn.Conv2d(1, 2, 3, { padding: 1, generator: new Generator(12) }), roll,
    new nn.Conv2d(2 * V, 3, 3, { padding: 1, generator: gen }));
  const x = torch.randn([2, 1, 9, 9], { generator: new Generator(6) });
  const permutes = (m: nn.Module) => {
    const y = m(x);
    for (let h = 0; h < V; h++) {
      const yh = m(G.apply(x, h));
      for (let g = 0; g < V; g++) if (!view(yh, V, g).equal(view(y, V, table[g][h]))) return false;
    }
    return true;
  };
  assert.equal(permutes(net(new ShiftRoll())), false, 'the index-shift roll should fail');
  assert.equal(permutes(net(new CyclicConvRoll({ group: 'dihedral' }))), true);
}));

test('CyclicPool: values of mean, max and rms over the views; finite gradient of rms at zero', () => scope(() => {
  const x = tensor([[1, -2], [3, 4], [-5, 0], [1, 2]], { dtype: 'float32' }); // 4 views of one example, 2 features
  assert.deepEqual(Array.from(new CyclicPool({ pool: 'max' })(x).dataSync()), [3, 4]);
  assert.deepEqual(Array.from(new CyclicPool({ pool: 'mean' })(x).dataSync()), [0, 1]);
  const rms = Array.from(new CyclicPool({ pool: 'rms', eps: 0 })(x).dataSync() as ArrayLike<number>);
  assert.ok(Math.abs(rms[0] - 3) < 4 * U * 3 && Math.abs(rms[1] - Math.sqrt(6)) < 4 * U * 3, `${rms}`); // sqrt(36/4), sqrt(24/4)
  const z = torch.zeros([8, 3], { requiresGrad: true });
  new CyclicPool({ pool: 'rms' })(z).sum().backward();
  assert.ok((z.grad as Tensor).isfinite().all().item(), 'rms gradient at all-zero views');
}));

test('cyclic layers: clear errors for non-square maps, batch sizes and options', () => scope(() => {
  const rect = torch.zeros([4, 1, 5, 6]);
  assert.throws(() => new CyclicSlice()(rect), /CyclicSlice: input maps must be square .* 5x6/);
  assert.throws(() => new CyclicConvRoll()(rect), /CyclicConvRoll: input maps must be square .* 5x6/);
  assert.throws(() => new CyclicSlice()(torch.zeros([2, 5, 5])), /CyclicSlice: input must be \(N, C, H, W\), got shape \[2, 5, 5\]/);
  assert.throws(() => new CyclicConvRoll()(torch.zeros([6, 1, 5, 5])), /CyclicConvRoll: batch size 6 .* divisible by the 4 views of the cyclic group/);
  assert.throws(() => new CyclicRoll({ group: 'dihedral' })(torch.zeros([12, 3])), /CyclicRoll: batch size 12 .* divisible by the 8 views of the dihedral group/);
  assert.throws(() => new CyclicRoll()(torch.zeros([4, 1, 3, 3])), /CyclicRoll: input must be \(V·N, F\) \(use CyclicConvRoll/);
  assert.throws(() => new CyclicPool()(torch.zeros([5, 2])), /CyclicPool: batch size 5 .* divisible by the 4 views/);
  assert.throws(() => new CyclicPool({ pool: 'median' as never }), /CyclicPool: option pool must be 'mean', 'max' or 'rms', got "median"/);
  assert.throws(() => new CyclicSlice({ group: 'D8' as never }), /CyclicSlice: option group must be 'cyclic' or 'dihedral', got "D8"/);
}));

test('cyclic layers: float64 gradcheck of slice, rolls and pools; flat memory across calls', () => scope(() => {
  const gen = new Generator(8);
  const randn = (...shape: number[]) => torch.randn(shape, { generator: gen, dtype: 'float64' }).requiresGrad_(true);
  const cases: [string, (x: Tensor) => Tensor, Tensor][] = [];
  for (const [name, G] of GROUPS) {
    const V = G.order;
    cases.push([`${name} CyclicSlice`, (x) => new CyclicSlice({ group: name })(x), randn(1, 2, 3, 3)]);
    cases.push([`${name} CyclicConvRoll`, (x) => new CyclicConvRoll({ group: name })(x), randn(V, 2, 3, 3)]);
    cases.push([`${name} CyclicRoll`, (x) => new CyclicRoll({ group: name })(x), randn(V * 2, 3)]);
    for (const pool of ['mean', 'rms', 'max'] as const) {
      // max: the views' values are distinct with probability 1, so the max is differentiable there
      cases.push([`${name} CyclicPool(${pool})`, (x) => new CyclicPool({ group: name, pool })(x), randn(V * 2, 3)]);
    }
  }
  for (const [what, f, x] of cases) {
    const r = gradcheck(f, [x]);
    assert.ok(r.ok, `${what}: gradcheck failed (max error ${r.maxError})`);
    scope(() => f(x).square().sum().backward()); // warm-up: x.grad exists from here on
    const before = memory().liveTensors;
    for (let k = 0; k < 3; k++) scope(() => f(x).square().sum().backward());
    assert.equal(memory().liveTensors, before, `${what}: live tensors grew`);
  }
}));
