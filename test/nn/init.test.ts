// Initializers: values identical to torch.nn.init for the same seed, orthogonality W W^T = gain^2 I,
// the spread of Glorot/He draws against their formulas, fans of linear and (grouped) conv weights,
// determinism from an explicit generator, and integration with makeParam.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, memory, scope } from '../../src/tensor';
import { Parameter, makeParam } from '../../src/nn';
import {
  constant, fans, gainValue, glorotNormal, glorotUniform, heNormal, heUniform, leakyRelu, normal, ones, orthogonal,
  uniform, zeros,
} from '../../src/nn/init';
import type { Initializer } from '../../src/nn/param';

const INITS: Record<string, Initializer> = {
  "orthogonal({ gain: 'relu' })": orthogonal({ gain: 'relu' }),
  'orthogonal()': orthogonal(),
  'orthogonal({ gain: 0.5 })': orthogonal({ gain: 0.5 }),
  'glorotUniform()': glorotUniform(),
  "glorotNormal({ gain: 'tanh' })": glorotNormal({ gain: 'tanh' }),
  "heUniform({ mode: 'fanOut', gain: leakyRelu(0.2) })": heUniform({ mode: 'fanOut', gain: leakyRelu(0.2) }),
  'heNormal()': heNormal(),
  'normal(0.1, 0.5)': normal(0.1, 0.5),
  'uniform([-0.3, 0.7])': uniform([-0.3, 0.7]),
};

// [initializer, seed, shape, values] from Python PyTorch 1.13 after torch.manual_seed(seed), e.g.
// torch.nn.init.orthogonal_(torch.empty(3, 5), gain=math.sqrt(2)); kaiming_uniform_(w, a=0.2, mode='fan_out')
const TORCH: [string, number, number[], number[]][] = [
  ["orthogonal({ gain: 'relu' })", 0, [3, 5], [0.7385457754135132, -0.14063024520874023, -1.044217824935913, 0.27242928743362427, -0.5197737812995911, -0.7586965560913086, 0.29778024554252625, -0.20208294689655304, -0.5073753595352173, -1.0185476541519165, -0.6235499978065491, 0.0937066599726677, -0.06456609070301056, 1.2583004236221313, -0.12212848663330078]],
  ["orthogonal()", 1, [5, 2], [0.32984375953674316, 0.22813743352890015, 0.030761005356907845, 0.6407185196876526, -0.22538423538208008, -0.13899949193000793, -0.7594677209854126, 0.5094409584999084, -0.5125110149383545, -0.5085097551345825]],
  ["orthogonal({ gain: 0.5 })", 2, [4, 2, 3], [-0.18748551607131958, 0.16511321067810059, -0.2349313646554947, -0.1998927891254425, -0.21954555809497833, 0.2103251814842224, -0.21795596182346344, -0.12990723550319672, -0.11556724458932877, 0.3196547329425812, -0.22000710666179657, -0.1472456157207489, 0.09177371859550476, 0.00976561289280653, -0.04184196889400482, -0.24568898975849152, -0.17292732000350952, -0.3866063952445984, 0.14879989624023438, 0.32803821563720703, -0.24833205342292786, 0.18295501172542572, 0.12245901674032211, -0.10055804997682571]],
  ["glorotUniform()", 3, [4, 3], [-0.9179255962371826, -0.7303436398506165, -0.39654266834259033, -0.8759094476699829, -0.0525599904358387, -0.8145063519477844, 0.5033977627754211, 0.4512435495853424, 0.17483410239219666, 0.7181710004806519, -0.09067236632108688, 0.5545489192008972]],
  ["glorotNormal({ gain: 'tanh' })", 4, [3, 4, 2], [-0.5930366516113281, 0.7957707047462463, -0.1157638356089592, 0.09480952471494675, 0.06772004067897797, -0.17514391243457794, -1.6391911506652832, 0.39337125420570374, -0.4483053386211395, 0.2739885151386261, 1.0203924179077148, 0.18827342987060547, -0.5114924907684326, 0.28626683354377747, 1.1545878648757935, -0.8420839309692383, 1.3668668270111084, -0.7392739653587341, -0.2466825544834137, 0.9030928015708923, 1.4214613437652588, -0.43848779797554016, -0.804331362247467, -0.9184440970420837]],
  ["heUniform({ mode: 'fanOut', gain: leakyRelu(0.2) })", 5, [4, 3, 2, 2], [0.39661964774131775, -0.4490262567996979, 0.48935526609420776, 0.3842199444770813, 0.5045278668403625, -0.4603941738605499, -0.40305274724960327, 0.2857319414615631, -0.5605310201644897, 0.5934966206550598, 0.1278165727853775, 0.0775475725531578, -0.5135163068771362, 0.19135987758636475, 0.2582135498523712, 0.0952693447470665, 0.5775745511054993, 0.1803346872329712, -0.5324654579162598, 0.50453782081604, 0.2038809359073639, -0.2864615023136139, -0.5515831708908081, 0.3423168957233429, 0.5706502795219421, -0.4919806122779846, 0.03281665965914726, 0.21543584764003754, -0.28357014060020447, -0.13138961791992188, -0.4009588062763214, -0.283888041973114, -0.5474384427070618, -0.013916710391640663, 0.35604041814804077, 0.2920575737953186, 0.5640965104103088, -0.5273736715316772, -0.07388432323932648, 0.5846459269523621, 0.0983283668756485, -0.1693340539932251, -0.5407986044883728, 0.27943021059036255, 0.45586830377578735, 0.4815096855163574, 0.5026975870132446, 0.11756038665771484]],
  ["heNormal()", 6, [4, 3], [-1.530440092086792, -0.8113226294517517, 0.5866260528564453, -0.5702852010726929, -1.2015198469161987, 0.14509162306785583, 1.188552737236023, 0.5228134989738464, 1.5803539752960205, -0.9309324026107788, -0.13523264229297638, 0.32002660632133484]],
  ["normal(0.1, 0.5)", 7, [2, 3], [0.48532047867774963, 0.5786141157150269, 0.5946821570396423, 0.3885655999183655, 0.6690790057182312, 0.41051721572875977]],
  ["uniform([-0.3, 0.7])", 8, [5], [0.29792726039886475, 0.5452961325645447, 0.6464102268218994, -0.003469705581665039, 0.21380186080932617]],
];

