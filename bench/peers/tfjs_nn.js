#!/usr/bin/env node
/*
 * TensorFlow.js peer for `refinery bench nn`: one training step of the
 * Fashion-MNIST convnet (Refinery's FashionClassifier, src/vision/classifier.ts)
 * built with tfjs-layers.
 *
 *   node bench/peers/tfjs_nn.js --threads N [--reps R] [--warmup W] [--batch B]
 *                               [--backend wasm|cpu] [--variant both|trainOnBatch|minimize]
 *                               [--conv-dx conv|native]
 *
 * Prints one line of JSON to stdout:
 *   {"peer":"tfjs-wasm","backend":"wasm","threads":1,"version":"...","ms":..,
 *    "variant":"...","variants":{...},"params":{"trainable":..,"non_trainable":..,
 *    "count_params":..},...}
 *
 * The model (NHWC, so input [B,28,28,1]):
 *   rescaling (x - 0.2860) / 0.3530
 *   conv2d 3x3 same (32, no bias) - batchNormalization - ReLU - maxPooling2d 2
 *   conv2d 3x3 same (64, no bias) - batchNormalization - ReLU - maxPooling2d 2
 *   conv2d 3x3 same (64, no bias) - batchNormalization - ReLU
 *   flatten - dropout 0.3 - dense 128 ReLU - dropout 0.3 - dense 10
 * batchNormalization uses momentum 0.9 / epsilon 1e-5 (PyTorch's 0.1 / 1e-5),
 * Adam lr 1e-3 with epsilon 1e-8 (PyTorch's; TF.js would default to 1e-7).
 *
 * One step = forward in training mode (dropout on, batch statistics),
 * sparse-label cross-entropy (mean over the batch), backward, Adam update,
 * measured two idiomatic ways on the same fixed random batch:
 *   trainOnBatch: the last dense layer has a softmax activation and the model
 *                 is compiled with tf.train.adam and 'sparseCategoricalCrossentropy';
 *                 one step = await model.trainOnBatch(x, y) (int labels, shape [B]).
 *   minimize:     the same layers with a linear last dense layer (logits);
 *                 one step = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(
 *                 oneHot(y), model.apply(x, {training: true}))), the cost read back.
 * Each variant gets its own model and optimizer; the faster median is the headline,
 * both are reported.  Gradients never accumulate in TF.js (nothing to zero).
 *
 * The wasm backend has no Conv2DBackpropFilter kernel, which every conv2d weight
 * gradient needs, so tfjs-layers cannot train a conv on wasm as shipped.  This
 * script registers one for the wasm backend, built only from wasm kernels
 * (Transpose + Conv2D, the standard "weight gradient as a convolution" identity):
 *   dw[kh,kw,ci,co] = sum_{n,h,w} xpad[n, h*s+kh, w*s+kw, ci] * dy[n,h,w,co]
 *                   = Conv2D(x^T [ci,H,W,n], filter dy^T [oh,ow,n,co],
 *                            dilation s, the forward pads)   -> [ci,kh,kw,co]
 * and then transposed to [kh,kw,ci,co].  The output says so ("conv_dw").  If the
 * wasm step still fails, the script falls back to the 'cpu' backend and says so
 * ("fallback").  With --backend cpu it runs on the cpu backend directly.
 *
 * Threads: tfjs-backend-wasm 4.x loads its single-threaded SIMD binary under
 * Node whatever setThreadsCount asks; "threads" reports what the backend uses.
 */
'use strict';

const path = require('path');

const MEAN = 0.2860, STD = 0.3530;

