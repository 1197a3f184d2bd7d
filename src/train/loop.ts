// The training loop: steps at flat memory (one scope per step), a progress bar, metrics.jsonl,
// evaluation, periodic checkpoints and the report; Ctrl-C (SIGINT) or SIGTERM finishes the current
// step, saves a checkpoint and returns. `resume: true` continues from the run's latest checkpoint
// (model, optimizer, counters, position in the epoch, generator states, the partial logging
// window), so an interrupted and resumed run computes exactly what an uninterrupted one does.
// With a `processGroup`, it is DistributedDataParallel: see TrainOptions.processGroup.
import { Generator, Tensor, cudaDeviceCount, functions as torch, keep, noGrad, scope, tensor } from '../tensor';
import type { ProcessGroup } from '../distributed/process_group';
import { GradientReducer, averageGradients, broadcastModule } from '../distributed/ddp';
import type { Module } from '../nn/module';
import { CheckpointObject, OptimizerLike, loadCheckpoint } from './checkpoint';
import { Progress, ProgressOptions, formatNumber } from './progress';
import { Run } from './run';

/** A scalar metric: a one-element tensor (read only at log steps) or a number. */
export type MetricValue = Tensor | number;

/** What a step function returns: the loss and any other scalars to log (as `train/<name>`). */
export interface StepOutput {
  loss: MetricValue;
  [name: string]: MetricValue;
}

export interface TrainContext {
  /** Steps completed before this one (the index of the current step). */
  step: number;
  epoch: number;
  /** Batches of this epoch consumed before this one. */
  batchInEpoch: number;
  run: Run;
}

export interface TrainOptions<B> {
  /** The run folder: a Run, or a name under `runsDir` opened with `config`, `resume`, `allowConfigChange`. */
  run: Run | string;
  runsDir?: string;
  config?: unknown;
  /** Continue from the run's latest checkpoint (starts from scratch when it has none). */
  resume?: boolean;
  allowConfigChange?: boolean | string[];
  keepCheckpoints?: number;

  model: Module;
  optimizer: OptimizerLike;
  /**
   * Further stateful objects saved in every checkpoint and restored on resume, by name: an EMA of
   * the weights (`{ ema }`), a second model. Updating them is the caller's business.
   */
  objects?: Record<string, CheckpointObject>;
  /**
   * The batches of `epoch`, from batch `startBatch` on. Their order must be reproducible: derive it
   * from (seed, epoch) as DataLoader does (`(e, s) => loader.epoch(e, { startBatch: s })`), or draw it
   * from a generator listed in `epochGenerators`. Each `next()` runs inside the step's scope, so a
   * batch's tensors are freed after its step; tensors the iterator holds across batches must be
   * `keep()`-ed (and disposed when it finishes).
   */
  data: (epoch: number, startBatch: number) => Iterable<B>;
  /**
   * Runs inside a scope: computes the loss (and other scalars) of a batch. The loop zeroes the
   * gradients before, then calls `loss.backward()` and `optimizer.step()`, unless `manualUpdate`.
   */
  stepFn: (batch: B, ctx: TrainContext) => StepOutput;
  /** `stepFn` does its own backward and optimizer step (GANs, gradient clipping, accumulation). */
  manualUpdate?: boolean;

  /** Stop after this many epochs ... */
  epochs?: number;
  /** ... or optimizer steps, whichever comes first. */
  steps?: number;
  /** Batches per epoch, for the progress total when training by epochs. */
  stepsPerEpoch?: number;

  /** Write the mean of each step metric over the last `logEvery` steps (default 10). */
  logEvery?: number;
  /** Call `evalFn` every this many steps, or at the end of each epoch; always once at the end. */
  evalEvery?: number | 'epoch';
  /** Runs in eval mode, without gradients, inside a scope; its scalars are logged as `eval/<name>`. */
  evalFn?: (ctx: TrainContext) => Record<string, MetricValue> | void;
  /** Save a checkpoint every this many steps or at the end of each epoch (always at the end and on interrupt). */
  checkpointEvery?: number | 'epoch';
  /** Rewrite index.html at least this often, in seconds (default 60; also at each checkpoint). */
  reportEvery?: number;

  /** Generators whose state is saved and restored (the default generator always is). */
  generators?: Record<string, Generator>;
  /**
   * Generators that `data` draws an epoch's order from: they are saved as they were when the epoch
   * began, and restored to that before `data(epoch, startBatch)` is called on resume (so `data`
   * must draw for the skipped batches what it would have drawn for them).
   */
  epochGenerators?: Record<string, Generator>;

