// The Tensor class: one libtorch handle per JS object, PyTorch names in camelCase.
// Op methods (add, matmul, conv2d, ...) are generated from ATen's declarations and installed
// below; this file holds what generation cannot express.
import { DTYPE_CODES, DTYPE_NAMES, DType, Device, MemoryFormat, isComplex, isFloating } from '../types';
import { callOp, compileOp, isOptions, registerClasses } from './dispatch';
import { backwardPass } from './autograd';
import { OPS, TensorMethods, TorchFunctions } from './generated/ops';
import { formatTensor } from './format';
import { keep, release, track } from './memory';
import { native } from './native';
import { DTYPES, checkDevice, checkDtype, checkOptions, didYouMean, isDtype, isDevice, show } from './options';
import { checkShape as checkSameShape } from './shape';

export type NestedArray = number | boolean | NestedArray[];
export type IndexSpec = number | null | '...' | ':' | [number | null, (number | null)?, (number | null)?] | Tensor;

// eslint-disable-next-line @typescript-eslint/no-empty-interface, @typescript-eslint/no-unsafe-declaration-merging
export interface Tensor extends TensorMethods {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Tensor {
  _id: number;
  _kept = false;
  _reg = false;

  /** Wraps a native handle; users create tensors with `tensor()`, `torch.zeros()`, ... */
  constructor(id: number) {
    this._id = id;
    track(this);
  }

  /** The native handle; throws if the tensor was disposed. */
  get _handle(): number {
    if (this._id === 0) throw new Error('Tensor was disposed; it cannot be used any more');
    return this._id;
  }

  get shape(): number[] {
    return native.Shape(this._handle);
  }
  get dtype(): DType {
    return DTYPE_NAMES[native.Dtype(this._handle)];
  }
  get device(): Device {
    return native.Meta(this._handle)[2];
  }
  get ndim(): number {
    return native.Dim(this._handle);
  }
  /** `size()` is the shape; `size(d)` one dimension (negative d counts from the end). */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number[] | number {
    const s = this.shape;
    if (dim === undefined) return s;
    const d = dim < 0 ? dim + s.length : dim;
    if (!(d >= 0 && d < s.length)) throw new RangeError(`size(dim=${dim}): dim out of range for a ${s.length}-d tensor`);
    return s[d];
  }
  stride(): number[];
  stride(dim: number): number;
  stride(dim?: number): number[] | number {
    const s = native.Strides(this._handle);
    return dim === undefined ? s : s[dim < 0 ? dim + s.length : dim];
  }
  numel(): number {
    return native.Numel(this._handle);
  }
  get isDisposed(): boolean {
    return this._id === 0;
  }

  dispose(): void {
    release(this);
  }
  [Symbol.dispose](): void {
    release(this);
  }
  keep(): this {
    return keep(this);
  }

  // ---------------------------------------------------------------- data out
  /** The value of a one-element tensor. */
  item(): number {
    const v = native.Item(this._handle);
    return typeof v === 'boolean' ? Number(v) : v;
  }
  /** Raw contiguous little-endian bytes (a copy). */
  toBytes(): Uint8Array {
    return new Uint8Array(native.ToBytes(this._handle));
  }
  /** A copy of the data as the matching TypedArray (float16/bfloat16 as Uint16Array bits, int64 as BigInt64Array). */
  toTypedArray(): Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | BigInt64Array {
    const buf = native.ToBytes(this._handle);
    switch (this.dtype) {
      case 'float32': case 'complex64': return new Float32Array(buf);
      case 'float64': case 'complex128': return new Float64Array(buf);
      case 'int64': return new BigInt64Array(buf);
      case 'int32': return new Int32Array(buf);
      case 'int16': return new Int16Array(buf);
      case 'int8': return new Int8Array(buf);
      case 'float16': case 'bfloat16': return new Uint16Array(buf);
      default: return new Uint8Array(buf);
    }
  }
  /** The data as plain JS numbers in a flat array (float16/bfloat16 converted exactly via float32). */
  dataSync(): number[] {
    const d = this.dtype;
    const t = d === 'float16' || d === 'bfloat16' ? this.to('float32') : this;
    try {
      const a = t.toTypedArray();
      return a instanceof BigInt64Array ? Array.from(a, Number) : Array.from(a as ArrayLike<number>);
    } finally {
      if (t !== this) t.dispose();
    }
  }
  /** Nested arrays like PyTorch's `tolist()` (bool tensors give booleans). */
  tolist(): NestedArray {
    const flat: (number | boolean)[] = this.dtype === 'bool' ? this.dataSync().map(Boolean) : this.dataSync();
    const shape = this.shape;
    if (shape.length === 0) return flat[0];
    let pos = 0;
    const build = (d: number): NestedArray[] => {
      const out: NestedArray[] = [];
      for (let k = 0; k < shape[d]; k++) out.push(d === shape.length - 1 ? flat[pos++] : build(d + 1));
      return out;
    };
    return build(0);
  }

