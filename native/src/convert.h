// Argument conversion between JS values and ATen types, shared by the generated op files.
// Conventions (mirrored by src/tensor/dispatch.ts): a tensor crosses as its handle id (a number),
// optional values as null/undefined, dtypes and memory formats as their c10 enum codes,
// devices as strings ("cpu", "cuda:0"), tensor options as [dtypeCode|null, device|null].
#pragma once
#define NAPI_VERSION 8
#include <napi.h>
#include <ATen/ATen.h>
#include <array>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

namespace refinery {

// ---- handle table: every JS tensor owns exactly one slot ----
double put_tensor(napi_env env, at::Tensor t);
const at::Tensor& get_tensor(const Napi::Env& env, const Napi::Value& v, size_t argi);
at::Generator get_generator(const Napi::Env& env, const Napi::Value& v, size_t argi);
std::string describe_tensor_id(napi_env env, double id);

[[noreturn]] void throw_op_error(const Napi::CallbackInfo& info, const char* op, const char* kinds,
                                 const std::string& what);
[[noreturn]] void throw_type(const Napi::Env& env, size_t argi, const char* expected);

inline bool present(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() && !info[i].IsUndefined();
}
inline bool nullish(const Napi::CallbackInfo& info, size_t i) {
  return i >= info.Length() || info[i].IsUndefined() || info[i].IsNull();
}
inline const Napi::Value need(const Napi::CallbackInfo& info, size_t i, const char* expected) {
  if (i >= info.Length() || info[i].IsUndefined()) throw_type(info.Env(), i, expected);
  return info[i];
}

// By value, not a reference into the handle table: converting a later argument can run JS (an
// array element getter) that frees this handle or grows the table.
inline at::Tensor arg_tensor(const Napi::CallbackInfo& info, size_t i) {
  return get_tensor(info.Env(), need(info, i, "a Tensor"), i);
}
inline c10::optional<at::Tensor> arg_opt_tensor(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  return get_tensor(info.Env(), info[i], i);
}
inline std::vector<at::Tensor> arg_tensor_list(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = need(info, i, "an array of Tensors");
  if (!v.IsArray()) throw_type(info.Env(), i, "an array of Tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) out.push_back(get_tensor(info.Env(), a.Get(k), i));
  return out;
}
inline c10::List<c10::optional<at::Tensor>> arg_opt_tensor_clist(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = need(info, i, "an array of Tensors or nulls");
  if (!v.IsArray()) throw_type(info.Env(), i, "an array of Tensors or nulls");
  Napi::Array a = v.As<Napi::Array>();
  c10::List<c10::optional<at::Tensor>> out;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value e = a.Get(k);
    if (e.IsNull() || e.IsUndefined()) out.push_back(c10::nullopt);
    else out.push_back(get_tensor(info.Env(), e, i));
  }
  return out;
}

inline int64_t to_int(const Napi::Env& env, const Napi::Value& v, size_t i) {
  if (v.IsBigInt()) {
    bool lossless;
    int64_t r = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) throw_type(env, i, "an integer in the int64 range");
    return r;
  }
  if (!v.IsNumber()) throw_type(env, i, "an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  // range first: casting NaN, infinities or values beyond int64 to int64_t is undefined behaviour
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != std::trunc(d)) throw_type(env, i, "an integer");
  return static_cast<int64_t>(d);
}
inline int64_t arg_int(const Napi::CallbackInfo& info, size_t i) {
  return to_int(info.Env(), need(info, i, "an integer"), i);
}
inline c10::optional<int64_t> arg_opt_int(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  return to_int(info.Env(), info[i], i);
}
// int[N] accepts one integer and repeats it N times, as PyTorch does. For N >= 2 (kernel sizes,
// strides, paddings, output sizes) ATen's kernels index the list without checking its length, so
// a one-element array is repeated too and any other length but N is refused; an empty list only
// where the schema's default is [] (allow_empty: the pooling strides, where [] means "the kernel size").
inline std::vector<int64_t> arg_int_list(const Napi::CallbackInfo& info, size_t i, size_t n, bool allow_empty = true) {
  Napi::Value v = need(info, i, "an integer or array of integers");
  if (v.IsNumber() || v.IsBigInt()) return std::vector<int64_t>(n ? n : 1, to_int(info.Env(), v, i));
  if (!v.IsArray()) throw_type(info.Env(), i, "an integer or array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) out[k] = to_int(info.Env(), a.Get(k), i);
  if (n >= 2 && out.size() != n) {
    if (out.size() == 1) {
      out.assign(n, out[0]);
    } else if (!(out.empty() && allow_empty)) {
      std::string expected = "an integer or an array of " + std::to_string(n) + " integers";
      if (allow_empty) expected += " (or [])";
      throw_type(info.Env(), i, expected.c_str());
    }
  }
  return out;
}
inline c10::optional<std::vector<int64_t>> arg_opt_int_list(const Napi::CallbackInfo& info, size_t i, size_t n) {
  if (nullish(info, i)) return c10::nullopt;
  return arg_int_list(info, i, n);
}

inline double to_double(const Napi::Env& env, const Napi::Value& v, size_t i) {
  if (!v.IsNumber()) throw_type(env, i, "a number");
  return v.As<Napi::Number>().DoubleValue();
}
inline double arg_double(const Napi::CallbackInfo& info, size_t i) {
  return to_double(info.Env(), need(info, i, "a number"), i);
}
inline c10::optional<double> arg_opt_double(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  return to_double(info.Env(), info[i], i);
}
inline c10::optional<std::vector<double>> arg_opt_double_list(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  if (info[i].IsNumber()) return std::vector<double>{to_double(info.Env(), info[i], i)};
  if (!info[i].IsArray()) throw_type(info.Env(), i, "an array of numbers");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<double> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) out[k] = to_double(info.Env(), a.Get(k), i);
  return out;
}

