//===- DistributedTest.cpp - Data-parallel training under mpirun -----------===//
//
// The compiled binary run as K ranks of an Open MPI job (`mpirun
// --oversubscribe -np K`, this machine having fewer cores than ranks), K = 1
// (no mpirun), 2 and 4, against tests/fixtures/distributed/<model>.safetensors
// (tests/fixtures/distributed.py: PyTorch's DistributedDataParallel with
// DistributedSampler, simulated, for each K):
//   - the MLP with a frozen layer, Adam, clipping, accumulation and shuffled
//     batches gives, for every K, the losses and parameters of one process
//     on the same global batch (and of PyTorch), 1e-5 relative;
//   - the CNN with BatchNorm keeps per-rank batch statistics as DDP does, so
//     K ranks give DDP's K-rank answer, not one process's;
//   - a checkpoint written by K ranks resumes with another K;
//   - one rank killed, or failing, stops the whole job with a message naming
//     it, and the last checkpoint stays intact;
//   - other commands run once, a batch the ranks do not divide and another
//     MPI's launcher are refused with a message.
// Skipped where Open MPI's mpirun is not installed (the README's commands
// install it).
//
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"
#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <unistd.h>

using namespace firn::runtime;
using namespace firn::e2e;

namespace {

bool haveMpirun() {
  static const bool found =
      std::system("command -v mpirun > /dev/null 2>&1") == 0;
  return found;
}

/// A fixture model, its data and initial state written where the binary
/// reads them, and its compiled binary.
struct DistModel {
  std::string stem, binary, dir;
  SafetensorsFile fixture;

  explicit DistModel(const std::string &name) : stem(name) {
    std::string error;
    const std::string base = std::string(FIRN_FIXTURES_DIR) + "/distributed/";
    EXPECT_TRUE(readSafetensors(base + stem + ".safetensors", fixture, error))
        << error;
    binary = compileModel(base + stem + ".firn", "dist_" + stem);
    dir = tempDir() + "/dist-" + stem;
    EXPECT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
    EXPECT_TRUE(writeNpy(dir + "/x.npy", fixture.tensors.at("x"), error)) << error;
    EXPECT_TRUE(writeNpy(dir + "/y.npy", fixture.tensors.at("y"), error)) << error;
    SafetensorsFile init;
    for (const auto &[key, tensor] : fixture.tensors)
      if (key.rfind("init/", 0) == 0)
        init.tensors[key.substr(5)] = tensor;
    EXPECT_TRUE(writeSafetensors(dir + "/init.safetensors", init, error))
        << error;
  }

  /// `model train` on the fixture's data and settings, as K ranks.
  std::string trainCommand(int ranks, const std::string &init,
                           const std::string &save, int64_t steps,
                           const std::string &extra = "") const {
    const std::string seed = fixture.metadata.at("seed");
    return launch(ranks) + binary + " train --x " + dir + "/x.npy --y " + dir +
           "/y.npy --init " + init + " --batch-size " +
           fixture.metadata.at("batch_size") + " --steps " +
           std::to_string(steps) +
           (seed.empty() ? "" : " --shuffle --seed " + seed) + " --save " + save +
           extra;
  }

  int64_t steps() const { return std::stoll(fixture.metadata.at("steps")); }

