// Typicality (Dieleman, "Musings on typicality", 2020): closed forms, samplers and special functions.
export * from './gamma';
export * from './lambertw';
export * from './closed_forms';
export * from './decoding';
export * from './ood';
export * from './pixelcnn';
export * from './report';
export * from './ood_experiment';