  // ---------------------------------------------------------------- conversions PyTorch has in Python only
  /** `x.to('float64')`, `x.to('cuda:0')`, `x.to(other)`, `x.to({ dtype, device, copy, memoryFormat })`. */
  to(target: DType | Device | Tensor | { dtype?: DType; device?: Device; copy?: boolean; nonBlocking?: boolean; memoryFormat?: MemoryFormat }): Tensor {
    let o: { dtype?: DType; device?: Device; copy?: boolean; nonBlocking?: boolean; memoryFormat?: MemoryFormat };
    if (target instanceof Tensor) o = { dtype: target.dtype, device: target.device };
    else if (isDtype(target)) o = { dtype: target };
    else if (isDevice(target)) o = { device: target };
    else if (typeof target === 'string') {
      throw new TypeError(`to(): unknown dtype or device ${show(target)}${didYouMean(target, DTYPES)}; expected a dtype (${DTYPES.join(', ')}) or a device ('cpu', 'cuda' or 'cuda:N')`);
    } else o = checkOptions('to()', target, TO_OPTIONS);
    return callOp('to', OPS.to, this, [o]) as Tensor;
  }
  float(): Tensor { return this.to('float32'); }
  double(): Tensor { return this.to('float64'); }
  half(): Tensor { return this.to('float16'); }
  bfloat16(): Tensor { return this.to('bfloat16'); }
  long(): Tensor { return this.to('int64'); }
  int(): Tensor { return this.to('int32'); }
  bool(): Tensor { return this.to('bool'); }
  cpu(): Tensor { return this.to('cpu'); }
  cuda(index = 0): Tensor { return this.to(`cuda:${index}`); }

