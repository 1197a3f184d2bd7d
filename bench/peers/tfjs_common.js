/*
 * What the TensorFlow.js peers (tfjs_engine.js, tfjs_nn.js) share: argument parsing, timing
 * helpers, the wasm backend set-up, and the conv-gradient workarounds for the wasm backend,
 * which has no Conv2DBackpropFilter kernel (see the functions below and each peer's header).
 */
'use strict';

const path = require('path');

/**
 * Parses `argv` into a copy of `defaults`. `flags` maps each flag to [key, 'int' | 'str'];
 * --json is accepted (the output is always JSON), -h/--help prints `usage` and exits.
 */
function parseFlags(argv, defaults, flags, usage) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (Object.prototype.hasOwnProperty.call(flags, a)) {
      const [key, kind] = flags[a];
      out[key] = kind === 'int' ? parseInt(next(), 10) : next();
    } else if (a === '--json') { /* always JSON; accepted for CLI symmetry */ }
    else if (a === '-h' || a === '--help') {
      process.stderr.write(usage);
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${a}`);
    }
  }
  return out;
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median wall time (ms) of `reps` calls of fn after `warmup` untimed ones. */
function medianMs(fn, warmup, reps) {
  for (let i = 0; i < warmup; i++) fn();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = nowMs();
    fn();
    times.push(nowMs() - t0);
  }
  return median(times);
}

/** Times an async training step that returns its loss: median and min ms, first and last loss. */
async function timeSteps(step, warmup, reps) {
  let first = NaN, last = NaN;
  for (let i = 0; i < warmup; i++) {
    const l = await step();
    if (i === 0) first = l;
  }
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = nowMs();
    last = await step();
    times.push(nowMs() - t0);
    if (warmup === 0 && i === 0) first = last;
  }
  return { ms: median(times), min_ms: Math.min(...times), first_loss: first, final_loss: last };
}

/** Keeps stdout for the single JSON line: routes console.log to stderr; returns the undo. */
function quietConsoleLog() {
  const origLog = console.log;
  console.log = (...a) => console.error(...a);
  return () => { console.log = origLog; };
}

/**
 * Loads the wasm backend's binaries from disk, asks for `threadsRequested` threads and makes
 * wasm the backend. Returns the module, the threads it actually uses and its SIMD support.
 */
async function setUpWasm(tf, threadsRequested) {
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  wasm.setWasmPaths(wasmDir + path.sep);  // load the .wasm binaries from disk
  if (typeof wasm.setThreadsCount === 'function') wasm.setThreadsCount(threadsRequested);
  const ok = await tf.setBackend('wasm');
  await tf.ready();
  if (!ok || tf.getBackend() !== 'wasm') {
    throw new Error(`could not initialise the wasm backend (got ${tf.getBackend()})`);
  }
  const threads = typeof wasm.getThreadsCount === 'function' ? wasm.getThreadsCount() : 1;
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return { wasm, threads, simd };
}

const tfjsVersion = (tf) => (tf.version && tf.version.tfjs) || tf.version_core;

/** Runs the async main, and on failure prints "<name>: <stack>" and exits 1. */
function runMain(name, main) {
  main().catch((e) => {
    process.stderr.write(`${name}: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}

/**
 * conv2d (stride 1, 'same' == padding (k-1)/2 for a k x k kernel) with an explicit gradient
 * (tf.customGrad), for tf.grads on the wasm backend, which lacks Conv2DBackpropFilter:
 *   dx: tf.conv2dTranspose (the Conv2DBackpropInput kernel, convDx 'native'), or a forward
 *       conv2d with the flipped, io-swapped filter (convDx 'conv');
 *   dw: a forward conv2d of the (padded, transposed) input with the (transposed) output
 *       gradient as filter.
 */
function conv2dCustomGrad(tf, convDx, K) {
  return tf.customGrad((xi, wi, save) => {
    save([xi, wi]);
    return {
      value: tf.conv2d(xi, wi, 1, 'same'),
      gradFunc: (dy, saved) => {
        const [xs, ws] = saved;
        let dx;
        if (convDx === 'native') {
          dx = tf.conv2dTranspose(dy, ws, xs.shape, 1, 'same');
        } else {
          // full correlation with the 180-degree rotated, in/out-swapped filter
          dx = tf.conv2d(dy, tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]), 1, 'same');
        }
        // dw[kh,kw,ci,co] = sum_{n,h,w} xpad[n,h+kh,w+kw,ci] * dy[n,h,w,co]
        //   = conv2d(xpad^T [ci,Hp,Wp,n], dy^T [h,w,n,co], 'valid') -> [ci,kh,kw,co]
        const pad = (K - 1) / 2;
        const xp = tf.pad(xs, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
        const dwT = tf.conv2d(tf.transpose(xp, [3, 1, 2, 0]),
                              tf.transpose(dy, [1, 2, 0, 3]), 1, 'valid');
        const dw = tf.transpose(dwT, [1, 2, 0, 3]);
        return [dx, dw];
      },
    };
  });
}

