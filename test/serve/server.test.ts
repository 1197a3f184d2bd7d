// Refinery Studio over plain HTTP: a sampling job streams every step and ends with the grid that
// `refinery sample`'s library call draws from the same settings; parameters are checked with the
// CLI's flag definitions; one job per client, a bounded queue, cancellation when the client goes
// away; a broken checkpoint is an error and the server goes on; no file outside the assets and the
// runs folder is served (.., %2e%2e, absolute paths, symlinks); other Hosts and cross-origin POSTs
// are refused; the runs API follows a growing metrics.jsonl; the typicality API is the library's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { sampleGrid } from '../../src/diffusion';
import { Studio } from '../../src/serve/server';
import { MAX_RUN_STREAMS, MAX_STUDIO_SAMPLES } from '../../src/serve/limits';
import { Generator, functions as torch, saveFile } from '../../src/tensor';
import { MetricsWriter } from '../../src/train/metrics';
import { saveCheckpoint } from '../../src/train/checkpoint';
import { TextModelName, buildTextLM, sampleText, textKind } from '../../src/text';
import { WAVENET_KIND, WaveNet, generateNotes } from '../../src/audio';
import { chiCdf, coinTable, gaussianAnnulusMass, mirageTypicalRadius } from '../../src/typicality';
import { SseEvent, job, json, pngPixels, request, startJob, studio, until } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..', '..');
let s: Studio;
let runsDir: string;
let tmp: string;

before(async () => {
  ({ s, runsDir, tmp } = await studio({ maxQueued: 1 }));
});
after(async () => {
  await s.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const names = (events: SseEvent[]): string[] => events.map((e) => e.event);

test('a job streams each step (x and D(x, σ) as PNG grids, σ decreasing from 80), then the grid the library draws from the same settings', async () => {
  const params = { n: 2, steps: 4, sampler: 'euler', guidance: 3, seed: 7, compare: [0] };
  const r = await job(s.port, params);
  assert.equal(r.status, 200);
  assert.deepEqual(names(r.events), ['accepted', 'start', 'step', 'step', 'step', 'step', 'grid', 'progress', 'progress', 'progress', 'progress', 'grid', 'done', 'end']);
  assert.equal(r.events.at(-1)!.data.outcome, 'done');
  assert.equal(r.events[0].data.params.file, undefined, 'server paths are not echoed');
  const steps = r.events.filter((e) => e.event === 'step').map((e) => e.data);
  assert.deepEqual(steps.map((d) => d.i), [0, 1, 2, 3]);
  assert.equal(steps[0].sigma, 80);
  for (let i = 1; i < steps.length; i++) assert.ok(steps[i].sigma < steps[i - 1].sigma);
  for (const d of steps) {
    const x = pngPixels(d.x), den = pngPixels(d.denoised);
    assert.deepEqual([x.width, x.height, den.width, den.height], [62, 32, 62, 32]); // 2 images of 28 in a row, padding 2
  }
  // the grids: exactly what sampleGrid writes for γ = 3 and γ = 0 from the same seed (up to one
  // gray level: the worker and this thread may sum in another order, and a pixel at a rounding edge flips)
  const grids = r.events.filter((e) => e.event === 'grid').map((e) => e.data);
  assert.deepEqual(grids.map((g) => g.guidance), [3, 0]);
  for (const g of grids) {
    const out = path.join(tmp, `ref-${g.guidance}.png`);
    sampleGrid({ n: 2, steps: 4, sampler: 'euler', guidance: g.guidance, seed: 7, out });
    const a = pngPixels(g.png), b = pngPixels(fs.readFileSync(out));
    assert.deepEqual([a.width, a.height], [b.width, b.height]);
    let worst = 0, sum = 0, sq = 0;
    for (let i = 0; i < a.data.length; i++) {
      worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
      sum += a.data[i]; sq += a.data[i] ** 2;
    }
    assert.ok(worst <= 1, `γ = ${g.guidance}: largest pixel difference from sampleGrid ${worst}`);
    const mean = sum / a.data.length;
    assert.ok(sq / a.data.length - mean ** 2 > 100, 'the grid is not blank');
  }
  // other γ, same noise: the two grids differ
  assert.notEqual(grids[0].png, grids[1].png);
});

test('parameters are checked like the CLI flags: each error names the parameter, the value and what was expected', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ n: MAX_STUDIO_SAMPLES + 1 }, /^n: expected an integer in \[1, 64\], got "65"$/],
    [{ steps: 0 }, /^steps: expected an integer in \[1, 200\], got "0"$/],
    [{ guidance: -1 }, /^guidance: expected a number in \[0, 100\], got "-1"$/],
    [{ sampler: 'plms' }, /^sampler: expected one of euler, .*heun.*, got "plms"$/],
    [{ class: 10 }, /^class: expected an integer in \[-1, 9\], got "10"$/],
    [{ seed: 'abc' }, /^seed: expected an integer in \[0, .*\], got "abc"$/],
    [{ compare: [1, 2, 3, 4, 5] }, /^compare: expected at most 4 guidance scales, got 5$/],
    [{ checkpoint: '/etc/passwd' }, /^checkpoint: expected one of shipped.*, got "\/etc\/passwd"$/],
    [{ n: { $gt: 1 } }, /^n: expected an integer in \[1, 64\], got \{"\$gt":1\}$/],
    [{ batch: 3 }, /^unknown parameter "batch"; valid: checkpoint, class, guidance, sampler, steps, seed, n, compare$/],
  ];
  for (const [params, re] of bad) {
    const r = await job(s.port, params);
    assert.equal(r.status, 400, JSON.stringify(params));
    assert.match(r.error!, re);
  }
  const post = (body: string, type = 'application/json') => request(s.port, 'POST', '/api/kinds/diffusion/jobs', { body, headers: { 'content-type': type } });
  assert.equal((await post('{"params":')).status, 400);
  assert.equal((await post('n=3', 'text/plain')).status, 415);
  assert.equal((await post(JSON.stringify({ params: {}, pad: 'x'.repeat(20000) }))).status, 413);
  assert.match(json(await post(JSON.stringify({ params: {}, client: '../x' }))).error, /^client: expected 1-64 letters/);
  assert.equal((await request(s.port, 'POST', '/api/kinds/nope/jobs', { body: '{}', headers: { 'content-type': 'application/json' } })).status, 404);
});

