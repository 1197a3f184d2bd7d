#!/usr/bin/env node
// The README tables of the rotation experiments, from the results scripts/rotnet-experiments.sh
// wrote under runs/rotnet-exp (or the folder given): node scripts/rotnet-table.js [DIR]
'use strict';
const fs = require('fs');
const path = require('path');

const dir = process.argv[2] || 'runs/rotnet-exp';
const read = (f) => { try { return JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')); } catch { return null; } };
const pct = (v) => `${(100 * v).toFixed(2)}%`;
const f4 = (v) => v.toFixed(4);
/** mean ± half the range over seeds (the spread of 2 seeds), or the value alone. */
const agg = (xs, fmt) => {
  if (!xs.length) return 'n/a';
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length === 1) return fmt(m);
  const h = (Math.max(...xs) - Math.min(...xs)) / 2;
  return `${fmt(m)} ± ${fmt(h)}`;
};
const runs = (prefix) => [0, 1, 2].map((s) => ({ name: `${prefix}-s${s}`, r: read(`${prefix}-s${s}/result.json`), t1: read(`${prefix}-s${s}.tta1.json`), t8: read(`${prefix}-s${s}.tta8.json`) })).filter((x) => x.r);
const out = [];

function archTable(task, archs) {
  out.push(`| ${task} | params | seeds | steps | example-views seen | test accuracy | test log loss | train accuracy | train − test accuracy | test − train log loss |`);
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const a of archs) {
    const rs = runs(`${task === 'mnist-rot' ? 'mnist' : 'fashion'}-${a}`);
    if (!rs.length) continue;
    const V = a === 'plain' ? 1 : a === 'dihedral' ? 8 : 4;
    out.push(`| ${a} | ${rs[0].r.params.toLocaleString('en-US')} | ${rs.length} | ${agg(rs.map((x) => x.r.step), (v) => String(Math.round(v)))} | ${agg(rs.map((x) => x.r.examples * V), (v) => Math.round(v).toLocaleString('en-US'))} | `
      + `${agg(rs.map((x) => x.r.test.accuracy), pct)} | ${agg(rs.map((x) => x.r.test.logLoss), f4)} | ${agg(rs.map((x) => x.r.train.accuracy), pct)} | `
      + `${agg(rs.map((x) => x.r.train.accuracy - x.r.test.accuracy), pct)} | ${agg(rs.map((x) => x.r.test.logLoss - x.r.train.logLoss), f4)} |`);
  }
  out.push('');
}

archTable('mnist-rot', ['plain', 'cyclic-pool', 'cyclic-roll', 'dihedral']);

out.push('| mnist-rot: TTA | TTA off: accuracy | log loss | TTA 8 (Halton): accuracy | log loss |');
out.push('|---|---|---|---|---|');
for (const a of ['plain', 'cyclic-pool', 'cyclic-roll', 'cyclic-roll-eqsteps', 'cyclic-roll-pseudo']) {
  const rs = runs(`mnist-${a}`).filter((x) => x.t1 && x.t8);
  if (!rs.length) continue;
  out.push(`| ${a} (${rs.length} seed${rs.length > 1 ? 's' : ''}) | ${agg(rs.map((x) => x.t1.accuracy), pct)} | ${agg(rs.map((x) => x.t1.logLoss), f4)} | ${agg(rs.map((x) => x.t8.accuracy), pct)} | ${agg(rs.map((x) => x.t8.logLoss), f4)} |`);
}
out.push('');

const plainRoll = runs('mnist-cyclic-roll'), pseudo = runs('mnist-cyclic-roll-pseudo'), eqsteps = runs('mnist-cyclic-roll-eqsteps');
if (pseudo.length) {
  out.push('| mnist-rot: pseudo-labels (cyclic-roll) | seeds | steps | test accuracy | test log loss | train − test accuracy |');
  out.push('|---|---|---|---|---|---|');
  for (const [label, rs] of [['labelled only (equal minutes)', plainRoll], ['labelled only (equal steps)', eqsteps], ['+ soft pseudo-labels (1/3 of each batch)', pseudo]]) {
    if (!rs.length) continue;
    out.push(`| ${label} | ${rs.length} | ${agg(rs.map((x) => x.r.step), (v) => String(Math.round(v)))} | ${agg(rs.map((x) => x.r.test.accuracy), pct)} | ${agg(rs.map((x) => x.r.test.logLoss), f4)} | ${agg(rs.map((x) => x.r.train.accuracy - x.r.test.accuracy), pct)} |`);
  }
  out.push('');
}

const ens = read('ensemble.json');
if (ens) {
  out.push(`| mnist-rot: ensemble (TTA ${ens.tta}) | weight | valid accuracy | valid log loss | test accuracy | test log loss |`);
  out.push('|---|---|---|---|---|---|');
  ens.models.forEach((m, i) => out.push(`| ${path.basename(path.dirname(m.checkpoint))} | ${ens.weights[i].toFixed(3)} | ${pct(m.valid.accuracy)} | ${f4(m.valid.logLoss)} | ${pct(m.test.accuracy)} | ${f4(m.test.logLoss)} |`));
  out.push(`| uniform average | ${(1 / ens.models.length).toFixed(3)} each | ${pct(ens.uniform.valid.accuracy)} | ${f4(ens.uniform.valid.logLoss)} | ${pct(ens.uniform.test.accuracy)} | ${f4(ens.uniform.test.logLoss)} |`);
  out.push(`| **fitted weights** (L-BFGS on validation log loss) | above | ${pct(ens.weighted.valid.accuracy)} | ${f4(ens.weighted.valid.logLoss)} | ${pct(ens.weighted.test.accuracy)} | ${f4(ens.weighted.test.logLoss)} |`);
  out.push('');
}

archTable('fashion-rot', ['plain', 'cyclic-pool', 'cyclic-roll']);
process.stdout.write(out.join('\n') + '\n');
