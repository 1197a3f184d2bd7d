// convert.h, plus what libtorch 2.x needs around it: at::NoGradGuard's own header (2.x no longer
// reaches it through ATen.h) and to_js for integer types other than int64_t (2.x returns
// c10::DeviceIndex, an int8, from get_device). The hand-written files include this; the op files
// generated from 2.x declarations too (those from 1.13's include convert.h, unchanged, so that a
// 1.13 build does not recompile them).
#pragma once
#include <ATen/core/grad_mode.h>
#include <type_traits>

#include "convert.h"

namespace refinery {

template <class I, std::enable_if_t<std::is_integral<I>::value && !std::is_same<I, bool>::value && !std::is_same<I, int64_t>::value, int> = 0>
inline Napi::Value to_js(const Napi::Env& env, I v) {
  return Napi::Number::New(env, static_cast<double>(v));
}

}  // namespace refinery
