// Hand-written part of the addon: the handle table, data in and out, autograd entry points,
// custom autograd functions with TS callbacks, generators, threads and memory statistics.
// Everything else is generated (native/generated/ops_*.cc).
#include "compat.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/variable.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/api/include/torch/version.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <dlfcn.h>
#include <sched.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstring>
#include <sstream>

#include "../generated/ops.h"

namespace refinery {

// Graph nodes are std::shared_ptr in libtorch 1.x and c10::intrusive_ptr in recent 2.x: the pointer
// types follow whatever Tensor::grad_fn() returns.
using NodePtr = std::decay_t<decltype(std::declval<at::Tensor>().grad_fn())>;
template <class P> struct NodePointers;
template <class T> struct NodePointers<std::shared_ptr<T>> {
  using Weak = std::weak_ptr<T>;
  static Weak weak(const std::shared_ptr<T>& p) { return p; }
  // deleteNode frees long chains without deep recursion; found by argument-dependent lookup, so the
  // name is only needed where this branch is instantiated (1.x)
  template <class N> static std::shared_ptr<N> make() { return std::shared_ptr<N>(new N(), [](N* n) { deleteNode(static_cast<T*>(n)); }); }
};
template <class T> struct NodePointers<c10::intrusive_ptr<T>> {
  using Weak = c10::weak_intrusive_ptr<T>;
  static Weak weak(const c10::intrusive_ptr<T>& p) { return Weak(p); }
  template <class N> static c10::intrusive_ptr<N> make() { return c10::make_intrusive<N>(); }
};
using WeakNodePtr = NodePointers<NodePtr>::Weak;

// ---------------------------------------------------------------- per-environment state
// Every Node environment (the main thread and each worker thread) has its own handle table and
// generators, reached through napi instance data: a tensor handle is only valid in the environment
// that made it, and the tables need no lock because an environment runs on one thread. A handle is
// tag * 2^32 + slot, with a tag unique to the environment, so that a handle carried to another
// worker is refused with a clear message instead of naming some other tensor there.
struct Slot {
  at::Tensor t;
  int64_t bytes = 0;           // numel * element size: memory()'s liveBytes
  int64_t external = 0;        // reported to V8 while the GC backstop owns the tensor
  napi_ref owner = nullptr;    // weak reference to the JS Tensor once it is left to the backstop
  uint32_t watch_pos = 0;      // index in its Instance::watched list while owner is set
  uint8_t watch_list = 0;      // which list: kYoung or kOld
};

struct CanaryToken;

struct Instance {
  napi_env env = nullptr;
  uint64_t tag = 0;
  std::thread::id thread;
  std::vector<Slot> slots = std::vector<Slot>(1);  // slot 0 is never used, so a zeroed handle is invalid
  std::vector<uint32_t> free_slots;
  int64_t live = 0, bytes = 0, peak = 0;
  std::vector<c10::optional<at::Generator>> gens = std::vector<c10::optional<at::Generator>>(1);  // 0: default
  // GC backstop (see Backstop below)
  // watched[kYoung]: backstopped during the current synchronous job; watched[kOld]: before it
  std::vector<uint32_t> watched[2];
  size_t young_after_sweep = 0, added_since_sweep = 0;  // young list, for the in-job sweeps
  size_t all_after_sweep = 0, added_since_full = 0;     // both lists, for the between-jobs sweeps
  int64_t external_since_sweep = 0;
  bool gc_seen_old = false;
  napi_ref canary = nullptr;
  std::vector<CanaryToken*> canary_tokens;  // canaries whose finalizer has not run yet
  bool gc_seen = false;
  std::unordered_set<std::string> warned;  // libtorch warnings already shown in this thread
  // autograd nodes whose memory a backstopped tensor has already reported (see graph_estimate)
  std::unordered_map<const torch::autograd::Node*, WeakNodePtr> counted_nodes;
  size_t counted_after_prune = 0;
};

constexpr double kTagUnit = 4294967296.0;  // 2^32
constexpr uint64_t kFirstTag = 256, kTagLimit = uint64_t(1) << 21;  // handles stay below 2^53
static std::atomic<uint64_t> g_next_tag{kFirstTag};
// All environments together (memory().processLiveTensors): what worker threads still hold.
static std::atomic<int64_t> g_process_live{0}, g_process_bytes{0};

static Instance& instance(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok || !data) throw Napi::Error::New(env, "refinery: addon not initialised in this thread");
  return *static_cast<Instance*>(data);
}

static int64_t tensor_bytes(const at::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size()) : 0;
}

static double handle_of(const Instance& in, uint32_t slot) {
  return static_cast<double>(in.tag) * kTagUnit + static_cast<double>(slot);
}

static uint32_t put_slot(Instance& in, at::Tensor t) {
  uint32_t id;
  if (!in.free_slots.empty()) {
    id = in.free_slots.back();
    in.free_slots.pop_back();
  } else {
    if (in.slots.size() >= 0xffffffffu) throw std::runtime_error("more than 2^32 live tensors");
    id = static_cast<uint32_t>(in.slots.size());
    in.slots.emplace_back();
  }
  Slot& s = in.slots[id];
  s.bytes = tensor_bytes(t);
  s.t = std::move(t);
  in.live += 1;
  in.bytes += s.bytes;
  g_process_live.fetch_add(1, std::memory_order_relaxed);
  g_process_bytes.fetch_add(s.bytes, std::memory_order_relaxed);
  if (in.bytes > in.peak) in.peak = in.bytes;
  return id;
}

double put_tensor(napi_env env, at::Tensor t) {
  Instance& in = instance(env);
  return handle_of(in, put_slot(in, std::move(t)));
}

// The slot a handle names in this environment, or 0 (with why_not saying why) if none.
static uint32_t slot_of(const Instance& in, double d, const char** why_not = nullptr) {
  if (!(d >= 1 && d < 9007199254740992.0) || d != std::trunc(d)) {
    if (why_not) *why_not = "is not a tensor handle";
    return 0;
  }
  uint64_t u = static_cast<uint64_t>(d);
  uint64_t tag = u >> 32;
  uint32_t id = static_cast<uint32_t>(u & 0xffffffffu);
  if (tag != in.tag) {
    if (why_not) {
      *why_not = tag >= kFirstTag && tag < g_next_tag.load()
                     ? "belongs to another thread: tensors cannot be shared between worker threads (send the data, e.g. "
                       "dataSync() or a safetensors buffer, and make a new tensor there)"
                     : "is not a tensor handle";
    }
    return 0;
  }
  if (id == 0 || id >= in.slots.size() || !in.slots[id].t.defined()) {
    if (why_not) *why_not = "is not live (was the tensor disposed?)";
    return 0;
  }
  return id;
}

