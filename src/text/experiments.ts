// The README's text experiments beyond `refinery eval text`:
//   warp      CDCD trained with the time warping against CDCD trained with uniform t (same config,
//             seed and steps): training loss and the validation bound along training (from the two
//             run folders), the test bound, sample quality, the learned CDF's fitted cross-entropy
//             F̃(t) against the cross-entropy measured at each t, and the post's claim that under
//             the warped time the entropy of the predictions is about linear in u = F(t);
//   steps     sampling steps against generative perplexity, unigram entropy, network evaluations
//             and seconds per 1k tokens (MDLM, CDCD);
//   guidance  classifier-free guidance scale on prefix prompts (CDCD, AR).
// `node dist/src/text/experiments.js --help` lists the options; figures are standalone SVG files.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, functions as torch, noGrad, scope, tensor } from '../tensor';
import { F } from '../tensor';
import { readMetrics } from '../train/metrics';
import { seriesPlot } from '../train/report';
import { shippedFile } from '../train/shipped';
import { brownTokenizer, tokenWindows } from './data';
import { TextLM, loadTextLM, meanNll } from './lm';
import { CDCDNet } from './cdcd';
import { TEXT_CHECKPOINTS, chooseDecoderLevel, judgePerplexity, sampleStatistics } from './evaluate';
import { TextTransformer } from './transformer';

export interface NoiseCurvePoint { u: number; t: number; entropy: number; crossEntropy: number; fitted: number }

/**
 * Mean prediction entropy and cross-entropy of windows at each noise level t (no given tokens, no
 * self-conditioning), with u = F(t) of the model's learned CDF and the CDF's unnormalised F̃(t) (the
 * cross-entropy it was fitted to, nats).
 */
export function noiseCurve(net: CDCDNet, windows: number[][], ts: number[]): NoiseCurvePoint[] {
  const kc = net.warp.cdfAtKnots();
  const fitted = noGrad(() => scope(() => Array.from(net.warp.evaluate(tensor(ts, { dtype: 'float64' })).to('float64').dataSync())));
  return noGrad(() => ts.map((t, k) => scope(() => {
    const x0 = tensor(windows, { dtype: 'int64' });
    const [B, L] = x0.shape;
    const e = F.embedding(x0, net.embeddings());
    const x = e.add(torch.randn(e.shape, { generator: new Generator(0) }).mul(t));
    const logits = net(x, torch.full([B], t), torch.zeros([B, L], { dtype: 'bool' }), e, torch.zerosLike(e));
    const logp = logits.logSoftmax(-1);
    const entropy = logp.exp().mul(logp).sum(-1).neg().mean().item();
    const ce = F.crossEntropy(logits.reshape([-1, logits.shape[2]]), x0.reshape([-1])).item();
    return { u: net.warp.cdf(t, kc), t, entropy, crossEntropy: ce, fitted: fitted[k] };
  })));
}

/** The same at t = F⁻¹(u) for each u (the warped time). */
export function warpCurve(net: CDCDNet, windows: number[][], us: number[]): NoiseCurvePoint[] {
  const kc = net.warp.cdfAtKnots();
  return noiseCurve(net, windows, us.map((u) => net.warp.inverse(u, kc))).map((p, i) => ({ ...p, u: us[i] }));
}

/** Least-squares line y = a + b x and its R². */
export function linearFit(xs: number[], ys: number[]): { slope: number; intercept: number; r2: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n, my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) { sxy += (xs[i] - mx) * (ys[i] - my); sxx += (xs[i] - mx) ** 2; syy += (ys[i] - my) ** 2; }
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx, r2: syy > 0 ? (sxy * sxy) / (sxx * syy) : 1 };
}

export interface UnconditionalRow { steps: number; genPpl: number; unigramEntropy: number; distinct1: number; distinct2: number; distinct3: number; nfe: number; secondsPer1kTokens: number }

