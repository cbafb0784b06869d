//===- ScheduleGoldenTest.cpp - LR schedules in binaries against PyTorch --===//
//
// Each learning-rate schedule over a real training run: for every model
// tests/fixtures/models/sched_<kind>.firn (Linear(3, 2), mse, SGD with
// momentum 0.9 and two parameter groups, one schedule), `firnc` builds the
// binary, which trains 30 epochs of 2 batches of 4 samples (no shuffling)
// from the fixture's initial parameters:
//
//   model train --x x.npy --y y.npy --init init.safetensors --batch-size 4
//               --epochs 30 --save out.safetensors
//
// and the checkpoint is compared with PyTorch's run of the same loop
// (tests/fixtures/make_fixtures.py, SCHED_MODELS; keys `init/`, `input/`,
// `after/`, `epoch/<e>/`, `lr/<group>`): the parameters after 30 epochs
// within 1e-5 of the tensor's largest magnitude (PyTorch and the kernels
// both run in float32; the script asserts that float32 noise stays below a
// quarter of that), and each group's lr buffer `optim/opt/<g>/lr` exactly
// equal to float(PyTorch's last rate). The per-epoch schedules step after
// each epoch's last optimizer step (ReduceLROnPlateau on the epoch's mean
// training loss), OneCycleLR after every optimizer step.
//
// A second test runs the same 30 epochs one epoch at a time, each run
// resuming from the previous checkpoint, and compares the rates and the
// parameters after every epoch, so that a mismatch is reported at the first
// epoch where it appears.
//
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"
#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>

using namespace firn::runtime;
using namespace firn::e2e;

