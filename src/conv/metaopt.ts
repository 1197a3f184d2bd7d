// The convolution meta-optimizer (Schlüter, in Dieleman 2014, "Theano metaopt"): on the first call
// with a new configuration, every applicable implementation of each of the three operations is
// checked once against libtorch's result and timed on the real tensors (warm-up, then the minimum of
// a few calls, optionally at several thread counts); the fastest is used from then on and remembered
// on disk. Installed behind `conv()`, so every layer benefits without change.
import { Generator, Tensor, enableGrad, getNumThreads, grad, isGradEnabled, noGrad, scope, setNumThreads, functions as torch } from '../tensor';
import { POOL_CANDIDATES, PoolCandidate, PoolImplementation, PoolProblem, atenPool, describePool, findPoolCandidate, poolProblem, setPoolImplementation } from './pool';
import { Module } from '../nn/module';
import { params as moduleParams } from '../nn/module';
import { ConvArgs, atenConv, setConvImplementation, ConvImplementation } from './conv';
import { ConvCandidate, OpInputs, addBias, runOp, whyNot } from './candidate';
import { ConvCache, ConvDecision, Warn, decisionKey, defaultCachePath, poolKey, warnToStderr } from './cache';
import { chosenConv } from './function';
import { CONV_OPS, ConvOp, ConvProblem, convProblem, describeProblem, numel } from './problem';
import { convCandidates, findCandidate } from './registry';
import { libtorch } from './candidates/libtorch';

export interface ConvMetaOptions {
  /** only these candidates (by name) compete; libtorch is always timed as the reference */
  include?: string[];
  /** these never compete */
  exclude?: string[];
  /** use this candidate (for every op, or per op) wherever it applies, without timing */
  force?: string | Partial<Record<ConvOp, string>>;
  /** time new configurations (default true); false uses the cache where it has an answer, else libtorch */
  tune?: boolean;
  /** intra-op thread counts to time every candidate at (default: the current count only) */
  threads?: number[];
  /** untimed calls before timing (default 1) */
  warmup?: number;
  /** timed rounds (one call per candidate each, interleaved); the minimum counts (default 5) */
  repeats?: number;
  /**
   * another candidate replaces libtorch only when libtorch takes more than this many times its time
   * (default 1.1): timed alone, an operation runs with warm caches and without the custom autograd
   * function's overhead, and a few percent won there are lost in a training step (measured: bench conv)
   */
  margin?: number;
  /** also tune the pooling layers (MaxPool2d, AvgPool2d: the second family of operations; default true) */
  pooling?: boolean;
  /** print the post's table for every tuned operation (true: to stderr) */
  verbose?: boolean | ((line: string) => void);
  /** the cache file; null: memory only. Default REFINERY_CONV_CACHE, else the user's cache directory */
  cache?: string | null;
  /** where warnings go (default stderr) */
  warn?: Warn;
}

const OPTION_KEYS = ['include', 'exclude', 'force', 'tune', 'threads', 'warmup', 'repeats', 'margin', 'pooling', 'verbose', 'cache', 'warn'];

/** Unit roundoff per dtype, for the correctness check. */
const UNIT: Record<string, number> = { float64: 2 ** -53, float32: 2 ** -24, bfloat16: 2 ** -8, float16: 2 ** -11 };

/** How many products each output element of `op` sums (its rounding error grows like the square root). */
export function reductionLength(op: ConvOp, p: ConvProblem): number {
  const k = numel(p.weightShape.slice(2));
  const g = p.groups;
  const [inCh, outCh] = p.transposed ? [p.outputShape[1], p.inputShape[1]] : [p.inputShape[1], p.outputShape[1]];
  if (op === 'gradWeight') return p.inputShape[0] * numel((p.transposed ? p.inputShape : p.outputShape).slice(2));
  const sumsOverInputs = (op === 'forward') !== p.transposed;
  return (sumsOverInputs ? inCh / g : outCh / g) * k;
}

/** Relative error bound of sums of `k` products in `dtype` (rounding grows like √k), times `growth`. */
function roundingTolerance(dtype: string, k: number, growth = 1): number {
  return Math.min(0.05, 64 * (UNIT[dtype] ?? 2 ** -24) * Math.sqrt(k) * growth);
}

