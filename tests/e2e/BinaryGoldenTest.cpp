//===- BinaryGoldenTest.cpp - Compiled training binaries against PyTorch --===//
//
// The whole product, as a user runs it: `firnc seed.firn -o model`, then
// `model train --x x.npy --y y.npy --init init.safetensors --save out
// --save-grads`, and the saved checkpoint compared with the PyTorch fixture
// (gradients, which parameters have none, parameters after the step), for the
// seeds and for some models of tests/fixtures/models/ (clipping, accumulated
// micro-batches). Also:
// the binary needs no Halide, LLVM or MLIR library (ldd).
//
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"
#include "GoldenTolerances.h"
#include "firn/Runtime/Json.h"
#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

using namespace firn::runtime;
using namespace firn::e2e;
using firn::testing::zeroGradientTolerance;

namespace {

/// Compiles examples/seeds/<stem>.firn into an executable.
std::string compileSeed(const std::string &stem) {
  return compileModel(std::string(FIRN_EXAMPLES_DIR) + "/seeds/" + stem +
                          ".firn",
                      stem);
}

/// Writes the tensors of `fixture` under `prefix` as a checkpoint (keys
/// without the prefix).
void writeCheckpoint(const SafetensorsFile &fixture, const std::string &prefix,
                     const std::string &path, SafetensorsFile base = {}) {
  for (const auto &[key, tensor] : fixture.tensors)
    if (key.rfind(prefix, 0) == 0)
      base.tensors[key.substr(prefix.size())] = tensor;
  std::string error;
  ASSERT_TRUE(writeSafetensors(path, base, error)) << error;
}

/// Where the fixture records PyTorch's state_dict (`state_dict`: name ->
/// [dtype, shape]), the checkpoint's model tensors, its keys without a '/'
/// (the rest is firn's training state: grad/, optim/, rng/), are exactly
/// those, so that load_state_dict(strict=True) takes them.
void expectPyTorchStateDict(const SafetensorsFile &fixture,
                            const SafetensorsFile &checkpoint) {
  auto it = fixture.metadata.find("state_dict");
  if (it == fixture.metadata.end())
    return;
  json::Value expected;
  std::string error;
  ASSERT_TRUE(json::parse(it->second, expected, error)) << error;
  std::map<std::string, std::string> want, got;
  for (const auto &[name, entry] : expected.object) {
    std::string shape;
    for (const json::Value &d : entry.array.at(1).array)
      shape += std::to_string(d.integer) + ",";
    std::string dtype = entry.array.at(0).string;
    want[name] = (dtype == "int64" ? "I64" : dtype == "float32" ? "F32" : dtype) +
                 std::string("[") + shape + "]";
  }
  for (const auto &[name, tensor] : checkpoint.tensors) {
    if (name.find('/') != std::string::npos)
      continue;
    std::string shape;
    for (int64_t d : tensor.shape)
      shape += std::to_string(d) + ",";
    got[name] = dtypeName(tensor.dtype) + std::string("[") + shape + "]";
  }
  EXPECT_EQ(got, want);
}

/// The sanitizer flags of a FIRN_SANITIZE build (its runtime library is
/// instrumented, so what links it needs them too), else nothing.
std::string sanitizeFlags() {
#ifdef FIRN_SANITIZE_FLAGS
  return FIRN_SANITIZE_FLAGS;
#else
  return "";
#endif
}

/// The parameter: a seed ("s004_linear_adam": examples/seeds/<stem>.firn and
/// tests/fixtures/<stem>.safetensors) or a fixture model ("models/clip_norm":
/// tests/fixtures/models/clip_norm.firn and .safetensors).
class SeedBinary : public ::testing::TestWithParam<const char *> {};

/// Trains `model` phase by phase from the fixture's parameters and compares
/// each phase's checkpoint with PyTorch. With `saveGrads` the checkpoints
/// hold the gradient buffers too (and training takes the three-kernel step
/// that keeps them); without, training takes the fused step where the model
/// has one (FuseOptimizer.cpp: no gradient buffers) and the checkpoints
/// hold no gradients.
void trainLikePyTorch(const std::string &model, bool saveGrads) {
  bool isModel = model.rfind("models/", 0) == 0;
  std::string stem = isModel ? model.substr(7) : model;
  double absolute = stem == "s003_two_conv" ? 1e-4 : 0.0; // See SeedGoldenTest.
  std::string binary =
      isModel ? compileModel(std::string(FIRN_FIXTURES_DIR) + "/" + model +
                                 ".firn",
                             stem)
              : compileSeed(stem);
  SafetensorsFile fixture;
  std::string error;
  ASSERT_TRUE(readSafetensors(std::string(FIRN_FIXTURES_DIR) + "/" + model +
                                  ".safetensors",
                              fixture, error))
      << error;
  // The model's own `accumulate N` (`info`): --accumulate K / N gives the
  // fixture's K backward passes per step.
  std::string info;
  ASSERT_EQ(run(binary + " info", info), 0) << info;
  size_t at = info.find("training: accumulate ");
  ASSERT_NE(at, std::string::npos) << info;
  int declared = std::stoi(info.substr(at + 21));
  std::string dir = tempDir() + "/" + stem + "-run";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);