  /**
   * Time budget of this call in seconds: once spent, training ends as if the step budget were
   * reached ("completed", `stoppedBy: 'time'`; a later `resume` continues). The progress bar's total
   * then is the number of steps the budget is expected to allow, so its ETA is the time left.
   */
  maxSeconds?: number;
  /** Checked after every step; true stops like Ctrl-C (checkpoint, then return "interrupted"). */
  shouldStop?: (ctx: TrainContext) => boolean;
  /** Stop on SIGINT/SIGTERM (default true); a second signal exits at once. */
  handleSignals?: boolean;
  /** Progress bar options, or false for none. */
  progress?: boolean | Omit<ProgressOptions, 'total' | 'initial'>;

  /**
   * Data-parallel training over the ranks of this group (DistributedDataParallel's semantics):
   * rank 0's parameters and buffers are broadcast at the start, every step's gradients are averaged
   * over the ranks (bucketed) before the optimizer step, the logged training metrics are means over
   * the ranks, and only rank 0 writes the run folder (metrics, checkpoints, report) and runs
   * `evalFn`. `data` must give each rank its share of every batch (DataLoader's `shard`). All ranks
   * stop at the same step (Ctrl-C, `maxSeconds`, `shouldStop` on any rank stops them all). Each
   * rank's generator states are saved in the checkpoint, so a resume with the same world size
   * continues exactly; with another world size the ranks beyond the saved ones keep their seeds.
   */
  processGroup?: ProcessGroup;
  /**
   * Times whole steps to choose the memory layout and thread count (src/conv/plan.ts's StepPlanner,
   * or anything with its two calls): `beforeStep()` before each step, `afterStep(ms)` after it with
   * the step's wall time (the batch, forward, backward and update; not logging, evaluation or
   * checkpoints).
   */
  planner?: { beforeStep(): void; afterStep(ms: number): void };
  /** Gradient bucket size in bytes for `processGroup` (default 25 MiB). */
  bucketBytes?: number;
  /**
   * With `processGroup`: all-reduce each bucket of gradients as soon as backward has produced all
   * of them, overlapped with the rest of backward (default true, as DistributedDataParallel); false
   * reduces every bucket after backward. Both give the same gradients.
   */
  overlapGradients?: boolean;
}

export interface TrainResult {
  status: 'completed' | 'interrupted';
  step: number;
  epoch: number;
  batchInEpoch: number;
  /** The last checkpoint written. */
  checkpoint: string;
  /** The step the run resumed from, or null when it started from scratch. */
  resumedFrom: number | null;
  /** 'time' when `maxSeconds` ended the run. */
  stoppedBy?: 'time';
  run: Run;
  /**
   * With `processGroup`: whether gradients were reduced during backward, the number of buckets, and
   * how many of them the last step's backward launched (the rest were launched after it).
   */
  ddp?: { overlapped: boolean; buckets: number; launchedInBackward: number };
}

/** Loop bookkeeping kept in a checkpoint's `extra.loop`. */
interface LoopState {
  lastEvalStep: number;
  /** Counts of the partial logging window, in the order the metrics first appeared. */
  window: [string, number][];
}