inline bool arg_bool(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = need(info, i, "a boolean");
  if (!v.IsBoolean()) throw_type(info.Env(), i, "a boolean");
  return v.As<Napi::Boolean>().Value();
}
inline c10::optional<bool> arg_opt_bool(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  return arg_bool(info, i);
}
template <size_t N>
inline std::array<bool, N> arg_bool_array(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = need(info, i, "an array of booleans");
  if (!v.IsArray() || v.As<Napi::Array>().Length() != N) throw_type(info.Env(), i, "an array of booleans of the right length");
  std::array<bool, N> out;
  for (uint32_t k = 0; k < N; ++k) {
    Napi::Value e = v.As<Napi::Array>().Get(k);
    if (!e.IsBoolean()) throw_type(info.Env(), i, "an array of booleans");
    out[k] = e.As<Napi::Boolean>().Value();
  }
  return out;
}

// JS numbers that are integers become integral Scalars (so int tensors stay int), others double.
inline at::Scalar to_scalar(const Napi::Env& env, const Napi::Value& v, size_t i) {
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsBigInt()) return at::Scalar(to_int(env, v, i));
  if (!v.IsNumber()) throw_type(env, i, "a number or boolean");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::abs(d) < 9007199254740992.0 && d == static_cast<double>(static_cast<int64_t>(d)))
    return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}
inline at::Scalar arg_scalar(const Napi::CallbackInfo& info, size_t i) {
  return to_scalar(info.Env(), need(info, i, "a number or boolean"), i);
}
inline c10::optional<at::Scalar> arg_opt_scalar(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  return to_scalar(info.Env(), info[i], i);
}
inline std::vector<at::Scalar> arg_scalar_list(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = need(info, i, "an array of numbers");
  if (!v.IsArray()) throw_type(info.Env(), i, "an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Scalar> out;
  out.reserve(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) out.push_back(to_scalar(info.Env(), a.Get(k), i));
  return out;
}

inline at::ScalarType to_scalar_type(const Napi::Env& env, const Napi::Value& v, size_t i) {
  if (!v.IsNumber()) throw_type(env, i, "a dtype");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d < static_cast<double>(at::ScalarType::Undefined)) || d != std::trunc(d)) throw_type(env, i, "a dtype");
  return static_cast<at::ScalarType>(static_cast<int32_t>(d));
}
inline at::ScalarType arg_scalar_type(const Napi::CallbackInfo& info, size_t i) {
  return to_scalar_type(info.Env(), need(info, i, "a dtype"), i);
}
inline c10::optional<at::ScalarType> arg_opt_scalar_type(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  return to_scalar_type(info.Env(), info[i], i);
}

