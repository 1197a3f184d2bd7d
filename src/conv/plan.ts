// The meta-optimizer at the level of a whole training step: the memory layout of the network
// (NCHW, or channels-last kept from layer to layer) and the intra-op thread count are chosen by
// timing real training steps, interleaved (A B C A B C ...), and re-chosen when the step time drifts
// (another process got busy, or went away). The per-operation choices (metaopt.ts) are made inside
// whichever layout wins; this picks what no single operation can see: layout conversions between
// layers, and how many threads survive the machine's load.
import { getNumThreads, setNumThreads } from '../tensor';
import { Module, namedTensors } from '../nn/module';

export type StepLayout = 'contiguous' | 'channelsLast';

export interface StepConfig {
  layout: StepLayout;
  threads: number;
}

export interface StepPlanOptions {
  /** layouts to try (default both when the model has a 4-d floating-point tensor, else NCHW only) */
  layouts?: StepLayout[];
  /** intra-op thread counts to try (default: the current count, and 1 when that is more) */
  threads?: number[];
  /** timed steps per configuration, after one untimed warm-up step each (default 3) */
  rounds?: number;
  /**
   * re-time the thread counts (in the chosen layout) when the median of the last `window` steps
   * is this many times slower or faster than the plan's (default 1.5; 0: never)
   */
  drift?: number;
  /** steps per drift check (default 25) */
  window?: number;
  /** steps run as configured before timing starts: the first steps of a run are slow (allocation, warm caches) (default 5) */
  delay?: number;
  /** where the planner says what it chose (default: nowhere) */
  log?: (line: string) => void;
}

const OPTION_KEYS = ['layouts', 'threads', 'rounds', 'drift', 'window', 'delay', 'log'];

interface Slot { config: StepConfig; timed: boolean }

/** Times whole training steps under each configuration and runs the fastest. */
export class StepPlanner {
  readonly configs: StepConfig[];
  /** every plan made, in order: the median step time of each configuration and the winner */
  readonly plans: { step: number; reason: string; medians: { config: StepConfig; ms: number }[]; chosen: StepConfig }[] = [];
  private readonly rounds: number;
  private readonly drift: number;
  private readonly window: number;
  private readonly log: (line: string) => void;
  private schedule: Slot[] = [];
  private times = new Map<string, { config: StepConfig; ms: number[] }>();
  private current: StepConfig;
  private planned: { config: StepConfig; ms: number } | null = null;
  private recent: number[] = [];
  private steps = 0;
  private slot: Slot | null = null;
  private reason = 'start';

