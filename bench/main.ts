#!/usr/bin/env node
// node dist/bench/main.js <suite> [options]: the benchmark suites (they run the same workload
// through Refinery and its peers). Not part of the `refinery` CLI: bench/ depends on the library,
// the library and its CLI never on bench/.
import { benchMain } from './common';

const SUITES: Record<string, string> = {
  engine: 'tensor engine vs Python PyTorch and TensorFlow.js: add loop, matmul, conv fwd+bwd, MLP step',
  nn: 'one training step of the Fashion-MNIST convnet (Adam) vs PyTorch torch.nn and TF.js tfjs-layers',
  diffusion: 'one training step and one sampling step of the class-conditional U-Net (EDM) vs the same U-Net in PyTorch',
  audio: 'WaveNet: naive vs cached generation over depth; training and cached generation steps vs PyTorch',
  serve: 'Refinery Studio: time to the first streamed sampling step and streamed steps/s vs the library in-process',
  rotnet: 'one training step of the cyclic-roll rotation-invariant convnet vs the same network in PyTorch, interleaved',
  text: 'one training step and one generation step of the Transformer LM backbone vs the same model in PyTorch, interleaved',
  conv: 'convolution meta-optimizer: per-operation candidate times, whole training steps vs PyTorch, threads under load',
  ddp: 'all-reduce time and bandwidth over 2 processes (c10d Gloo) vs Python torch.distributed with Gloo',
  optim: 'one optimizer step over the U-Net parameters: foreach vs per-parameter, vs torch.optim foreach=True/False',
};

const USAGE = `usage: node dist/bench/main.js <suite> [options]

suites:
${Object.entries(SUITES).map(([k, v]) => `  ${k.padEnd(9)} ${v}`).join('\n')}

run \`node dist/bench/main.js <suite> --help\` (engine, nn, diffusion, ddp) for the options of a suite
`;

export function runBench(args: string[]): number | Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (!(sub in SUITES)) {
    process.stderr.write(`bench: unknown suite "${sub}"; valid: ${Object.keys(SUITES).join(', ')}\n\n${USAGE}`);
    return 2;
  }
  // asynchronous: the PyTorch peer is a long-lived child driven over stdin (interleaved steps)
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  if (sub === 'text') return (require('./text') as typeof import('./text')).runTextCommand(rest);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  if (sub === 'conv') return (require('./conv') as typeof import('./conv')).runConvCommand(rest);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  if (sub === 'serve') return (require('./serve') as typeof import('./serve')).runServeCommand(rest);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  if (sub === 'ddp') return (require('./ddp') as typeof import('./ddp')).runDdpCommand(rest);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  if (sub === 'optim') return (require('./optim') as typeof import('./optim')).runOptimCommand(rest);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const run = sub === 'audio' ? (require('./audio') as typeof import('./audio')).runAudioCommand
    : sub === 'rotnet' ? (require('./rotnet') as typeof import('./rotnet')).runRotnetCommand
    : sub === 'nn' ? (require('./nn') as typeof import('./nn')).runNnCommand
    : sub === 'diffusion' ? (require('./diffusion') as typeof import('./diffusion')).runDiffusionCommand
      : (require('./engine') as typeof import('./engine')).runEngineCommand;
  return run(rest);
}

if (require.main === module) benchMain(runBench);
