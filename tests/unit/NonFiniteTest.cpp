//===- NonFiniteTest.cpp - NaN losses, NaN checkpoints, NaN outputs -------===//
//
// Issue 11 on the fake models of FakeModel.h, through firn_main:
//   - a NaN in the data makes step 3's loss NaN: by default training stops
//     there with exit status 1 and a message naming the step, before the
//     update, and the checkpoint on disk keeps the last finite state (no
//     final save, no periodic save after the bad step);
//   - --on-nonfinite=skip leaves that step's update out: the parameters come
//     out as SGD (computed in double) over the other samples only;
//     --on-nonfinite=ignore trains on (the old behaviour) with a warning;
//   - an exploding learning rate makes a parameter infinite while the loss
//     is still finite: the periodic save refuses to write it;
//   - --init from a checkpoint holding NaN is refused, naming the tensor,
//     unless --allow-nonfinite; eval warns about a NaN loss, and its
//     accuracy takes NaN as the largest score, as torch.argmax does.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Model.h"

#include "RuntimeFixture.h"

#include <cmath>
#include <limits>

using namespace firn::runtime;
using namespace firn::fake;

namespace {

using NonFiniteTest = firn::testing::RuntimeFixture;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/// kX with sample 2 replaced by NaN: with batch size 1, step 3 sees it.
std::vector<float> xWithNaN() {
  std::vector<float> v = kX;
  v[4] = kNaN;
  return v;
}

/// linreg's parameters after SGD (lr kLrInit, batch 1) over `samples`, in
/// double.
std::vector<double> sgd(std::initializer_list<int> samples) {
  double w[2] = {kWInit[0], kWInit[1]}, b = kBInit;
  for (int n : samples) {
    std::vector<double> g = gradient(w, b, n, 1);
    w[0] -= kLrInit * g[0];
    w[1] -= kLrInit * g[1];
    b -= kLrInit * g[2];
  }
  return {w[0], w[1], b};
}

TEST_F(NonFiniteTest, ANaNLossStopsTrainingAndKeepsTheLastCheckpoint) {
  x = writeFloats("nan.npy", {4, 2}, xWithNaN());
  std::string ckpt = dir + "c.safetensors", metrics = dir + "m.csv";
  // Periodic saves every step: steps 1 and 2 are saved, step 3 is not.
  EXPECT_EQ(train(kLinreg, {"--batch-size", "1", "--steps", "4", "--save",
                            ckpt, "--save-every", "1", "--metrics", metrics}),
            1);
  EXPECT_NE(err.find("linreg: error: step 3 (epoch 1): the loss is nan: "
                     "training stopped (--on-nonfinite=stop)"),
            std::string::npos)
      << err;
  EXPECT_EQ(out.find("saved"), std::string::npos) << out;
  // Stopped before step 3's update.
  EXPECT_EQ(calls.trainStep, 3);
  EXPECT_EQ(calls.optimizer, 2);
  SafetensorsFile file = readCheckpoint(ckpt);
  EXPECT_EQ(file.metadata.at("step"), "2");
  std::vector<double> expected = sgd({0, 1});
  std::vector<float> w = file.tensors.at("w").asFloats();
  EXPECT_NEAR(w[0], expected[0], 1e-6);
  EXPECT_NEAR(w[1], expected[1], 1e-6);
  EXPECT_NEAR(file.tensors.at("b").asFloats()[0], expected[2], 1e-6);
  // The bad step's record is the last one.
  std::string text = firn::testing::readBytes(metrics);
  EXPECT_NE(text.find("\nstep,1,3,nan,"), std::string::npos) << text;

  // A resumed run that meets the NaN leaves the checkpoint byte for byte.
  const std::string before = firn::testing::readBytes(ckpt);
  EXPECT_EQ(train(kLinreg, {"--batch-size", "1", "--steps", "2", "--init",
                            ckpt, "--save", ckpt}),
            1);
  EXPECT_NE(err.find("step 3 (epoch 1): the loss is nan"), std::string::npos)
      << err;
  EXPECT_EQ(firn::testing::readBytes(ckpt), before);
}

TEST_F(NonFiniteTest, SkipLeavesTheBadStepsUpdateOut) {
  x = writeFloats("nan.npy", {4, 2}, xWithNaN());
  std::string ckpt = dir + "c.safetensors";
  ASSERT_EQ(train(kLinreg, {"--batch-size", "1", "--steps", "4", "--save",
                            ckpt, "--on-nonfinite=skip", "--save-grads"}),
            0)
      << err;
  EXPECT_NE(err.find("warning: step 3 (epoch 1): the loss is nan: its update "
                     "is skipped (--on-nonfinite=skip)"),
            std::string::npos)
      << err;
  EXPECT_NE(out.find("(1 step(s) skipped: not finite)"), std::string::npos)
      << out;
  EXPECT_EQ(calls.optimizer, 3);
  SafetensorsFile file = readCheckpoint(ckpt);
  // The step counts (the data stream moved on) ...
  EXPECT_EQ(file.metadata.at("step"), "4");
  // ... but only samples 0, 1 and 3 trained the parameters.
  std::vector<double> expected = sgd({0, 1, 3});
  std::vector<float> w = file.tensors.at("w").asFloats();
  EXPECT_NEAR(w[0], expected[0], 1e-6);
  EXPECT_NEAR(w[1], expected[1], 1e-6);
  EXPECT_NEAR(file.tensors.at("b").asFloats()[0], expected[2], 1e-6);
  for (float g : file.tensors.at("grad/w").asFloats())
    EXPECT_TRUE(std::isfinite(g));

  // Without zero_grad the gradients add up over the steps: the skipped step
  // must not leave its NaN gradient behind (else every later step would be
  // skipped too). SGD on the running sum of samples 0, 1 and 3's gradients.
  firn_model_desc uncleared = kLinreg;
  uncleared.zero_grad = "none";
  uncleared.zero_grad_fn = nullptr;
  calls = Calls();
  ASSERT_EQ(train(uncleared, {"--batch-size", "1", "--steps", "4", "--save",
                              ckpt, "--on-nonfinite=skip"}),
            0)
      << err;
  EXPECT_EQ(calls.optimizer, 3);
  double w2[2] = {kWInit[0], kWInit[1]}, b2 = kBInit, sum[3] = {0, 0, 0};
  for (int n : {0, 1, 3}) {
    std::vector<double> g = gradient(w2, b2, n, 1);
    for (int k = 0; k < 3; ++k)
      sum[k] += g[k];
    w2[0] -= kLrInit * sum[0];
    w2[1] -= kLrInit * sum[1];
    b2 -= kLrInit * sum[2];
  }
  file = readCheckpoint(ckpt);
  w = file.tensors.at("w").asFloats();
  EXPECT_NEAR(w[0], w2[0], 1e-5);
  EXPECT_NEAR(w[1], w2[1], 1e-5);
  EXPECT_NEAR(file.tensors.at("b").asFloats()[0], b2, 1e-5);
}

TEST_F(NonFiniteTest, IgnoreTrainsOnWithAWarning) {
  x = writeFloats("nan.npy", {4, 2}, xWithNaN());
  std::string ckpt = dir + "c.safetensors";
  ASSERT_EQ(train(kLinreg, {"--batch-size", "1", "--steps", "4", "--save",
                            ckpt, "--on-nonfinite", "ignore"}),
            0)
      << err;
  EXPECT_NE(err.find("warning: step 3 (epoch 1): the loss is nan (try a "
                     "smaller learning rate)"),
            std::string::npos)
      << err;
  EXPECT_EQ(calls.optimizer, 4);
  EXPECT_TRUE(std::isnan(readCheckpoint(ckpt).tensors.at("w").asFloats()[0]));
}

TEST_F(NonFiniteTest, AnOverflowingUpdateIsNeverSaved) {
  // lr 1e38: step 1's loss is finite, but w[1] = -0.25 + 1e38 * 3.6
  // overflows float32.
  static const float hugeLr = 1e38f;
  std::vector<firn_state_desc> states = kLinregStates;
  states[kLr].data = &hugeLr;
  firn_model_desc model = kLinreg;
  model.states = states.data();
  std::string ckpt = dir + "c.safetensors";
  EXPECT_EQ(train(model, {"--batch-size", "1", "--steps", "3", "--save", ckpt,
                          "--save-every", "1", "--on-nonfinite", "skip"}),
            1);
  EXPECT_NE(err.find("linreg: error: not saving " + ckpt +
                     " at step 1: 'w' holds inf (element 1)"),
            std::string::npos)
      << err;
  EXPECT_FALSE(std::ifstream(ckpt).good());
  // With ignore, it is saved as it is.
  ASSERT_EQ(train(model, {"--batch-size", "1", "--steps", "1", "--save", ckpt,
                          "--on-nonfinite", "ignore"}),
            0)
      << err;
  EXPECT_TRUE(std::isinf(readCheckpoint(ckpt).tensors.at("w").asFloats()[1]));
}

TEST_F(NonFiniteTest, ACheckpointHoldingNaNIsRefused) {
  ModelState state(kLinreg);
  state.initialize(0);
  state.tensor(kW).f32[1] = kNaN;
  state.setSteps(2);
  std::string ckpt = dir + "nan.safetensors", error;
  ASSERT_TRUE(state.save(ckpt, false, error)) << error;
  EXPECT_EQ(train(kLinreg, {"--batch-size", "1", "--init", ckpt}), 1);
  EXPECT_EQ(err, "linreg: error: " + ckpt +
                     ": 'w' holds nan (element 1): the checkpoint comes from "
                     "a run that diverged; resume from an earlier one, or "
                     "pass --allow-nonfinite to load it anyway\n");
  EXPECT_EQ(calls.trainStep, 0);
  EXPECT_EQ(run(kLinreg, {"eval", "--init", ckpt, "--x", x, "--y", y}), 1);
  EXPECT_NE(err.find("'w' holds nan (element 1)"), std::string::npos) << err;

  // Asked for: eval reports the NaN loss, and says so.
  ASSERT_EQ(run(kLinreg, {"eval", "--init", ckpt, "--x", x, "--y", y,
                          "--allow-nonfinite"}),
            0)
      << err;
  EXPECT_EQ(out, "loss nan\n");
  EXPECT_NE(err.find("linreg: warning: the loss is not finite"),
            std::string::npos)
      << err;
  // An infinity in a buffer is refused too.
  state.tensor(kW).f32[1] = 0;
  state.tensor(kLr).f32[0] = -std::numeric_limits<float>::infinity();
  ASSERT_TRUE(state.save(ckpt, false, error)) << error;
  EXPECT_EQ(train(kLinreg, {"--batch-size", "1", "--init", ckpt}), 1);
  EXPECT_NE(err.find("'optim/sgd/0/lr' holds -inf (element 0)"),
            std::string::npos)
      << err;
}

TEST_F(NonFiniteTest, EvalAccuracyTakesNaNAsTheLargestScore) {
  // clf's scores are its inputs (scale 1). torch.argmax([1, nan, 3]) is 1
  // and torch.argmax([1, 5, nan]) is 2 (PyTorch 2, checked by hand).
  SafetensorsFile scale;
  scale.tensors["scale"] = TensorData::fromFloats({1}, {1.0f});
  std::string ckpt = writeCheckpoint("scale.safetensors", scale);
  std::string cx =
      writeFloats("cx.npy", {2, 3}, {1, kNaN, 3, 1, 5, kNaN});
  std::string cy = writeInts("cy.npy", {2}, {1, 2});
  ASSERT_EQ(run(kClf, {"eval", "--init", ckpt, "--x", cx, "--y", cy}), 0)
      << err;
  EXPECT_EQ(out, "loss nan accuracy 1.0000 (2/2)\n");
  EXPECT_NE(err.find("linreg: warning: the loss is not finite"),
            std::string::npos)
      << err;
  // predict warns about what it writes.
  std::string p = dir + "p.npy";
  ASSERT_EQ(run(kClf, {"predict", "--init", ckpt, "--x", cx, "--out", p}), 0)
      << err;
  EXPECT_NE(err.find("warning: 2 of the 6 outputs are NaN or infinite"),
            std::string::npos)
      << err;
}

} // namespace