  constructor(private readonly model: Module, opts: StepPlanOptions = {}) {
    if (!(model instanceof Module)) throw new TypeError(`StepPlanner: model must be a Module, got ${typeof model}`);
    if (typeof opts !== 'object' || opts === null) throw new TypeError(`StepPlanner: options must be an object, got ${String(opts)}`);
    for (const k of Object.keys(opts)) {
      if (!OPTION_KEYS.includes(k)) throw new TypeError(`StepPlanner: unknown option '${k}'; valid: ${OPTION_KEYS.join(', ')}`);
    }
    const has4d = namedTensors(model).some(([, t]) => t.ndim === 4 && (t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16' || t.dtype === 'bfloat16'));
    const layouts = opts.layouts ?? (has4d ? ['contiguous', 'channelsLast'] : ['contiguous']);
    if (!Array.isArray(layouts) || !layouts.length || layouts.some((l) => l !== 'contiguous' && l !== 'channelsLast')) {
      throw new TypeError(`StepPlanner: option layouts must be a non-empty list of 'contiguous' and 'channelsLast', got ${JSON.stringify(opts.layouts)}`);
    }
    const n = getNumThreads();
    const threads = opts.threads ?? (n > 1 ? [n, 1] : [1]);
    if (!Array.isArray(threads) || !threads.length || threads.some((t) => !Number.isInteger(t) || t < 1 || t > 1024)) {
      throw new TypeError(`StepPlanner: option threads must be a non-empty list of integers in [1, 1024], got ${JSON.stringify(opts.threads)}`);
    }
    this.rounds = checkInt('rounds', opts.rounds ?? 3, 1, 100);
    this.window = checkInt('window', opts.window ?? 25, 3, 100_000);
    const drift = opts.drift ?? 1.5;
    if (typeof drift !== 'number' || !(drift === 0 || drift > 1)) throw new TypeError(`StepPlanner: option drift must be 0 (never re-plan) or a number > 1, got ${JSON.stringify(opts.drift)}`);
    this.drift = drift;
    this.log = opts.log ?? (() => undefined);
    this.configs = [...new Set(layouts)].flatMap((layout) => [...new Set(threads)].map((t) => ({ layout: layout as StepLayout, threads: t })));
    this.current = { layout: 'contiguous', threads: n };
    const delay = checkInt('delay', opts.delay ?? 5, 0, 100_000);
    this.schedule = [...Array.from({ length: delay }, () => ({ config: this.current, timed: false })), ...this.makeSchedule(this.configs)];
  }

  /** The configuration in use (during planning: the one being timed). */
  get config(): StepConfig {
    return { ...this.current };
  }

  /** The plan's choice and its median step time, or null while still timing. */
  get choice(): { config: StepConfig; ms: number } | null {
    return this.planned ? { config: { ...this.planned.config }, ms: this.planned.ms } : null;
  }

  /** Call before each training step: sets the layout and thread count the step runs with. */
  beforeStep(): void {
    // a step that never ran (the data ran out) gives its slot back
    if (this.slot) this.schedule.unshift(this.slot);
    this.slot = this.schedule.shift() ?? null;
    if (this.slot) this.apply(this.slot.config);
  }

  /** Call after each training step with its wall time in ms. */
  afterStep(ms: number): void {
    this.steps++;
    const slot = this.slot;
    this.slot = null;
    if (slot) {
      if (slot.timed) this.times.get(label(slot.config))!.ms.push(ms);
      if (!this.schedule.length) this.decide();
      return;
    }
    if (!this.planned || !this.drift) return;
    this.recent.push(ms);
    if (this.recent.length < this.window) return;
    const m = median(this.recent);
    this.recent = [];
    const ratio = m / this.planned.ms;
    if (ratio > this.drift || ratio < 1 / this.drift) {
      const candidates = this.configs.filter((c) => c.layout === this.planned!.config.layout);
      if (candidates.length < 2) {
        this.planned = { ...this.planned, ms: m };
        return;
      }
      this.reason = `the median step took ${m.toFixed(0)} ms against the plan's ${this.planned.ms.toFixed(0)} ms`;
      this.schedule = this.makeSchedule(candidates, false);
    }
  }

  private makeSchedule(configs: StepConfig[], warmup = true): Slot[] {
    this.times = new Map(configs.map((c) => [label(c), { config: c, ms: [] }]));
    const slots: Slot[] = [];
    // one untimed step per configuration first (a new layout's first step tunes its convolutions)
    if (warmup) for (const c of configs) slots.push({ config: c, timed: false });
    for (let r = 0; r < this.rounds; r++) for (const c of configs) slots.push({ config: c, timed: true });
    return slots;
  }

  private decide(): void {
    const medians = [...this.times.values()].map((t) => ({ config: t.config, ms: median(t.ms) }));
    // within 5% of the fastest, the fewest threads win: as fast, more robust when another process
    // gets busy, and a core left to others (bench conv: the classifier's 1 and 2 threads are a tie)
    const fastest = Math.min(...medians.map((m) => m.ms));
    const best = medians.filter((m) => m.ms <= fastest * 1.05).reduce((a, b) => (b.config.threads < a.config.threads || (b.config.threads === a.config.threads && b.ms < a.ms) ? b : a));
    this.planned = best;
    this.recent = [];
    this.apply(best.config);
    this.plans.push({ step: this.steps, reason: this.reason, medians, chosen: best.config });
    this.log(`step plan (${this.reason}, ${this.rounds} interleaved steps each): ${medians.map((m) => `${label(m.config)} ${m.ms.toFixed(0)} ms`).join(', ')} -> ${label(best.config)}`);
  }

  private apply(c: StepConfig): void {
    if (c.layout !== this.current.layout) this.model.to({ memoryFormat: c.layout });
    if (getNumThreads() !== c.threads) setNumThreads(c.threads);
    this.current = { ...c };
  }
}

function label(c: StepConfig): string {
  return `${c.layout === 'channelsLast' ? 'channels-last' : 'NCHW'}@${c.threads}`;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function checkInt(name: string, v: unknown, lo: number, hi: number): number {
  if (!Number.isInteger(v) || (v as number) < lo || (v as number) > hi) throw new TypeError(`StepPlanner: option ${name} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  return v as number;
}

export { label as stepConfigLabel };

/** What a training job tunes: nothing, the step's layout and threads, or those and every convolution. */
export type AutotuneMode = 'off' | 'step' | 'all';
export const AUTOTUNE_MODES: readonly AutotuneMode[] = ['off', 'step', 'all'];

/** Planning takes about (1 + rounds) x configurations steps; shorter runs are not planned. */
export const MIN_PLANNED_STEPS = 200;

/**
 * The planner a training job uses, or undefined where it does not plan: mode 'off', a device other
 * than the CPU (thread counts and CPU layouts do not apply), data-parallel runs (every rank must keep
 * the layout its gradient buckets were built for), or a run of fewer than MIN_PLANNED_STEPS steps.
 * Mode 'all' also routes every convolution through the meta-optimizer (metaopt.ts) and its cache,
 * unless one is active already.
 */
export function jobPlanner(model: Module, o: { mode: AutotuneMode; job: string; device?: string; distributed?: boolean; steps?: number; log?: (line: string) => void }): StepPlanner | undefined {
  if (!AUTOTUNE_MODES.includes(o.mode)) throw new TypeError(`${o.job}: autotune must be one of ${AUTOTUNE_MODES.join(', ')}, got ${JSON.stringify(o.mode)}`);
  if (o.mode === 'off' || (o.device ?? 'cpu') !== 'cpu' || o.distributed || (o.steps !== undefined && o.steps < MIN_PLANNED_STEPS)) return undefined;
  if (o.mode === 'all') {
    // loaded only here: the meta-optimizer pulls in every candidate
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const m = require('./metaopt') as typeof import('./metaopt');
    if (!m.activeConvMetaOptimizer()) m.enableConvMetaOptimizer();
  }
  // a thread count the user pinned (REFINERY_NUM_THREADS) stays; only the layout is timed then
  const pinned = process.env.REFINERY_NUM_THREADS !== undefined && process.env.REFINERY_NUM_THREADS !== '';
  return new StepPlanner(model, { ...(pinned ? { threads: [getNumThreads()] } : {}), log: o.log });
}
