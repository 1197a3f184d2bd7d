/** dtypes by PyTorch name; the codes are c10::ScalarType's. */
export const DTYPE_CODES = {
  uint8: 0, int8: 1, int16: 2, int32: 3, int64: 4, float16: 5, float32: 6, float64: 7,
  complex64: 9, complex128: 10, bool: 11, bfloat16: 15,
} as const;
export type DType = keyof typeof DTYPE_CODES;
export const DTYPE_NAMES: Record<number, DType> = Object.fromEntries(
  Object.entries(DTYPE_CODES).map(([k, v]) => [v, k as DType])) as Record<number, DType>;
export const isFloating = (d: DType) => d === 'float16' || d === 'float32' || d === 'float64' || d === 'bfloat16';
export const isComplex = (d: DType) => d === 'complex64' || d === 'complex128';

/** "cpu", "cuda", "cuda:0", ... */
export type Device = string;
export const MEMORY_FORMAT_CODES = { contiguous: 0, preserve: 1, channelsLast: 2, channelsLast3d: 3 } as const;
export type MemoryFormat = keyof typeof MEMORY_FORMAT_CODES;
export type Scalar = number | boolean;