  /// The launcher prefix: nothing for one process, as users run it.
  static std::string launch(int ranks) {
    return ranks == 1 ? "timeout 300 "
                      : "timeout 300 mpirun --oversubscribe --bind-to none -np " +
                            std::to_string(ranks) + " ";
  }
};

/// Every tensor of `prefix` in the fixture against the checkpoint's.
void expectState(const SafetensorsFile &fixture, const std::string &prefix,
                 const SafetensorsFile &checkpoint, const std::string &what) {
  int compared = 0;
  for (const auto &[key, tensor] : fixture.tensors) {
    if (key.rfind(prefix, 0) != 0)
      continue;
    const std::string name = key.substr(prefix.size());
    ASSERT_TRUE(checkpoint.tensors.count(name)) << what << ": " << name;
    expectClose(checkpoint.tensors.at(name), tensor, what + ": " + name);
    ++compared;
  }
  EXPECT_GT(compared, 0) << prefix;
}

SafetensorsFile readCheckpoint(const std::string &path) {
  SafetensorsFile file;
  std::string error;
  EXPECT_TRUE(readSafetensors(path, file, error)) << error;
  return file;
}

/// The step losses a run printed on its progress output ("step 3/6 loss
/// 1.076886 ..."), in order.
std::vector<double> printedLosses(const std::string &output) {
  std::vector<double> losses;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    const size_t at = line.find(" loss ");
    if (line.rfind("step ", 0) == 0 && at != std::string::npos)
      losses.push_back(std::strtod(line.c_str() + at + 6, nullptr));
  }
  return losses;
}

class DistributedJob : public ::testing::Test {
protected:
  void SetUp() override {
    if (!haveMpirun())
      GTEST_SKIP() << "Open MPI's mpirun is not installed (apt-get install "
                      "openmpi-bin libopenmpi-dev)";
    // Open MPI refuses to run as root without these (the harness's choice;
    // a user's environment is left alone).
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  }
};

/// K ranks, for K = 1, 2, 4.
class Distributed : public DistributedJob,
                    public ::testing::WithParamInterface<int> {};

/// Trains `m` for its fixture's steps as `ranks` ranks into `after`; the
/// losses rank 0 printed (the global batch's, printed once) are the
/// fixture's for that K.
void trainAsRanks(const DistModel &m, int ranks, SafetensorsFile &after,
                  const std::string &extra = "",
                  std::string *printed = nullptr) {
  const std::string k = std::to_string(ranks);
  const std::string save = m.dir + "/K" + k + ".safetensors";
  std::string output;
  ASSERT_EQ(run(m.trainCommand(ranks, m.dir + "/init.safetensors", save,
                               m.steps(), extra),
                output),
            0)
      << output;
  if (printed)
    *printed = output;
  after = readCheckpoint(save);
  const std::vector<double> losses = printedLosses(output);
  const std::vector<double> expected = m.fixture.tensors.at("K" + k + "/loss").asDoubles();
  ASSERT_EQ(losses.size(), expected.size()) << output;
  for (size_t i = 0; i < losses.size(); ++i)
    EXPECT_NEAR(losses[i], expected[i], 1e-5 * std::fabs(expected[i]))
        << "K=" << k << ", step " << i + 1;
}

/// Trains `m` as `ranks` ranks; rank 0's checkpoint is DDP's for that K.
void expectTrainsAsDdp(const DistModel &m, int ranks, SafetensorsFile &after) {
  const std::string k = std::to_string(ranks);
  ASSERT_NO_FATAL_FAILURE(trainAsRanks(m, ranks, after));
  expectState(m.fixture, "K" + k + "/after/", after, m.stem + ", K=" + k);
}

TEST_P(Distributed, TheMlpTrainsAsOneProcessAndAsPyTorch) {
  const std::string k = std::to_string(GetParam());
  DistModel m("mlp_frozen");
  SafetensorsFile after;
  // DDP's answer for this K, and one process's (the same, up to rounding:
  // distributed.py checks it).
  ASSERT_NO_FATAL_FAILURE(expectTrainsAsDdp(m, GetParam(), after));
  expectState(m.fixture, "K1/after/", after, "K=" + k + " against one process");
  // The frozen layer is exactly its initial value.
  EXPECT_EQ(after.tensors.at("fc1.weight").bytes,
            m.fixture.tensors.at("init/fc1.weight").bytes);
}

TEST_P(Distributed, TheCnnKeepsPerRankBatchNormStatisticsAsDdp) {
  SafetensorsFile after;
  expectTrainsAsDdp(DistModel("cnn_bn"), GetParam(), after);
}

