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
// with libgloo-dev has both; a pip wheel's torch folder ships c10d's but not gloo's, which the
// compiler then finds in /usr/include (libgloo-dev; the wheel's libtorch_cpu carries its own gloo
// and exports the c10d symbols: see README "Another libtorch"). Without them the file builds
// without process groups (it checks with __has_include).
function glooHeaders(c) {
  return [...c.include, '/usr/include'].some((inc) => fs.existsSync(path.join(inc, 'gloo', 'algorithm.h')));
}

// NCCL (process groups over CUDA tensors): a CUDA libtorch whose libtorch_cuda exports
// ProcessGroupNCCL, and nccl.h plus the CUDA runtime headers somewhere we can see them (the tree,
// CUDA_HOME, /usr/local/cuda, or a wheel's nvidia/*/include packages beside torch/). Returns the
// extra include folders, or null (no NCCL: CUDA tensors are refused by the process group then).
function ncclIncludes(c) {
  const lib = path.join(c.lib, 'libtorch_cuda.so');
  if (!fs.existsSync(lib)) return null;
  try {
    const syms = execFileSync('nm', ['-D', '--defined-only', lib], { maxBuffer: 1 << 30 }).toString();
    if (!syms.includes('ProcessGroupNCCL')) return null;
  } catch {
    return null;
  }
  const dirs = [...c.include];
  if (process.env.CUDA_HOME) dirs.push(path.join(process.env.CUDA_HOME, 'include'));
  dirs.push('/usr/local/cuda/include');
  const nvidia = path.join(path.dirname(path.dirname(c.lib)), 'nvidia');  // <site-packages>/torch/lib -> <site-packages>/nvidia
  if (fs.existsSync(nvidia)) for (const d of fs.readdirSync(nvidia)) dirs.push(path.join(nvidia, d, 'include'));
  dirs.push('/usr/include');
  const find = (h) => dirs.find((d) => fs.existsSync(path.join(d, h)));
  const nccl = find('nccl.h'), cuda = find('cuda_runtime_api.h');
  if (!nccl || !cuda) return null;
  return [...new Set([nccl, cuda, ...dirs.filter((d) => d.startsWith(nvidia) && fs.existsSync(d))])].filter((d) => !c.include.includes(d) && d !== '/usr/include');
}

const c = config();
const what = process.argv[2];
const nccl = what === 'include' || what === 'defines' || what === undefined ? ncclIncludes(c) : null;
if (what === 'include') console.log([...c.include, ...(nccl ?? [])].join(' '));
else if (what === 'defines') console.log(nccl ? 'USE_C10D_NCCL REFINERY_NCCL' : '');
else if (what === 'lib') console.log(c.lib);
else if (what === 'abi') console.log(cxx11abi(c.c10));
else if (what === 'std') console.log(cxxStandard(torchVersion(c.include)));
else if (what === 'libs') {
  // CUDA builds register their kernels from libtorch_cuda/libc10_cuda: link them whole.
  const libs = ['-ltorch', '-ltorch_cpu', '-lc10'];
  for (const l of ['torch_cuda', 'c10_cuda']) if (fs.existsSync(path.join(c.lib, `lib${l}.so`))) libs.push(`-l${l}`);
  console.log(libs.join(' '));
}
else console.log(JSON.stringify({ ...c, abi: cxx11abi(c.c10), version: torchVersion(c.include), std: cxxStandard(torchVersion(c.include)), gloo: glooHeaders(c), nccl: nccl !== null }));
