// Vision: the Fashion-MNIST reference classifier, its training, loading and evaluation.
export * from './classifier';
export * from './train_classifier';
export * from './rotnet';
export * from './train_rotnet';
