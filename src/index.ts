// refinery: the whole toolkit. Each layer is also a subpath export (refinery/tensor, refinery/nn, ...).
export * from './tensor';
export * as nn from './nn';
export * as optim from './optim';
export * as data from './data';
export * as train from './train';
export * as distributed from './distributed';
export * as diffusion from './diffusion';
export * as typicality from './typicality';
export * as vision from './vision';
export * as audio from './audio';
export { conv, setConvImplementation } from './conv/conv';
export type { ConvArgs, ConvImplementation } from './conv/conv';
export * as convMeta from './conv';
export { enableConvMetaOptimizer, disableConvMetaOptimizer, registerConvImplementation, tune } from './conv';
export { MODEL_KINDS, MODEL_KIND_NAMES, readModel, exportPytorch, importPytorch } from './models';
export type { ModelKind } from './models';
