// The training loop: steps at flat memory (one scope per step), a progress bar, metrics.jsonl,
// evaluation, periodic checkpoints and the report; Ctrl-C (SIGINT) or SIGTERM finishes the current
// step, saves a checkpoint and returns. `resume: true` continues from the run's latest checkpoint
// (model, optimizer, counters, position in the epoch, generator states, the partial logging
// window), so an interrupted and resumed run computes exactly what an uninterrupted one does.
import { Generator, Tensor, functions as torch, keep, noGrad, scope } from '../tensor';
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

  const run = o.run instanceof Run ? o.run : Run.open({
    name: o.run, root: o.runsDir, config: o.config, resume: o.resume,
    allowConfigChange: o.allowConfigChange, keepCheckpoints: o.keepCheckpoints,
  });
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
      ck.restore({
        model: o.model, optimizer: o.optimizer, objects: o.objects,
        generators: { default: Generator.default(), ...generators, ...epochGenerators },
      });
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
  const metrics = run.metrics({ keepUpToStep: step });
  // states of the epoch generators when the current epoch began (restored ones are exactly that)
  let epochStart = snapshot(epochGenerators);

  const progress = o.progress === false ? null : new Progress({ label: run.name, ...progressOpts, total, initial: step });
  progress?.setFields({ epoch });
  const say = (msg: string) => (progress ? progress.log(msg) : stream.write(msg + '\n'));
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

  const log = () => {
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(window.means())) values[`train/${k}`] = v;
    values.lr = o.optimizer.lr();
    window.reset();
    metrics.write(step, values, { epoch });
    progress?.setFields({ loss: values['train/loss'], lr: values.lr });
  };

  const evaluate = () => {
    if (!o.evalFn) return;
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
      metrics.write(step, named, { epoch });
      say(`step ${step} eval: ${Object.entries(values).map(([k, v]) => `${k}=${formatNumber(v)}`).join(' ')}`);
    }
  };

  const report = (status: string) => {
    run.writeReport({ status, step, epoch });
    lastReport = performance.now();
  };

  const checkpoint = () => {
    const w = window.state();
    lastCheckpoint = run.checkpoints.save({
      model: o.model, optimizer: o.optimizer, objects: o.objects, step, epoch, batchInEpoch,
      generators: { ...generators, ...epochStart },
      config: run.config,
      extra: { loop: { lastEvalStep: lastEval, window: w.counts } satisfies LoopState },
      tensors: w.tensors,
    });
    report('running');
  };

  // One optimizer step at flat memory: the batch, the forward graph and every temporary are freed
  // when the scope closes. Returns false when the epoch has no more batches.
  const runStep = (it: Iterator<B>): boolean => scope(() => {
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
      o.optimizer.step();
    }
    for (const [k, v] of Object.entries(out)) window.add(k, v);
    return true;
  });

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
          if (!runStep(it)) {
            exhausted = true;
            break;
          }
          step++;
          batchInEpoch++;
          if (step % logEvery === 0) log();
          timeBudget();
          progress?.update(1, { epoch });
          if (typeof o.evalEvery === 'number' && step % o.evalEvery === 0) evaluate();
          if (timeUp) break outer;
          // signal handlers run only when the event loop gets a turn
          if (signals.length && performance.now() - lastYield >= 10) {
            await new Promise<void>((resolve) => setImmediate(resolve));
            lastYield = performance.now();
          }
          if ((stopSignal !== null || o.shouldStop?.(ctx())) && !stepsDone()) {
            status = 'interrupted';
            break outer;
          }
          if (typeof o.checkpointEvery === 'number' && step % o.checkpointEvery === 0) checkpoint();
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
      if (o.checkpointEvery === 'epoch') checkpoint();
    }
    if (status === 'completed') {
      if (window.size) log();
      if (o.evalFn && lastEval !== step) evaluate();
    }
    checkpoint();
    report(status);
    ok = true;
  } finally {
    for (const s of signals) process.removeListener(s, onSignal);
    progress?.close();
    metrics.close();
    disposeAll(epochStart);
    window.reset();
    if (!ok) {
      try {
        run.writeReport({ status: 'failed', step, epoch });
      } catch {
        // the training error is the one to report
      }
    }
  }
  const where = `step ${step}, epoch ${epoch}`;
  if (status === 'interrupted') stream.write(`interrupted at ${where}: checkpoint ${lastCheckpoint}; resume: true continues it\n`);
  return { status, step, epoch, batchInEpoch, checkpoint: lastCheckpoint, resumedFrom, run, ...(timeUp ? { stoppedBy: "time" as const } : {}) };
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
