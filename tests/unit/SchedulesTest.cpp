//===- SchedulesTest.cpp - Learning-rate schedules against PyTorch --------===//
//
// Schedule (Schedules.h) against tests/fixtures/schedules.safetensors, which
// make_fixtures.py records from torch.optim.lr_scheduler (1.13): every kind,
// an SGD optimizer with two groups (lr 0.1 and 0.05), the rate of each group
// after construction and after each of 30 scheduler steps. The doubles must
// agree within 1e-12 relative (with glibc's cos they are bit-identical: the
// formulas are PyTorch's, in its order) and their float32 roundings (what
// the lr buffers hold) exactly. Then the options parser's errors, and the
// training loop on the fake linreg model (FakeModel.h): when schedules step,
// what the lr buffer holds, and a resumed run that writes the same bytes as one
// run.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Schedules.h"
#include "firn/Runtime/Dataset.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/Safetensors.h"
#include "firn/Runtime/Trainer.h"

#include "FakeModel.h"
#include "TestDir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace firn::runtime;

namespace {

const double kBaseLrs[2] = {0.1, 0.05};
const int kLrStates[2] = {0, 0}; // Unused by Schedule itself.

firn_schedule_desc scheduleDesc(const char *kind, const char *options,
                                int groups = 2, const double *base = kBaseLrs,
                                const int *states = kLrStates) {
  firn_schedule_desc d{};
  d.name = "sched";
  d.kind = kind;
  d.optimizer = "sgd";
  d.num_groups = groups;
  d.lr_states = states;
  d.base_lrs = base;
  d.options = options;
  return d;
}

//===----------------------------------------------------------------------===//
// Golden learning rates from PyTorch
//===----------------------------------------------------------------------===//

TEST(SchedulesGoldenTest, EveryKindMatchesPyTorch) {
  SafetensorsFile file;
  std::string error;
  ASSERT_TRUE(
      readSafetensors(FIRN_FIXTURES_DIR "/schedules.safetensors", file, error))
      << error;
  int kindsChecked = 0;
  for (const auto &[key, data] : file.tensors) {
    if (key.compare(0, 3, "lr/") != 0)
      continue;
    const std::string name = key.substr(3);
    const std::string kind = name.substr(0, name.find('_'));
    SCOPED_TRACE(name);
    const std::string options = file.metadata.at("options/" + name);
    ASSERT_EQ(data.shape.size(), 2u);
    ASSERT_EQ(data.shape[1], 2);
    const int64_t rows = data.shape[0];
    ASSERT_GE(rows, 31);
    std::vector<double> expected = data.asDoubles();
    std::vector<double> metrics;
    if (file.tensors.count("metric/" + name))
      metrics = file.tensors.at("metric/" + name).asDoubles();

    firn_schedule_desc desc = scheduleDesc(kind.c_str(), options.c_str());
    Schedule schedule;
    ASSERT_TRUE(Schedule::parse(desc, schedule, error)) << error;
    ASSERT_EQ(schedule.needsMetric(), !metrics.empty());
    std::vector<double> lrs(kBaseLrs, kBaseLrs + 2);
    schedule.start(lrs);
    for (int64_t r = 0; r < rows; ++r) {
      if (r > 0) {
        ASSERT_TRUE(
            schedule.step(lrs, metrics.empty() ? 0 : metrics[r - 1], error))
            << error;
      }
      for (int g = 0; g < 2; ++g) {
        double want = expected[r * 2 + g];
        EXPECT_LE(std::fabs(lrs[g] - want), 1e-12 * std::fabs(want))
            << "row " << r << " group " << g << ": " << lrs[g] << " vs "
            << want;
        EXPECT_EQ(static_cast<float>(lrs[g]), static_cast<float>(want))
            << "row " << r << " group " << g;
      }
    }
    ++kindsChecked;
  }
  EXPECT_EQ(kindsChecked, 9);
}

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

std::string parseError(const char *kind, const char *options) {
  firn_schedule_desc desc = scheduleDesc(kind, options);
  Schedule s;
  std::string error;
  EXPECT_FALSE(Schedule::parse(desc, s, error));
  return error;
}

TEST(SchedulesOptionsTest, ParsesPyTorchNames) {
  firn_schedule_desc desc = scheduleDesc(
      "ReduceLROnPlateau", "mode=max;factor=0.5;patience=3;threshold=0.01;"
                           "threshold_mode=abs;cooldown=2;min_lr=1e-05;"
                           "eps=1e-09");
  Schedule s;
  std::string error;
  ASSERT_TRUE(Schedule::parse(desc, s, error)) << error;
  EXPECT_TRUE(s.modeMax);
  EXPECT_TRUE(s.thresholdAbs);
  EXPECT_EQ(s.factor, 0.5);
  EXPECT_EQ(s.patience, 3);
  EXPECT_EQ(s.cooldown, 2);
  EXPECT_EQ(s.minLr, 1e-5);
  EXPECT_EQ(s.eps, 1e-9);
  EXPECT_EQ(s.best, -INFINITY);

  desc = scheduleDesc("MultiStepLR", "milestones=2,5,5,8");
  ASSERT_TRUE(Schedule::parse(desc, s, error)) << error;
  EXPECT_EQ(s.milestones, std::vector<int64_t>({2, 5, 5, 8}));
  EXPECT_EQ(s.gamma, 0.1);

  desc = scheduleDesc("LinearLR", "");
  ASSERT_TRUE(Schedule::parse(desc, s, error)) << error;
  EXPECT_EQ(s.startFactor, 1.0 / 3);
  EXPECT_EQ(s.totalIters, 5);

  desc = scheduleDesc("OneCycleLR", "max_lr=0.1;epochs=3;steps_per_epoch=4;"
                                    "cycle_momentum=false");
  ASSERT_TRUE(Schedule::parse(desc, s, error)) << error;
  EXPECT_EQ(s.totalSteps(), 12);
  EXPECT_TRUE(s.perOptimizerStep());

  // The momentum bounds PyTorch takes (and, without cycle_momentum, does not
  // use): the DSL accepted them and the runtime refused them until both
  // read one schema (ScheduleSchema.h).
  desc = scheduleDesc("OneCycleLR", "max_lr=0.1;total_steps=8;cycle_momentum=false;"
                                    "base_momentum=0.8;max_momentum=0.9");
  ASSERT_TRUE(Schedule::parse(desc, s, error)) << error;
  EXPECT_EQ(s.totalSteps(), 8);
}

TEST(SchedulesOptionsTest, ErrorsNameTheSchedule) {
  EXPECT_EQ(parseError("StepLR", "step_size"),
            "schedule 'sched' (StepLR): malformed options 'step_size' "
            "(expected name=value;...)");
  EXPECT_EQ(parseError("StepLR", "gamma=0.5"),
            "schedule 'sched' (StepLR): missing option 'step_size'");
  EXPECT_EQ(parseError("StepLR", "step_size=2;momentum=0.5"),
            "schedule 'sched' (StepLR): unknown option 'momentum'");
  EXPECT_EQ(parseError("StepLR", "step_size=2;step_size=3"),
            "schedule 'sched' (StepLR): option 'step_size' given twice");
  EXPECT_EQ(parseError("StepLR", "step_size=2.5"),
            "schedule 'sched' (StepLR): option 'step_size=2.5' is not an "
            "integer");
  EXPECT_EQ(parseError("ExponentialLR", "gamma=fast"),
            "schedule 'sched' (ExponentialLR): option 'gamma=fast' is not a "
            "number");
  EXPECT_EQ(parseError("MultiStepLR", "milestones=2,,5"),
            "schedule 'sched' (MultiStepLR): option 'milestones=2,,5' is not "
            "a list of integers");
  EXPECT_EQ(parseError("ReduceLROnPlateau", "mode=lowest"),
            "schedule 'sched' (ReduceLROnPlateau): option 'mode=lowest' must "
            "be 'min' or 'max'");
  EXPECT_EQ(parseError("ReduceLROnPlateau", "factor=1.5"),
            "schedule 'sched' (ReduceLROnPlateau): option 'factor=1.5' must "
            "be < 1");
  EXPECT_EQ(parseError("LinearLR", "start_factor=2"),
            "schedule 'sched' (LinearLR): option 'start_factor=2' must be in "
            "(0, 1]");
  EXPECT_EQ(parseError("CyclicLR", ""),
            "schedule 'sched' (CyclicLR): unknown schedule kind");
  // PyTorch's default cycles the momentum too, which firn cannot do yet.
  EXPECT_EQ(parseError("OneCycleLR", "max_lr=0.1;total_steps=10"),
            "schedule 'sched' (OneCycleLR): OneCycleLR with cycle_momentum "
            "(PyTorch's default) is not supported yet; pass "
            "cycle_momentum=false");
  EXPECT_EQ(parseError("OneCycleLR", "max_lr=0.1;cycle_momentum=false"),
            "schedule 'sched' (OneCycleLR): give total_steps, or epochs and "
            "steps_per_epoch");
}

TEST(SchedulesOptionsTest, OneCycleStopsAtTotalSteps) {
  firn_schedule_desc desc = scheduleDesc(
      "OneCycleLR", "max_lr=0.1;total_steps=3;cycle_momentum=false");
  Schedule s;
  std::string error;
  ASSERT_TRUE(Schedule::parse(desc, s, error)) << error;
  std::vector<double> lrs = {0.1, 0.05};
  s.start(lrs);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(s.step(lrs, 0, error)) << error;
  EXPECT_FALSE(s.step(lrs, 0, error));
  EXPECT_EQ(error, "schedule 'sched' (OneCycleLR) is set up for 3 optimizer "
                   "steps (total_steps); it cannot step past them");
  EXPECT_EQ(s.lastEpoch(), 3);
}

//===----------------------------------------------------------------------===//
// The training loop, on the fake linreg model
//===----------------------------------------------------------------------===//

/// linreg (FakeModel.h) with the schedules `schedules` on its one lr buffer
/// (configured rate 0.1).
using Kinds = std::vector<std::pair<const char *, const char *>>;

struct ScheduledLinreg {
  std::vector<firn_schedule_desc> schedules;
  firn_model_desc desc;

