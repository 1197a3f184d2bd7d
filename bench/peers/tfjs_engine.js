#!/usr/bin/env node
/*
 * TensorFlow.js (WASM backend) peer for the Refinery engine benchmark.
 *
 *   node bench/peers/tfjs_engine.js --threads N [--reps R] [--add-reps A]
 *                                   [--conv-dx native|conv]
 *
 * Prints one line of JSON to stdout:
 *   {"peer":"tfjs-wasm","threads":N,"version":"...","results":{
 *      "add":{"ms":..,"iters":..},"matmul":{...},"conv":{...},"mlp":{...}}}
 *
 * "ms" is the median wall time of one iteration over the timed repetitions
 * (after warmup); "iters" is the number of timed repetitions.  For "add" one
 * iteration is the whole loop of 100,000 additions.
 *
 * Notes on fidelity (see also the fields written next to each result):
 *  - Threads: tfjs-backend-wasm 4.x hard-codes WASM_HAS_MULTITHREAD_SUPPORT
 *    to false under Node, so it always loads the single-threaded SIMD binary.
 *    setThreadsCount(N) is still called; "threads" reports the count the
 *    backend actually uses, "threads_requested" the one asked for.
 *  - Layout: tfjs convolutions are NHWC (input [32,28,28,64], filter
 *    [3,3,64,64] HWIO); PyTorch's peer uses NCHW.  Same arithmetic.
 *  - The wasm backend has no Conv2DBackpropFilter kernel, so plain
 *    tf.grads(conv2d) throws.  The conv workload therefore wraps conv2d in
 *    tf.customGrad (still driven through tf.grads):
 *      dx: tf.conv2dTranspose, i.e. the Conv2DBackpropInput kernel that the
 *          stock conv2d gradient uses (default, --conv-dx native), or a
 *          forward conv2d with the flipped, io-swapped filter (--conv-dx conv);
 *      dw: a forward conv2d of the (padded, transposed) input with the
 *          (transposed) output gradient as filter, i.e. the standard
 *          "weight gradient as a convolution" identity.
 *  - Every wasm kernel runs synchronously on the calling thread, so a result
 *    is complete when the op returns; iterations are still closed by a
 *    dataSync() of a small tensor where one exists (add: the last 4-element
 *    sum; mlp: the loss).  matmul/conv outputs are not copied out (PyTorch
 *    does not copy either).
 */
'use strict';

const {
  parseFlags, medianMs, quietConsoleLog, setUpWasm, tfjsVersion, runMain, conv2dCustomGrad,
} = require('./tfjs_common');

function parseArgs(argv) {
  const out = parseFlags(argv, { threads: 1, reps: 10, addReps: 3, convDx: 'native' }, {
    '--threads': ['threads', 'int'], '--reps': ['reps', 'int'], '--add-reps': ['addReps', 'int'],
    '--conv-dx': ['convDx', 'str'],
  }, 'usage: node tfjs_engine.js --threads N [--reps R] [--add-reps A] ' +
     '[--conv-dx native|conv]\n');
  if (!(out.threads >= 1) || !(out.reps >= 1) || !(out.addReps >= 1)) {
    throw new Error('--threads, --reps and --add-reps must be positive integers');
  }
  if (out.convDx !== 'native' && out.convDx !== 'conv') {
    throw new Error('--conv-dx must be "native" or "conv"');
  }
  return out;
}

const ADD_LOOP = 100000;

function benchAdd(tf, reps) {
  const a = tf.tensor1d([0.1, 0.2, 0.3, 0.4], 'float32');
  const b = tf.tensor1d([1.0, 2.0, 3.0, 4.0], 'float32');
  const run = () => {
    let c = null;
    for (let i = 0; i < ADD_LOOP; i++) {
      if (c !== null) c.dispose();
      c = tf.add(a, b);
    }
    c.dataSync();
    c.dispose();
  };
  const ms = medianMs(run, 1, reps);
  a.dispose();
  b.dispose();
  return { ms, iters: reps, loop: ADD_LOOP, us_per_add: (ms * 1000) / ADD_LOOP };
}