export async function train<B>(o: TrainOptions<B>): Promise<TrainResult> {
  checkCount('epochs', o.epochs);
  checkCount('steps', o.steps);
  if (o.epochs === undefined && o.steps === undefined) throw new TypeError('train: give epochs or steps (or both)');
  const logEvery = o.logEvery ?? 10;
  checkCount('logEvery', logEvery, 1);
  if (typeof o.evalEvery === 'number') checkCount('evalEvery', o.evalEvery, 1);
  if (typeof o.checkpointEvery === 'number') checkCount('checkpointEvery', o.checkpointEvery, 1);
  const generators = o.generators ?? {};
  const epochGenerators = o.epochGenerators ?? {};
  for (const name of Object.keys(epochGenerators)) {
    if (name in generators) throw new TypeError(`train: generator "${name}" is in both generators and epochGenerators`);
  }
  if ('default' in epochGenerators) throw new TypeError('train: "default" cannot be an epoch generator (the default generator is saved as it is)');

  const pg = o.processGroup ?? null;
  const rank = pg?.rank ?? 0;
  // rank 0 owns the run folder; the other ranks only read its checkpoints
  const writer = rank === 0;
  if (pg && o.manualUpdate) throw new TypeError('train: manualUpdate cannot be combined with processGroup (the loop averages the gradients between backward and the optimizer step)');
  if (pg && pg.worldSize > 1 && !writer && o.run instanceof Run) throw new TypeError(`train: rank ${rank} was given an open Run; pass the run's name (only rank 0 opens the folder)`);
  // rank 0 makes (or checks) the folder before the others look at it
  let opened: Run | null = o.run instanceof Run ? o.run : writer ? Run.open({
    name: o.run, root: o.runsDir, config: o.config, resume: o.resume,
    allowConfigChange: o.allowConfigChange, keepCheckpoints: o.keepCheckpoints,
  }) : null;
  if (pg) await pg.barrier();
  opened ??= Run.reader({ name: o.run as string, root: o.runsDir, config: o.config });
  const run = opened;
  const total = minDefined(o.steps, o.epochs !== undefined && o.stepsPerEpoch ? o.epochs * o.stepsPerEpoch : undefined);
  const progressOpts = typeof o.progress === 'object' ? o.progress : {};
  const stream = progressOpts.stream ?? process.stderr;

  let step = 0, epoch = 0, batchInEpoch = 0, lastEval = -1;
  let resumedFrom: number | null = null;
  let lastCheckpoint = '';
  let lastReport = performance.now();
  const window = new MetricWindow();

  const latest = o.resume ? run.checkpoints.latest() : null;
  if (latest) {
    const ck = loadCheckpoint(latest);
    try {
      // rank r > 0 continues its own generator streams (saved as name@rank<r>) where there are any
      const gens: Record<string, Generator> = {};
      // the CUDA default generators where the checkpoint has them and this machine has the device
      const cuda = deviceGenerators().filter(([k]) => ck.generators[k]);
      for (const [k, g] of [...Object.entries({ default: Generator.default(), ...generators, ...epochGenerators }), ...cuda]) {
        if (rank === 0) gens[k] = g;
        else if (ck.generators[`${k}@rank${rank}`]) gens[`${k}@rank${rank}`] = g;
      }
      try {
        ck.restore({ model: o.model, optimizer: o.optimizer, objects: o.objects, generators: gens });
      } finally {
        for (const [, g] of cuda) g.dispose();
      }
      ({ step, epoch, batchInEpoch } = ck);
      const loop = ck.extra.loop as LoopState | undefined;
      lastEval = loop?.lastEvalStep ?? -1;
      window.restore(loop?.window ?? [], ck.takeTensors());
    } finally {
      ck.dispose();
    }
    resumedFrom = step;
    lastCheckpoint = latest;
  }
  if (pg) await broadcastModule(pg, o.model);
  const reducer = pg && o.overlapGradients !== false ? new GradientReducer(pg, o.model, { bucketBytes: o.bucketBytes }) : null;
  let ddpStats: TrainResult['ddp'] = pg ? { overlapped: reducer !== null, buckets: 0, launchedInBackward: 0 } : undefined;
  const metrics = writer ? run.metrics({ keepUpToStep: step }) : null;
  // states of the epoch generators when the current epoch began (restored ones are exactly that)
  let epochStart = snapshot(epochGenerators);

  const progress = o.progress === false || !writer ? null : new Progress({ label: run.name, ...progressOpts, total, initial: step });
  progress?.setFields({ epoch });
  const say = (msg: string) => (!writer ? undefined : progress ? progress.log(msg) : stream.write(msg + '\n'));
  if (latest) say(`resuming ${run.name} from step ${step} (${latest})`);

  let stopSignal: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopSignal) {
      say(`${sig} again: exiting without a checkpoint`);
      process.exit(sig === 'SIGTERM' ? 143 : 130);
    }
    stopSignal = sig;
    say(`${sig}: finishing this step, then saving a checkpoint (send it again to quit at once)`);
  };
  const signals: NodeJS.Signals[] = o.handleSignals === false ? [] : ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, onSignal);

  const ctx = (): TrainContext => ({ step, epoch, batchInEpoch, run });

  const log = async () => {
    const values: Record<string, number> = {};
    let means = window.means();
    if (pg) {
      // the mean over the ranks of each rank's mean (equal shares of every batch)
      const keys = Object.keys(means);
      const t = keep(tensor(keys.map((k) => means[k]), { dtype: 'float64' }));
      try {
        await pg.allReduce(t, { op: 'avg' });
        const avg = t.dataSync();
        means = Object.fromEntries(keys.map((k, i) => [k, avg[i]]));
      } finally {
        t.dispose();
      }
    }
    for (const [k, v] of Object.entries(means)) values[`train/${k}`] = v;
    values.lr = o.optimizer.lr();
    window.reset();
    metrics?.write(step, values, { epoch });
    progress?.setFields({ loss: values['train/loss'], lr: values.lr });
  };

  const evaluate = () => {
    if (!o.evalFn) return;
    if (!writer) {
      lastEval = step;
      return;
    }
    const wasTraining = o.model.training;
    o.model.eval();
    let values: Record<string, number>;
    try {
      values = noGrad(() => scope(() => toNumbers(o.evalFn!(ctx()) ?? {}, 'evalFn')));
    } finally {
      o.model.train(wasTraining);
    }
    lastEval = step;
    const named: Record<string, number> = {};
    for (const [k, v] of Object.entries(values)) named[`eval/${k}`] = v;
    if (Object.keys(named).length) {
      metrics!.write(step, named, { epoch });
      say(`step ${step} eval: ${Object.entries(values).map(([k, v]) => `${k}=${formatNumber(v)}`).join(' ')}`);
    }
  };

  const report = (status: string) => {
    if (writer) run.writeReport({ status, step, epoch });
    lastReport = performance.now();
  };

  const checkpoint = async () => {
    const w = window.state();
    let rankGens: Record<string, Tensor> = {};
    if (pg && pg.worldSize > 1) {
      // the logging window as the mean over the ranks, and every rank's generator states
      await pg.allReduce(Object.values(w.tensors), { op: 'avg' });
      const states: Record<string, Generator | Tensor> = { default: Generator.default(), ...generators, ...epochStart };
      for (const [k, g] of Object.entries(states)) {
        const mine = g instanceof Generator ? g.getState() : g;
        const all = await pg.allGather(mine);
        if (g instanceof Generator) mine.dispose();
        all.forEach((t, r) => {
          if (r > 0 && writer) rankGens[`${k}@rank${r}`] = t;
          else t.dispose();
        });
      }
    }
    const cuda = writer ? deviceGenerators() : [];
    try {
      if (writer) {
        lastCheckpoint = run.checkpoints.save({
          model: o.model, optimizer: o.optimizer, objects: o.objects, step, epoch, batchInEpoch,
          generators: { ...Object.fromEntries(cuda), ...generators, ...epochStart, ...rankGens },
          config: run.config,
          extra: { loop: { lastEvalStep: lastEval, window: w.counts } satisfies LoopState },
          tensors: w.tensors,
        });
      }
    } finally {
      for (const t of Object.values(rankGens)) t.dispose();
      for (const [, g] of cuda) g.dispose();
      rankGens = {};
    }
    report('running');
  };

  // One optimizer step at flat memory: the batch, the forward graph and every temporary are freed
  // when the scope closes. Returns false when the epoch has no more batches.
  const runStep = (it: Iterator<B>, update = true): boolean => scope(() => {
    const next = it.next();
    if (next.done) return false;
    if (!o.manualUpdate) o.optimizer.zeroGrad();
    const out = o.stepFn(next.value, ctx());
    if (typeof out !== 'object' || out === null || out.loss === undefined) throw new TypeError('train: stepFn must return { loss, ...metrics }');
    if (!o.manualUpdate) {
      if (!(out.loss instanceof Tensor)) {
        throw new TypeError('train: stepFn returned the loss as a number; return the loss tensor so that the loop can call backward(), or pass manualUpdate: true');
      }
      out.loss.backward();
      if (update) o.optimizer.step();
    }
    for (const [k, v] of Object.entries(out)) window.add(k, v);
    return true;
  });

  // Data-parallel: does every rank have a batch, and does any rank want to stop? One tiny all-reduce
  // queued with the gradients: [has a batch, stop requested, time is up], averaged.
  const flags = pg ? keep(torch.zeros([3], { dtype: 'float64' })) : null;
  const runStepDistributed = async (it: Iterator<B>): Promise<boolean> => {
    reducer?.prepare();
    let had: boolean;
    try {
      had = runStep(it, false);
    } catch (e) {
      if (reducer) {
        // a step that failed before backward launched anything leaves the reducer reusable
        try {
          reducer.cancel();
        } catch {
          // buckets are in flight: the error ends the run anyway
        }
      }
      throw e;
    }
    const f = flags!;
    f.fill_(0);
    if (had) f.select(0, 0).fill_(1);
    if (stopSignal !== null || o.shouldStop?.(ctx())) f.select(0, 1).fill_(1);
    timeBudget();
    if (timeUp) f.select(0, 2).fill_(1);
    if (had && reducer) {
      await reducer.finish([f]);
      ddpStats = { overlapped: true, ...reducer.stats() };
    } else if (had) {
      await averageGradients(pg!, o.model, { bucketBytes: o.bucketBytes, extra: [f] });
    } else {
      reducer?.cancel();
      await pg!.allReduce(f, { op: 'avg' });
    }
    const [withBatch, stop, time] = f.dataSync();
    if (withBatch > 0 && withBatch < 1) {
      throw new Error(`train: the ranks ran out of data at different steps (step ${step}, epoch ${epoch}): give every rank the same number of batches (DataLoader's shard option does)`);
    }
    agreedStop = stop > 0;
    timeUp = time > 0;
    if (had) o.optimizer.step();
    return had;
  };
  let agreedStop = false;

  const stepsDone = () => o.steps !== undefined && step >= o.steps;
  const epochsDone = () => o.epochs !== undefined && epoch >= o.epochs;
  let status: TrainResult['status'] = 'completed';
  if (o.maxSeconds !== undefined && !(o.maxSeconds > 0)) throw new RangeError(`train: maxSeconds must be a positive number, got ${o.maxSeconds}`);
  const startTime = performance.now(), startStep = step;
  let timeUp = false;
  const timeBudget = () => {
    if (o.maxSeconds === undefined) return;
    const elapsed = (performance.now() - startTime) / 1000;
    if (elapsed >= o.maxSeconds) timeUp = true;
    else if (progress && step > startStep) {
      const expected = step + Math.round(((step - startStep) / elapsed) * (o.maxSeconds - elapsed));
      progress.setTotal(total === undefined ? expected : Math.min(total, expected));
    }
  };
  let lastYield = performance.now();
  let ok = false;
  try {
    o.model.train();
    outer: while (!stepsDone() && !epochsDone()) {
      const startBatch = batchInEpoch;
      const it = o.data(epoch, startBatch)[Symbol.iterator]();
      let exhausted = false;
      try {
        for (;;) {
          if (stepsDone()) break outer;
          o.planner?.beforeStep();
          const stepStart = performance.now();
          if (!(pg ? await runStepDistributed(it) : runStep(it))) {
            exhausted = true;
            break;
          }
          o.planner?.afterStep(performance.now() - stepStart);
          step++;
          batchInEpoch++;
          if (step % logEvery === 0) await log();
          if (!pg) timeBudget();
          progress?.update(1, { epoch });
          if (typeof o.evalEvery === 'number' && step % o.evalEvery === 0) evaluate();
          if (timeUp) break outer;
          // signal handlers run only when the event loop gets a turn
          if (!pg && signals.length && performance.now() - lastYield >= 10) {
            await new Promise<void>((resolve) => setImmediate(resolve));
            lastYield = performance.now();
          }
          if ((pg ? agreedStop : stopSignal !== null || o.shouldStop?.(ctx())) && !stepsDone()) {
            status = 'interrupted';
            break outer;
          }
          if (typeof o.checkpointEvery === 'number' && step % o.checkpointEvery === 0) await checkpoint();
          else if (performance.now() - lastReport >= (o.reportEvery ?? 60) * 1000) report('running');
        }
      } finally {
        if (!exhausted) it.return?.();
      }
      if (startBatch === 0 && batchInEpoch === 0) throw new Error(`train: data(${epoch}, 0) yielded no batches (is the dataset empty?)`);
      if (o.evalEvery === 'epoch') evaluate();
      epoch++;
      batchInEpoch = 0;
      disposeAll(epochStart);
      epochStart = snapshot(epochGenerators);
      if (o.checkpointEvery === 'epoch') await checkpoint();
    }
    if (status === 'completed') {
      if (window.size) await log();
      if (o.evalFn && lastEval !== step) evaluate();
    }
    await checkpoint();
    report(status);
    // nobody leaves before rank 0 has written the last checkpoint
    if (pg) await pg.barrier();
    ok = true;
  } finally {
    for (const s of signals) process.removeListener(s, onSignal);
    progress?.close();
    metrics?.close();
    flags?.dispose();
    reducer?.dispose();
    disposeAll(epochStart);
    window.reset();
    if (!writer) run.close();
    if (!ok && writer) {
      try {
        run.writeReport({ status: 'failed', step, epoch });
      } catch {
        // the training error is the one to report
      }
    }
  }
  const where = `step ${step}, epoch ${epoch}`;
  if (status === 'interrupted' && writer) stream.write(`interrupted at ${where}: checkpoint ${lastCheckpoint}; resume: true continues it\n`);
  return { status, step, epoch, batchInEpoch, checkpoint: lastCheckpoint, resumedFrom, run, ...(ddpStats ? { ddp: ddpStats } : {}), ...(timeUp ? { stoppedBy: "time" as const } : {}) };
}

