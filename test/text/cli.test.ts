// The text commands as a user meets them: the real `refinery` process on a tiny checkpoint of each
// kind written here (sampling from a prompt and infilling, given text kept), and bad input (an empty
// prompt, a prompt longer than the window, infilling with the AR model, a checkpoint of another
// kind, --prompt with --infill) as one line and the documented exit code.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator } from '../../src/tensor';
import { saveCheckpoint } from '../../src/train/checkpoint';
import { buildTextLM, textKind, TextModelName } from '../../src/text/lm';
import '../../src/text/mdlm';
import '../../src/text/cdcd';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { cwd: ROOT, env: { ...process.env, REFINERY_NUM_THREADS: '1' }, encoding: 'utf8' });

function tinyCheckpoint(dir: string, model: TextModelName): string {
  const lm = buildTextLM({ model, backbone: { vocabSize: 4096, seqLen: 24, dim: 16, depth: 1, heads: 2, mlpRatio: 2, positions: 'rotary' }, ...(model === 'cdcd' ? { cdcd: { embedDim: 8 } } : {}) }, new Generator(0));
  const file = path.join(dir, `${model}.safetensors`);
  saveCheckpoint(file, { model: lm.module, step: 0, config: { kind: textKind(model), lm: lm.config } });
  return file;
}

test('refinery sample text: prompts and infilling on tiny checkpoints; bad input is one line with exit code 2 or 1', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-text-cli-'));
  try {
    const ar = tinyCheckpoint(dir, 'ar'), mdlm = tinyCheckpoint(dir, 'mdlm'), cdcd = tinyCheckpoint(dir, 'cdcd');
    const a = run(['sample', 'text', '--checkpoint', ar, '--prompt', 'The jury said', '--n', '2', '--length', '5', '--top-p', '0.9', '--json']);
    assert.equal(a.status, 0, a.stderr);
    const ra = JSON.parse(a.stdout);
    assert.equal(ra.texts.length, 2);
    for (const t of ra.texts) assert.ok(t.startsWith('The jury said'), t);
    for (const ck of [mdlm, cdcd]) {
      const r = run(['sample', 'text', '--checkpoint', ck, '--infill', 'The ___ of the ___.', '--steps', '4', '--n', '2', '--guidance', '2', '--json']);
      assert.equal(r.status, 0, r.stderr);
      for (const t of JSON.parse(r.stdout).texts as string[]) {
        assert.ok(t.startsWith('The'), t);
        assert.ok(t.endsWith('.'), t);
        assert.ok(t.includes(' of the'), t);
      }
    }
    const bad: [string[], number, RegExp][] = [
      [['--checkpoint', ar, '--prompt', ''], 2, /--prompt: expected a non-empty text, got an empty value/],
      [['--checkpoint', ar, '--prompt', 'word '.repeat(40)], 1, /the prompt is \d+ tokens; the model's window is 24 tokens/],
      [['--checkpoint', ar, '--infill', 'a ___ b'], 1, /the autoregressive model cannot infill/],
      [['--checkpoint', path.join(ROOT, 'checkpoints', 'fashion-classifier.safetensors')], 2, /--checkpoint: expected a text model checkpoint .*its kind is "fashion-classifier"/],
      [['--checkpoint', path.join(ROOT, 'checkpoints', 'brown-bpe-4k.tokenizer.json')], 2, /--checkpoint: expected a text model checkpoint/],
      [['--checkpoint', mdlm, '--prompt', 'a', '--infill', 'b ___'], 2, /--prompt and --infill: give one of them/],
      [['--checkpoint', mdlm, '--infill', 'no gap'], 2, /--infill: expected a text containing ___/],
      [['--checkpoint', mdlm, '--top-k', '5'], 1, /decoding strategies of the autoregressive model; this checkpoint is mdlm/],
    ];
    for (const [args, code, re] of bad) {
      const r = run(['sample', 'text', ...args]);
      assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the experiments script: bad options are one line with exit code 2, a missing checkpoint exit code 1', () => {
  const script = path.join(ROOT, 'dist', 'src', 'text', 'experiments.js');
  const ex = (args: string[]) => spawnSync(process.execPath, [script, ...args], { cwd: ROOT, env: { ...process.env, REFINERY_NUM_THREADS: '1' }, encoding: 'utf8' });
  const cases: [string[], number, RegExp][] = [
    [['--only', 'bogus'], 2, /--only: expected some of warp, steps, guidance, got "bogus"/],
    [['--only', 'warp'], 2, /--only warp needs --cdcd-nowarp FILE/],
    [['--warp-runs', 'a'], 2, /--warp-runs: expected 2 run folders/],
    [['--cdcd-also', 'nolabel'], 2, /--cdcd-also: expected LABEL=FILE, got "nolabel"/],
    [['--only', 'steps', '--judge', '/nonexistent.safetensors'], 1, /no such file \/nonexistent.safetensors/],
  ];
  for (const [args, code, msg] of cases) {
    const r = ex(args);
    assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