for (const [name, seed, shape, expected] of TORCH) {
  test(`${name} draws what torch.nn.init draws for the same seed (shape [${shape}])`, () => scope(() => {
    const w = INITS[name](shape, { generator: new Generator(seed) });
    assert.deepEqual(w.shape, shape);
    assert.equal(w.dtype, 'float32');
    assert.equal(w.requiresGrad, false);
    // Bit for bit on AVX2/AVX-512 builds. Elsewhere (ATEN_CPU_CAPABILITY=default) normal_ takes the
    // scalar Box-Muller (libm instead of Sleef, ≤ 64·ε·std: see test/tensor/ops.test.ts), uniform_
    // rounds u·(b − a) + a twice (≤ 2 ulp), and orthogonal's Householder QR of a normal draw of at
    // most 6×4 adds ≲ m·n·ε: all ≤ 64·ε·max|w| (max|w| ≥ std in every draw here). A wrong fan, gain
    // or bound scales the values by ≥ 1%, and a wrong stream changes them by O(1).
    const got = w.dataSync(), tol = 64 * 2 ** -23 * Math.max(...expected.map(Math.abs));
    got.forEach((v, k) => assert.ok(Math.abs(v - expected[k]) <= tol, `${name}[${k}]: ${v} vs ${expected[k]} (tol ${tol})`));
  }));
}

/** max |A - c I| */
function offIdentity(a: Tensor, c: number): number {
  return scope(() => a.sub(torch.eye(a.size(0), { dtype: a.dtype }).mul(c)).abs().max().item());
}

test('orthogonal: W W^T = gain^2 I (rows <= cols) and W^T W = gain^2 I (rows >= cols), kernels flattened', () => scope(() => {
  const gen = new Generator(11);
  const cases: [number[], number][] = [[[16, 16], Math.SQRT2], [[8, 20], 1], [[20, 8], 2], [[8, 4, 3, 3], leakyRelu(0.1)], [[1, 5], 1]];
  for (const [shape, gain] of cases) {
    const w = orthogonal({ gain })(shape, { generator: gen, dtype: 'float64' });
    assert.deepEqual(w.shape, shape);
    assert.equal(w.dtype, 'float64');
    const m = w.reshape([shape[0], -1]); // (rows, cols) as PyTorch flattens
    const [rows, cols] = m.shape;
    if (rows <= cols) assert.ok(offIdentity(m.matmul(m.t()), gain * gain) < 1e-12, `[${shape}] W W^T`);
    if (rows >= cols) assert.ok(offIdentity(m.t().matmul(m), gain * gain) < 1e-12, `[${shape}] W^T W`);
  }
  assert.ok(Math.abs(gainValue('relu') - Math.SQRT2) < 1e-15);
  const r = orthogonal({ gain: 'relu' })([6, 6], { generator: gen, dtype: 'float64' });
  assert.ok(offIdentity(r.matmul(r.t()), 2) < 1e-12, "gain: 'relu' is sqrt(2)");
  assert.throws(() => orthogonal()([5], {}), /at least 2 dimensions/);
}));

