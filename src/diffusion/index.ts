// Diffusion models (Dieleman, "Perspectives on diffusion", 2022): schedules, parameterisations,
// preconditioning, objectives and samplers, as flat functions with one signature per family.
export * from './schedules';
export * from './parameterisation';
export * from './objectives';
export * from './denoiser';
export * from './samplers';
export * from './guidance';
export { precondition, edmPrecondition, edmCoefficients, epsCoefficients } from './precondition';
export type { RawNetwork, Coefficients, CoefficientFn } from './precondition';
export * from './unet';
export * from './likelihood';
export * from './noisy_classifier';
export * from './images';
export * from './model';
export * from './metrics';
export * from './train';
export * from './evaluate';
export * from './noisy_classifier_train';
