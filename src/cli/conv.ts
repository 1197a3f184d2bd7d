// refinery conv cache: lists or clears the convolution meta-optimizer's decisions (src/conv/cache.ts).
import { clearConvCache, convCacheLines, defaultCachePath, readConvCache } from '../conv';
import { UsageError, bool, command, jsonFlag, str } from './flags';

export const convCacheCommand = command({
  name: 'conv cache',
  summary: "list or clear the convolution meta-optimizer's cache of timed choices",
  description: `The meta-optimizer (REFINERY_CONV_TUNE=1, refinery train ... --autotune all, or enableConvMetaOptimizer()
from TypeScript) times every convolution and pooling implementation per operation and remembers the fastest in a JSON file keyed by shapes,
hyper-parameters, dtype, device, layout, thread count, libtorch version and CPU model. The file is
REFINERY_CONV_CACHE if set, else conv-cache.json in Refinery's cache folder ($REFINERY_CACHE_DIR,
else $XDG_CACHE_HOME/refinery, else ~/.cache/refinery).`,
  flags: {
    list: bool({ description: 'print every cached decision (the default)' }),
    clear: bool({ description: 'delete the cache file' }),
    file: str({ description: 'cache file (default: see above)', valueName: 'FILE' }),
    json: jsonFlag(),
  },
  check(f) {
    if (f.list && f.clear) throw new UsageError('--list and --clear: give one of them');
  },
  run(f) {
    const file = f.file ?? defaultCachePath();
    if (f.clear) {
      const r = clearConvCache(file);
      if (f.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else process.stdout.write(`removed ${r.removed} decision${r.removed === 1 ? '' : 's'} (${r.file})\n`);
      return 0;
    }
    const r = readConvCache(file);
    if (f.json) process.stdout.write(`${JSON.stringify({ file: r.file, entries: Object.fromEntries(r.entries) }, null, 1)}\n`);
    else process.stdout.write([`${r.entries.length} decision${r.entries.length === 1 ? '' : 's'} in ${r.file}`, ...convCacheLines(r.entries)].join('\n') + '\n');
    return 0;
  },
});
