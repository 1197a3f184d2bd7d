// Vision: the Fashion-MNIST reference classifier, its training, loading and evaluation.
export * from './classifier';
export * from './train_classifier';
