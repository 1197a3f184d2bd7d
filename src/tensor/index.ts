export { Tensor, Generator, tensor, fromBytes, manualSeed, functions } from './tensor';
export type { IndexSpec, NestedArray, CreateOptions } from './tensor';
export { scope, keep, memory, resetPeakMemory, Scope } from './memory';
export { noGrad, enableGrad, isGradEnabled, grad, applyFunction } from './autograd';
export type { CustomFunction, FunctionContext, GradOptions } from './autograd';
export * as F from './functional';
export { setNumThreads, getNumThreads, torchVersion, cudaDeviceCount, cudaIsAvailable } from './runtime';
export * from './safetensors';
export * from '../types';
