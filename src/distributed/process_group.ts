// Process groups over libtorch's c10d (architecture decision 11): the rendezvous is a TCPStore at
// MASTER_ADDR:MASTER_PORT (torchrun's variables), the collectives are ProcessGroupGloo's. Every
// collective returns a Promise settled from a thread-pool thread, so the event loop keeps running
// (signals, progress) while Gloo works; a rank that dies is named by a heartbeat through the store.
import { Tensor } from '../tensor';
import { native } from '../tensor/native';
import { checkOptions } from '../tensor/options';

/** Where a rank is, in torchrun's terms. */
export interface Rendezvous {
  rank: number;
  worldSize: number;
  /** The rank on this machine (torchrun's LOCAL_RANK; = rank on one machine). */
  localRank: number;
  masterAddr: string;
  masterPort: number;
}

export interface InitOptions extends Partial<Rendezvous> {
  /**
   * Seconds a rendezvous or a collective may take before it fails with a message (default 1800,
   * PyTorch's default). A rank that dies is reported much sooner, by the heartbeat.
   */
  timeout?: number;
  /**
   * A rank whose heartbeat stands still this many seconds is reported dead (default 10: a false
   * report ends the run, so it leaves room for a machine loaded far beyond its cores).
   */
  heartbeat?: number;
  /**
   * 'gloo' (the default): Gloo for CPU tensors, and NCCL for CUDA tensors where this build has it
   * (a CUDA libtorch with NCCL; PyTorch's 'cpu:gloo,cuda:nccl'). 'nccl' insists on NCCL: an error
   * when this build lacks it.
   */
  backend?: 'gloo' | 'nccl';
}

export type ReduceOp = 'sum' | 'avg' | 'product' | 'min' | 'max';

/** The default size of one flattened all-reduce or broadcast (25 MiB, DistributedDataParallel's bucket_cap_mb). */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

function envInt(env: NodeJS.ProcessEnv, name: string, lo: number, hi: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(v) || v < lo || v > hi) throw new RangeError(`distributed: ${name}=${JSON.stringify(raw)}: expected an integer in [${lo}, ${hi}]`);
  return v;
}

/**
 * The rendezvous torchrun (or `refinery launch`) describes in the environment: RANK, WORLD_SIZE,
 * LOCAL_RANK, MASTER_ADDR, MASTER_PORT. Null when WORLD_SIZE is not set (a single process).
 */
export function rendezvousFromEnv(env: NodeJS.ProcessEnv = process.env): Rendezvous | null {
  const worldSize = envInt(env, 'WORLD_SIZE', 1, 1 << 20);
  if (worldSize === undefined) return null;
  const rank = envInt(env, 'RANK', 0, worldSize - 1);
  if (rank === undefined) throw new RangeError(`distributed: WORLD_SIZE=${worldSize} is set but RANK is not (expected an integer in [0, ${worldSize - 1}])`);
  const localRank = envInt(env, 'LOCAL_RANK', 0, worldSize - 1) ?? rank;
  const masterAddr = env.MASTER_ADDR || '127.0.0.1';
  const masterPort = envInt(env, 'MASTER_PORT', 1, 65535) ?? 29500;
  return { rank, worldSize, localRank, masterAddr, masterPort };
}

/** A group of processes that run collectives together (torch.distributed's ProcessGroup). */
export class ProcessGroup {
  /** The backends of this group: 'gloo', or 'gloo,nccl' (CUDA tensors through NCCL). */
  readonly backend: string = distributedBackends().join(',');
  private id: number;

  private constructor(readonly rendezvous: Rendezvous, id: number) {
    this.id = id;
  }

  get rank(): number {
    return this.rendezvous.rank;
  }
  get worldSize(): number {
    return this.rendezvous.worldSize;
  }
  get localRank(): number {
    return this.rendezvous.localRank;
  }

  /** Joins the group (torch.distributed.init_process_group): resolves once every rank has joined. */
  static async init(opts: InitOptions = {}): Promise<ProcessGroup> {
    checkOptions('initProcessGroup', opts, { rank: 'any', worldSize: 'any', localRank: 'any', masterAddr: 'any', masterPort: 'any', timeout: 'any', heartbeat: 'any', backend: 'any' });
    if (opts.backend !== undefined && opts.backend !== 'gloo' && opts.backend !== 'nccl') {
      throw new TypeError(`initProcessGroup: backend must be 'gloo' or 'nccl', got ${JSON.stringify(opts.backend)}`);
    }
    if (opts.backend === 'nccl' && !distributedBackends().includes('nccl')) {
      throw new Error(`initProcessGroup: backend 'nccl': this build has no NCCL (backends: ${distributedBackends().join(', ') || 'none'}); ` +
        'NCCL needs a CUDA libtorch with NCCL, nccl.h and the CUDA headers at build time (README: Several processes)');
    }
    if (!native.DistInit || !native.distributedBackends) {
      throw new Error(`initProcessGroup: this addon was built without process groups (libtorch ${native.torchVersion} at build time had no Gloo headers; ` +
        'Debian: apt-get install libgloo-dev, then rebuild the addon with `bash scripts/setup.sh`)');
    }
    const env = rendezvousFromEnv();
    const worldSize = opts.worldSize ?? env?.worldSize ?? 1;
    const rank = opts.rank ?? env?.rank ?? 0;
    if (!Number.isSafeInteger(worldSize) || worldSize < 1) throw new RangeError(`initProcessGroup: worldSize must be a positive integer, got ${worldSize}`);
    if (!Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize) throw new RangeError(`initProcessGroup: rank must be an integer in [0, ${worldSize - 1}], got ${rank}`);
    const rv: Rendezvous = {
      rank, worldSize,
      localRank: opts.localRank ?? env?.localRank ?? rank,
      masterAddr: opts.masterAddr ?? env?.masterAddr ?? '127.0.0.1',
      masterPort: opts.masterPort ?? env?.masterPort ?? 29500,
    };
    if (!Number.isSafeInteger(rv.masterPort) || rv.masterPort < 1 || rv.masterPort > 65535) {
      throw new RangeError(`initProcessGroup: masterPort must be an integer in [1, 65535], got ${rv.masterPort}`);
    }
    const timeout = opts.timeout ?? 1800, heartbeat = opts.heartbeat ?? 10;
    if (!(timeout > 0)) throw new RangeError(`initProcessGroup: timeout must be a positive number of seconds, got ${timeout}`);
    if (!(heartbeat >= 0.05)) throw new RangeError(`initProcessGroup: heartbeat must be at least 0.05 seconds, got ${heartbeat}`);
    const id = await native.DistInit(rv.rank, rv.worldSize, rv.masterAddr, rv.masterPort, Math.round(timeout * 1000), Math.round(heartbeat * 1000));
    return new ProcessGroup(rv, id);
  }

