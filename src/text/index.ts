// Language modelling on text (issue 11): the Brown corpus, a byte-level BPE tokenizer, one
// Transformer backbone for an autoregressive model, masked diffusion (MDLM) and CDCD.
export * from './corpus';
export * from './bpe';
export * from './data';
export * from './transformer';
export * from './ar';
export * from './lm';
export * from './train';
export * from './mdlm';
export * from './cdcd';
export * from './evaluate';
