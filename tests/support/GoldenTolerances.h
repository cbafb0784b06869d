//===- GoldenTolerances.h - Where a golden test allows more than 1e-5 -----===//
//
// Shared by the reference evaluator's golden test (SeedGoldenTest.cpp) and
// the compiled binaries' (BinaryGoldenTest.cpp), so that both allow exactly
// the same.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_TESTS_SUPPORT_GOLDENTOLERANCES_H
#define FIRN_TESTS_SUPPORT_GOLDENTOLERANCES_H

#include <string>

namespace firn::testing {

/// The absolute tolerance, on top of the relative one, for a gradient that
/// is zero mathematically: the bias of the layer that feeds a train-mode
/// BatchNorm (the batch mean cancels it). PyTorch's value there is float32
/// noise (make_fixtures.py asserts it is < 2.5e-7), and so is firn's.
inline double zeroGradientTolerance(const std::string &stem,
                                    const std::string &param) {
  if (((stem == "batchnorm_train" || stem == "batchnorm_cumulative") &&
       param == "fc1.bias") ||
      (stem == "batchnorm2d" && param == "conv.bias"))
    return 1e-6;
  return 0.0;
}

} // namespace firn::testing

#endif // FIRN_TESTS_SUPPORT_GOLDENTOLERANCES_H
