// The studio's worker thread: runs one job at a time off the server's event loop. Events go back
// with postMessage as they happen (the main thread receives them while a job still computes);
// cancellation comes through shared memory, since this thread's event loop is busy for the whole
// job: the kind calls checkCancelled() between sampler steps, which reads the flag.
import { parentPort, workerData } from 'worker_threads';
import { setNumThreads } from '../tensor';
import { JobCancelled, JobContext, ServeContext } from './kind';
import { KINDS } from './kinds';

/** A job as the main thread sends it. */
export interface WorkerJob {
  id: number;
  kind: string;
  params: Record<string, unknown>;
  /** Int32Array(1) over a SharedArrayBuffer: 1 once the job is cancelled. */
  cancel: SharedArrayBuffer;
}

/** What the worker sends back. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'event'; id: number; event: string; data: unknown }
  | { type: 'end'; id: number; outcome: 'done' | 'cancelled' | 'error'; message?: string };

const port = parentPort!;
const { ctx, threads } = workerData as { ctx: ServeContext; threads?: number };
if (threads !== undefined) setNumThreads(threads);

port.on('message', (job: WorkerJob) => {
  void (async () => {
    const flag = new Int32Array(job.cancel);
    const jc: JobContext = {
      ctx,
      emit: (event, data) => port.postMessage({ type: 'event', id: job.id, event, data } satisfies WorkerMessage),
      checkCancelled: () => { if (Atomics.load(flag, 0) !== 0) throw new JobCancelled(); },
    };
    let end: WorkerMessage;
    try {
      const kind = KINDS[job.kind];
      if (!kind) throw new Error(`no model kind ${JSON.stringify(job.kind)}`);
      await kind.run(job.params, jc);
      end = { type: 'end', id: job.id, outcome: 'done' };
    } catch (e) {
      end = e instanceof JobCancelled
        ? { type: 'end', id: job.id, outcome: 'cancelled' }
        : { type: 'end', id: job.id, outcome: 'error', message: e instanceof Error ? e.message : String(e) };
    }
    port.postMessage(end);
  })();
});
port.postMessage({ type: 'ready' } satisfies WorkerMessage);
