// The CLI as a user meets it: the real `refinery` process (dist/src/cli/main.js) spawned with bad
// command lines (one line on stderr naming the flag, the value and what is expected; exit code 2;
// no stack trace; nothing loaded or allocated first), every command's --help against the README,
// and the architecture rule that the CLI is thin: its library calls importable from TypeScript,
// src/ and bench/ never importing each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { COMMANDS, usage } from '../../src/cli/main';
import { UsageError, helpText, int, num, numList, parseFlags } from '../../src/cli/flags';
import { cliReference } from '../../src/cli/reference';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

interface Run { status: number | null; stdout: string; stderr: string; ms: number }

function refinery(args: string[], cwd = ROOT, threads = '1'): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, [MAIN, ...args], { cwd, env: { ...process.env, REFINERY_NUM_THREADS: threads } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout, stderr, ms: Date.now() - t0 }));
  });
}

/** Runs `fn` over `items`, at most `k` at a time (each run is a process that loads libtorch). */
async function pool<T, R>(items: T[], k: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(k, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i]); }
  }));
  return out;
}

// [command line, what stderr must match]: the findings of issue 9 and their neighbours
const BAD: [string[], RegExp][] = [
  [['train', 'diffusion', '--max-minute', '5'], /^refinery train diffusion: unknown flag --max-minute \(did you mean --max-minutes\?\)$/],
  [['sample', '--n', '1e9', '--steps', '2'], /^refinery sample: --n: expected an integer in \[1, 10,000\], got "1e9"$/],
  [['sample', '--n', '1e7'], /^refinery sample: --n: expected an integer in \[1, 10,000\], got "1e7"$/],
  [['eval', 'diffusion', '--n', '1e9'], /^refinery eval diffusion: --n: expected an integer in \[1, 50,000\], got "1e9"$/],
  [['typicality', '--samples', '1e9'], /^refinery typicality: --samples: expected an integer in \[100, 10,000,000\], got "1e9"$/],
  [['typicality', 'ood', '--max-minutes', 'abc'], /^refinery typicality ood: --max-minutes: expected a number in \(0, 10,080\], got "abc"$/],
  [['train', 'diffusion', '--max-minutes', 'NaN'], /--max-minutes: expected a number in \(0, 10,080\], got "NaN"$/],
  [['train', 'diffusion', '--max-minutes', 'Infinity'], /--max-minutes: expected a number in \(0, 10,080\], got "Infinity"$/],
  [['train', 'diffusion', '--seed', 'abc'], /^refinery train diffusion: --seed: expected an integer in \[0, 4,294,967,295\], got "abc"$/],
  [['train', 'classifier', '--seed', '1.5'], /--seed: expected an integer in \[0, 4,294,967,295\], got "1.5"$/],
  [['train', 'classifier', '--batch-size', '100000'], /--batch-size: expected an integer in \[1, 4096\], got "100000"$/],
  [['typicality', 'ood', '--batch-size', '200', '--subset', '100'], /--batch-size: expected at most --subset \(100\) so that an epoch has a batch, got 200$/],
  [['typicality', 'ood', '--eval-images', '20'], /^refinery typicality ood: --eval-images: expected an integer in \[50, 10,000\], got "20"$/],
  [['train', 'diffusion', '--channels', '1'], /--channels: expected an even integer in \[2, 512\] \(the noise embedding is half sines, half cosines\), got "1"$/],
  [['sample', '--guidance', '-5'], /^refinery sample: --guidance: expected a number in \[0, 100\], got "-5"$/],
  [['sample', '--guidance='], /^refinery sample: --guidance: expected a number in \[0, 100\], got an empty value$/],
  [['eval', 'diffusion', '--guidance', '1,,3'], /--guidance: expected a comma-separated list of numbers in \[0, 100\], got "1,,3"$/],
  [['eval', 'diffusion', '--nfe', '0'], /^refinery eval diffusion: --nfe: expected a comma-separated list of integers in \[1, 2000\], got "0"$/],
  [['sample', '--nfe', '0'], /^refinery sample: --nfe: expected an integer in \[1, 2000\], got "0"$/],
  [['sample', '--checkpoint'], /^refinery sample: --checkpoint: expected an existing file, got no value$/],
  [['sample', '--checkpoint', '--n', '4'], /^refinery sample: --checkpoint: expected an existing file, got no value$/],
  [['eval', 'classifier', '--checkpoint', 'test'], /^refinery eval classifier: --checkpoint: expected an existing file, got "test" \(a directory\)$/],
  [['sample', '--checkpoint', 'no-such.safetensors'], /--checkpoint: expected an existing file, got "no-such.safetensors" \(no such file\)$/],
  // the checkpoint's header is read when the command line is parsed: a text file or another kind of checkpoint
  [['sample', '--checkpoint', 'README.md'], /^refinery sample: --checkpoint: expected a diffusion checkpoint, got "README\.md": not a safetensors file: .*\(it starts with the text "# Refine"\)$/],
  [['sample', '--checkpoint', 'checkpoints/fashion-classifier.safetensors'], /^refinery sample: --checkpoint: expected a diffusion checkpoint, got "checkpoints\/fashion-classifier\.safetensors": its config says kind "fashion-classifier"$/],
  [['eval', 'diffusion', '--classifier', 'checkpoints/fashion-diffusion.safetensors'], /^refinery eval diffusion: --classifier: expected a fashion-classifier checkpoint, got .*: its config says kind "diffusion"$/],
  [['eval', 'classifier', '--checkpoint', 'checkpoints/noisy-classifier.safetensors'], /^refinery eval classifier: --checkpoint: expected a fashion-classifier checkpoint, got .*: its config says kind "noisy-classifier"$/],
  [['export', 'README.md'], /^refinery export: CHECKPOINT: expected a safetensors file, got "README\.md": not a safetensors file: /],
  [['export', 'test'], /^refinery export: CHECKPOINT: expected an existing safetensors file, got "test" \(a directory\)$/],
  [['import', 'no-such.safetensors'], /^refinery import: FILE: expected an existing safetensors file, got "no-such\.safetensors" \(no such file\)$/],
  [['sample', '--class', '10'], /--class: expected an integer in \[-1, 9\], got "10"$/],
  [['sample', '--steps', '3', '--nfe', '5'], /^refinery sample: --steps and --nfe: give one of them, not both$/],
  [['sample', '--out', 'x.jpg'], /--out: expected a writable \.png file name, got "x\.jpg"$/],
  [['sample', '--out', 'README.md/x.png'], /^refinery sample: --out: cannot write "README\.md\/x\.png": .*README\.md is not a folder$/],
  // Node's recursive mkdir spins forever under /proc: the folder is created one level at a time
  [['sample', '--out', '/proc/refinery-nope/x.png'], /^refinery sample: --out: cannot write "\/proc\/refinery-nope\/x\.png": cannot create the folder \/proc\/refinery-nope: /],
  [['eval', 'diffusion', '--grids', 'README.md'], /^refinery eval diffusion: --grids: cannot write "README\.md": .*README\.md is not a folder$/],
  [['train', 'diffusion', '--out', 'test'], /^refinery train diffusion: --out: expected a writable \.safetensors file name, got "test"$/],
  [['sample', '--json'], /^refinery sample: unknown flag --json$/],
  [['demo', '--json=yes'], /^refinery demo: --json is a switch and takes no value$/],
  [['sample', 'extra'], /^refinery sample: unexpected argument "extra": this command takes only flags$/],
  [['eval', 'diffusion', '--sampler', 'heun,rk45'], /--sampler: expected a comma-separated list of euler, .*, got "heun,rk45"$/],
  [['eval', 'diffusion', '--bpd-only'], /--bpd-only: give --bpd N too/],
  [['train', 'diffusion', '--noise', 'likelihood-is'], /--noise likelihood-is importance-samples the likelihood weighting: give --weighting likelihood \(got --weighting edm\)$/],
  [['train', 'diffusion', '--name', '../elsewhere'], /--name: expected a run name .*, got "\.\.\/elsewhere"$/],
  [['train', 'noisy-classifier', '--channels', '16,0'], /--channels: expected a comma-separated list of integers in \[1, 1024\], got "16,0"$/],
  [['train'], /^refinery train: expected a target; valid: classifier, diffusion, noisy-classifier(, [a-z-]+)*$/],
  [['eval', 'nothing'], /^refinery eval: unknown target "nothing"; valid: classifier, diffusion(, [a-z-]+)*$/],
  [['train', 'rotnet', '--arch', 'hexagonal'], /^refinery train rotnet: --arch: expected one of plain, cyclic-pool, cyclic-roll, dihedral, got "hexagonal"$/],
  [['train', 'rotnet', '--width', '8', '--params', '40000'], /^refinery train rotnet: --width and --params: give one of them, not both$/],
  [['eval', 'rotnet', '--checkpoint', 'checkpoints/fashion-classifier.safetensors'], /^refinery eval rotnet: --checkpoint: expected a rotnet checkpoint, got .*: its config says kind "fashion-classifier"$/],
  [['ensemble', '--checkpoints', 'no-such.safetensors,b'], /^refinery ensemble: --checkpoints: expected an existing file, got "no-such\.safetensors" \(no such file\)$/],
  [['frobnicate'], /^refinery: unknown command "frobnicate"; valid: demo, train, eval, sample, typicality/],
];

