// `refinery bench <suite>`: benchmark suites; the runners live under bench/ at the repo root.
const SUITES: Record<string, string> = {
  engine: 'tensor engine vs Python PyTorch and TensorFlow.js: add loop, matmul, conv fwd+bwd, MLP step',
  nn: 'one training step of the Fashion-MNIST convnet (Adam) vs PyTorch torch.nn and TF.js tfjs-layers',
  diffusion: 'one training step and one sampling step of the class-conditional U-Net (EDM) vs the same U-Net in PyTorch',
};

const USAGE = `usage: refinery bench <suite> [options]

suites:
${Object.entries(SUITES).map(([k, v]) => `  ${k.padEnd(9)} ${v}`).join('\n')}

run \`refinery bench <suite> --help\` (engine, nn, diffusion) for the options of a suite
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
  const run = sub === 'nn'
    ? (await import('../../bench/nn')).runNnCommand
    : sub === 'diffusion'
      ? (await import('../../bench/diffusion')).runDiffusionCommand
      : (await import('../../bench/engine')).runEngineCommand;
  try {
    return run(rest);
  } catch (e) {
    // option errors: report them plainly (other failures propagate to main's handler)
    const msg = e instanceof Error ? e.message : String(e);
    if (/^(--|bench (engine|nn|diffusion):)/.test(msg)) {
      process.stderr.write(`refinery bench: ${msg}\n`);
      return 2;
    }
    throw e;
  }
}
