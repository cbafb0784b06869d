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
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"
#include "firn/Runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

using namespace firn::runtime;
using namespace firn::e2e;

namespace {

struct Example {
  const char *stem;    ///< examples/<stem>.firn
  const char *inputs;  ///< Under examples/data/.
  const char *targets;
};

class ExampleGolden : public ::testing::TestWithParam<Example> {};

TEST_P(ExampleGolden, TrainsLikeItsPyTorchTwin) {
  const Example &example = GetParam();
  SafetensorsFile fixture;
  std::string error;
  ASSERT_TRUE(readSafetensors(std::string(FIRN_FIXTURES_DIR) + "/examples/" +
                                  example.stem + ".safetensors",
                              fixture, error))
      << error;
  std::string binary = compileModel(std::string(FIRN_EXAMPLES_DIR) + "/" +
                                        example.stem + ".firn",
                                    example.stem);
  std::string dir = tempDir() + "/" + example.stem + "-run";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  SafetensorsFile init;
  for (const auto &[key, tensor] : fixture.tensors)
    if (key.rfind("init/", 0) == 0)
      init.tensors[key.substr(5)] = tensor;
  ASSERT_TRUE(writeSafetensors(dir + "/init.safetensors", init, error)) << error;

  std::string data = std::string(FIRN_EXAMPLES_DIR) + "/data/";
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
    expectClose(after.tensors.at(name), tensor, name);
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(init.tensors.size()));
}

INSTANTIATE_TEST_SUITE_P(
    Examples, ExampleGolden,
    ::testing::Values(Example{"lenet5", "lenet_train_x.npy", "digits_train_y.npy"}),
    [](const ::testing::TestParamInfo<Example> &info) {
      return std::string(info.param.stem);
    });

} // namespace