/** Relative (Frobenius) error a correct implementation of `op` stays below, derived from the arithmetic. */
export function agreementTolerance(op: ConvOp, p: ConvProblem, c: ConvCandidate): number {
  return roundingTolerance(p.dtype, reductionLength(op, p), c.errorGrowth);
}

function relativeError(a: Tensor, b: Tensor): number {
  return scope(() => {
    const d = a.sub(b).double().norm().item();
    const n = b.double().norm().item();
    return n > 0 ? d / n : d;
  });
}

function withThreads<T>(n: number, fn: () => T): T {
  const prev = getNumThreads();
  if (prev === n) return fn();
  setNumThreads(n);
  try {
    return fn();
  } finally {
    setNumThreads(prev);
  }
}

/** A candidate that runs at a fixed thread count. */
function atThreads(c: ConvCandidate, n: number): ConvCandidate {
  const wrap = <F extends (...a: never[]) => Tensor>(f: F | undefined) => (f ? ((...a: Parameters<F>) => withThreads(n, () => f(...a))) as unknown as F : undefined);
  return { ...c, forward: wrap(c.forward), gradInput: wrap(c.gradInput), gradWeight: wrap(c.gradWeight) };
}

export class ConvMetaOptimizer {
  readonly cache: ConvCache;
  /** the decisions this optimizer made or loaded, in order */
  readonly decisions: ConvDecision[] = [];
  private readonly options: Required<Pick<ConvMetaOptions, 'tune' | 'warmup' | 'repeats'>> & ConvMetaOptions;
  private readonly print: ((line: string) => void) | null;
  private readonly warn: Warn;
  private readonly resolved = new Map<string, ConvCandidate>();
  private readonly warnedForce = new Set<string>();

  constructor(opts: ConvMetaOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError(`ConvMetaOptimizer: options must be an object, got ${String(opts)}`);
    for (const k of Object.keys(opts)) {
      if (!OPTION_KEYS.includes(k)) throw new TypeError(`ConvMetaOptimizer: unknown option '${k}'; valid: ${OPTION_KEYS.join(', ')}`);
    }
    const names = [...new Set([...convCandidates().map((c) => c.name), ...POOL_CANDIDATES.map((c) => c.name)])];
    const checkNames = (what: string, list: unknown) => {
      if (list === undefined) return;
      if (!Array.isArray(list) || list.some((n) => typeof n !== 'string')) throw new TypeError(`ConvMetaOptimizer: option ${what} must be a list of candidate names, got ${JSON.stringify(list)}`);
      for (const n of list) if (!names.includes(n)) throw new TypeError(`ConvMetaOptimizer: option ${what} names unknown candidate '${n}'; candidates: ${names.join(', ')}`);
    };
    checkNames('include', opts.include);
    checkNames('exclude', opts.exclude);
    if (opts.force !== undefined) {
      const f = typeof opts.force === 'string' ? { forward: opts.force, gradInput: opts.force, gradWeight: opts.force } : opts.force;
      if (typeof f !== 'object' || f === null) throw new TypeError(`ConvMetaOptimizer: option force must be a candidate name or { forward, gradInput, gradWeight }, got ${JSON.stringify(opts.force)}`);
      for (const [op, n] of Object.entries(f)) {
        if (!CONV_OPS.includes(op as ConvOp)) throw new TypeError(`ConvMetaOptimizer: option force has unknown operation '${op}'; operations: ${CONV_OPS.join(', ')}`);
        checkNames(`force.${op}`, [n]);
      }
    }
    if (opts.threads !== undefined && (!Array.isArray(opts.threads) || !opts.threads.length || opts.threads.some((t) => !Number.isInteger(t) || t < 1))) {
      throw new TypeError(`ConvMetaOptimizer: option threads must be a non-empty list of positive integers, got ${JSON.stringify(opts.threads)}`);
    }
    for (const k of ['warmup', 'repeats'] as const) {
      const v = opts[k];
      if (v !== undefined && (!Number.isInteger(v) || v < (k === 'repeats' ? 1 : 0))) throw new TypeError(`ConvMetaOptimizer: option ${k} must be an integer >= ${k === 'repeats' ? 1 : 0}, got ${JSON.stringify(v)}`);
    }
    if (opts.margin !== undefined && !(typeof opts.margin === 'number' && opts.margin >= 1 && opts.margin <= 100)) {
      throw new TypeError(`ConvMetaOptimizer: option margin must be a number in [1, 100], got ${JSON.stringify(opts.margin)}`);
    }
    this.options = { ...opts, tune: opts.tune ?? true, warmup: opts.warmup ?? 1, repeats: opts.repeats ?? 5 };
    this.warn = opts.warn ?? warnToStderr;
    this.print = opts.verbose === true ? (l) => process.stderr.write(`${l}\n`) : typeof opts.verbose === 'function' ? opts.verbose : null;
    this.cache = new ConvCache(opts.cache === undefined ? defaultCachePath() : opts.cache, this.warn);
  }

