// The text benchmark: ONE TRAINING STEP and ONE GENERATION STEP of the language-model backbone
// (src/text/transformer.ts, causal, rotary positions) through Refinery in-process and through the
// same model in torch.nn (bench/peers/torch_text.py), INTERLEAVED: the peer is one long-lived child
// process driven over stdin, and the steps alternate Refinery, PyTorch, Refinery, PyTorch, ... so
// that both see the same load on a shared host. Reported: the median time of each system, the
// median of the per-pair ratios and their spread (interquartile range), tokens per second.
//
//   model      : vocab 4096, window 128, dim 128, depth 4, heads 4, MLP ×4 (the README's AR model)
//   train step : zero grads, next-token cross-entropy on a batch of 16 windows, backward, Adam step
//   generation : eval mode, no grad: one forward of a batch of 32 windows of 128 tokens (the cost of
//                one denoising step of the diffusion models; the AR model's cached steps are cheaper)
import { spawn } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';
import { Generator, functions as torch, noGrad, scope, setNumThreads, getNumThreads } from '../src/tensor';
import { numParams } from '../src/nn';
import { Adam } from '../src/optim';
import { TextTransformer } from '../src/text/transformer';
import { arLoss, arModelConfig } from '../src/text/ar';
import { findRepoRoot, hostInfo, median, noteBusyHost, parseBenchFlags, intFlag } from './common';

const USAGE = `usage: node dist/bench/main.js text [--threads N] [--reps N] [--warmup N] [--dim N] [--python PATH] [--json]

One training step and one generation step of the Transformer LM backbone through Refinery and
through the same model in PyTorch (bench/peers/torch_text.py), interleaved A B A B.
`;

export interface TextBenchReport {
  bench: 'text';
  config: { vocab: number; seq: number; dim: number; depth: number; heads: number; batch: number; sampleBatch: number };
  threads: number;
  reps: number;
  warmup: number;
  params: { refinery: number; pytorch: number | null; match: boolean | null };
  workloads: Record<'train' | 'generate', {
    refineryMs: number; pytorchMs: number | null;
    /** Median of the per-pair ratios refinery/pytorch, and their quartiles. */
    ratio: number | null; ratioQ1: number | null; ratioQ3: number | null;
    refineryTokensPerS: number; pytorchTokensPerS: number | null;
  }>;
  peer: { version: string | null; error: string | null };
  host: ReturnType<typeof hostInfo>;
  notes: string[];
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q, lo = Math.floor(i), hi = Math.ceil(i);
  return s[lo] + (s[hi] - s[lo]) * (i - lo);
}

/** A long-lived Python peer driven over stdin, one JSON line per request (also bench/optim.ts). */
export class Peer {
  private lines: string[] = [];
  private waiting: ((l: string) => void) | null = null;
  private proc;
  constructor(python: string, script: string, args: string[]) {
    this.proc = spawn(python, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    const rl = readline.createInterface({ input: this.proc.stdout });
    rl.on('line', (l) => { if (this.waiting) { const w = this.waiting; this.waiting = null; w(l); } else this.lines.push(l); });
    let err = '';
    this.proc.stderr.on('data', (d) => { err += d; });
    this.proc.on('close', (code) => { if (this.waiting) this.waiting(JSON.stringify({ error: `peer exited (${code}): ${err.trim().split('\n').slice(-1)[0] ?? ''}` })); });
    this.proc.on('error', (e) => { if (this.waiting) this.waiting(JSON.stringify({ error: e.message })); });
  }
  next(): Promise<Record<string, unknown>> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(JSON.parse(l));
    return new Promise((resolve) => { this.waiting = (x) => resolve(JSON.parse(x)); });
  }
  async request(cmd: string): Promise<number> {
    this.proc.stdin.write(cmd + '\n');
    const r = await this.next();
    if (typeof r.ms !== 'number') throw new Error(String(r.error ?? 'peer: no timing'));
    return r.ms;
  }
  close(): void {
    try { this.proc.stdin.write('quit\n'); this.proc.stdin.end(); } catch { /* gone */ }
  }
}

