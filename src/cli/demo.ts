// refinery demo: flags and printing over spiralDemo (src/train).
import { getNumThreads, torchVersion } from '../tensor';
import { sparkline, spiralDemo } from '../train';
import { command, int, jsonFlag } from './flags';

export const demoCommand = command({
  name: 'demo',
  summary: 'fit a small MLP with the tensor engine and print the loss curve',
  description: 'Exits with 1 when the training accuracy stays below 90%.',
  flags: {
    steps: int({ description: 'full-batch SGD steps', default: 600, min: 1, max: 1_000_000 }),
    json: jsonFlag(),
  },
  run(f) {
    if (!f.json) console.log(`refinery demo: libtorch ${torchVersion}, ${getNumThreads()} threads; MLP 2-64-64-3 on a 3-arm spiral (600 points), SGD momentum 0.9, lr 0.1`);
    const r = spiralDemo({
      steps: f.steps,
      onStep: (step, loss) => { if (!f.json && (step % 50 === 0 || step === 1)) console.log(`step ${String(step).padStart(4)}  loss ${loss.toFixed(4)}`); },
    });
    if (f.json) console.log(JSON.stringify(r));
    else {
      const curve = r.losses.filter((_, i) => i % Math.max(1, Math.floor(r.steps / 60)) === 0);
      console.log(`loss curve  ${sparkline(curve)}  ${r.losses[0].toFixed(3)} -> ${r.finalLoss.toFixed(4)}`);
      console.log(`train accuracy ${(r.accuracy * 100).toFixed(1)}%  ${r.msPerStep.toFixed(2)} ms/step  tensors leaked by the loop: ${r.leakedTensors}`);
    }
    return r.accuracy > 0.9 ? 0 : 1;
  },
});