  // ---------------------------------------------------------------- autograd
  get requiresGrad(): boolean {
    return native.RequiresGrad(this._handle);
  }
  set requiresGrad(v: boolean) {
    this.requiresGrad_(v);
  }
  requiresGrad_(v = true): this {
    if (typeof v !== 'boolean') throw new TypeError(`requiresGrad_(): expected a boolean, got ${show(v)}`);
    // libtorch ignores this silently for a non-leaf (its grad_fn still makes it require grad)
    if (!v && !native.IsLeaf(this._handle)) throw new Error('requiresGrad_(false): you can only change requiresGrad of leaf tensors; use detach() for a non-leaf');
    native.RequiresGrad(this._handle, v);
    return this;
  }
  get isLeaf(): boolean {
    return native.IsLeaf(this._handle);
  }
  /** Name of the node that created this tensor (e.g. "AddBackward0"), or null for leaves. */
  get gradFn(): string | null {
    return native.GradFnName(this._handle);
  }
  /** A new handle to the accumulated gradient (dispose it, or read it inside a scope), or null. */
  get grad(): Tensor | null {
    const id = native.Grad(this._handle);
    return id === null ? null : new Tensor(id);
  }
  /** Assigning checks what PyTorch's Python setter checks: a tensor of this shape, dtype and device, not this tensor. */
  set grad(g: Tensor | null) {
    if (g !== null) {
      if (!(g instanceof Tensor)) throw new TypeError(`grad: expected a Tensor or null, got ${show(g)}`);
      // a tensor sharing this one's memory (itself, a detach() or a second handle) would have
      // backward() accumulate into the weights themselves
      if (g === this || g.isSetTo(this)) throw new Error("grad: can't assign a tensor as its own grad (the assigned tensor shares its memory)");
      checkSameShape('grad', 'the assigned grad', g, this, "the tensor's shape");
      if (g.dtype !== this.dtype) throw new TypeError(`grad: assigned grad has data of a different type: ${g.dtype} for a ${this.dtype} tensor`);
      if (g.device !== this.device) throw new TypeError(`grad: assigned grad has data on a different device: ${g.device} for a tensor on ${this.device}`);
    }
    native.SetGrad(this._handle, g === null ? null : g._handle);
  }
  retainGrad(): this {
    native.RetainGrad(this._handle);
    return this;
  }
  /** Sets `.grad` to null, as `optimizer.zero_grad(set_to_none=True)` does. */
  zeroGrad(): void {
    native.SetGrad(this._handle, null);
  }
  /** `backward()`, `backward(gradient, { retainGraph, createGraph, inputs })` or `backward({ retainGraph, ... })`. */
  backward(gradient?: Tensor | null | BackwardOptions, opts?: BackwardOptions): void {
    if (isOptions(gradient) && opts === undefined) [gradient, opts] = [null, gradient];
    if (gradient !== undefined && gradient !== null && !(gradient instanceof Tensor)) {
      throw new TypeError(`backward(): gradient must be a Tensor or null, got ${show(gradient)}`);
    }
    opts = checkOptions('backward()', opts, BACKWARD_OPTIONS);
    if (opts.inputs !== undefined && !(Array.isArray(opts.inputs) && opts.inputs.every((t) => t instanceof Tensor))) {
      throw new TypeError(`backward(): option inputs must be a list of Tensors, got ${show(opts.inputs)}`);
    }
    const o = opts;
    backwardPass(o.retainGraph ?? o.createGraph ?? false, () => native.Backward([this._handle], gradient ? [(gradient as Tensor)._handle] : null,
      o.retainGraph ?? null, o.createGraph ?? false, o.inputs ? o.inputs.map((t) => t._handle) : null));
  }

  // ---------------------------------------------------------------- indexing
  /**
   * Indexing like `x[...]` in PyTorch: numbers (negative from the end) select, `[start, stop, step]`
   * slices (null = open end, negative step reverses), `':'` is a full slice, `null` adds a dimension,
   * `'...'` fills the remaining dimensions, a Tensor of indices or a bool mask does advanced indexing.
   */
  i(...spec: IndexSpec[]): Tensor {
    return indexTensor(this, spec);
  }
  /** `x[spec] = value` in place (value: Tensor or number); returns this. */
  iset(spec: IndexSpec[], value: Tensor | number): this {
    const flips: number[] = [];
    const view = indexTensor(this, spec, true, flips);
    try {
      if (view instanceof AdvancedIndex) {
        const v = value instanceof Tensor ? value : scalarLike(value, this);
        try {
          this.indexPut_(view.indices, v);
        } finally {
          if (v !== value) v.dispose();
        }
      } else if (value instanceof Tensor) {
        if (flips.length) {
          // negative-step slices were written through a reversed positive-step view
          const e = value.expand(view.shape);
          const f = e.flip(flips);
          try { view.copy_(f); } finally { f.dispose(); e.dispose(); }
        } else {
          view.copy_(value);
        }
      } else {
        view.fill_(value);
      }
    } finally {
      if (!(view instanceof AdvancedIndex)) view.dispose();
    }
    return this;
  }

