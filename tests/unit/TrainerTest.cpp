//===- TrainerTest.cpp - The runtime behind firn_main, on fake models -----===//
//
// The runtime is tested without firnc or Halide, on the hand-written model
// tables of FakeModel.h (`linreg`, trained by SGD, whose every number is
// checked against the same formulas computed in double; `clf`, an
// inference-only classifier with a loaded scale).
// The tests cover initialization, the training loop (first step, loss going
// down, gradient accumulation), checkpoints, eval, predict, info and
// firn_main's messages and exit codes.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Trainer.h"
#include "firn/Runtime/Buffers.h"
#include "firn/Runtime/Info.h"
#include "firn/Runtime/Main.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Random.h"
#include "firn/Runtime/Safetensors.h"

#include "FakeModel.h"
#include "TestDir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace firn::runtime;
using namespace firn::fake;

namespace {

//===----------------------------------------------------------------------===//
// Fixture: files in a temporary directory, firn_main with captured output
//===----------------------------------------------------------------------===//

class TrainerTest : public ::testing::Test {
protected:
  std::string dir;
  std::string out, err;

  void SetUp() override {
    calls = Calls();
    dir = firn::testing::freshTestDir("firn_trainer_");
    ASSERT_NE(dir, "");
  }
  void TearDown() override { firn::testing::removeTestDir(dir); }

  std::string writeFloats(const std::string &name, std::vector<int64_t> shape,
                          const std::vector<float> &values) {
    std::string error;
    EXPECT_TRUE(
        writeNpy(dir + name, TensorData::fromFloats(shape, values), error))
        << error;
    return dir + name;
  }
  std::string writeInts(const std::string &name, std::vector<int64_t> shape,
                        const std::vector<int64_t> &values) {
    std::string error;
    EXPECT_TRUE(
        writeNpy(dir + name, TensorData::fromInt64s(shape, values), error))
        << error;
    return dir + name;
  }
  std::string writeCheckpoint(const std::string &name,
                              const SafetensorsFile &file) {
    std::string error;
    EXPECT_TRUE(writeSafetensors(dir + name, file, error)) << error;
    return dir + name;
  }
  SafetensorsFile readCheckpoint(const std::string &path) {
    SafetensorsFile file;
    std::string error;
    EXPECT_TRUE(readSafetensors(path, file, error)) << error;
    return file;
  }

  /// Writes ckpt.safetensors (linreg's initial state) and x.npy, runs
  /// predict on them with --batch-size `batch`, and checks the outputs.
  void predictInBatchesOf(const char *batch) {
    std::string x = writeFloats("x.npy", {4, 2}, kX);
    std::string ckpt = dir + "ckpt.safetensors", p = dir + "p.npy";
    ModelState state(kLinreg);
    state.initialize(0);
    std::string error;
    ASSERT_TRUE(state.save(ckpt, false, error));
    ASSERT_EQ(run(kLinreg, {"predict", "--init", ckpt, "--x", x, "--out", p,
                            "--batch-size", batch}),
              0)
        << err;
    TensorData pred;
    ASSERT_TRUE(readNpy(p, pred, error)) << error;
    EXPECT_EQ(pred.dtype, DType::F32);
    EXPECT_EQ(pred.shape, std::vector<int64_t>({4, 1}));
    std::vector<float> values = pred.asFloats();
    for (int n = 0; n < 4; ++n)
      EXPECT_FLOAT_EQ(values[n],
                      0.5f * kX[2 * n] + -0.25f * kX[2 * n + 1] + 0.1f);
  }