const at::Tensor& get_tensor(const Napi::Env& env, const Napi::Value& v, size_t argi) {
  if (!v.IsNumber()) throw_type(env, argi, "a Tensor");
  double d = v.As<Napi::Number>().DoubleValue();
  Instance& in = instance(env);
  const char* why = nullptr;
  uint32_t id = slot_of(in, d, &why);
  if (!id) {
    std::ostringstream m;
    m << "argument " << argi << ": tensor handle " << std::setprecision(17) << d << " " << why;
    throw Napi::Error::New(env, m.str());
  }
  return in.slots[id].t;
}

static void unwatch(Instance& in, Slot& s);

// SetData(id, src): the tensor takes src's data (device, dtype, storage) and keeps its autograd
// identity, as PyTorch's `param.data = ...` (Module.to moves parameters this way).
static void set_data(const Napi::Env& env, double id, const at::Tensor& src) {
  Instance& in = instance(env);
  const char* why = nullptr;
  uint32_t slot = slot_of(in, id, &why);
  if (!slot) throw Napi::Error::New(env, std::string("setData: tensor ") + why);
  Slot& s = in.slots[slot];
  s.t.set_data(src);
  int64_t b = tensor_bytes(s.t);
  in.bytes += b - s.bytes;
  g_process_bytes.fetch_add(b - s.bytes, std::memory_order_relaxed);
  s.bytes = b;
  if (in.bytes > in.peak) in.peak = in.bytes;
}

static void unwatch(Instance& in, Slot& s) {
  if (s.owner) {
    napi_delete_reference(in.env, s.owner);
    s.owner = nullptr;
    std::vector<uint32_t>& list = in.watched[s.watch_list];
    uint32_t last = list.back();
    list[s.watch_pos] = last;
    in.slots[last].watch_pos = s.watch_pos;
    list.pop_back();
  }
  if (s.external) {
    int64_t ignored;
    napi_adjust_external_memory(in.env, -s.external, &ignored);
    s.external = 0;
  }
}

static void free_slot(Instance& in, uint32_t id) {
  Slot& s = in.slots[id];
  unwatch(in, s);
  in.live -= 1;
  in.bytes -= s.bytes;
  g_process_live.fetch_sub(1, std::memory_order_relaxed);
  g_process_bytes.fetch_sub(s.bytes, std::memory_order_relaxed);
  s.bytes = 0;
  s.t = at::Tensor();  // may run graph-node destructors, which may free further slots: s is not used after
  in.free_slots.push_back(id);
}

// PyTorch's Python names, which are also Refinery's dtype names.
static const char* dtype_name(at::ScalarType st) {
  switch (st) {
    case at::kByte: return "uint8"; case at::kChar: return "int8"; case at::kShort: return "int16";
    case at::kInt: return "int32"; case at::kLong: return "int64"; case at::kHalf: return "float16";
    case at::kFloat: return "float32"; case at::kDouble: return "float64"; case at::kBool: return "bool";
    case at::kBFloat16: return "bfloat16"; case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128"; default: return c10::toString(st);
  }
}

static std::string shape_str(const at::Tensor& t) {
  std::ostringstream m;
  m << dtype_name(t.scalar_type()) << "[";
  for (int64_t i = 0; i < t.dim(); ++i) m << (i ? ", " : "") << t.size(i);
  m << "]";
  if (!t.device().is_cpu()) m << "@" << t.device();
  return m.str();
}

std::string describe_tensor_id(napi_env env, double id) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok || !data) return "<tensor>";
  Instance& in = *static_cast<Instance*>(data);
  uint32_t slot = slot_of(in, id);
  if (!slot) return "<disposed tensor>";
  return shape_str(in.slots[slot].t);
}

// ---------------------------------------------------------------- errors
static std::string describe_value(napi_env env, const Napi::Value& v, const std::string& kind) {
  if (v.IsUndefined()) return "default";
  if (v.IsNull()) return "None";
  if (kind[0] == 'T' && kind != "TO") {
    if (v.IsNumber()) return describe_tensor_id(env, v.As<Napi::Number>().DoubleValue());
    if (v.IsArray()) {
      Napi::Array a = v.As<Napi::Array>();
      std::string s = "[";
      for (uint32_t k = 0; k < a.Length() && k < 8; ++k) {
        Napi::Value e = a.Get(k);
        s += (k ? ", " : "") + (e.IsNumber() ? describe_tensor_id(env, e.As<Napi::Number>().DoubleValue()) : "None");
      }
      return s + (a.Length() > 8 ? ", ...]" : "]");
    }
  }
  if (kind.rfind("ST", 0) == 0 && v.IsNumber()) {
    int c = v.As<Napi::Number>().Int32Value();
    if (c >= 0 && c < static_cast<int>(at::ScalarType::NumOptions)) return dtype_name(static_cast<at::ScalarType>(c));
  }
  if (v.IsString()) return "\"" + v.As<Napi::String>().Utf8Value() + "\"";
  Napi::Value s = v.ToString();
  std::string r = s.As<Napi::String>().Utf8Value();
  if (v.IsArray()) r = "[" + r + "]";
  return r.size() > 60 ? r.substr(0, 60) + "..." : r;
}

// The message names the op and its arguments (tensor shapes and dtypes), then libtorch's reason
// without the C++ backtrace.
void throw_op_error(const Napi::CallbackInfo& info, const char* op, const char* kinds, const std::string& what) {
  std::ostringstream m;
  m << op << "(";
  std::stringstream ks(kinds);
  std::string item;
  size_t i = 0;
  while (std::getline(ks, item, ',')) {
    auto colon = item.rfind(':');
    std::string name = item.substr(0, colon), kind = item.substr(colon + 1);
    if (i < info.Length() && !info[i].IsUndefined()) {
      m << (i ? ", " : "") << name << "=" << describe_value(info.Env(), info[i], kind);
    }
    ++i;
  }
  std::string reason = what;
  auto cut = reason.find("\nException raised from");
  if (cut != std::string::npos) reason = reason.substr(0, cut);
  // a backend this libtorch lacks (device 'cuda' on a CPU-only build): libtorch lists every
  // dispatch key it has, forty lines; keep the first sentence and say what it means
  auto lacks = reason.find(" backend. This could be because");
  if (reason.rfind("Could not run '", 0) == 0 && lacks != std::string::npos) {
    reason = reason.substr(0, lacks + 8) + ": this libtorch build has no kernels for that backend (a CPU-only build: use device 'cpu')";
  }
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
  m << "): " << reason;
  throw Napi::Error::New(info.Env(), m.str());
}