function benchMatmul(tf, reps) {
  const a = tf.randomNormal([512, 512], 0, 1, 'float32', 11);
  const b = tf.randomNormal([512, 512], 0, 1, 'float32', 12);
  const run = () => {
    const c = tf.matMul(a, b);
    c.dispose();
  };
  const ms = medianMs(run, 3, reps);
  a.dispose();
  b.dispose();
  return { ms, iters: reps };
}

function benchConv(tf, reps, convDx) {
  const N = 32, H = 28, W = 28, C = 64, K = 3;
  const x = tf.randomNormal([N, H, W, C], 0, 1, 'float32', 21);
  const w = tf.randomNormal([K, K, C, C], 0, 0.05, 'float32', 22);

  // conv2d (stride 1, 'same' == padding 1 for a 3x3 kernel) with an explicit
  // gradient, because the wasm backend lacks Conv2DBackpropFilter.
  const conv = conv2dCustomGrad(tf, convDx, K);
  const g = tf.grads((xi, wi) => conv(xi, wi));

  const run = () => {
    const [gx, gw] = g([x, w]);  // dy = ones (tf.grads default)
    gx.dispose();
    gw.dispose();
  };
  const ms = medianMs(run, 2, reps);
  x.dispose();
  w.dispose();
  return {
    ms, iters: reps, layout: 'NHWC',
    dx: convDx === 'native' ? 'conv2dTranspose(Conv2DBackpropInput kernel)' : 'conv2d(flipped filter)',
    dw: 'conv2d(transposed input, transposed dy) [no Conv2DBackpropFilter kernel in wasm]',
  };
}

function benchMlp(tf, reps) {
  const B = 128, dims = [784, 512, 512, 10];
  const vars = [];
  let seed = 31;
  for (let l = 0; l < 3; l++) {
    const fanIn = dims[l], fanOut = dims[l + 1];
    const bound = 1 / Math.sqrt(fanIn);
    vars.push(tf.variable(tf.randomUniform([fanIn, fanOut], -bound, bound, 'float32', seed++), true, `w${l}`));
    vars.push(tf.variable(tf.randomUniform([fanOut], -bound, bound, 'float32', seed++), true, `b${l}`));
  }
  const [w1, b1, w2, b2, w3, b3] = vars;
  const x = tf.randomNormal([B, 784], 0, 1, 'float32', 41);
  const labels = tf.tidy(() =>
      tf.oneHot(tf.randomUniform([B], 0, 10, 'int32', 42), 10).toFloat());
  const opt = tf.train.sgd(0.01);

  const loss = () => {
    const h1 = tf.relu(tf.add(tf.matMul(x, w1), b1));
    const h2 = tf.relu(tf.add(tf.matMul(h1, w2), b2));
    const logits = tf.add(tf.matMul(h2, w3), b3);
    return tf.losses.softmaxCrossEntropy(labels, logits);  // mean over batch
  };
  let lastLoss = NaN;
  const run = () => {
    const cost = opt.minimize(loss, true, vars);
    lastLoss = cost.dataSync()[0];
    cost.dispose();
  };
  const ms = medianMs(run, 3, reps);
  vars.forEach((v) => v.dispose());
  x.dispose();
  labels.dispose();
  opt.dispose();
  return { ms, iters: reps, final_loss: lastLoss };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));

  // Keep stdout for the single JSON line; route any library chatter to stderr.
  const restoreLog = quietConsoleLog();

  const tf = require('@tensorflow/tfjs');
  const { wasm, threads, simd } = await setUpWasm(tf, args.threads);

  const results = {};
  results.add = benchAdd(tf, args.addReps);
  results.matmul = benchMatmul(tf, args.reps);
  results.conv = benchConv(tf, args.reps, args.convDx);
  results.mlp = benchMlp(tf, args.reps);

  const version = tfjsVersion(tf);
  const out = {
    peer: 'tfjs-wasm',
    threads,
    threads_requested: args.threads,
    version: `${version} (backend-wasm ${wasm.version_wasm}, simd=${simd})`,
    results,
  };
  restoreLog();
  process.stdout.write(JSON.stringify(out) + '\n');
}

runMain('tfjs_engine', main);
