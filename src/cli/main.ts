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
  train diffusion [--max-minutes 20] [--steps N] [--prediction edm|eps|x0] [--weighting edm|eps|x0|min-snr|likelihood]
                  [--noise lognormal|loguniform|uniform-t|likelihood-is] [--cond-drop 0.1] [--ema 0.999]
                  [--batch-size 64] [--lr 2e-3] [--channels 32] [--res-blocks 1] [--guidance 0,1,2,3,5]
                  [--name NAME] [--resume] [--out PATH]
                                class-conditional diffusion model on Fashion-MNIST; grids + report in runs/NAME
  train noisy-classifier [--steps 3000] [--max-minutes M] [--name NAME] [--resume] [--out PATH]
                                noise-conditional Fashion-MNIST classifier for classifier guidance
  sample [--checkpoint PATH] [--guidance 3] [--sampler heun|euler|euler-ancestral|ddpm|ddim|dpmpp-2m|pc]
         [--steps 18 | --nfe N] [--class 7] [--n 64] [--seed 0] [--temperature T] [--threshold 0.995] [--clip]
         [--classifier-guidance S [--noisy-classifier PATH]] [--out samples.png]
                                sample a PNG grid (default checkpoint: ${'checkpoints/fashion-diffusion.safetensors'})
  eval diffusion [--checkpoint PATH] [--n 1000] [--guidance 0,1,3] [--temperature 1,2] [--sampler heun,euler]
                 [--nfe 10,20,50] [--classifier-guidance 0,1,3] [--unconditional] [--floor] [--bpd N [--bpd-only]]
                 [--grids DIR] [--json]
                                classifier-FID, class adherence, within-class diversity (and bits/dim)
  typicality [--json] [--seed N] [--samples N] [--out DIR]
                                the typicality posts' numbers and figures (run folder runs/typicality)
  typicality ood [--epochs N]   PixelCNN on Fashion-MNIST vs MNIST: likelihood vs typicality test (AUROC)
  bench engine|nn [--json]      benchmarks against Python PyTorch and TensorFlow.js
  export CHECKPOINT [--format pytorch] [--out PATH]
                                the model with PyTorch's names, for python/refinery_twins.py (load_state_dict strict)
  import FILE [--kind KIND] [--out PATH]
                                a PyTorch state dict of a twin -> a Refinery checkpoint
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'demo':
      return runDemo(rest);
    case 'train':
    case 'eval': {
      const [what, ...more] = rest;
      if (what === 'noisy-classifier' && cmd === 'train') {
        const nc = await import('./noisy_classifier');
        return nc.trainNoisyClassifierCommand(more);
      }
      if (what === 'diffusion') {
        const dm = await import('./diffusion');
        return cmd === 'train' ? dm.trainDiffusion(more) : dm.evalDiffusion(more);
      }
      if (what !== 'classifier') throw new Error(`refinery ${cmd}: unknown target "${what ?? ''}"; valid: classifier, diffusion, noisy-classifier (train)`);
      const c = await import('./classifier');
      return cmd === 'train' ? c.trainClassifier(more) : c.evalClassifier(more);
    }
    case 'export':
    case 'import': {
      const ex = await import('./export');
      return cmd === 'export' ? ex.exportCommand(rest) : ex.importCommand(rest);
    }
    case 'sample': {
      const dm = await import('./diffusion');
      return dm.sampleCommand(rest);
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