void throw_type(const Napi::Env& env, size_t argi, const char* expected) {
  std::ostringstream m;
  m << "argument " << argi << ": expected " << expected;
  throw Napi::TypeError::New(env, m.str());
}

#define HAND_TRY try {
#define HAND_CATCH(name)                                                           \
  }                                                                                \
  catch (const Napi::Error&) { throw; }                                            \
  catch (const c10::Error& e) { throw_op_error(info, name, "", e.what_without_backtrace()); } \
  catch (const std::exception& e) { throw_op_error(info, name, "", e.what()); }

// ---------------------------------------------------------------- generators
// Generator handles are small integers per environment; 0 is libtorch's default CPU generator,
// which is process-wide (shared by all threads, behind its own mutex).
at::Generator get_generator(const Napi::Env& env, const Napi::Value& v, size_t argi) {
  if (!v.IsNumber()) throw_type(env, argi, "a Generator");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d == 0) return at::detail::getDefaultCPUGenerator();
  Instance& in = instance(env);
  if (!(d >= 1 && d < in.gens.size()) || d != std::trunc(d) || !in.gens[static_cast<size_t>(d)]) {
    throw Napi::Error::New(env, "argument " + std::to_string(argi) + ": generator was disposed (or made in another thread)");
  }
  return *in.gens[static_cast<size_t>(d)];
}

static Napi::Value GeneratorNew(const Napi::CallbackInfo& info) {
  HAND_TRY
  int64_t seed = arg_int(info, 0);
  Instance& in = instance(info.Env());
  c10::optional<at::Device> device = present(info, 1) ? c10::optional<at::Device>(arg_device(info, 1)) : c10::nullopt;
  if (!device || device->is_cpu()) {
    in.gens.emplace_back(at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed)));
  } else {
    // a generator of another device (CUDA's Philox): a copy of that device's default one, reseeded;
    // needs no device-specific header, and fails with libtorch's message where the backend is missing
    at::Generator g = at::globalContext().defaultGenerator(*device).clone();
    g.set_current_seed(static_cast<uint64_t>(seed));
    in.gens.emplace_back(std::move(g));
  }
  return Napi::Number::New(info.Env(), static_cast<double>(in.gens.size() - 1));
  HAND_CATCH("Generator")
}
// GeneratorDefault(device): a handle to that device's default generator (the CPU's is handle 0).
static Napi::Value GeneratorDefault(const Napi::CallbackInfo& info) {
  HAND_TRY
  at::Device device = arg_device(info, 0);
  if (device.is_cpu()) return Napi::Number::New(info.Env(), 0);
  Instance& in = instance(info.Env());
  in.gens.emplace_back(at::globalContext().defaultGenerator(device));
  return Napi::Number::New(info.Env(), static_cast<double>(in.gens.size() - 1));
  HAND_CATCH("Generator.default")
}
static Napi::Value GeneratorDevice(const Napi::CallbackInfo& info) {
  HAND_TRY
  return Napi::String::New(info.Env(), get_generator(info.Env(), info[0], 0).device().str());
  HAND_CATCH("Generator.device")
}
static Napi::Value GeneratorFree(const Napi::CallbackInfo& info) {
  HAND_TRY
  double d = arg_double(info, 0);
  Instance& in = instance(info.Env());
  if (d >= 1 && d < in.gens.size() && d == std::trunc(d)) in.gens[static_cast<size_t>(d)] = c10::nullopt;
  return info.Env().Undefined();
  HAND_CATCH("Generator.dispose")
}
static Napi::Value GeneratorSeed(const Napi::CallbackInfo& info) {
  HAND_TRY
  at::Generator g = get_generator(info.Env(), info[0], 0);
  std::lock_guard<std::mutex> lock(g.mutex());
  if (present(info, 1)) g.set_current_seed(static_cast<uint64_t>(arg_int(info, 1)));
  return Napi::Number::New(info.Env(), static_cast<double>(g.current_seed()));
  HAND_CATCH("Generator.manualSeed")
}
static Napi::Value GeneratorGetState(const Napi::CallbackInfo& info) {
  HAND_TRY
  at::Generator g = get_generator(info.Env(), info[0], 0);
  std::lock_guard<std::mutex> lock(g.mutex());
  return to_js(info.Env(), at::Tensor(g.get_state()));
  HAND_CATCH("Generator.getState")
}
static Napi::Value GeneratorSetState(const Napi::CallbackInfo& info) {
  HAND_TRY
  at::Generator g = get_generator(info.Env(), info[0], 0);
  const at::Tensor& s = arg_tensor(info, 1);
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(s);
  return info.Env().Undefined();
  HAND_CATCH("Generator.setState")
}

// ---------------------------------------------------------------- tensors: data in and out
static Napi::Value Free(const Napi::CallbackInfo& info) {
  HAND_TRY
  double d = arg_double(info, 0);
  Instance& in = instance(info.Env());
  if (uint32_t id = slot_of(in, d)) free_slot(in, id);
  return info.Env().Undefined();
  HAND_CATCH("Free")
}

// A second handle to the same tensor (ownership transfer to native code).
static Napi::Value Share(const Napi::CallbackInfo& info) {
  return to_js(info.Env(), arg_tensor(info, 0));
}

// fromBytes(data: TypedArray|ArrayBuffer, shape: number[], dtype: code) copies the bytes in.
static Napi::Value FromBytes(const Napi::CallbackInfo& info) {
  HAND_TRY
  Napi::Env env = info.Env();
  const uint8_t* ptr;
  size_t len;
  if (info[0].IsTypedArray()) {
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    ptr = static_cast<const uint8_t*>(ab.Data()) + ta.ByteOffset();
    len = ta.ByteLength();
  } else if (info[0].IsArrayBuffer()) {
    Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
    ptr = static_cast<const uint8_t*>(ab.Data());
    len = ab.ByteLength();
  } else {
    throw_type(env, 0, "a TypedArray or ArrayBuffer");
  }
  std::vector<int64_t> shape = arg_int_list(info, 1, 0);
  at::ScalarType st = arg_scalar_type(info, 2);
  int64_t need = static_cast<int64_t>(c10::elementSize(st));
  for (int64_t s : shape) {
    if (s < 0) throw Napi::RangeError::New(env, "fromBytes: negative dimension in shape");
    if (__builtin_mul_overflow(need, s, &need)) throw Napi::RangeError::New(env, "fromBytes: the shape has more elements than fit in memory");
  }
  size_t need_bytes = static_cast<size_t>(need);
  if (need_bytes != len) {
    std::ostringstream m;
    m << "fromBytes: shape needs " << need_bytes << " bytes of " << c10::toString(st) << " but got " << len;
    throw Napi::RangeError::New(env, m.str());
  }
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st));
  if (len) std::memcpy(t.data_ptr(), ptr, len);
  return to_js(env, t);
  HAND_CATCH("fromBytes")
}