  /// Runs firn_main as the program `prog`, keeping its stdout and stderr.
  int run(const firn_model_desc &model, std::vector<std::string> args,
          const std::string &prog = "/some/dir/linreg") {
    return firn::testing::runFirnMain(model, prog, std::move(args), out, err);
  }
};

//===----------------------------------------------------------------------===//
// Buffers
//===----------------------------------------------------------------------===//

TEST(BuffersTest, DimensionZeroIsTheLastTensorDimension) {
  HostTensor t = HostTensor::zeros(FIRN_F32, {2, 3, 4});
  HalideBuffer hb;
  std::string error;
  ASSERT_TRUE(describeBuffer(t, hb, "t", error)) << error;
  EXPECT_EQ(hb.buffer.dimensions, 3);
  EXPECT_EQ(hb.buffer.dim, hb.dims);
  EXPECT_EQ(hb.buffer.host, reinterpret_cast<uint8_t *>(t.f32.data()));
  EXPECT_EQ(hb.buffer.type.code, halide_type_float);
  EXPECT_EQ(hb.buffer.type.bits, 32);
  EXPECT_EQ(hb.buffer.type.lanes, 1);
  int32_t extents[] = {4, 3, 2}, strides[] = {1, 4, 12};
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(hb.dims[k].min, 0);
    EXPECT_EQ(hb.dims[k].extent, extents[k]);
    EXPECT_EQ(hb.dims[k].stride, strides[k]);
  }
}

TEST(BuffersTest, ScalarsAndInt64) {
  HostTensor s = HostTensor::zeros(FIRN_I64, {});
  EXPECT_EQ(s.numel(), 1);
  HalideBuffer hb;
  std::string error;
  ASSERT_TRUE(describeBuffer(s, hb, "s", error));
  EXPECT_EQ(hb.buffer.dimensions, 0);
  EXPECT_EQ(hb.buffer.type.code, halide_type_int);
  EXPECT_EQ(hb.buffer.type.bits, 64);
  EXPECT_EQ(hb.buffer.host, reinterpret_cast<uint8_t *>(s.i64.data()));
}

TEST(BuffersTest, RejectsWhatHalideCannotIndex) {
  halide_buffer_t b;
  halide_dimension_t dims[FIRN_MAX_RANK];
  int64_t huge[] = {1 << 20, 1 << 12};
  EXPECT_NE(firn_describe_buffer(FIRN_F32, 2, huge, nullptr, &b, dims), 0);
  int64_t negative[] = {-1};
  EXPECT_NE(firn_describe_buffer(FIRN_F32, 1, negative, nullptr, &b, dims), 0);
  EXPECT_NE(firn_describe_buffer(FIRN_F32, FIRN_MAX_RANK + 1, huge, nullptr, &b,
                                 dims),
            0);
  EXPECT_NE(firn_describe_buffer(7, 0, nullptr, nullptr, &b, dims), 0);
}

//===----------------------------------------------------------------------===//
// Initialization
//===----------------------------------------------------------------------===//

TEST_F(TrainerTest, ConstantInitialization) {
  ModelState state(kLinreg);
  state.initialize(1);
  EXPECT_EQ(state.tensor(kW).f32, std::vector<float>({0.5f, -0.25f}));
  EXPECT_EQ(state.tensor(kB).f32, std::vector<float>({0.1f}));
  EXPECT_EQ(state.tensor(kGradW).f32, std::vector<float>({0, 0}));
  EXPECT_EQ(state.tensor(kLr).f32, std::vector<float>({0.1f}));
  EXPECT_EQ(state.tensor(kLr).shape, std::vector<int64_t>());
  std::string error;
  EXPECT_TRUE(state.checkComplete(error)) << error;
}

TEST_F(TrainerTest, UniformInitializationIsReproducibleAndBounded) {
  ModelState a(kLinreg), b(kLinreg), c(kLinreg);
  a.initialize(42);
  b.initialize(42);
  c.initialize(43);
  const std::vector<float> &u = a.tensor(kU).f32;
  ASSERT_EQ(u.size(), 12u);
  EXPECT_EQ(u, b.tensor(kU).f32);
  EXPECT_NE(u, c.tensor(kU).f32);
  for (size_t i = 0; i < u.size(); ++i) {
    EXPECT_GE(u[i], -0.3f);
    EXPECT_LT(u[i], 0.3f);
    // The documented formula.
    float expected = static_cast<float>(
        -0.3 + 0.6 * firn::random::uniform(42, kInitRandomKey, kU,
                                           static_cast<uint32_t>(i)));
    EXPECT_EQ(u[i], expected);
  }
  EXPECT_NE(u[0], u[1]);
}

