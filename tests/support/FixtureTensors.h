//===- FixtureTensors.h - Fixture tensors for reference comparisons -*- C++ -*-===//
//
// The golden tests that run firn's reference evaluator or JIT-compiled
// kernels read PyTorch fixtures (safetensors) and compare in double
// precision with the same rule: 1e-5 relative to the expected tensor's
// largest magnitude (PyTorch ran in float32), plus a stated absolute slack
// where float32 noise needs one.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_TESTS_SUPPORT_FIXTURETENSORS_H
#define FIRN_TESTS_SUPPORT_FIXTURETENSORS_H

#include "firn/Reference/Evaluator.h"
#include "firn/Runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace firn::testing {

inline reference::Tensor toTensor(const runtime::TensorData &data) {
  reference::Tensor t;
  t.shape = data.shape;
  t.isInteger = data.dtype == runtime::DType::I64;
  if (t.isInteger)
    for (int64_t v : data.asInt64s())
      t.data.push_back(static_cast<double>(v));
  else
    t.data = data.asDoubles();
  return t;
}

inline void expectClose(const reference::Tensor &actual,
                        const reference::Tensor &expected,
                        const std::string &what, double absolute = 0) {
  ASSERT_EQ(actual.shape, expected.shape) << what;
  double scale = 0;
  for (double v : expected.data)
    scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < expected.data.size(); ++i)
    EXPECT_NEAR(actual.data[i], expected.data[i],
                1e-5 * std::max(scale, 1e-3) + absolute)
        << what << "[" << i << "]";
}

} // namespace firn::testing

#endif // FIRN_TESTS_SUPPORT_FIXTURETENSORS_H
