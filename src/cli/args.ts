/** Minimal flag parsing: `--name value`, `--flag`, `--name=value`. */
export function parseFlags(args: string[]): { flags: Record<string, string | true>; positional: string[] } {
  const flags: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < args.length && !args[i + 1].startsWith('--')) flags[a.slice(2)] = args[++i];
      else flags[a.slice(2)] = true;
    } else positional.push(a);
  }
  return { flags, positional };
}

export function intFlag(flags: Record<string, string | true>, name: string, dflt: number): number {
  const v = flags[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n <= 0) throw new Error(`--${name}: expected a positive integer, got ${String(v)}`);
  return n;
}

/** `--name X` as a number satisfying `check` (described by `what` in the error), or `dflt` when absent. */
export function numberFlag<D extends number | undefined>(
  flags: Record<string, string | true>, name: string, dflt: D, check: (v: number) => boolean = () => true, what = 'a number',
): number | D {
  const v = flags[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v === true || !Number.isFinite(n) || !check(n)) throw new Error(`--${name}: expected ${what}, got ${String(v)}`);
  return n;
}

/** `--name X` with X one of `choices`, or `dflt` when absent. */
export function choiceFlag<T extends string>(flags: Record<string, string | true>, name: string, dflt: T, choices: readonly T[]): T {
  const v = flags[name];
  if (v === undefined) return dflt;
  if (v === true || !choices.includes(v as T)) throw new Error(`--${name}: expected one of ${choices.join(', ')}, got ${String(v)}`);
  return v as T;
}

/** `--name 1,2,3` as numbers, or `dflt` when absent. */
export function numberListFlag(flags: Record<string, string | true>, name: string, dflt: number[]): number[] {
  const v = flags[name];
  if (v === undefined) return dflt;
  const out = String(v).split(',').map((x) => Number(x.trim()));
  if (v === true || !out.length || out.some((n) => !Number.isFinite(n))) throw new Error(`--${name}: expected a comma-separated list of numbers, got ${String(v)}`);
  return out;
}

/**
 * A file shipped with the package (e.g. `checkpoints/...`), found from any working directory: the
 * path as given when it exists there, else relative to the package root (dist/src/cli -> ../../..).
 */
export function shippedFile(rel: string): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const fs = require('fs') as typeof import('fs');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const path = require('path') as typeof import('path');
  if (fs.existsSync(rel)) return rel;
  const fromRoot = path.resolve(__dirname, '..', '..', '..', rel);
  return fs.existsSync(fromRoot) ? fromRoot : rel;
}