// toBytes(id) copies a contiguous CPU version of the tensor out into a new ArrayBuffer.
static Napi::Value ToBytes(const Napi::CallbackInfo& info) {
  HAND_TRY
  at::Tensor t = arg_tensor(info, 0);
  {
    at::NoGradGuard ng;
    t = t.detach().to(at::kCPU).contiguous();
    if (t.is_conj()) t = t.resolve_conj();
    if (t.is_neg()) t = t.resolve_neg();
  }
  size_t n = t.numel() * t.element_size();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), n);
  if (n) std::memcpy(ab.Data(), t.data_ptr(), n);
  return ab;
  HAND_CATCH("toBytes")
}

static Napi::Value ScalarTensor(const Napi::CallbackInfo& info) {
  HAND_TRY
  at::Scalar s = arg_scalar(info, 0);
  at::ScalarType st = arg_scalar_type(info, 1);
  return to_js(info.Env(), at::scalar_tensor(s, at::TensorOptions().dtype(st)));
  HAND_CATCH("scalarTensor")
}

static Napi::Value Item(const Napi::CallbackInfo& info) {
  HAND_TRY
  return to_js(info.Env(), arg_tensor(info, 0).item());
  HAND_CATCH("item")
}

// meta(id) -> [shape, dtypeCode, device, requiresGrad]
static Napi::Value Meta(const Napi::CallbackInfo& info) {
  const at::Tensor& t = arg_tensor(info, 0);
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, 4);
  Napi::Array shape = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.size(i))));
  out.Set(0u, shape);
  out.Set(1u, Napi::Number::New(env, static_cast<int>(t.scalar_type())));
  out.Set(2u, Napi::String::New(env, t.device().str()));
  out.Set(3u, Napi::Boolean::New(env, t.requires_grad()));
  return out;
}
static Napi::Value Shape(const Napi::CallbackInfo& info) {
  const at::Tensor& t = arg_tensor(info, 0);
  Napi::Env env = info.Env();
  Napi::Array shape = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.size(i))));
  return shape;
}
static Napi::Value Strides(const Napi::CallbackInfo& info) {
  const at::Tensor& t = arg_tensor(info, 0);
  return to_js(info.Env(), t.strides().vec());
}
static Napi::Value Dtype(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<int>(arg_tensor(info, 0).scalar_type()));
}
static Napi::Value Dim(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(arg_tensor(info, 0).dim()));
}
static Napi::Value Numel(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(arg_tensor(info, 0).numel()));
}

// ---------------------------------------------------------------- autograd
static Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  HAND_TRY
  const at::Tensor& t = arg_tensor(info, 0);
  if (present(info, 1)) t.set_requires_grad(arg_bool(info, 1));
  return Napi::Boolean::New(info.Env(), t.requires_grad());
  HAND_CATCH("requiresGrad_")
}
static Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), arg_tensor(info, 0).is_leaf());
}
static Napi::Value GradFnName(const Napi::CallbackInfo& info) {
  const at::Tensor& t = arg_tensor(info, 0);
  auto fn = t.grad_fn();
  if (!fn) return info.Env().Null();
  return Napi::String::New(info.Env(), fn->name());
}
static Napi::Value Grad(const Napi::CallbackInfo& info) {
  return to_js(info.Env(), arg_tensor(info, 0).grad());
}
static Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  HAND_TRY
  const at::Tensor& t = arg_tensor(info, 0);
  if (nullish(info, 1)) t.mutable_grad().reset();
  else t.mutable_grad() = arg_tensor(info, 1);
  return info.Env().Undefined();
  HAND_CATCH("setGrad")
}
static Napi::Value SetData(const Napi::CallbackInfo& info) {
  HAND_TRY
  if (!info[0].IsNumber()) throw_type(info.Env(), 0, "a Tensor");
  at::Tensor src = get_tensor(info.Env(), info[1], 1);
  set_data(info.Env(), info[0].As<Napi::Number>().DoubleValue(), src.detach());
  return info.Env().Undefined();
  HAND_CATCH("setData")
}
static Napi::Value RetainGrad(const Napi::CallbackInfo& info) {
  HAND_TRY
  arg_tensor(info, 0).retain_grad();
  return info.Env().Undefined();
  HAND_CATCH("retainGrad")
}
static Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  bool prev = c10::GradMode::is_enabled();
  if (present(info, 0)) c10::GradMode::set_enabled(arg_bool(info, 0));
  return Napi::Boolean::New(info.Env(), prev);
}

static std::vector<at::Tensor> tensors_or_undefined(const Napi::CallbackInfo& info, size_t i) {
  std::vector<at::Tensor> out;
  if (nullish(info, i)) return out;
  if (!info[i].IsArray()) throw_type(info.Env(), i, "an array of Tensors (or nulls), or null");
  Napi::Array a = info[i].As<Napi::Array>();
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value e = a.Get(k);
    out.push_back(e.IsNull() || e.IsUndefined() ? at::Tensor() : get_tensor(info.Env(), e, i));
  }
  return out;
}

// backward(outputs[], gradOutputs[]|null, retainGraph, createGraph, inputs[]|null)
static Napi::Value Backward(const Napi::CallbackInfo& info) {
  HAND_TRY
  auto outs = arg_tensor_list(info, 0);
  auto grads = tensors_or_undefined(info, 1);
  c10::optional<bool> retain = arg_opt_bool(info, 2);
  bool create = present(info, 3) && arg_bool(info, 3);
  auto inputs = tensors_or_undefined(info, 4);
  torch::autograd::backward(outs, grads, retain, create, inputs);
  return info.Env().Undefined();
  HAND_CATCH("backward")
}

// grad(outputs[], inputs[], gradOutputs[]|null, retainGraph, createGraph, allowUnused) -> (id|null)[]
static Napi::Value AutogradGrad(const Napi::CallbackInfo& info) {
  HAND_TRY
  auto outs = arg_tensor_list(info, 0);
  auto ins = arg_tensor_list(info, 1);
  auto grads = tensors_or_undefined(info, 2);
  c10::optional<bool> retain = arg_opt_bool(info, 3);
  bool create = present(info, 4) && arg_bool(info, 4);
  bool allow_unused = present(info, 5) && arg_bool(info, 5);
  return to_js(info.Env(), torch::autograd::grad(outs, ins, grads, retain, create, allow_unused));
  HAND_CATCH("grad")
}