TEST_P(Distributed, SyncBatchNormUsesTheGlobalBatchsStatistics) {
  // SyncBatchNorm: the statistics are sums over the ranks (cross-replica
  // sums between kernels), so every K trains as one process on the global
  // batch, as the twin's simulation of PyTorch's SyncBatchNorm under DDP
  // says; the per-rank BatchNorm of cnn_bn does not (the test above).
  DistModel m("cnn_syncbn");
  SafetensorsFile after;
  ASSERT_NO_FATAL_FAILURE(expectTrainsAsDdp(m, GetParam(), after));
  expectState(m.fixture, "K1/after/", after,
              "K=" + std::to_string(GetParam()) + " against one process");
}

TEST_P(Distributed, EachRankDrawsItsOwnDropoutMasks) {
  // The fixture draws rank r's masks with firn's hash (Random.h) from the key
  // t + r * 2^48: K = 1 is one process's run, and K = 2, 4 match only if each
  // rank has its own stream (the same stream on every rank fails).
  SafetensorsFile after;
  expectTrainsAsDdp(DistModel("mlp_dropout"), GetParam(), after);
}

/// "communicated ... N of M buckets started during the backward pass":
/// {N, M}, or {-1, -1} when the line is missing.
std::pair<int, int> bucketsStartedEarly(const std::string &output) {
  const size_t at = output.find(" buckets started during the backward pass");
  if (at == std::string::npos)
    return {-1, -1};
  const size_t colon = output.rfind(": ", at);
  int early = -1, all = -1;
  std::sscanf(output.c_str() + colon + 2, "%d of %d", &early, &all);
  return {early, all};
}

TEST_P(Distributed, BucketsSentDuringTheBackwardPassGiveTheSameParameters) {
  // Buckets of ~200 bytes: the MLP's gradients travel in 3 buckets per step,
  // some of them started while later backward kernels still run; the
  // parameters are those of one bucket sent after the backward pass.
  if (GetParam() == 1)
    GTEST_SKIP() << "one process communicates nothing";
  const std::string k = std::to_string(GetParam());
  DistModel m("mlp_frozen");
  for (const std::string overlap : {"", " --no-overlap"}) {
    SafetensorsFile after;
    std::string output;
    ASSERT_NO_FATAL_FAILURE(trainAsRanks(
        m, GetParam(), after, " --bucket-mb 0.0002" + overlap, &output));
    expectState(m.fixture, "K" + k + "/after/", after, "K=" + k + overlap);
    const auto [early, all] = bucketsStartedEarly(output);
    EXPECT_EQ(all, 3 * m.steps()) << output;
    if (overlap.empty())
      EXPECT_GT(early, 0) << output;
    else
      EXPECT_EQ(early, 0) << output;
  }
}

/// The bytes "rank 0 held N of the M bytes of optimizer state": {N, M}, or
/// {-1, -1} when the line is missing.
std::pair<long long, long long> heldOptimizerBytes(const std::string &output) {
  const size_t at = output.find("rank 0 held ");
  long long held = -1, all = -1;
  if (at != std::string::npos)
    std::sscanf(output.c_str() + at, "rank 0 held %lld of the %lld", &held,
                &all);
  return {held, all};
}

