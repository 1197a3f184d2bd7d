// The numbers and figures of "Musings on typicality" and its addendum (Dieleman, 2020) from the
// closed forms in this folder, written to a run folder (results.json, index.html with inline SVG
// plots). `refinery typicality` calls typicalityReport and prints typicalityLines.
import * as fs from 'fs';
import * as path from 'path';
import { Generator, scope, writeFileAtomic } from '../tensor';
import { barPlot, linePlot, renderReport } from '../train/report';
import {
  MIRAGE_TYPICAL_RADIUS_LIMIT, chiCdf, coinTable, gaussianAnnulusMass, gaussianEntropy, gaussianTypicalSet,
  mirageEntropy, mirageTypicalRadius, sampleGaussian, sampleMirage, unitSphereArea,
} from './closed_forms';

const HIST_KS = [1, 3, 10, 100];
const HIST_BINS = 100, HIST_RANGE = 4;

export interface Histogram {
  /** Bin edges (counts.length + 1) or bin centres (counts.length). */
  bins: number[];
  counts: number[];
}

/**
 * What the OOD experiment writes to `<run>/ood.json` for the report's "OOD score histograms and ROC
 * curves" section; every key is optional, extra scalar keys are shown in a table.
 */
export interface OodResults {
  roc?: Record<string, [number, number][]>; // name → [[fpr, tpr], ...]
  histograms?: Record<string, Histogram>; // name → score histogram
  [key: string]: unknown;
}

export interface TypicalityResults {
  seed: number;
  samplesPerHistogram: number;
  gaussian100: { massIn9to11: number; massIn8to12: number; massBelow8: number };
  entropy: { gaussian1: number; mirage1: number; gaussian100: number; mirage100: number };
  mirageTypicalRadius: { K: number; rOverSqrtK: number }[];
  mirageTypicalRadiusLimit: { K: number; rOverSqrtK: number; closedForm: number };
  sphereArea: { K: number; area: number }[];
  sphereAreaPeakK: number;
  typicalSets100: { epsilon: number; width: number; mass: number }[];
  coin: ReturnType<typeof coinTable>;
  mostLikelySequence: { heads: number; pSequence: number };
  mostLikelyCount: { heads: number; pHeads: number };
  histograms: { K: number; gaussian: Histogram; mirage: Histogram }[];
}

/** Computes everything the report shows; the histograms from `samples` flattened coordinates per K, seeded. */
export function typicalityResults(seed = 0, samples = 1_000_000): TypicalityResults {
  const sphereArea = Array.from({ length: 31 }, (_, K) => ({ K, area: unitSphereArea(K) }));
  const coin = coinTable(16, 0.75);
  const bySeq = coin.reduce((a, b) => (b.pSequence > a.pSequence ? b : a));
  const byCount = coin.reduce((a, b) => (b.pHeads > a.pHeads ? b : a));
  const Ks = [...new Set(Array.from({ length: 61 }, (_, i) => Math.round(10 ** (i / 10))))]; // 1 … 1e6, log-spaced
  const epsilons = Array.from({ length: 60 }, (_, i) => 0.005 * (i + 1));
  const generator = new Generator(seed);
  const edges = Array.from({ length: HIST_BINS + 1 }, (_, i) => -HIST_RANGE + (2 * HIST_RANGE * i) / HIST_BINS);
  const histograms = HIST_KS.map((K) => scope(() => {
    const n = Math.floor(samples / K);
    const hist = (x: ReturnType<typeof sampleGaussian>) => ({ bins: edges, counts: x.flatten().histc(HIST_BINS, -HIST_RANGE, HIST_RANGE).dataSync() });
    return { K, gaussian: hist(sampleGaussian(n, K, generator)), mirage: hist(sampleMirage(n, K, generator)) };
  }));
  generator.dispose();
  const bigK = 1e8;
  return {
    seed,
    samplesPerHistogram: samples,
    gaussian100: { massIn9to11: gaussianAnnulusMass(100, 9, 11), massIn8to12: gaussianAnnulusMass(100, 8, 12), massBelow8: chiCdf(8, 100) },
    entropy: { gaussian1: gaussianEntropy(1), mirage1: mirageEntropy(1), gaussian100: gaussianEntropy(100), mirage100: mirageEntropy(100) },
    mirageTypicalRadius: Ks.map((K) => ({ K, rOverSqrtK: mirageTypicalRadius(K) / Math.sqrt(K) })),
    mirageTypicalRadiusLimit: { K: bigK, rOverSqrtK: mirageTypicalRadius(bigK) / Math.sqrt(bigK), closedForm: MIRAGE_TYPICAL_RADIUS_LIMIT },
    sphereArea,
    sphereAreaPeakK: sphereArea.reduce((a, b) => (b.area > a.area ? b : a)).K,
    typicalSets100: epsilons.map((epsilon) => {
      const t = gaussianTypicalSet(100, epsilon);
      return { epsilon, width: t.width, mass: t.mass };
    }),
    coin,
    mostLikelySequence: { heads: bySeq.heads, pSequence: bySeq.pSequence },
    mostLikelyCount: { heads: byCount.heads, pHeads: byCount.pHeads },
    histograms,
  };
}

