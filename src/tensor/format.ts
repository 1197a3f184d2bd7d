// toString() in PyTorch's style: values with a shared width, '...' past 1000 elements
// (3 items kept at each edge), then shape, dtype, device and grad information.
import type { Tensor } from './tensor';
import { isFloating } from '../types';

const EDGE = 3;
const THRESHOLD = 1000;

function formatNumber(v: number, floating: boolean, fixed: boolean, sci: boolean): string {
  if (!floating) return String(v);
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (sci) return v.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2');
  if (fixed) return v.toFixed(0) + '.';
  return v.toFixed(4);
}

export function formatTensor(t: Tensor): string {
  const shape = t.shape;
  const dtype = t.dtype;
  const numel = shape.reduce((a, b) => a * b, 1);
  const floating = isFloating(dtype);
  const summarize = numel > THRESHOLD;
  let values: number[] = [];
  if (dtype.startsWith('complex')) {
    values = [];
  } else if (numel > 0) {
    values = t.dataSync();
  }
  const finite = values.filter((v) => Number.isFinite(v));
  const absMax = finite.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const absMin = finite.reduce((m, v) => (v !== 0 ? Math.min(m, Math.abs(v)) : m), Infinity);
  const allInt = finite.every((v) => Number.isInteger(v));
  const sci = floating && finite.length > 0 && (absMax >= 1e8 || (absMin < 1e-4 && absMin !== Infinity) || absMax / absMin > 1e3 && absMax >= 1e4);
  const fixed = floating && allInt && !sci;
  const strs = dtype === 'bool' ? values.map((v) => (v ? 'True' : 'False')) : values.map((v) => formatNumber(v, floating, fixed, sci));
  const width = strs.reduce((w, s) => Math.max(w, s.length), 0);
  const strides: number[] = new Array(shape.length);
  for (let d = shape.length - 1, s = 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  const indent = 'tensor('.length;
  const render = (d: number, offset: number): string => {
    if (d === shape.length) return strs[offset].padStart(width);
    const n = shape[d];
    const idx: (number | null)[] = [];
    if (summarize && n > 2 * EDGE) {
      for (let k = 0; k < EDGE; k++) idx.push(k);
      idx.push(null);
      for (let k = n - EDGE; k < n; k++) idx.push(k);
    } else {
      for (let k = 0; k < n; k++) idx.push(k);
    }
    const parts = idx.map((k) => (k === null ? '...' : render(d + 1, offset + k * strides[d])));
    if (d === shape.length - 1) return '[' + parts.join(', ') + ']';
    const sep = ',' + '\n'.repeat(shape.length - d - 1) + ' '.repeat(indent + d + 1);
    return '[' + parts.join(sep) + ']';
  };
  const body = dtype.startsWith('complex') ? '[...complex values]' : shape.length === 0 ? strs[0] : render(0, 0);
  const extras = [`shape=[${shape.join(', ')}]`, `dtype=${dtype}`];
  const device = t.device;
  if (device !== 'cpu') extras.push(`device=${device}`);
  if (t.gradFn) extras.push(`gradFn=<${t.gradFn}>`);
  else if (t.requiresGrad) extras.push('requiresGrad=true');
  return `tensor(${body}, ${extras.join(', ')})`;
}