TEST_P(Distributed, ZeroStage1GivesTheCheckpointOfPlainDataParallelism) {
  // With --zero1 each rank updates its share of the parameters and holds
  // only their optimizer state; the checkpoints (gathered on rank 0, every
  // 2 steps and at the end) are those of plain data parallelism. The MLP has
  // Adam, clipping (which every rank runs, so the gradients are allreduced:
  // the same sums, the same bits) and accumulation; the CNN SGD with
  // momentum and BatchNorm, and no clipping, so each rank receives only its
  // own parameters' gradients (reduce-scatter: the same sums, perhaps added
  // in another order).
  if (GetParam() == 1)
    GTEST_SKIP() << "one process has nothing to shard";
  const std::string k = std::to_string(GetParam());
  for (const char *name : {"mlp_frozen", "cnn_bn"}) {
    const bool clipped = std::string(name) == "mlp_frozen";
    DistModel m(name);
    SafetensorsFile plain, sharded;
    std::string output;
    ASSERT_NO_FATAL_FAILURE(trainAsRanks(m, GetParam(), plain));
    ASSERT_NO_FATAL_FAILURE(trainAsRanks(m, GetParam(), sharded,
                                         " --zero1 --save-every 2", &output));
    expectState(m.fixture, "K" + k + "/after/", sharded, name);
    ASSERT_EQ(sharded.tensors.size(), plain.tensors.size()) << name;
    for (const auto &[key, tensor] : plain.tensors) {
      ASSERT_TRUE(sharded.tensors.count(key)) << name << ": " << key;
      if (clipped)
        EXPECT_EQ(sharded.tensors.at(key).bytes, tensor.bytes)
            << name << ": " << key;
      else
        expectClose(sharded.tensors.at(key), tensor,
                    std::string(name) + " --zero1: " + key);
    }
    EXPECT_NE(output.find(clipped ? "; gradients allreduced: 'grad/"
                                  : "; gradients reduce-scattered"),
              std::string::npos)
        << output;
    // Rank 0 held less than the whole optimizer state.
    const auto [held, all] = heldOptimizerBytes(output);
    EXPECT_GT(held, 0) << output;
    EXPECT_LT(held, all) << output;
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, Distributed, ::testing::Values(1, 2, 4),
                         [](const auto &info) {
                           return "K" + std::to_string(info.param);
                         });

TEST_F(DistributedJob, ACheckpointResumesWithAnotherNumberOfRanks) {
  // 2 steps as 4 ranks, 2 as one process, 2 as 2 ranks: the 6 steps of one
  // process; with --zero1 too (a sharded run's checkpoint has the whole
  // optimizer state, and a resumed rank keeps its share of it).
  DistModel m("mlp_frozen");
  ASSERT_EQ(m.steps(), 6);
  for (const std::string extra : {"", " --zero1"}) {
    std::string output, init = m.dir + "/init.safetensors";
    int n = 0;
    for (int ranks : {4, 1, 2}) {
      const std::string save =
          m.dir + "/resume" + std::to_string(++n) + ".safetensors";
      ASSERT_EQ(run(m.trainCommand(ranks, init, save, 2, extra), output), 0)
          << output;
      init = save;
    }
    const SafetensorsFile after = readCheckpoint(init);
    EXPECT_EQ(after.metadata.at("step"), "6");
    expectState(m.fixture, "K1/after/", after,
                "resumed 4 -> 1 -> 2 ranks" + extra);
  }
}

TEST_F(DistributedJob, KillingARankStopsTheJobAndKeepsTheLastCheckpoint) {
  DistModel m("mlp_frozen");
  const std::string save = m.dir + "/killed.safetensors";
  // A long run that checkpoints every 5 steps; once a checkpoint exists,
  // rank 1 (found by its environment) is killed.
  const std::string script =
      m.trainCommand(2, m.dir + "/init.safetensors", save, 100000000) +
      " --save-every 5 & job=$!; "
      "for i in $(seq 600); do [ -f " + save + " ] && break; sleep 0.1; done; "
      "for p in $(pgrep -f 'dist_mlp_frozen train'); do "
      "  tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | "
      "    grep -qx OMPI_COMM_WORLD_RANK=1 && kill -9 $p; "
      "done; wait $job";
  std::ofstream(m.dir + "/kill.sh") << script << "\n";
  std::string output;
  const int status = run("bash " + m.dir + "/kill.sh", output);
  EXPECT_NE(status, 0) << output;
  EXPECT_NE(output.find("rank 1"), std::string::npos) << output;
  // The checkpoint is whole and resumes.
  const SafetensorsFile kept = readCheckpoint(save);
  const int64_t step = std::stoll(kept.metadata.at("step"));
  EXPECT_GT(step, 0);
  EXPECT_EQ(step % 5, 0);
  ASSERT_EQ(run(DistModel::launch(1) + m.binary + " train --x " + m.dir +
                    "/x.npy --y " + m.dir + "/y.npy --batch-size 8 --steps 1 "
                    "--init " + save,
                output),
            0)
      << output;
}

TEST_F(DistributedJob, ARankThatFailsStopsTheJobWithItsMessage) {
  // Only rank 0 writes: a --save it cannot write fails there, while rank 1
  // waits for it in the first step; the job must end, not hang.
  DistModel m("mlp_frozen");
  std::string output;
  const int status = run(m.trainCommand(2, m.dir + "/init.safetensors",
                                        "/nonexistent-dir/out.safetensors", 3),
                         output);
  EXPECT_NE(status, 0) << output;
  EXPECT_NE(status, 124) << "the job hung: " << output;
  EXPECT_NE(output.find("error: rank 0 of 2: --save"), std::string::npos)
      << output;
}

TEST_F(DistributedJob, InfoShowsTheOptimizerStatePerRankWithZero1) {
  // Adam keeps two moments per trainable element (fc2: 16x16 + 16, fc3:
  // 3x16 + 3; fc1 is frozen), a step count per parameter and the group's
  // learning rate: 2 * 323 * 4 + 4 * 4 + 4 = 2604 bytes. The largest share
  // is fc2.weight's moments and step, with the learning rate every rank
  // holds: 2 * 256 * 4 + 4 + 4 = 2056 bytes, whatever the number of ranks.
  DistModel m("mlp_frozen");
  std::string output;
  ASSERT_EQ(run(m.binary + " info", output), 0) << output;
  EXPECT_NE(output.find("optimizer state: 2604 bytes per process; with "
                        "--zero1, per rank (the largest share): 2 ranks 2056 "
                        "bytes, 4 ranks 2056 bytes, 8 ranks 2056 bytes, 16 "
                        "ranks 2056 bytes\n"),
            std::string::npos)
      << output;
}

TEST_F(DistributedJob, OtherCommandsRunOnce) {
  DistModel m("mlp_frozen");
  std::string output;
  ASSERT_EQ(run(DistModel::launch(2) + m.binary + " eval --x " + m.dir +
                    "/x.npy --y " + m.dir + "/y.npy --init " + m.dir +
                    "/init.safetensors",
                output),
            0)
      << output;
  size_t lines = 0;
  for (size_t at = output.find("loss "); at != std::string::npos;
       at = output.find("loss ", at + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << output;
}

TEST_F(DistributedJob, TheRanksMustDivideTheGlobalBatch) {
  DistModel m("mlp_frozen");
  std::string output;
  EXPECT_NE(run(DistModel::launch(4) + m.binary + " train --x " + m.dir +
                    "/x.npy --y " + m.dir + "/y.npy --batch-size 2 --steps 1",
                output),
            0);
  EXPECT_NE(output.find("the batch size 2 is the global batch, shared by the "
                        "4 processes of the job; choose a multiple of 4"),
            std::string::npos)
      << output;
}

TEST_F(DistributedJob, AnotherMpisLauncherIsRefused) {
  DistModel m("mlp_frozen");
  std::string output;
  EXPECT_EQ(run("PMI_SIZE=2 PMI_RANK=0 " + m.binary + " train --x " + m.dir +
                    "/x.npy --y " + m.dir + "/y.npy --batch-size 8 --steps 1",
                output),
            1);
  EXPECT_NE(output.find("firn binaries join Open MPI jobs only"),
            std::string::npos)
      << output;
}

} // namespace