/**
 * Registers Conv2DBackpropFilter for the wasm backend from its own Transpose and Conv2D
 * kernels (see the header). Returns false when a kernel already exists.
 */
function registerWasmConvBackpropFilter(tf) {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return false;
  const transposeK = tf.getKernel('Transpose', 'wasm');
  const conv2dK = tf.getKernel('Conv2D', 'wasm');
  if (!transposeK || !conv2dK) throw new Error('wasm backend lacks Transpose or Conv2D');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs;
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
      if (dataFormat !== undefined && dataFormat !== 'NHWC') {
        throw new Error(`Conv2DBackpropFilter (bench shim): only NHWC, got ${dataFormat}`);
      }
      const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode);
      const { top, bottom, left, right } = info.padInfo;
      const xT = transposeK.kernelFunc({ inputs: { x }, backend, attrs: { perm: [3, 1, 2, 0] } });
      const dyT = transposeK.kernelFunc({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } });
      const dwT = conv2dK.kernelFunc({
        inputs: { x: xT, filter: dyT }, backend,
        attrs: {
          strides: [1, 1], dilations: [info.strideHeight, info.strideWidth],
          pad: [[0, 0], [top, bottom], [left, right], [0, 0]], dataFormat: 'NHWC',
        },
      });
      backend.disposeData(xT.dataId);
      backend.disposeData(dyT.dataId);
      const [kh, kw, ci, co] = filterShape;
      const s = dwT.shape;
      if (s[0] !== ci || s[1] !== kh || s[2] !== kw || s[3] !== co) {
        backend.disposeData(dwT.dataId);
        throw new Error(`Conv2DBackpropFilter (bench shim): shape [${s}] for filter [${filterShape}] (unsupported strides/padding)`);
      }
      const dw = transposeK.kernelFunc({ inputs: { x: dwT }, backend, attrs: { perm: [1, 2, 0, 3] } });
      backend.disposeData(dwT.dataId);
      return dw;
    },
  });
  return true;
}

/**
 * With --conv-dx conv (the default): replaces the wasm Conv2DBackpropInput kernel, for stride-1
 * convolutions, by a forward Conv2D of dy with the 180-degree rotated, in/out-swapped filter
 * (Reverse + Transpose + Conv2D wasm kernels), the faster of the two forms on wasm (as in
 * bench/peers/tfjs_engine.js); other strides keep the stock kernel. Same arithmetic.
 */
function registerWasmConvBackpropInputAsConv(tf) {
  const stock = tf.getKernel('Conv2DBackpropInput', 'wasm');
  const transposeK = tf.getKernel('Transpose', 'wasm');
  const reverseK = tf.getKernel('Reverse', 'wasm');
  const conv2dK = tf.getKernel('Conv2D', 'wasm');
  if (!stock || !transposeK || !reverseK || !conv2dK) throw new Error('wasm backend lacks a kernel for --conv-dx conv');
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    setupFunc: stock.setupFunc,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { dy, filter } = inputs;
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
      const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode);
      if (info.strideHeight !== 1 || info.strideWidth !== 1 || (dataFormat !== undefined && dataFormat !== 'NHWC')) {
        return stock.kernelFunc(args);
      }
      const [kh, kw] = filter.shape;
      const { top, left } = info.padInfo;
      const [, h, w] = inputShape;
      const [, oh, ow] = dy.shape;
      const pt = kh - 1 - top, pl = kw - 1 - left;
      const pb = h - oh + kh - 1 - pt, pr = w - ow + kw - 1 - pl;
      const rev = reverseK.kernelFunc({ inputs: { x: filter }, backend, attrs: { dims: [0, 1] } });
      const wT = transposeK.kernelFunc({ inputs: { x: rev }, backend, attrs: { perm: [0, 1, 3, 2] } });
      backend.disposeData(rev.dataId);
      const dx = conv2dK.kernelFunc({
        inputs: { x: dy, filter: wT }, backend,
        attrs: { strides: [1, 1], dilations: [1, 1], pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]], dataFormat: 'NHWC' },
      });
      backend.disposeData(wT.dataId);
      return dx;
    },
  });
}

module.exports = {
  parseFlags, nowMs, median, medianMs, timeSteps, quietConsoleLog, setUpWasm, tfjsVersion, runMain,
  conv2dCustomGrad, registerWasmConvBackpropFilter, registerWasmConvBackpropInputAsConv,
};