function parseArgs(argv) {
  const out = { threads: 1, reps: 15, warmup: 3, batch: 128, backend: 'wasm', variant: 'both', convDx: 'conv' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--threads') out.threads = parseInt(next(), 10);
    else if (a === '--reps') out.reps = parseInt(next(), 10);
    else if (a === '--warmup') out.warmup = parseInt(next(), 10);
    else if (a === '--batch') out.batch = parseInt(next(), 10);
    else if (a === '--backend') out.backend = next();
    else if (a === '--variant') out.variant = next();
    else if (a === '--conv-dx') out.convDx = next();
    else if (a === '--json') { /* always JSON; accepted for CLI symmetry */ }
    else if (a === '-h' || a === '--help') {
      process.stderr.write('usage: node tfjs_nn.js --threads N [--reps R] [--warmup W] [--batch B] ' +
          '[--backend wasm|cpu] [--variant both|trainOnBatch|minimize] [--conv-dx conv|native]\n');
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${a}`);
    }
  }
  if (!(out.threads >= 1) || !(out.reps >= 1) || !(out.warmup >= 0) || !(out.batch >= 1)) {
    throw new Error('--threads, --reps and --batch must be positive integers, --warmup >= 0');
  }
  if (out.backend !== 'wasm' && out.backend !== 'cpu') throw new Error('--backend must be "wasm" or "cpu"');
  if (out.convDx !== 'native' && out.convDx !== 'conv') throw new Error('--conv-dx must be "native" or "conv"');
  if (!['both', 'trainOnBatch', 'minimize'].includes(out.variant)) {
    throw new Error('--variant must be "both", "trainOnBatch" or "minimize"');
  }
  return out;
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
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

/** The convnet; `logits` false puts a softmax on the last dense layer (for the compiled loss). */
function makeModel(tf, logits) {
  const m = tf.sequential();
  m.add(tf.layers.rescaling({ inputShape: [28, 28, 1], scale: 1 / STD, offset: -MEAN / STD }));
  const block = (filters) => {
    m.add(tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: 'heNormal' }));
    m.add(tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }));
    m.add(tf.layers.reLU());
  };
  block(32);
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  block(64);
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  block(64);
  m.add(tf.layers.flatten());
  m.add(tf.layers.dropout({ rate: 0.3 }));
  m.add(tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: 'heNormal' }));
  m.add(tf.layers.dropout({ rate: 0.3 }));
  m.add(tf.layers.dense({ units: 10, activation: logits ? 'linear' : 'softmax' }));
  return m;
}

function countParams(model) {
  const n = (ws) => ws.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
  return {
    trainable: n(model.trainableWeights),
    non_trainable: n(model.nonTrainableWeights),
    count_params: model.countParams(),
  };
}

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

async function benchTrainOnBatch(tf, args, x, yInt) {
  const model = makeModel(tf, false);
  model.compile({ optimizer: tf.train.adam(1e-3, 0.9, 0.999, 1e-8), loss: 'sparseCategoricalCrossentropy' });
  const yF = tf.cast(yInt, 'float32');
  const step = async () => model.trainOnBatch(x, yF);
  try {
    const r = await timeSteps(step, args.warmup, args.reps);
    return { ...r, params: countParams(model), form: "model.compile({optimizer: tf.train.adam(1e-3), loss: 'sparseCategoricalCrossentropy'}) (softmax output); await model.trainOnBatch(x, y)" };
  } finally {
    yF.dispose();
    model.optimizer.dispose();
    model.dispose();
  }
}

async function benchMinimize(tf, args, x, yInt) {
  const model = makeModel(tf, true);
  const opt = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
  const oneHot = tf.oneHot(yInt, 10);
  const vars = model.trainableWeights.map((w) => w.val);
  const step = async () => {
    const cost = opt.minimize(() => tf.losses.softmaxCrossEntropy(oneHot, model.apply(x, { training: true })), true, vars);
    const v = cost.dataSync()[0];
    cost.dispose();
    return v;
  };
  try {
    const r = await timeSteps(step, args.warmup, args.reps);
    return { ...r, params: countParams(model), form: 'optimizer.minimize(() => tf.losses.softmaxCrossEntropy(oneHot(y), model.apply(x, {training: true})))' };
  } finally {
    oneHot.dispose();
    opt.dispose();
    model.dispose();
  }
}

async function runOn(tf, backend, args) {
  const x = tf.randomUniform([args.batch, 28, 28, 1], 0, 1, 'float32', 1);
  const yInt = tf.randomUniform([args.batch], 0, 10, 'int32', 2);
  const variants = {};
  try {
    if (args.variant !== 'minimize') variants.trainOnBatch = await benchTrainOnBatch(tf, args, x, yInt);
    if (args.variant !== 'trainOnBatch') variants.minimize = await benchMinimize(tf, args, x, yInt);
  } finally {
    x.dispose();
    yInt.dispose();
  }
  return variants;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));

  // Keep stdout for the single JSON line; route any library chatter to stderr.
  const origLog = console.log;
  console.log = (...a) => console.error(...a);

  const tf = require('@tensorflow/tfjs');
  let backend = args.backend;
  let fallback = null;
  let convDw = null;
  let convDx = null;
  let threads = 1;
  let wasmInfo = '';
  let variants;
  if (backend === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
    wasm.setWasmPaths(wasmDir + path.sep);  // load the .wasm binaries from disk
    if (typeof wasm.setThreadsCount === 'function') wasm.setThreadsCount(args.threads);
    const ok = await tf.setBackend('wasm');
    await tf.ready();
    if (!ok || tf.getBackend() !== 'wasm') throw new Error(`could not initialise the wasm backend (got ${tf.getBackend()})`);
    threads = typeof wasm.getThreadsCount === 'function' ? wasm.getThreadsCount() : 1;
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    wasmInfo = `, backend-wasm ${wasm.version_wasm}, simd=${simd}`;
    if (registerWasmConvBackpropFilter(tf)) {
      convDw = 'Conv2DBackpropFilter registered for wasm by this benchmark: Transpose + Conv2D wasm kernels (the wasm backend ships none)';
    }
    if (args.convDx === 'conv') {
      registerWasmConvBackpropInputAsConv(tf);
      convDx = 'conv2d(dy, rotated filter) [Conv2DBackpropInput re-registered for wasm by this benchmark, --conv-dx conv]';
    } else {
      convDx = 'Conv2DBackpropInput (stock wasm kernel, --conv-dx native)';
    }
    try {
      variants = await runOn(tf, 'wasm', args);
    } catch (e) {
      fallback = `training on the wasm backend failed (${e && e.message ? e.message : e}); fell back to the cpu backend`;
      process.stderr.write(`tfjs_nn: ${fallback}\n`);
      backend = 'cpu';
      variants = undefined;
    }
  }
  if (backend === 'cpu') {
    const ok = await tf.setBackend('cpu');
    await tf.ready();
    if (!ok || tf.getBackend() !== 'cpu') throw new Error(`could not initialise the cpu backend (got ${tf.getBackend()})`);
    threads = 1;
    convDw = null;
    convDx = null;
    variants = await runOn(tf, 'cpu', args);
  }

  const names = Object.keys(variants);
  const best = names.reduce((a, b) => (variants[b].ms < variants[a].ms ? b : a));
  const head = variants[best];
  const version = (tf.version && tf.version.tfjs) || tf.version_core;
  const out = {
    peer: `tfjs-${backend}`,
    backend,
    threads,
    threads_requested: args.threads,
    version: `${version} (layers ${tf.version && tf.version['tfjs-layers']}${backend === 'wasm' ? wasmInfo : ''})`,
    ms: head.ms,
    min_ms: head.min_ms,
    iters: args.reps,
    warmup: args.warmup,
    batch: args.batch,
    params: head.params,
    first_loss: head.first_loss,
    final_loss: head.final_loss,
    variant: best,
    variants,
    layout: 'NHWC',
    conv_dw: convDw,
    conv_dx: convDx,
    fallback,
  };
  console.log = origLog;
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`tfjs_nn: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