inline std::string arg_string(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = need(info, i, "a string");
  if (!v.IsString()) throw_type(info.Env(), i, "a string");
  return v.As<Napi::String>().Utf8Value();
}
inline c10::optional<std::string> arg_opt_string(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  return arg_string(info, i);
}

inline c10::optional<at::Generator> arg_opt_generator(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  return get_generator(info.Env(), info[i], i);
}

inline at::MemoryFormat arg_memory_format(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = need(info, i, "a memory format");
  if (!v.IsNumber()) throw_type(info.Env(), i, "a memory format");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d < static_cast<double>(at::MemoryFormat::NumOptions)) || d != std::trunc(d)) throw_type(info.Env(), i, "a memory format");
  return static_cast<at::MemoryFormat>(static_cast<int32_t>(d));
}
inline c10::optional<at::MemoryFormat> arg_opt_memory_format(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  return arg_memory_format(info, i);
}

inline at::Device to_device(const Napi::Env& env, const Napi::Value& v, size_t i) {
  if (!v.IsString()) throw_type(env, i, "a device string such as \"cpu\" or \"cuda:0\"");
  return at::Device(v.As<Napi::String>().Utf8Value());
}
inline at::Device arg_device(const Napi::CallbackInfo& info, size_t i) {
  return to_device(info.Env(), need(info, i, "a device"), i);
}
inline c10::optional<at::Device> arg_opt_device(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  return to_device(info.Env(), info[i], i);
}
inline c10::optional<at::Layout> arg_opt_layout(const Napi::CallbackInfo& info, size_t i) {
  if (nullish(info, i)) return c10::nullopt;
  throw_type(info.Env(), i, "null (only the strided layout is supported)");
}

inline at::TensorOptions arg_tensor_options(const Napi::CallbackInfo& info, size_t i) {
  at::TensorOptions o;
  if (nullish(info, i)) return o;
  if (!info[i].IsArray()) throw_type(info.Env(), i, "tensor options");
  Napi::Array a = info[i].As<Napi::Array>();
  Napi::Value dt = a.Get(0u), dev = a.Get(1u);
  if (!dt.IsNull() && !dt.IsUndefined()) o = o.dtype(to_scalar_type(info.Env(), dt, i));
  if (!dev.IsNull() && !dev.IsUndefined()) o = o.device(to_device(info.Env(), dev, i));
  return o;
}