TEST_F(TrainerTest, NormalInitializationFollowsItsFormulaAndZeroesItsRow) {
  // An Embedding's default: N(0, std^2) by Box-Muller on draws 2i and 2i+1
  // of the state's stream, then the padding row set to zero.
  std::vector<firn_state_desc> states = kLinregStates;
  firn_state_desc &u = states[kU];
  u.init = FIRN_INIT_NORMAL;
  u.bound = 2.0;
  u.shape[0] = 1000;
  u.shape[1] = 8;
  u.zero_row = 3;
  firn_model_desc desc = kLinreg;
  desc.states = states.data();
  std::string error;
  ASSERT_TRUE(validateModel(desc, error)) << error;
  ModelState state(desc);
  state.initialize(42);
  const std::vector<float> &w = state.tensor(kU).f32;
  ASSERT_EQ(w.size(), 8000u);
  double sum = 0, squares = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (i / 8 == 3) {
      EXPECT_EQ(w[i], 0.0f) << i;
      continue;
    }
    double u1 = firn::random::uniform(42, kInitRandomKey, kU, static_cast<uint32_t>(2 * i));
    double u2 = firn::random::uniform(42, kInitRandomKey, kU, static_cast<uint32_t>(2 * i + 1));
    double z = std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * M_PI * u2);
    EXPECT_EQ(w[i], static_cast<float>(2.0 * z)) << i;
    sum += w[i];
    squares += double(w[i]) * w[i];
  }
  // 7992 draws: the mean within 4 standard errors of 0, the std within 5%.
  const double n = 7992, mean = sum / n, stddev = std::sqrt(squares / n - mean * mean);
  EXPECT_LT(std::abs(mean), 4 * 2.0 / std::sqrt(n));
  EXPECT_NEAR(stddev, 2.0, 0.1);

  u.zero_row = 1000; // Outside the table.
  EXPECT_FALSE(validateModel(desc, error));
  EXPECT_NE(error.find("normal initialization"), std::string::npos) << error;
}

TEST_F(TrainerTest, LoadInitializedParameterNeedsAValue) {
  ModelState state(kClf);
  state.initialize(0);
  std::string error;
  EXPECT_FALSE(state.checkComplete(error));
  EXPECT_NE(error.find("parameter 'scale' needs a value"), std::string::npos)
      << error;
  EXPECT_NE(error.find("--init"), std::string::npos);

  SafetensorsFile file;
  file.tensors["scale"] = TensorData::fromFloats({1}, {2.0f});
  std::string path = writeCheckpoint("scale.safetensors", file);
  ASSERT_TRUE(state.load(path, error, nullptr)) << error;
  EXPECT_TRUE(state.checkComplete(error)) << error;
  EXPECT_EQ(state.tensor(0).f32, std::vector<float>({2.0f}));
}

//===----------------------------------------------------------------------===//
// Training
//===----------------------------------------------------------------------===//

TEST_F(TrainerTest, FirstStepMatchesHandComputedSGD) {
  std::string x = writeFloats("x.npy", {4, 2}, kX);
  std::string y = writeFloats("y.npy", {4, 1}, kY);
  std::string ckpt = dir + "ckpt.safetensors";
  ASSERT_EQ(run(kLinreg, {"train", "--x", x, "--y", y, "--batch-size", "4",
                          "--steps", "1", "--save", ckpt, "--save-grads"}),
            0)
      << err;
  EXPECT_EQ(calls.zeroGrad, 1);
  EXPECT_EQ(calls.trainStep, 1);
  EXPECT_EQ(calls.optimizer, 1);
  EXPECT_FALSE(calls.aliased);

  const double w[2] = {0.5f, -0.25f};
  const double b = 0.1f, lr = 0.1f;
  std::vector<double> g = gradient(w, b, 0, 4);
  SafetensorsFile file = readCheckpoint(ckpt);
  std::vector<float> wNew = file.tensors.at("w").asFloats();
  EXPECT_NEAR(wNew[0], w[0] - lr * g[0], 1e-6);
  EXPECT_NEAR(wNew[1], w[1] - lr * g[1], 1e-6);
  EXPECT_NEAR(file.tensors.at("b").asFloats()[0], b - lr * g[2], 1e-6);
  EXPECT_NEAR(file.tensors.at("grad/w").asFloats()[0], g[0], 1e-6);
  EXPECT_NEAR(file.tensors.at("grad/b").asFloats()[0], g[2], 1e-6);
  EXPECT_EQ(file.metadata.at("step"), "1");
  EXPECT_EQ(file.metadata.at("firn_model"), "linreg");
  EXPECT_EQ(file.metadata.at("format"), "firn-checkpoint-1");
  EXPECT_NE(out.find("trained 1 steps"), std::string::npos) << out;
  // Progress goes to stderr (not a terminal here): a plain line.
  EXPECT_NE(err.find("step 1/1"), std::string::npos) << err;
}

