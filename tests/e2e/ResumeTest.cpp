//===- ResumeTest.cpp - Exact resume, reproducibility, atomic saves -------===//
//
// What a user relies on when training is interrupted: a run resumed from a
// checkpoint continues exactly (N steps in one run and N/2 + resume + N/2
// give byte-identical checkpoints, with Dropout, BatchNorm, Adam and
// shuffling in play); one seed gives identical runs; killing a run while
// it saves never leaves a truncated checkpoint in place of a good one, nor
// its temporary file after the next run; SIGTERM saves at a step boundary;
// a NaN in the data never reaches the checkpoint; the metrics' lr columns
// follow the optimizer groups; partial optimizer state is refused (issue 11).
//
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"
#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace firn::runtime;
using namespace firn::e2e;

namespace {

/// The files `<path>.tmp.<digits>` next to `path`.
int staleTemporaries(const std::string &path) {
  const size_t slash = path.find_last_of('/');
  const std::string prefix = path.substr(slash + 1) + ".tmp.";
  int count = 0;
  for (const auto &entry :
       std::filesystem::directory_iterator(path.substr(0, slash))) {
    const std::string name = entry.path().filename().string();
    count += name.rfind(prefix, 0) == 0 && name.size() > prefix.size();
  }
  return count;
}

std::string compile(const std::string &model) {
  return compileModel(std::string(FIRN_E2E_MODELS) + "/" + model + ".firn",
                      model);
}

/// Deterministic data: `rows` samples of `features` floats and class
/// targets in [0, classes).
std::string writeData(const std::string &name, int64_t rows, int64_t features,
                      int64_t classes) {
  TensorData x{DType::F32, {rows, features}, {}}, y{DType::I64, {rows}, {}};
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state >> 33);
  };
  for (int64_t i = 0; i < rows * features; ++i) {
    float v = static_cast<float>(next() % 2000) / 1000.0f - 1.0f;
    const uint8_t *b = reinterpret_cast<const uint8_t *>(&v);
    x.bytes.insert(x.bytes.end(), b, b + 4);
  }
  for (int64_t i = 0; i < rows; ++i) {
    int64_t c = next() % classes;
    const uint8_t *b = reinterpret_cast<const uint8_t *>(&c);
    y.bytes.insert(y.bytes.end(), b, b + 8);
  }
  std::string error, base = tempDir() + "/" + name;
  EXPECT_TRUE(writeNpy(base + "_x.npy", x, error)) << error;
  EXPECT_TRUE(writeNpy(base + "_y.npy", y, error)) << error;
  return " --x " + base + "_x.npy --y " + base + "_y.npy";
}

TEST(Resume, ACheckpointMovesBetweenTheCpuAndTheGpu) {
  // On the GPU machine (FIRN_TEST_TARGET=cuda, tests/gpu/run.sh): 4 steps
  // on the CPU, 4 more on the GPU from its checkpoint, 4 more on the CPU
  // from that one, against 12 steps on the CPU; the formats are the same,
  // the numbers within float32 rounding (the GPU's products sum in the same
  // order, but its compiler may contract a * b + c into one rounding).
  if (testTarget() == "host")
    GTEST_SKIP() << "needs FIRN_TEST_TARGET=cuda and a GPU";
  std::string gpu = compile("resume");
  std::string cpu = compileModel(std::string(FIRN_E2E_MODELS) + "/resume.firn",
                                 "resume", "host");
  std::string data = writeData("moves", 24, 4, 3), output;
  std::string common = " train" + data + " --batch-size 4 --shuffle --seed 9 --steps 4";
  std::string dir = tempDir() + "/moves-";
  ASSERT_EQ(run(cpu + common + " --save " + dir + "cpu1.safetensors", output), 0) << output;
  ASSERT_EQ(run(gpu + common + " --init " + dir + "cpu1.safetensors --save " + dir +
                    "gpu2.safetensors",
                output),
            0)
      << output;
  ASSERT_EQ(run(cpu + common + " --init " + dir + "gpu2.safetensors --save " + dir +
                    "cpu3.safetensors",
                output),
            0)
      << output;
  ASSERT_EQ(run(cpu + " train" + data + " --batch-size 4 --shuffle --seed 9 --steps 12 --save " +
                    dir + "straight.safetensors",
                output),
            0)
      << output;
  SafetensorsFile moved, straight;
  std::string error;
  ASSERT_TRUE(readSafetensors(dir + "cpu3.safetensors", moved, error)) << error;
  ASSERT_TRUE(readSafetensors(dir + "straight.safetensors", straight, error)) << error;
  EXPECT_EQ(moved.metadata.at("step"), "12");
  ASSERT_EQ(moved.tensors.size(), straight.tensors.size());
  for (const auto &[name, tensor] : straight.tensors) {
    ASSERT_TRUE(moved.tensors.count(name)) << name;
    if (tensor.dtype == DType::F32)
      expectClose(moved.tensors.at(name), tensor, name);
    else
      EXPECT_EQ(moved.tensors.at(name).bytes, tensor.bytes) << name;
  }
}

