// The README's text experiments beyond `refinery eval text`: sampling steps against generative
// perplexity (MDLM, CDCD), guidance on prefix prompts (CDCD, AR), CDCD's sampling steps spaced in
// warped time against log-spaced ones, and the post's claim that under the warped time the
// entropy of the predictions is about linear in u = F(t) (with the cross-entropy curve the CDF was
// fitted to). `node dist/src/text/experiments.js AR MDLM CDCD JUDGE [OUT.json]` runs them all.
import * as fs from 'fs';
import { Generator, functions as torch, noGrad, scope, tensor } from '../tensor';
import { F } from '../tensor';
import { brownTokenizer, tokenWindows } from './data';
import { TextLM, loadTextLM } from './lm';
import { CDCDNet, cdcdSample } from './cdcd';
import { judgePerplexity, sampleStatistics } from './evaluate';
import { TextTransformer } from './transformer';
import { MASK_ID } from './bpe';

export interface WarpCurvePoint { u: number; t: number; entropy: number; crossEntropy: number }

/** Mean prediction entropy and cross-entropy of validation windows at t = F⁻¹(u) (no given tokens, no self-conditioning). */
export function warpCurve(net: CDCDNet, windows: number[][], us: number[]): WarpCurvePoint[] {
  return noGrad(() => us.map((u) => scope(() => {
    const t = net.warp.inverse(u);
    const x0 = tensor(windows, { dtype: 'int64' });
    const [B, L] = x0.shape;
    const e = F.embedding(x0, net.embeddings());
    const x = e.add(torch.randn(e.shape, { generator: new Generator(0) }).mul(t));
    const logits = net(x, torch.full([B], t), torch.zeros([B, L], { dtype: 'bool' }), e, torch.zerosLike(e));
    const logp = logits.logSoftmax(-1);
    const entropy = logp.exp().mul(logp).sum(-1).neg().mean().item();
    const ce = F.crossEntropy(logits.reshape([-1, logits.shape[2]]), x0.reshape([-1])).item();
    return { u, t, entropy, crossEntropy: ce };
  })));
}

function unconditional(lm: TextLM, judge: TextTransformer, n: number, steps: number, seed: number) {
  const L = lm.config.backbone.seqLen;
  const t0 = performance.now();
  const s = lm.sample({ prompt: [], length: L, batchSize: n, steps, generator: new Generator(seed) });
  const seconds = (performance.now() - t0) / 1000;
  const rows = s.tokens.map((r) => r.slice(0, L));
  return { steps, genPpl: judgePerplexity(judge, rows), ...sampleStatistics(rows), nfe: s.nfe, seconds };
}

/** Prefix-prompted continuations of test windows at each guidance scale, scored by the judge (whole windows). */
function guided(lm: TextLM, judge: TextTransformer, prompts: number[][], L: number, gammas: number[], steps: number) {
  return gammas.map((g) => {
    const rows: number[][] = [];
    if (lm.name === 'ar') {
      for (const [i, p] of prompts.entries()) {
        const s = lm.sample({ prompt: p, length: L - p.length, batchSize: 1, steps, guidance: g, generator: new Generator(i) });
        rows.push([...p, ...s.tokens[0]].slice(0, L));
      }
    } else {
      // one batch: each row its own prefix, the rest to generate
      const templates = prompts.map((p) => [...p, ...new Array<null>(L - p.length).fill(null)]);
      const s = lm.sample({ prompt: [], templates, length: L, batchSize: templates.length, steps, guidance: g, generator: new Generator(0) });
      rows.push(...s.tokens.map((r) => r.slice(0, L)));
    }
    const cont = rows.map((r) => r.slice(prompts[0].length));
    return { guidance: g, genPpl: judgePerplexity(judge, rows), ...sampleStatistics(cont) };
  });
}

export function runTextExperiments(files: { ar: string; mdlm: string; cdcd: string; judge: string }, o: { samples?: number; steps?: number[]; gammas?: number[]; log?: (s: string) => void } = {}) {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const n = o.samples ?? 16;
  const stepsList = o.steps ?? [8, 32, 128];
  const gammas = o.gammas ?? [1, 2, 4];
  const judge = loadTextLM(files.judge, 'ar').lm.module as TextTransformer;
  const ar = loadTextLM(files.ar, 'ar').lm, mdlm = loadTextLM(files.mdlm, 'mdlm').lm, cdcd = loadTextLM(files.cdcd, 'cdcd').lm;
  const bpe = brownTokenizer();
  const L = cdcd.config.backbone.seqLen;
  const val = scope(() => tokenWindows('validation', bpe, L).tolist() as number[][]);
  const test = scope(() => tokenWindows('test', bpe, L).tolist() as number[][]);
  const out: Record<string, unknown> = {};
  // the reference: real test text scored by the same judge, with the same statistics
  const real = test.slice(0, n);
  out.real = { genPpl: judgePerplexity(judge, real), ...sampleStatistics(real) };
  log('experiments: steps vs generative perplexity');
  out.steps = { mdlm: stepsList.map((s) => unconditional(mdlm, judge, n, s, 0)), cdcd: stepsList.map((s) => unconditional(cdcd, judge, n, s, 0)) };
  log('experiments: CDCD sampling steps warped vs log-spaced');
  const net = cdcd.module as CDCDNet;
  out.samplingWarp = [true, false].map((warped) => scope(() => {
    const tpl = torch.full([n, L], MASK_ID, { dtype: 'int64' });
    const r = cdcdSample(net, { template: tpl, steps: 32, warped, generator: new Generator(0) });
    const rows = r.tokens.tolist() as number[][];
    return { warped, steps: 32, genPpl: judgePerplexity(judge, rows), ...sampleStatistics(rows) };
  }));
  log('experiments: entropy and cross-entropy along the warped time');
  out.warpCurve = warpCurve(net, val.slice(0, 16), [0.02, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98]);
  log('experiments: guidance on prefix prompts');
  const prompts = test.slice(0, 8).map((w) => w.slice(0, 32));
  out.guidance = { cdcd: guided(cdcd, judge, prompts, L, gammas, 32), ar: guided(ar, judge, prompts, L, gammas, 32) };
  return out;
}

if (require.main === module) {
  const [ar, mdlm, cdcd, judge, file] = process.argv.slice(2);
  if (!judge) {
    process.stderr.write('usage: node dist/src/text/experiments.js AR.safetensors MDLM.safetensors CDCD.safetensors JUDGE.safetensors [OUT.json]\n');
    process.exit(2);
  }
  const r = runTextExperiments({ ar, mdlm, cdcd, judge });
  const json = JSON.stringify(r, null, 1);
  if (file) fs.writeFileSync(file, json + '\n');
  process.stdout.write(json + '\n');
}