test('one job per client, a bounded queue, and a job whose client goes away is cancelled at its next step', async () => {
  // a long job (200 Heun steps of 8 images: a minute) for client a
  const a = startJob(s.port, { n: 8, steps: 200, sampler: 'heun' }, { client: 'a' });
  await a.waitFor((e) => e.event === 'step');
  // the same client again: refused while its job runs
  const again = await job(s.port, { n: 1, steps: 1 }, { client: 'a' });
  assert.equal(again.status, 409);
  assert.match(again.error!, /already has a job running/);
  // client b waits in the queue (one place: maxQueued 1); client c finds it full
  const b = startJob(s.port, { n: 1, steps: 2, sampler: 'euler' }, { client: 'b' });
  const q = await b.waitFor((e) => e.event === 'queued');
  assert.equal(q.data.position, 1);
  const c = await job(s.port, { n: 1, steps: 1 }, { client: 'c' });
  assert.equal(c.status, 503);
  assert.match(c.error!, /queue is full \(1 jobs waiting\)/);
  assert.equal(json(await request(s.port, 'GET', '/api/status')).queued, 1);
  // a's client goes away: its job stops at its next step, and b runs to the end
  a.abort();
  const rb = await b.done;
  assert.deepEqual(names(rb.events).slice(0, 3), ['accepted', 'queued', 'start']);
  assert.equal(rb.events.at(-1)!.data.outcome, 'done');
  const ended = json(await request(s.port, 'GET', '/api/status')).ended as { id: number; outcome: string; events: number }[];
  const aJob = ended.find((j) => j.outcome === 'cancelled');
  assert.ok(aJob, `a cancelled job among ${JSON.stringify(ended)}`);
  assert.ok(aJob.events < 20, `the cancelled job stopped after ${aJob.events} events, not 200 steps`);
  // a queued job whose client goes away leaves the queue without running
  const a2 = startJob(s.port, { n: 8, steps: 200, sampler: 'heun' }, { client: 'a' });
  await a2.waitFor((e) => e.event === 'step');
  const b2 = startJob(s.port, { n: 1, steps: 2 }, { client: 'b' });
  await b2.waitFor((e) => e.event === 'queued');
  b2.abort();
  await until(async () => json(await request(s.port, 'GET', '/api/status')).queued === 0, 'the queued job to leave the queue');
  a2.abort();
  await until(async () => json(await request(s.port, 'GET', '/api/status')).running === null, 'the running job to stop');
  const last = (json(await request(s.port, 'GET', '/api/status')).ended as { outcome: string; events: number }[]).slice(-2);
  assert.deepEqual(last.map((j) => j.outcome), ['cancelled', 'cancelled']);
  assert.equal(last[0].events, 0, 'the queued job never ran');
});