  int phases = std::stoi(fixture.metadata.at("phases"));
  SafetensorsFile previous;
  for (int phase = 1; phase <= phases; ++phase) {
    std::string p = std::to_string(phase) + "/";
    SCOPED_TRACE(stem + " phase " + std::to_string(phase));
    int passes = std::stoi(fixture.metadata.at(p + "backward_passes"));
    ASSERT_EQ(passes % declared, 0) << "accumulate " << declared;
    // Inputs: each micro-batch of the phase is the fixture's whole batch, or,
    // where `<p>/micro_batches_split` is "true", the fixture's rows hold the
    // K micro-batches one after the other (batch size rows / K).
    auto split = fixture.metadata.find(p + "micro_batches_split");
    bool micro = split != fixture.metadata.end() && split->second == "true";
    std::string args;
    int64_t batch = 0;
    int inputs = 0; // Besides the target: one is --x, several --input each.
    for (const auto &[key, tensor] : fixture.tensors)
      if (key.rfind(p + "input/", 0) == 0 && key != p + "input/y" && key != p + "input/Y")
        ++inputs;
    for (const auto &[key, tensor] : fixture.tensors) {
      if (key.rfind(p + "input/", 0) != 0)
        continue;
      TensorData repeated = tensor;
      if (micro) {
        ASSERT_EQ(tensor.shape.at(0) % passes, 0) << key;
        batch = tensor.shape.at(0) / passes;
      } else {
        for (int k = 1; k < passes; ++k)
          repeated.bytes.insert(repeated.bytes.end(), tensor.bytes.begin(),
                                tensor.bytes.end());
        batch = tensor.shape.at(0);
        repeated.shape[0] = batch * passes;
      }
      std::string name = key.substr((p + "input/").size());
      std::string path = dir + "/" + name + ".npy";
      ASSERT_TRUE(writeNpy(path, repeated, error)) << error;
      // The input is --x (or, of a model with several, --input NAME=...),
      // the target --y.
      bool isTarget = name == "y" || name == "Y";
      args += isTarget      ? " --y " + path
              : inputs == 1 ? " --x " + path
                            : " --input " + name + "=" + path;
    }
    // Start from the fixture's parameters; later phases keep the optimizer
    // state of the previous one (seed 004 resets only the parameters).
    std::string init = dir + "/init" + std::to_string(phase) + ".safetensors";
    writeCheckpoint(fixture, p + "init/", init, previous);
    std::string saved = dir + "/out" + std::to_string(phase) + ".safetensors";
    std::string output;
    int code = run(binary + " train" + args + " --init " + init +
                       " --batch-size " + std::to_string(batch) +
                       " --steps 1 --accumulate " +
                       std::to_string(passes / declared) +
                       " --save " + saved + (saveGrads ? " --save-grads" : ""),
                   output);
    ASSERT_EQ(code, 0) << output;
    SafetensorsFile checkpoint;
    ASSERT_TRUE(readSafetensors(saved, checkpoint, error)) << error;
    expectPyTorchStateDict(fixture, checkpoint);
    for (const auto &[key, expected] : fixture.tensors) {
      if (key.rfind(p + "after/", 0) == 0) {
        std::string name = key.substr((p + "after/").size());
        ASSERT_TRUE(checkpoint.tensors.count(name)) << name;
        expectClose(checkpoint.tensors.at(name), expected, name, absolute);
      }
      if (saveGrads && key.rfind(p + "grad/", 0) == 0) {
        std::string param = key.substr((p + "grad/").size());
        std::string name = "grad/" + param;
        ASSERT_TRUE(checkpoint.tensors.count(name)) << name;
        expectClose(checkpoint.tensors.at(name), expected, name,
                    absolute + zeroGradientTolerance(stem, param));
      }
    }
    if (!saveGrads) {
      for (const auto &[name, tensor] : checkpoint.tensors)
        EXPECT_NE(name.rfind("grad/", 0), 0u) << name;
      previous = checkpoint;
      continue;
    }
    // A parameter without a gradient in PyTorch has none in the checkpoint.
    for (const auto &[key, tensor] : fixture.tensors) {
      if (key.rfind(p + "after/", 0) != 0)
        continue;
      std::string name = key.substr((p + "after/").size());
      if (!fixture.tensors.count(p + "grad/" + name)) {
        EXPECT_FALSE(checkpoint.tensors.count("grad/" + name)) << name;
      }
    }
    previous = checkpoint;
  }
}

