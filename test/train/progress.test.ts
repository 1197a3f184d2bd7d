// The progress reporter: plain periodic lines when the stream is not a terminal, one line redrawn
// in place when it is, rate and ETA from a (fake) clock.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Progress, formatDuration, formatNumber } from '../../src/train/progress';

function capture(isTTY: boolean, columns = 80) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns, write: (s: string) => chunks.push(s) } };
}

function clock(startMs = 1000) {
  let t = startMs;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

test('not a TTY: a plain line at every 10% with count, percentage, rate, elapsed, ETA and fields', () => {
  const { chunks, stream } = capture(false);
  const c = clock();
  const p = new Progress({ total: 100, label: 'train', stream, now: c.now, intervalMs: 1e9 });
  for (let i = 0; i < 100; i++) {
    c.advance(100); // 10 it/s
    p.update(1, { loss: 1 / (i + 1) });
  }
  p.close();
  const text = chunks.join('');
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 10, text);
  assert.ok(chunks.every((s) => !s.includes('\r') && !s.includes('\x1b')), 'no terminal control characters');
  assert.equal(lines[4], 'train 50/100 (50%) 10 it/s elapsed 00:05 eta 00:05 loss=0.02');
  assert.equal(lines[9], 'train 100/100 (100%) 10 it/s elapsed 00:10 eta 00:00 loss=0.01');
});

test('not a TTY: without a total, a line every intervalMs and one at close', () => {
  const { chunks, stream } = capture(false);
  const c = clock();
  const p = new Progress({ label: 'sample', stream, now: c.now, intervalMs: 1000 });
  for (let i = 0; i < 25; i++) {
    c.advance(100);
    p.update();
  }
  p.close({ done: 'yes' });
  const lines = chunks.join('').trimEnd().split('\n');
  assert.deepEqual(lines, [
    'sample 10 it [00:01, 10 it/s]',
    'sample 20 it [00:02, 10 it/s]',
    'sample 25 it [00:03, 10 it/s] done=yes',
  ]);
});

test('resumed work: the initial count is excluded from the rate, slow work shows s/it', () => {
  const { chunks, stream } = capture(false);
  const c = clock();
  const p = new Progress({ total: 10, initial: 5, stream, now: c.now, intervalMs: 1e9, percentStep: 20 });
  c.advance(4000);
  p.update(2); // 2 units in 4 s
  assert.match(chunks.join(''), /^7\/10 \(70%\) 2 s\/it elapsed 00:04 eta 00:06\n$/);
  assert.equal(p.rate(), 0.5);
  assert.equal(p.eta(), 6);
});

test('TTY: one line redrawn in place, throttled, fitting the terminal width; log() prints above it', () => {
  const { chunks, stream } = capture(true, 100);
  const c = clock();
  const p = new Progress({ total: 1000, label: 'train', stream, now: c.now, redrawMs: 100 });
  for (let i = 0; i < 1000; i++) {
    c.advance(1); // 1000 it/s, redrawn every 100 steps
    p.update(1, { loss: 0.5 });
    if (i === 500) p.log('eval: accuracy=0.9');
  }
  p.close();
  const draws = chunks.filter((s) => s.startsWith('\r') && !s.startsWith('\r\x1b[K'));
  assert.ok(draws.length >= 10 && draws.length <= 14, `${draws.length} redraws`);
  for (const d of draws) {
    const visible = d.replace('\r', '').replace('\x1b[K', '');
    assert.ok(visible.length <= 99, `line longer than the terminal: ${JSON.stringify(visible)}`);
    assert.ok(!visible.includes('\n'));
  }
  const last = draws[draws.length - 1].replace('\r', '').replace('\x1b[K', '');
  assert.match(last, /^train 100% \|█+\| 1000\/1000 \[00:01<00:00, 1000 it\/s\] loss=0.5$/);
  assert.ok(chunks.some((s) => s === '\r\x1b[Keval: accuracy=0.9\n'));
  assert.equal(chunks[chunks.length - 1], '\n');
  const mid = draws.find((d) => d.includes(' 50% '));
  assert.ok(mid, 'a draw at 50%');
  assert.match(mid!, /\|█{15}\s{15}\|/, 'half the bar filled');

  // a narrow terminal: no bar, and the line is clipped rather than wrapped
  const narrow = capture(true, 30);
  const q = new Progress({ total: 10, label: 'a-long-label', stream: narrow.stream, now: c.now });
  q.update(3, { loss: 0.25, lr: 0.001 });
  const line = narrow.chunks[0].replace('\r', '').replace('\x1b[K', '');
  assert.ok(line.length <= 29 && line.endsWith('…'), JSON.stringify(line));
});

test('wrap() counts the items of an iterable', () => {
  const { chunks, stream } = capture(false);
  const out = [...Progress.wrap([1, 2, 3, 4], { stream, label: 'items', percentStep: 50, intervalMs: 1e9 })];
  assert.deepEqual(out, [1, 2, 3, 4]);
  const lines = chunks.join('').trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[1], /^items 4\/4 \(100%\)/);
});

test('formatDuration and formatNumber', () => {
  assert.equal(formatDuration(0), '00:00');
  assert.equal(formatDuration(75), '01:15');
  assert.equal(formatDuration(3 * 3600 + 62), '3:01:02');
  assert.equal(formatDuration(86400 + 1), '1d 00:00:01');
  assert.equal(formatDuration(Infinity), '?');
  assert.equal(formatNumber(3), '3');
  assert.equal(formatNumber(0.123456), '0.1235');
  assert.equal(formatNumber(3e-5), '3.000e-5');
  assert.equal(formatNumber(NaN), 'NaN');
});