test('the worker holds no more tensors after a job, a cancelled one included, than before it', async () => {
  const done = async (): Promise<{ liveTensors: number; liveBytes: number }> => {
    const r = await job(s.port, { n: 2, steps: 3, sampler: 'heun', compare: [1] });
    assert.equal(r.events.at(-1)!.data.outcome, 'done');
    const { liveTensors, liveBytes } = r.events.find((e) => e.event === 'done')!.data;
    return { liveTensors, liveBytes };
  };
  const first = await done();
  assert.ok(first.liveTensors > 0, 'the cached model');
  const long = startJob(s.port, { n: 8, steps: 200, sampler: 'heun' });
  await long.waitFor((e) => e.event === 'step');
  long.abort();
  await until(async () => json(await request(s.port, 'GET', '/api/status')).running === null, 'the cancelled job to stop');
  const second = await done();
  assert.deepEqual(second, first);
});

/** Writes a safetensors file whose header says diffusion but whose tensors are not the model's. */
function wrongTensors(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const g = new Generator(0);
  const t = torch.randn([3, 3], { generator: g });
  saveFile(file, { 'model.nothing': t }, { format: 'pt', config: JSON.stringify({ kind: 'diffusion' }) });
  t.dispose(); g.dispose();
}

test('a malformed or missing checkpoint is an error the page shows, and the server goes on sampling', async () => {
  fs.mkdirSync(path.join(runsDir, 'bad'), { recursive: true });
  fs.writeFileSync(path.join(runsDir, 'bad', 'model.safetensors'), 'not a safetensors file at all');
  wrongTensors(path.join(runsDir, 'wrong', 'model.safetensors'));
  fs.mkdirSync(path.join(runsDir, 'gone'), { recursive: true });
  fs.copyFileSync(path.join(runsDir, 'bad', 'model.safetensors'), path.join(runsDir, 'gone', 'model.safetensors'));
  const kinds = json(await request(s.port, 'GET', '/api/kinds'));
  const listed = kinds[0].options.checkpoints as { id: string; problem?: string }[];
  assert.deepEqual(listed.map((c) => c.id), ['shipped', 'runs/bad/model.safetensors', 'runs/gone/model.safetensors', 'runs/wrong/model.safetensors']);
  assert.ok(listed[1].problem, 'the unreadable file is marked');
  // unreadable header: refused before any work, naming the parameter
  const bad = await job(s.port, { checkpoint: 'runs/bad/model.safetensors', n: 1, steps: 1 });
  assert.equal(bad.status, 400);
  assert.match(bad.error!, /^checkpoint: "runs\/bad\/model.safetensors" is not a usable diffusion checkpoint: /);
  // gone since it was listed: no longer a choice
  fs.rmSync(path.join(runsDir, 'gone'), { recursive: true });
  const gone = await job(s.port, { checkpoint: 'runs/gone/model.safetensors', n: 1, steps: 1 });
  assert.equal(gone.status, 400);
  assert.match(gone.error!, /^checkpoint: expected one of shipped, runs\/bad\/model.safetensors, runs\/wrong\/model.safetensors, got "runs\/gone\/model.safetensors"$/);
  // a readable header over the wrong tensors: the worker's load fails, the job ends with its error
  const wrong = await job(s.port, { checkpoint: 'runs/wrong/model.safetensors', n: 1, steps: 1 });
  assert.equal(wrong.status, 200);
  assert.deepEqual(names(wrong.events), ['accepted', 'error', 'end']);
  assert.match(wrong.events[1].data.message, /model|missing|expected/i);
  // and the next job runs
  const ok = await job(s.port, { n: 1, steps: 1, sampler: 'euler' });
  assert.equal(ok.events.at(-1)!.data.outcome, 'done');
  for (const d of ['bad', 'wrong']) fs.rmSync(path.join(runsDir, d), { recursive: true });
});