// A graph node whose backward is a TypeScript callback. The forward ran in TS under no-grad;
// customFunction() attaches this node as grad_fn of its outputs. The callback receives gradient
// handles and returns handles it hands over (one per input, or null).
struct JsBackward : public torch::autograd::Node {
  Napi::FunctionReference fn;
  std::string label;
  size_t n_inputs;
  std::thread::id thread;
  std::string name() const override { return label; }
  ~JsBackward() override {
    // a graph freed on another thread (libtorch's own) must not touch V8 there: leave the
    // reference (a few bytes) rather than crash the process
    if (std::this_thread::get_id() != thread) fn.SuppressDestruct();
  }
  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    Napi::Env env = fn.Env();
    // JS can only be called on its own thread; libtorch runs a CPU graph on the thread that called
    // backward, which for these nodes is always the one that made them.
    if (std::this_thread::get_id() != thread) throw std::runtime_error(label + ": backward called from a thread other than its JS thread");
    Napi::HandleScope hs(env);
    Instance& in = instance(env);
    Napi::Array ids = Napi::Array::New(env, grads.size());
    for (uint32_t k = 0; k < grads.size(); ++k) ids.Set(k, to_js(env, grads[k]));
    Napi::Value r = fn.Call({ids});
    torch::autograd::variable_list out(n_inputs);
    if (!r.IsArray()) throw std::runtime_error(label + ": backward must return an array of gradients");
    Napi::Array ra = r.As<Napi::Array>();
    for (uint32_t k = 0; k < n_inputs && k < ra.Length(); ++k) {
      Napi::Value e = ra.Get(k);
      if (!e.IsNumber()) continue;
      if (uint32_t id = slot_of(in, e.As<Napi::Number>().DoubleValue())) {
        out[k] = in.slots[id].t;
        free_slot(in, id);  // handed over by the TS trampoline
      }
    }
    return out;
  }
};

// customFunction(name, backward, inputIds[], outputIds[]): attach a JsBackward node to the outputs.
static Napi::Value CustomFunction(const Napi::CallbackInfo& info) {
  HAND_TRY
  Napi::Env env = info.Env();
  std::string label = arg_string(info, 0);
  if (!info[1].IsFunction()) throw_type(env, 1, "a backward function");
  auto inputs = arg_tensor_list(info, 2);
  if (!info[3].IsArray()) throw_type(env, 3, "an array of output Tensors");
  Napi::Array out_ids = info[3].As<Napi::Array>();
  Instance& in = instance(env);
  std::vector<uint32_t> out_slots;
  for (uint32_t k = 0; k < out_ids.Length(); ++k) {
    Napi::Value e = out_ids.Get(k);
    uint32_t id = e.IsNumber() ? slot_of(in, e.As<Napi::Number>().DoubleValue()) : 0;
    if (!id) throw Napi::Error::New(env, label + ": output " + std::to_string(k) + " is not a live tensor");
    out_slots.push_back(id);
  }
  bool any = false;
  for (auto& t : inputs) any = any || (t.defined() && t.requires_grad());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const at::Tensor& t = inputs[k];
    if (any && t.defined() && t.requires_grad() && !t.device().is_cpu() && !t.is_meta()) {
      // libtorch's engine runs the backward of a CUDA (or other device) graph on its own device
      // threads, where JavaScript cannot run: refuse now rather than fail (or crash) in backward
      throw Napi::Error::New(env, label + ": input " + std::to_string(k) + " is on " + t.device().str() +
                                      ", but a custom function's TypeScript backward can only run for CPU tensors (libtorch runs the backward of " +
                                      t.device().str() + " tensors on its device threads, where JavaScript cannot run); compute it on the CPU, "
                                      "or write the function with differentiable tensor ops instead of a custom backward");
    }
  }
  if (!any || !c10::GradMode::is_enabled()) return env.Undefined();
  auto node = NodePointers<NodePtr>::make<JsBackward>();
  node->fn = Napi::Persistent(info[1].As<Napi::Function>());
  node->label = label;
  node->n_inputs = inputs.size();
  node->thread = std::this_thread::get_id();
  node->set_next_edges(torch::autograd::collect_next_edges(inputs));
  for (uint32_t id : out_slots) {
    Slot& s = in.slots[id];
    at::Tensor out = s.t.detach();  // a fresh autograd identity sharing the data
    torch::autograd::create_gradient_edge(out, node);
    s.t = out;
  }
  return env.Undefined();
  HAND_CATCH("customFunction")
}

// ---------------------------------------------------------------- GC backstop
// A tensor that outlives every scope is left to the garbage collector: Backstop(id, owner) keeps a
// weak reference to its JS object and reports the memory it holds to V8, so that V8 collects as
// often as that memory warrants. V8 clears weak references during a collection, synchronously, but
// runs FinalizationRegistry callbacks (and Node-API finalizers) only when the event loop turns, which
// a synchronous training loop never lets it do. So the table looks for cleared references itself: a
// canary object that dies at the first collection says that one happened, and the next Backstop then
// sweeps the tensors backstopped in the current synchronous job once enough has been added since the
// last sweep that a sweep costs O(1) per tensor. Tensors from earlier jobs are swept between jobs
// (BackstopEpoch) and by the canary's finalizer (run from the event loop, for a program gone idle).
//
// Reported per tensor: its storage (a view reports the storage it keeps alive), plus what a tensor
// costs beyond its data (TensorImpl, StorageImpl, allocator rounding, the JS object and the weak
// reference), plus, for a tensor that is part of an autograd graph, its node, plus the activations
// its graph holds that no other backstopped tensor has reported yet (graph_estimate). Measured as RSS per tensor over 100,000 unscoped 1-element tensors kept in an
// array: about 0.75 KB for a plain one (0.07 KB of it the JS object), 1.4 KB for one with a grad_fn.
constexpr int64_t kTensorOverhead = 640, kGraphOverhead = 640;
constexpr size_t kMinSweepCount = 256;
constexpr int64_t kSweepBytes = int64_t(32) << 20;
constexpr uint8_t kYoung = 0, kOld = 1;

struct CanaryToken {
  Instance* in;
};

// The bytes of a node's forward outputs (its input metadata). libtorch 1.13 keeps the shape private;
// the one public way to it is the message of a shape mismatch ("... but expected shape compatible
// with [32, 256]"), parsed here. 0 where that fails (a nested tensor, another message).
static int64_t node_output_bytes(const torch::autograd::Node& n) {
  static const at::Tensor probe = at::empty({0});
  int64_t total = 0;
  for (uint32_t i = 0; i < n.num_inputs(); ++i) {
    const auto& md = n.input_metadata(i);
    std::string m;
    try {
      m = md.incompatible_shape_error_message(i, probe).str();
    } catch (...) {
      continue;
    }
    auto open = m.rfind('['), close = m.rfind(']');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    int64_t numel = 1;
    const char* p = m.c_str() + open + 1;
    while (*p && *p != ']') {
      char* end = nullptr;
      long long d = std::strtoll(p, &end, 10);
      if (end == p || d < 0) break;
      numel *= d;
      p = end;
      while (*p == ',' || *p == ' ') ++p;
    }
    total += numel * static_cast<int64_t>(md.options().dtype().itemsize());
  }
  return total;
}