  /** The convolution, computed by the chosen implementations (a `ConvImplementation`). */
  readonly conv: ConvImplementation = (x, w, b, args) => {
    const p = convProblem(x, w, args);
    if (!p) return atenConv(x, w, b, args);
    const t = { x, w };
    const training = isGradEnabled() && (x.requiresGrad || w.requiresGrad || (b?.requiresGrad ?? false));
    const f = this.choose('forward', p, t);
    if (!training) return f === libtorch ? atenConv(x, w, b, args) : noGrad(() => addBias(runOp(f, 'forward', p, t), b));
    // once every operation this call can need is known to be libtorch's, skip the custom function
    const known = (op: ConvOp) => this.resolved.get(this.key(op, p));
    if (f === libtorch && (!x.requiresGrad || known('gradInput') === libtorch) && (!w.requiresGrad || known('gradWeight') === libtorch)) {
      return atenConv(x, w, b, args);
    }
    return chosenConv(x, w, b, p, (op, pp, tt) => this.choose(op, pp, tt));
  };

  private key(op: ConvOp, p: ConvProblem): string {
    return decisionKey(op, p, p.layout ?? 'contiguous', getNumThreads());
  }

  /** The implementation of `op` for `p`: decided before, in the cache, forced, tuned now, or libtorch's. */
  choose(op: ConvOp, p: ConvProblem, t: OpInputs): ConvCandidate {
    const key = this.key(op, p);
    const known = this.resolved.get(key);
    if (known) return known;
    const forced = this.forced(op, p);
    if (forced) return this.remember(key, forced);
    const cached = this.cache.get(key);
    if (cached) {
      const c = findCandidate(cached.winner);
      if (c && this.allowed(c.name) && !whyNot(c, op, p)) {
        this.decisions.push(cached);
        return this.remember(key, cached.threads === getNumThreads() ? c : atThreads(c, cached.threads));
      }
    }
    if (!this.options.tune) return this.remember(key, libtorch);
    const d = this.tuneOp(op, p, t);
    this.cache.set(key, d);
    this.decisions.push(d);
    const c = findCandidate(d.winner) ?? libtorch;
    return this.remember(key, d.threads === getNumThreads() ? c : atThreads(c, d.threads));
  }

  private remember(key: string, c: ConvCandidate): ConvCandidate {
    this.resolved.set(key, c);
    return c;
  }

  /** Whether the options let the candidate named `name` win (libtorch is timed as the baseline either way). */
  private allowed(name: string): boolean {
    const { include, exclude } = this.options;
    if (exclude?.includes(name)) return false;
    return !include || include.includes(name);
  }

  private forced(op: ConvOp, p: ConvProblem): ConvCandidate | null {
    const f = this.options.force;
    const name = typeof f === 'string' ? f : f?.[op];
    if (!name) return null;
    const c = findCandidate(name)!;
    const why = whyNot(c, op, p);
    if (!why) return c;
    const k = `${name}|${op}|${describeProblem(p)}`;
    if (!this.warnedForce.has(k)) {
      this.warnedForce.add(k);
      this.warn(`conv meta-optimizer: forced candidate '${name}' does not apply to the ${op} of ${describeProblem(p)} (${why}); using the tuned choice`);
    }
    return null;
  }