test('only the assets and the runs folder are served: .., %2e%2e, absolute paths and symlinks out of the root are refused', async () => {
  const secret = path.join(tmp, 'secret.txt');
  fs.writeFileSync(secret, 'TOP SECRET');
  fs.mkdirSync(path.join(runsDir, 'r1'), { recursive: true });
  fs.writeFileSync(path.join(runsDir, 'r1', 'config.json'), '{"lr":0.1}');
  fs.symlinkSync(secret, path.join(runsDir, 'r1', 'link.txt'));
  fs.symlinkSync(tmp, path.join(runsDir, 'outside'));
  fs.writeFileSync(path.join(runsDir, 'r1', 'inside.txt'), 'fine');
  fs.symlinkSync(path.join(runsDir, 'r1', 'inside.txt'), path.join(runsDir, 'r1', 'alias.txt'));
  const refused = [
    '/runs/../secret.txt', '/runs/%2e%2e/secret.txt', '/runs/%2E%2E%2Fsecret.txt', '/runs/..%2fsecret.txt', '/runs/r1/../../secret.txt',
    '/runs/%252e%252e/secret.txt', '/runs/r1/link.txt', '/runs/outside/secret.txt', `/runs/${secret}`, `/runs//${secret.slice(1)}`,
    `/runs/${encodeURIComponent(secret)}`, '/assets/../../../package.json', '/assets/%2e%2e/%2e%2e/%2e%2e/package.json', '/runs/r1/%00config.json',
    '/runs/..\\secret.txt', '/../secret.txt',
  ];
  for (const p of refused) {
    const r = await request(s.port, 'GET', p);
    assert.ok(r.status === 403 || r.status === 404 || r.status === 400, `${p}: status ${r.status}`);
    assert.ok(!r.body.includes('TOP SECRET') && !r.body.includes('"name": "refinery"'), `${p} leaked a file`);
  }
  assert.equal((await request(s.port, 'GET', '/runs/r1/link.txt')).status, 403);
  // what is inside is served (a symlink within the root too), with the sandbox policy
  const ok = await request(s.port, 'GET', '/runs/r1/config.json');
  assert.deepEqual([ok.status, ok.body], [200, '{"lr":0.1}']);
  assert.match(String(ok.headers['content-security-policy']), /sandbox/);
  assert.equal((await request(s.port, 'GET', '/runs/r1/alias.txt')).body, 'fine');
  const app = await request(s.port, 'GET', '/assets/app.js');
  assert.equal(app.status, 200);
  assert.match(String(app.headers['content-type']), /javascript/);
  const idx = await request(s.port, 'GET', '/');
  assert.match(idx.body, /Refinery Studio/);
  assert.match(String(idx.headers['content-security-policy']), /default-src 'self'/);
  // run names are validated as well
  for (const n of ['..', '../..', 'r1/../..', '/etc', 'outside']) {
    const r = await request(s.port, 'GET', `/api/runs/detail?name=${encodeURIComponent(n)}`);
    assert.ok(r.status === 403 || r.status === 404, `run ${n}: ${r.status}`);
  }
  fs.rmSync(path.join(runsDir, 'outside'));
  fs.rmSync(path.join(runsDir, 'r1'), { recursive: true });
});

