//===- CheckpointSafetyTest.cpp - Saving and resuming that cannot go wrong ===//
//
// Issue 11's run-time part on the fake linreg of FakeModel.h, through
// firn_main:
//   - --save is checked before any step runs (a missing directory, a
//     directory in its place);
//   - the temporary files of processes killed while saving are removed when
//     the next run starts, and only those (our pattern, a dead pid);
//   - SIGTERM and SIGINT during training end the run at the next step
//     boundary with a checkpoint and exit status 143 and 130, and the run
//     resumed from it continues exactly;
//   - --save-every N and --save-every-epoch replace --save as they go: a run
//     that crashes later leaves the last periodic checkpoint, equal to a
//     run that stopped there;
//   - a checkpoint's step count near 2^63 is refused instead of wrapping
//     around (a load error beyond 2^62, a train error when the run's own
//     counts would overflow), before any kernel runs;
//   - a checkpoint with some but not all optimizer state is refused for
//     `train` unless --allow-missing-state.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Model.h"

#include "RuntimeFixture.h"

#include <csignal>
#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

using namespace firn::runtime;
using namespace firn::fake;

namespace {

class CheckpointSafetyTest : public firn::testing::RuntimeFixture {
protected:
  /// Checks that checkpoint `a` is at step 4 with the parameters of an
  /// uninterrupted 4-step run of batch 1 (saved to `b`).
  void expectFourUninterruptedSteps(const std::string &a,
                                    const std::string &b) {
    firn::fake::calls = firn::fake::Calls();
    ASSERT_EQ(train(firn::fake::kLinreg,
                    {"--batch-size", "1", "--steps", "4", "--save", b}),
              0)
        << err;
    firn::runtime::SafetensorsFile fa = readCheckpoint(a),
                                   fb = readCheckpoint(b);
    EXPECT_EQ(fa.metadata.at("step"), "4");
    EXPECT_EQ(fa.tensors.at("w").bytes, fb.tensors.at("w").bytes);
    EXPECT_EQ(fa.tensors.at("b").bytes, fb.tensors.at("b").bytes);
  }
};

bool exists(const std::string &path) { return std::filesystem::exists(path); }

/// The pid of a process that has exited (and been reaped).
pid_t deadPid() {
  pid_t child = fork();
  if (child == 0)
    _exit(0);
  int status;
  waitpid(child, &status, 0);
  return child;
}

TEST_F(CheckpointSafetyTest, SaveIsCheckedBeforeTraining) {
  const std::string missing = dir + "no/such/dir/c.safetensors";
  EXPECT_EQ(train(kLinreg, {"--batch-size", "2", "--save", missing}), 1);
  EXPECT_EQ(err, "linreg: error: --save " + missing +
                     ": cannot create a file next to it ('" + missing +
                     ".tmp." + std::to_string(long(getpid())) +
                     "'): No such file or directory\n");
  EXPECT_EQ(calls.trainStep, 0);
  EXPECT_EQ(train(kLinreg, {"--batch-size", "2", "--save", dir}), 1);
  EXPECT_EQ(err, "linreg: error: --save " + dir + ": is a directory\n");
  EXPECT_EQ(calls.trainStep, 0);
  // The check leaves nothing behind.
  const std::string ckpt = dir + "c.safetensors";
  ASSERT_EQ(train(kLinreg, {"--batch-size", "2", "--save", ckpt}), 0) << err;
  size_t files = 0;
  for (const auto &entry : std::filesystem::directory_iterator(dir))
    files += entry.path().filename().string().rfind("c.safetensors", 0) == 0;
  EXPECT_EQ(files, 1u);
}

TEST_F(CheckpointSafetyTest, StaleTemporaryFilesOfDeadProcessesGo) {
  const std::string ckpt = dir + "c.safetensors";
  const std::string dead = std::to_string(long(deadPid()));
  const std::string stale = ckpt + ".tmp." + dead;
  // Kept: a live process's (pid 1 always runs), other names.
  const std::vector<std::string> kept = {
      ckpt + ".tmp.1", ckpt + ".tmp." + dead + "x", ckpt + ".tmp.0" + dead,
      dir + "other.safetensors.tmp." + dead, ckpt + ".tmp."};
  firn::testing::writeBytes(stale, "half a checkpoint");
  for (const std::string &path : kept)
    firn::testing::writeBytes(path, "not ours");
  ASSERT_EQ(train(kLinreg, {"--batch-size", "2", "--save", ckpt}), 0) << err;
  EXPECT_FALSE(exists(stale));
  EXPECT_NE(err.find("note: removed " + stale +
                     " (left by a run killed while saving)"),
            std::string::npos)
      << err;
  for (const std::string &path : kept)
    EXPECT_TRUE(exists(path)) << path;
  // predict's --out too.
  firn::testing::writeBytes(dir + "p.npy.tmp." + dead, "half");
  ASSERT_EQ(run(kLinreg, {"predict", "--init", ckpt, "--x", x, "--out",
                          dir + "p.npy"}),
            0)
      << err;
  EXPECT_FALSE(exists(dir + "p.npy.tmp." + dead));
}

TEST_F(CheckpointSafetyTest, SignalsSaveAtTheNextStepBoundary) {
  const std::string a = dir + "a.safetensors", b = dir + "b.safetensors";
  for (int signal : {SIGTERM, SIGINT}) {
    calls = Calls();
    // Raised inside step 2's train_step: step 2 completes, step 3 never
    // starts.
    calls.raiseAtTrainStep = 2;
    calls.raiseSignal = signal;
    EXPECT_EQ(train(kLinreg,
                    {"--batch-size", "1", "--steps", "4", "--save", a}),
              128 + signal);
    EXPECT_EQ(calls.trainStep, 2);
    EXPECT_EQ(calls.optimizer, 2);
    EXPECT_NE(out.find("saved " + a), std::string::npos) << out;
    EXPECT_NE(err.find(std::string("linreg: stopped by ") +
                       (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
                       " after step 2"),
              std::string::npos)
        << err;
    EXPECT_EQ(readCheckpoint(a).metadata.at("step"), "2");
    // The handler is gone after the run.
    struct sigaction now;
    sigaction(signal, nullptr, &now);
    EXPECT_EQ(now.sa_handler, SIG_DFL);
  }
  // Resumed, it ends where an uninterrupted run does.
  calls = Calls();
  ASSERT_EQ(train(kLinreg, {"--batch-size", "1", "--steps", "2", "--init", a,
                            "--save", a}),
            0)
      << err;
  expectFourUninterruptedSteps(a, b);
  // Without --save the run still stops cleanly, saving nothing.
  calls = Calls();
  calls.raiseAtTrainStep = 1;
  calls.raiseSignal = SIGTERM;
  EXPECT_EQ(train(kLinreg, {"--batch-size", "1", "--steps", "4"}), 143);
  EXPECT_NE(err.find("stopped by SIGTERM after step 1 (no --save: nothing "
                     "saved)"),
            std::string::npos)
      << err;
}

TEST_F(CheckpointSafetyTest, PeriodicCheckpointsReplaceSave) {
  const std::string a = dir + "a.safetensors", b = dir + "b.safetensors";
  // Every 2 steps; the run dies in step 5: the file holds step 4.
  calls.failFromTrainStep = 5;
  EXPECT_EQ(train(kLinreg, {"--batch-size", "1", "--steps", "6", "--save", a,
                            "--save-every", "2"}),
            1);
  EXPECT_NE(err.find("saved " + a + " (step 2)"), std::string::npos) << err;
  EXPECT_NE(err.find("saved " + a + " (step 4)"), std::string::npos) << err;
  expectFourUninterruptedSteps(a, b);

  // Each epoch (2 steps of batch 2); dies in epoch 3.
  calls = Calls();
  calls.failFromTrainStep = 5;
  EXPECT_EQ(train(kLinreg, {"--batch-size", "2", "--epochs", "3", "--save", a,
                            "--save-every-epoch"}),
            1);
  EXPECT_EQ(readCheckpoint(a).metadata.at("step"), "4");
  EXPECT_NE(err.find("saved " + a + " (step 2)"), std::string::npos) << err;
  // The last step is the final save's, not a periodic one.
  calls = Calls();
  ASSERT_EQ(train(kLinreg, {"--batch-size", "2", "--epochs", "2", "--save", a,
                            "--save-every-epoch"}),
            0)
      << err;
  EXPECT_EQ(err.find("(step 4)"), std::string::npos) << err;
  EXPECT_EQ(readCheckpoint(a).metadata.at("step"), "4");
}

TEST_F(CheckpointSafetyTest, HugeStepCountsAreRefused) {
  ModelState state(kLinreg);
  state.initialize(0);
  std::string error;
  const std::string near = dir + "near.safetensors";
  state.setSteps(INT64_MAX);
  ASSERT_TRUE(state.save(near, false, error)) << error;
  EXPECT_EQ(train(kLinreg, {"--batch-size", "1", "--init", near}), 1);
  EXPECT_EQ(err, "linreg: error: " + near +
                     ": the metadata 'step' is 9223372036854775807, beyond "
                     "any real step count (at most 2^62); the checkpoint is "
                     "damaged\n");
  // 2^62 loads, but 2^62 steps of 2 micro-batches do not fit in int64.
  const std::string edge = dir + "edge.safetensors";
  state.setSteps(kMaxStepCount);
  ASSERT_TRUE(state.save(edge, false, error)) << error;
  EXPECT_EQ(
      train(kLinreg, {"--batch-size", "1", "--accumulate", "2", "--init", edge}),
      1);
  EXPECT_EQ(err, "linreg: error: the checkpoint is at step " +
                     std::to_string(kMaxStepCount) +
                     ": 2 more step(s) of 2 micro-batch(es) go past the "
                     "largest step count (2^63 - 1); its 'step' metadata is "
                     "damaged\n");
  // --steps that would pass 2^63.
  EXPECT_EQ(train(kLinreg, {"--batch-size", "1", "--steps",
                            "9223372036854775807", "--init", edge}),
            1);
  EXPECT_NE(err.find("go past the largest step count"), std::string::npos)
      << err;
  // Epochs times batches beyond 2^63.
  EXPECT_EQ(train(kLinreg, {"--batch-size", "1", "--epochs",
                            "9223372036854775807"}),
            1);
  EXPECT_NE(err.find("--epochs 9223372036854775807 of 4 batches each are "
                     "more batches than a 64-bit counter holds"),
            std::string::npos)
      << err;
  EXPECT_EQ(calls.trainStep, 0);
}

/// linreg with one more optimizer state, `optim/sgd/momentum_buffer/w`,
/// that no kernel reads.
struct MomentumLinreg {
  std::vector<firn_state_desc> states = kLinregStates;
  firn_model_desc desc = kLinreg;
  MomentumLinreg() {
    firn_state_desc momentum = states[kGradW];
    momentum.name = "optim/sgd/momentum_buffer/w";
    states.push_back(momentum);
    desc.states = states.data();
    desc.num_states = int(states.size());
  }
};

TEST_F(CheckpointSafetyTest, PartialOptimizerStateNeedsAFlag) {
  // A checkpoint of plain linreg has optim/sgd/0/lr but no momentum.
  const std::string ckpt = dir + "c.safetensors";
  ASSERT_EQ(train(kLinreg, {"--batch-size", "2", "--save", ckpt}), 0) << err;
  MomentumLinreg model;
  calls = Calls();
  EXPECT_EQ(train(model.desc, {"--batch-size", "2", "--init", ckpt}), 1);
  EXPECT_EQ(err, "linreg: error: " + ckpt +
                     ": the checkpoint has optimizer state, but none for "
                     "'optim/sgd/momentum_buffer/w' of this model (it comes "
                     "from another optimizer setup, or is damaged); pass "
                     "--allow-missing-state to start those from their "
                     "initial values\n");
  EXPECT_EQ(calls.trainStep, 0);
  ASSERT_EQ(train(model.desc, {"--batch-size", "2", "--init", ckpt,
                               "--allow-missing-state"}),
            0)
      << err;
  EXPECT_NE(err.find(ckpt + ": warning: no optimizer state "
                            "'optim/sgd/momentum_buffer/w' in the checkpoint: "
                            "starting from the initial value"),
            std::string::npos)
      << err;
  // eval needs no optimizer state; a parameters-only file starts afresh.
  EXPECT_EQ(run(model.desc, {"eval", "--init", ckpt, "--x", x, "--y", y}), 0)
      << err;
  SafetensorsFile params;
  SafetensorsFile full = readCheckpoint(ckpt);
  for (const char *name : {"w", "b", "u"})
    params.tensors[name] = full.tensors.at(name);
  const std::string p = writeCheckpoint("params.safetensors", params);
  EXPECT_EQ(train(model.desc, {"--batch-size", "2", "--init", p}), 0) << err;
  EXPECT_EQ(err.find("warning"), std::string::npos) << err;
}

} // namespace