TEST_P(SeedBinary, TrainsLikePyTorch) { trainLikePyTorch(GetParam(), true); }

/// The default step, one fused kernel without gradient buffers where the
/// model allows it, updates the parameters as PyTorch does.
TEST_P(SeedBinary, FusedStepTrainsLikePyTorch) {
  trainLikePyTorch(GetParam(), false);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SeedBinary,
                         ::testing::Values("s000_conv_linear",
                                           "s001_frozen_branches",
                                           "s002_tinynet_frozen_fc2",
                                           "s003_two_conv", "s004_linear_adam"));

// Clipping by norm (the clips overwrite the gradient buffers, so the
// checkpoint's grad/ tensors are the clipped .grad), and `accumulate 4` over four
// different micro-batches per step. Max pooling (2x2, and overlapping 3x3
// windows with padding) after a convolution.
INSTANTIATE_TEST_SUITE_P(Models, SeedBinary,
                         ::testing::Values("models/clip_norm", "models/clip_per_optimizer",
                                           "models/accumulate4", "models/maxpool2d",
                                           "models/maxpool2d_overlap"));

// The layers and functions of the real-models issue (layer_models.py).
INSTANTIATE_TEST_SUITE_P(LayerModels, SeedBinary,
                         ::testing::Values("models/activations", "models/avgpool2d",
                                           "models/linear_seq", "models/layernorm",
                                           "models/loss_nll", "models/loss_l1_bce",
                                           "models/loss_smooth_huber",
                                           "models/loss_bce_kl", "models/permute_elu",
                                           "models/pow_clamp", "models/ce_options",
                                           "models/ce_ignore", "models/ce_ignore_class",
                                           "models/two_inputs", "models/loss_none",
                                           "models/sequential", "models/param_refs",
                                           "models/layer_table", "models/gpt_block_eval",
                                           "models/multihead_eval",
                                           "models/embedding", "models/attention",
                                           "models/gpt_block", "models/rmsnorm",
                                           "models/narrow_cat", "models/split_index",
                                           "models/masks", "models/multihead",
                                           "models/ce_none", "models/conv_groups", "models/conv_strided", "models/conv_chunks",
                                           "models/matmul_vectors", "models/matmul_broadcast", "models/ce_probs",
                                           "models/multihead_padding", "models/ids_padding",
                                           "models/attention_dropout"));