test('another Host (DNS rebinding) and a cross-origin POST are refused', async () => {
  const r = await request(s.port, 'GET', '/api/status', { headers: { host: 'attacker.example:80' } });
  assert.equal(r.status, 403);
  assert.match(json(r).error, /unexpected Host header "attacker.example:80"/);
  assert.equal((await request(s.port, 'GET', '/api/status', { headers: { host: `localhost:${s.port}` } })).status, 200);
  const post = await request(s.port, 'POST', '/api/kinds/diffusion/jobs', {
    body: '{"params":{"n":1,"steps":1}}', headers: { 'content-type': 'application/json', origin: 'http://attacker.example' },
  });
  assert.equal(post.status, 403);
  assert.match(json(post).error, /cross-origin request from http:\/\/attacker.example refused/);
});

test('the runs API lists run folders and streams a metrics.jsonl as it grows (and again after a rewrite)', async () => {
  const w = new MetricsWriter(path.join(runsDir, 'grow', 'metrics.jsonl'));
  fs.writeFileSync(path.join(runsDir, 'grow', 'config.json'), JSON.stringify({ lr: 0.01 }));
  w.write(1, { 'train/loss': 1.5 });
  w.write(2, { 'train/loss': 1.25, lr: NaN });
  const list = json(await request(s.port, 'GET', '/api/runs'));
  assert.deepEqual(list.runs.map((r: { name: string }) => r.name), ['grow']);
  assert.deepEqual(json(await request(s.port, 'GET', '/api/runs/detail?name=grow')).config, { lr: 0.01 });
  const got: any[] = [];
  const http = await import('http');
  const req = http.get({ host: '127.0.0.1', port: s.port, path: '/api/runs/metrics?name=grow' }, (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buf += d;
      for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
        const frame = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (/^event: records$/m.test(frame)) got.push(JSON.parse(/^data: (.*)$/m.exec(frame)![1]));
      }
    });
  });
  await until(() => got.length === 1, 'the first records');
  assert.equal(got[0].reset, true, 'a stream starts with a whole snapshot');
  assert.deepEqual(got[0].records.map((r: any) => [r.step, r['train/loss']]), [[1, 1.5], [2, 1.25]]);
  assert.equal(got[0].records[1].lr, null, 'NaN arrives as null');
  // a half-written line is held back until it is complete
  fs.appendFileSync(w.path, '{"step":3,"time":1,"train/loss":1.');
  await new Promise((r) => setTimeout(r, 400)); // four polls
  assert.equal(got.length, 1);
  fs.appendFileSync(w.path, '125}\n');
  w.write(4, { 'train/loss': 0.5 });
  await until(() => got.flatMap((g) => g.records).length === 4, 'the appended records');
  assert.deepEqual(got.flatMap((g) => g.records).slice(2).map((r: any) => [r.step, r['train/loss']]), [[3, 1.125], [4, 0.5]]);
  w.close();
  fs.writeFileSync(w.path, '{"step":1,"time":1,"train/loss":9}\n');
  await until(() => got.slice(1).some((g) => g.reset), 'the reset after a rewrite');
  assert.deepEqual(got.slice(1).find((g) => g.reset).records.map((r: any) => r['train/loss']), [9]);
  // at most MAX_RUN_STREAMS open at once (this one is still open)
  const more: import('http').ClientRequest[] = [];
  const opened = await Promise.all(Array.from({ length: MAX_RUN_STREAMS }, () => new Promise<number>((resolve) => {
    const r = http.get({ host: '127.0.0.1', port: s.port, path: '/api/runs/metrics?name=grow' }, (res) => { resolve(res.statusCode ?? 0); res.resume(); });
    more.push(r);
  })));
  assert.deepEqual(opened.filter((c) => c !== 200), [503], 'the one stream past the limit is refused');
  for (const r of more) r.destroy();
  req.destroy();
  fs.rmSync(path.join(runsDir, 'grow'), { recursive: true });
});

