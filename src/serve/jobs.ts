// The studio's job queue: one worker thread runs the jobs in order; at most `maxQueued` wait,
// server-wide; a client (one browser tab) has at most one job queued or running. A job is cancelled
// when its client goes away: a queued job leaves the queue, a running one sees the shared flag at
// its next step. A job that throws, or a worker that dies, ends that job with an error and the
// server goes on (a dead worker is replaced for the next job).
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { ServeContext } from './kind';
import type { WorkerJob, WorkerMessage } from './worker';

/** A refused submission, with the HTTP status it maps to (409: this client is busy; 503: queue full). */
export class JobRefused extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface JobSink {
  /** Each event of the job, in order (including 'queued' while it waits). */
  event(event: string, data: unknown): void;
  /** Called once when the job is over, however it ended. */
  end(outcome: 'done' | 'cancelled' | 'error', message?: string): void;
}

interface Job {
  id: number;
  kind: string;
  client: string;
  params: Record<string, unknown>;
  flag: Int32Array;
  sink: JobSink;
  state: 'queued' | 'running' | 'over';
  /** Events the job sent (steps, grids, ...). */
  events: number;
}

/** A job that ended, as /api/status lists it. */
export interface EndedJob {
  id: number;
  kind: string;
  outcome: 'done' | 'cancelled' | 'error';
  events: number;
  message?: string;
}

export interface JobQueueOptions {
  ctx: ServeContext;
  maxQueued: number;
  /** Intra-op threads of the worker (default: the library's default). */
  threads?: number;
}

export class JobQueue {
  private readonly queue: Job[] = [];
  private running: Job | null = null;
  private worker: Worker | null = null;
  private nextId = 1;
  private closed = false;
  /** The last jobs that ended, newest last. */
  private readonly ended: EndedJob[] = [];

  constructor(private readonly o: JobQueueOptions) {}

  /** Starts the worker ahead of the first job (loading the addon there takes a moment). */
  warm(): void {
    this.ensureWorker();
  }

  /** What is queued and running (for /api/status). */
  status(): { running: { id: number; kind: string } | null; queued: number; maxQueued: number; ended: EndedJob[] } {
    return { running: this.running && { id: this.running.id, kind: this.running.kind }, queued: this.queue.length, maxQueued: this.o.maxQueued, ended: [...this.ended] };
  }

  /** Queues a job for `client`; returns a function that cancels it. */
  submit(kind: string, params: Record<string, unknown>, client: string, sink: JobSink): () => void {
    if (this.closed) throw new JobRefused(503, 'the server is shutting down');
    const busy = this.running?.client === client ? this.running : this.queue.find((j) => j.client === client);
    if (busy) throw new JobRefused(409, `this client already has a job ${busy.state} (job ${busy.id}); cancel it or wait for it to end`);
    if (this.queue.length >= this.o.maxQueued) throw new JobRefused(503, `the queue is full (${this.o.maxQueued} jobs waiting); try again shortly`);
    const job: Job = { id: this.nextId++, kind, client, params, flag: new Int32Array(new SharedArrayBuffer(4)), sink, state: 'queued', events: 0 };
    this.queue.push(job);
    if (this.running) sink.event('queued', { id: job.id, position: this.queue.length });
    this.pump();
    return () => this.cancel(job);
  }

  private cancel(job: Job): void {
    if (job.state === 'queued') {
      this.queue.splice(this.queue.indexOf(job), 1);
      this.finish(job, 'cancelled');
      this.queue.forEach((j, i) => j.sink.event('queued', { id: j.id, position: i + 1 }));
    } else if (job.state === 'running') {
      Atomics.store(job.flag, 0, 1);
    }
  }

  private finish(job: Job, outcome: 'done' | 'cancelled' | 'error', message?: string): void {
    if (job.state === 'over') return;
    job.state = 'over';
    this.ended.push({ id: job.id, kind: job.kind, outcome, events: job.events, message });
    if (this.ended.length > 20) this.ended.shift();
    job.sink.end(outcome, message);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: { ctx: this.o.ctx, threads: this.o.threads } });
    w.on('message', (m: WorkerMessage) => {
      const job = this.running;
      if (m.type === 'ready' || !job || m.id !== job.id) return;
      if (m.type === 'event') {
        job.events++;
        if (job.state === 'running') job.sink.event(m.event, m.data);
      } else {
        this.running = null;
        this.finish(job, m.outcome, m.message);
        this.pump();
      }
    });
    const died = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      const job = this.running;
      this.running = null;
      if (job) this.finish(job, 'error', `the model worker stopped (${why}); the server goes on`);
      if (!this.closed) this.pump();
    };
    w.on('error', (e) => died(e.message));
    w.on('exit', (code) => died(`exit code ${code}`));
    this.worker = w;
    return w;
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.queue.forEach((j, i) => j.sink.event('queued', { id: j.id, position: i + 1 }));
    job.state = 'running';
    this.running = job;
    const msg: WorkerJob = { id: job.id, kind: job.kind, params: job.params, cancel: job.flag.buffer as SharedArrayBuffer };
    this.ensureWorker().postMessage(msg);
  }

  /** Cancels everything and stops the worker. */
  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) this.finish(j, 'cancelled');
    if (this.running) Atomics.store(this.running.flag, 0, 1);
    const w = this.worker;
    this.worker = null;
    if (this.running) this.finish(this.running, 'cancelled');
    this.running = null;
    if (w) await w.terminate();
  }
}