  explicit ScheduledLinreg(const Kinds &kinds) {
    static const int lrState[1] = {firn::fake::kLr};
    static const double base[1] = {0.1};
    static const char *const names[] = {"first", "second", "third"};
    for (size_t i = 0; i < kinds.size(); ++i) {
      firn_schedule_desc d =
          scheduleDesc(kinds[i].first, kinds[i].second, 1, base, lrState);
      d.name = names[i];
      schedules.push_back(d);
    }
    desc = firn::fake::kLinreg;
    desc.num_schedules = static_cast<int>(schedules.size());
    desc.schedules = schedules.data();
  }
};

class SchedulesTrainTest : public ::testing::Test {
protected:
  std::string dir;
  Dataset data;
  std::FILE *progress = nullptr;

  void SetUp() override {
    firn::fake::calls = firn::fake::Calls();
    dir = firn::testing::freshTestDir("firn_schedules_");
    ASSERT_NE(dir, "");
    DatasetSpec spec;
    bool hasTarget;
    std::string error;
    ASSERT_TRUE(dataSpecOf(firn::fake::kLinreg, spec, hasTarget, error));
    TensorData x = TensorData::fromFloats({4, 2}, firn::fake::kX);
    TensorData y = TensorData::fromFloats({4, 1}, firn::fake::kY);
    ASSERT_TRUE(
        Dataset::fromTensors(x, "x.npy", &y, "y.npy", spec, data, error))
        << error;
    progress = std::tmpfile();
  }
  void TearDown() override {
    std::fclose(progress);
    firn::testing::removeTestDir(dir);
  }

