import { native } from './native';

/** Sets libtorch's intra-op thread count (default: REFINERY_NUM_THREADS, else all cores). */
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
