#!/usr/bin/python3
"""Reference trajectories for test/optim/*.test.ts, computed by Python PyTorch's torch.optim.

Run with the system interpreter that carries PyTorch 1.13 (the same libtorch Refinery binds):

    /usr/bin/python3 test/optim/gen_fixtures.py

It writes test/optim/fixtures.json (committed; the tests do not need Python). Two float32
parameters: W (3, 2), decayed, and b (2,), not decayed (a second param group with
weight_decay=0, as Refinery decays only parameters tagged 'regularizable'). Gradients are given
for every step (null: the parameter gets no gradient that step), so the trajectory does not
depend on autograd. `lrs`, when present, is the learning rate of each step (a schedule).
`expected` is torch.optim's single-tensor trajectory (foreach=False), `expectedForeach` its
multi-tensor one (foreach=True, the _foreach_* kernels).
"""
import json
import os

import torch

torch.set_num_threads(1)
STEPS = 6


def f32(t):
    return t.detach().to(torch.float32).reshape(-1).tolist()


def run(case):
    g = torch.Generator().manual_seed(case['seed'])
    W = torch.randn(3, 2, generator=g).requires_grad_()
    b = torch.randn(2, generator=g).requires_grad_()
    init = {'W': f32(W), 'b': f32(b)}
    grads = []
    for k in range(STEPS):
        gW = torch.randn(3, 2, generator=g)
        gb = None if k in case.get('skip_b', []) else torch.randn(2, generator=g)
        grads.append({'W': f32(gW), 'b': None if gb is None else f32(gb)})
    opts = dict(case['opts'])
    wd = opts.pop('weightDecay', None)
    py = {k: tuple(v) if k == 'betas' else v for k, v in opts.items()}
    if wd is not None:
        py['weight_decay'] = wd
    trajs = {}
    # the single-tensor kernels (expected) and the multi-tensor ones (expected_foreach), from the same start
    for foreach in (False, True):
        Wf, bf = W.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
        groups = [{'params': [Wf]}, {'params': [bf], 'weight_decay': 0.0}]
        opt = getattr(torch.optim, case['optimizer'])(groups, foreach=foreach, **py)
        traj = []
        for k in range(STEPS):
            if 'lrs' in case:
                for grp in opt.param_groups:
                    grp['lr'] = case['lrs'][k]
            Wf.grad = torch.tensor(grads[k]['W']).view(3, 2)
            bf.grad = None if grads[k]['b'] is None else torch.tensor(grads[k]['b'])
            opt.step()
            traj.append({'W': f32(Wf), 'b': f32(bf)})
        trajs[foreach] = traj
    out = dict(case)
    out.update(init=init, grads=grads, expected=trajs[False], expectedForeach=trajs[True])
    return out


CASES = [
    {'name': 'sgd', 'optimizer': 'SGD', 'seed': 1, 'opts': {'lr': 0.1}},
    {'name': 'sgd-wd', 'optimizer': 'SGD', 'seed': 2, 'opts': {'lr': 0.1, 'weightDecay': 0.1}},
    {'name': 'sgd-momentum', 'optimizer': 'SGD', 'seed': 3, 'opts': {'lr': 0.1, 'momentum': 0.9}},
    {'name': 'sgd-momentum-dampening-wd', 'optimizer': 'SGD', 'seed': 4,
     'opts': {'lr': 0.05, 'momentum': 0.8, 'dampening': 0.3, 'weightDecay': 0.01}},
    {'name': 'sgd-nesterov-wd', 'optimizer': 'SGD', 'seed': 5,
     'opts': {'lr': 0.1, 'momentum': 0.9, 'nesterov': True, 'weightDecay': 0.1}},
    {'name': 'sgd-momentum-skip', 'optimizer': 'SGD', 'seed': 6, 'opts': {'lr': 0.1, 'momentum': 0.9}, 'skip_b': [0, 3]},
    {'name': 'adam', 'optimizer': 'Adam', 'seed': 7, 'opts': {'lr': 0.01}},
    {'name': 'adam-wd-betas-eps', 'optimizer': 'Adam', 'seed': 8,
     'opts': {'lr': 0.02, 'betas': [0.8, 0.99], 'eps': 1e-3, 'weightDecay': 0.1}},
    {'name': 'adam-skip', 'optimizer': 'Adam', 'seed': 9, 'opts': {'lr': 0.01}, 'skip_b': [1, 2]},
    {'name': 'adamw', 'optimizer': 'AdamW', 'seed': 10, 'opts': {'lr': 0.01, 'weightDecay': 0.1}},
    {'name': 'adamw-default-wd', 'optimizer': 'AdamW', 'seed': 11, 'opts': {'lr': 0.003}},
    {'name': 'adamw-schedule', 'optimizer': 'AdamW', 'seed': 12, 'opts': {'lr': 0.01, 'weightDecay': 0.5},
     'lrs': [0.01, 0.02, 0.005, 0.005, 0.001, 0.03]},
    {'name': 'sgd-nesterov-schedule', 'optimizer': 'SGD', 'seed': 13, 'opts': {'lr': 0.1, 'momentum': 0.9, 'nesterov': True},
     'lrs': [0.1, 0.1, 0.05, 0.02, 0.2, 0.01]},
]


def clip_cases():
    out = []
    for seed, max_norm, norm_type in [(20, 1.0, 2.0), (21, 100.0, 2.0), (22, 0.5, float('inf')), (23, 2.0, 1.0)]:
        g = torch.Generator().manual_seed(seed)
        shapes = [(3, 2), (4,), (2,)]
        grads = [torch.randn(s, generator=g) * 2 for s in shapes]
        ps = [torch.zeros(s, requires_grad=True) for s in shapes]
        for p, gr in zip(ps[:2], grads[:2]):
            p.grad = gr.clone()
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
        out.append({'maxNorm': max_norm, 'normType': 'inf' if norm_type == float('inf') else norm_type,
                    'shapes': [list(s) for s in shapes], 'grads': [f32(grads[0]), f32(grads[1]), None],
                    'total': total.item(), 'clipped': [f32(ps[0].grad), f32(ps[1].grad), None]})
    return out


if __name__ == '__main__':
    data = {'torch': torch.__version__, 'steps': STEPS, 'cases': [run(c) for c in CASES], 'clip': clip_cases()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures.json')
    with open(path, 'w') as f:
        json.dump(data, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {path}: {len(data["cases"])} optimizer cases, {len(data["clip"])} clipping cases')
