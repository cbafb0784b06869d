//===- NonFinite.cpp - NaN and infinity in losses and state ---------------===//
#include "firn/Runtime/NonFinite.h"

#include <cmath>

namespace firn::runtime {

bool parseNonFinitePolicy(const std::string &text, NonFinitePolicy &out) {
  if (text == "stop")
    out = NonFinitePolicy::Stop;
  else if (text == "skip")
    out = NonFinitePolicy::Skip;
  else if (text == "ignore")
    out = NonFinitePolicy::Ignore;
  else
    return false;
  return true;
}

int64_t firstNonFinite(const HostTensor &tensor) {
  if (tensor.dtype != FIRN_F32)
    return -1;
  for (size_t i = 0; i < tensor.f32.size(); ++i)
    if (!std::isfinite(tensor.f32[i]))
      return int64_t(i);
  return -1;
}

std::string describeNonFinite(const std::string &name,
                              const HostTensor &tensor, int64_t index) {
  const float v = tensor.f32[size_t(index)];
  const char *value = std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
  return "'" + name + "' holds " + value + " (element " +
         std::to_string(index) + ")";
}

} // namespace firn::runtime
