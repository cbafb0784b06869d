//===- DeviceCopyTest.cpp - The runtime's side of GPU-resident tensors ----===//
//
// The host-side logic of a GPU binary (Buffers.h, KernelRunner.cpp), tested
// without a GPU: FakeModel's linreg on a fake device whose kernels treat
// buffers as Halide's GPU pipelines do. Trained on it, linreg must give
// exactly what the host build gives; only the batches go up and only the
// loss and what the host reads come down; a step allocates nothing on the
// device once the first has run; every device allocation is freed; copies
// and moves of tensors keep one owner per allocation; a checkpoint written
// from the device resumes on the host.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Buffers.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/Trainer.h"

#include "FakeModel.h"
#include "TestDir.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace firn::runtime;
using namespace firn::fake;

namespace {

class DeviceCopyTest : public ::testing::Test {
protected:
  std::string dir;
  Dataset data;

  void SetUp() override {
    calls = Calls();
    fakeDevice = FakeDevice();
    dir = firn::testing::freshTestDir("firn_device_");
    ASSERT_NE(dir, "");
    std::string error;
    ASSERT_TRUE(linregData(data, error)) << error;
  }
  void TearDown() override { firn::testing::removeTestDir(dir); }

  /// Trains `state` for `steps` steps of batch 2, with the gradients kept
  /// (zero_grad, train_step, optimizer_step: every kind of port).
  void trainSteps(ModelState &state, int64_t steps) {
    std::FILE *progress = std::tmpfile();
    TrainOptions options;
    options.batchSize = 2;
    options.steps = steps;
    options.keepGradients = true;
    options.progress = progress;
    TrainResult result;
    std::string error;
    ASSERT_TRUE(train(state, data, options, result, error)) << error;
    std::fclose(progress);
  }
};

std::vector<float> values(const ModelState &state, int index) {
  return state.tensor(index).f32; // (const: brought up to date)
}

TEST_F(DeviceCopyTest, TrainsExactlyAsTheHostBuildDoes) {
  ModelState host(kLinreg), device(kLinregOnDevice);
  host.initialize(0);
  device.initialize(0);
  trainSteps(host, 5);
  trainSteps(device, 5);
  for (int s : {kW, kB, kGradW, kGradB})
    EXPECT_EQ(values(device, s), values(host, s)) << kLinregStates[s].name;
  EXPECT_GT(fakeDevice.mallocs, 0); // The kernels did run on the device.
}

TEST_F(DeviceCopyTest, OnlyBatchesGoUpAndOnlyTheLossComesDown) {
  // What one step costs on the device, as the difference between a run of
  // 5 steps and a run of 1 (each run has its own runner, whose first step
  // allocates the scratch state, temporaries and results).
  auto run = [&](int64_t steps) {
    fakeDevice = FakeDevice();
    ModelState state(kLinregOnDevice);
    state.initialize(0);
    trainSteps(state, steps);
    return fakeDevice;
  };
  FakeDevice one = run(1), five = run(5);
  // Per step: x and y up, the loss down; no device allocation, no free.
  EXPECT_EQ(five.uploads - one.uploads, 4 * 2);
  EXPECT_EQ(five.downloads - one.downloads, 4 * 1);
  EXPECT_EQ(five.mallocs, one.mallocs);
  EXPECT_EQ(five.frees, one.frees);
}

TEST_F(DeviceCopyTest, TheHostCopyIsBroughtUpToDateWhenTheHostReadsIt) {
  ModelState state(kLinregOnDevice);
  state.initialize(0);
  trainSteps(state, 1);
  // The optimizer left w on the device: the host copy is stale until
  // something reads it.
  EXPECT_TRUE(state.kernelTensor(kW).device.deviceDirty);
  std::vector<float> stale = state.kernelTensor(kW).f32;
  int before = fakeDevice.downloads;
  std::vector<float> w = values(state, kW);
  EXPECT_EQ(fakeDevice.downloads, before + 1);
  EXPECT_NE(w, stale);
  EXPECT_NE(w, std::vector<float>(kWInit, kWInit + 2));
  EXPECT_EQ(state.kernelTensor(kW).f32, w);
  values(state, kW); // Already current: no second copy.
  EXPECT_EQ(fakeDevice.downloads, before + 1);

  // A host write reaches the next kernel.
  state.tensor(kW).f32 = {0, 0};
  state.tensor(kB).f32 = {2};
  KernelRunner runner(state);
  HostTensor x = HostTensor::zeros(FIRN_F32, {1, 2});
  x.f32 = {1, 1};
  std::vector<HostTensor> results;
  std::string error;
  ASSERT_TRUE(runner.call(*kLinregOnDevice.predict, {&x}, 1, results, error)) << error;
  EXPECT_EQ(results[0].f32, std::vector<float>({2}));
}

TEST_F(DeviceCopyTest, EachDeviceAllocationHasOneOwnerAndIsFreed) {
  {
    ModelState state(kLinregOnDevice);
    state.initialize(0);
    trainSteps(state, 3);
    EXPECT_GT(fakeDevice.live, 0);
    HostTensor &w = state.kernelTensor(kW);
    ASSERT_NE(w.device.handle, 0u);
    // A copy holds the current value on the host and no device copy.
    HostTensor copy = w;
    EXPECT_EQ(copy.device.handle, 0u);
    EXPECT_EQ(copy.f32, values(state, kW));
    // A move takes the device copy along.
    uint64_t handle = w.device.handle;
    HostTensor moved = std::move(w);
    EXPECT_EQ(moved.device.handle, handle);
    EXPECT_EQ(w.device.handle, 0u);
    w = std::move(moved);
    // Assigning over a tensor frees its device copy.
    int frees = fakeDevice.frees;
    state.kernelTensor(kB) = HostTensor::zeros(FIRN_F32, {1});
    EXPECT_EQ(fakeDevice.frees, frees + 1);
  }
  // The state, the runner's scratch tensors, temporaries and results: all
  // freed.
  EXPECT_EQ(fakeDevice.live, 0);
  EXPECT_EQ(fakeDevice.frees, fakeDevice.mallocs);
}

TEST_F(DeviceCopyTest, ACheckpointFromTheDeviceResumesOnTheHost) {
  std::string path = dir + "device.safetensors", error;
  ModelState device(kLinregOnDevice);
  device.initialize(0);
  trainSteps(device, 2);
  ASSERT_TRUE(device.save(path, /*saveGrads=*/true, error)) << error;

  ModelState resumed(kLinreg), straight(kLinreg);
  resumed.initialize(0);
  ASSERT_TRUE(resumed.load(path, error, nullptr)) << error;
  // (The data is 4 samples in batches of 2: 2 steps are one epoch, so the
  // next 2 see the same batches in either run.)
  trainSteps(resumed, 2);
  straight.initialize(0);
  trainSteps(straight, 2);
  trainSteps(straight, 2);
  for (int s : {kW, kB})
    EXPECT_EQ(values(resumed, s), values(straight, s)) << kLinregStates[s].name;

  // And back: the host's checkpoint loads onto the device.
  std::string hostPath = dir + "host.safetensors";
  ASSERT_TRUE(straight.save(hostPath, true, error)) << error;
  ASSERT_TRUE(device.load(hostPath, error, nullptr)) << error;
  trainSteps(device, 1);
  trainSteps(straight, 1);
  for (int s : {kW, kB})
    EXPECT_EQ(values(device, s), values(straight, s)) << kLinregStates[s].name;
}

} // namespace