// BatchNorm in train mode (momentum 0.2, and momentum=None: cumulative
// averages over num_batches_tracked) and after a convolution: the running
// statistics and the int64 num_batches_tracked are saved under PyTorch's
// names and loaded again by the next phase's --init.
INSTANTIATE_TEST_SUITE_P(BatchNorm, SeedBinary,
                         ::testing::Values("models/batchnorm_train",
                                           "models/batchnorm_cumulative",
                                           "models/batchnorm2d"));

/// Models whose gradients are not all cleared before a step: they carry over
/// from one phase's checkpoint to the next (--save-grads, --init), so only the
/// run that saves them can go on as PyTorch's loop does.
class UnclearedBinary : public ::testing::TestWithParam<const char *> {};

TEST_P(UnclearedBinary, TrainsLikePyTorch) { trainLikePyTorch(GetParam(), true); }

// Clipping overwrites gradients that are never cleared (zero_grad none) and
// the accumulating gradient of a parameter no optimizer owns: the next
// backward adds to the clipped value.
INSTANTIATE_TEST_SUITE_P(Models, UnclearedBinary,
                         ::testing::Values("models/clip_uncleared",
                                           "models/clip_unowned"));

/// A NaN in an input reaches the prediction through conv, relu, max pooling
/// and linear, as in PyTorch: relu(NaN) and a pooling window's maximum over
/// a NaN are NaN (firn's kernels used to give 0 and the window's other
/// maximum, a finite prediction). The other samples stay finite.
TEST(Binary, ANaNInputGivesANaNPrediction) {
  std::string binary = compileModel(
      std::string(FIRN_FIXTURES_DIR) + "/models/maxpool2d.firn", "maxpool2d");
  std::string dir = tempDir() + "/nan-predict";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  std::vector<float> x(3 * 36);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = 0.05f * static_cast<float>(i % 17) - 0.3f;
  x[36 + 14] = std::nanf(""); // sample 1, one pixel
  std::string error;
  ASSERT_TRUE(writeNpy(dir + "/x.npy", TensorData::fromFloats({3, 1, 6, 6}, x), error))
      << error;
  SafetensorsFile fixture;
  ASSERT_TRUE(readSafetensors(std::string(FIRN_FIXTURES_DIR) +
                                  "/models/maxpool2d.safetensors",
                              fixture, error))
      << error;
  writeCheckpoint(fixture, "1/init/", dir + "/init.safetensors");
  std::string output;
  ASSERT_EQ(run(binary + " predict --init " + dir + "/init.safetensors --x " + dir +
                    "/x.npy --out " + dir + "/p.npy",
                output),
            0)
      << output;
  TensorData p;
  ASSERT_TRUE(readNpy(dir + "/p.npy", p, error)) << error;
  ASSERT_EQ(p.shape, (std::vector<int64_t>{3, 3}));
  std::vector<float> v = p.asFloats();
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(std::isnan(v[i]), i / 3 == 1) << "prediction " << i / 3 << ", class "
                                             << i % 3 << ": " << v[i];
}

