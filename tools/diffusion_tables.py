#!/usr/bin/env python3
"""Markdown tables for the README from runs/experiments/*.jsonl (scripts/diffusion-experiments.sh)."""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else 'runs/experiments'


def rows(name):
    path = os.path.join(root, name + '.jsonl')
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip().startswith('{')]


def metrics(r):
    adh = '–' if r['adherence'] != r['adherence'] else f"{100 * r['adherence']:.1f}%"
    return f"{r['fid']:.1f} | {adh} | {r['diversity']:.2f}"


def real(rs):
    return [r for r in rs if r.get('setting', {}).get('real')]


def table_cfg():
    rs = rows('cfg')
    print('| γ | evaluations | classifier-FID ↓ | adherence | diversity | seconds |')
    print('|---|---|---|---|---|---|')
    for r in rs:
        s = r.get('setting', {})
        if s.get('real'):
            continue
        print(f"| {s['guidance']} | {r['nfe']} | {metrics(r)} | {r['seconds']:.0f} |")
    for r in real(rs):
        print(f"| real training images | – | {metrics(r)} | – |")
    for r in rows('bpd'):
        print(f"\nbits/dim (unconditional, {r['images']} test images): {r['bitsPerDim']:.3f} ± {r['stderr']:.3f}")


def table_temperature():
    rs = rows('temperature') + rows('classifier')
    print('| guidance | setting | classifier-FID ↓ | adherence | diversity |')
    print('|---|---|---|---|---|')
    for r in rs:
        s = r.get('setting', {})
        if s.get('real'):
            continue
        if s.get('temperature') is not None:
            what = ('score temperature', f"score × {s['temperature']}")
        elif s.get('classifierGuidance') is not None:
            what = ('classifier guidance (unconditional model)', f"γ = {s['classifierGuidance']}")
        else:
            what = ('classifier-free', f"γ = {s['guidance']}")
        print(f"| {what[0]} | {what[1]} | {metrics(r)} |")
    for r in real(rs):
        print(f"| real training images ({r['n']}) | – | {metrics(r)} |")


def table_samplers():
    rs = rows('samplers')
    print('| sampler | steps | evaluations | classifier-FID ↓ | adherence | diversity | seconds |')
    print('|---|---|---|---|---|---|---|')
    for r in rs:
        s = r['setting']
        print(f"| {s['sampler']} | {s['steps']} | {r['nfe']} | {metrics(r)} | {r['seconds']:.0f} |")


def last_eval(run):
    path = os.path.join('runs', run, 'metrics.jsonl')
    evals = [json.loads(l) for l in open(path) if '"eval/' in l] if os.path.exists(path) else []
    return evals[-1] if evals else {}


def table_ablation():
    print('| prediction | weighting (noise levels) | held-out x0-MSE at σ = 0.05 / 1 / 5 ↓ | FID, Heun 18 steps ↓ | FID, DDPM 35 steps ↓ | adherence (Heun) | bits/dim ↓ |')
    print('|---|---|---|---|---|---|---|')
    names = [('eps', 'uniform', 'uniform ε-MSE (t ~ U[0.001, 1])'), ('eps', 'likelihood', 'likelihood (importance-sampled, log-uniform σ)'),
             ('x0', 'uniform', 'uniform ε-MSE (t ~ U[0.001, 1])'), ('x0', 'likelihood', 'likelihood (importance-sampled, log-uniform σ)'),
             ('edm', 'edm', 'EDM (log-normal σ) — control')]
    for pred, w, label in names:
        rs = rows(f'ablation-{pred}-{w}')
        if not rs:
            continue
        heun = next((r for r in rs if r.get('setting', {}).get('sampler') == 'heun'), None)
        ddpm = next((r for r in rs if r.get('setting', {}).get('sampler') == 'ddpm'), None)
        bpd = next((r for r in rs if 'bitsPerDim' in r), None)
        mse = last_eval(f'ablation-{pred}-{w}')
        mse_s = ' / '.join(f"{mse.get(f'eval/mse@sigma={k}', float('nan')):.4f}" for k in ('0.05', '1', '5'))
        print(f"| {pred} | {label} | {mse_s} | {heun['fid']:.1f} | {ddpm['fid']:.1f} | {100 * heun['adherence']:.1f}% | "
              f"{bpd['bitsPerDim']:.2f} ± {bpd['stderr']:.2f} |")


for title, fn in [('CFG', table_cfg), ('temperature', table_temperature), ('samplers', table_samplers), ('ablation', table_ablation)]:
    print(f'\n<!-- {title} -->')
    fn()
