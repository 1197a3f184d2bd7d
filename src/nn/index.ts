// The layer library (architecture decision 8): parameters and expressions, modules, layers.
export * from './param';
export * from './module';
/** Initializers (`init.glorotUniform()`, `init.zeros`, ...), as torch.nn.init. */
export * as init from './init';
/** Optimizers, schedules, clipping, EMA (src/optim), re-exported for convenience. */
export * as optim from '../optim';
export { Linear, Dense } from './layers/linear';
export type { LinearOptions } from './layers/linear';
export { Conv1d, Conv2d, ConvTranspose2d } from './layers/conv';
export type { ConvOptions, ConvTransposeOptions, Conv1dPadding, Conv2dPadding } from './layers/conv';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d } from './layers/pool';
export type { PoolOptions } from './layers/pool';
export { Dropout, GaussianDropout } from './layers/dropout';
export { Embedding } from './layers/embedding';
export type { EmbeddingOptions } from './layers/embedding';
export { LayerNorm, GroupNorm, BatchNorm1d, BatchNorm2d, groupsFor } from './layers/norm';
export type { NormOptions, BatchNormOptions } from './layers/norm';
export { MultiheadAttention } from './layers/attention';
export type { MultiheadAttentionOptions, AttentionCallOptions } from './layers/attention';
export { TransformerBlock } from './layers/transformer';
export type { TransformerBlockOptions } from './layers/transformer';
export { Sequential, Residual } from './layers/container';
export { ReLU, LeakyReLU, GELU, SiLU, Tanh, Sigmoid, Softmax } from './layers/activation';
export { Identity, Flatten } from './layers/shape';
export { FeaturePool, Maxout } from './layers/feature_pool';
export type { FeaturePoolFunction } from './layers/feature_pool';
export { CyclicSlice, CyclicRoll, CyclicConvRoll, CyclicPool, CYCLIC, DIHEDRAL } from './layers/cyclic';
export type { CyclicOptions, CyclicPoolFunction, ViewGroup, ViewGroupName } from './layers/cyclic';
export { MultiRotationSlice, MultiRotationMerge, MULTI_ROTATION_VIEWS } from './layers/multi_rotation';
export type { MultiRotationSliceOptions } from './layers/multi_rotation';
export { SinusoidalEmbedding, FourierFeatures } from './layers/noise_embedding';
export { FiLM, AdaptiveGroupNorm } from './layers/conditioning';
export type { FiLMOptions } from './layers/conditioning';
export type { InitOptions } from './layers/util';
export { pytorchNames, pytorchStateDict, loadPytorchStateDict, snakeCase } from './pytorch';
