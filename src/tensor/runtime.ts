import { native } from './native';

/**
 * Sets libtorch's intra-op thread count (default: REFINERY_NUM_THREADS, else all available cores):
 * an integer from 1 to max(16, 4 x available cores), else a RangeError. It applies to the calling
 * thread and to threads that start their first op later; each worker thread has its own pool, so
 * workers doing data work alongside a training thread usually want `setNumThreads(1)`.
 */
export function setNumThreads(n: number): void {
  native.SetNumThreads(n);
}
export function getNumThreads(): number {
  return native.GetNumThreads();
}
export const torchVersion: string = native.torchVersion;
export function cudaDeviceCount(): number {
  return native.CudaDeviceCount();
}
export function cudaIsAvailable(): boolean {
  return native.CudaDeviceCount() > 0;
}

/**
 * The device a job runs its model on: 'cpu', 'cuda' (= 'cuda:0') or 'cuda:N', checked against
 * this process's libtorch and machine. An Error naming `who` and the device when CUDA is not
 * available (a CPU-only libtorch, or no GPU), a RangeError when N is not a device of this machine.
 */
export function checkComputeDevice(who: string, device: unknown): string {
  const m = typeof device === 'string' ? /^(cpu|cuda)(?::(\d+))?$/.exec(device.trim()) : null;
  if (!m || (m[1] === 'cpu' && m[2] !== undefined && m[2] !== '0')) {
    throw new TypeError(`${who}: device must be 'cpu', 'cuda' or 'cuda:N' (N a GPU index), got ${JSON.stringify(device)}`);
  }
  if (m[1] === 'cpu') return 'cpu';
  const count = cudaDeviceCount();
  if (count === 0) {
    throw new Error(`${who}: device ${JSON.stringify(device)}: CUDA is not available (libtorch ${torchVersion} sees no CUDA device: ` +
      "a CPU-only build, or no GPU); use 'cpu', or build Refinery against a CUDA libtorch (README: Another libtorch)");
  }
  const index = m[2] === undefined ? 0 : Number(m[2]);
  if (index >= count) {
    throw new RangeError(`${who}: device ${JSON.stringify(device)}: this machine has ${count} CUDA device${count > 1 ? 's' : ''} (cuda:0${count > 1 ? ` to cuda:${count - 1}` : ''})`);
  }
  return `cuda:${index}`;
}
