// A model kind of the studio (diffusion today; text and audio later): one small module with its
// request parameters (the CLI's flag definitions, so a request is validated exactly like a command
// line), what the UI needs to offer choices, and the work itself, which runs in the worker thread.
import type { FlagSet, FlagValues } from '../cli/flags';

/** What a kind's `options` and `params` may look at: the folders the server was started with. */
export interface ServeContext {
  /** Folder of the run folders (absolute). */
  runsDir: string;
}

/** What the worker gives a job: a way to stream events, and the cancellation check. */
export interface JobContext {
  /** Sends one server-sent event to the client (JSON-serialisable data). */
  emit(event: string, data: unknown): void;
  /** Throws JobCancelled once the client went away or cancelled; call it between steps. */
  checkCancelled(): void;
  ctx: ServeContext;
}

/** Thrown by checkCancelled: the job ends quietly. */
export class JobCancelled extends Error {
  override name = 'JobCancelled';
  constructor() {
    super('cancelled');
  }
}

export interface ModelKind<S extends FlagSet = FlagSet> {
  /** The URL name: POST /api/kinds/<name>/jobs. */
  name: string;
  title: string;
  /** The request parameters (built per request: choices may depend on the files present). */
  params(ctx: ServeContext): S;
  /** Checks across parameters (throw UsageError); may resolve names to paths (returns what the worker gets). */
  check?(values: FlagValues<S>, ctx: ServeContext): Record<string, unknown>;
  /** What the UI shows as choices (checkpoints, samplers, classes, limits). */
  options(ctx: ServeContext): unknown;
  /** The work, in the worker thread; returns when done (or throws JobCancelled). */
  run(params: Record<string, unknown>, job: JobContext): void | Promise<void>;
}

/** Type-checks a kind definition. */
export function modelKind<S extends FlagSet>(k: ModelKind<S>): ModelKind<S> {
  return k;
}