TEST_F(TrainerTest, TrainingReducesTheLoss) {
  // y = 3 x0 - 2 x1 + 0.5 on 64 points.
  std::vector<float> xs, ys;
  for (int n = 0; n < 64; ++n) {
    float x0 = float(n % 8) / 4 - 1, x1 = float(n / 8) / 4 - 1;
    xs.insert(xs.end(), {x0, x1});
    ys.push_back(3 * x0 - 2 * x1 + 0.5f);
  }
  Dataset data;
  DatasetSpec spec;
  bool hasTarget;
  std::string error;
  ASSERT_TRUE(dataSpecOf(kLinreg, spec, hasTarget, error)) << error;
  EXPECT_TRUE(hasTarget);
  EXPECT_EQ(spec.inputShape, std::vector<int64_t>({2}));
  TensorData inputs = TensorData::fromFloats({64, 2}, xs);
  TensorData targets = TensorData::fromFloats({64, 1}, ys);
  ASSERT_TRUE(Dataset::fromTensors(inputs, "x.npy", &targets, "y.npy", spec,
                                   data, error))
      << error;

  ModelState state(kLinreg);
  state.initialize(0);
  std::FILE *progress = std::tmpfile();
  TrainOptions options;
  options.batchSize = 16;
  options.steps = 1;
  options.shuffle = true;
  options.progress = progress;
  TrainResult first, last;
  ASSERT_TRUE(train(state, data, options, first, error)) << error;
  options.steps = 299;
  ASSERT_TRUE(train(state, data, options, last, error)) << error;
  std::fclose(progress);
  EXPECT_EQ(state.steps(), 300);
  EXPECT_EQ(last.steps, 299);
  EXPECT_LT(last.loss, first.loss / 100) << first.loss << " " << last.loss;
  EXPECT_NEAR(state.tensor(kW).f32[0], 3.0f, 0.05);
  EXPECT_NEAR(state.tensor(kW).f32[1], -2.0f, 0.05);
  EXPECT_NEAR(state.tensor(kB).f32[0], 0.5f, 0.05);
}

TEST_F(TrainerTest, AccumulationSumsMicroBatchGradients) {
  std::string x = writeFloats("x.npy", {4, 2}, kX);
  std::string y = writeFloats("y.npy", {4, 1}, kY);
  std::string ckpt = dir + "ckpt.safetensors";
  ASSERT_EQ(
      run(kLinreg, {"train", "--x", x, "--y", y, "--batch-size", "2", "--steps",
                    "1", "--accumulate", "2", "--save", ckpt, "--save-grads"}),
      0)
      << err;
  // One step: one zero_grad, two micro-batches, one update.
  EXPECT_EQ(calls.zeroGrad, 1);
  EXPECT_EQ(calls.trainStep, 2);
  EXPECT_EQ(calls.optimizer, 1);

  const double w[2] = {0.5f, -0.25f};
  const double b = 0.1f, lr = 0.1f;
  std::vector<double> g1 = gradient(w, b, 0, 2), g2 = gradient(w, b, 2, 2);
  SafetensorsFile file = readCheckpoint(ckpt);
  std::vector<float> gw = file.tensors.at("grad/w").asFloats();
  EXPECT_NEAR(gw[0], g1[0] + g2[0], 1e-5);
  EXPECT_NEAR(gw[1], g1[1] + g2[1], 1e-5);
  EXPECT_NEAR(file.tensors.at("grad/b").asFloats()[0], g1[2] + g2[2], 1e-5);
  std::vector<float> wNew = file.tensors.at("w").asFloats();
  EXPECT_NEAR(wNew[0], w[0] - lr * (g1[0] + g2[0]), 1e-5);
  EXPECT_NEAR(wNew[1], w[1] - lr * (g1[1] + g2[1]), 1e-5);
}