// ---- guards that tools/gen_ops.py (GUARDS) puts before kernels that would crash or hang ----
// LAPACK's SVD, nonsymmetric eigensolver and SVD-based least squares loop forever or abort the
// process on NaN or infinite input; refuse such input on the CPU (other devices use other solvers).
inline void guard_lapack_finite(const at::Tensor& t, const char* op) {
  if (!t.defined() || !t.device().is_cpu() || t.layout() != at::kStrided || t.numel() == 0) return;
  if (!(t.is_floating_point() || t.is_complex())) return;
  at::NoGradGuard no_grad;
  TORCH_CHECK(at::isfinite(t).all().item<bool>(), op,
              ": the input contains NaN or infinite values, on which LAPACK's solver does not terminate");
}
// native_channel_shuffle divides by groups, and by the batch and channel sizes, unchecked (SIGFPE).
inline void guard_channel_shuffle(const at::Tensor& self, int64_t groups) {
  TORCH_CHECK(self.dim() > 2, "native_channel_shuffle: expected input with at least 3 dimensions, got sizes ", self.sizes());
  TORCH_CHECK(groups > 0, "native_channel_shuffle: groups must be positive, got ", groups);
  TORCH_CHECK(self.size(0) > 0 && self.size(1) > 0, "native_channel_shuffle: empty batch or channel dimension (sizes ",
              self.sizes(), "); channelShuffle accepts those");
  TORCH_CHECK(self.size(1) % groups == 0, "native_channel_shuffle: the number of channels (", self.size(1),
              ") must be divisible by groups (", groups, ")");
}
// choose_qparams_optimized reads `numel` floats from the data pointer whatever the tensor holds, and
// loops n_bins * ratio times with 1 << bit_width levels.
inline void guard_choose_qparams(const at::Tensor& input, int64_t numel, int64_t n_bins, double ratio, int64_t bit_width) {
  TORCH_CHECK(input.is_contiguous(), "choose_qparams_optimized: expected a contiguous input");
  TORCH_CHECK(numel > 0 && numel <= input.numel(), "choose_qparams_optimized: numel must be in [1, ", input.numel(),
              "] (the input's number of elements), got ", numel);
  TORCH_CHECK(n_bins > 0 && n_bins <= (int64_t(1) << 24), "choose_qparams_optimized: n_bins must be in [1, 2^24], got ", n_bins);
  TORCH_CHECK(ratio >= 0 && ratio <= 1, "choose_qparams_optimized: ratio must be in [0, 1], got ", ratio);
  TORCH_CHECK(bit_width >= 1 && bit_width <= 16, "choose_qparams_optimized: bit_width must be in [1, 16], got ", bit_width);
}
// unfold_backward trusts grad_in to have the shape that unfolding input_sizes gives (heap corruption otherwise).
inline void guard_unfold_backward(const at::Tensor& grad, at::IntArrayRef input_sizes, int64_t dim, int64_t size, int64_t step) {
  int64_t n = static_cast<int64_t>(input_sizes.size());
  int64_t d = c10::maybe_wrap_dim(dim, n, /*wrap_scalar=*/true);
  int64_t len = n == 0 ? 1 : input_sizes[d];
  TORCH_CHECK(size >= 0 && size <= len, "unfold_backward: size must be in [0, ", len, "], got ", size);
  TORCH_CHECK(step > 0, "unfold_backward: step must be positive, got ", step);
  std::vector<int64_t> expected(input_sizes.begin(), input_sizes.end());
  for (int64_t s : expected) TORCH_CHECK(s >= 0, "unfold_backward: negative size in input_sizes ", input_sizes);
  if (n) expected[d] = (len - size) / step + 1;
  expected.push_back(size);
  TORCH_CHECK(grad.sizes() == at::IntArrayRef(expected), "unfold_backward: grad_in has sizes ", grad.sizes(),
              " but unfolding input_sizes ", input_sizes, " gives ", at::IntArrayRef(expected));
}
// The batch norm kernels index per-channel statistics without checking their sizes, read running
// or saved statistics that may be absent, and divide by the number of values per channel (SIGFPE
// on empty input).
inline int64_t guard_bn_input(const at::Tensor& input, const char* op) {
  TORCH_CHECK(input.dim() >= 2, op, ": expected input of at least 2 dimensions (N, C, ...), got sizes ", input.sizes());
  TORCH_CHECK(input.numel() > 0, op, ": expected a non-empty input, got sizes ", input.sizes());
  return input.size(1);
}
inline void guard_bn_stat(const c10::optional<at::Tensor>& t, int64_t channels, const char* name, bool required, const char* op) {
  bool given = t.has_value() && t->defined();
  TORCH_CHECK(given || !required, op, ": ", name, " is required here");
  if (given) TORCH_CHECK(t->numel() == channels, op, ": ", name, " must hold one value per channel (", channels, "), got sizes ", t->sizes());
}
inline void guard_batch_norm(const at::Tensor& input, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                             const c10::optional<at::Tensor>& running_mean, const c10::optional<at::Tensor>& running_var, bool training) {
  const char* op = "native_batch_norm";
  int64_t c = guard_bn_input(input, op);
  guard_bn_stat(weight, c, "weight", false, op);
  guard_bn_stat(bias, c, "bias", false, op);
  guard_bn_stat(running_mean, c, "running_mean", !training, op);
  guard_bn_stat(running_var, c, "running_var", !training, op);
}
inline void guard_batch_norm_backward(const at::Tensor& grad_out, const at::Tensor& input, const c10::optional<at::Tensor>& weight,
                                      const c10::optional<at::Tensor>& running_mean, const c10::optional<at::Tensor>& running_var,
                                      const c10::optional<at::Tensor>& save_mean, const c10::optional<at::Tensor>& save_invstd, bool train) {
  const char* op = "native_batch_norm_backward";
  int64_t c = guard_bn_input(input, op);
  TORCH_CHECK(grad_out.sizes() == input.sizes(), op, ": grad_out has sizes ", grad_out.sizes(), " but input has ", input.sizes());
  guard_bn_stat(weight, c, "weight", false, op);
  guard_bn_stat(running_mean, c, "running_mean", !train, op);
  guard_bn_stat(running_var, c, "running_var", !train, op);
  guard_bn_stat(save_mean, c, "save_mean", train, op);
  guard_bn_stat(save_invstd, c, "save_invstd", train, op);
}
inline void guard_batch_norm_update_stats(const at::Tensor& input, const c10::optional<at::Tensor>& running_mean,
                                          const c10::optional<at::Tensor>& running_var) {
  const char* op = "batch_norm_update_stats";
  int64_t c = guard_bn_input(input, op);
  guard_bn_stat(running_mean, c, "running_mean", false, op);
  guard_bn_stat(running_var, c, "running_var", false, op);
}
// Integer index tensors whose values kernels use as offsets without a bounds check.
inline void guard_index_values(const at::Tensor& idx, int64_t bound, const char* name, const char* op) {
  if (!idx.defined() || idx.numel() == 0 || !idx.device().is_cpu() || idx.layout() != at::kStrided) return;
  if (!at::isIntegralType(idx.scalar_type(), /*includeBool=*/false)) return;  // the kernels refuse other dtypes
  at::NoGradGuard no_grad;
  auto mm = at::aminmax(idx);
  int64_t lo = std::get<0>(mm).item<int64_t>(), hi = std::get<1>(mm).item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < bound, op, ": ", name, " must be in [0, ", bound, "), got values in [", lo, ", ", hi, "]");
}
// Max pooling backward writes grad_input[indices] over self's last `spatial` dimensions; the adaptive
// versions also trust grad_output and indices to match self in shape.
inline void guard_pool_indices(const at::Tensor& grad, const at::Tensor& self, const at::Tensor& indices, int64_t spatial,
                               bool check_shapes, const char* op) {
  TORCH_CHECK(self.dim() > spatial, op, ": expected self of at least ", spatial + 1, " dimensions, got sizes ", self.sizes());
  if (check_shapes) {
    TORCH_CHECK(grad.sizes() == indices.sizes(), op, ": grad_output has sizes ", grad.sizes(), " but indices ", indices.sizes());
    TORCH_CHECK(grad.dim() == self.dim(), op, ": grad_output has sizes ", grad.sizes(), " but self ", self.sizes());
    for (int64_t k = 0; k < self.dim() - spatial; ++k)
      TORCH_CHECK(grad.size(k) == self.size(k), op, ": grad_output has sizes ", grad.sizes(), " but self ", self.sizes());
  }
  int64_t n = 1;
  for (int64_t k = self.dim() - spatial; k < self.dim(); ++k) n *= self.size(k);
  guard_index_values(indices, n, "indices", op);
}
// RNNs: lstm zips the layers of h and c (a shorter c is read past its end); the packed (.data)
// versions read batch_sizes[0]; the cells chunk the gate projections into 4 (lstm) or 3 (gru)
// pieces and index them.
inline void guard_lstm_hx(const std::vector<at::Tensor>& hx) {
  TORCH_CHECK(hx.size() == 2, "lstm: expected two hidden states (h, c), got ", hx.size());
  TORCH_CHECK(hx[0].sizes() == hx[1].sizes(), "lstm: h and c must have the same sizes, got ", hx[0].sizes(), " and ", hx[1].sizes());
}
inline void guard_batch_sizes(const at::Tensor& batch_sizes, const char* op) {
  TORCH_CHECK(batch_sizes.dim() == 1 && batch_sizes.numel() > 0 && batch_sizes.scalar_type() == at::kLong, op,
              ": batch_sizes must be a non-empty 1-d int64 tensor, got ", batch_sizes.scalar_type(), batch_sizes.sizes());
}
inline void guard_rnn_cell_weights(const at::Tensor& w_ih, const at::Tensor& w_hh, int64_t gates, const char* op) {
  TORCH_CHECK(w_ih.dim() == 2 && w_hh.dim() == 2, op, ": expected 2-d weights, got w_ih ", w_ih.sizes(), " and w_hh ", w_hh.sizes());
  int64_t hidden = w_hh.size(1);
  TORCH_CHECK(hidden > 0 && w_ih.size(0) == gates * hidden && w_hh.size(0) == gates * hidden, op, ": expected w_ih and w_hh with ",
              gates, " * hidden_size rows (hidden_size ", hidden, " from w_hh), got w_ih ", w_ih.sizes(), " and w_hh ", w_hh.sizes());
}
// mkldnn_convolution takes padding, stride and dilation as lists of any length and indexes them
// per spatial dimension; zero strides, dilations, groups or empty tensors divide by zero in oneDNN.
inline void guard_mkldnn_convolution(const at::Tensor& self, const at::Tensor& weight, at::IntArrayRef padding,
                                     at::IntArrayRef stride, at::IntArrayRef dilation, int64_t groups) {
  const char* op = "mkldnn_convolution";
  TORCH_CHECK(self.dim() >= 3 && self.dim() <= 5 && weight.dim() == self.dim(), op,
              ": expected 3-d to 5-d input and weight of the same rank, got ", self.sizes(), " and ", weight.sizes());
  size_t k = static_cast<size_t>(self.dim() - 2);
  TORCH_CHECK(padding.size() == k && stride.size() == k && dilation.size() == k, op, ": padding, stride and dilation need ", k,
              " values each, got ", padding, ", ", stride, ", ", dilation);
  for (size_t d = 0; d < k; ++d)
    TORCH_CHECK(padding[d] >= 0 && stride[d] > 0 && dilation[d] > 0, op, ": invalid padding ", padding, ", stride ", stride, " or dilation ", dilation);
  TORCH_CHECK(groups > 0, op, ": groups must be positive, got ", groups);
  TORCH_CHECK(self.numel() > 0 && weight.numel() > 0, op, ": empty input or weight (sizes ", self.sizes(), " and ", weight.sizes(), ")");
}