/**
 * Sums of the step metrics since the last log, as float64 scalars on the metric's device: reading
 * them (a device sync) happens only at log steps.
 */
class MetricWindow {
  private acc = new Map<string, { sum: Tensor; n: number }>();

  get size(): number {
    return this.acc.size;
  }

  add(name: string, v: MetricValue): void {
    noGrad(() => {
      let a = this.acc.get(name);
      const device = v instanceof Tensor ? v.device : 'cpu';
      if (!a) {
        a = { sum: keep(torch.zeros([], { dtype: 'float64', device })), n: 0 };
        this.acc.set(name, a);
      } else if (a.sum.device !== device) {
        const moved = keep(a.sum.to(device));
        a.sum.dispose();
        a.sum = moved;
      }
      if (v instanceof Tensor) {
        if (v.numel() !== 1) throw new TypeError(`train: metric "${name}" has shape [${v.shape.join(', ')}]; metrics must be scalars`);
        a.sum.add_(v.detach().sum());
      } else if (typeof v === 'number') {
        a.sum.add_(v);
      } else {
        throw new TypeError(`train: metric "${name}" must be a Tensor or a number, got ${typeof v}`);
      }
      a.n++;
    });
  }

  means(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, a] of this.acc) out[k] = a.sum.item() / a.n;
    return out;
  }

  reset(): void {
    for (const a of this.acc.values()) a.sum.dispose();
    this.acc.clear();
  }

  state(): { counts: [string, number][]; tensors: Record<string, Tensor> } {
    const tensors: Record<string, Tensor> = {};
    for (const [k, a] of this.acc) tensors[`window.${k}`] = a.sum;
    return { counts: [...this.acc].map(([k, a]) => [k, a.n]), tensors };
  }

  /** Takes ownership of the `window.<name>` tensors of a checkpoint (and frees the rest). */
  restore(counts: [string, number][], tensors: Record<string, Tensor>): void {
    this.reset();
    for (const [k, n] of counts) {
      const sum = tensors[`window.${k}`];
      if (!sum) throw new Error(`train: the checkpoint lacks the logging window sum of "${k}"`);
      this.acc.set(k, { sum: keep(sum), n });
    }
    const used = new Set([...this.acc.values()].map((a) => a.sum));
    for (const t of Object.values(tensors)) if (!used.has(t)) t.dispose();
  }
}

function toNumbers(values: Record<string, MetricValue>, what: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === 'number') out[k] = v;
    else if (v instanceof Tensor && v.numel() === 1) out[k] = v.item();
    else throw new TypeError(`train: ${what} value "${k}" must be a number or a one-element tensor`);
  }
  return out;
}

/** The default generator of each CUDA device, as `cuda:<i>` (none on a CPU build): their states go into checkpoints. */
function deviceGenerators(): [string, Generator][] {
  const out: [string, Generator][] = [];
  for (let i = 0; i < cudaDeviceCount(); i++) out.push([`cuda:${i}`, Generator.default(`cuda:${i}`)]);
  return out;
}

function snapshot(gens: Record<string, Generator>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, g] of Object.entries(gens)) out[k] = keep(g.getState());
  return out;
}

function disposeAll(ts: Record<string, Tensor>): void {
  for (const t of Object.values(ts)) t.dispose();
}

function checkCount(name: string, v: number | undefined, min = 0): void {
  if (v !== undefined && !(Number.isSafeInteger(v) && v >= min)) throw new RangeError(`train: ${name} must be an integer >= ${min}, got ${v}`);
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
