#!/usr/bin/env node
// refinery <command>: the command-line entry point.
import { runDemo } from './demo';

const USAGE = `usage: refinery <command> [options]

commands:
  demo [--steps N] [--json]     fit a small MLP with the tensor engine and print the loss curve
  train classifier [--epochs N] [--resume] [--name NAME]
                                train the Fashion-MNIST reference convnet (run folder runs/NAME)
  eval classifier [--checkpoint PATH] [--json]
                                test accuracy and log loss of a classifier checkpoint
  typicality [--json] [--seed N] [--samples N] [--out DIR]
                                the typicality posts' numbers and figures (run folder runs/typicality)
  typicality ood [--epochs N]   PixelCNN on Fashion-MNIST vs MNIST: likelihood vs typicality test (AUROC)
  bench engine|nn [--json]      benchmarks against Python PyTorch and TensorFlow.js
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'demo':
      return runDemo(rest);
    case 'train':
    case 'eval': {
      const [what, ...more] = rest;
      if (what !== 'classifier') throw new Error(`refinery ${cmd}: unknown target "${what ?? ''}"; valid: classifier`);
      const c = await import('./classifier');
      return cmd === 'train' ? c.trainClassifier(more) : c.evalClassifier(more);
    }
    case 'bench': {
      const { runBench } = await import('./bench');
      return runBench(rest);
    }
    case 'typicality': {
      const { runTypicality } = await import('./typicality');
      if (rest[0] === 'ood') {
        // train the PixelCNN, run the OOD experiment, then re-render the report with its curves
        const { runOod } = await import('./ood');
        const code = await runOod(rest.slice(1));
        return code === 0 ? runTypicality([]) : code;
      }
      return runTypicality(rest);
    }
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 1 : 0;
    default:
      process.stderr.write(`refinery: unknown command "${cmd}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`refinery: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