test('refinery: every bad command line is one line naming the flag, the value and what is expected; exit 2, no stack, no output', async () => {
  const runs = await pool(BAD, 4, ([args]) => refinery(args));
  BAD.forEach(([args, re], i) => {
    const r = runs[i];
    const what = `refinery ${args.join(' ')}`;
    assert.equal(r.status, 2, `${what}: exit code (stderr: ${r.stderr})`);
    assert.equal(r.stdout, '', `${what}: nothing on stdout`);
    assert.ok(r.stderr.endsWith('\n') && r.stderr.trimEnd().split('\n').length === 1, `${what}: one line, got ${JSON.stringify(r.stderr)}`);
    assert.doesNotMatch(r.stderr, /\n\s+at |Error:|node:internal/, `${what}: no stack trace`);
    assert.match(r.stderr.trimEnd(), re, what);
  });
  // a huge --n is refused before anything is built: as fast as a refusal of a misspelt flag
  // (building a billion-element array took V8 to a heap abort); both well under the time to load a model
  const huge = runs[BAD.findIndex(([a]) => a.includes('1e9'))];
  assert.ok(huge.ms < 30_000, `refused in ${huge.ms} ms`);
});

test('refinery: a REFINERY_NUM_THREADS out of range is one line and exit 2, for any command, --help included', async () => {
  // the addon refuses it when it loads, inside require(): that was a stack trace with exit 1
  for (const [threads, args] of [['1000000000', ['sample', '--n', '1']], ['abc', ['--help']], ['0', ['demo', '--help']]] as [string, string[]][]) {
    const r = await refinery(args, ROOT, threads);
    const what = `REFINERY_NUM_THREADS=${threads} refinery ${args.join(' ')}`;
    assert.equal(r.status, 2, `${what}: exit code (stderr: ${r.stderr})`);
    assert.equal(r.stdout, '', what);
    assert.match(r.stderr, new RegExp(`^refinery: REFINERY_NUM_THREADS=${threads}: expected an integer from 1 to \\d+ .*\n$`), what);
  }
});

