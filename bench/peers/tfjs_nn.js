#!/usr/bin/env node
/*
 * TensorFlow.js peer for `bench nn` (node dist/bench/main.js nn): one training step of the
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

const {
  parseFlags, timeSteps, quietConsoleLog, setUpWasm, tfjsVersion, runMain,
  registerWasmConvBackpropFilter, registerWasmConvBackpropInputAsConv,
} = require('./tfjs_common');

const MEAN = 0.2860, STD = 0.3530;

function parseArgs(argv) {
  const out = parseFlags(argv,
      { threads: 1, reps: 15, warmup: 3, batch: 128, backend: 'wasm', variant: 'both', convDx: 'conv' }, {
        '--threads': ['threads', 'int'], '--reps': ['reps', 'int'], '--warmup': ['warmup', 'int'],
        '--batch': ['batch', 'int'], '--backend': ['backend', 'str'], '--variant': ['variant', 'str'],
        '--conv-dx': ['convDx', 'str'],
      }, 'usage: node tfjs_nn.js --threads N [--reps R] [--warmup W] [--batch B] ' +
         '[--backend wasm|cpu] [--variant both|trainOnBatch|minimize] [--conv-dx conv|native]\n');
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
  const restoreLog = quietConsoleLog();

  const tf = require('@tensorflow/tfjs');
  let backend = args.backend;
  let fallback = null;
  let convDw = null;
  let convDx = null;
  let threads = 1;
  let wasmInfo = '';
  let variants;
  if (backend === 'wasm') {
    const w = await setUpWasm(tf, args.threads);
    threads = w.threads;
    wasmInfo = `, backend-wasm ${w.wasm.version_wasm}, simd=${w.simd}`;
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
  const version = tfjsVersion(tf);
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
  restoreLog();
  process.stdout.write(JSON.stringify(out) + '\n');
}

runMain('tfjs_nn', main);