TEST(Resume, SplitRunIsByteIdenticalToOneRun) {
  std::string binary = compile("resume");
  std::string data = writeData("resume", 24, 4, 3), output;
  std::string common = " train" + data + " --batch-size 4 --shuffle --seed 9";
  std::string dir = tempDir();
  ASSERT_EQ(run(binary + common + " --steps 10 --save " + dir + "/one.safetensors",
                output),
            0)
      << output;
  // The same seed again: identical (Dropout's masks included).
  ASSERT_EQ(run(binary + common + " --steps 10 --save " + dir + "/again.safetensors",
                output),
            0)
      << output;
  EXPECT_EQ(readBytes(dir + "/one.safetensors"), readBytes(dir + "/again.safetensors"));
  // Five steps, save, resume for five more (crossing an epoch boundary at
  // step 6 with --shuffle).
  ASSERT_EQ(run(binary + common + " --steps 5 --save " + dir + "/half.safetensors",
                output),
            0)
      << output;
  ASSERT_EQ(run(binary + common + " --steps 5 --init " + dir +
                    "/half.safetensors --save " + dir + "/resumed.safetensors",
                output),
            0)
      << output;
  std::string one = readBytes(dir + "/one.safetensors");
  ASSERT_FALSE(one.empty());
  EXPECT_EQ(one, readBytes(dir + "/resumed.safetensors"));
  // And a different seed really gives a different run.
  ASSERT_EQ(run(binary + " train" + data +
                    " --batch-size 4 --shuffle --seed 10 --steps 10 --save " +
                    dir + "/other.safetensors",
                output),
            0)
      << output;
  EXPECT_NE(one, readBytes(dir + "/other.safetensors"));
}

TEST(Resume, KillDuringSaveLeavesTheOldCheckpoint) {
  std::string binary = compile("big");
  std::string data = writeData("big", 8, 256, 2), output;
  std::string ckpt = tempDir() + "/big.safetensors";
  ASSERT_EQ(run(binary + " train" + data + " --batch-size 8 --steps 1 --save " +
                    ckpt,
                output),
            0)
      << output;
  std::string good = readBytes(ckpt);
  SafetensorsFile file;
  std::string error;
  ASSERT_TRUE(readSafetensors(ckpt, file, error)) << error;
  // Kill runs that overwrite the checkpoint at many points in time, most of
  // them while they save; after each, the file must load.
  int interrupted = 0;
  for (int delayUs = 0; delayUs < 60000; delayUs += 2500) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      std::string x = tempDir() + "/big_x.npy", y = tempDir() + "/big_y.npy";
      execl(binary.c_str(), binary.c_str(), "train", "--x", x.c_str(), "--y",
            y.c_str(), "--batch-size", "8", "--steps", "1", "--init",
            ckpt.c_str(), "--save", ckpt.c_str(), static_cast<char *>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delayUs));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    interrupted += WIFSIGNALED(status);
    SafetensorsFile after;
    ASSERT_TRUE(readSafetensors(ckpt, after, error))
        << "after a kill at " << delayUs << " us: " << error;
    EXPECT_EQ(after.tensors.size(), file.tensors.size());
  }
  EXPECT_GT(interrupted, 0) << "no run was interrupted: the test proves nothing";
  // The killed runs' temporary files are gone after the next run that
  // saves there (issue 11: they used to pile up, 805 MB in one session).
  ASSERT_EQ(run(binary + " train" + data + " --batch-size 8 --steps 1 --init " +
                    ckpt + " --save " + ckpt,
                output),
            0)
      << output;
  EXPECT_EQ(staleTemporaries(ckpt), 0) << output;
}

TEST(Resume, SigtermSavesAtAStepBoundary) {
  std::string binary = compile("resume");
  std::string data = writeData("resume", 24, 4, 3), output;
  std::string ckpt = tempDir() + "/term.safetensors";
  // A run far too long to finish, stopped by `kill -TERM` as a batch
  // system does: status 143, a checkpoint of the steps done.
  int status = run("(" + binary + " train" + data +
                       " --batch-size 4 --epochs 100000000 --save " + ckpt +
                       " & pid=$!; sleep 2; kill -TERM $pid; wait $pid)",
                   output);
  EXPECT_EQ(status, 143) << output;
  EXPECT_NE(output.find("stopped by SIGTERM after step "), std::string::npos)
      << output;
  SafetensorsFile file;
  std::string error;
  ASSERT_TRUE(readSafetensors(ckpt, file, error)) << error << output;
  EXPECT_GT(std::atoll(file.metadata.at("step").c_str()), 0);
  // It resumes.
  ASSERT_EQ(run(binary + " train" + data + " --batch-size 4 --steps 1 --init " +
                    ckpt + " --save " + ckpt,
                output),
            0)
      << output;
}