test('refinery: a truncated checkpoint is refused when the command line is parsed, naming the flag', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-truncated-'));
  try {
    const cut = path.join(dir, 'cut.safetensors');
    fs.writeFileSync(cut, fs.readFileSync(path.join(ROOT, 'checkpoints', 'fashion-classifier.safetensors')).subarray(0, 50_000));
    const r = await refinery(['eval', 'classifier', '--checkpoint', cut]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^refinery eval classifier: --checkpoint: expected a fashion-classifier checkpoint, got ".*cut\.safetensors": truncated: .*\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('refinery: no runs folder or output file is created by a refused command line', async () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-refused-'));
  try {
    for (const args of [['train', 'diffusion', '--max-minute', '5'], ['train', 'classifier', '--lr', '0'], ['sample', '--n', '0', '--out', 'x.png'], ['typicality', '--samples', '1e9']]) {
      const r = await refinery(args, cwd);
      assert.equal(r.status, 2, r.stderr);
    }
    assert.deepEqual(fs.readdirSync(cwd), []);
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});

test('refinery <command> --help: generated from the flag definitions, exit 0; the README holds every one verbatim', async () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes(cliReference()), 'README section = cliReference(); run `node dist/src/cli/reference.js` to regenerate it');
  const top = await refinery(['--help']);
  assert.equal(top.status, 0);
  assert.equal(top.stdout, usage());
  const helps = await pool(COMMANDS, 4, (c) => refinery([...c.name.split(' '), '--help']));
  COMMANDS.forEach((c, i) => {
    const h = helps[i];
    assert.equal(h.status, 0, `${c.name} --help: ${h.stderr}`);
    assert.equal(h.stdout, helpText(c), `${c.name} --help`);
    assert.ok(readme.includes(h.stdout.trimEnd()), `README has the help of ${c.name}`);
    for (const name of Object.keys(c.flags)) {
      assert.match(h.stdout, new RegExp(`^  --${name}( |$)`, 'm'), `${c.name} --help lists --${name}`);
    }
    assert.ok(top.stdout.includes(`  ${c.name} `), `refinery --help lists ${c.name}`);
  });
  // -h too, and help wins over bad values given with it
  const short = await refinery(['sample', '-h']);
  assert.equal(short.stdout, helpText(COMMANDS.find((c) => c.name === 'sample')!));
  const bare = await refinery([]);
  assert.equal(bare.status, 2);
  assert.equal(bare.stdout, usage());
});

test('flag definitions: ranges, types, defaults and the values a command receives', () => {
  const flags = { n: int({ description: 'n', default: 64, min: 1, max: 100 }), g: num({ description: 'g', above: 0 }), l: numList({ description: 'l', default: [1], min: 0 }) };
  assert.deepEqual(parseFlags(flags, [])!.values, { n: 64, g: undefined, l: [1] });
  const p = parseFlags(flags, ['--n', '1e2', '--g=0.5', '--l', '0,2.5'])!;
  assert.deepEqual(p.values, { n: 100, g: 0.5, l: [0, 2.5] });
  assert.deepEqual([...p.given].sort(), ['g', 'l', 'n']);
  assert.equal(parseFlags(flags, ['--n', '5', '--help']), null);
  for (const [args, re] of [
    [['--n', '101'], /--n: expected an integer in \[1, 100\], got "101"/],
    [['--n', '0x10'], /--n: expected an integer/],
    [['--n', ' '], /--n: expected an integer in \[1, 100\], got " "/],
    [['--g', '0'], /--g: expected a number > 0, got "0"/],
    [['--g', '-1'], /--g: expected a number > 0, got "-1"/],
    [['--g', '1e999'], /--g: expected a number > 0, got "1e999"/],
    [['--l', ''], /--l: expected a comma-separated list of numbers >= 0, got an empty value/],
    [['--m', '1'], /unknown flag --m/],
    [['-x', '1'], /unknown flag -x/],
  ] as [string[], RegExp][]) {
    assert.throws(() => parseFlags(flags, args), (e: Error) => e instanceof UsageError && re.test(e.message), args.join(' '));
  }
});

test('the CLI is thin: its library calls are exported from the domain index files and callable from TypeScript', async () => {
  const diffusion = await import('../../src/diffusion');
  const vision = await import('../../src/vision');
  const train = await import('../../src/train');
  const typicality = await import('../../src/typicality');
  const root = await import('../../src');
  for (const [mod, names] of [
    [diffusion, ['trainDiffusion', 'objectiveOf', 'checkDiffusionTrainConfig', 'sampleGrid', 'evaluateDiffusion', 'sampleMetrics', 'classifierFeatures', 'noisyClassifierGuidance', 'trainNoisyClassifier', 'loadNoisyClassifier']],
    [vision, ['trainClassifier', 'loadClassifier', 'evaluateClassifierFile', 'FashionClassifier']],
    [train, ['AdamWithEma', 'spiralDemo', 'shippedFile', 'requireFile']],
    [typicality, ['typicalityReport', 'typicalityResults', 'writeTypicalityReport', 'oodExperiment']],
  ] as [Record<string, unknown>, string[]][]) {
    for (const n of names) assert.equal(typeof mod[n], 'function', n);
  }
  assert.equal(root.vision.loadClassifier, vision.loadClassifier, 'refinery exports vision');
  // domain errors name the library's option, not a CLI flag
  assert.throws(() => diffusion.objectiveOf({ weighting: 'edm', noise: 'likelihood-is', model: diffusion.DEFAULT_DIFFUSION_MODEL }), (e: Error) => !e.message.includes('--') && /weighting 'likelihood'/.test(e.message));
  assert.throws(() => diffusion.checkDiffusionTrainConfig({ ...diffusion.DEFAULT_DIFFUSION_TRAIN, batchSize: 0 }), /trainDiffusion: batchSize must be a positive integer, got 0/);
  assert.throws(() => vision.loadClassifier(path.join(ROOT, 'no-such.safetensors')), /loadClassifier: no such file/);
  assert.throws(() => diffusion.loadNoisyClassifier(ROOT), /loadNoisyClassifier: .* is a directory/);
  // the shipped reference classifier loads from any working directory
  const model = vision.loadClassifier();
  assert.equal(model.training, false);
  const r = train.spiralDemo({ steps: 5 });
  assert.equal(r.losses.length, 5);
  assert.equal(r.leakedTensors, 0);
});

test('src/ never imports bench/, bench/ never imports src/cli, only the apps (src/cli, src/serve) import src/cli, only src/cli imports src/serve', () => {
  const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.ts') ? [p] : [];
  });
  const importsOf = (file: string) => [...fs.readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\(\s*|require\(\s*)'([^']+)'/g)]
    .map((m) => m[1]).filter((s) => s.startsWith('.')).map((s) => path.resolve(path.dirname(file), s));
  const bad: string[] = [];
  const cli = path.join(ROOT, 'src', 'cli'), bench = path.join(ROOT, 'bench');
  // the studio (src/serve) is an app beside the CLI: it reads request parameters with the CLI's flag definitions
  const serve = path.join(ROOT, 'src', 'serve');
  const inApps = (f: string) => f.startsWith(cli + path.sep) || f.startsWith(serve + path.sep);
  for (const f of walk(path.join(ROOT, 'src'))) {
    for (const t of importsOf(f)) {
      if (t.startsWith(bench)) bad.push(`${path.relative(ROOT, f)} imports ${path.relative(ROOT, t)}`);
      if (t.startsWith(cli + path.sep) && !inApps(f)) bad.push(`${path.relative(ROOT, f)} imports ${path.relative(ROOT, t)}`);
      if (t.startsWith(serve + path.sep) && !inApps(f)) bad.push(`${path.relative(ROOT, f)} imports ${path.relative(ROOT, t)}`);
    }
  }
  for (const f of walk(bench)) for (const t of importsOf(f)) if (t.startsWith(cli)) bad.push(`${path.relative(ROOT, f)} imports ${path.relative(ROOT, t)}`);
  assert.deepEqual(bad, []);
  // and src/cli holds flags and printing only: no trainer, loader or loop of its own
  for (const f of walk(cli)) {
    const src = fs.readFileSync(f, 'utf8');
    assert.doesNotMatch(src, /\bnew (Adam|EMA|DataLoader|Generator)\b|\btrain\(\{|loadCheckpoint\(|saveCheckpoint\(/, path.relative(ROOT, f));
  }
});

test('the README\'s example command lines use only flags and values the commands accept', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const re = /(?:`|^)(?:node dist\/src\/cli\/main\.js|refinery) ([^`\n#]*)/gm;
  let checked = 0;
  for (const m of readme.matchAll(re)) {
    const words = m[1].replace(/[[\]]/g, '').trim().split(/\s+/).filter(Boolean);
    // a command line with flags (not an error message quoted from one, not --help)
    if (!words.some((w) => w.startsWith('--')) || words.includes('--help') || /:$/.test(words[0])) continue;
    const cmd = COMMANDS.filter((c) => c.name.split(' ').every((w, i) => words[i] === w)).sort((a, b) => b.name.length - a.name.length)[0];
    assert.ok(cmd, `README: no command for "${m[1]}"`);
    const line = `refinery ${words.join(' ')}`;
    if (line === 'refinery sample --n 1e9') continue; // the README's example of a refused value
    try {
      const p = parseFlags(cmd.flags, words.slice(cmd.name.split(' ').length), cmd.positionals);
      if (p) cmd.check?.(p.values, p.given);
    } catch (e) {
      // examples may name files the reader has yet to make
      assert.match((e as Error).message, /\(no such file\)$/, `README: ${line}`);
    }
    checked++;
  }
  assert.ok(checked >= 10, `checked ${checked} README command lines`);
});

test('refinery demo / eval classifier / sample / typicality run end to end through their library calls', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-e2e-'));
  try {
    const png = path.join(dir, 'nested', 's.png');
    const [demo, evalc, sample, typ] = await pool([
      ['demo', '--steps', '30', '--json'],
      ['eval', 'classifier', '--json'],
      ['sample', '--n', '3', '--class', '-1', '--steps', '2', '--seed', '1', '--out', png],
      ['typicality', '--samples', '1000', '--out', path.join(dir, 'typ'), '--json'],
    ], 2, (a) => refinery(a));
    assert.equal(demo.status, 0, demo.stderr);
    const d = JSON.parse(demo.stdout);
    assert.equal(d.losses.length, 30);
    assert.equal(d.leakedTensors, 0);
    assert.ok(d.finalLoss < d.losses[0]);
    assert.equal(evalc.status, 0, evalc.stderr);
    const e = JSON.parse(evalc.stdout);
    // the shipped reference classifier's figure (README): 92.80% of the 10,000 test images; another
    // CPU's fp32 rounding may flip an image whose top two logits are within ~1e-6, so allow a few
    assert.equal(e.n, 10000);
    assert.ok(Math.abs(e.accuracy * 10000 - 9280) <= 5, `accuracy ${e.accuracy}`);
    assert.equal(sample.status, 0, sample.stderr);
    assert.match(sample.stdout, /^3 samples \(class -1 unconditional\), heun 2 steps, guidance 3, .* -> .*s\.png\n$/);
    assert.deepEqual([...fs.readFileSync(png).subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
    assert.equal(typ.status, 0, typ.stderr);
    assert.equal(JSON.parse(typ.stdout).report, path.join(dir, 'typ', 'index.html'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
