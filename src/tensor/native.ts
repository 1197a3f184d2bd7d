// Loads the native addon (native/build/Release/refinery.node), located from the package root.
import * as fs from 'fs';
import * as path from 'path';
import { OPS_HASH } from './generated/ops';

function findAddon(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'native', 'build', 'Release', 'refinery.node');
    if (fs.existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  throw new Error('refinery: native addon not built (run `bash scripts/setup.sh`)');
}

export interface Native {
  ops: ((...args: unknown[]) => unknown)[];
  opsHash: string;
  torchVersion: string;
  Free(id: number): void;
  Backstop(id: number): void;
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
  RetainGrad(id: number): void;
  SetGradEnabled(enabled?: boolean): boolean;
  Backward(outputs: number[], grads: (number | null)[] | null, retainGraph?: boolean | null, createGraph?: boolean, inputs?: number[] | null): void;
  AutogradGrad(outputs: number[], inputs: number[], grads: (number | null)[] | null, retainGraph: boolean | null, createGraph: boolean, allowUnused: boolean): (number | null)[];
  CustomFunction(name: string, backward: (grads: (number | null)[]) => (number | null)[], inputs: number[], outputs: number[]): void;
  GeneratorNew(seed: number): number;
  GeneratorFree(id: number): void;
  GeneratorSeed(id: number, seed?: number): number;
  GeneratorGetState(id: number): number;
  GeneratorSetState(id: number, state: number): void;
  Memory(resetPeak?: boolean): { liveTensors: number; liveBytes: number; peakBytes: number };
  SetNumThreads(n: number): void;
  GetNumThreads(): number;
  CudaDeviceCount(): number;
}

// eslint-disable-next-line @typescript-eslint/no-var-requires
export const native: Native = require(findAddon());
if (native.opsHash !== OPS_HASH) {
  throw new Error(`refinery: the native addon binds a different op list (${native.opsHash}) than the TypeScript table (${OPS_HASH}); ` +
    'rebuild with `bash scripts/setup.sh` (after scripts/gen-declarations.sh if you changed libtorch)');
}