/// Rewrites `name`'s inputs with a NaN in sample `sample`.
void putNaN(const std::string &name, int64_t sample) {
  TensorData x;
  std::string error, path = tempDir() + "/" + name + "_x.npy";
  ASSERT_TRUE(readNpy(path, x, error)) << error;
  const float nan = std::nanf("");
  std::memcpy(x.bytes.data() + sample * x.shape[1] * 4, &nan, 4);
  ASSERT_TRUE(writeNpy(path, x, error)) << error;
}

/// Whether every float32 tensor of a checkpoint is finite.
bool allFinite(const SafetensorsFile &file) {
  for (const auto &[name, t] : file.tensors)
    if (t.dtype == DType::F32)
      for (float v : t.asFloats())
        if (!std::isfinite(v))
          return false;
  return true;
}

TEST(Resume, ANaNInTheDataKeepsTheLastCheckpoint) {
  // The resume model (Adam, BatchNorm, Dropout) trains with the fused
  // step under the default --on-nonfinite=stop.
  std::string binary = compile("resume");
  std::string data = writeData("nan", 24, 4, 3), output;
  std::string dir = tempDir(), ckpt = dir + "/nan.safetensors";
  const std::string common = " train" + data + " --batch-size 4";
  ASSERT_EQ(run(binary + common + " --steps 2 --save " + ckpt, output), 0)
      << output;
  const std::string good = readBytes(ckpt);
  // Sample 13 is in batch 3 (of 0..5) of every epoch: step 4 of the first.
  putNaN("nan", 13);
  EXPECT_EQ(run(binary + common + " --steps 6 --init " + ckpt + " --save " +
                    ckpt + " --save-every 1",
                output),
            1);
  // Step 4 fails: its loss is NaN (relu(NaN) is NaN, as in PyTorch).
  EXPECT_NE(output.find("error: step 4 (epoch 1): the loss is nan: "
                        "training stopped"),
            std::string::npos)
      << output;
  // Step 3 was saved by --save-every, step 4 never: the file is step 3's.
  SafetensorsFile file;
  std::string error;
  ASSERT_TRUE(readSafetensors(ckpt, file, error)) << error;
  EXPECT_EQ(file.metadata.at("step"), "3");
  EXPECT_TRUE(allFinite(file));
  // Without periodic saves the file is left byte for byte.
  // (Steps 1 and 2 do not see the NaN: the same checkpoint again.)
  ASSERT_EQ(run(binary + common + " --steps 2 --save " + ckpt, output), 0)
      << output;
  ASSERT_EQ(readBytes(ckpt), good);
  EXPECT_EQ(run(binary + common + " --steps 6 --init " + ckpt + " --save " +
                    ckpt,
                output),
            1);
  EXPECT_EQ(readBytes(ckpt), good);
  // skip: every later epoch skips that batch; BatchNorm's running
  // statistics and Adam's moments stay finite.
  ASSERT_EQ(run(binary + common + " --epochs 3 --on-nonfinite skip --save " +
                    ckpt,
                output),
            0)
      << output;
  EXPECT_NE(output.find("(3 step(s) skipped: not finite)"), std::string::npos)
      << output;
  ASSERT_TRUE(readSafetensors(ckpt, file, error)) << error;
  EXPECT_EQ(file.metadata.at("step"), "18");
  EXPECT_TRUE(allFinite(file));
}

TEST(Resume, AnExplodingLearningRateKeepsTheLastCheckpoint) {
  // SGD with lr 1e15: the first step's loss is finite and its update blows
  // the parameters up; a later loss (or, before it, an update) is not
  // finite. The run stops with status 1 and the checkpoint saved before the
  // run is untouched; every step that was saved holds finite numbers.
  std::string binary = compile("explode");
  std::string data = writeData("explode", 8, 4, 3), output;
  std::string dir = tempDir(), ckpt = dir + "/explode.safetensors";
  const std::string common = " train" + data + " --batch-size 4";
  ASSERT_EQ(run(binary + common + " --steps 1 --save " + ckpt, output), 0)
      << output;
  const std::string good = readBytes(ckpt);
  SafetensorsFile file;
  std::string error;
  ASSERT_TRUE(readSafetensors(ckpt, file, error)) << error;
  ASSERT_TRUE(allFinite(file));
  EXPECT_EQ(run(binary + common + " --steps 20 --init " + ckpt + " --save " +
                    ckpt,
                output),
            1);
  EXPECT_TRUE(output.find("the loss is ") != std::string::npos ||
              output.find("error: not saving " + ckpt) != std::string::npos)
      << output;
  EXPECT_EQ(readBytes(ckpt), good);
}

