// Audio signal tools (groundwork for issue 12): WAV read/write, resampling, mu-law companding, STFT/ISTFT in librosa's and
// torchaudio's conventions, dB scaling, mel filterbanks, mel spectrograms, MFCC, GANSynth's
// instantaneous frequency and Griffin-Lim. Library only: no models yet.
export * from './mulaw';
export * from './spectral';
export * from './mel';
export * from './phase';
export * from './wav';
export * from './resample';
export * from './datasets';
export * from './wavenet';
export * from './pictures';
export * from './train_wavenet';
export * from './pitch';
export * from './diffwave';
export * from './train_diffwave';
export * from './notes_report';
export * from './metrics';
export * from './vocoder';
export * from './vocoding_report';
export * from './classifier';
export * from './experiments';