namespace {

/// Writes the tensors of `fixture` under `prefix` as a checkpoint (keys
/// without the prefix).
void writeCheckpoint(const SafetensorsFile &fixture, const std::string &prefix,
                     const std::string &path) {
  SafetensorsFile file;
  for (const auto &[key, tensor] : fixture.tensors)
    if (key.rfind(prefix, 0) == 0)
      file.tensors[key.substr(prefix.size())] = tensor;
  std::string error;
  ASSERT_TRUE(writeSafetensors(path, file, error)) << error;
}

/// A compiled schedule model with its fixture and data files.
struct ScheduleRun {
  std::string stem, binary, dir, data, init;
  SafetensorsFile fixture;
  int epochs = 0, batchSize = 0, groups = 0;
  /// Scheduler steps per epoch: 1, or the optimizer steps of an epoch for a
  /// schedule that steps after every optimizer step (OneCycleLR).
  int ratesPerEpoch = 1;
  std::vector<std::vector<double>> rates; // rates[group][scheduler step]
};

void setUp(const std::string &stem, ScheduleRun &r) {
  r.stem = stem;
  std::string error;
  ASSERT_TRUE(readSafetensors(std::string(FIRN_FIXTURES_DIR) + "/models/" +
                                  stem + ".safetensors",
                              r.fixture, error))
      << error;
  ASSERT_EQ(r.fixture.metadata.at("layout"), "epochs");
  r.epochs = std::stoi(r.fixture.metadata.at("epochs"));
  r.batchSize = std::stoi(r.fixture.metadata.at("batch_size"));
  if (r.fixture.metadata.at("schedule_steps") == "optimizer_step")
    r.ratesPerEpoch = std::stoi(r.fixture.metadata.at("steps_per_epoch"));
  for (int g = 0; r.fixture.tensors.count("lr/" + std::to_string(g)); ++g)
    r.rates.push_back(r.fixture.tensors.at("lr/" + std::to_string(g)).asDoubles());
  r.groups = static_cast<int>(r.rates.size());
  ASSERT_EQ(r.groups, 2) << "the schedule models have two parameter groups";
  for (const auto &rates : r.rates)
    ASSERT_EQ(rates.size(), size_t(r.epochs * r.ratesPerEpoch + 1));

  r.binary = compileModel(std::string(FIRN_FIXTURES_DIR) + "/models/" + stem +
                              ".firn",
                          stem);
  r.dir = tempDir() + "/" + stem + "-run";
  ASSERT_EQ(std::system(("mkdir -p " + r.dir).c_str()), 0);
  ASSERT_TRUE(writeNpy(r.dir + "/x.npy", r.fixture.tensors.at("input/x"), error))
      << error;
  ASSERT_TRUE(writeNpy(r.dir + "/y.npy", r.fixture.tensors.at("input/y"), error))
      << error;
  r.data = " --x " + r.dir + "/x.npy --y " + r.dir + "/y.npy --batch-size " +
           std::to_string(r.batchSize);
  r.init = r.dir + "/init.safetensors";
  writeCheckpoint(r.fixture, "init/", r.init);
}

/// Each group's lr buffer is float(PyTorch's rate after `step` scheduler
/// steps), exactly.
void expectRates(const ScheduleRun &r, const SafetensorsFile &checkpoint,
                 size_t step) {
  for (int g = 0; g < r.groups; ++g) {
    std::string name = "optim/opt/" + std::to_string(g) + "/lr";
    ASSERT_TRUE(checkpoint.tensors.count(name)) << name;
    std::vector<float> lr = checkpoint.tensors.at(name).asFloats();
    ASSERT_EQ(lr.size(), 1u) << name;
    EXPECT_EQ(lr[0], static_cast<float>(r.rates[g].at(step)))
        << name << " after " << step << " scheduler step(s); PyTorch: "
        << r.rates[g].at(step);
  }
}

class ScheduleGolden : public ::testing::TestWithParam<const char *> {};

TEST_P(ScheduleGolden, ThirtyEpochsLikePyTorch) {
  ScheduleRun r;
  ASSERT_NO_FATAL_FAILURE(setUp(GetParam(), r));
  std::string saved = r.dir + "/out.safetensors", output, error;
  ASSERT_EQ(run(r.binary + " train" + r.data + " --init " + r.init +
                    " --epochs " + std::to_string(r.epochs) + " --save " +
                    saved,
                output),
            0)
      << output;
  SafetensorsFile checkpoint;
  ASSERT_TRUE(readSafetensors(saved, checkpoint, error)) << error;
  int params = 0;
  for (const auto &[key, expected] : r.fixture.tensors) {
    if (key.rfind("after/", 0) != 0)
      continue;
    std::string name = key.substr(6);
    ASSERT_TRUE(checkpoint.tensors.count(name)) << name;
    expectClose(checkpoint.tensors.at(name), expected,
                r.stem + ": " + name + " after " + std::to_string(r.epochs) +
                    " epochs");
    ++params;
  }
  EXPECT_EQ(params, 2);
  expectRates(r, checkpoint, r.rates[0].size() - 1);
  EXPECT_EQ(checkpoint.metadata.at("schedule/s/last_epoch"),
            std::to_string(r.rates[0].size() - 1));
}

TEST_P(ScheduleGolden, EpochByEpochLikePyTorch) {
  ScheduleRun r;
  ASSERT_NO_FATAL_FAILURE(setUp(GetParam(), r));
  std::string previous = r.init, output, error;
  for (int epoch = 1; epoch <= r.epochs; ++epoch) {
    SCOPED_TRACE(r.stem + " epoch " + std::to_string(epoch));
    std::string saved =
        r.dir + "/epoch" + std::to_string(epoch) + ".safetensors";
    ASSERT_EQ(run(r.binary + " train" + r.data + " --init " + previous +
                      " --epochs 1 --save " + saved,
                  output),
              0)
        << output;
    SafetensorsFile checkpoint;
    ASSERT_TRUE(readSafetensors(saved, checkpoint, error)) << error;
    expectRates(r, checkpoint, size_t(epoch * r.ratesPerEpoch));
    std::string prefix = "epoch/" + std::to_string(epoch) + "/";
    for (const auto &[key, expected] : r.fixture.tensors) {
      if (key.rfind(prefix, 0) != 0)
        continue;
      std::string name = key.substr(prefix.size());
      ASSERT_TRUE(checkpoint.tensors.count(name)) << name;
      expectClose(checkpoint.tensors.at(name), expected, r.stem + ": " + name);
    }
    // Report the first epoch that differs, not the 30 that follow from it.
    if (::testing::Test::HasFailure())
      return;
    previous = saved;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, ScheduleGolden,
    ::testing::Values("sched_steplr", "sched_multisteplr",
                      "sched_exponentiallr", "sched_cosineannealinglr",
                      "sched_linearlr", "sched_reducelronplateau",
                      "sched_onecyclelr", "sched_chained"),
    [](const ::testing::TestParamInfo<const char *> &info) {
      return std::string(info.param);
    });

} // namespace
