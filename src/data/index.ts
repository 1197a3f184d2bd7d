export { parseIdx, readIdx, toTensor, type IdxArray, type IdxDType, type IdxData } from './idx';
export {
  fashionMnist, mnistDigits, brownCorpus, idxDataset, FASHION_MNIST_CLASSES, FASHION_MNIST_ROOT, DIGIT_CLASSES,
  type ImageDataset, type ImageLoadOptions, type Split, type BrownCorpus,
} from './datasets';
export { DataLoader, type DataLoaderOptions } from './loader';
export { encodePng, saveImageGrid, type ImageGridOptions } from './png';
export {
  affineMatrix, affineTransform, randomAffine, quasiRandomAffine, halton, haltonSequence, PLANKTON_AUGMENTATION,
  type AffineParams, type AffineTransformOptions, type AugmentationRanges,
} from './augment';
