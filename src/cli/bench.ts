// `refinery bench <suite>`: benchmark suites; the runners live under bench/ at the repo root.
const SUITES: Record<string, string> = {
  engine: 'tensor engine vs Python PyTorch and TensorFlow.js: add loop, matmul, conv fwd+bwd, MLP step',
};

const USAGE = `usage: refinery bench <suite> [options]

suites:
${Object.entries(SUITES).map(([k, v]) => `  ${k.padEnd(8)} ${v}`).join('\n')}

run \`refinery bench engine --help\` for the options of a suite
`;

export async function runBench(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (!(sub in SUITES)) {
    process.stderr.write(`refinery bench: unknown suite "${sub}"; valid: ${Object.keys(SUITES).join(', ')}\n\n${USAGE}`);
    return 2;
  }
  // sub === 'engine'
  const { runEngineCommand } = await import('../../bench/engine');
  try {
    return runEngineCommand(rest);
  } catch (e) {
    // option errors: report them plainly (other failures propagate to main's handler)
    const msg = e instanceof Error ? e.message : String(e);
    if (/^(--|bench engine:)/.test(msg)) {
      process.stderr.write(`refinery bench: ${msg}\n`);
      return 2;
    }
    throw e;
  }
}