  /** The native group (for the gradient reducer); throws once destroyed. */
  _groupId(what: string): number {
    if (this.id === 0) throw new Error(`distributed: ${what}: the process group was destroyed`);
    return this.id;
  }

  private call(kind: 'allReduce' | 'broadcast' | 'allGather' | 'barrier', tensors: Tensor[], op: string, root: number, bucketBytes: number) {
    if (this.id === 0) throw new Error(`distributed: ${kind}: the process group was destroyed`);
    return native.DistCollective!(this.id, kind, tensors.map((t) => t._handle), op, root, bucketBytes);
  }

  /**
   * Reduces each tensor over the ranks, in place (torch.distributed.all_reduce); 'avg' divides the sum
   * by the world size. Several tensors are flattened into buckets of at most `bucketBytes` (one
   * collective each, all queued before the first wait). Do not use the tensors until it resolves.
   */
  async allReduce(tensors: Tensor | Tensor[], opts: { op?: ReduceOp; bucketBytes?: number } = {}): Promise<void> {
    checkOptions('allReduce', opts, { op: 'any', bucketBytes: 'any' });
    await this.call('allReduce', asList(tensors, 'allReduce'), opts.op ?? 'sum', 0, opts.bucketBytes ?? DEFAULT_BUCKET_BYTES);
  }

  /** Copies rank `src`'s tensors into every rank's (torch.distributed.broadcast), in place. */
  async broadcast(tensors: Tensor | Tensor[], opts: { src?: number; bucketBytes?: number } = {}): Promise<void> {
    checkOptions('broadcast', opts, { src: 'any', bucketBytes: 'any' });
    await this.call('broadcast', asList(tensors, 'broadcast'), 'sum', opts.src ?? 0, opts.bucketBytes ?? DEFAULT_BUCKET_BYTES);
  }

  /** Every rank's `tensor` (same shape and dtype on every rank), in rank order; the caller owns them. */
  async allGather(tensor: Tensor): Promise<Tensor[]> {
    if (!(tensor instanceof Tensor)) throw new TypeError('allGather: expected a Tensor');
    const ids = (await this.call('allGather', [tensor], 'sum', 0, 1)) as number[];
    return ids.map((id) => new Tensor(id));
  }

  /** Resolves when every rank has reached it. */
  async barrier(): Promise<void> {
    await this.call('barrier', [], 'sum', 0, 1);
  }

  /** Leaves the group (tells the others this rank finished, so its silence is not taken for a death). */
  destroy(): void {
    if (this.id === 0) return;
    native.DistDestroy!(this.id);
    this.id = 0;
  }
}

function asList(t: Tensor | Tensor[], what: string): Tensor[] {
  const list = Array.isArray(t) ? t : [t];
  list.forEach((x, i) => {
    if (!(x instanceof Tensor)) throw new TypeError(`${what}: tensors[${i}] is not a Tensor`);
  });
  return list;
}

/** The backends this addon was built with: 'gloo' (CPU tensors) and, with a CUDA libtorch that has it, 'nccl'. */
export function distributedBackends(): string[] {
  return (native.distributedBackends ?? '').split(',').filter(Boolean);
}

/**
 * Refuses, before any work, data-parallel training whose tensors live on `device` when no backend of
 * this build takes them (CUDA tensors need NCCL, which only a CUDA libtorch with NCCL provides).
 */
export function assertCollectivesOn(device: string, who: string): void {
  if (device === 'cpu' || device.startsWith('cpu:')) return;
  if (device.startsWith('cuda') && distributedBackends().includes('nccl')) return;
  throw new Error(`${who}: data-parallel training on ${device} needs NCCL, which this build lacks (backends: ${distributedBackends().join(', ') || 'none'}; ` +
    'Gloo takes CPU tensors): build against a CUDA libtorch with NCCL (README: Several processes), or train on one process');
}

/** Joins a process group as torch.distributed.init_process_group does (environment variables by default). */
export function initProcessGroup(opts: InitOptions = {}): Promise<ProcessGroup> {
  return ProcessGroup.init(opts);
}
