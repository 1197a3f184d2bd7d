// Opens a run folder in its own process and holds it until its stdin closes; prints "ok" or the
// error. Usage: node lock_child.js <root> <name> <resume: 0|1>
import { Run } from '../../src/train/run';

const [root, name, resume] = process.argv.slice(2);
try {
  Run.open({ root, name, config: { a: 1 }, resume: resume === '1' });
  process.stdout.write('ok\n');
} catch (err) {
  process.stdout.write(`error: ${(err as Error).message}\n`);
}
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