// What a backstopped tensor's autograd graph holds beyond the tensors that JS can see. libtorch
// (like PyTorch) keeps about the size of the forward activations alive for as long as an output of
// the graph lives, even after backward: an MLP loop that drops its loss and logits without scope()
// held ~180 KB a step at width 256, reported as ~3 KB before this estimate. Walks up to 64 nodes
// back from the tensor's grad_fn, counting the outputs of nodes that depend on other computed
// tensors (activations; not functions of parameters only, such as W.t(), nor the parameters), and
// stops at nodes that an earlier backstopped tensor has counted, so that each node is reported once.
static int64_t graph_estimate(Instance& in, const at::Tensor& t) {
  using torch::autograd::AccumulateGrad;
  using torch::autograd::Node;
  if (!t.grad_fn()) return 0;
  int64_t total = 0;
  std::vector<NodePtr> todo{t.grad_fn()};
  size_t done = 0;
  for (size_t k = 0; k < todo.size() && done < 64; ++k) {
    const NodePtr n = todo[k];  // a copy: push_back below may move the vector
    auto it = in.counted_nodes.find(n.get());
    if (it != in.counted_nodes.end() && !it->second.expired()) continue;
    in.counted_nodes.insert_or_assign(n.get(), NodePointers<NodePtr>::weak(n));
    ++done;
    bool activation = false;
    for (const auto& e : n->next_edges()) {
      if (!e.function || dynamic_cast<AccumulateGrad*>(e.function.get())) continue;
      activation = true;
      todo.push_back(e.function);
    }
    if (activation && k > 0) total += node_output_bytes(*n);  // the root's output is t, reported as its storage
  }
  return total;
}

static void prune_counted_nodes(Instance& in) {
  for (auto it = in.counted_nodes.begin(); it != in.counted_nodes.end();) {
    if (it->second.expired()) it = in.counted_nodes.erase(it);
    else ++it;
  }
  in.counted_after_prune = in.counted_nodes.size();
}

static int64_t external_estimate(Instance& in, const at::Tensor& t, int64_t bytes) {
  int64_t data = bytes;
  if (t.has_storage()) data = std::max<int64_t>(data, static_cast<int64_t>(t.storage().nbytes()));
  int64_t r = data + kTensorOverhead;
  if (t.requires_grad()) r += kGraphOverhead + graph_estimate(in, t);
  if (in.counted_nodes.size() > std::max<size_t>(4096, 2 * in.counted_after_prune)) prune_counted_nodes(in);
  return r;
}

// Frees the slots in one watched list whose JS object a collection has cleared.
static void sweep_list(Instance& in, uint8_t which) {
  std::vector<uint32_t>& list = in.watched[which];
  for (size_t k = 0; k < list.size();) {
    napi_handle_scope hs;
    if (napi_open_handle_scope(in.env, &hs) != napi_ok) return;
    for (size_t n = 0; n < 1024 && k < list.size(); ++n) {
      uint32_t id = list[k];
      napi_value v = nullptr;
      if (napi_get_reference_value(in.env, in.slots[id].owner, &v) == napi_ok && v) {
        ++k;
      } else {
        free_slot(in, id);  // swap-removes list[k]: look at k again
      }
    }
    napi_close_handle_scope(in.env, hs);
  }
}

static void sweep_young(Instance& in) {
  in.gc_seen = false;
  sweep_list(in, kYoung);
  in.young_after_sweep = in.watched[kYoung].size();
  in.added_since_sweep = 0;
  in.external_since_sweep = 0;
}

static void sweep_all(Instance& in) {
  in.gc_seen_old = false;
  sweep_list(in, kOld);
  sweep_young(in);
  in.all_after_sweep = in.watched[kOld].size() + in.watched[kYoung].size();
  in.added_since_full = 0;
}

// Between jobs, when enough was added since the last full sweep that it costs O(1) per tensor.
static void maybe_sweep_all(Instance& in) {
  if (in.gc_seen_old && in.added_since_full > 0 && 4 * in.added_since_full >= in.all_after_sweep) sweep_all(in);
}

static void canary_finalize(napi_env, void* data, void*) {
  CanaryToken* tok = static_cast<CanaryToken*>(data);
  Instance* in = tok->in;
  if (in) {
    auto& ts = in->canary_tokens;
    ts.erase(std::remove(ts.begin(), ts.end(), tok), ts.end());
  }
  delete tok;
  // Runs from the event loop after a collection.
  if (in) {
    in->gc_seen = in->gc_seen_old = true;
    maybe_sweep_all(*in);
  }
}

// Notes that a collection happened if the canary died; makes a new one.
static void check_canary(Instance& in) {
  if (in.canary) {
    napi_value v = nullptr;
    if (napi_get_reference_value(in.env, in.canary, &v) == napi_ok && v) return;
    napi_delete_reference(in.env, in.canary);
    in.canary = nullptr;
    in.gc_seen = in.gc_seen_old = true;
  }
  auto* tok = new CanaryToken{&in};
  napi_value obj;
  if (napi_create_external(in.env, tok, canary_finalize, nullptr, &obj) != napi_ok) {
    delete tok;
    return;
  }
  in.canary_tokens.push_back(tok);
  napi_create_reference(in.env, obj, 0, &in.canary);
}

// BackstopEpoch(): the synchronous job that backstopped the young tensors has ended (memory.ts
// calls it from a microtask). Within a job, sweeps look only at the tensors backstopped during it, so
// that tensors dropped earlier are not freed in the middle of synchronous code that counts live
// tensors (a test comparing memory() before and after); between jobs, everything is swept.
static Napi::Value BackstopEpoch(const Napi::CallbackInfo& info) {
  HAND_TRY
  Instance& in = instance(info.Env());
  check_canary(in);
  maybe_sweep_all(in);
  for (uint32_t id : in.watched[kYoung]) {
    Slot& s = in.slots[id];
    s.watch_list = kOld;
    s.watch_pos = static_cast<uint32_t>(in.watched[kOld].size());
    in.watched[kOld].push_back(id);
  }
  in.watched[kYoung].clear();
  in.young_after_sweep = 0;
  in.added_since_sweep = 0;
  in.external_since_sweep = 0;
  return info.Env().Undefined();
  HAND_CATCH("BackstopEpoch")
}

