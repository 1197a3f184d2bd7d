// Placeholder until bench/engine lands.
export async function runBench(_args: string[]): Promise<number> {
  process.stderr.write('refinery bench: not built yet\n');
  return 1;
}
