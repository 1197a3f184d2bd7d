// Hand-written part of the addon: the handle table, data in and out, autograd entry points,
// custom autograd functions with TS callbacks, generators, threads and memory statistics.
// Everything else is generated (native/generated/ops_*.cc).
#include "convert.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/variable.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cstdlib>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstring>
#include <sstream>

#include "../generated/ops.h"

namespace refinery {

// ---------------------------------------------------------------- handle table
struct Slot {
  at::Tensor t;
  int64_t bytes = 0;
  // Reported to V8 as external memory: only tensors left to the GC backstop are, so that
  // scope-managed ones (freed deterministically) do not provoke useless full collections.
  bool accounted = false;
};
static std::vector<Slot> g_slots(1);  // id 0 is never used, so a zeroed handle is invalid
static std::vector<uint32_t> g_free;
static int64_t g_live = 0, g_bytes = 0, g_peak = 0;

static int64_t tensor_bytes(const at::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size()) : 0;
}

uint32_t put_tensor(napi_env env, at::Tensor t) {
  uint32_t id;
  if (!g_free.empty()) {
    id = g_free.back();
    g_free.pop_back();
  } else {
    id = static_cast<uint32_t>(g_slots.size());
    g_slots.emplace_back();
  }
  Slot& s = g_slots[id];
  s.bytes = tensor_bytes(t);
  s.t = std::move(t);
  s.accounted = false;
  g_live += 1;
  g_bytes += s.bytes;
  if (g_bytes > g_peak) g_peak = g_bytes;
  return id;
}

static bool valid_id(double d) {
  if (!(d >= 1 && d < static_cast<double>(g_slots.size()))) return false;
  uint32_t id = static_cast<uint32_t>(d);
  return id == d && g_slots[id].t.defined();
}

const at::Tensor& get_tensor(const Napi::Env& env, const Napi::Value& v, size_t argi) {
  if (!v.IsNumber()) throw_type(env, argi, "a Tensor");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!valid_id(d)) {
    std::ostringstream m;
    m << "argument " << argi << ": tensor handle " << d << " is not live (was the tensor disposed?)";
    throw Napi::Error::New(env, m.str());
  }
  return g_slots[static_cast<uint32_t>(d)].t;
}