test('the typicality API returns the closed forms of the library, with its parameters checked', async () => {
  const t = json(await request(s.port, 'GET', '/api/typicality?K=100&width=1&p=0.75&tosses=16'));
  assert.equal(t.annulus.mass, gaussianAnnulusMass(100, 9, 11));
  assert.ok(Math.abs(t.annulus.mass - (chiCdf(11, 100) - chiCdf(9, 100))) < 1e-12);
  assert.equal(t.mirage.typicalRadius, mirageTypicalRadius(100));
  assert.deepEqual(t.coin.rows, coinTable(16, 0.75));
  assert.deepEqual([t.coin.mostLikelySequence.heads, t.coin.mostLikelyCount.heads], [16, 12]);
  const bad = await request(s.port, 'GET', '/api/typicality?K=0');
  assert.equal(bad.status, 400);
  assert.equal(json(bad).error, 'K: expected an integer in [1, 1,000,000], got "0"');
  assert.equal(json(await request(s.port, 'GET', '/api/typicality/ood')).results, null);
});

/** `refinery serve ARGS` as a child process: its first stdout line, then SIGINT; the exit code and stderr. */
function serveProcess(args: string[]): Promise<{ url: string | null; body: string; status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'serve', ...args], { env: { ...process.env, REFINERY_NUM_THREADS: '1' } });
    let out = '', stderr = '', url: string | null = null, body = '';
    p.stderr.on('data', (d) => { stderr += d; });
    p.stdout.on('data', (d) => {
      out += d;
      const m = /(http:\/\/[^ ]+\/)/.exec(out);
      if (m && url === null) {
        url = m[1];
        const port = Number(new URL(url).port);
        request(port, 'GET', '/').then((r) => { body = r.body; p.kill('SIGINT'); }, reject);
      }
    });
    p.on('error', reject);
    p.on('close', (status) => resolve({ url, body, status, stderr }));
  });
}

test('refinery serve prints its URL, serves the app, stops on Ctrl-C; --host beyond loopback warns; bad flags are usage errors', async () => {
  const local = await serveProcess(['--port', '0', '--runs-dir', path.join(tmp, 'cli-runs')]);
  assert.match(local.url!, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.match(local.body, /Refinery Studio/);
  assert.equal(local.status, 0);
  assert.equal(local.stderr, '');
  const open = await serveProcess(['--port', '0', '--host', '0.0.0.0', '--runs-dir', path.join(tmp, 'cli-runs')]);
  assert.match(open.stderr, /^refinery serve: WARNING: --host 0\.0\.0\.0 exposes the studio beyond this machine, without authentication/);
  assert.equal(open.status, 0);
  const bad = await serveProcess(['--port', '70000']);
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, 'refinery serve: --port: expected a port number in [0, 65535], got "70000"\n');
});

