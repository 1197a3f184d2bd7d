// refinery conv cache --list / --clear on a real cache file, through the CLI binary.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const CLI = path.resolve(__dirname, '../../src/cli/main.js');
const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, REFINERY_NUM_THREADS: '1', ...env } });

test('refinery conv cache lists what REFINERY_CONV_TUNE=1 tuned, then clears it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-conv-cli-'));
  const file = path.join(dir, 'c.json');
  const tuneScript = `const R = require(${JSON.stringify(path.resolve(__dirname, '../../src/index.js'))});
    const l = new R.nn.Conv2d(2, 3, 3, { padding: 1 }); l(R.functions.randn([2, 2, 6, 6])).sum().backward();`;
  const t = spawnSync(process.execPath, ['-e', tuneScript], { encoding: 'utf8', env: { ...process.env, REFINERY_NUM_THREADS: '1', REFINERY_CONV_TUNE: '1', REFINERY_CONV_CACHE: file } });
  assert.equal(t.status, 0, t.stderr);
  const list = run(['conv', 'cache', '--list'], { REFINERY_CONV_CACHE: file });
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /^2 decisions in .*c\.json\nforward +x 2x2x6x6 \* w 3x2x3x3 -> 2x3x6x6, pad 1,1 \(float32, cpu, 1 thread\)\n +=/);
  assert.match(list.stdout, /gradWeight x 2x2x6x6/);
  const json = JSON.parse(run(['conv', 'cache', '--json', '--file', file]).stdout);
  assert.equal(Object.keys(json.entries).length, 2);
  const clear = run(['conv', 'cache', '--clear', '--file', file]);
  assert.equal(clear.stdout, `removed 2 decisions (${file})\n`);
  assert.equal(fs.existsSync(file), false);
  const both = run(['conv', 'cache', '--list', '--clear', '--file', file]);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /--list and --clear: give one of them/);
  const bad = spawnSync(process.execPath, ['-e', tuneScript], { encoding: 'utf8', env: { ...process.env, REFINERY_CONV_TUNE: 'yes', REFINERY_CONV_CACHE: file } });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /REFINERY_CONV_TUNE=yes: expected 1, verbose or 0/);
});