export async function benchText(o: { threads?: number; reps?: number; warmup?: number; dim?: number; python?: string; log?: (s: string) => void } = {}): Promise<TextBenchReport> {
  const threads = o.threads ?? 1, reps = o.reps ?? 10, warmup = o.warmup ?? 2;
  const cfg = { vocab: 4096, seq: 128, dim: o.dim ?? 128, depth: 4, heads: 4, batch: 16, sampleBatch: 32 };
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  setNumThreads(threads);
  const model = new TextTransformer(arModelConfig({ vocabSize: cfg.vocab, maxLen: cfg.seq, dim: cfg.dim, depth: cfg.depth, heads: cfg.heads, mlpRatio: 4, positions: 'rotary' }), new Generator(0));
  const opt = new Adam(model, { lr: 1e-3, betas: [0.9, 0.98] });
  const g = new Generator(1);
  const ids = torch.randint(0, cfg.vocab, [cfg.batch, cfg.seq], { generator: g });
  const sampleIds = torch.randint(0, cfg.vocab, [cfg.sampleBatch, cfg.seq], { generator: g });
  const steps = {
    train: () => scope(() => { model.train(); opt.zeroGrad(); arLoss(model, ids, 2).backward(); opt.step(); }),
    generate: () => noGrad(() => scope(() => { model.eval(); model(sampleIds); })),
  };
  const root = findRepoRoot();
  const python = o.python ?? '/usr/bin/python3';
  const notes: string[] = [];
  let peer: Peer | null = new Peer(python, path.join(root, 'bench', 'peers', 'torch_text.py'),
    ['--vocab', String(cfg.vocab), '--seq', String(cfg.seq), '--dim', String(cfg.dim), '--depth', String(cfg.depth), '--heads', String(cfg.heads),
      '--batch', String(cfg.batch), '--sample-batch', String(cfg.sampleBatch), '--threads', String(threads)]);
  const head = await peer.next();
  let peerError: string | null = null;
  if (!head.ready) { peerError = String(head.error ?? 'no ready line'); peer.close(); peer = null; }
  const refParams = numParams(model);
  const ptParams = typeof head.params === 'number' ? head.params : null;
  const workloads = {} as TextBenchReport['workloads'];
  try {
    for (const w of ['train', 'generate'] as const) {
      const tokens = (w === 'train' ? cfg.batch : cfg.sampleBatch) * cfg.seq;
      for (let i = 0; i < warmup; i++) { steps[w](); if (peer) await peer.request(w === 'train' ? 'train' : 'sample'); }
      const a: number[] = [], b: number[] = [], ratios: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        steps[w]();
        const ms = performance.now() - t0;
        a.push(ms);
        if (peer) {
          const pms = await peer.request(w === 'train' ? 'train' : 'sample');
          b.push(pms);
          ratios.push(ms / pms);
        }
        log(`bench text: ${w} ${i + 1}/${reps}: refinery ${ms.toFixed(1)} ms${peer ? `, pytorch ${b[b.length - 1].toFixed(1)} ms` : ''}`);
      }
      const rm = median(a), pm = b.length ? median(b) : null;
      workloads[w] = {
        refineryMs: rm, pytorchMs: pm,
        ratio: ratios.length ? median(ratios) : null, ratioQ1: ratios.length ? quantile(ratios, 0.25) : null, ratioQ3: ratios.length ? quantile(ratios, 0.75) : null,
        refineryTokensPerS: tokens / rm * 1000, pytorchTokensPerS: pm ? tokens / pm * 1000 : null,
      };
    }
  } finally {
    peer?.close();
    ids.dispose(); sampleIds.dispose();
  }
  noteBusyHost(notes);
  if (peerError) notes.push(`PyTorch peer unavailable: ${peerError}`);
  return {
    bench: 'text', config: cfg, threads: getNumThreads(), reps, warmup,
    params: { refinery: refParams, pytorch: ptParams, match: ptParams === null ? null : ptParams === refParams },
    workloads, peer: { version: typeof head.version === 'string' ? head.version : null, error: peerError }, host: hostInfo(), notes,
  };
}

export function formatTextReport(r: TextBenchReport): string {
  const c = r.config;
  const lines = [
    `text bench: Transformer LM (vocab ${c.vocab}, window ${c.seq}, dim ${c.dim}, depth ${c.depth}, ${c.heads} heads), ${r.threads} thread(s), ${r.reps} interleaved pairs after ${r.warmup} warmup`,
    `parameters: refinery ${r.params.refinery}, pytorch ${r.params.pytorch ?? 'n/a'}${r.params.match === false ? '  MISMATCH' : ''}`,
  ];
  for (const [w, v] of Object.entries(r.workloads)) {
    const what = w === 'train' ? `train step (batch ${c.batch})` : `generation step (batch ${c.sampleBatch})`;
    lines.push(`${what.padEnd(28)} refinery ${v.refineryMs.toFixed(1)} ms (${Math.round(v.refineryTokensPerS)} tok/s)  pytorch ${v.pytorchMs?.toFixed(1) ?? 'n/a'} ms (${v.pytorchTokensPerS ? Math.round(v.pytorchTokensPerS) : 'n/a'} tok/s)  ratio ${v.ratio?.toFixed(2) ?? 'n/a'}x [IQR ${v.ratioQ1?.toFixed(2) ?? '-'}-${v.ratioQ3?.toFixed(2) ?? '-'}] (target <= 1.10x)`);
  }
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

export async function runTextCommand(args: string[]): Promise<number> {
  const { flags, str } = parseBenchFlags('text', args, ['threads', 'reps', 'warmup', 'dim', 'python', 'json', 'help'], USAGE);
  if (flags.help === true) { process.stdout.write(USAGE); return 0; }
  const r = await benchText({ threads: intFlag(flags, 'threads', 1), reps: intFlag(flags, 'reps', 10), warmup: intFlag(flags, 'warmup', 2), dim: intFlag(flags, 'dim', 128), python: str('python') });
  process.stdout.write(flags.json === true ? JSON.stringify(r) + '\n' : formatTextReport(r) + '\n');
  return r.params.match === false ? 1 : 0;
}

