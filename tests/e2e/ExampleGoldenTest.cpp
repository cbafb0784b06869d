//===- ExampleGoldenTest.cpp - The bundled examples against their PyTorch twins ===//
//
// Each example of examples/ compiled as a user compiles it, then trained
// from its twin's initial parameters on the bundled data, batches in order,
// for the twin's number of steps; every step's loss (--metrics) and every
// parameter after the last step are compared with the twin
// (tests/fixtures/examples/<example>.safetensors, written by
// tests/fixtures/layer_models.py): 1e-5 relative to each tensor's largest
// magnitude, as the other golden tests (the fixture records PyTorch's own
// float32 drift from float64 over the run, well below that).
//
// A deep BatchNorm network (the ResNet) drifts chaotically in float32: no
// two float32 programs agree over ten chained steps (PyTorch against itself
// in float64: 25% after ten steps). Its fixture is teacher-forced: every
// step starts from PyTorch's state before it (parameters, BatchNorm
// statistics, momentum buffers) and is compared alone; the momentum buffers
// (the gradients) within 5e-5, PyTorch's own float32 gradients being 1.5e-5
// off float64 there.
//
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"
#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

using namespace firn::runtime;
using namespace firn::e2e;

namespace {

struct Example {
  const char *stem;    ///< examples/<stem>.firn
  const char *inputs;  ///< Under `data` (default examples/data/).
  const char *targets;
  /// The inputs' directory in the source tree, if not examples/data/.
  const char *data = nullptr;
};

class ExampleGolden : public ::testing::TestWithParam<Example> {};

/// Rows [begin, begin + count) of a tensor's first dimension.
TensorData rows(const TensorData &t, int64_t begin, int64_t count) {
  TensorData out = t;
  out.shape[0] = count;
  size_t rowBytes = t.bytes.size() / static_cast<size_t>(t.shape[0]);
  out.bytes.assign(t.bytes.begin() + begin * rowBytes,
                   t.bytes.begin() + (begin + count) * rowBytes);
  return out;
}

/// The loss of the one step a --metrics file records.
double stepLoss(const std::string &metricsPath) {
  std::ifstream metrics(metricsPath);
  const std::string key = "\"train_loss\": ";
  for (std::string line; std::getline(metrics, line);)
    if (size_t at = line.find(key); at != std::string::npos &&
                                    line.find("\"kind\": \"step\"") != std::string::npos)
      return std::strtod(line.c_str() + at + key.size(), nullptr);
  return NAN;
}

void trainTeacherForced(const std::string &binary, const std::string &dir,
                        const std::string &data, const Example &example,
                        const SafetensorsFile &fixture) {
  std::string error;
  TensorData x, y;
  ASSERT_TRUE(readNpy(data + example.inputs, x, error)) << error;
  ASSERT_TRUE(readNpy(data + example.targets, y, error)) << error;
  int steps = std::stoi(fixture.metadata.at("steps"));
  int batch = std::stoi(fixture.metadata.at("batch_size"));
  std::vector<double> losses = fixture.tensors.at("loss").asDoubles();
  auto state = [&](int k) {
    std::map<std::string, TensorData> out;
    std::string prefix = "state/" + std::to_string(k) + "/";
    for (const auto &[key, tensor] : fixture.tensors)
      if (key.rfind(prefix, 0) == 0)
        out[key.substr(prefix.size())] = tensor;
    return out;
  };
  SafetensorsFile checkpoint; // firn's own after the previous step.
  for (int k = 1; k <= steps; ++k) {
    SCOPED_TRACE("step " + std::to_string(k));
    std::string at = dir + "/step" + std::to_string(k);
    for (auto &[name, tensor] : state(k - 1))
      checkpoint.tensors[name] = tensor; // PyTorch's state before the step.
    ASSERT_TRUE(writeSafetensors(at + "-init.safetensors", checkpoint, error)) << error;
    ASSERT_TRUE(writeNpy(at + "-x.npy", rows(x, (k - 1) * batch, batch), error)) << error;
    ASSERT_TRUE(writeNpy(at + "-y.npy", rows(y, (k - 1) * batch, batch), error)) << error;
    std::string output;
    ASSERT_EQ(run(binary + " train --x " + at + "-x.npy --y " + at + "-y.npy --init " +
                      at + "-init.safetensors --batch-size " + std::to_string(batch) +
                      " --steps 1 --metrics " + at + ".jsonl --save " + at +
                      ".safetensors",
                  output),
              0)
        << output;
    EXPECT_NEAR(stepLoss(at + ".jsonl"), losses[k - 1], 1e-5 * std::fabs(losses[k - 1]));
    checkpoint = {};
    ASSERT_TRUE(readSafetensors(at + ".safetensors", checkpoint, error)) << error;
    for (const auto &[name, expected] : state(k)) {
      ASSERT_TRUE(checkpoint.tensors.count(name)) << name;
      // The momentum buffers hold the step's gradients, and PyTorch's own
      // float32 gradients are up to 1.5e-5 of their largest element off
      // float64 here (the fixture's float32_momentum_drift): 5e-5 for them.
      double slack = 0;
      if (name.rfind("optim/", 0) == 0) {
        double scale = 1e-3;
        for (double v : expected.asDoubles())
          scale = std::max(scale, std::fabs(v));
        slack = 4e-5 * scale;
      }
      expectClose(checkpoint.tensors.at(name), expected, name, slack);
    }
  }
}

TEST_P(ExampleGolden, TrainsLikeItsPyTorchTwin) {
  const Example &example = GetParam();
  SafetensorsFile fixture;
  std::string error;
  ASSERT_TRUE(readSafetensors(std::string(FIRN_FIXTURES_DIR) + "/examples/" +
                                  example.stem + ".safetensors",
                              fixture, error))
      << error;
  std::string binary = compileModel(std::string(FIRN_EXAMPLES_DIR) + "/" +
                                        fixture.metadata.at("firn").substr(9),
                                    example.stem);
  std::string dir = tempDir() + "/" + example.stem + "-run";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  SafetensorsFile init;
  for (const auto &[key, tensor] : fixture.tensors)
    if (key.rfind("init/", 0) == 0)
      init.tensors[key.substr(5)] = tensor;
  ASSERT_TRUE(writeSafetensors(dir + "/init.safetensors", init, error)) << error;

  std::string data = sourcePath(example.data ? example.data : "examples/data/");
  if (fixture.metadata.count("layout") &&
      fixture.metadata.at("layout") == "teacher_forced") {
    trainTeacherForced(binary, dir, data, example, fixture);
    return;
  }
  std::string steps = fixture.metadata.at("steps");
  std::string output;
  ASSERT_EQ(run(binary + " train --x " + data + example.inputs + " --y " + data +
                    example.targets + " --init " + dir + "/init.safetensors" +
                    " --batch-size " + fixture.metadata.at("batch_size") +
                    " --steps " + steps + " --metrics " + dir + "/metrics.jsonl" +
                    " --save " + dir + "/after.safetensors",
                output),
            0)
      << output;

  // Every step's loss, in order.
  std::vector<double> losses;
  std::ifstream metrics(dir + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    // (firn's JSON reader takes integers only: the loss is read as text.)
    const std::string key = "\"train_loss\": ";
    size_t at = line.find(key);
    if (line.find("\"kind\": \"step\"") == std::string::npos ||
        at == std::string::npos)
      continue;
    losses.push_back(std::strtod(line.c_str() + at + key.size(), nullptr));
  }
  std::vector<double> expected = fixture.tensors.at("loss").asDoubles();
  ASSERT_EQ(losses.size(), expected.size()) << output;
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(losses[i], expected[i], 1e-5 * std::fabs(expected[i]))
        << "the loss of step " << i + 1;

  SafetensorsFile after;
  ASSERT_TRUE(readSafetensors(dir + "/after.safetensors", after, error)) << error;
  int compared = 0;
  for (const auto &[key, tensor] : fixture.tensors) {
    if (key.rfind("after/", 0) != 0)
      continue;
    std::string name = key.substr(6);
    ASSERT_TRUE(after.tensors.count(name)) << name;
    // AdamW's examples: an absolute slack from PyTorch's own float32 drift
    // (tests/fixtures/layer_models.py, gpt).
    double slack = fixture.metadata.count("absolute_slack")
                       ? std::stod(fixture.metadata.at("absolute_slack"))
                       : 0.0;
    expectClose(after.tensors.at(name), tensor, name, slack);
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(init.tensors.size()));
}

INSTANTIATE_TEST_SUITE_P(
    Examples, ExampleGolden,
    ::testing::Values(Example{"lenet5", "lenet_train_x.npy", "digits_train_y.npy"},
                      Example{"resnet", "lenet_train_x.npy", "digits_train_y.npy"},
                      Example{"gpt", "gpt_train_x.npy", "gpt_train_y.npy",
                              "tests/fixtures/examples/"}),
    [](const ::testing::TestParamInfo<Example> &info) {
      return std::string(info.param.stem);
    });

} // namespace