TEST_F(TrainerTest, EpochsCountPassesOverTheData) {
  std::string x = writeFloats("x.npy", {4, 2}, kX);
  std::string y = writeFloats("y.npy", {4, 1}, kY);
  ASSERT_EQ(run(kLinreg, {"train", "--x", x, "--y", y, "--batch-size", "2",
                          "--epochs", "3"}),
            0)
      << err;
  EXPECT_EQ(calls.trainStep, 6);
  EXPECT_EQ(calls.optimizer, 6);
  EXPECT_NE(err.find("epoch 3/3"), std::string::npos) << err;
}

TEST_F(TrainerTest, ResumingContinuesExactly) {
  std::string x = writeFloats("x.npy", {4, 2}, kX);
  std::string y = writeFloats("y.npy", {4, 1}, kY);
  std::string a = dir + "a.safetensors", b = dir + "b.safetensors",
              c = dir + "c.safetensors";
  ASSERT_EQ(run(kLinreg, {"train", "--x", x, "--y", y, "--batch-size", "2",
                          "--steps", "3", "--shuffle", "--save", a}),
            0)
      << err;
  ASSERT_EQ(run(kLinreg, {"train", "--x", x, "--y", y, "--batch-size", "2",
                          "--steps", "2", "--shuffle", "--save", b}),
            0)
      << err;
  ASSERT_EQ(
      run(kLinreg, {"train", "--x", x, "--y", y, "--batch-size", "2", "--steps",
                    "1", "--shuffle", "--init", b, "--save", c}),
      0)
      << err;
  SafetensorsFile fa = readCheckpoint(a), fc = readCheckpoint(c);
  EXPECT_EQ(fc.metadata.at("step"), "3");
  EXPECT_EQ(fa.tensors.at("w").bytes, fc.tensors.at("w").bytes);
  EXPECT_EQ(fa.tensors.at("b").bytes, fc.tensors.at("b").bytes);
}

//===----------------------------------------------------------------------===//
// Checkpoints
//===----------------------------------------------------------------------===//

TEST_F(TrainerTest, SaveLoadRoundTrip) {
  ModelState state(kLinreg);
  state.initialize(5);
  state.tensor(kGradW).f32 = {1.5f, -2.5f};
  state.setSteps(17);
  std::string error;
  std::string with = dir + "with.safetensors", without = dir + "without.st";
  ASSERT_TRUE(state.save(with, /*saveGrads=*/true, error)) << error;
  ASSERT_TRUE(state.save(without, /*saveGrads=*/false, error)) << error;
  EXPECT_TRUE(readCheckpoint(with).tensors.count("grad/w"));
  SafetensorsFile plain = readCheckpoint(without);
  EXPECT_FALSE(plain.tensors.count("grad/w"));
  EXPECT_TRUE(plain.tensors.count("optim/sgd/0/lr"));
  EXPECT_TRUE(plain.tensors.count("u"));

  ModelState other(kLinreg);
  other.initialize(6);
  ASSERT_TRUE(other.load(with, error, nullptr)) << error;
  EXPECT_EQ(other.steps(), 17);
  for (int s = 0; s < kNumStates; ++s)
    EXPECT_EQ(other.tensor(s).f32, state.tensor(s).f32)
        << kLinregStates[s].name;
}