TEST(Binary, TargetsTheLossIgnoresAreDataButNotPredictions) {
  // ce_ignore's loss ignores -100 (cross_entropy's ignore_index): targets
  // may hold it, accuracy leaves it out (6 samples, 2 ignored: of 4), and a
  // value that is neither a class nor ignored is still refused; a model
  // whose loss ignores nothing refuses -100.
  std::string binary = compileModel(
      std::string(FIRN_FIXTURES_DIR) + "/models/ce_ignore.firn", "ce_ignore");
  std::string plain = compileModel(
      std::string(FIRN_FIXTURES_DIR) + "/models/loss_nll.firn", "loss_nll");
  std::string dir = tempDir() + "/ignore-index";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  std::vector<float> x(6 * 4);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
  std::string error;
  ASSERT_TRUE(writeNpy(dir + "/x.npy", TensorData::fromFloats({6, 4}, x), error)) << error;
  ASSERT_TRUE(writeNpy(dir + "/y.npy",
                       TensorData::fromInt64s({6}, {0, -100, 2, 1, -100, 0}), error))
      << error;
  ASSERT_TRUE(writeNpy(dir + "/bad.npy", TensorData::fromInt64s({6}, {0, 5, 2, 1, 0, 0}),
                       error))
      << error;
  std::string output;
  ASSERT_EQ(run(binary + " train --x " + dir + "/x.npy --y " + dir +
                    "/y.npy --batch-size 6 --steps 2 --save " + dir + "/c.safetensors",
                output),
            0)
      << output;
  ASSERT_EQ(run(binary + " eval --init " + dir + "/c.safetensors --x " + dir +
                    "/x.npy --y " + dir + "/y.npy",
                output),
            0)
      << output;
  EXPECT_NE(output.find("/4)"), std::string::npos) << output;
  EXPECT_EQ(run(binary + " eval --init " + dir + "/c.safetensors --x " + dir +
                    "/x.npy --y " + dir + "/bad.npy",
                output),
            1)
      << output;
  EXPECT_NE(output.find("target 5 of sample 1 is not a class index in [0, 3) (the "
                        "model has 3 classes, and its loss ignores -100)"),
            std::string::npos)
      << output;
  EXPECT_EQ(run(plain + " train --x " + dir + "/x.npy --y " + dir +
                    "/y.npy --batch-size 6 --steps 1",
                output),
            1)
      << output;
  EXPECT_NE(output.find("target -100 of sample 1 is not a class index"), std::string::npos)
      << output;
}

TEST(Binary, AModelWithSeveralInputsTakesThemByName) {
  // two_inputs.firn: forward(x: f32[N, 4], ids: i64[N]). Trained above
  // against PyTorch (LayerModels); here the command line around it.
  std::string binary = compileModel(
      std::string(FIRN_FIXTURES_DIR) + "/models/two_inputs.firn", "two_inputs");
  std::string dir = tempDir() + "/two-inputs";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  std::string error;
  ASSERT_TRUE(writeNpy(dir + "/x.npy", TensorData::fromFloats({4, 4}, std::vector<float>(16, 0.5f)),
                       error))
      << error;
  ASSERT_TRUE(writeNpy(dir + "/ids.npy", TensorData::fromInt64s({4}, {0, 4, 2, 1}), error))
      << error;
  ASSERT_TRUE(writeNpy(dir + "/ids3.npy", TensorData::fromInt64s({3}, {0, 4, 2}), error))
      << error;
  ASSERT_TRUE(writeNpy(dir + "/y.npy", TensorData::fromInt64s({4}, {0, 1, 2, 1}), error))
      << error;
  const std::string x = " --input x=" + dir + "/x.npy", y = " --y " + dir + "/y.npy";
  std::string output;
  ASSERT_EQ(run(binary + " train --input ids=" + dir + "/ids.npy" + x + y +
                    " --batch-size 2 --steps 2 --save " + dir + "/c.safetensors",
                output),
            0)
      << output;
  const std::string init = " --init " + dir + "/c.safetensors";
  ASSERT_EQ(run(binary + " eval" + x + " --input ids=" + dir + "/ids.npy" + y + init,
                output),
            0)
      << output;
  EXPECT_NE(output.find("/4)"), std::string::npos) << output; // accuracy (k/4)
  ASSERT_EQ(run(binary + " predict" + x + " --input ids=" + dir + "/ids.npy" + init +
                    " --out " + dir + "/p.npy",
                output),
            0)
      << output;
  TensorData p;
  ASSERT_TRUE(readNpy(dir + "/p.npy", p, error)) << error;
  EXPECT_EQ(p.shape, (std::vector<int64_t>{4, 3}));
  // Evaluation during training, by name too.
  ASSERT_EQ(run(binary + " train --input ids=" + dir + "/ids.npy" + x + y +
                    " --batch-size 2 --steps 2 --eval-input x=" + dir +
                    "/x.npy --eval-input ids=" + dir + "/ids.npy --eval-y " + dir + "/y.npy",
                output),
            0)
      << output;
  EXPECT_NE(output.find("eval epoch 1 (step 2): loss "), std::string::npos) << output;
  // What goes wrong, named.
  const std::pair<std::string, std::string> cases[] = {
      {" train --x " + dir + "/x.npy" + y,
       "this model takes 2 inputs (x, ids): give each as --input NAME=X.npy"},
      {" train" + x + y, "no --input ids=X.npy (the model's inputs: x, ids)"},
      {" train" + x + " --input idz=" + dir + "/ids.npy" + y,
       "this model has no input 'idz' (its inputs: x, ids)"},
      {" train" + x + " --input ids=" + dir + "/ids3.npy" + y,
       "ids3.npy has 3 samples but " + dir + "/x.npy has 4; every input must have "
       "the same first dimension"},
      {" train" + x + " --input ids=" + dir + "/ids.npy" + y + " --eval-x " + dir +
           "/x.npy --eval-y " + dir + "/y.npy",
       "this model takes 2 inputs (x, ids): give each as --eval-input NAME=X.npy"},
  };
  for (const auto &[args, message] : cases) {
    EXPECT_EQ(run(binary + args, output), 1) << args << "\n" << output;
    EXPECT_NE(output.find(message), std::string::npos) << args << "\n" << output;
  }
}

