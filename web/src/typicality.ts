// The typicality explorer: the posts' figures with the numbers recomputed by the server's closed
// forms (src/typicality) as the sliders move: the radius of a K-dimensional Gaussian (χ_K) and of
// its mirage M_K (half-normal), the mass of the annulus around sqrt(K), the unfair-coin table for
// any p, and the OOD experiment's histograms and ROC curves when `refinery typicality ood` has run.
import { el, fmt, getJSON, numCell } from './api';
import { COLORS, legend, linePlot } from './plot';

interface Numbers {
  K: number; width: number; sqrtK: number;
  annulus: { r0: number; r1: number; mass: number };
  chiMode: number;
  entropy: { gaussian: number; mirage: number };
  mirage: { typicalRadius: number; rOverSqrtK: number; limit: number };
  curves: { r: number[]; gaussian: number[]; mirage: number[] };
  coin: { tosses: number; p: number; rows: { heads: number; tails: number; pSequence: number; sequences: number; pHeads: number }[]; mostLikelySequence: { heads: number }; mostLikelyCount: { heads: number } };
}

export async function typicalityPage(root: HTMLElement): Promise<void> {
  const kSlider = el('input', { id: 'K-slider', type: 'range', min: '0', max: '4', step: '0.01', value: '2' });
  const kInput = el('input', { id: 'K', type: 'number', min: '1', max: '1000000', value: '100' });
  const width = el('input', { id: 'width', type: 'range', min: '0', max: '5', step: '0.1', value: '1' });
  const widthOut = el('output', {}, '1');
  const p = el('input', { id: 'p', type: 'range', min: '0', max: '1', step: '0.01', value: '0.75' });
  const pOut = el('output', {}, '0.75');
  const tosses = el('input', { id: 'tosses', type: 'number', min: '1', max: '50', value: '16' });
  const error = el('div', { class: 'error', id: 'error' });
  const facts = el('table', { class: 'num', id: 'facts' });
  const plot = el('div', { id: 'radius-plot' });
  const coin = el('table', { class: 'num', id: 'coin' });
  const coinNote = el('div', { class: 'muted', id: 'coin-note' });
  const ood = el('div', { id: 'ood' });
  root.replaceChildren(el('div', { class: 'cols' },
    el('div', { class: 'panel' },
      el('h2', {}, 'Dimension'),
      el('label', { for: 'K-slider' }, 'K (log scale)'), kSlider, kInput,
      el('label', { for: 'width' }, 'annulus half-width around √K: ', widthOut), width,
      el('h2', {}, 'Unfair coin'),
      el('label', { for: 'p' }, 'p(heads) = ', pOut), p,
      el('label', { for: 'tosses' }, 'tosses'), tosses,
      error),
    el('div', {},
      el('div', { class: 'panel' }, el('h3', {}, 'Where the mass of N(0, I_K) is'),
        el('p', { class: 'muted' }, 'The density peaks at the origin, yet the radius |x| concentrates around √K: the χ_K density of the radius (blue). The mirage M_K (red) has a radius that is half-normal with scale √K; its typical set sits near 0.53 √K.'),
        plot, facts),
      el('div', { class: 'panel' }, el('h3', {}, 'Unfair coin: the most likely sequence is not typical'), coinNote, coin),
      ood)));

  let pending = 0;
  const update = async (): Promise<void> => {
    const ticket = ++pending;
    const q = new URLSearchParams({ K: kInput.value, width: width.value, p: p.value, tosses: tosses.value });
    let n: Numbers;
    try {
      n = await getJSON<Numbers>(`/api/typicality?${q}`);
    } catch (e) {
      error.textContent = (e as Error).message;
      return;
    }
    if (ticket !== pending) return;
    error.textContent = '';
    const pts = (ys: number[]): [number, number][] => n.curves.r.map((r, i) => [r, ys[i]]);
    const series = [{ name: 'χ_K: radius of N(0, I_K)', color: COLORS[0], points: pts(n.curves.gaussian) }, { name: 'radius of the mirage M_K', color: COLORS[1], points: pts(n.curves.mirage) }];
    plot.replaceChildren(
      linePlot(series, {
        title: `radius densities, K = ${n.K}`, xLabel: 'r', width: 640, height: 280, band: [n.annulus.r0, n.annulus.r1],
        markers: [{ x: n.sqrtK, label: '√K', color: '#555' }, { x: n.mirage.typicalRadius, label: 'M_K typical', color: COLORS[1] }],
      }),
      legend(series));
    const row = (label: string, v: number, id: string) => { const r = el('tr', { id }, el('th', {}, label), numCell('td', v, 6)); return r; };
    facts.replaceChildren(
      row(`mass of N(0, I_K) with ${fmt(n.annulus.r0)} ≤ |x| ≤ ${fmt(n.annulus.r1)}`, n.annulus.mass, 'annulus-mass'),
      row('√K', n.sqrtK, 'sqrtK'),
      row('mode of the radius, √(K − 1)', n.chiMode, 'chi-mode'),
      row('entropy of N(0, I_K) (nats)', n.entropy.gaussian, 'entropy-gaussian'),
      row('entropy of M_K (nats)', n.entropy.mirage, 'entropy-mirage'),
      row('typical radius of M_K', n.mirage.typicalRadius, 'mirage-radius'),
      row('… divided by √K', n.mirage.rOverSqrtK, 'mirage-ratio'),
      row('… its K → ∞ limit √(e^−γ / 2)', n.mirage.limit, 'mirage-limit'));
    const c = n.coin;
    coinNote.textContent = `${c.tosses} tosses with p(heads) = ${c.p}: the single most likely sequence has ${c.mostLikelySequence.heads} heads, but the most likely number of heads is ${c.mostLikelyCount.heads}.`;
    coin.replaceChildren(
      el('tr', {}, ...['heads', 'tails', 'p(one such sequence)', 'sequences C(n, h)', 'p(this many heads)'].map((h) => el('th', {}, h))),
      ...c.rows.map((r) => {
        const tr = el('tr', { 'data-heads': String(r.heads) }, numCell('td', r.heads), numCell('td', r.tails), numCell('td', r.pSequence, 4), numCell('td', r.sequences, 12), numCell('td', r.pHeads, 4));
        if (r.heads === c.mostLikelyCount.heads) tr.classList.add('best');
        return tr;
      }));
  };
  const fromSlider = (): void => { kInput.value = String(Math.round(10 ** Number(kSlider.value))); void update(); };
  kSlider.addEventListener('input', fromSlider);
  kInput.addEventListener('change', () => { const k = Number(kInput.value); if (k >= 1) kSlider.value = String(Math.log10(k)); void update(); });
  width.addEventListener('input', () => { widthOut.textContent = width.value; void update(); });
  p.addEventListener('input', () => { pOut.textContent = p.value; void update(); });
  tosses.addEventListener('change', () => void update());
  await update();

  const { results } = await getJSON<{ results: null | OodResults }>('/api/typicality/ood');
  if (!results) {
    ood.replaceChildren(el('div', { class: 'panel muted' }, 'No OOD result yet: `refinery typicality ood` writes runs/typicality/ood.json, shown here.'));
    return;
  }
  const parts: Node[] = [el('h3', {}, 'Out-of-distribution detection: likelihood vs the typicality test')];
  if (Array.isArray(results.table)) {
    const cols = ['method', 'batchSize', 'auroc', 'threshold', 'fpr', 'tpr'] as const;
    parts.push(el('table', { class: 'num', id: 'ood-table' },
      el('tr', {}, ...['detector', 'batch M', 'AUROC', 'threshold', 'false-positive rate', 'true-positive rate'].map((h) => el('th', {}, h))),
      ...results.table.map((r) => {
        const cells = cols.map((c) => (typeof r[c] === 'number' ? numCell('td', r[c] as number, 4) : el('td', {}, String(r[c] ?? ''))));
        return el('tr', {}, ...cells);
      })));
  }
  const plots = el('div', { class: 'plots' });
  if (results.roc) {
    const s = Object.entries(results.roc).map(([name, pts], i) => ({ name, color: COLORS[i % COLORS.length], points: pts }));
    plots.append(el('div', {}, linePlot(s, { title: 'ROC curves (MNIST digits = positive)', xLabel: 'false-positive rate', width: 420, height: 300 }), legend(s)));
  }
  if (results.histograms) {
    // each histogram as a density over its bins (the data sets differ in size), all on one plot
    const s = Object.entries(results.histograms).map(([name, h], i) => {
      const edges = h.bins.length === h.counts.length + 1;
      const total = h.counts.reduce((a, b) => a + b, 0) || 1;
      const pts = h.counts.map((c, k): [number, number] => {
        const w = edges ? h.bins[k + 1] - h.bins[k] : 1;
        return [edges ? (h.bins[k] + h.bins[k + 1]) / 2 : h.bins[k], c / total / w];
      });
      return { name, color: COLORS[i % COLORS.length], points: pts };
    });
    plots.append(el('div', {}, linePlot(s, { title: 'score histograms (density)', xLabel: 'bits/dim', width: 420, height: 300 }), legend(s)));
  }
  parts.push(plots);
  const scalars = Object.entries(results).filter(([, v]) => typeof v === 'number') as [string, number][];
  if (scalars.length) parts.push(el('table', { class: 'num' }, ...scalars.map(([k, v]) => el('tr', {}, el('th', {}, k), numCell('td', v, 4)))));
  ood.replaceChildren(el('div', { class: 'panel', id: 'ood-panel' }, ...parts));
}

/** What `refinery typicality ood` writes (src/typicality/ood_experiment.ts); every part optional. */
interface OodResults {
  table?: Record<string, unknown>[];
  roc?: Record<string, [number, number][]>;
  histograms?: Record<string, { bins: number[]; counts: number[] }>;
  [k: string]: unknown;
}