function centres(h: Histogram): number[] {
  return h.bins.length === h.counts.length + 1 ? h.counts.map((_, i) => (h.bins[i] + h.bins[i + 1]) / 2) : h.bins;
}

const grid = (figs: string[]) => `<div class="grid">\n${figs.map((f) => `<figure>${f}</figure>`).join('\n')}\n</div>`;
const escHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The report's OOD section from `ood.json` contents (or a note when the experiment has not run). */
function oodSection(ood: OodResults | undefined): string {
  if (!ood) return '<p>No OOD results yet: the OOD experiment writes <code>ood.json</code> ({roc: {name: [[fpr, tpr], …]}, histograms: {name: {bins, counts}}}) into this folder and regenerates this page.</p>';
  const figs: string[] = [];
  for (const [name, h] of Object.entries(ood.histograms ?? {})) {
    const c = centres(h);
    figs.push(barPlot(name, h.counts.map((v, i) => [c[i], v] as [number, number]), 'score'));
  }
  for (const [name, pts] of Object.entries(ood.roc ?? {})) {
    figs.push(linePlot(`ROC: ${name}`, [...pts].sort((a, b) => a[0] - b[0] || a[1] - b[1]), 'false positive rate'));
  }
  const rest = Object.entries(ood).filter(([k]) => k !== 'roc' && k !== 'histograms');
  const table = rest.length
    ? `<table>\n${rest.map(([k, v]) => `<tr><th>${escHtml(k)}</th><td>${escHtml(typeof v === 'string' ? v : JSON.stringify(v))}</td></tr>`).join('\n')}\n</table>`
    : '';
  return (figs.length ? grid(figs) : '<p>ood.json has no curves.</p>') + '\n' + table;
}

/** Renders `dir/index.html` from `dir/results.json` and, when present, `dir/ood.json`; returns its path. */
export function writeTypicalityReport(dir = path.join('runs', 'typicality')): string {
  const r = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as TypicalityResults;
  let ood: OodResults | undefined;
  try {
    ood = JSON.parse(fs.readFileSync(path.join(dir, 'ood.json'), 'utf8')) as OodResults;
  } catch {
    ood = undefined;
  }
  const hist = (title: string, h: Histogram) => {
    const c = centres(h);
    return barPlot(title, h.counts.map((v, i) => [c[i], v] as [number, number]), 'coordinate');
  };
  const g = r.gaussian100;
  const sections = [
    {
      heading: 'Numbers',
      html: `<table>
<tr><th>100-D Gaussian: mass with 9 ≤ r ≤ 11</th><td>${(100 * g.massIn9to11).toFixed(2)}%</td></tr>
<tr><th>100-D Gaussian: mass with 8 ≤ r ≤ 12</th><td>${(100 * g.massIn8to12).toFixed(2)}%</td></tr>
<tr><th>100-D Gaussian: mass with r &lt; 8</th><td>${(100 * g.massBelow8).toFixed(3)}%</td></tr>
<tr><th>H(N_1), H(M_1) (nats)</th><td>${r.entropy.gaussian1.toFixed(6)}, ${r.entropy.mirage1.toFixed(6)}</td></tr>
<tr><th>H(N_100), H(M_100) (nats)</th><td>${r.entropy.gaussian100.toFixed(3)}, ${r.entropy.mirage100.toFixed(3)}</td></tr>
<tr><th>mirage typical radius / sqrt(K) at K = ${r.mirageTypicalRadiusLimit.K.toExponential(0)}</th><td>${r.mirageTypicalRadiusLimit.rOverSqrtK.toFixed(5)} (limit sqrt(e^−γ/2) = ${r.mirageTypicalRadiusLimit.closedForm.toFixed(5)})</td></tr>
<tr><th>unit sphere area peaks at</th><td>K = ${r.sphereAreaPeakK}</td></tr>
</table>`,
    },
    {
      heading: 'Flattened coordinates: N_K (top) and the Gaussian mirage M_K (bottom)',
      html: grid([...r.histograms.map((h) => hist(`N_${h.K}`, h.gaussian)), ...r.histograms.map((h) => hist(`M_${h.K}`, h.mirage))]),
    },
    {
      heading: 'Typical sets of the 100-D Gaussian',
      html: grid([linePlot('probability mass vs annulus width', r.typicalSets100.map((t) => [t.width, t.mass]), 'annulus width')]),
    },
    {
      heading: 'Unfair coin: 16 tosses, p(heads) = 3/4',
      html: grid([
        linePlot('p(sequence)', r.coin.map((c) => [c.heads, c.pSequence]), '#heads'),
        barPlot('p(#heads)', r.coin.map((c) => [c.heads, c.pHeads]), '#heads'),
      ]) + `\n<table>\n<tr><th>#heads</th><th>p(sequence)</th><th>#sequences</th><th>p(#heads)</th></tr>\n${r.coin
        .map((c) => {
          const b = (s: string, on: boolean) => (on ? `<b>${s}</b>` : s);
          return `<tr><td>${c.heads}</td><td>${b(c.pSequence.toExponential(2), c.heads === r.mostLikelySequence.heads)}</td><td>${c.sequences}</td><td>${b(c.pHeads.toExponential(2), c.heads === r.mostLikelyCount.heads)}</td></tr>`;
        })
        .join('\n')}\n</table>`,
    },
    {
      heading: 'The Gaussian mirage',
      html: grid([
        linePlot('typical radius / sqrt(K)', r.mirageTypicalRadius.map((m) => [Math.log10(m.K), m.rOverSqrtK]), 'log10 K'),
        barPlot('unit K-sphere surface area', r.sphereArea.map((s) => [s.K, s.area]), 'K'),
      ]),
    },
    // Hook for the OOD experiment: it writes ood.json here and calls writeTypicalityReport(dir).
    { heading: 'OOD score histograms and ROC curves', html: oodSection(ood) },
  ];
  const html = renderReport({
    title: 'Typicality',
    status: 'completed',
    records: [],
    config: { seed: r.seed, samplesPerHistogram: r.samplesPerHistogram },
    sections,
  });
  const out = path.join(dir, 'index.html');
  writeFileAtomic(out, Buffer.from(html, 'utf8'));
  return out;
}