// Backstop(id, tensorObject): the JS object owning this handle is now left to the garbage collector.
static Napi::Value Backstop(const Napi::CallbackInfo& info) {
  HAND_TRY
  Napi::Env env = info.Env();
  double d = arg_double(info, 0);
  if (!present(info, 1) || !info[1].IsObject()) throw_type(env, 1, "the Tensor object that owns the handle");
  Instance& in = instance(env);
  uint32_t id = slot_of(in, d);
  if (!id || in.slots[id].owner) return env.Undefined();
  Slot& s = in.slots[id];
  if (napi_create_reference(env, info[1], 0, &s.owner) != napi_ok) throw Napi::Error::New(env, "Backstop: cannot reference the tensor object");
  s.watch_list = kYoung;
  s.watch_pos = static_cast<uint32_t>(in.watched[kYoung].size());
  in.watched[kYoung].push_back(id);
  s.external = external_estimate(in, s.t, s.bytes);
  int64_t ignored;
  napi_adjust_external_memory(env, s.external, &ignored);
  in.added_since_sweep += 1;
  in.added_since_full += 1;
  in.external_since_sweep += s.external;
  check_canary(in);
  if (in.gc_seen && (in.added_since_sweep >= std::max(kMinSweepCount, in.young_after_sweep / 2) ||
                     in.external_since_sweep >= kSweepBytes)) {
    sweep_young(in);
  }
  return env.Undefined();
  HAND_CATCH("Backstop")
}

// ---------------------------------------------------------------- runtime
// memory() is per thread: each worker has its own tensors. It frees nothing itself, so that two
// calls in a row within synchronous code agree; tensors the garbage collector has found unreachable
// count as live until the next sweep.
static Napi::Value Memory(const Napi::CallbackInfo& info) {
  HAND_TRY
  Napi::Env env = info.Env();
  bool reset = present(info, 0) && arg_bool(info, 0);
  Instance& in = instance(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("liveTensors", Napi::Number::New(env, static_cast<double>(in.live)));
  o.Set("liveBytes", Napi::Number::New(env, static_cast<double>(in.bytes)));
  o.Set("peakBytes", Napi::Number::New(env, static_cast<double>(in.peak)));
  o.Set("backstopTensors", Napi::Number::New(env, static_cast<double>(in.watched[kYoung].size() + in.watched[kOld].size())));
  o.Set("processLiveTensors", Napi::Number::New(env, static_cast<double>(g_process_live.load())));
  o.Set("processLiveBytes", Napi::Number::New(env, static_cast<double>(g_process_bytes.load())));
  if (reset) in.peak = in.bytes;
  return o;
  HAND_CATCH("memory")
}

// Intra-op threads. More threads than cores only add contention to compute-bound kernels, and a
// huge count makes libgomp allocate per-thread state up front (1e9 threads: a 224 GB allocation that
// ends the process; 1,000: a minute to start them on 2 cores). The bound allows 4x oversubscription
// (hyperthreads, a configuration written for a larger machine), and at least 16.
static int available_cores() {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}
static int max_threads() { return std::max(16, 4 * available_cores()); }
static std::string threads_range() {
  return "an integer from 1 to " + std::to_string(max_threads()) + " (4 per available core, at least 16; this machine has " +
         std::to_string(available_cores()) + " cores)";
}

static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  HAND_TRY
  Napi::Env env = info.Env();
  if (!present(info, 0) || !info[0].IsNumber()) throw Napi::TypeError::New(env, "setNumThreads(n): n must be " + threads_range());
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= max_threads()) || n != std::trunc(n)) {
    std::ostringstream m;
    m << "setNumThreads(n): n must be " << threads_range() << ", got " << n;
    throw Napi::RangeError::New(env, m.str());
  }
  at::set_num_threads(static_cast<int>(n));
  return env.Undefined();
  HAND_CATCH("setNumThreads")
}
static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}
static Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::hasCUDA() ? static_cast<double>(at::getNumGPUs()) : 0.0);
}

// ---------------------------------------------------------------- libtorch's warnings and logging
// TORCH_WARN from an op called on a JS thread becomes process.emitWarning(msg, 'TorchWarning'), as a
// Python user sees a UserWarning: once per distinct message and thread (Python's default filter shows
// one per code location), filterable with Node's --no-warnings. Elsewhere (libtorch's own threads) it
// goes to stderr.
static thread_local Instance* t_instance = nullptr;

struct JsWarningHandler : public c10::WarningHandler {
#if TORCH_VERSION_MAJOR >= 2
  void process(const c10::Warning& w) override { show(w.msg()); }
#else
  void process(const c10::SourceLocation&, const std::string& msg, const bool) override { show(msg); }
#endif
  static void show(const std::string& msg) {
    Instance* in = t_instance;
    if (in && !in->warned.insert(msg).second) return;
    if (in && in->warned.size() > 4096) in->warned.clear();  // bounded: a message seen long ago may show again
    if (in && emit(in->env, msg)) return;
    std::fprintf(stderr, "TorchWarning: %s\n", msg.c_str());
  }
  static bool emit(napi_env env, const std::string& msg) {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) != napi_ok || pending) return false;
    napi_handle_scope hs;
    if (napi_open_handle_scope(env, &hs) != napi_ok) return false;
    napi_value global, process, emit_fn, args[2], result;
    bool ok = napi_get_global(env, &global) == napi_ok && napi_get_named_property(env, global, "process", &process) == napi_ok &&
              napi_get_named_property(env, process, "emitWarning", &emit_fn) == napi_ok &&
              napi_create_string_utf8(env, msg.data(), msg.size(), &args[0]) == napi_ok &&
              napi_create_string_utf8(env, "TorchWarning", NAPI_AUTO_LENGTH, &args[1]) == napi_ok;
    napi_valuetype type = napi_undefined;
    if (ok) ok = napi_typeof(env, emit_fn, &type) == napi_ok && type == napi_function;
    if (ok && napi_call_function(env, process, emit_fn, 2, args, &result) != napi_ok) {
      napi_value e;  // a warning must never become an exception in the op that raised it
      napi_get_and_clear_last_exception(env, &e);
    }
    napi_close_handle_scope(env, hs);
    return ok;
  }
};
static JsWarningHandler g_warning_handler;

