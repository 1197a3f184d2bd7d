// The CUDA candidates of the issue: cuDNN with its own timing-based algorithm search
// (`torch.backends.cudnn.benchmark = True`) and without it, and cuDNN on channels-last tensors.
// They are declared so that tables and cache listings name them; on a CPU they say why they do not
// apply, and this addon has no binding for the cuDNN benchmark flag yet, so they do not apply on a
// CUDA device either (where the `libtorch` and `channels-last` candidates run cuDNN's default).
import { ConvCandidate } from '../candidate';
import { ConvProblem } from '../problem';

function cudaOnly(p: ConvProblem): string {
  if (!String(p.device).startsWith('cuda')) return `needs a CUDA device (the tensors are on ${p.device})`;
  return 'needs the cuDNN benchmark flag (at::globalContext().setBenchmarkCuDNN), which this addon does not bind yet';
}

const declared = (name: string, description: string): ConvCandidate => ({ name, description, applicable: (_op, p) => cudaOnly(p) });

export const cudnnBenchmark = declared('cudnn-benchmark', 'cuDNN with benchmark on (it times its algorithms itself)');
export const cudnnHeuristic = declared('cudnn', 'cuDNN with benchmark off (heuristic choice)');
export const cudnnChannelsLast = declared('cudnn-channels-last', 'cuDNN with benchmark on, NHWC tensors');