test('the text kind: prompts and ___ infilling on a run folder\'s checkpoints give the library\'s samples; bad requests are named', async () => {
  const dir = path.join(runsDir, 'text');
  fs.mkdirSync(dir, { recursive: true });
  const tiny = (model: TextModelName): string => {
    const lm = buildTextLM({ model, backbone: { vocabSize: 4096, seqLen: 24, dim: 16, depth: 1, heads: 2, mlpRatio: 2, positions: 'rotary' } }, new Generator(0));
    const file = path.join(dir, `${model}.safetensors`);
    saveCheckpoint(file, { model: lm.module, step: 0, config: { kind: textKind(model), lm: lm.config } });
    return file;
  };
  const ar = tiny('ar'), mdlm = tiny('mdlm');
  const kinds = json(await request(s.port, 'GET', '/api/kinds')) as { name: string; options: { checkpoints: { id: string; model: string }[] } }[];
  const text = kinds.find((k) => k.name === 'text')!;
  assert.deepEqual(text.options.checkpoints.filter((c) => c.id.startsWith('runs/')).map((c) => [c.id, c.model]), [['runs/text/ar.safetensors', 'ar'], ['runs/text/mdlm.safetensors', 'mdlm']]);
  assert.ok(!kinds.find((k) => k.name === 'diffusion')!.options.checkpoints.some((c) => c.id.startsWith('runs/text/')), 'text checkpoints are not offered to the diffusion sampler');
  const infill = await job(s.port, { checkpoint: 'runs/text/mdlm.safetensors', text: 'The ___ of the ___.', n: 2, steps: 4, seed: 3 }, { kind: 'text' });
  assert.deepEqual(names(infill.events), ['accepted', 'start', 'texts', 'done', 'end']);
  const want = sampleText({ checkpoint: mdlm, infill: 'The ___ of the ___.', gapTokens: 3, n: 2, steps: 4, seed: 3 });
  assert.deepEqual(infill.events[2].data.texts, want.texts);
  for (const t of want.texts) assert.match(t, /^The.* of the.*\.$/s); // the given words stay, the gaps are filled
  const prompt = await job(s.port, { checkpoint: 'runs/text/ar.safetensors', text: 'The jury said', n: 2, seed: 1 }, { kind: 'text' });
  assert.deepEqual(prompt.events[2].data.texts, sampleText({ checkpoint: ar, prompt: 'The jury said', n: 2, steps: 64, seed: 1 }).texts);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ checkpoint: 'runs/text/ar.safetensors', text: 'The ___ said' }, /^text: ___ gaps need a diffusion model/],
    [{ checkpoint: 'runs/text/none.safetensors' }, /^checkpoint: expected one of .*runs\/text\/ar.safetensors, runs\/text\/mdlm.safetensors, got "runs\/text\/none.safetensors"$/],
    [{ text: 'x' }, /^checkpoint: expected one of .*, got nothing$/],
    [{ checkpoint: 'runs/text/mdlm.safetensors', n: 17 }, /^n: expected an integer in \[1, 16\], got "17"$/],
    [{ checkpoint: 'runs/text/mdlm.safetensors', text: 'x'.repeat(2001) }, /^text: expected at most 2000 characters, got "x+"$/],
  ];
  for (const [params, re] of bad) {
    const r = await job(s.port, params, { kind: 'text' });
    assert.equal(r.status, 400, JSON.stringify(params).slice(0, 80));
    assert.match(r.error!, re);
  }
  fs.rmSync(dir, { recursive: true });
});

test('the audio kind: a run folder\'s WaveNet notes are the WAV files generateNotes writes', async () => {
  const dir = path.join(runsDir, 'wavenet');
  fs.mkdirSync(dir, { recursive: true });
  const net = new WaveNet({ layers: 3, stacks: 1, residualChannels: 8, gateChannels: 8, skipChannels: 8, globalClasses: { pitch: 128, instrument: 4 } }, { generator: new Generator(0) });
  const file = path.join(dir, 'model.safetensors');
  saveCheckpoint(file, { model: net, step: 0, config: { kind: WAVENET_KIND, model: net.config } });
  const kinds = json(await request(s.port, 'GET', '/api/kinds')) as { name: string; options: { checkpoints: { id: string }[] } }[];
  assert.deepEqual(kinds.find((k) => k.name === 'audio')!.options.checkpoints.filter((c) => c.id.startsWith('runs/')).map((c) => c.id), ['runs/wavenet/model.safetensors']);
  const r = await job(s.port, { checkpoint: 'runs/wavenet/model.safetensors', pitch: 60, instrument: 2, seconds: 0.02, count: 2, seed: 4 }, { kind: 'audio' });
  assert.deepEqual(names(r.events), ['accepted', 'start', 'audio', 'done', 'end']);
  const ref = generateNotes({ checkpoint: file, pitch: 60, instrument: 2, seconds: 0.02, count: 2, seed: 4, out: path.join(tmp, 'ref-note.wav'), progress: false });
  assert.deepEqual(r.events[2].data.clips, ref.files.map((f) => `data:audio/wav;base64,${fs.readFileSync(f).toString('base64')}`));
  const bad = await job(s.port, { checkpoint: 'runs/wavenet/model.safetensors', instrument: 9 }, { kind: 'audio' });
  assert.equal(bad.status, 200);
  assert.match(bad.events.find((e) => e.event === 'error')!.data.message, /instrument must be in 0\.\.3/);
  const long = await job(s.port, { checkpoint: 'runs/wavenet/model.safetensors', seconds: 5 }, { kind: 'audio' });
  assert.equal(long.error, 'seconds: expected a number in (0, 4], got "5"');
  fs.rmSync(dir, { recursive: true });
});
