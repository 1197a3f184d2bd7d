export { ProcessGroup, initProcessGroup, rendezvousFromEnv, DEFAULT_BUCKET_BYTES, distributedBackends, assertCollectivesOn } from './process_group';
export type { InitOptions, Rendezvous, ReduceOp } from './process_group';
export { averageGradients, broadcastModule, GradientReducer } from './ddp';
export { launch, freePort } from './launch';
export type { LaunchOptions, LaunchResult } from './launch';
