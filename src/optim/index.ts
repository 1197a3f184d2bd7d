// Optimizers, gradient clipping, learning-rate schedules and weight averaging.
export { Optimizer, resolveParams } from './optimizer';
export type { OptimizerOptions, ParamSource, LearningRate } from './optimizer';
export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export { Adam, AdamW } from './adam';
export type { AdamOptions } from './adam';
export { clipGradNorm } from './clip';
export { EMA } from './ema';
export type { EMAOptions } from './ema';
export * from './schedules';
export { minimizeLbfgs } from './lbfgs';
export type { LbfgsOptions, LbfgsResult } from './lbfgs';