TEST_F(TrainerTest, LoadsAParametersOnlyFile) {
  // What a PyTorch state dict converted to safetensors holds: parameters
  // only, possibly in float64, possibly with keys firn does not know.
  SafetensorsFile file;
  file.tensors["w"] = TensorData::fromFloats({1, 2}, {2.0f, 3.0f});
  file.tensors["b"] = TensorData::fromDoubles({1}, {-1.0});
  file.tensors["u"] = TensorData::fromFloats({3, 4}, std::vector<float>(12, 1));
  file.tensors["foo"] = TensorData::fromFloats({1}, {0.0f});
  std::string path = writeCheckpoint("params.safetensors", file);

  ModelState state(kLinreg);
  state.initialize(0);
  state.setSteps(9);
  std::FILE *warnings = std::tmpfile();
  std::string error;
  ASSERT_TRUE(state.load(path, error, warnings)) << error;
  std::rewind(warnings);
  char text[256] = {};
  std::fread(text, 1, sizeof(text) - 1, warnings);
  std::fclose(warnings);
  EXPECT_EQ(std::string(text),
            path + ": ignoring 'foo' (not part of this model)\n");
  EXPECT_EQ(state.tensor(kW).f32, std::vector<float>({2.0f, 3.0f}));
  EXPECT_EQ(state.tensor(kB).f32, std::vector<float>({-1.0f}));
  // Buffers the file lacks keep their initial values; no step metadata
  // means a fresh run.
  EXPECT_EQ(state.tensor(kLr).f32, std::vector<float>({0.1f}));
  EXPECT_EQ(state.steps(), 0);
}