test('orthogonal: the sign correction makes R = W^T A upper triangular with a positive diagonal', () => scope(() => {
  // W is Q of the unique QR of the Gaussian draw A (diag R > 0); without the correction, LAPACK's
  // Householder signs would make some of R's diagonal negative and bias the distribution of W.
  for (const [shape, seed] of [[[6, 6], 1], [[7, 3], 2], [[3, 7], 3]] as [number[], number][]) {
    const w = orthogonal()(shape, { generator: new Generator(seed), dtype: 'float64' });
    const a = torch.randn(shape, { generator: new Generator(seed), dtype: 'float64' }); // the same draw
    const [q, m] = shape[0] < shape[1] ? [w.t(), a.t()] : [w, a]; // QR is of the tall orientation
    const r = q.t().matmul(m);
    assert.ok(r.tril(-1).abs().max().item() < 1e-12, `[${shape}]: R is upper triangular`);
    assert.ok(r.diagonal().min().item() > 0, `[${shape}]: diag R > 0`);
  }
}));

test('fans as PyTorch computes them: linear (out, in), conv (out, in/groups, ...k)', () => {
  assert.deepEqual(fans([10, 3]), { fanIn: 3, fanOut: 10 });
  assert.deepEqual(fans([16, 8, 3, 3]), { fanIn: 72, fanOut: 144 });
  assert.deepEqual(fans([16, 2, 3, 3]), { fanIn: 18, fanOut: 144 }, 'a conv with groups=4 over 8 input channels');
  assert.deepEqual(fans([4, 6, 5]), { fanIn: 30, fanOut: 20 });
  assert.deepEqual(fans([2, 3, 2, 2, 2]), { fanIn: 24, fanOut: 16 });
  assert.throws(() => fans([7]), /at least 2 dimensions/);
  assert.throws(() => glorotUniform()([7], {}), /at least 2 dimensions/);
});

function stats(w: Tensor): { std: number; mean: number; absMax: number } {
  return scope(() => ({ std: w.std().item(), mean: w.mean().item(), absMax: w.abs().max().item() }));
}

test('Glorot and He: bounds and standard deviations follow the formulas', () => scope(() => {
  const gen = new Generator(3);
  const near = (got: number, want: number, what: string, rel = 0.03) => assert.ok(Math.abs(got - want) <= rel * want, `${what}: ${got} vs ${want}`);
  // Glorot uniform: a = gain sqrt(6 / (fan_in + fan_out)); std = a / sqrt(3)
  {
    const shape = [256, 512];
    const a = Math.sqrt(6 / (512 + 256));
    const s = stats(glorotUniform()(shape, { generator: gen }));
    assert.ok(s.absMax <= a && s.absMax > 0.99 * a, `glorotUniform bound ${s.absMax} vs ${a}`);
    near(s.std, a / Math.sqrt(3), 'glorotUniform std');
    const s2 = stats(glorotUniform({ gain: 2 })(shape, { generator: gen }));
    assert.ok(s2.absMax <= 2 * a && s2.absMax > 1.98 * a, 'glorotUniform with gain 2');
  }
  // Glorot normal on a conv weight: std = gain sqrt(2 / (fan_in + fan_out)), fan_in = 32*9, fan_out = 64*9
  near(stats(glorotNormal({ gain: 'tanh' })([64, 32, 3, 3], { generator: gen })).std, (5 / 3) * Math.sqrt(2 / (288 + 576)), 'glorotNormal std');
  // He normal: std = gain / sqrt(fan); relu gain by default, fan_in mode by default
  near(stats(heNormal()([64, 32, 3, 3], { generator: gen })).std, Math.SQRT2 / Math.sqrt(288), 'heNormal fanIn std');
  near(stats(heNormal({ mode: 'fanOut' })([64, 32, 3, 3], { generator: gen })).std, Math.SQRT2 / Math.sqrt(576), 'heNormal fanOut std');
  near(stats(heNormal({ gain: leakyRelu(0.2) })([64, 8, 3, 3], { generator: gen })).std, Math.sqrt(2 / 1.04) / Math.sqrt(72), 'heNormal, grouped conv, leaky slope');
  // He uniform: bound = gain sqrt(3 / fan)
  {
    const b = leakyRelu(0.1) * Math.sqrt(3 / 300);
    const s = stats(heUniform({ gain: leakyRelu(0.1) })([200, 300], { generator: gen }));
    assert.ok(s.absMax <= b && s.absMax > 0.99 * b, `heUniform bound ${s.absMax} vs ${b}`);
    near(s.std, b / Math.sqrt(3), 'heUniform std');
    assert.ok(Math.abs(s.mean) < 0.01 * b);
  }
  assert.throws(() => heNormal({ mode: 'fan_in' as 'fanIn' })([3, 3], {}), /mode must be 'fanIn' or 'fanOut'/);
}));