/** n unconditional samples of the model's window length at `steps` (seed fixed), judged. */
export function unconditional(lm: TextLM, judge: TextTransformer, n: number, steps: number, seed: number): UnconditionalRow {
  const L = lm.config.backbone.seqLen;
  const t0 = performance.now();
  const s = lm.sample({ prompt: [], length: L, batchSize: n, steps, generator: new Generator(seed) });
  const seconds = (performance.now() - t0) / 1000;
  const rows = s.tokens.map((r) => r.slice(0, L));
  return { steps, genPpl: judgePerplexity(judge, rows), ...sampleStatistics(rows), nfe: s.nfe, secondsPer1kTokens: seconds / (n * L) * 1000 };
}

export interface GuidanceRow { guidance: number; genPpl: number; unigramEntropy: number; distinct1: number; distinct2: number; distinct3: number; nfe: number }

/** Prefix-prompted continuations of test windows at each guidance scale, scored by the judge (whole windows). */
export function guidanceSweep(lm: TextLM, judge: TextTransformer, prompts: number[][], L: number, gammas: number[], steps: number): GuidanceRow[] {
  return gammas.map((g) => {
    const rows: number[][] = [];
    let nfe = 0;
    if (lm.name === 'ar') {
      for (const [i, p] of prompts.entries()) {
        const s = lm.sample({ prompt: p, length: L - p.length, batchSize: 1, guidance: g, generator: new Generator(i) });
        rows.push([...p, ...s.tokens[0]].slice(0, L));
        nfe += s.nfe;
      }
      nfe /= prompts.length;
    } else {
      // one batch: each row its own prefix, the rest to generate
      const templates = prompts.map((p) => [...p, ...new Array<null>(L - p.length).fill(null)]);
      const s = lm.sample({ prompt: [], templates, length: L, batchSize: templates.length, steps, guidance: g, generator: new Generator(0) });
      rows.push(...s.tokens.map((r) => r.slice(0, L)));
      nfe = s.nfe;
    }
    const cont = rows.map((r, i) => r.slice(prompts[i].length));
    return { guidance: g, genPpl: judgePerplexity(judge, rows), ...sampleStatistics(cont), nfe };
  });
}

export interface ExperimentFiles {
  ar: string;
  mdlm: string;
  /** CDCD trained with the time warping (the shipped one). */
  cdcd: string;
  /** CDCD trained with uniform t (same config); needed for `warp`. */
  cdcdNoWarp?: string;
  judge: string;
  /** Further CDCD checkpoints for the warp experiment, each with a label (e.g. another CDF learning rate). */
  cdcdMore?: { label: string; file: string }[];
  /** The run folders of the CDCD trainings (warped, uniform, then those of cdcdMore), for their training curves. */
  warpRuns?: string[];
}

export const EXPERIMENTS = ['warp', 'steps', 'guidance'] as const;
export type ExperimentName = typeof EXPERIMENTS[number];

export interface ExperimentOptions {
  only?: ExperimentName[];
  /** Samples per row (default 16). */
  samples?: number;
  steps?: number[];
  gammas?: number[];
  /** Folder for the SVG figures (none when absent). */
  figures?: string;
  log?: (s: string) => void;
}

const load = () => os.loadavg().map((v) => Math.round(v * 10) / 10);