  /**
   * Short-time Fourier transform with the defaults of Python's `torch.stft` (center=true,
   * padMode 'reflect'); ATen's own overload without `center` would not pad.
   */
  stft(nFft: number, opts: { hopLength?: number | null; winLength?: number | null; window?: Tensor | null; center?: boolean;
    padMode?: string; normalized?: boolean; onesided?: boolean | null; returnComplex?: boolean | null } = {}): Tensor {
    return callOp('stft', OPS.stft, this, [nFft, { center: true, padMode: 'reflect', ...opts }]) as Tensor;
  }

  toString(): string {
    if (this._id === 0) return 'Tensor(<disposed>)';
    return formatTensor(this);
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

export interface BackwardOptions { retainGraph?: boolean; createGraph?: boolean; inputs?: Tensor[] }
const BACKWARD_OPTIONS = { retainGraph: 'boolean', createGraph: 'boolean', inputs: 'any' } as const;

// ---------------------------------------------------------------- indexing helpers
/** Tensor indices for `index_put_` (pure advanced indexing in iset). */
class AdvancedIndex {
  constructor(public indices: (Tensor | null)[]) {}
}

function scalarLike(v: number, like: Tensor): Tensor {
  return new Tensor(native.ScalarTensor(v, DTYPE_CODES[like.dtype]));
}

function indexTensor(x: Tensor, spec: IndexSpec[], forWrite: true, flips: number[]): Tensor | AdvancedIndex;
function indexTensor(x: Tensor, spec: IndexSpec[]): Tensor;
function indexTensor(x: Tensor, spec: IndexSpec[], forWrite = false, flips: number[] = []): Tensor | AdvancedIndex {
  const shape = x.shape;
  const consumed = spec.filter((s) => s !== null && s !== '...').reduce<number>(
    (n, s) => n + (s instanceof Tensor && s.dtype === 'bool' ? s.ndim : 1), 0);
  if (spec.filter((s) => s === '...').length > 1) throw new TypeError('i(): at most one "..." is allowed');
  if (consumed > shape.length) throw new RangeError(`i(): too many indices (${consumed}) for a ${shape.length}-d tensor`);
  let cur = x.alias();
  let dim = 0; // current dimension in `cur`
  const adv: (Tensor | null)[] = [];
  let hasAdv = false;
  try {
    for (const s of spec) {
      if (s === '...') {
        const n = shape.length - consumed;
        for (let k = 0; k < n; k++) adv.push(null);
        dim += n;
      } else if (s === null) {
        const next = cur.unsqueeze(dim);
        cur.dispose();
        cur = next;
        adv.push(null);
        dim += 1;
      } else if (typeof s === 'number') {
        const size = cur.shape[dim];
        if (!Number.isInteger(s) || s < -size || s >= size) throw new RangeError(`i(): index ${s} is out of bounds for dimension ${dim} with size ${size}`);
        const next = cur.select(dim, s);
        cur.dispose();
        cur = next;
      } else if (s === ':') {
        adv.push(null);
        dim += 1;
      } else if (Array.isArray(s)) {
        const size = cur.shape[dim];
        const [start, stop, step = 1] = s;
        if (step === 0) throw new RangeError('i(): slice step cannot be zero');
        let next: Tensor;
        if (step! > 0) {
          next = cur.slice(dim, start ?? 0, stop ?? size, step!);
        } else {
          // negative step: indices start, start+step, ... (Python semantics), gathered with index_select
          const st = start === null || start === undefined ? size - 1 : start < 0 ? Math.max(start + size, -1) : Math.min(start, size - 1);
          const sp = stop === null || stop === undefined ? -1 : stop < 0 ? Math.max(stop + size, -1) : Math.min(stop, size - 1);
          // the same elements as a positive-step slice, in reverse order
          const n = st > sp ? Math.floor((st - sp - 1) / -step!) + 1 : 0;
          const slice = n === 0 ? cur.slice(dim, 0, 0, 1) : cur.slice(dim, st + (n - 1) * step!, st + 1, -step!);
          if (forWrite) {
            next = slice; // a writable view; iset flips the value instead
            flips.push(dim);
          } else {
            next = slice.flip([dim]);
            slice.dispose();
          }
        }
        cur.dispose();
        cur = next;
        adv.push(null);
        dim += 1;
      } else if (s instanceof Tensor) {
        hasAdv = true;
        adv.push(s);
        dim += s.dtype === 'bool' ? s.ndim : 1;
      } else {
        throw new TypeError(`i(): unsupported index ${String(s)}`);
      }
    }
    if (!hasAdv) return cur;
    if (forWrite) {
      // index_put_ on the base needs indices relative to x; only pure advanced indexing is supported there
      if (spec.some((s) => s !== ':' && s !== '...' && !(s instanceof Tensor))) {
        throw new TypeError('iset(): mixing tensor indices with numbers/slices is not supported; use iset with tensors and ":" only');
      }
      cur.dispose();
      return new AdvancedIndex(adv);
    }
    const out = cur.index(adv);
    cur.dispose();
    return out;
  } catch (e) {
    cur.dispose(); // a bad index must not leak the partial view
    throw e;
  }
}

// ---------------------------------------------------------------- creation from JS data
const TYPED: [new (...a: never[]) => ArrayBufferView, DType][] = [
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int32Array, 'int32'], [Int16Array, 'int16'],
  [Int8Array, 'int8'], [Uint8Array, 'uint8'], [BigInt64Array, 'int64'],
];
const MAX_DIMS = 64; // as libtorch; also stops a self-referencing array

/** The shape of nested arrays, read along their first elements (flatten checks every element against it). */
function nestedShape(data: NestedArray): number[] {
  const shape: number[] = [];
  for (let d = data; Array.isArray(d); d = d[0]) {
    if (shape.length === MAX_DIMS) throw new RangeError(`tensor(): nested arrays deeper than ${MAX_DIMS} levels`);
    shape.push(d.length);
    if (d.length === 0) break;
  }
  return shape;
}

// Ragged data is an error naming where it differs, as torch.tensor's "expected sequence of length 1 at dim 1 (got 2)".
function flatten(data: NestedArray, shape: number[], out: (number | boolean)[], path: number[]): void {
  const dim = path.length;
  if (Array.isArray(data)) {
    if (dim === shape.length) {
      throw new TypeError(`tensor(): ragged nested array: expected a number at index [${path.join(', ')}] (dim ${dim}), got a sequence of length ${data.length}`);
    }
    if (data.length !== shape[dim]) {
      throw new TypeError(`tensor(): ragged nested array: expected sequence of length ${shape[dim]} at dim ${dim} (got ${data.length}) at index [${path.join(', ')}]`);
    }
    if (dim === shape.length - 1) {
      // the innermost dimension, inline: most of the elements
      for (let k = 0; k < data.length; k++) {
        const v = data[k];
        if (typeof v === 'number' || typeof v === 'boolean') out.push(v);
        else flatten(v, shape, out, [...path, k]); // raises, naming the index
      }
      return;
    }
    for (let k = 0; k < data.length; k++) {
      path.push(k);
      flatten(data[k], shape, out, path);
      path.pop();
    }
  } else if (dim !== shape.length) {
    throw new TypeError(`tensor(): ragged nested array: expected sequence of length ${shape[dim]} at dim ${dim} (got ${show(data)}) at index [${path.join(', ')}]`);
  } else if (typeof data !== 'number' && typeof data !== 'boolean') {
    throw new TypeError(`tensor(): expected numbers or booleans, got ${show(data)} at index [${path.join(', ')}]`);
  } else {
    out.push(data);
  }
}

/** Where element `flat` of a row-major tensor of `shape` sits: "[1, 0]". */
function indexPath(flat: number, shape: number[]): string {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(flat % shape[d]);
    flat = Math.floor(flat / shape[d]);
  }
  return `[${idx.join(', ')}]`;
}

// The integer dtypes' ranges as doubles ([lo, hi], hi for int64 the largest double below 2^63).
// A value outside, NaN or an infinity raises (torch.tensor raises "value cannot be converted to type
// uint8 without overflow"; it wraps negatives to uint8, we raise for those too); a non-integer within
// the range truncates toward zero, as in PyTorch.
const INT_RANGE: Partial<Record<DType, [number, number, string]>> = {
  uint8: [0, 255, '[0, 255]'], int8: [-128, 127, '[-128, 127]'], int16: [-32768, 32767, '[-32768, 32767]'],
  int32: [-2147483648, 2147483647, '[-2147483648, 2147483647]'],
  int64: [-(2 ** 63), 2 ** 63 - 1024, '[-9223372036854775808, 9223372036854775807]'],
};
const TYPED_RANGE: Partial<Record<DType, [number, number]>> = {
  uint8: [0, 255], int8: [-128, 127], int16: [-32768, 32767], int32: [-2147483648, 2147483647], int64: [-(2 ** 63), 2 ** 63 - 1],
};

function overflow(v: number | bigint, at: string, dtype: DType, inferred: boolean): RangeError {
  const hint = inferred ? "; the dtype was inferred from integer values: pass { dtype: 'float32' } (or 'float64') for floating-point data" : '';
  return new RangeError(`tensor(): value ${typeof v === 'bigint' ? `${v}n` : v} at index ${at} cannot be converted to ${dtype} without overflow (range ${INT_RANGE[dtype]![2]})${hint}`);
}

/** Checks that every value fits an integer dtype; nothing to do for the other dtypes. */
function checkValues(values: ArrayLike<number | boolean | bigint>, shape: number[], dtype: DType, inferred = false): void {
  const range = INT_RANGE[dtype];
  if (!range) return;
  const n = values.length;
  if (n && typeof values[0] === 'bigint') {
    const lo = BigInt(TYPED_RANGE[dtype]![0]), hi = BigInt(TYPED_RANGE[dtype]![1]);
    for (let i = 0; i < n; i++) {
      const v = values[i] as bigint;
      if (v < lo || v > hi) throw overflow(v, indexPath(i, shape), dtype, inferred);
    }
    return;
  }
  const [lo, hi] = range;
  for (let i = 0; i < n; i++) {
    const v = +(values[i] as number);
    if (!(v >= lo && v <= hi)) throw overflow(v, indexPath(i, shape), dtype, inferred);
  }
}

// Plain loops: typed-array `from` with a mapping function is several times slower.
function encode(values: ArrayLike<number | boolean>, dtype: DType): ArrayBufferView {
  const n = values.length;
  const src = values as ArrayLike<number>;
  if (dtype === 'bool') {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = src[i] !== 0 && (src[i] as unknown) !== false ? 1 : 0; // nonzero (NaN too) is true, as in PyTorch
    return b;
  }
  const C = { float32: Float32Array, float64: Float64Array, int32: Int32Array, int16: Int16Array, int8: Int8Array, uint8: Uint8Array }[dtype as string];
  if (!C) throw new TypeError(`cannot encode ${dtype} directly`);
  const out = new C(n);
  // in range (checkValues): ToInt32/ToInt16/... truncate toward zero
  for (let i = 0; i < n; i++) out[i] = +src[i];
  return out;
}

// The dtype whose bytes encode() writes: int64 goes through float64 (exact for integers, and the
// native cast truncates toward zero like Math.trunc; checkValues has bounded the range), the
// 16-bit floats and complex through float64 too.
const ENCODE_AS: Partial<Record<DType, DType>> = { int64: 'float64', float16: 'float64', bfloat16: 'float64', complex64: 'float64', complex128: 'float64' };

/** A tensor of `dtype` from flat values; `inferred` says the dtype was inferred (for the error's hint). */
function fromFlat(values: ArrayLike<number | boolean>, shape: number[], dtype: DType, inferred = false): Tensor {
  const s = shape.length === 0 && values.length !== 1 ? [values.length] : shape;
  checkValues(values, s, dtype, inferred);
  const direct = ENCODE_AS[dtype] ?? dtype;
  const t = new Tensor(native.FromBytes(encode(values, direct), s, DTYPE_CODES[direct]));
  if (direct === dtype) return t;
  const c = t.to(dtype);
  t.dispose();
  return c;
}

// static helpers hang off Tensor so that indexing code above can reach them
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace Tensor {
  let fromArray: (values: ArrayLike<number | boolean>, shape: number[], dtype: DType) => Tensor;
}
Tensor.fromArray = (values, shape, dtype) => fromFlat(values, shape, dtype);

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

const TENSOR_OPTIONS = { dtype: 'dtype', device: 'device', requiresGrad: 'boolean', shape: 'any' } as const;
const TO_OPTIONS = { dtype: 'dtype', device: 'device', copy: 'boolean', nonBlocking: 'boolean', memoryFormat: 'any' } as const;

function checkShape(shape: number[], n: number): void {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new TypeError(`tensor(): option shape must be a list of non-negative integers, got ${show(shape)}`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== n) throw new RangeError(`tensor(): shape [${shape.join(', ')}] holds ${size} elements but the data has ${n}`);
}

/**
 * Creates a tensor from a number, nested arrays or a TypedArray (copied), like `torch.tensor`.
 * Integers infer int64, other numbers float32, booleans bool. Ragged arrays, values that do not
 * fit an integer dtype (NaN and infinities included) and unknown options raise before anything
 * is allocated; a TypedArray of the requested dtype is copied without a per-element check.
 */
export function tensor(data: NestedArray | ArrayBufferView, opts: CreateOptions & { shape?: number[] } = {}): Tensor {
  checkOptions('tensor()', opts, TENSOR_OPTIONS);
  const dtype = opts.dtype;
  let t: Tensor;
  if (ArrayBuffer.isView(data)) {
    const entry = TYPED.find(([C]) => data instanceof C);
    if (!entry) throw new TypeError(`tensor(): unsupported TypedArray ${data.constructor.name}; expected one of ${TYPED.map(([C]) => C.name).join(', ')}`);
    const values = data as unknown as ArrayLike<number | bigint>;
    const shape = opts.shape ?? [values.length];
    checkShape(shape, values.length);
    checkRequiresGrad(opts.requiresGrad, dtype ?? entry[1]);
    if (dtype && dtype !== entry[1]) {
      const [lo, hi] = TYPED_RANGE[entry[1]] ?? [-Infinity, Infinity];
      const target = TYPED_RANGE[dtype];
      if (target && !(lo >= target[0] && hi <= target[1])) checkValues(values as ArrayLike<number>, shape, dtype);
    }
    t = new Tensor(native.FromBytes(data, shape, DTYPE_CODES[entry[1]]));
    if (dtype && dtype !== entry[1]) {
      const c = t.to(dtype);
      t.dispose();
      t = c;
    }
  } else {
    const shape = nestedShape(data);
    const flat: (number | boolean)[] = [];
    flatten(data, shape, flat, []);
    if (opts.shape !== undefined) checkShape(opts.shape, flat.length);
    let allBool = flat.length > 0, allInt = flat.length > 0;
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      if (typeof v === 'boolean') continue;
      allBool = false;
      if (!Number.isInteger(v)) {
        allInt = false;
        break;
      }
    }
    const inferred: DType = allBool ? 'bool' : allInt ? 'int64' : 'float32';
    checkRequiresGrad(opts.requiresGrad, dtype ?? inferred);
    t = fromFlat(flat, opts.shape ?? shape, dtype ?? inferred, dtype === undefined);
    if (opts.shape === undefined && shape.length === 0) {
      const s = t.reshape([]);
      t.dispose();
      t = s;
    }
  }
  if (opts.device && opts.device !== 'cpu') {
    const c = t.to(opts.device);
    t.dispose();
    t = c;
  }
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}