test('gains: leakyRelu(alpha) = sqrt(2 / (1 + alpha^2)), named gains as PyTorch', () => {
  assert.equal(leakyRelu(0), Math.SQRT2);
  assert.equal(leakyRelu(0.2), Math.sqrt(2 / 1.04));
  assert.equal(leakyRelu(), Math.sqrt(2 / (1 + 0.01 * 0.01)), "PyTorch's default slope 0.01");
  assert.equal(gainValue('linear'), 1);
  assert.equal(gainValue('sigmoid'), 1);
  assert.equal(gainValue('tanh'), 5 / 3);
  assert.equal(gainValue('selu'), 0.75);
  assert.equal(gainValue(0.3), 0.3);
  assert.throws(() => gainValue('gelu' as 'relu'), /unknown gain "gelu"/);
});

test('deterministic from the generator; dtype honoured; constants', () => scope(() => {
  for (const init of [orthogonal(), glorotUniform(), glorotNormal(), heUniform(), heNormal(), normal(1), uniform(1)]) {
    const a = init([6, 4], { generator: new Generator(42) }).dataSync();
    const g = new Generator(42);
    const b = init([6, 4], { generator: g }).dataSync();
    const c = init([6, 4], { generator: g }).dataSync();
    assert.deepEqual(a, b, 'same seed, same weights');
    assert.notDeepEqual(b, c, 'the generator advances');
    assert.notDeepEqual(a, init([6, 4], { generator: new Generator(43) }).dataSync(), 'another seed, other weights');
    assert.equal(init([6, 4], { generator: g, dtype: 'float64' }).dtype, 'float64');
  }
  assert.deepEqual(constant(0.5)([2, 2], {}).dataSync(), [0.5, 0.5, 0.5, 0.5]);
  assert.deepEqual(zeros([3], {}).dataSync(), [0, 0, 0]);
  assert.deepEqual(ones([2], { dtype: 'float64' }).dataSync(), [1, 1]);
  assert.equal(zeros([3], { dtype: 'float64' }).dtype, 'float64');
  const u = stats(uniform(0.25)([10000], { generator: new Generator(1) }));
  assert.ok(u.absMax <= 0.25 && u.absMax > 0.249);
  const n = stats(normal(2, 3)([10000], { generator: new Generator(1) }));
  assert.ok(Math.abs(n.mean - 3) < 0.08 && Math.abs(n.std - 2) < 0.06, `normal(2, 3): mean ${n.mean}, std ${n.std}`);
  assert.throws(() => uniform([1, 0]), /empty range/);
  assert.throws(() => normal(-1), /std must be >= 0/);
}));

test('initializers feed makeParam and leave no tensor behind', () => {
  const before = memory().liveTensors;
  scope(() => {
    const p = makeParam(heNormal(), [5, 4], 'W', { generator: new Generator(0) }) as Parameter;
    assert.ok(p instanceof Parameter);
    assert.deepEqual([...p.tags], ['trainable', 'regularizable']);
    assert.equal(p.requiresGrad, true);
    const q = makeParam(heNormal(), [5, 4], 'W', { generator: new Generator(0) }) as Parameter;
    assert.deepEqual(p.dataSync(), q.dataSync());
    p.dispose();
    q.dispose();
    for (const init of [orthogonal(), glorotUniform(), heNormal(), zeros]) init([8, 3, 2], { generator: new Generator(0) });
  });
  assert.equal(memory().liveTensors, before);
});
