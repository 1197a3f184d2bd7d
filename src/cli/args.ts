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