TEST(Binary, NeedsNoHalideLLVMOrMLIRLibrary) {
  std::string binary = compileSeed("s002_tinynet_frozen_fc2");
  std::string output;
  ASSERT_EQ(run("ldd " + binary, output), 0) << output;
  EXPECT_EQ(output.find("Halide"), std::string::npos) << output;
  EXPECT_EQ(output.find("LLVM"), std::string::npos) << output;
  EXPECT_EQ(output.find("MLIR"), std::string::npos) << output;
}

/// The digits example trains for real: >= 95% test accuracy (issue 4; the
/// PyTorch reference in examples/digits_mlp.firn reaches 97.4%).
TEST(Binary, DigitsExampleLearns) {
  std::string binary =
      compileModel(std::string(FIRN_EXAMPLES_DIR) + "/digits_mlp.firn", "digits_mlp");
  std::string output;
  std::string data = std::string(FIRN_EXAMPLES_DIR) + "/data/";
  std::string checkpoint = tempDir() + "/digits.safetensors";
  ASSERT_EQ(run(binary + " train --x " + data + "digits_train_x.npy --y " +
                    data + "digits_train_y.npy --batch-size 32 --epochs 20 "
                    "--save " + checkpoint,
                output),
            0)
      << output;
  ASSERT_EQ(run(binary + " eval --init " + checkpoint + " --x " + data +
                    "digits_test_x.npy --y " + data + "digits_test_y.npy",
                output),
            0)
      << output;
  size_t at = output.find("accuracy ");
  ASSERT_NE(at, std::string::npos) << output;
  double accuracy = std::stod(output.substr(at + 9));
  EXPECT_GE(accuracy, 0.95) << output;
}

/// --no-grad: an inference-only binary evaluates a checkpoint of the
/// training build and refuses to train with a clear error.
TEST(Binary, InferenceOnlyBuild) {
  std::string dir = tempDir() + "/nograd";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  std::string output, seed = std::string(FIRN_EXAMPLES_DIR) +
                              "/seeds/s002_tinynet_frozen_fc2.firn";
  ASSERT_EQ(run(std::string(FIRNC) + " " + seed + " -o " + dir + "/full", output),
            0)
      << output;
  ASSERT_EQ(run(std::string(FIRNC) + " " + seed + " --no-grad -o " + dir +
                    "/infer",
                output),
            0)
      << output;
  TensorData x{DType::F32, {1, 2}, {}}, y{DType::F32, {1, 1}, {}};
  float xs[] = {1.0f, 2.0f}, ys[] = {1.0f};
  x.bytes.assign(reinterpret_cast<uint8_t *>(xs), reinterpret_cast<uint8_t *>(xs) + 8);
  y.bytes.assign(reinterpret_cast<uint8_t *>(ys), reinterpret_cast<uint8_t *>(ys) + 4);
  std::string error;
  ASSERT_TRUE(writeNpy(dir + "/x.npy", x, error)) << error;
  ASSERT_TRUE(writeNpy(dir + "/y.npy", y, error)) << error;
  std::string data = " --x " + dir + "/x.npy --y " + dir + "/y.npy";
  ASSERT_EQ(run(dir + "/full train" + data + " --steps 1 --save " + dir +
                    "/ckpt.safetensors",
                output),
            0)
      << output;
  std::string trained;
  ASSERT_EQ(run(dir + "/full eval --init " + dir + "/ckpt.safetensors" + data,
                trained),
            0)
      << trained;
  ASSERT_EQ(run(dir + "/infer eval --init " + dir + "/ckpt.safetensors" + data,
                output),
            0)
      << output;
  EXPECT_EQ(output, trained); // Same loss, and no warnings about training state.
  EXPECT_EQ(run(dir + "/infer train" + data, output), 1);
  EXPECT_NE(output.find("inference only"), std::string::npos) << output;
}

