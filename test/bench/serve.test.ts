// bench serve: one tiny interleaved run returns the figures the README quotes, each a real number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runServeBench } from '../../bench/serve';

test('bench serve measures time to first streamed step and steps/s of the studio and of the library', async () => {
  const r = await runServeBench({ threads: 1, reps: 1, n: 1, steps: 3 });
  assert.ok(r.coldFirstMs > 0 && Number.isFinite(r.coldFirstMs));
  for (const t of [...r.studio, ...r.library]) {
    assert.ok(t.firstMs > 0 && t.firstMs <= t.totalMs, JSON.stringify(t));
    assert.ok(t.stepsPerS > 0 && Number.isFinite(t.stepsPerS), JSON.stringify(t));
  }
  assert.equal(r.studio.length, 1);
  assert.ok(r.stepTimeRatio.median > 0);
});
