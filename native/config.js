// Where libtorch lives and how to compile against it; read by binding.gyp.
// LIBTORCH=/path selects any libtorch tree (include/, lib/); default is Debian's libtorch-dev.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

function config() {
  const root = process.env.LIBTORCH;
  if (root) {
    const inc = path.join(root, 'include');
    const lib = path.join(root, 'lib');
    if (!fs.existsSync(path.join(inc, 'ATen', 'ATen.h'))) throw new Error(`LIBTORCH=${root}: no include/ATen/ATen.h`);
    return { include: [inc, path.join(inc, 'torch', 'csrc', 'api', 'include')], lib, c10: path.join(lib, 'libc10.so') };
  }
  const multiarch = execFileSync('gcc', ['-print-multiarch']).toString().trim();
  const lib = `/usr/lib/${multiarch}`;
  return { include: ['/usr/include', '/usr/include/torch/csrc/api/include'], lib, c10: path.join(lib, 'libc10.so') };
}

// libtorch builds differ in the C++ ABI; match it (wheels before 2.7 used the old one).
function cxx11abi(c10) {
  try {
    const syms = execFileSync('nm', ['-D', '--defined-only', c10], { maxBuffer: 1 << 28 }).toString();
    return syms.includes('__cxx11') ? 1 : 0;
  } catch {
    return 1;
  }
}

// The libtorch's version, from its headers: {major, minor}.
function torchVersion(include) {
  const candidates = [];
  for (const inc of include) {
    candidates.push(path.join(inc, 'torch', 'headeronly', 'version.h'), path.join(inc, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h'));
  }
  for (const f of candidates) {
    if (!fs.existsSync(f)) continue;
    const s = fs.readFileSync(f, 'utf8');
    const major = /TORCH_VERSION_MAJOR\s+(\d+)/.exec(s), minor = /TORCH_VERSION_MINOR\s+(\d+)/.exec(s);
    if (major && minor) return { major: Number(major[1]), minor: Number(minor[1]) };
  }
  return { major: 1, minor: 13 };
}

// PyTorch 2.x headers use C++20 features from 2.10 on (and compile as C++20 from 2.1); 1.13 is C++17.
function cxxStandard(v) {
  return v.major >= 2 ? 'c++20' : 'c++17';
}

// Process groups (src/distributed.cc) need c10d's Gloo headers and gloo's own: Debian's libtorch
// with libgloo-dev has both; a pip wheel's torch folder ships c10d's but not gloo's (the file checks
// with __has_include and builds without process groups then).
function glooHeaders(c) {
  return c.include.some((inc) => fs.existsSync(path.join(inc, 'gloo', 'algorithm.h')));
}

const c = config();
const what = process.argv[2];
if (what === 'include') console.log(c.include.join(' '));
else if (what === 'lib') console.log(c.lib);
else if (what === 'abi') console.log(cxx11abi(c.c10));
else if (what === 'std') console.log(cxxStandard(torchVersion(c.include)));
else if (what === 'libs') {
  // CUDA builds register their kernels from libtorch_cuda/libc10_cuda: link them whole.
  const libs = ['-ltorch', '-ltorch_cpu', '-lc10'];
  for (const l of ['torch_cuda', 'c10_cuda']) if (fs.existsSync(path.join(c.lib, `lib${l}.so`))) libs.push(`-l${l}`);
  console.log(libs.join(' '));
}
else console.log(JSON.stringify({ ...c, abi: cxx11abi(c.c10), version: torchVersion(c.include), std: cxxStandard(torchVersion(c.include)), gloo: glooHeaders(c) }));