static void free_tensor(napi_env env, uint32_t id) {
  Slot& s = g_slots[id];
  int64_t bytes = s.bytes;
  bool accounted = s.accounted;
  s.t = at::Tensor();
  s.bytes = 0;
  s.accounted = false;
  g_live -= 1;
  g_bytes -= bytes;
  g_free.push_back(id);
  int64_t ignored;
  if (accounted) napi_adjust_external_memory(env, -bytes, &ignored);
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

std::string describe_tensor_id(double id) {
  if (!valid_id(id)) return "<disposed tensor>";
  return shape_str(g_slots[static_cast<uint32_t>(id)].t);
}

// ---------------------------------------------------------------- errors
static std::string describe_value(const Napi::Value& v, const std::string& kind) {
  if (v.IsUndefined()) return "default";
  if (v.IsNull()) return "None";
  if (kind[0] == 'T' && kind != "TO") {
    if (v.IsNumber()) return describe_tensor_id(v.As<Napi::Number>().DoubleValue());
    if (v.IsArray()) {
      Napi::Array a = v.As<Napi::Array>();
      std::string s = "[";
      for (uint32_t k = 0; k < a.Length() && k < 8; ++k) {
        Napi::Value e = a.Get(k);
        s += (k ? ", " : "") + (e.IsNumber() ? describe_tensor_id(e.As<Napi::Number>().DoubleValue()) : "None");
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
      m << (i ? ", " : "") << name << "=" << describe_value(info[i], kind);
    }
    ++i;
  }
  std::string reason = what;
  auto cut = reason.find("\nException raised from");
  if (cut != std::string::npos) reason = reason.substr(0, cut);
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
static std::vector<c10::optional<at::Generator>> g_gens;

at::Generator get_generator(const Napi::Env& env, const Napi::Value& v, size_t argi) {
  if (!v.IsNumber()) throw_type(env, argi, "a Generator");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d == 0) return at::detail::getDefaultCPUGenerator();
  if (!(d >= 1 && d < g_gens.size()) || !g_gens[static_cast<size_t>(d)]) {
    throw Napi::Error::New(env, "argument " + std::to_string(argi) + ": generator was disposed");
  }
  return *g_gens[static_cast<size_t>(d)];
}

static Napi::Value GeneratorNew(const Napi::CallbackInfo& info) {
  int64_t seed = arg_int(info, 0);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  if (g_gens.empty()) g_gens.emplace_back();  // index 0 = default generator
  g_gens.emplace_back(gen);
  return Napi::Number::New(info.Env(), static_cast<double>(g_gens.size() - 1));
}
static Napi::Value GeneratorFree(const Napi::CallbackInfo& info) {
  double d = arg_double(info, 0);
  if (d >= 1 && d < g_gens.size()) g_gens[static_cast<size_t>(d)] = c10::nullopt;
  return info.Env().Undefined();
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
// Backstop(id): the JS object owning this handle is now left to the garbage collector.
static Napi::Value Backstop(const Napi::CallbackInfo& info) {
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (valid_id(d)) {
    Slot& s = g_slots[static_cast<uint32_t>(d)];
    if (!s.accounted && s.bytes > 4096) {
      s.accounted = true;
      int64_t ignored;
      napi_adjust_external_memory(info.Env(), s.bytes, &ignored);
    }
  }
  return info.Env().Undefined();
}

static Napi::Value Free(const Napi::CallbackInfo& info) {
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (valid_id(d)) free_tensor(info.Env(), static_cast<uint32_t>(d));
  return info.Env().Undefined();
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
  int64_t numel = 1;
  for (int64_t s : shape) {
    if (s < 0) throw Napi::RangeError::New(env, "fromBytes: negative dimension in shape");
    numel *= s;
  }
  size_t need_bytes = static_cast<size_t>(numel) * c10::elementSize(st);
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
  std::string name() const override { return label; }
  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    Napi::Env env = fn.Env();
    Napi::HandleScope hs(env);
    Napi::Array ids = Napi::Array::New(env, grads.size());
    for (uint32_t k = 0; k < grads.size(); ++k) ids.Set(k, to_js(env, grads[k]));
    Napi::Value r = fn.Call({ids});
    torch::autograd::variable_list out(n_inputs);
    if (!r.IsArray()) throw std::runtime_error(label + ": backward must return an array of gradients");
    Napi::Array ra = r.As<Napi::Array>();
    for (uint32_t k = 0; k < n_inputs && k < ra.Length(); ++k) {
      Napi::Value e = ra.Get(k);
      if (e.IsNumber() && valid_id(e.As<Napi::Number>().DoubleValue())) {
        uint32_t id = static_cast<uint32_t>(e.As<Napi::Number>().DoubleValue());
        out[k] = g_slots[id].t;
        free_tensor(env, id);  // handed over by the TS trampoline
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
  Napi::Array out_ids = info[3].As<Napi::Array>();
  bool any = false;
  for (auto& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any || !c10::GradMode::is_enabled()) return env.Undefined();
  std::shared_ptr<JsBackward> node(new JsBackward(), torch::autograd::deleteNode);
  node->fn = Napi::Persistent(info[1].As<Napi::Function>());
  node->label = label;
  node->n_inputs = inputs.size();
  node->set_next_edges(torch::autograd::collect_next_edges(inputs));
  for (uint32_t k = 0; k < out_ids.Length(); ++k) {
    double d = out_ids.Get(k).As<Napi::Number>().DoubleValue();
    if (!valid_id(d)) throw Napi::Error::New(env, label + ": output " + std::to_string(k) + " is not a live tensor");
    Slot& s = g_slots[static_cast<uint32_t>(d)];
    at::Tensor out = s.t.detach();  // a fresh autograd identity sharing the data
    torch::autograd::create_gradient_edge(out, node);
    s.t = out;
  }
  return env.Undefined();
  HAND_CATCH("customFunction")
}

// ---------------------------------------------------------------- runtime
static Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveTensors", Napi::Number::New(info.Env(), static_cast<double>(g_live)));
  o.Set("liveBytes", Napi::Number::New(info.Env(), static_cast<double>(g_bytes)));
  o.Set("peakBytes", Napi::Number::New(info.Env(), static_cast<double>(g_peak)));
  if (present(info, 0) && arg_bool(info, 0)) g_peak = g_bytes;
  return o;
}
static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  HAND_TRY
  int64_t n = arg_int(info, 0);
  if (n < 1) throw Napi::RangeError::New(info.Env(), "setNumThreads: n must be >= 1");
  at::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
  HAND_CATCH("setNumThreads")
}
static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}
static Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::hasCUDA() ? static_cast<double>(at::getNumGPUs()) : 0.0);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
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
  // Intra-op threads: REFINERY_NUM_THREADS, else all cores. One inter-op thread: JS drives the work.
  const char* nt = std::getenv("REFINERY_NUM_THREADS");
  int threads = nt ? std::atoi(nt) : 0;
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  if (threads > 0) at::set_num_threads(threads);
  try {
    at::set_num_interop_threads(1);
  } catch (...) {
  }
  Napi::Array table = Napi::Array::New(env, refinery_ops::kNumOps);
  refinery_ops::register_all(env, table);
  exports.Set("ops", table);
  exports.Set("opsHash", Napi::String::New(env, refinery_ops::kOpsHash));
#define EXPORT(name) exports.Set(#name, Napi::Function::New(env, name, #name))
  EXPORT(Free); EXPORT(Backstop); EXPORT(Share); EXPORT(FromBytes); EXPORT(ToBytes); EXPORT(ScalarTensor); EXPORT(Item);
  EXPORT(Meta); EXPORT(Shape); EXPORT(Strides); EXPORT(Dtype); EXPORT(Dim); EXPORT(Numel);
  EXPORT(RequiresGrad); EXPORT(IsLeaf); EXPORT(GradFnName); EXPORT(Grad); EXPORT(SetGrad); EXPORT(RetainGrad);
  EXPORT(SetGradEnabled); EXPORT(Backward); EXPORT(AutogradGrad); EXPORT(CustomFunction);
  EXPORT(GeneratorNew); EXPORT(GeneratorFree); EXPORT(GeneratorSeed); EXPORT(GeneratorGetState); EXPORT(GeneratorSetState);
  EXPORT(Memory); EXPORT(SetNumThreads); EXPORT(GetNumThreads); EXPORT(CudaDeviceCount);
#undef EXPORT
  exports.Set("torchVersion", Napi::String::New(env, std::to_string(TORCH_VERSION_MAJOR) + "." +
                                                       std::to_string(TORCH_VERSION_MINOR) + "." +
                                                       std::to_string(TORCH_VERSION_PATCH)));
  return exports;
}

}  // namespace refinery

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return refinery::Init(env, exports); }
NODE_API_MODULE(refinery, InitAddon)
