// The largest requests the studio accepts: an interactive page streams every step of every image,
// so these are far below the CLI's limits (src/cli/limits.ts), which are sized for batch jobs.

/** Images per sampling job (an 8 x 8 grid). */
export const MAX_STUDIO_SAMPLES = 64;
/** Sampler steps per job. */
export const MAX_STUDIO_STEPS = 200;
/** Further guidance scales of the "same noise, other γ" comparison. */
export const MAX_COMPARE = 4;
/** Jobs waiting for the worker, server-wide (one more runs). */
export const MAX_QUEUED_JOBS = 8;
/** Request body bytes (parameters only). */
export const MAX_BODY_BYTES = 16 * 1024;
/** Open event streams of runs' metrics, server-wide (each looks at its files twice a second). */
export const MAX_RUN_STREAMS = 32;