TEST_F(TrainerTest, LoadErrorsNameFileTensorAndShapes) {
  ModelState state(kLinreg);
  state.initialize(0);
  std::string error;

  SafetensorsFile file;
  file.tensors["w"] = TensorData::fromFloats({2, 1}, {9.0f, 9.0f});
  file.tensors["b"] = TensorData::fromFloats({1}, {9.0f});
  file.tensors["u"] = TensorData::fromFloats({3, 4}, std::vector<float>(12));
  std::string path = writeCheckpoint("bad.safetensors", file);
  EXPECT_FALSE(state.load(path, error, nullptr));
  EXPECT_EQ(error, path + ": 'w' has shape [2, 1], but the model's 'w' has "
                          "shape [1, 2]");
  // Nothing changed: the file is checked before anything is replaced.
  EXPECT_EQ(state.tensor(kB).f32, std::vector<float>({0.1f}));

  file.tensors["w"] = TensorData::fromInt64s({1, 2}, {1, 2});
  path = writeCheckpoint("dtype.safetensors", file);
  EXPECT_FALSE(state.load(path, error, nullptr));
  EXPECT_NE(error.find("'w' has dtype I64"), std::string::npos) << error;

  file.tensors.erase("w");
  path = writeCheckpoint("missing.safetensors", file);
  EXPECT_FALSE(state.load(path, error, nullptr));
  EXPECT_EQ(error, path + ": no tensor for the parameter 'w' of this model");

  EXPECT_FALSE(state.load(dir + "absent.safetensors", error, nullptr));
  EXPECT_NE(error.find("absent.safetensors"), std::string::npos) << error;

  std::FILE *f = std::fopen((dir + "corrupt.safetensors").c_str(), "wb");
  std::fputs("not a checkpoint", f);
  std::fclose(f);
  EXPECT_FALSE(state.load(dir + "corrupt.safetensors", error, nullptr));
  EXPECT_NE(error.find("corrupt.safetensors"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// Eval, predict, info
//===----------------------------------------------------------------------===//

TEST_F(TrainerTest, EvalReportsLossAndAccuracy) {
  // Scores = x * 2; argmax hits for rows 0, 1, 3 (row 2's target is 0).
  std::string x = writeFloats(
      "x.npy", {4, 3}, {0.9f, 0.1f, 0, 0, 1, 0.5f, 0.2f, 0.7f, 0.1f, 0, 0, 3});
  std::string y = writeInts("y.npy", {4}, {0, 1, 0, 2});
  SafetensorsFile file;
  file.tensors["scale"] = TensorData::fromFloats({1}, {2.0f});
  std::string init = writeCheckpoint("scale.safetensors", file);
  // Batches of 3: the last is partial and weighted by its one sample.
  ASSERT_EQ(
      run(kClf,
          {"eval", "--init", init, "--x", x, "--y", y, "--batch-size", "3"},
          "clf"),
      0)
      << err;
  double loss = -(0.9 + 1 + 0.2 + 3) * 2 / 4;
  char expected[96];
  std::snprintf(expected, sizeof(expected), "loss %.6f accuracy 0.7500 (3/4)\n",
                loss);
  EXPECT_EQ(out, expected);
}

TEST_F(TrainerTest, EvalOfARegressionHasNoAccuracy) {
  std::string x = writeFloats("x.npy", {4, 2}, kX);
  std::string y = writeFloats("y.npy", {4, 1}, kY);
  std::string ckpt = dir + "ckpt.safetensors";
  ModelState state(kLinreg);
  state.initialize(0);
  std::string error;
  ASSERT_TRUE(state.save(ckpt, false, error));
  ASSERT_EQ(run(kLinreg, {"eval", "--init", ckpt, "--x", x, "--y", y}), 0)
      << err;
  double sum = 0;
  for (int n = 0; n < 4; ++n) {
    double e = 0.5f * kX[2 * n] - 0.25f * kX[2 * n + 1] + 0.1f - kY[n];
    sum += e * e;
  }
  char expected[64];
  std::snprintf(expected, sizeof(expected), "loss %.6f\n", sum / 4);
  EXPECT_EQ(out, expected);
}

TEST_F(TrainerTest, PredictWritesTheOutputsAsNpy) {
  predictInBatchesOf("3");
  EXPECT_EQ(calls.predict, 2);
}

TEST_F(TrainerTest, ABatchLargerThanTheDataIsOnePartialBatch) {
  // As PyTorch's DataLoader(batch_size=100) over 4 samples: one batch of 4.
  std::string x = writeFloats("x.npy", {4, 2}, kX);
  std::string y = writeFloats("y.npy", {4, 1}, kY);
  std::string ckpt = dir + "ckpt.safetensors";
  predictInBatchesOf("100");
  EXPECT_EQ(calls.predict, 1);
  // eval: the mean squared error over all four, in one call.
  ASSERT_EQ(run(kLinreg, {"eval", "--init", ckpt, "--x", x, "--y", y,
                          "--batch-size", "9223372036854775807"}),
            0)
      << err;
  EXPECT_EQ(calls.evalLoss, 1);
  double sum = 0;
  for (int n = 0; n < 4; ++n) {
    double e = 0.5 * kX[2 * n] - 0.25 * kX[2 * n + 1] + 0.1 - kY[n];
    sum += e * e;
  }
  char expected[64];
  std::snprintf(expected, sizeof(expected), "loss %.6f\n", sum / 4);
  EXPECT_EQ(out, expected);
  // Training still needs a whole batch.
  EXPECT_EQ(run(kLinreg, {"train", "--x", x, "--y", y, "--batch-size", "5"}),
            1);
  EXPECT_NE(err.find("fewer than one batch of 5"), std::string::npos) << err;
}

TEST_F(TrainerTest, InfoListsParametersBuffersAndFunctions) {
  ASSERT_EQ(run(kLinreg, {"info"}), 0) << err;
  EXPECT_NE(out.find("model linreg\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  w               [1, 2]  trainable  optimizer sgd "
                     "group 0\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("  u               [3, 4]  frozen     not optimized\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("  grad/w          [1, 2]\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  input x [N, 2] float32\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  target y [N, 1] float32\n"), std::string::npos) << out;
  EXPECT_NE(out.find("functions: predict eval_loss train_step zero_grad "
                     "optimizer_step\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(modelInfo(kLinreg), out);

  ASSERT_EQ(run(kClf, {"info"}, "clf"), 0);
  EXPECT_NE(out.find("training: none (inference only)"), std::string::npos)
      << out;
  EXPECT_NE(out.find("  target label [N] int64\n"), std::string::npos) << out;
}

//===----------------------------------------------------------------------===//
// firn_main: messages and exit codes
//===----------------------------------------------------------------------===//

TEST_F(TrainerTest, BadArgumentsExitWithOne) {
  EXPECT_EQ(run(kLinreg, {}), 1);
  EXPECT_EQ(err.rfind("linreg: error: ", 0), 0u) << err;
  EXPECT_EQ(run(kLinreg, {"bogus"}), 1);
  EXPECT_EQ(err.rfind("linreg: error: ", 0), 0u) << err;
  EXPECT_EQ(run(kLinreg, {"train"}), 1);
  EXPECT_NE(err.find("--x"), std::string::npos) << err;
  EXPECT_EQ(run(kLinreg, {"train", "--x", "a.npy", "--stesp", "3"}), 1);
  EXPECT_EQ(run(kLinreg, {"--help"}), 0);
  EXPECT_NE(out.find("train"), std::string::npos);
  EXPECT_EQ(run(kLinreg, {"train", "--help"}), 0);
  EXPECT_NE(out.find("--accumulate"), std::string::npos) << out;
}

TEST_F(TrainerTest, BadFilesExitWithOne) {
  std::string x = writeFloats("x.npy", {4, 2}, kX);
  std::string y = writeFloats("y.npy", {4, 1}, kY);
  EXPECT_EQ(run(kLinreg, {"train", "--x", dir + "none.npy", "--y", y}), 1);
  EXPECT_EQ(err.rfind("linreg: error: " + dir + "none.npy", 0), 0u) << err;

  std::string wide = writeFloats("wide.npy", {4, 3}, std::vector<float>(12));
  EXPECT_EQ(run(kLinreg, {"train", "--x", wide, "--y", y}), 1);
  EXPECT_NE(err.find("[3]"), std::string::npos) << err;
  EXPECT_NE(err.find("[2]"), std::string::npos) << err;

  EXPECT_EQ(run(kLinreg, {"train", "--x", x}), 1);
  EXPECT_NE(err.find("needs a target ('y')"), std::string::npos) << err;

  EXPECT_EQ(run(kLinreg, {"train", "--x", x, "--y", y, "--batch-size", "3"}),
            1);
  EXPECT_NE(err.find("does not divide"), std::string::npos) << err;

  EXPECT_EQ(run(kLinreg, {"train", "--x", x, "--y", y, "--init",
                          dir + "none.safetensors"}),
            1);
  EXPECT_NE(err.find("none.safetensors"), std::string::npos) << err;
  EXPECT_EQ(calls.trainStep, 0);
}

TEST_F(TrainerTest, InferenceOnlyModelCannotTrain) {
  std::string x = writeFloats("x.npy", {1, 3}, {1, 2, 3});
  EXPECT_EQ(run(kClf, {"train", "--x", x}, "clf"), 1);
  EXPECT_EQ(err, "clf: error: this model was compiled without a training "
                 "setup (inference only); it cannot train\n");
}

TEST_F(TrainerTest, MissingLoadParameterIsAnError) {
  std::string x = writeFloats("x.npy", {1, 3}, {1, 2, 3});
  SafetensorsFile empty;
  std::string init = writeCheckpoint("empty.safetensors", empty);
  EXPECT_EQ(run(kClf,
                {"predict", "--init", init, "--x", x, "--out", dir + "p.npy"},
                "clf"),
            1);
  EXPECT_NE(err.find("no tensor for the parameter 'scale'"), std::string::npos)
      << err;
}

TEST_F(TrainerTest, KernelFailureIsReported) {
  std::string x = writeFloats("x.npy", {4, 2}, kX);
  std::string y = writeFloats("y.npy", {4, 1}, kY);
  calls.failTrainStep = -3;
  EXPECT_EQ(run(kLinreg, {"train", "--x", x, "--y", y, "--batch-size", "4"}),
            1);
  EXPECT_NE(err.find("linreg: error: kernel train_step failed with Halide "
                     "error -3\n"),
            std::string::npos)
      << err;
}

TEST_F(TrainerTest, MalformedModelExitsWithTwo) {
  firn_model_desc broken = kLinreg;
  broken.accumulate = 0;
  EXPECT_EQ(run(broken, {"info"}), 2);
  EXPECT_NE(err.find("internal error"), std::string::npos) << err;

  std::vector<firn_state_desc> states = kLinregStates;
  states[kW].shape[1] = 3; // No longer what the ports say.
  states[kW].init = FIRN_INIT_LOAD;
  broken = kLinreg;
  broken.states = states.data();
  EXPECT_EQ(run(broken, {"info"}), 2);
  EXPECT_NE(err.find("does not match state 'w'"), std::string::npos) << err;
}

} // namespace