// ---- results ----
inline Napi::Value to_js(const Napi::Env& env, const at::Tensor& t) {
  if (!t.defined()) return env.Null();
  return Napi::Number::New(env, put_tensor(env, t));
}
inline Napi::Value to_js(const Napi::Env& env, const std::vector<at::Tensor>& ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (uint32_t k = 0; k < ts.size(); ++k) a.Set(k, to_js(env, ts[k]));
  return a;
}
inline Napi::Value to_js(const Napi::Env& env, const std::vector<int64_t>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (uint32_t k = 0; k < v.size(); ++k) a.Set(k, Napi::Number::New(env, static_cast<double>(v[k])));
  return a;
}
inline Napi::Value to_js(const Napi::Env& env, double v) { return Napi::Number::New(env, v); }
inline Napi::Value to_js(const Napi::Env& env, int64_t v) { return Napi::Number::New(env, static_cast<double>(v)); }
inline Napi::Value to_js(const Napi::Env& env, bool v) { return Napi::Boolean::New(env, v); }
inline Napi::Value to_js(const Napi::Env& env, at::ScalarType v) { return Napi::Number::New(env, static_cast<int>(v)); }
inline Napi::Value to_js(const Napi::Env& env, const at::Scalar& s) {
  if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
  if (s.isIntegral(false)) return Napi::Number::New(env, static_cast<double>(s.toLong()));
  return Napi::Number::New(env, s.toDouble());
}
template <typename... Ts>
inline Napi::Value to_js(const Napi::Env& env, const std::tuple<Ts...>& tup) {
  Napi::Array a = Napi::Array::New(env, sizeof...(Ts));
  uint32_t k = 0;
  std::apply([&](const auto&... x) { ((a.Set(k++, to_js(env, x))), ...); }, tup);
  return a;
}

}  // namespace refinery

using namespace refinery;

#define OP_TRY try {
#define OP_CATCH(name, kinds)                                              \
  }                                                                        \
  catch (const Napi::Error&) { throw; }                                    \
  catch (const c10::Error& e) { throw_op_error(info, name, kinds, e.what_without_backtrace()); } \
  catch (const std::exception& e) { throw_op_error(info, name, kinds, e.what()); }
