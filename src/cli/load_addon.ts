// Imported first by main.ts, before anything that loads the native addon: when the addon refuses to
// load (REFINERY_NUM_THREADS out of range, not built, built against another libtorch), the command
// line gets its one-line message (exit 2 for a bad REFINERY_NUM_THREADS, 1 otherwise), not a stack
// trace from inside require(). Imported by anything else (tests), the error propagates as usual.
import * as path from 'path';

try {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  require('../tensor/native');
} catch (err) {
  const main = require.main?.filename ?? '';
  if (path.basename(main) !== 'main.js' || path.basename(path.dirname(main)) !== 'cli') throw err;
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${msg.startsWith('refinery') ? '' : 'refinery: '}${msg}\n`);
  process.exit(/^REFINERY_NUM_THREADS/.test(msg) ? 2 : 1);
}