export function runTextExperiments(files: ExperimentFiles, o: ExperimentOptions = {}): Record<string, unknown> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const only = new Set(o.only ?? EXPERIMENTS);
  const n = o.samples ?? 16;
  const judge = loadTextLM(files.judge, 'ar').lm.module as TextTransformer;
  const bpe = brownTokenizer();
  const cdcd = loadTextLM(files.cdcd, 'cdcd').lm;
  const L = cdcd.config.backbone.seqLen;
  const val = scope(() => tokenWindows('validation', bpe, L).tolist() as number[][]);
  const testT = tokenWindows('test', bpe, L);
  const test = scope(() => testT.tolist() as number[][]);
  const out: Record<string, unknown> = { samples: n, threads: Number(process.env.REFINERY_NUM_THREADS ?? 0) || null, cpus: os.cpus().length };
  const real = test.slice(0, n);
  out.real = { genPpl: judgePerplexity(judge, real), ...sampleStatistics(real) };
  const figure = (name: string, svg: string) => {
    if (!o.figures) return;
    fs.mkdirSync(o.figures, { recursive: true });
    fs.writeFileSync(path.join(o.figures, name), svg);
  };

  if (only.has('warp')) {
    if (!files.cdcdNoWarp) throw new RangeError('runTextExperiments: the warp experiment needs the CDCD checkpoint trained with uniform t (--cdcd-nowarp)');
    log('experiments: time warping on vs off in training');
    const loadBefore = load();
    const models: [string, string][] = [['warped t', files.cdcd], ['uniform t', files.cdcdNoWarp], ...(files.cdcdMore ?? []).map((m) => [m.label, m.file] as [string, string])];
    if (files.warpRuns && files.warpRuns.length !== models.length) throw new RangeError(`runTextExperiments: warpRuns must give one run folder per CDCD model (${models.length}), got ${files.warpRuns.length}`);
    const testSub = scope(() => testT.narrow(0, 0, 64).clone());
    const ts = Array.from({ length: 21 }, (_, k) => 1 * Math.pow(300, k / 20));
    const us = [0.02, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98];
    const rows = models.map(([label, file]) => {
      const lm = loadTextLM(file, 'cdcd').lm;
      const net = lm.module as CDCDNet;
      const tsModel = ts.map((t) => Math.min(Math.max(t, net.opts.tMin), net.opts.tMax));
      const tDecoder = chooseDecoderLevel(lm, bpe, 0);
      const bound = noGrad(() => meanNll(lm, testSub, new Generator(0), 32, { draws: 8, tDecoder }));
      const boundTMin = noGrad(() => meanNll(lm, testSub, new Generator(0), 32, { draws: 8 }));
      const sample = unconditional(lm, judge, n, 64, 0);
      const curve = noiseCurve(net, val.slice(0, 16), tsModel);
      const warped = warpCurve(net, val.slice(0, 16), us);
      const fit = linearFit(warped.map((p) => p.u), warped.map((p) => p.entropy));
      return { label, file, warpInTraining: (net.opts as { warp: boolean }).warp, tDecoder, testBound: bound.nllPerToken, testBoundSe: bound.se, testBoundTMin: boundTMin.nllPerToken, testBoundTMinSe: boundTMin.se, sample, curve, warped, entropyVsU: fit };
    });
    testSub.dispose();
    const runs = files.warpRuns?.map((dir, i) => {
      const recs = readMetrics(path.join(dir, 'metrics.jsonl'));
      const pick = (key: string) => recs.filter((r) => typeof r[key] === 'number').map((r) => [r.step as number, r[key] as number] as [number, number]);
      return { label: models[i][0], dir, trainLoss: pick('train/loss'), valBound: pick('eval/nll_bound') };
    });
    out.warp = { rows, runs, load: { before: loadBefore, after: load() } };
    if (runs) {
      figure('text-warp-train-loss.svg', seriesPlot('CDCD training loss (cross-entropy at the training t; each run its own t distribution)', runs.map((r) => ({ label: r.label, points: r.trainLoss })), 'step', { standalone: true, logY: false }));
      figure('text-warp-val-bound.svg', seriesPlot('CDCD validation bound on -log p (nats/token)', runs.map((r) => ({ label: r.label, points: r.valBound })), 'step', { standalone: true, logY: false }));
    }
    figure('text-warp-cdf.svg', seriesPlot('cross-entropy (nats) at t, measured and the fitted F̃(t)', rows.flatMap((r) => [
      { label: `${r.label}: measured CE(t)`, points: r.curve.map((p) => [p.t, p.crossEntropy] as [number, number]) },
      { label: `${r.label}: learned F̃(t)`, points: r.curve.map((p) => [p.t, p.fitted] as [number, number]) },
    ]), 't (log scale)', { standalone: true, logX: true, logY: false }));
    figure('text-warp-entropy.svg', seriesPlot('prediction entropy (nats) against warped time u = F(t)', rows.map((r) => ({ label: r.label, points: r.warped.map((p) => [p.u, p.entropy] as [number, number]) })), 'u', { standalone: true, logY: false }));
  }

  if (only.has('steps')) {
    const stepsList = o.steps ?? [10, 25, 50, 100, 200];
    log(`experiments: sampling steps ${stepsList.join(', ')} vs generative perplexity`);
    const loadBefore = load();
    const mdlm = loadTextLM(files.mdlm, 'mdlm').lm;
    const r = {
      mdlm: stepsList.map((s) => unconditional(mdlm, judge, n, s, 0)),
      cdcd: stepsList.map((s) => unconditional(cdcd, judge, n, s, 0)),
    };
    out.steps = { ...r, load: { before: loadBefore, after: load() } };
    figure('text-steps.svg', seriesPlot('generative perplexity under the judge against sampling steps', [
      { label: 'MDLM', points: r.mdlm.map((x) => [x.steps, x.genPpl] as [number, number]) },
      { label: 'CDCD', points: r.cdcd.map((x) => [x.steps, x.genPpl] as [number, number]) },
    ], 'steps (log scale)', { standalone: true, logX: true, logY: false }));
  }

  if (only.has('guidance')) {
    const gammas = o.gammas ?? [0, 0.5, 1, 1.5, 2, 3, 5];
    log(`experiments: guidance ${gammas.join(', ')} on prefix prompts`);
    const loadBefore = load();
    const ar = loadTextLM(files.ar, 'ar').lm;
    const windows = test.slice(0, 8);
    const prompts = windows.map((w) => w.slice(0, 32));
    const r = { cdcd: guidanceSweep(cdcd, judge, prompts, L, gammas, 64), ar: guidanceSweep(ar, judge, prompts, L, gammas, 64) };
    out.guidance = { ...r, prompts: prompts.length, promptTokens: 32, realWindows: { genPpl: judgePerplexity(judge, windows), ...sampleStatistics(windows.map((w) => w.slice(32))) }, load: { before: loadBefore, after: load() } };
    figure('text-guidance.svg', seriesPlot('judge perplexity of prompted windows against guidance scale γ', [
      { label: 'CDCD (64 steps)', points: r.cdcd.map((x) => [x.guidance, x.genPpl] as [number, number]) },
      { label: 'AR (ancestral)', points: r.ar.map((x) => [x.guidance, x.genPpl] as [number, number]) },
    ], 'γ', { standalone: true, logY: false }));
  }
  testT.dispose();
  return out;
}

