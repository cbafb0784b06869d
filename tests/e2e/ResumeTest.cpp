//===- ResumeTest.cpp - Exact resume, reproducibility, atomic saves -------===//
//
// What a user relies on when training is interrupted: a run resumed from a
// checkpoint continues exactly (N steps in one run and N/2 + resume + N/2
// give byte-identical checkpoints, with Dropout, BatchNorm, Adam and
// shuffling in play); one seed gives identical runs; and killing a run while
// it saves never leaves a truncated checkpoint in place of a good one.
//
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"
#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
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