  /** Checks and times every allowed, applicable candidate for one operation on the given tensors. */
  tuneOp(op: ConvOp, p: ConvProblem, t: OpInputs): ConvDecision {
    const { warmup, repeats } = this.options;
    const threadList = this.options.threads ?? [getNumThreads()];
    const base = getNumThreads();
    const times: Record<string, number> = {};
    const skipped: Record<string, string> = {};
    const lines: string[] = [];
    let best: { name: string; threads: number; ms: number } | null = null;
    let defaultMs = NaN;
    // Phase 1: every allowed, applicable (candidate, threads) pair runs once, checked against
    // libtorch (this is its warm-up). Phase 2: the survivors are timed in interleaved rounds, one
    // call each per round, so that a burst of load on a shared machine hits them all alike; each
    // keeps its minimum. A pair far slower than the best after two rounds stops being timed.
    interface Entry { c: ConvCandidate; th: number; label: string; eligible: boolean; ms: number }
    const entries: Entry[] = [];
    noGrad(() => scope(() => {
      const reference = runOp(libtorch, op, p, t);
      for (const c of convCandidates()) {
        const eligible = this.allowed(c.name);
        if (!eligible && c !== libtorch) {
          skipped[c.name] = 'excluded by the options';
          lines.push(`* ${c.name}: excluded`);
          continue;
        }
        const why = whyNot(c, op, p);
        if (why) {
          skipped[c.name] = `not applicable: ${why}`;
          lines.push(`* ${c.name}: not applicable (${why})`);
          continue;
        }
        for (const th of threadList) {
          const label = threadList.length > 1 ? `${c.name}@${th}` : c.name;
          try {
            withThreads(th, () => {
              this.check(c, op, p, t, reference);
              for (let i = 1; i < warmup; i++) scope(() => runOp(c, op, p, t));
            });
            entries.push({ c, th, label, eligible, ms: Infinity });
          } catch (e) {
            const msg = e instanceof WrongResult ? e.message : `threw: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
            skipped[label] = msg;
            lines.push(`* ${label}: ${msg}`);
            break;
          }
        }
      }
      for (let round = 0; round < repeats; round++) {
        const bestSoFar = Math.min(...entries.map((e) => e.ms));
        for (const e of entries) {
          if (round >= 2 && e.ms > 10 * bestSoFar) continue;
          withThreads(e.th, () => {
            const t0 = performance.now();
            scope(() => runOp(e.c, op, p, t));
            e.ms = Math.min(e.ms, performance.now() - t0);
          });
        }
      }
    }));
    for (const e of entries) {
      times[e.label] = e.ms;
      if (e.c === libtorch && e.th === base) defaultMs = e.ms;
      lines.push(`* ${e.label}: ${e.ms.toFixed(3)} ms${e.eligible ? '' : ' (excluded; timed as the baseline)'}`);
      // libtorch wins within the margin: a choice is only worth making when it pays beyond the noise
      const ms = e.c === libtorch ? e.ms / (this.options.margin ?? 1.1) : e.ms;
      if (e.eligible && (!best || ms < best.ms)) best = { name: e.c.name, threads: e.th, ms };
    }
    if (best) best = { ...best, ms: times[threadList.length > 1 ? `${best.name}@${best.threads}` : best.name] };
    const winner = best ?? { name: 'libtorch', threads: base, ms: defaultMs };
    if (!Number.isFinite(defaultMs)) defaultMs = winner.ms;
    const d: ConvDecision = {
      op, problem: `${describeProblem(p)} (${p.dtype}, ${p.device}, ${base} thread${base === 1 ? '' : 's'})`,
      winner: winner.name, threads: winner.threads, times, skipped, defaultMs, winnerMs: winner.ms,
      speedup: defaultMs / winner.ms, tunedAt: new Date().toISOString(),
    };
    if (this.print) {
      this.print(`ConvMetaOptimizer meta-optimizing ${op}: ${d.problem} (${convCandidates().length} choices):`);
      for (const l of lines) this.print(l);
      this.print(`= ${winner.name}${threadList.length > 1 ? `@${winner.threads}` : ''} (${d.speedup.toFixed(2)}x libtorch's time)`);
    }
    return d;
  }

  /** Pooling, computed by the chosen implementation (a `PoolImplementation`). */
  readonly pool: PoolImplementation = (x, a) => {
    const p = poolProblem(x, a);
    if (!p) return atenPool(x, a);
    const key = poolKey(p, getNumThreads());
    let c = this.resolvedPool.get(key);
    if (!c) {
      c = this.choosePool(p, x, key);
      this.resolvedPool.set(key, c);
    }
    return c.run(x, p);
  };

  private readonly resolvedPool = new Map<string, PoolCandidate>();

  private choosePool(p: PoolProblem, x: Tensor, key: string): PoolCandidate {
    const ok = (c: PoolCandidate | undefined): c is PoolCandidate => !!c && (c.name === 'libtorch' || this.allowed(c.name)) && !c.applicable(p);
    const cached = this.cache.get(key);
    if (cached && ok(findPoolCandidate(cached.winner))) {
      this.decisions.push(cached);
      return findPoolCandidate(cached.winner)!;
    }
    if (!this.options.tune) return POOL_CANDIDATES[0];
    const d = this.tunePool(p, x);
    this.cache.set(key, d);
    this.decisions.push(d);
    return findPoolCandidate(d.winner) ?? POOL_CANDIDATES[0];
  }

  /** Checks and times (forward + input gradient) every allowed, applicable pooling implementation on x's shape. */
  tunePool(p: PoolProblem, x: Tensor): ConvDecision {
    const { warmup, repeats } = this.options;
    const times: Record<string, number> = {};
    const skipped: Record<string, string> = {};
    const entries: { c: PoolCandidate; ms: number }[] = [];
    const lines: string[] = [];
    noGrad(() => scope(() => {
      const xd = x.detach();
      const gy = torch.randn(p.outputShape, { dtype: x.dtype, device: x.device, generator: new Generator(1) });
      const fwdBwd = (c: PoolCandidate) => scope(() => enableGrad(() => {
        const xi = xd.clone().requiresGrad_(true);
        const y = c.run(xi, p);
        const [gx] = grad(y, [xi], { gradOutputs: [gy] });
        return [y.detach().keep(), gx!.keep()] as const;
      }));
      const [ry, rg] = fwdBwd(POOL_CANDIDATES[0]);
      // a max is exact; a mean sums kernel-many terms
      const tol = p.kind === 'max' ? 0 : roundingTolerance(p.dtype, p.kernel[0] * p.kernel[1]);
      for (const c of POOL_CANDIDATES) {
        const why = c.name !== 'libtorch' && !this.allowed(c.name) ? 'excluded by the options' : c.applicable(p);
        if (why) {
          skipped[c.name] = why === 'excluded by the options' ? why : `not applicable: ${why}`;
          lines.push(`* ${c.name}: ${skipped[c.name]}`);
          continue;
        }
        try {
          if (c.name !== 'libtorch') {
            const [y, g] = fwdBwd(c);
            const ey = relativeError(y, ry), eg = relativeError(g, rg);
            y.dispose(); g.dispose();
            if (!(ey <= tol && eg <= tol)) throw new WrongResult(`wrong: relative error ${ey.toExponential(2)} (output), ${eg.toExponential(2)} (input gradient) > ${tol.toExponential(2)} against libtorch`);
          }
          for (let i = 1; i < warmup; i++) fwdBwd(c).forEach((t) => t.dispose());
          entries.push({ c, ms: Infinity });
        } catch (e) {
          skipped[c.name] = e instanceof WrongResult ? e.message : `threw: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
          lines.push(`* ${c.name}: ${skipped[c.name]}`);
        }
      }
      ry.dispose(); rg.dispose();
      for (let r = 0; r < repeats; r++) {
        for (const e of entries) {
          const t0 = performance.now();
          fwdBwd(e.c).forEach((t) => t.dispose());
          e.ms = Math.min(e.ms, performance.now() - t0);
        }
      }
    }));
    const margin = this.options.margin ?? 1.1;
    let best: { name: string; ms: number } | null = null;
    let defaultMs = NaN;
    for (const e of entries) {
      times[e.c.name] = e.ms;
      lines.push(`* ${e.c.name}: ${e.ms.toFixed(3)} ms (forward + input gradient)`);
      if (e.c.name === 'libtorch') defaultMs = e.ms;
      const ms = e.c.name === 'libtorch' ? e.ms / margin : e.ms;
      if (!best || ms < best.ms) best = { name: e.c.name, ms };
    }
    const winner = best ? { name: best.name, ms: times[best.name] } : { name: 'libtorch', ms: defaultMs };
    const threads = getNumThreads();
    const d: ConvDecision = {
      op: 'pool', problem: `${describePool(p)} (${p.dtype}, ${p.device}, ${threads} thread${threads === 1 ? '' : 's'})`,
      winner: winner.name, threads, times, skipped, defaultMs, winnerMs: winner.ms, speedup: defaultMs / winner.ms, tunedAt: new Date().toISOString(),
    };
    if (this.print) {
      this.print(`ConvMetaOptimizer meta-optimizing pool: ${d.problem} (${POOL_CANDIDATES.length} choices):`);
      for (const l of lines) this.print(l);
      this.print(`= ${winner.name} (${d.speedup.toFixed(2)}x libtorch's time)`);
    }
    return d;
  }

  /** Runs `c` once and throws WrongResult unless it agrees with libtorch's `reference`. */
  private check(c: ConvCandidate, op: ConvOp, p: ConvProblem, t: OpInputs, reference: Tensor): void {
    scope(() => {
      const out = runOp(c, op, p, t);
      if (c === libtorch) return;
      if (out.shape.join() !== reference.shape.join()) throw new WrongResult(`wrong: shape ${out.shape.join('x')}, libtorch's is ${reference.shape.join('x')}`);
      const err = relativeError(out, reference);
      const tol = agreementTolerance(op, p, c);
      if (!(err <= tol)) throw new WrongResult(`wrong: relative error ${err.toExponential(2)} > ${tol.toExponential(2)} against libtorch`);
    });
  }
}

class WrongResult extends Error {}

let active: ConvMetaOptimizer | null = null;

/** Routes every convolution through a meta-optimizer (`THEANO_FLAGS=optimizer_including=conv_meta`); returns it. */
export function enableConvMetaOptimizer(opts: ConvMetaOptions = {}): ConvMetaOptimizer {
  const m = new ConvMetaOptimizer(opts);
  setConvImplementation(m.conv);
  setPoolImplementation(opts.pooling === false ? null : m.pool);
  active = m;
  return m;
}

/** Back to libtorch's convolution for every layer. */
export function disableConvMetaOptimizer(): void {
  if (active) {
    setConvImplementation(null);
    setPoolImplementation(null);
  }
  active = null;
}

/** The meta-optimizer now behind `conv()`, if any. */
export function activeConvMetaOptimizer(): ConvMetaOptimizer | null {
  return active;
}

/**
 * Tunes every convolution of `model` on `sampleInputs` now (forward, then the gradients of its
 * parameters, without accumulating them), instead of on the first training step; returns the
 * decisions taken. Uses the active meta-optimizer, else enables one with `opts`.
 */
export function tune(model: ((...args: any[]) => unknown) | Module, sampleInputs: unknown[] | Tensor, opts: ConvMetaOptions = {}): ConvDecision[] {
  if (typeof model !== 'function') throw new TypeError(`tune: model must be a module or a function, got ${typeof model}`);
  const inputs = Array.isArray(sampleInputs) ? sampleInputs : [sampleInputs];
  const m = active ?? enableConvMetaOptimizer(opts);
  const before = m.decisions.length;
  const ps = model instanceof Module ? moduleParams(model).filter((q) => q.requiresGrad) : inputs.filter((v): v is Tensor => v instanceof Tensor && v.requiresGrad);
  scope(() => {
    const out = (model as (...a: unknown[]) => unknown)(...inputs);
    const outs = (Array.isArray(out) ? out : [out]).filter((o): o is Tensor => o instanceof Tensor && o.requiresGrad);
    if (!outs.length || !ps.length) return;
    const loss = outs.map((o) => o.float().sum()).reduce((a, b) => a.add(b));
    grad(loss, ps, { allowUnused: true });
  });
  return m.decisions.slice(before);
}
