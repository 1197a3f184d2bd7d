// L-BFGS (src/optim/lbfgs.ts) against closed forms: a strictly convex quadratic (minimiser A⁻¹b,
// solved independently by linalgSolve) and Rosenbrock's function (minimiser (1, 1)); bad input.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, memory, scope, tensor } from '../../src/tensor';
import { minimizeLbfgs } from '../../src/optim';

test('minimizeLbfgs: a 12-dimensional quadratic ½xᵀAx - bᵀx reaches A⁻¹b', () => scope(() => {
  const g = new Generator(1);
  const Q = torch.randn([12, 12], { generator: g, dtype: 'float64' });
  const A = Q.matmul(Q.t()).add(torch.eye(12, { dtype: 'float64' }).mul(0.5)); // SPD, condition ~ 10^2..10^3
  const b = torch.randn([12], { generator: g, dtype: 'float64' });
  const xStar = torch.linalgSolve(A, b);
  const f = (x: Tensor) => x.dot(A.mv(x)).mul(0.5).sub(b.dot(x));
  const r = minimizeLbfgs(f, torch.zeros([12], { dtype: 'float64' }), { maxIter: 500, gradTolerance: 1e-10, changeTolerance: 0 });
  assert.equal(r.reason, 'gradient', `stopped by ${r.reason} after ${r.iterations} iterations`);
  // |x - x*| <= |A⁻¹| |∇f(x)| <= λ_min⁻¹ · √12 · max|∇f| (λ_min >= 0.5)
  const err = r.x.sub(xStar).abs().max().item() as number;
  assert.ok(err <= 2 * Math.sqrt(12) * 1e-10, `max |x - A⁻¹b| = ${err}`);
  const fStar = f(xStar).item() as number;
  assert.ok(Math.abs(r.value - fStar) <= 1e-12 * Math.max(1, Math.abs(fStar)), `f ${r.value} vs ${fStar}`);
}));

test('minimizeLbfgs: Rosenbrock from (-1.2, 1) reaches (1, 1)', () => scope(() => {
  const f = (x: Tensor) => {
    const [a, b] = [x.narrow(0, 0, 1), x.narrow(0, 1, 1)];
    return a.neg().add(1).square().add(b.sub(a.square()).square().mul(100)).sum();
  };
  const r = minimizeLbfgs(f, tensor([-1.2, 1], { dtype: 'float64' }), { maxIter: 500, gradTolerance: 1e-9 });
  const x = Array.from(r.x.dataSync() as ArrayLike<number>);
  // near the minimum the Hessian's smallest eigenvalue is ~0.4, so |x - x*| <~ |∇f| / 0.4
  assert.ok(Math.abs(x[0] - 1) < 1e-7 && Math.abs(x[1] - 1) < 1e-7, `x = ${x} after ${r.iterations} iterations (${r.reason})`);
  assert.ok(r.iterations < 200, `${r.iterations} iterations`);
}));

test('minimizeLbfgs: flat memory; clear errors', () => scope(() => {
  const f = (x: Tensor) => x.square().sum();
  const x0 = torch.ones([3], { dtype: 'float64' });
  minimizeLbfgs(f, x0).x.dispose();
  const before = memory().liveTensors;
  minimizeLbfgs(f, x0).x.dispose();
  assert.equal(memory().liveTensors, before, 'live tensors grew');
  assert.throws(() => minimizeLbfgs(f, torch.ones([2, 2])), /minimizeLbfgs: x0 must be a 1-D tensor, got shape \[2, 2\]/);
  assert.throws(() => minimizeLbfgs(f, torch.ones([2], { dtype: 'int64' })), /x0 must be floating point, got int64/);
  assert.throws(() => minimizeLbfgs(f, torch.ones([2]), { historySize: 0 }), /historySize must be an integer >= 1, got 0/);
  assert.throws(() => minimizeLbfgs((x) => x, torch.ones([2])), /f must return a one-element tensor/);
}));