/** The largest `samples` typicalityResults accepts: each histogram's samples are one float32 tensor. */
export const MAX_TYPICALITY_SAMPLES = 10_000_000;

/** Computes typicalityResults(seed, samples) and writes `dir`/results.json and `dir`/index.html. */
export function typicalityReport(o: { seed?: number; samples?: number; dir?: string } = {}): { results: TypicalityResults; report: string } {
  const seed = o.seed ?? 0, samples = o.samples ?? 1_000_000;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`typicalityReport: seed must be a non-negative integer, got ${seed}`);
  if (!Number.isSafeInteger(samples) || samples < HIST_KS[HIST_KS.length - 1] || samples > MAX_TYPICALITY_SAMPLES) {
    throw new RangeError(`typicalityReport: samples must be an integer in [${HIST_KS[HIST_KS.length - 1]}, ${MAX_TYPICALITY_SAMPLES}], got ${samples}`);
  }
  const dir = o.dir ?? path.join('runs', 'typicality');
  const results = typicalityResults(seed, samples);
  fs.mkdirSync(dir, { recursive: true }); // ood.json from the OOD experiment may already be there
  writeFileAtomic(path.join(dir, 'results.json'), Buffer.from(JSON.stringify(results, null, 1), 'utf8'));
  return { results, report: writeTypicalityReport(dir) };
}

/** The printed summary of typicalityResults. */
export function typicalityLines(r: TypicalityResults): string[] {
  const pct = (v: number, d = 2) => `${(100 * v).toFixed(d)}%`;
  return [
    'Typicality (Dieleman, 2020)',
    `100-D standard Gaussian: ${pct(r.gaussian100.massIn9to11)} of radii in [9, 11], ${pct(r.gaussian100.massIn8to12)} in [8, 12], ${pct(r.gaussian100.massBelow8, 3)} below 8`,
    `entropy (nats): H(N_1) = ${r.entropy.gaussian1.toFixed(6)}, H(M_1) = ${r.entropy.mirage1.toFixed(6)}; H(N_100) = ${r.entropy.gaussian100.toFixed(3)}, H(M_100) = ${r.entropy.mirage100.toFixed(3)}`,
    `mirage typical radius / sqrt(K): K=10 ${(mirageTypicalRadius(10) / Math.sqrt(10)).toFixed(5)}, K=1e4 ${(mirageTypicalRadius(1e4) / 100).toFixed(5)}, K=1e8 ${r.mirageTypicalRadiusLimit.rOverSqrtK.toFixed(5)} (limit ${r.mirageTypicalRadiusLimit.closedForm.toFixed(5)})`,
    `unit sphere surface area peaks at K = ${r.sphereAreaPeakK} (${unitSphereArea(r.sphereAreaPeakK).toFixed(3)})`,
    'unfair coin, 16 tosses, p(heads) = 3/4:',
    ' #heads  p(sequence)  #sequences  p(#heads)',
    ...r.coin.map((c) => `${String(c.heads).padStart(7)}  ${c.pSequence.toExponential(2).padStart(11)}${c.heads === r.mostLikelySequence.heads ? '*' : ' '} ${String(c.sequences).padStart(10)}  ${c.pHeads.toExponential(2).padStart(9)}${c.heads === r.mostLikelyCount.heads ? '*' : ''}`),
    `most likely sequence: all heads (${r.mostLikelySequence.pSequence.toExponential(2)}); most likely count: ${r.mostLikelyCount.heads} heads (${r.mostLikelyCount.pHeads.toExponential(2)})`,
  ];
}
