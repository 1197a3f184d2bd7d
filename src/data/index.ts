export { parseIdx, readIdx, toTensor, type IdxArray, type IdxDType, type IdxData } from './idx';
export {
  fashionMnist, mnistDigits, brownCorpus, idxDataset, FASHION_MNIST_CLASSES, FASHION_MNIST_ROOT, DIGIT_CLASSES,
  type ImageDataset, type ImageLoadOptions, type Split, type BrownCorpus,
} from './datasets';
export { DataLoader, datasetTo, type DataLoaderOptions } from './loader';
export { encodePng, saveImageGrid, type ImageGridOptions } from './png';
export {
  affineMatrix, affineTransform, randomAffine, quasiRandomAffine, halton, haltonSequence, PLANKTON_AUGMENTATION,
  type AffineParams, type AffineTransformOptions, type AugmentationRanges,
} from './augment';
export { rotatedTask, disposeTask, ROTATED_TASKS, ROTATED_SIZE, type RotatedTask, type RotatedTaskName, type LabelledImages } from './rotated';
export { AugmentedLoader, batchSeed, type AugmentedLoaderOptions, type BatchSource } from './augmented_loader';
export { PseudoLabelLoader, type PseudoLabelOptions, type SoftBatch } from './pseudo_labels';
export { predictTTA, ttaTransforms, type TTAOptions } from './tta';
