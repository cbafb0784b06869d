//===- CAPITest.cpp - The C API of firn.h, on fake models -----------------===//
//
// Every function of firn.h on the hand-written models of FakeModel.h:
// introspection, initialization, the training pieces (and that
// firn_train_step is exactly zero_grad + backward + optimizer_step, and
// exactly one step of the binary's training loop), predict, tensors by name,
// checkpoints, and the errors: NULL pointers, bad batch sizes, unknown
// names, wrong sizes, an inference-only model asked to train, parameters
// still to be loaded, failing kernels and malformed tables.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/firn.h"

#include "firn/Runtime/Dataset.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/Safetensors.h"
#include "firn/Runtime/Trainer.h"

#include "FakeModel.h"
#include "TestDir.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <string>
#include <vector>

using namespace firn::runtime;
using namespace firn::fake;

namespace {

/// Owns a session for the length of a test.
struct Session {
  firn_session *s;
  explicit Session(const firn_model_desc *model, uint64_t seed = 7)
      : s(firn_create(model, seed)) {}
  ~Session() { firn_destroy(s); }
  operator firn_session *() const { return s; }
  std::string error() const { return firn_last_error(s); }
};

std::vector<float> getFloats(firn_session *s, const char *name, size_t n) {
  std::vector<float> v(n);
  EXPECT_EQ(firn_get_tensor(s, name, v.data(), int64_t(n * sizeof(float))), 0)
      << firn_last_error(s);
  return v;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

class CAPITest : public ::testing::Test {
protected:
  std::string dir;
  const float *inputs[1] = {kX.data()};

  void SetUp() override {
    calls = Calls();
    dir = firn::testing::freshTestDir("firn_capi_");
    ASSERT_NE(dir, "");
  }
  void TearDown() override { firn::testing::removeTestDir(dir); }
};

//===----------------------------------------------------------------------===//
// Introspection
//===----------------------------------------------------------------------===//

TEST(CAPIIntrospection, ShapesAndDtypes) {
  int64_t shape[FIRN_MAX_RANK];
  int rank = -5;
  EXPECT_EQ(firn_num_inputs(&kLinreg), 1);
  ASSERT_EQ(firn_input_shape(&kLinreg, 0, shape, &rank), 0);
  EXPECT_EQ(std::vector<int64_t>(shape, shape + rank),
            std::vector<int64_t>({-1, 2}));
  ASSERT_EQ(firn_output_shape(&kLinreg, shape, &rank), 0);
  EXPECT_EQ(std::vector<int64_t>(shape, shape + rank),
            std::vector<int64_t>({-1, 1}));
  EXPECT_EQ(firn_target_dtype(&kLinreg), FIRN_F32);
  ASSERT_EQ(firn_target_shape(&kLinreg, shape, &rank), 0);
  EXPECT_EQ(std::vector<int64_t>(shape, shape + rank),
            std::vector<int64_t>({-1, 1}));

  EXPECT_EQ(firn_target_dtype(&kClf), FIRN_I64);
  ASSERT_EQ(firn_target_shape(&kClf, shape, &rank), 0);
  EXPECT_EQ(std::vector<int64_t>(shape, shape + rank),
            std::vector<int64_t>({-1}));
  ASSERT_EQ(firn_output_shape(&kClf, shape, &rank), 0);
  EXPECT_EQ(std::vector<int64_t>(shape, shape + rank),
            std::vector<int64_t>({-1, 3}));

  int dtype = -1;
  ASSERT_EQ(firn_tensor_shape(&kLinreg, "u", &dtype, shape, &rank), 0);
  EXPECT_EQ(dtype, FIRN_F32);
  EXPECT_EQ(std::vector<int64_t>(shape, shape + rank),
            std::vector<int64_t>({3, 4}));
  ASSERT_EQ(
      firn_tensor_shape(&kLinreg, "optim/sgd/0/lr", nullptr, shape, &rank), 0);
  EXPECT_EQ(rank, 0);
}

TEST(CAPIIntrospection, BadArgumentsFail) {
  int64_t shape[FIRN_MAX_RANK];
  int rank;
  EXPECT_EQ(firn_num_inputs(nullptr), -1);
  EXPECT_NE(firn_input_shape(nullptr, 0, shape, &rank), 0);
  EXPECT_NE(firn_input_shape(&kLinreg, 1, shape, &rank), 0);
  EXPECT_NE(firn_input_shape(&kLinreg, -1, shape, &rank), 0);
  EXPECT_NE(firn_input_shape(&kLinreg, 0, nullptr, &rank), 0);
  EXPECT_NE(firn_input_shape(&kLinreg, 0, shape, nullptr), 0);
  EXPECT_NE(firn_output_shape(nullptr, shape, &rank), 0);
  EXPECT_NE(firn_output_shape(&kLinreg, nullptr, &rank), 0);
  EXPECT_EQ(firn_target_dtype(nullptr), -1);
  EXPECT_NE(firn_target_shape(nullptr, shape, &rank), 0);
  EXPECT_NE(firn_tensor_shape(&kLinreg, "nope", nullptr, shape, &rank), 0);
  EXPECT_NE(firn_tensor_shape(&kLinreg, nullptr, nullptr, shape, &rank), 0);

  // A model whose loss takes no target.
  firn_model_desc noTarget = kClf;
  noTarget.target_name = nullptr;
  noTarget.eval_loss = nullptr;
  EXPECT_EQ(firn_target_dtype(&noTarget), -1);
  EXPECT_NE(firn_target_shape(&noTarget, shape, &rank), 0);
  // One without predict has no output shape.
  firn_model_desc noPredict = kLinreg;
  noPredict.predict = nullptr;
  EXPECT_NE(firn_output_shape(&noPredict, shape, &rank), 0);
  // A malformed table is never read.
  firn_model_desc broken = kLinreg;
  broken.accumulate = 0;
  EXPECT_EQ(firn_num_inputs(&broken), -1);
  EXPECT_NE(firn_input_shape(&broken, 0, shape, &rank), 0);
  EXPECT_EQ(firn_target_dtype(&broken), -1);
}

//===----------------------------------------------------------------------===//
// Sessions: creation, tensors
//===----------------------------------------------------------------------===//

TEST_F(CAPITest, CreateInitializesLikeTrain) {
  Session s(&kLinreg, 42);
  ASSERT_NE(s.s, nullptr);
  EXPECT_EQ(s.error(), "");
  EXPECT_EQ(getFloats(s, "w", 2), std::vector<float>({0.5f, -0.25f}));
  EXPECT_EQ(getFloats(s, "b", 1), std::vector<float>({0.1f}));
  EXPECT_EQ(getFloats(s, "grad/w", 2), std::vector<float>({0, 0}));
  EXPECT_EQ(getFloats(s, "optim/sgd/0/lr", 1), std::vector<float>({0.1f}));
  // The uniform initializer draws from the seed given, as --seed does.
  ModelState state(kLinreg);
  state.initialize(42);
  EXPECT_EQ(getFloats(s, "u", 12), state.tensor(kU).f32);
  Session other(&kLinreg, 43);
  EXPECT_NE(getFloats(other, "u", 12), state.tensor(kU).f32);
  EXPECT_EQ(calls.zeroGrad + calls.trainStep + calls.predict, 0);
}

TEST_F(CAPITest, GetAndSetTensorsByName) {
  Session s(&kLinreg);
  const float w[2] = {2.0f, 3.0f};
  ASSERT_EQ(firn_set_tensor(s, "w", w, sizeof(w)), 0) << s.error();
  EXPECT_EQ(getFloats(s, "w", 2), std::vector<float>({2.0f, 3.0f}));
  const float lr = 0.5f;
  ASSERT_EQ(firn_set_tensor(s, "optim/sgd/0/lr", &lr, sizeof(lr)), 0);
  EXPECT_EQ(getFloats(s, "optim/sgd/0/lr", 1), std::vector<float>({0.5f}));

  float out[4] = {};
  EXPECT_NE(firn_get_tensor(s, "fc9.weight", out, 8), 0);
  EXPECT_EQ(s.error(), "firn_get_tensor: model 'linreg' has no parameter or "
                       "buffer named 'fc9.weight'");
  EXPECT_NE(firn_get_tensor(s, "w", out, 16), 0);
  EXPECT_EQ(s.error(), "firn_get_tensor: 'w' is float32 [1, 2], 8 bytes, but "
                       "dst_bytes is 16");
  EXPECT_NE(firn_get_tensor(s, "w", nullptr, 8), 0);
  EXPECT_EQ(s.error(), "firn_get_tensor: dst is NULL");
  EXPECT_NE(firn_get_tensor(s, nullptr, out, 8), 0);
  EXPECT_EQ(s.error(), "firn_get_tensor: name is NULL");
  EXPECT_NE(firn_set_tensor(s, "b", w, sizeof(w)), 0);
  EXPECT_EQ(s.error(), "firn_set_tensor: 'b' is float32 [1], 4 bytes, but "
                       "src_bytes is 8");
  EXPECT_NE(firn_set_tensor(s, "b", nullptr, 4), 0);
  EXPECT_EQ(s.error(), "firn_set_tensor: src is NULL");
  EXPECT_NE(firn_set_tensor(s, "nope", w, 4), 0);
  EXPECT_TRUE(contains(s.error(), "'nope'")) << s.error();
  // Failed calls changed nothing; a successful one clears the message.
  EXPECT_EQ(getFloats(s, "b", 1), std::vector<float>({0.1f}));
  EXPECT_EQ(s.error(), "");
}

//===----------------------------------------------------------------------===//
// Training
//===----------------------------------------------------------------------===//

TEST_F(CAPITest, BackwardAccumulatesGradients) {
  Session s(&kLinreg);
  const float *first[1] = {kX.data()}, *second[1] = {kX.data() + 4};
  float loss1 = -1, loss2 = -1;
  ASSERT_EQ(firn_backward(s, 2, first, kY.data(), &loss1), 0) << s.error();
  ASSERT_EQ(firn_backward(s, 2, second, kY.data() + 2, &loss2), 0) << s.error();
  EXPECT_EQ(calls.trainStep, 2);
  EXPECT_EQ(calls.zeroGrad + calls.optimizer, 0);
  const double w[2] = {0.5f, -0.25f}, b = 0.1f;
  std::vector<double> g1 = gradient(w, b, 0, 2), g2 = gradient(w, b, 2, 2);
  std::vector<float> gw = getFloats(s, "grad/w", 2);
  EXPECT_NEAR(gw[0], g1[0] + g2[0], 1e-5);
  EXPECT_NEAR(gw[1], g1[1] + g2[1], 1e-5);
  EXPECT_NEAR(getFloats(s, "grad/b", 1)[0], g1[2] + g2[2], 1e-5);
  // The parameters did not move; the losses are the micro-batches' MSEs.
  EXPECT_EQ(getFloats(s, "w", 2), std::vector<float>({0.5f, -0.25f}));
  double e0 = 0.5f * 1 - 0.25f * 2 + 0.1f - 1, e1 = 0.5f * 3 + 0.25f + 0.1f;
  EXPECT_NEAR(loss1, (e0 * e0 + e1 * e1) / 2, 1e-6);
  EXPECT_GT(loss2, 0);
  // The loss is optional.
  EXPECT_EQ(firn_backward(s, 4, inputs, kY.data(), nullptr), 0) << s.error();

  // zero_grad clears them; optimizer_step then moves nothing.
  ASSERT_EQ(firn_zero_grad(s), 0) << s.error();
  EXPECT_EQ(getFloats(s, "grad/w", 2), std::vector<float>({0, 0}));
  ASSERT_EQ(firn_optimizer_step(s), 0) << s.error();
  EXPECT_EQ(getFloats(s, "w", 2), std::vector<float>({0.5f, -0.25f}));
}

TEST_F(CAPITest, TrainStepIsZeroGradBackwardOptimizerStep) {
  Session a(&kLinreg), b(&kLinreg);
  // Leave stale gradients in both, which zero_grad must clear.
  ASSERT_EQ(firn_backward(a, 4, inputs, kY.data(), nullptr), 0);
  ASSERT_EQ(firn_backward(b, 4, inputs, kY.data(), nullptr), 0);
  calls = Calls();
  for (int step = 0; step < 3; ++step) {
    float lossA = -1, lossB = -2;
    ASSERT_EQ(firn_train_step(a, 4, inputs, kY.data(), &lossA), 0) << a.error();
    ASSERT_EQ(firn_zero_grad(b), 0) << b.error();
    ASSERT_EQ(firn_backward(b, 4, inputs, kY.data(), &lossB), 0) << b.error();
    ASSERT_EQ(firn_optimizer_step(b), 0) << b.error();
    EXPECT_EQ(lossA, lossB);
    for (const char *name : {"w", "grad/w"})
      EXPECT_EQ(getFloats(a, name, 2), getFloats(b, name, 2)) << name;
    for (const char *name : {"b", "grad/b"})
      EXPECT_EQ(getFloats(a, name, 1), getFloats(b, name, 1)) << name;
  }
  EXPECT_EQ(calls.zeroGrad, 6);
  EXPECT_EQ(calls.trainStep, 6);
  EXPECT_EQ(calls.optimizer, 6);
  EXPECT_FALSE(calls.aliased);
}

TEST_F(CAPITest, TrainStepMatchesHandComputedSGD) {
  Session s(&kLinreg);
  ASSERT_EQ(firn_train_step(s, 4, inputs, kY.data(), nullptr), 0) << s.error();
  const double w[2] = {0.5f, -0.25f}, b = 0.1f, lr = 0.1f;
  std::vector<double> g = gradient(w, b, 0, 4);
  std::vector<float> wNew = getFloats(s, "w", 2);
  EXPECT_NEAR(wNew[0], w[0] - lr * g[0], 1e-6);
  EXPECT_NEAR(wNew[1], w[1] - lr * g[1], 1e-6);
  EXPECT_NEAR(getFloats(s, "b", 1)[0], b - lr * g[2], 1e-6);
  EXPECT_NEAR(getFloats(s, "grad/w", 2)[0], g[0], 1e-6);
}

TEST_F(CAPITest, TrainStepIsOneStepOfTheBinarysLoop) {
  // The same two steps through train() (what `model train` runs) and
  // through the C API give the same bits.
  Dataset data;
  std::string error;
  ASSERT_TRUE(linregData(data, error)) << error;
  ModelState state(kLinreg);
  state.initialize(7);
  std::FILE *progress = std::tmpfile();
  TrainOptions options;
  options.batchSize = 2;
  options.steps = 2;
  options.progress = progress;
  TrainResult result;
  ASSERT_TRUE(train(state, data, options, result, error)) << error;
  std::fclose(progress);

  Session s(&kLinreg, 7);
  const float *first[1] = {kX.data()}, *second[1] = {kX.data() + 4};
  float loss;
  ASSERT_EQ(firn_train_step(s, 2, first, kY.data(), &loss), 0);
  ASSERT_EQ(firn_train_step(s, 2, second, kY.data() + 2, &loss), 0);
  EXPECT_EQ(float(result.loss), loss);
  EXPECT_EQ(getFloats(s, "w", 2), state.tensor(kW).f32);
  EXPECT_EQ(getFloats(s, "b", 1), state.tensor(kB).f32);
  EXPECT_EQ(getFloats(s, "grad/w", 2), state.tensor(kGradW).f32);
}

TEST_F(CAPITest, TrainingArgumentErrors) {
  Session s(&kLinreg);
  const float *none[1] = {nullptr};
  EXPECT_NE(firn_train_step(s, 0, inputs, kY.data(), nullptr), 0);
  EXPECT_EQ(s.error(), "firn_train_step: batch must be positive, not 0");
  EXPECT_NE(firn_backward(s, -3, inputs, kY.data(), nullptr), 0);
  EXPECT_EQ(s.error(), "firn_backward: batch must be positive, not -3");
  EXPECT_NE(firn_backward(s, 4, nullptr, kY.data(), nullptr), 0);
  EXPECT_EQ(s.error(), "firn_backward: inputs is NULL, but the model takes 1 "
                       "input(s)");
  EXPECT_NE(firn_backward(s, 4, none, kY.data(), nullptr), 0);
  EXPECT_EQ(s.error(), "firn_backward: inputs[0] ('x') is NULL");
  EXPECT_NE(firn_train_step(s, 4, inputs, nullptr, nullptr), 0);
  EXPECT_EQ(s.error(), "firn_train_step: target is NULL, but this model's "
                       "loss needs its target ('y')");
  // A batch too large to describe fails before anything is read.
  EXPECT_NE(firn_backward(s, int64_t(1) << 40, inputs, kY.data(), nullptr), 0);
  EXPECT_TRUE(contains(s.error(), "is too large")) << s.error();
  // Nothing ran, nothing changed: firn_train_step checks its arguments
  // before it clears the gradients.
  EXPECT_EQ(calls.zeroGrad + calls.trainStep + calls.optimizer, 0);
  EXPECT_EQ(getFloats(s, "w", 2), std::vector<float>({0.5f, -0.25f}));
}

TEST_F(CAPITest, KernelFailureLeavesTheStateAlone) {
  Session s(&kLinreg);
  ASSERT_EQ(firn_backward(s, 4, inputs, kY.data(), nullptr), 0);
  std::vector<float> grads = getFloats(s, "grad/w", 2);
  calls.failTrainStep = -3;
  EXPECT_NE(firn_backward(s, 4, inputs, kY.data(), nullptr), 0);
  EXPECT_EQ(s.error(),
            "firn_backward: kernel train_step failed with Halide error -3");
  EXPECT_EQ(getFloats(s, "grad/w", 2), grads);
  EXPECT_NE(firn_train_step(s, 4, inputs, kY.data(), nullptr), 0);
  EXPECT_TRUE(contains(s.error(), "Halide error -3")) << s.error();
  // The step stopped after zero_grad: parameters and step count unchanged.
  EXPECT_EQ(calls.optimizer, 0);
  EXPECT_EQ(getFloats(s, "w", 2), std::vector<float>({0.5f, -0.25f}));
  std::string ckpt = dir + "c.safetensors", error;
  ASSERT_EQ(firn_save(s, ckpt.c_str(), 0), 0) << s.error();
  SafetensorsFile file;
  ASSERT_TRUE(readSafetensors(ckpt, file, error)) << error;
  EXPECT_EQ(file.metadata.at("step"), "0");
}

TEST_F(CAPITest, InferenceOnlyModelCannotTrain) {
  Session s(&kClf);
  const float x[3] = {1, 2, 3};
  const float *in[1] = {x};
  const int64_t label = 0;
  const std::string why = "this model was compiled without a training setup "
                          "(inference only); it cannot train";
  EXPECT_NE(firn_train_step(s, 1, in, &label, nullptr), 0);
  EXPECT_EQ(s.error(), "firn_train_step: " + why);
  EXPECT_NE(firn_backward(s, 1, in, &label, nullptr), 0);
  EXPECT_EQ(s.error(), "firn_backward: " + why);
  EXPECT_NE(firn_zero_grad(s), 0);
  EXPECT_EQ(s.error(), "firn_zero_grad: " + why);
  EXPECT_NE(firn_optimizer_step(s), 0);
  EXPECT_EQ(s.error(), "firn_optimizer_step: " + why);
}

//===----------------------------------------------------------------------===//
// Predict
//===----------------------------------------------------------------------===//

TEST_F(CAPITest, PredictReturnsTheModelsOutput) {
  Session s(&kLinreg);
  float out[4] = {-1, -1, -1, -1};
  ASSERT_EQ(firn_predict(s, 4, inputs, out), 0) << s.error();
  for (int n = 0; n < 4; ++n)
    EXPECT_FLOAT_EQ(out[n], 0.5f * kX[2 * n] - 0.25f * kX[2 * n + 1] + 0.1f);
  EXPECT_EQ(calls.predict, 1);
  // A partial batch; after a step the prediction moves.
  ASSERT_EQ(firn_train_step(s, 4, inputs, kY.data(), nullptr), 0);
  float one = 0;
  ASSERT_EQ(firn_predict(s, 1, inputs, &one), 0) << s.error();
  std::vector<float> w = getFloats(s, "w", 2);
  EXPECT_FLOAT_EQ(one, w[0] * kX[0] + w[1] * kX[1] + getFloats(s, "b", 1)[0]);

  EXPECT_NE(firn_predict(s, 0, inputs, out), 0);
  EXPECT_EQ(s.error(), "firn_predict: batch must be positive, not 0");
  EXPECT_NE(firn_predict(s, 4, inputs, nullptr), 0);
  EXPECT_EQ(s.error(), "firn_predict: output is NULL");
  EXPECT_NE(firn_predict(s, 4, nullptr, out), 0);
  EXPECT_TRUE(contains(s.error(), "inputs is NULL")) << s.error();
}

TEST_F(CAPITest, LoadParametersNeedAValueFirst) {
  Session s(&kClf);
  const float x[6] = {1, 2, 3, -1, 0, 0.5f};
  const float *in[1] = {x};
  float out[6];
  EXPECT_NE(firn_predict(s, 2, in, out), 0);
  EXPECT_EQ(s.error(), "firn_predict: parameter 'scale' has no value yet: the "
                       "model loads it from a checkpoint, so give it one with "
                       "firn_load or firn_set_tensor first");
  const float scale = 2;
  ASSERT_EQ(firn_set_tensor(s, "scale", &scale, sizeof(scale)), 0);
  ASSERT_EQ(firn_predict(s, 2, in, out), 0) << s.error();
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(out[i], x[i] * 2);

  // Or from a checkpoint.
  Session t(&kClf);
  SafetensorsFile file;
  file.tensors["scale"] = TensorData::fromFloats({1}, {3.0f});
  file.tensors["extra"] = TensorData::fromFloats({1}, {0.0f});
  std::string path = dir + "scale.safetensors", error;
  ASSERT_TRUE(writeSafetensors(path, file, error)) << error;
  ASSERT_EQ(firn_load(t, path.c_str()), 0) << t.error();
  ASSERT_EQ(firn_predict(t, 2, in, out), 0) << t.error();
  EXPECT_EQ(out[1], 6.0f);
}

//===----------------------------------------------------------------------===//
// Checkpoints
//===----------------------------------------------------------------------===//

TEST_F(CAPITest, SaveAndLoadRoundTrip) {
  Session s(&kLinreg);
  ASSERT_EQ(firn_train_step(s, 4, inputs, kY.data(), nullptr), 0);
  std::string with = dir + "with.safetensors", without = dir + "without.st";
  ASSERT_EQ(firn_save(s, with.c_str(), 1), 0) << s.error();
  ASSERT_EQ(firn_save(s, without.c_str(), 0), 0) << s.error();
  SafetensorsFile file;
  std::string error;
  ASSERT_TRUE(readSafetensors(with, file, error)) << error;
  EXPECT_TRUE(file.tensors.count("grad/w"));
  EXPECT_EQ(file.metadata.at("step"), "1");
  EXPECT_EQ(file.metadata.at("firn_model"), "linreg");
  ASSERT_TRUE(readSafetensors(without, file, error)) << error;
  EXPECT_FALSE(file.tensors.count("grad/w"));

  Session t(&kLinreg, 99);
  ASSERT_EQ(firn_load(t, with.c_str()), 0) << t.error();
  for (const char *name : {"w", "grad/w"})
    EXPECT_EQ(getFloats(t, name, 2), getFloats(s, name, 2)) << name;
  EXPECT_EQ(getFloats(t, "u", 12), getFloats(s, "u", 12));
  // Training goes on from the same state in both.
  float a, b;
  ASSERT_EQ(firn_train_step(s, 4, inputs, kY.data(), &a), 0);
  ASSERT_EQ(firn_train_step(t, 4, inputs, kY.data(), &b), 0);
  EXPECT_EQ(a, b);
  EXPECT_EQ(getFloats(t, "w", 2), getFloats(s, "w", 2));
}

TEST_F(CAPITest, CheckpointErrorsNameTheFileAndTensor) {
  Session s(&kLinreg);
  std::string absent = dir + "absent.safetensors";
  EXPECT_NE(firn_load(s, absent.c_str()), 0);
  EXPECT_EQ(s.error().rfind("firn_load: " + absent, 0), 0u) << s.error();

  SafetensorsFile file;
  file.tensors["w"] = TensorData::fromFloats({2, 1}, {9.0f, 9.0f});
  file.tensors["b"] = TensorData::fromFloats({1}, {9.0f});
  file.tensors["u"] = TensorData::fromFloats({3, 4}, std::vector<float>(12));
  std::string bad = dir + "bad.safetensors", error;
  ASSERT_TRUE(writeSafetensors(bad, file, error)) << error;
  EXPECT_NE(firn_load(s, bad.c_str()), 0);
  EXPECT_EQ(s.error(), "firn_load: " + bad +
                           ": 'w' has shape [2, 1], but the model's 'w' has "
                           "shape [1, 2]");
  EXPECT_EQ(getFloats(s, "b", 1), std::vector<float>({0.1f}));

  // A diverged run's checkpoint (issue 11).
  file.tensors["w"] = TensorData::fromFloats({1, 2}, {1.0f, std::nanf("")});
  ASSERT_TRUE(writeSafetensors(bad, file, error)) << error;
  EXPECT_NE(firn_load(s, bad.c_str()), 0);
  EXPECT_EQ(s.error().rfind("firn_load: " + bad +
                                ": 'w' holds nan (element 1): the checkpoint "
                                "comes from a run that diverged",
                            0),
            0u)
      << s.error();
  EXPECT_EQ(getFloats(s, "b", 1), std::vector<float>({0.1f}));

  EXPECT_NE(firn_load(s, nullptr), 0);
  EXPECT_EQ(s.error(), "firn_load: checkpoint_path is NULL");
  EXPECT_NE(firn_save(s, nullptr, 0), 0);
  EXPECT_EQ(s.error(), "firn_save: path is NULL");
  EXPECT_NE(firn_save(s, (dir + "no/such/dir/c.safetensors").c_str(), 0), 0);
  EXPECT_TRUE(contains(s.error(), "no/such/dir")) << s.error();
}

//===----------------------------------------------------------------------===//
// NULL and malformed
//===----------------------------------------------------------------------===//

TEST(CAPINull, NullSessionIsRejectedEverywhere) {
  const float *inputs[1] = {kX.data()};
  float out[4];
  EXPECT_NE(firn_load(nullptr, "x"), 0);
  EXPECT_NE(firn_save(nullptr, "x", 0), 0);
  EXPECT_NE(firn_zero_grad(nullptr), 0);
  EXPECT_NE(firn_backward(nullptr, 4, inputs, kY.data(), nullptr), 0);
  EXPECT_NE(firn_optimizer_step(nullptr), 0);
  EXPECT_NE(firn_train_step(nullptr, 4, inputs, kY.data(), nullptr), 0);
  EXPECT_NE(firn_predict(nullptr, 4, inputs, out), 0);
  EXPECT_NE(firn_get_tensor(nullptr, "w", out, 8), 0);
  EXPECT_NE(firn_set_tensor(nullptr, "w", out, 8), 0);
  EXPECT_TRUE(contains(firn_last_error(nullptr), "no session"));
  firn_destroy(nullptr);
}

TEST(CAPINull, NullOrMalformedModelGivesAFailingSession) {
  Session none(nullptr);
  ASSERT_NE(none.s, nullptr);
  EXPECT_TRUE(contains(none.error(), "firn_create was given NULL"))
      << none.error();
  EXPECT_NE(firn_zero_grad(none), 0);
  EXPECT_TRUE(contains(none.error(), "firn_zero_grad: the session has no "
                                     "model"))
      << none.error();

  std::vector<firn_state_desc> states = kLinregStates;
  states[kW].shape[1] = 3; // No longer what the ports say.
  firn_model_desc broken = kLinreg;
  broken.states = states.data();
  Session bad(&broken);
  ASSERT_NE(bad.s, nullptr);
  EXPECT_TRUE(contains(bad.error(), "malformed")) << bad.error();
  float w[3];
  EXPECT_NE(firn_get_tensor(bad, "w", w, sizeof(w)), 0);
  EXPECT_TRUE(contains(bad.error(), "firn_get_tensor: the compiled model "
                                    "table is malformed: state 0 'w'"))
      << bad.error();
  const float *inputs[1] = {kX.data()};
  EXPECT_NE(firn_predict(bad, 4, inputs, w), 0);
  EXPECT_NE(firn_load(bad, "x.safetensors"), 0);
}

} // namespace