  /// Trains `epochs` epochs (or `steps` steps) of batch 2 (2 batches per
  /// epoch).
  void trainFor(ModelState &state, int64_t epochs, int64_t steps = 0,
                int64_t accumulate = 1) {
    TrainOptions options;
    options.batchSize = 2;
    options.epochs = epochs;
    options.steps = steps;
    options.accumulate = accumulate;
    options.shuffle = true;
    options.seed = 3;
    options.progress = progress;
    TrainResult result;
    std::string error;
    ASSERT_TRUE(train(state, data, options, result, error)) << error;
  }

  std::string bytes(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  void save(const ModelState &state, const std::string &name) {
    std::string error;
    ASSERT_TRUE(state.save(dir + name, false, error)) << error;
  }

  /// One run of 4 epochs (in pieces of `split`) and one of 2 + resume from
  /// its checkpoint + 2 write the same bytes.
  void expectResumeIdentical(const firn_model_desc &desc, int64_t accumulate,
                             int64_t firstSteps = 0, int64_t secondSteps = 0) {
    ModelState one(desc);
    one.initialize(1);
    if (firstSteps)
      trainFor(one, 0, firstSteps + secondSteps, accumulate);
    else
      trainFor(one, 4, 0, accumulate);
    save(one, "one.safetensors");

    ModelState first(desc);
    first.initialize(1);
    if (firstSteps)
      trainFor(first, 0, firstSteps, accumulate);
    else
      trainFor(first, 2, 0, accumulate);
    save(first, "half.safetensors");
    ModelState resumed(desc);
    resumed.initialize(99);
    std::string error;
    ASSERT_TRUE(resumed.load(dir + "half.safetensors", error)) << error;
    if (secondSteps)
      trainFor(resumed, 0, secondSteps, accumulate);
    else
      trainFor(resumed, 2, 0, accumulate);
    save(resumed, "two.safetensors");
    std::string a = bytes(dir + "one.safetensors"),
                b = bytes(dir + "two.safetensors");
    EXPECT_FALSE(a.empty());
    EXPECT_TRUE(a == b) << "a resumed run differs from one run";
  }
};

TEST_F(SchedulesTrainTest, StepLRStepsOncePerEpoch) {
  ScheduledLinreg model(Kinds{{"StepLR", "step_size=2;gamma=0.5"}});
  ModelState state(model.desc);
  state.initialize(1);
  double lr = 0.1;
  for (int epoch = 1; epoch <= 6; ++epoch) {
    trainFor(state, 1);
    EXPECT_EQ(state.steps(), 2 * epoch);
    // last_epoch = epoch: halved at epochs 2, 4, 6 (recursively, as
    // PyTorch does).
    if (epoch % 2 == 0)
      lr = lr * 0.5;
    EXPECT_EQ(state.tensor(firn::fake::kLr).f32[0], static_cast<float>(lr))
        << "after epoch " << epoch;
    EXPECT_EQ(state.metadata().at("schedule/first/last_epoch"),
              std::to_string(epoch));
  }
  // 12 optimizer steps, none of them changed the rate mid-epoch.
  EXPECT_EQ(firn::fake::calls.optimizer, 12);
  std::string error;
  save(state, "c.safetensors");
  SafetensorsFile file;
  ASSERT_TRUE(readSafetensors(dir + "c.safetensors", file, error)) << error;
  EXPECT_EQ(file.metadata.at("schedule/first/last_epoch"), "6");
  EXPECT_EQ(file.metadata.at("schedule/first/lrs"), "0.012500000000000001");
}

TEST_F(SchedulesTrainTest, TheStepUsesTheScheduledRate) {
  // LinearLR starts at start_factor * lr: the first step already uses it.
  ScheduledLinreg model(Kinds{{"LinearLR", "start_factor=0.5;total_iters=2"}});
  ModelState state(model.desc);
  state.initialize(1);
  std::string error;
  Dataset plain;
  DatasetSpec spec;
  bool hasTarget;
  ASSERT_TRUE(dataSpecOf(firn::fake::kLinreg, spec, hasTarget, error));
  TensorData x = TensorData::fromFloats({4, 2}, firn::fake::kX);
  TensorData y = TensorData::fromFloats({4, 1}, firn::fake::kY);
  ASSERT_TRUE(Dataset::fromTensors(x, "x", &y, "y", spec, plain, error));
  TrainOptions options;
  options.batchSize = 4;
  options.steps = 1;
  options.progress = progress;
  TrainResult result;
  ASSERT_TRUE(train(state, plain, options, result, error)) << error;
  double w[2] = {firn::fake::kWInit[0], firn::fake::kWInit[1]};
  std::vector<double> g = firn::fake::gradient(w, firn::fake::kBInit, 0, 4);
  float lr = static_cast<float>(0.1 * 0.5);
  EXPECT_EQ(state.tensor(firn::fake::kB).f32[0],
            firn::fake::kBInit - lr * static_cast<float>(g[2]));
  // One step is one epoch here: last_epoch 1, lr * (1 + 0.5 / (2 * 0.5)).
  EXPECT_EQ(state.tensor(firn::fake::kLr).f32[0],
            static_cast<float>(0.1 * 0.5 * (1. + 0.5 / (2 * 0.5))));
}

TEST_F(SchedulesTrainTest, ResumeIsIdenticalStepLR) {
  ScheduledLinreg model(Kinds{{"StepLR", "step_size=1;gamma=0.7"}});
  expectResumeIdentical(model.desc, 1);
}

TEST_F(SchedulesTrainTest, ResumeIsIdenticalCosineAndPlateau) {
  // Two schedules on one optimizer, stepping the shared rate in order.
  ScheduledLinreg model(Kinds{{"CosineAnnealingLR", "T_max=3;eta_min=0.01"},
                              {"ReduceLROnPlateau", "patience=0;factor=0.5"}});
  expectResumeIdentical(model.desc, 1);
}

TEST_F(SchedulesTrainTest, ResumeIsIdenticalMidEpoch) {
  // Steps of 1 micro-batch, split after 3 (mid-epoch): the plateau's
  // partial epoch loss is part of the checkpoint.
  ScheduledLinreg model(Kinds{{"ReduceLROnPlateau", "patience=0;factor=0.5"},
                              {"OneCycleLR", "max_lr=0.2;total_steps=9;"
                                             "cycle_momentum=false"}});
  expectResumeIdentical(model.desc, 1, 3, 6);
}

TEST_F(SchedulesTrainTest, OneCycleStepsPerOptimizerStep) {
  ScheduledLinreg model(
      Kinds{{"OneCycleLR", "max_lr=0.2;total_steps=6;cycle_momentum=false"}});
  ModelState state(model.desc);
  state.initialize(1);
  firn_schedule_desc desc = model.schedules[0];
  Schedule reference;
  std::string error;
  ASSERT_TRUE(Schedule::parse(desc, reference, error)) << error;
  std::vector<double> lrs = {0.1};
  reference.start(lrs);
  for (int step = 1; step <= 6; ++step) {
    trainFor(state, 0, 1);
    ASSERT_TRUE(reference.step(lrs, 0, error));
    EXPECT_EQ(state.tensor(firn::fake::kLr).f32[0], static_cast<float>(lrs[0]))
        << "after step " << step;
  }
  // A seventh step would go past total_steps: refused before it runs.
  TrainOptions options;
  options.batchSize = 2;
  options.steps = 1;
  options.progress = progress;
  TrainResult result;
  EXPECT_FALSE(train(state, data, options, result, error));
  EXPECT_EQ(error, "schedule 'first' (OneCycleLR) is set up for 6 optimizer "
                   "steps (total_steps), but this run would take 1 more "
                   "after step 6");
  EXPECT_EQ(state.steps(), 6);
}

TEST_F(SchedulesTrainTest, PlateauUsesTheEpochMeanLoss) {
  // With accumulation 2 and 2 batches per epoch, one optimizer step is one
  // epoch; the metric is the mean of its two micro-batch losses. A huge
  // threshold makes every epoch bad: patience 1 halves the rate every
  // second epoch.
  ScheduledLinreg model(
      Kinds{{"ReduceLROnPlateau", "patience=1;factor=0.5;threshold=0.99"}});
  ModelState state(model.desc);
  state.initialize(1);
  trainFor(state, 4, 0, 2);
  EXPECT_EQ(state.steps(), 4);
  // Epoch 1 sets best (inf before); epochs 2, 3 are bad -> halve after 3.
  EXPECT_EQ(state.tensor(firn::fake::kLr).f32[0], static_cast<float>(0.05));
  EXPECT_EQ(state.metadata().at("schedule/first/last_epoch"), "4");
  EXPECT_EQ(state.metadata().at("schedule/first/num_bad_epochs"), "1");
  EXPECT_EQ(state.metadata().at("schedule/first/loss_count"), "0");
}

TEST_F(SchedulesTrainTest, MalformedScheduleFailsTraining) {
  ScheduledLinreg model(Kinds{{"StepLR", "step_size=0"}});
  ModelState state(model.desc);
  state.initialize(1);
  TrainOptions options;
  options.batchSize = 2;
  options.progress = progress;
  TrainResult result;
  std::string error;
  EXPECT_FALSE(train(state, data, options, result, error));
  EXPECT_EQ(error, "schedule 'first' (StepLR): option 'step_size=0' must be "
                   "positive");
}

} // namespace