/** The results as the README's markdown tables. */
export function formatExperiments(r: Record<string, unknown>): string {
  const f = (x: number, d = 2) => x.toFixed(d);
  const parts: string[] = [];
  const ld = (l?: { before: number[]; after: number[] }) => (l ? `load average (1/5/15 min) before ${l.before.join(' ')}, after ${l.after.join(' ')} on ${r.cpus} cores` : '');
  const real = r.real as { genPpl: number; unigramEntropy: number };
  parts.push(`real test text (${r.samples} windows): judge perplexity ${f(real.genPpl, 1)}, unigram entropy ${f(real.unigramEntropy)}`);
  const w = r.warp as { rows: any[]; runs?: any[]; load: any } | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (w) {
    parts.push('', '| CDCD trained with | test bound, t_d chosen on validation (nats/token ± s.e.) | test bound at t_d = t_min | gen. ppl (64 steps) | unigram H | distinct-2 | final train loss | entropy ~ u: slope, R² |', '|---|---|---|---|---|---|---|---|');
    w.rows.forEach((x, i) => {
      const run = w.runs?.[i];
      const last = run?.trainLoss.length ? f(run.trainLoss[run.trainLoss.length - 1][1], 3) : '-';
      parts.push(`| ${x.label} | ${f(x.testBound, 3)} ± ${f(x.testBoundSe, 3)} (t_d = ${x.tDecoder}) | ${f(x.testBoundTMin, 3)} ± ${f(x.testBoundTMinSe, 3)} | ${f(x.sample.genPpl, 1)} | ${f(x.sample.unigramEntropy)} | ${f(x.sample.distinct2)} | ${last} | ${f(x.entropyVsU.slope, 3)}, ${f(x.entropyVsU.r2, 3)} |`);
    });
    if (w.runs) {
      const steps = w.runs[0].valBound.map((p: [number, number]) => p[0]);
      parts.push('', `| validation bound at step | ${steps.join(' | ')} |`, '|---|' + steps.map(() => '---|').join(''));
      for (const run of w.runs) parts.push(`| ${run.label} | ${run.valBound.map((p: [number, number]) => f(p[1], 3)).join(' | ')} |`);
    }
    parts.push('', '| u = F(t) | ' + w.rows.map((x) => `${x.label}: t | entropy | CE`).join(' | ') + ' |', '|---|' + w.rows.map(() => '---|---|---|').join(''));
    w.rows[0].warped.forEach((_: unknown, k: number) => {
      parts.push(`| ${w.rows[0].warped[k].u} | ` + w.rows.map((x) => `${f(x.warped[k].t)} | ${f(x.warped[k].entropy, 3)} | ${f(x.warped[k].crossEntropy, 3)}`).join(' | ') + ' |');
    });
    parts.push('', ld(w.load));
  }
  const s = r.steps as { mdlm: UnconditionalRow[]; cdcd: UnconditionalRow[]; load: any } | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (s) {
    parts.push('', '| steps | MDLM gen. ppl | MDLM unigram H | MDLM NFE | MDLM s/1k tok | CDCD gen. ppl | CDCD unigram H | CDCD NFE | CDCD s/1k tok |', '|---|---|---|---|---|---|---|---|---|');
    s.mdlm.forEach((m, i) => {
      const c = s.cdcd[i];
      parts.push(`| ${m.steps} | ${f(m.genPpl, 1)} | ${f(m.unigramEntropy)} | ${m.nfe} | ${f(m.secondsPer1kTokens)} | ${f(c.genPpl, 1)} | ${f(c.unigramEntropy)} | ${c.nfe} | ${f(c.secondsPer1kTokens)} |`);
    });
    parts.push('', ld(s.load));
  }
  const g = r.guidance as { cdcd: GuidanceRow[]; ar: GuidanceRow[]; realWindows: { genPpl: number; unigramEntropy: number }; load: any } | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (g) {
    parts.push('', '| guidance γ | CDCD gen. ppl | CDCD unigram H | CDCD distinct-2 | CDCD NFE | AR gen. ppl | AR unigram H | AR distinct-2 | AR NFE |', '|---|---|---|---|---|---|---|---|---|');
    g.cdcd.forEach((c, i) => {
      const a = g.ar[i];
      parts.push(`| ${c.guidance} | ${f(c.genPpl, 1)} | ${f(c.unigramEntropy)} | ${f(c.distinct2)} | ${c.nfe} | ${f(a.genPpl, 1)} | ${f(a.unigramEntropy)} | ${f(a.distinct2)} | ${a.nfe} |`);
    });
    parts.push(`| real continuation | ${f(g.realWindows.genPpl, 1)} | ${f(g.realWindows.unigramEntropy)} | - | - | | | | |`, '', ld(g.load));
  }
  return parts.join('\n');
}

