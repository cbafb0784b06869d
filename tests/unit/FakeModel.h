//===- FakeModel.h - Hand-written models for runtime tests ------*- C++ -*-===//
//
// The runtime (and the C API over it) is tested without firnc or Halide: two
// hand-written model tables (ModelABI.h) whose kernels are plain C++ reading
// the halide_buffer_t's the runtime passes:
//   - `kLinreg`: y = w·x + b with MSE loss, gradient buffers that accumulate,
//     zero_grad and an SGD update (lr 0.1); `gradient` computes the same
//     formulas in double for the tests to compare with;
//   - `kClf`: an inference-only classifier whose predict returns its input
//     (3 scores per sample) times a parameter `scale` initialized by
//     FIRN_INIT_LOAD, and whose eval loss is mean(-score[target]).
// `calls` counts the kernel calls (reset it in each test's SetUp) and lets a
// test make train_step fail.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_TESTS_UNIT_FAKEMODEL_H
#define FIRN_TESTS_UNIT_FAKEMODEL_H

#include "firn/Runtime/Dataset.h"
#include "firn/Runtime/ModelABI.h"

#include <HalideRuntime.h>

#include <string>
#include <vector>

namespace firn::fake {

/// linreg's states, in table order: the parameters w [1, 2] and b [1], their
/// gradients, the SGD learning rate (a scalar), and a uniformly initialized
/// parameter `u` [3, 4] that no kernel reads.
enum LinregState { kW, kB, kGradW, kGradB, kLr, kU, kNumStates };

/// The initial values of linreg's w, b and learning rate.
extern const float kWInit[2];
extern const float kBInit;
extern const float kLrInit;

struct Calls {
  int predict = 0, evalLoss = 0, trainStep = 0, zeroGrad = 0, optimizer = 0;
  /// Set when train_step saw a gradient output aliasing its input.
  bool aliased = false;
  int failTrainStep = 0; ///< Non-zero: train_step returns it.
  /// Non-zero: the train_step call of that number (1-based) and every later
  /// one fails (returns -1), as a crash at that step would end the run.
  int failFromTrainStep = 0;
  /// Non-zero: the train_step call of number `raiseAtTrainStep` raises
  /// `raiseSignal` in the middle of the step, as a user's Ctrl-C would.
  int raiseAtTrainStep = 0, raiseSignal = 0;
};
extern Calls calls;

extern const std::vector<firn_state_desc> kLinregStates;
extern const firn_model_desc kLinreg;
extern const firn_model_desc kClf;

/// Four samples of linreg's data (x is [4, 2], y is [4, 1]).
extern const std::vector<float> kX;
extern const std::vector<float> kY;

/// kX and kY as linreg's data set (false with `error` if that fails).
bool linregData(runtime::Dataset &data, std::string &error);

/// The MSE gradient of linreg for samples [first, first+count) of kX/kY at
/// (w, b), in double: {dw0, dw1, db}.
std::vector<double> gradient(const double w[2], double b, int first, int count);

/// A GPU that is host memory: the halide_device_interface_t of a fake
/// device whose allocations are malloc'd (and filled with 0xFF bytes, so a
/// missing upload shows as NaNs), with counters. `kLinregOnDevice` is
/// linreg with target "cuda" whose kernels behave as Halide's GPU pipelines
/// do: an input without a device copy gets one, a host-dirty input is
/// uploaded (both flags set is an error), the kernel runs on the device
/// copies, and its outputs are left device-dirty.
struct FakeDevice {
  int mallocs = 0, frees = 0, uploads = 0, downloads = 0;
  int live = 0; ///< Allocations not freed.
};
extern FakeDevice fakeDevice;
const halide_device_interface_t *fakeDeviceInterface();
extern const firn_model_desc kLinregOnDevice;

} // namespace firn::fake

#endif // FIRN_TESTS_UNIT_FAKEMODEL_H
