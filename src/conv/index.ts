// The convolution meta-optimizer: candidates, the custom autograd function, timing, cache, threads.
export { conv, atenConv, setConvImplementation } from './conv';
export type { ConvArgs, ConvImplementation } from './conv';
export { CONV_OPS, convProblem, regularProblem, describeProblem } from './problem';
export type { ConvOp, ConvProblem } from './problem';
export { runOp, whyNot } from './candidate';
export type { ConvCandidate } from './candidate';
export { BUILTIN_CANDIDATES, convCandidates, registerConvImplementation, unregisterConvImplementation } from './registry';
export type { ConvImplementationOps, ConvApplicability } from './registry';
export { chosenConv } from './function';
export { ConvCache, defaultCachePath, decisionKey, readConvCache, clearConvCache, convCacheLines } from './cache';
export type { ConvDecision } from './cache';
export { ConvMetaOptimizer, enableConvMetaOptimizer, disableConvMetaOptimizer, activeConvMetaOptimizer, tune, agreementTolerance } from './metaopt';
export type { ConvMetaOptions } from './metaopt';
export { pool2d, atenPool, setPoolImplementation, poolProblem, describePool, POOL_CANDIDATES } from './pool';
export type { PoolArgs, PoolImplementation, PoolProblem, PoolCandidate } from './pool';
export { StepPlanner, jobPlanner, AUTOTUNE_MODES, MIN_PLANNED_STEPS } from './plan';
export type { StepPlanOptions, StepConfig, StepLayout, AutotuneMode } from './plan';