const USAGE = `usage: node dist/src/text/experiments.js [options]
  --ar FILE --mdlm FILE --cdcd FILE --judge FILE   checkpoints (default: the shipped ones)
  --cdcd-nowarp FILE        CDCD trained with uniform t (needed for the warp experiment)
  --cdcd-also LABEL=FILE    a further CDCD checkpoint for the warp experiment (e.g. another --cdf-lr)
  --warp-runs DIR,DIR[,DIR] run folders of the warped, the uniform-t (and the --cdcd-also) CDCD trainings
  --only NAME,...           some of ${EXPERIMENTS.join(', ')} (default: all; warp only with --cdcd-nowarp)
  --samples N               samples per row (default 16)
  --figures DIR             write the SVG figures there
  --json FILE               write the results as JSON
`;

if (require.main === module) {
  const args = process.argv.slice(2);
  const opt: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-h' || a === '--help') { process.stdout.write(USAGE); process.exit(0); }
    const known = ['--ar', '--mdlm', '--cdcd', '--judge', '--cdcd-nowarp', '--cdcd-also', '--warp-runs', '--only', '--samples', '--figures', '--json'];
    if (!known.includes(a) || i + 1 >= args.length) { process.stderr.write(`experiments: unknown option or missing value: ${a}\n${USAGE}`); process.exit(2); }
    opt[a.slice(2)] = args[++i];
  }
  const only = opt.only?.split(',').filter(Boolean) as ExperimentName[] | undefined;
  for (const x of only ?? []) if (!(EXPERIMENTS as readonly string[]).includes(x)) { process.stderr.write(`experiments: --only: expected some of ${EXPERIMENTS.join(', ')}, got ${JSON.stringify(x)}\n`); process.exit(2); }
  const samples = opt.samples === undefined ? undefined : Number(opt.samples);
  if (samples !== undefined && !(Number.isSafeInteger(samples) && samples >= 2)) { process.stderr.write(`experiments: --samples: expected an integer >= 2, got ${JSON.stringify(opt.samples)}\n`); process.exit(2); }
  const runs = opt['warp-runs']?.split(',');
  const also = opt['cdcd-also'];
  if (also !== undefined && !/^[^=]+=.+$/.test(also)) { process.stderr.write(`experiments: --cdcd-also: expected LABEL=FILE, got ${JSON.stringify(also)}\n`); process.exit(2); }
  const cdcdMore = also === undefined ? undefined : [{ label: also.slice(0, also.indexOf('=')), file: also.slice(also.indexOf('=') + 1) }];
  const nRuns = 2 + (cdcdMore?.length ?? 0);
  if (runs && runs.length !== nRuns) { process.stderr.write(`experiments: --warp-runs: expected ${nRuns} run folders (warped, uniform${cdcdMore ? ', --cdcd-also' : ''}), got ${JSON.stringify(opt['warp-runs'])}\n`); process.exit(2); }
  if (only?.includes('warp') && !opt['cdcd-nowarp']) { process.stderr.write('experiments: --only warp needs --cdcd-nowarp FILE (a CDCD checkpoint trained with --no-warp)\n'); process.exit(2); }
  // without --only: every experiment whose checkpoints are given (warp needs --cdcd-nowarp)
  const chosen = only ?? EXPERIMENTS.filter((x) => x !== 'warp' || opt['cdcd-nowarp'] !== undefined);
  let r: Record<string, unknown>;
  try {
    r = runTextExperiments({
      ar: opt.ar ?? shippedFile(TEXT_CHECKPOINTS.ar), mdlm: opt.mdlm ?? shippedFile(TEXT_CHECKPOINTS.mdlm), cdcd: opt.cdcd ?? shippedFile(TEXT_CHECKPOINTS.cdcd),
      judge: opt.judge ?? shippedFile(TEXT_CHECKPOINTS.judge), cdcdNoWarp: opt['cdcd-nowarp'], cdcdMore, warpRuns: runs,
    }, { only: chosen, samples, figures: opt.figures });
  } catch (e) {
    process.stderr.write(`experiments: ${(e as Error).message}\n`);
    process.exit(1);
  }
  if (opt.json) fs.writeFileSync(opt.json, JSON.stringify(r, null, 1) + '\n');
  process.stdout.write(formatExperiments(r) + '\n');
}
