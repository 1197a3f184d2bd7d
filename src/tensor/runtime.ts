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
