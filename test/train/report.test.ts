// index.html: self-contained (no scripts, no network), an inline SVG plot per metric, the config,
// the run's images and audio.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MetricsWriter } from '../../src/train/metrics';
import { linePlot, niceTicks, renderReport, seriesPlot, writeReport } from '../../src/train/report';

function runDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'report-test-'));
  const w = new MetricsWriter(path.join(dir, 'metrics.jsonl'));
  for (let s = 10; s <= 500; s += 10) {
    w.write(s, { 'train/loss': 2 * Math.exp(-s / 100), lr: s < 250 ? 0.1 : 0.01 }, { epoch: Math.floor(s / 100) });
    if (s % 100 === 0) w.write(s, { 'eval/accuracy': 0.5 + s / 1000 }, { epoch: Math.floor(s / 100) });
  }
  w.close();
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ lr: 0.1, model: { width: 64, act: '<relu>' } }));
  fs.mkdirSync(path.join(dir, 'samples'));
  for (const s of [100, 20, 300]) fs.writeFileSync(path.join(dir, 'samples', `grid step ${s}.png`), 'png bytes');
  fs.writeFileSync(path.join(dir, 'samples', 'voice.wav'), 'wav bytes');
  fs.mkdirSync(path.join(dir, 'checkpoints'));
  fs.writeFileSync(path.join(dir, 'checkpoints', 'not-media.png'), 'x');
  return dir;
}

test('writeReport: an inline <svg> per metric, the config table, the media, nothing fetched or run', () => {
  const dir = runDir();
  const file = writeReport(dir, { title: 'fashion <mlp>', status: 'completed' });
  assert.equal(file, path.join(dir, 'index.html'));
  const html = fs.readFileSync(file, 'utf8');
  assert.match(html, /^<!doctype html>/);
  assert.equal((html.match(/<svg /g) ?? []).length, 3, 'train/loss, lr, eval/accuracy');
  for (const name of ['train/loss', 'lr', 'eval/accuracy']) assert.ok(html.includes(`aria-label="${name}"`), name);
  // self-contained: no scripts, no stylesheets or images from elsewhere, no URLs
  assert.ok(!/<script/i.test(html));
  assert.ok(!/<link/i.test(html));
  assert.ok(!/https?:|\/\//.test(html.replace(/<!doctype html>/, '')), 'no URLs');
  assert.ok(!html.includes('http-equiv'), 'a finished run does not reload');
  // config table, escaped
  assert.ok(html.includes('<tr><th>model.width</th><td>64</td></tr>'));
  assert.ok(html.includes('<td>&lt;relu&gt;</td>'));
  assert.ok(html.includes('<h1>fashion &lt;mlp&gt;</h1>'));
  // media: relative, URL-encoded, in step order, checkpoints/ skipped
  const imgs = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(imgs, ['samples/grid%20step%2020.png', 'samples/grid%20step%20100.png', 'samples/grid%20step%20300.png']);
  assert.ok(html.includes('<audio controls preload="none" src="samples/voice.wav"></audio>'));
  assert.match(html, /step 500 · epoch 5/);
});

test('a running run reloads itself; an empty run renders', () => {
  const html = renderReport({ title: 'x', status: 'running', records: [] });
  assert.ok(html.includes('<meta http-equiv="refresh" content="60">'));
  assert.ok(html.includes('No metrics yet.'));
  assert.ok(!html.includes('<svg'));
});

test('linePlot: a path through every point, log scale over decades, non-finite values omitted, downsampling', () => {
  const pts: [number, number][] = Array.from({ length: 100 }, (_, i) => [i + 1, 10 / (i + 1)]);
  const svg = linePlot('train/loss', pts);
  const d = /<path d="([^"]+)"/.exec(svg)![1];
  assert.equal(d.split(/[ML]/).filter(Boolean).length, 100);
  assert.ok(svg.includes('>last 0.1<'));
  // 10 .. 0.1 spans two decades: log ticks at 1-2-5 steps
  for (const tick of ['>0.1<', '>0.2<', '>0.5<', '>1<', '>2<', '>5<', '>10<']) assert.ok(svg.includes(tick), tick);

  const withNaN = linePlot('loss', [[1, 1], [2, NaN], [3, 0.5]]);
  assert.ok(withNaN.includes('1 non-finite omitted'));
  assert.equal(/<path d="([^"]+)"/.exec(withNaN)![1].split(/[ML]/).filter(Boolean).length, 2);

  assert.ok(linePlot('one', [[5, 0.3]]).includes('<circle'));
  assert.ok(linePlot('none', [[5, NaN]]).includes('no finite values'));

  // 100k points become about two per pixel column, keeping the spike
  const many: [number, number][] = Array.from({ length: 100_000 }, (_, i) => [i, i === 50_000 ? 100 : 1]);
  const big = linePlot('spiky', many);
  const n = /<path d="([^"]+)"/.exec(big)![1].split(/[ML]/).filter(Boolean).length;
  assert.ok(n < 1000, `${n} points drawn`);
  assert.ok(big.includes('>100<') || /last 1</.test(big));
  const ys = /<path d="([^"]+)"/.exec(big)![1].split(/[ML]/).filter(Boolean).map((p) => Number(p.split(' ')[1]));
  assert.ok(Math.min(...ys) < 40, 'the spike is drawn near the top');
});

test('niceTicks gives round values', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(3, 97, 5), [20, 40, 60, 80]);
  assert.deepEqual(niceTicks(-0.013, 0.021, 4), [-0.01, 0, 0.01, 0.02]);
});

test('seriesPlot: one path and legend entry per series, log-x ticks, a standalone file with xmlns; linePlot is its one-series case', () => {
  const a: [number, number][] = [[1, 3], [10, 2], [100, 1]];
  const b: [number, number][] = [[1, 1], [10, 2], [100, 3]];
  const svg = seriesPlot('two', [{ label: 'up', points: b }, { label: 'down', points: a }], 't', { logX: true, standalone: true });
  assert.equal((svg.match(/<path /g) ?? []).length, 2);
  assert.ok(svg.includes('>up</text>') && svg.includes('>down</text>'));
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  // log x: the tick at 10 sits halfway between those at 1 and 100
  const xs = [...svg.matchAll(/<line x1="([\d.]+)" x2="\1" y1/g)].map((m) => Number(m[1]));
  const mid = (xs[0] + xs[xs.length - 1]) / 2;
  assert.ok(xs.length >= 3 && xs.some((x) => Math.abs(x - mid) < 0.2), xs.join(','));
  assert.equal(linePlot('one', a), seriesPlot('one', [{ label: '', points: a }]));
});