// Debian's libtorch logs through glog, which prints "WARNING: Logging before InitGoogleLogging() is
// written to STDERR" before its first message. Initialise it (to stderr only, as uninitialised glog
// logs, so no log files) unless someone has. Looked up at run time: other libtorch builds have no
// glog, and linking it would tie the addon to one glog version.
static void init_glog() {
  Dl_info dli;
#if TORCH_VERSION_MAJOR >= 2
  if (!dladdr(reinterpret_cast<void*>(&c10::WarningUtils::get_warning_handler), &dli) || !dli.dli_fname) return;
#else
  if (!dladdr(reinterpret_cast<void*>(&c10::Warning::get_warning_handler), &dli) || !dli.dli_fname) return;
#endif
  void* c10 = dlopen(dli.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  if (!c10) return;
  using IsInit = bool (*)();
  auto is_init = reinterpret_cast<IsInit>(dlsym(c10, "_ZN6google26IsGoogleLoggingInitializedEv"));  // glog >= 0.6
  if (!is_init) is_init = reinterpret_cast<IsInit>(dlsym(c10, "_ZN6google24glog_internal_namespace_26IsGoogleLoggingInitializedEv"));
  auto init = reinterpret_cast<void (*)(const char*)>(dlsym(c10, "_ZN6google17InitGoogleLoggingEPKc"));
  auto to_stderr = reinterpret_cast<bool*>(dlsym(c10, "_ZN3fLB17FLAGS_logtostderrE"));
  if (is_init && init && to_stderr && !is_init()) {
    *to_stderr = true;
    init("refinery");
  }
  dlclose(c10);
}

// Once per process, whichever thread loads the addon first.
static void init_process() {
#ifdef __GLIBC__
  // Tensor buffers of a few hundred KB are allocated and freed every step. Under Node, glibc keeps
  // serving them with fresh mmaps (a page fault per 4 KB touched: ~1.7x the faults of the same loop
  // in Python, and 5-15% slower steps); pin the thresholds where glibc's own dynamic adjustment ends
  // up (32 MB mmap, 64 MB trim) so that freed buffers are reused. REFINERY_MALLOC_TUNING=0 disables.
  const char* mt = std::getenv("REFINERY_MALLOC_TUNING");
  if (!mt || std::string(mt) != "0") {
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
  }
#endif
  init_glog();
  // One inter-op thread: JS drives the work.
  try {
    at::set_num_interop_threads(1);
  } catch (...) {
  }
}

// When a worker thread ends (or the main thread exits normally): free its tensors and references.
// Node runs cleanup hooks in reverse order of registration, so this runs before Node-API deletes the
// environment's remaining references (and calls pending finalizers, which must not see the Instance).
static void cleanup_instance(void* arg) {
  Instance* in = static_cast<Instance*>(arg);
  for (CanaryToken* tok : in->canary_tokens) tok->in = nullptr;
  if (in->canary) napi_delete_reference(in->env, in->canary);
  for (Slot& s : in->slots) {
    if (s.owner) napi_delete_reference(in->env, s.owner);
    s.owner = nullptr;
  }
  std::vector<Slot> slots;
  slots.swap(in->slots);
  slots.clear();  // graph nodes with JS callbacks delete their function references here
  g_process_live.fetch_sub(in->live, std::memory_order_relaxed);
  g_process_bytes.fetch_sub(in->bytes, std::memory_order_relaxed);
  in->gens.clear();
  if (t_instance == in) t_instance = nullptr;
  napi_set_instance_data(in->env, nullptr, nullptr, nullptr);
  delete in;
}

void register_distributed(Napi::Env env, Napi::Object exports);  // distributed.cc

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, init_process);
  // Intra-op threads: REFINERY_NUM_THREADS, else all available cores.
  const char* nt = std::getenv("REFINERY_NUM_THREADS");
  int threads = available_cores();
  if (nt && *nt) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(nt, &end, 10);
    if (errno || end == nt || *end || v < 1 || v > max_threads()) {
      throw Napi::RangeError::New(env, std::string("REFINERY_NUM_THREADS=") + nt + ": expected " + threads_range());
    }
    threads = static_cast<int>(v);
  }
  // Only the first environment sets it: a worker's threads follow what the process set last
  // (libtorch gives each thread the current count at its first parallel op).
  static std::atomic<bool> threads_set{false};
  if (!threads_set.exchange(true)) at::set_num_threads(threads);
  uint64_t tag = g_next_tag.fetch_add(1);
  if (tag >= kTagLimit) throw Napi::Error::New(env, "refinery: too many Node environments (worker threads) in this process");
  Instance* in = new Instance();
  in->env = env;
  in->tag = tag;
  in->thread = std::this_thread::get_id();
  if (napi_set_instance_data(env, in, nullptr, nullptr) != napi_ok) {
    delete in;
    throw Napi::Error::New(env, "refinery: cannot set the addon's per-thread data");
  }
  napi_add_env_cleanup_hook(env, cleanup_instance, in);
  t_instance = in;
#if TORCH_VERSION_MAJOR >= 2
  c10::WarningUtils::set_warning_handler(&g_warning_handler);
#else
  c10::Warning::set_warning_handler(&g_warning_handler);
#endif
  Napi::Array table = Napi::Array::New(env, refinery_ops::kNumOps);
  refinery_ops::register_all(env, table);
  exports.Set("ops", table);
  exports.Set("opsHash", Napi::String::New(env, refinery_ops::kOpsHash));
#define EXPORT(name) exports.Set(#name, Napi::Function::New(env, name, #name))
  EXPORT(Free); EXPORT(Backstop); EXPORT(BackstopEpoch); EXPORT(Share); EXPORT(FromBytes); EXPORT(ToBytes); EXPORT(ScalarTensor); EXPORT(Item);
  EXPORT(Meta); EXPORT(Shape); EXPORT(Strides); EXPORT(Dtype); EXPORT(Dim); EXPORT(Numel);
  EXPORT(RequiresGrad); EXPORT(IsLeaf); EXPORT(GradFnName); EXPORT(Grad); EXPORT(SetGrad); EXPORT(SetData); EXPORT(RetainGrad);
  EXPORT(SetGradEnabled); EXPORT(Backward); EXPORT(AutogradGrad); EXPORT(CustomFunction);
  EXPORT(GeneratorNew); EXPORT(GeneratorDefault); EXPORT(GeneratorDevice); EXPORT(GeneratorFree); EXPORT(GeneratorSeed); EXPORT(GeneratorGetState); EXPORT(GeneratorSetState);
  EXPORT(Memory); EXPORT(SetNumThreads); EXPORT(GetNumThreads); EXPORT(CudaDeviceCount);
#undef EXPORT
  register_distributed(env, exports);
  exports.Set("torchVersion", Napi::String::New(env, std::to_string(TORCH_VERSION_MAJOR) + "." +
                                                       std::to_string(TORCH_VERSION_MINOR) + "." +
                                                       std::to_string(TORCH_VERSION_PATCH)));
  return exports;
}

}  // namespace refinery

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return refinery::Init(env, exports); }
NODE_API_MODULE(refinery, InitAddon)
