import type { DType } from '../types';
// safetensors checkpoints. The byte format lives in safetensors_format.ts
// (no Tensor dependency); this file adds Tensor-level save and load.

import { Tensor, fromBytes } from './tensor';
import { RawTensor, SafeDType, saveRaw, loadRaw } from './safetensors_format';

export * from './safetensors_format';

// ---------------------------------------------------------------------------
// Tensor wrappers

const TO_SAFE: Readonly<Record<string, SafeDType>> = {
  float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16',
  int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

const FROM_SAFE: Readonly<Record<SafeDType, string>> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

// Plain assignment would treat a tensor named "__proto__" as a prototype change.
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Atomically write `tensors` (copied to CPU, contiguous) and `metadata` to `path`. */
export function saveFile(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  const raw: Record<string, RawTensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = Object.prototype.hasOwnProperty.call(TO_SAFE, t.dtype) ? TO_SAFE[t.dtype] : undefined;
    if (dtype === undefined) throw new Error(`safetensors: tensor ${JSON.stringify(name)}: dtype ${t.dtype} cannot be saved`);
    setOwn(raw, name, { dtype, shape: [...t.shape], data: t.toBytes() });
  }
  saveRaw(path, raw, metadata);
}

/** Read and fully validate `path`, returning CPU tensors and the metadata map. */
export function loadFile(path: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const { tensors: raw, metadata } = loadRaw(path);
  const tensors: Record<string, Tensor> = {};
  for (const [name, r] of Object.entries(raw)) setOwn(tensors, name, fromBytes(r.data, r.shape, FROM_SAFE[r.dtype] as DType));
  return { tensors, metadata };
}
