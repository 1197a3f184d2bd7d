// Loads the native addon (native/build/Release/refinery.node), located from the package root.
import * as fs from 'fs';
import * as path from 'path';
import { OPS_HASH } from './generated/ops';

// What to do when the addon is missing or cannot load: the same instructions as native/install.js.
const HOW_TO_BUILD =
  'The addon builds against libtorch when the package installs (`npm rebuild refinery` builds it again; ' +
  'in a checkout of the repository, `bash scripts/setup.sh`). Install libtorch first: on Debian/Ubuntu ' +
  '`apt-get install libtorch-dev libopenblas0-pthread`; or any libtorch folder (with include/ and lib/: ' +
  "the zip from pytorch.org, or the torch folder of a pip wheel) as `LIBTORCH=/path/to/libtorch npm rebuild refinery`.";

function findAddon(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'native', 'build', 'Release', 'refinery.node');
    if (fs.existsSync(p)) return p;
    if (fs.existsSync(path.join(dir, 'native', 'binding.gyp'))) {
      throw new Error(`refinery: the native addon is not built (no ${p}). ${HOW_TO_BUILD}`);
    }
    dir = path.dirname(dir);
  }
  throw new Error(`refinery: the native addon is not built (no native/build/Release/refinery.node above ${__dirname}). ${HOW_TO_BUILD}`);
}

function loadAddon(): Native {
  const file = findAddon();
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require(file) as Native;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // the libtorch it was built against has moved or gone: say which, and how to rebuild
    if (/cannot open shared object|undefined symbol|version .* not found/.test(msg)) {
      throw new Error(`refinery: the native addon ${file} does not load against the installed libtorch (${msg}). ${HOW_TO_BUILD}`);
    }
    throw e;
  }
}

export interface Native {
  ops: ((...args: unknown[]) => unknown)[];
  opsHash: string;
  torchVersion: string;
  Free(id: number): void;
  Backstop(id: number, owner: object): void;
  BackstopEpoch(): void;
  Share(id: number): number;
  FromBytes(data: ArrayBufferView | ArrayBuffer, shape: number[], dtype: number): number;
  ToBytes(id: number): ArrayBuffer;
  ScalarTensor(v: number | boolean, dtype: number): number;
  Item(id: number): number | boolean;
  Meta(id: number): [number[], number, string, boolean];
  Shape(id: number): number[];
  Strides(id: number): number[];
  Dtype(id: number): number;
  Dim(id: number): number;
  Numel(id: number): number;
  RequiresGrad(id: number, value?: boolean): boolean;
  IsLeaf(id: number): boolean;
  GradFnName(id: number): string | null;
  Grad(id: number): number | null;
  SetGrad(id: number, grad: number | null): void;
  SetData(id: number, src: number): void;
  RetainGrad(id: number): void;
  SetGradEnabled(enabled?: boolean): boolean;
  Backward(outputs: number[], grads: (number | null)[] | null, retainGraph?: boolean | null, createGraph?: boolean, inputs?: number[] | null): void;
  AutogradGrad(outputs: number[], inputs: number[], grads: (number | null)[] | null, retainGraph: boolean | null, createGraph: boolean, allowUnused: boolean): (number | null)[];
  CustomFunction(name: string, backward: (grads: (number | null)[]) => (number | null)[], inputs: number[], outputs: number[]): void;
  GeneratorNew(seed: number, device?: string): number;
  GeneratorDefault(device: string): number;
  GeneratorDevice(id: number): string;
  GeneratorFree(id: number): void;
  GeneratorSeed(id: number, seed?: number): number;
  GeneratorGetState(id: number): number;
  GeneratorSetState(id: number, state: number): void;
  Memory(resetPeak?: boolean): { liveTensors: number; liveBytes: number; peakBytes: number; backstopTensors: number; processLiveTensors: number; processLiveBytes: number };
  SetNumThreads(n: number): void;
  GetNumThreads(): number;
  CudaDeviceCount(): number;
  /** 'gloo' when the addon was built with c10d's Gloo process group, '' when this libtorch lacks it. */
  distributedBackends: string;
  DistInit?(rank: number, worldSize: number, addr: string, port: number, timeoutMs: number, heartbeatMs: number): Promise<number>;
  DistDestroy?(group: number): void;
  DistCollective?(group: number, kind: 'allReduce' | 'broadcast' | 'allGather' | 'barrier', tensors: number[], op: string, root: number, bucketBytes: number): Promise<number[] | undefined>;
  DistReducerNew?(group: number, params: number[], bucketBytes: number): number;
  DistReducerPrepare?(reducer: number): void;
  DistReducerCancel?(reducer: number): void;
  DistReducerFinish?(reducer: number, extra: number[]): Promise<void>;
  DistReducerStats?(reducer: number): [number, number];
  DistReducerFree?(reducer: number): void;
}

/**
 * Waiting policies that keep a training step from collapsing when another process is busy (issue 10,
 * measured by `node dist/bench/main.js conv --part load`): libgomp (libtorch's intra-op pool) spins
 * about 300k iterations at every barrier and OpenBLAS keeps its own spinning pool, so on a shared
 * machine a thread spins away its time slice while the thread it waits for is descheduled, making
 * 2-thread steps 10-30x slower. Passive waiting and a single-threaded BLAS inside libtorch's own
 * pool avoid that. Both libraries read these once, when they load with the addon, so they are set
 * here, before it loads, and only where the user has not set them; REFINERY_OMP_DEFAULTS=1 keeps the
 * libraries' own defaults.
 */
export function robustThreadingEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const set: string[] = [];
  if (env.REFINERY_OMP_DEFAULTS === '1') return set;
  if (env.OMP_WAIT_POLICY === undefined) set.push('OMP_WAIT_POLICY');
  if (env.OPENBLAS_NUM_THREADS === undefined) set.push('OPENBLAS_NUM_THREADS');
  if (set.includes('OMP_WAIT_POLICY')) env.OMP_WAIT_POLICY = 'PASSIVE';
  if (set.includes('OPENBLAS_NUM_THREADS')) env.OPENBLAS_NUM_THREADS = '1';
  return set;
}

/** The variables Refinery set in this process (child processes that are not Refinery may want them unset). */
export const threadingDefaultsSet: readonly string[] = robustThreadingEnv();
export const native: Native = loadAddon();
if (native.opsHash !== OPS_HASH) {
  throw new Error(`refinery: the native addon binds a different op list (${native.opsHash}) than the TypeScript table (${OPS_HASH}); ` +
    'rebuild with `bash scripts/setup.sh` (after scripts/gen-declarations.sh if you changed libtorch)');
}
