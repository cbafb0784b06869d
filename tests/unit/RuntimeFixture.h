//===- RuntimeFixture.h - Files and firn_main for runtime tests -*- C++ -*-===//
//
// The fixture of the runtime tests that run the fake models of FakeModel.h
// through firn_main: a fresh directory per test, .npy and checkpoint files
// in it, linreg's data (kX, kY) already written as x.npy and y.npy, and
// firn_main with its output captured.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_TESTS_UNIT_RUNTIMEFIXTURE_H
#define FIRN_TESTS_UNIT_RUNTIMEFIXTURE_H

#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Safetensors.h"

#include "FakeModel.h"
#include "TestDir.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace firn::testing {

class RuntimeFixture : public ::testing::Test {
protected:
  std::string dir;
  std::string out, err;
  /// linreg's four samples: x.npy [4, 2] and y.npy [4, 1].
  std::string x, y;

  void SetUp() override {
    fake::calls = fake::Calls();
    dir = freshTestDir("firn_runtime_");
    ASSERT_NE(dir, "");
    x = writeFloats("x.npy", {4, 2}, fake::kX);
    y = writeFloats("y.npy", {4, 1}, fake::kY);
  }
  void TearDown() override { removeTestDir(dir); }

  std::string writeFloats(const std::string &name, std::vector<int64_t> shape,
                          const std::vector<float> &values) {
    std::string error;
    EXPECT_TRUE(runtime::writeNpy(
        dir + name, runtime::TensorData::fromFloats(shape, values), error))
        << error;
    return dir + name;
  }
  std::string writeInts(const std::string &name, std::vector<int64_t> shape,
                        const std::vector<int64_t> &values) {
    std::string error;
    EXPECT_TRUE(runtime::writeNpy(
        dir + name, runtime::TensorData::fromInt64s(shape, values), error))
        << error;
    return dir + name;
  }
  runtime::SafetensorsFile readCheckpoint(const std::string &path) {
    runtime::SafetensorsFile file;
    std::string error;
    EXPECT_TRUE(runtime::readSafetensors(path, file, error)) << error;
    return file;
  }
  std::string writeCheckpoint(const std::string &name,
                              const runtime::SafetensorsFile &file) {
    std::string error;
    EXPECT_TRUE(runtime::writeSafetensors(dir + name, file, error)) << error;
    return dir + name;
  }

  /// Runs firn_main as the program "linreg".
  int run(const firn_model_desc &model, std::vector<std::string> args) {
    return runFirnMain(model, "linreg", std::move(args), out, err);
  }
  /// `train` of linreg on x/y with `extra` options.
  int train(const firn_model_desc &model, std::vector<std::string> extra) {
    std::vector<std::string> args = {"train", "--x", x, "--y", y};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(model, args);
  }
};

} // namespace firn::testing

#endif // FIRN_TESTS_UNIT_RUNTIMEFIXTURE_H