/// --emit=lib: a C program embeds seed 004 through the generated header
/// and one static library, and its first Adam step gives [1.0, 0.5].
TEST(Library, EmbedsInACProgram) {
  std::string dir = tempDir() + "/lib";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  std::string output;
  ASSERT_EQ(run(std::string(FIRNC) + " " + FIRN_EXAMPLES_DIR +
                    "/seeds/s004_linear_adam.firn --emit=lib -o " + dir +
                    "/libs004.a",
                output),
            0)
      << output;
  std::ofstream program(dir + "/embed.c");
  program << R"c(
#include "libs004.h"
#include <stdio.h>
int main(void) {
  firn_session *s = firn_create(&firn_model, 0);
  const float x[] = {0.0f, 2.0f}, y[] = {1.0f};
  const float *inputs[] = {x};
  float loss = 0, w[2] = {0, 0};
  if (!s || firn_train_step(s, 1, inputs, y, &loss) != 0 ||
      firn_get_tensor(s, "mlp.weight", w, sizeof w) != 0) {
    printf("error: %s\n", s ? firn_last_error(s) : "no session");
    return 1;
  }
  printf("loss %.6f weight %.6f %.6f\n", loss, w[0], w[1]);
  firn_destroy(s);
  return 0;
}
)c";
  program.close();
  ASSERT_EQ(run("cc -std=c99 -Wall -Werror " + sanitizeFlags() + " -I" + dir + " " +
                    dir + "/embed.c " +
                    dir + "/libs004.a -lstdc++ -lm -ldl -lpthread -o " + dir +
                    "/embed",
                output),
            0)
      << output;
  ASSERT_EQ(run(dir + "/embed", output), 0) << output;
  // Seed 004: output 2, loss (2 - 1)^2 = 1, Adam(lr=0.5) moves weight[1] by 0.5.
  EXPECT_EQ(output, "loss 1.000000 weight 1.000000 0.500000\n");
}

/// --emit=obj: one object with the kernels, the Halide runtime and the model
/// table, which links with the firn runtime into a working binary.
TEST(Object, LinksIntoABinary) {
  std::string dir = tempDir() + "/obj";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  std::string output;
  ASSERT_EQ(run(std::string(FIRNC) + " " + FIRN_EXAMPLES_DIR +
                    "/seeds/s002_tinynet_frozen_fc2.firn --emit=obj -o " + dir +
                    "/model.o",
                output),
            0)
      << output;
  std::ofstream main(dir + "/main.cpp");
  main << "#include \"firn/Runtime/Main.h\"\n"
          "int main(int argc, char **argv) { return firn_main(argc, argv, "
          "&firn_model); }\n";
  main.close();
  ASSERT_EQ(run("c++ " + sanitizeFlags() + " -I" + std::string(FIRN_RUNTIME_INCLUDE) +
                    " -isystem /usr/include/halide14 " + dir + "/main.cpp " +
                    dir + "/model.o " + FIRN_RUNTIME_LIBRARY +
                    " -ldl -lpthread -o " + dir + "/model",
                output),
            0)
      << output;
  ASSERT_EQ(run(dir + "/model info", output), 0) << output;
  EXPECT_NE(output.find("fc2.weight"), std::string::npos) << output;
}

} // namespace