TEST(Resume, LearningRateColumnsFollowTheGroups) {
  std::string binary = compile("groups");
  std::string data = writeData("groups", 8, 4, 3), output;
  std::string metrics = tempDir() + "/groups.csv";
  ASSERT_EQ(run(binary + " train" + data + " --batch-size 4 --steps 2 " +
                    "--metrics " + metrics,
                output),
            0)
      << output;
  std::istringstream lines(readBytes(metrics));
  std::string header, step;
  std::getline(lines, header);
  std::getline(lines, step);
  EXPECT_EQ(header, "kind,epoch,step,train_loss,lr/body/0,lr/body/1,"
                    "lr/body/2,lr/top/0,samples_per_second,seconds");
  EXPECT_EQ(step.rfind("step,1,1,", 0), 0u) << step;
  EXPECT_NE(step.find(",0.01,0.02,0.03,0.004,"), std::string::npos) << step;
}

TEST(Resume, MissingOptimizerStateIsRefused) {
  std::string binary = compile("groups");
  std::string data = writeData("groups", 8, 4, 3), output;
  std::string dir = tempDir(), ckpt = dir + "/full.safetensors",
              partial = dir + "/partial.safetensors";
  ASSERT_EQ(run(binary + " train" + data + " --batch-size 4 --steps 2 --save " +
                    ckpt,
                output),
            0)
      << output;
  SafetensorsFile file;
  std::string error, dropped;
  ASSERT_TRUE(readSafetensors(ckpt, file, error)) << error;
  for (const auto &[name, t] : file.tensors)
    if (name.rfind("optim/top/", 0) == 0 && name.find("/lr") == std::string::npos)
      dropped = name;
  ASSERT_NE(dropped, "");
  file.tensors.erase(dropped);
  ASSERT_TRUE(writeSafetensors(partial, file, error)) << error;
  EXPECT_EQ(run(binary + " train" + data + " --batch-size 4 --steps 1 --init " +
                    partial,
                output),
            1);
  EXPECT_NE(output.find(partial + ": the checkpoint has optimizer state, but "
                                  "none for '" + dropped + "'"),
            std::string::npos)
      << output;
  EXPECT_EQ(run(binary + " train" + data + " --batch-size 4 --steps 1 --init " +
                    partial + " --allow-missing-state",
                output),
            0)
      << output;
  EXPECT_EQ(run(binary + " eval" + data + " --init " + partial, output), 0)
      << output;
}

/// A StepLR schedule through a compiled binary: after 5 epochs each
/// group's rate is its base rate times 0.5^floor(5 / 2), in the lr buffer
/// the update kernels read; the schedule's position is in the metadata.
TEST(Schedules, StepLRDrivesTheCompiledUpdate) {
  std::string binary = compile("schedule");
  TensorData x{DType::F32, {8, 2}, {}}, y{DType::F32, {8, 1}, {}};
  for (int i = 0; i < 16; ++i) {
    float v = 0.1f * static_cast<float>(i % 5) - 0.2f;
    const uint8_t *b = reinterpret_cast<const uint8_t *>(&v);
    x.bytes.insert(x.bytes.end(), b, b + 4);
  }
  for (int i = 0; i < 8; ++i) {
    float v = static_cast<float>(i) * 0.25f;
    const uint8_t *b = reinterpret_cast<const uint8_t *>(&v);
    y.bytes.insert(y.bytes.end(), b, b + 4);
  }
  std::string error, dir = tempDir();
  ASSERT_TRUE(writeNpy(dir + "/s_x.npy", x, error)) << error;
  ASSERT_TRUE(writeNpy(dir + "/s_y.npy", y, error)) << error;
  std::string output;
  ASSERT_EQ(run(binary + " train --x " + dir + "/s_x.npy --y " + dir +
                    "/s_y.npy --batch-size 4 --epochs 5 --save " + dir +
                    "/s.safetensors",
                output),
            0)
      << output;
  SafetensorsFile ckpt;
  ASSERT_TRUE(readSafetensors(dir + "/s.safetensors", ckpt, error)) << error;
  std::vector<float> lr0 = ckpt.tensors.at("optim/opt/0/lr").asFloats();
  std::vector<float> lr1 = ckpt.tensors.at("optim/opt/1/lr").asFloats();
  EXPECT_EQ(lr0.at(0), static_cast<float>(0.1 * 0.25));
  EXPECT_EQ(lr1.at(0), static_cast<float>(0.05 * 0.25));
  EXPECT_EQ(ckpt.metadata.at("schedule/s/last_epoch"), "5");
}

} // namespace