function checkRequiresGrad(requiresGrad: boolean | undefined, dtype: DType): void {
  if (requiresGrad && !isFloating(dtype) && !isComplex(dtype)) {
    throw new TypeError(`tensor(): only floating-point and complex tensors can require gradients, got dtype ${dtype}`);
  }
}

/** A tensor from raw little-endian bytes (copied). */
export function fromBytes(bytes: Uint8Array, shape: number[], dtype: DType): Tensor {
  checkDtype('fromBytes()', dtype);
  return new Tensor(native.FromBytes(bytes, shape, DTYPE_CODES[dtype]));
}

// ---------------------------------------------------------------- random generators
/** An explicit, seeded random number generator (CPU), as `torch.Generator().manual_seed(seed)`. */
export class Generator {
  private id: number;
  /**
   * A generator seeded with `seed`, on the CPU, or on `device` (`new Generator(0, { device: 'cuda' })`:
   * CUDA ops that draw with a generator need one of their own device, as in PyTorch).
   */
  constructor(seed = 0, opts: { device?: Device } = {}) {
    this.id = opts.device === undefined ? native.GeneratorNew(seed) : native.GeneratorNew(seed, opts.device);
  }
  /** 'cpu', or the device it draws for ('cuda:0'). */
  get device(): Device {
    return native.GeneratorDevice(this._handle);
  }
  get _handle(): number {
    if (this.id < 0) throw new Error('Generator was disposed');
    return this.id;
  }
  manualSeed(seed: number): this {
    native.GeneratorSeed(this._handle, seed);
    return this;
  }
  initialSeed(): number {
    return native.GeneratorSeed(this._handle);
  }
  /** The full generator state (a uint8 tensor) for checkpoints. */
  getState(): Tensor {
    return new Tensor(native.GeneratorGetState(this._handle));
  }
  setState(state: Tensor): this {
    native.GeneratorSetState(this._handle, state._handle);
    return this;
  }
  dispose(): void {
    if (this.id > 0) native.GeneratorFree(this.id);
    this.id = -1;
  }
  /** The process-wide default generator of the CPU, or of `device` ('cuda:0'). */
  static default(device: Device = 'cpu'): Generator {
    const g = Object.create(Generator.prototype) as Generator;
    (g as unknown as { id: number }).id = device === 'cpu' ? 0 : native.GeneratorDefault(device);
    return g;
  }
}

