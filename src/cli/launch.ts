// refinery launch: flags and printing over launch() (src/distributed); and the --nproc of the
// training commands, which relaunch the same command line as N ranks.
import { ProcessGroup, initProcessGroup, launch, rendezvousFromEnv } from '../distributed';
import { UsageError, command, int, str } from './flags';

export const launchCommand = command({
  name: 'launch',
  summary: 'run a command as N data-parallel ranks on this machine (torchrun\'s environment variables)',
  description: `Each rank gets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and REFINERY_NUM_THREADS (the cores
divided among the ranks unless set). Output of ranks other than 0 is prefixed with [rank r]. Ctrl-C goes
to every rank; when one fails, the others stop (they notice within a heartbeat, else get SIGTERM after
--grace seconds) and the exit code is the failed rank's. A first word "refinery" runs this CLI.
Example: refinery launch --nproc 2 refinery train diffusion --max-minutes 10`,
  flags: {
    nproc: int({ description: 'number of processes', default: 2, min: 1, max: 256 }),
    'master-addr': str({ description: 'address of rank 0 (the rendezvous store)', default: '127.0.0.1', valueName: 'HOST' }),
    'master-port': int({ description: 'port of the rendezvous store (default: a free port)', min: 1, max: 65535 }),
    grace: int({ description: 'seconds the other ranks get to stop on their own after one failed', default: 15, min: 0, max: 3600 }),
  },
  positionals: [{ name: 'COMMAND...', description: 'the command each rank runs' }],
  passThrough: true,
  async run(f, _given, args) {
    const r = await launch({ nproc: f.nproc, command: args, masterAddr: f['master-addr'], masterPort: f['master-port'], grace: f.grace });
    if (r.code !== 0) process.stderr.write(`refinery ${r.message}\n`);
    return r.code;
  },
});

/**
 * For a training command's --nproc: null when this process should train (one process, or a rank
 * started by a launcher), else the exit code after running the same command line as `nproc` ranks.
 */
export async function relaunch(nproc: number): Promise<number | null> {
  const rv = rendezvousFromEnv();
  if (rv) {
    if (nproc > 1 && rv.worldSize !== nproc) throw new UsageError(`--nproc ${nproc} disagrees with WORLD_SIZE=${rv.worldSize} set by the launcher`);
    return null;
  }
  if (nproc === 1) return null;
  const r = await launch({ nproc, command: ['refinery', ...process.argv.slice(2)] });
  if (r.code !== 0) process.stderr.write(`refinery ${r.message}\n`);
  return r.code;
}

/** The process group of a rank started by a launcher (WORLD_SIZE set), else undefined. */
export async function processGroupFromEnv(): Promise<ProcessGroup | undefined> {
  return rendezvousFromEnv() ? initProcessGroup() : undefined;
}
