// The largest values the commands accept where nothing smaller is forced by the data: each is a
// size beyond which a run on this kind of machine is out of memory or out of any sensible time.

/** Images per training step (the saved activations grow linearly with the batch). */
export const MAX_BATCH_IMAGES = 4096;
/** Samples one `refinery sample` draws (10,000 in ten columns is already a 302 x 30,002 pixel PNG). */
export const MAX_SAMPLES = 10_000;
/** Samples per setting of `refinery eval diffusion`: 50,000, the usual FID sample count. */
export const MAX_EVAL_SAMPLES = 50_000;
/** Sampler noise levels, and network evaluations (two per Heun step). */
export const MAX_SAMPLER_STEPS = 1000;
export const MAX_NFE = 2 * MAX_SAMPLER_STEPS;
/** Guidance scales (γ = 100 already saturates every sample). */
export const MAX_GUIDANCE = 100;