/** Seeds the default generator, as `torch.manual_seed`. */
export function manualSeed(seed: number): void {
  native.GeneratorSeed(0, seed);
}

// ---------------------------------------------------------------- generated surface
registerClasses(Tensor as never, Generator as never);

for (const [name, overloads] of Object.entries(OPS)) {
  if (overloads.some((o) => o.m) && !(name in Tensor.prototype)) {
    const fast = compileOp(name, overloads, true);
    Object.defineProperty(Tensor.prototype, name, {
      value: function (this: Tensor, ...args: unknown[]) {
        return fast(this, args);
      },
      writable: true,
      configurable: true,
    });
  }
}

/** The `torch.*` functions bound from ATen, plus the hand-written creation helpers. */
export const functions: TorchFunctions = Object.create(null);
for (const [name, overloads] of Object.entries(OPS)) {
  if (overloads.some((o) => o.f)) {
    const fast = compileOp(name, overloads, false);
    (functions as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => fast(undefined, args);
  }
}
// Python-layer defaults that differ from ATen's: route the function to the method.
{
  const generated = (functions as unknown as Record<string, (...a: unknown[]) => unknown>).stft;
  (functions as unknown as Record<string, unknown>).stft = (x: Tensor, ...rest: unknown[]) =>
    rest.length === 1 || (rest.length === 2 && isOptions(rest[1])) ? x.stft(rest[0] as number, rest[1] as never) : generated(x, ...rest);
}
{
  {
  }
}

export { isOptions };
