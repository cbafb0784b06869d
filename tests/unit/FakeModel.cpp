//===- FakeModel.cpp - Hand-written model tables for runtime tests --------===//
//
// See FakeModel.h. The kernels read and write the halide_buffer_t's the
// runtime passes through the dimension-0-is-last layout of Buffers.h, so
// they also check that the runtime describes its tensors correctly.
//
//===----------------------------------------------------------------------===//

#include "FakeModel.h"

#include "firn/Runtime/Trainer.h"

#include <HalideRuntime.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace firn::fake {

Calls calls;

namespace {

//===----------------------------------------------------------------------===//
// Reading and writing halide_buffer_t in tensor order
//===----------------------------------------------------------------------===//

/// The element at tensor index `idx` (row-major order, as the tensor is
/// written), through the reversed Halide dimensions.
template <typename T> T &at(void *buffer, std::vector<int64_t> idx) {
  auto *b = static_cast<halide_buffer_t *>(buffer);
  EXPECT_EQ(b->dimensions, static_cast<int>(idx.size()));
  int64_t offset = 0;
  for (size_t d = 0; d < idx.size(); ++d)
    offset += idx[d] * b->dim[idx.size() - 1 - d].stride;
  return reinterpret_cast<T *>(b->host)[offset];
}

/// The extent of tensor dimension `d`.
int64_t extent(void *buffer, int d) {
  auto *b = static_cast<halide_buffer_t *>(buffer);
  return b->dim[b->dimensions - 1 - d].extent;
}

//===----------------------------------------------------------------------===//
// linreg: y = w·x + b
//===----------------------------------------------------------------------===//

/// w·x_n + b for the sample n of the batch x.
float forward(void *x, void *w, void *b, int64_t n) {
  return at<float>(w, {0, 0}) * at<float>(x, {n, 0}) +
         at<float>(w, {0, 1}) * at<float>(x, {n, 1}) + at<float>(b, {0});
}

// predict: inputs {x, w, b}, outputs {pred}.
int linregPredict(void **buf) {
  ++calls.predict;
  for (int64_t n = 0; n < extent(buf[0], 0); ++n)
    at<float>(buf[3], {n, 0}) = forward(buf[0], buf[1], buf[2], n);
  return 0;
}

// eval_loss: inputs {x, y, w, b}, outputs {loss}.
int linregEvalLoss(void **buf) {
  ++calls.evalLoss;
  int64_t batch = extent(buf[0], 0);
  double sum = 0;
  for (int64_t n = 0; n < batch; ++n) {
    double e = forward(buf[0], buf[2], buf[3], n) - at<float>(buf[1], {n, 0});
    sum += e * e;
  }
  *reinterpret_cast<float *>(static_cast<halide_buffer_t *>(buf[4])->host) =
      float(sum / batch);
  return 0;
}

// train_step: inputs {w, x, b, y, grad/w, grad/b} (states and arguments
// mixed, as a generated table may order them), outputs {loss, grad/w,
// grad/b}: the gradients accumulate.
int linregTrainStep(void **buf) {
  ++calls.trainStep;
  if (calls.failTrainStep)
    return calls.failTrainStep;
  if (calls.failFromTrainStep && calls.trainStep >= calls.failFromTrainStep)
    return -1;
  if (calls.raiseAtTrainStep == calls.trainStep && calls.raiseSignal)
    std::raise(calls.raiseSignal);
  void *w = buf[0], *x = buf[1], *b = buf[2], *y = buf[3];
  if (static_cast<halide_buffer_t *>(buf[4])->host ==
          static_cast<halide_buffer_t *>(buf[7])->host ||
      static_cast<halide_buffer_t *>(buf[5])->host ==
          static_cast<halide_buffer_t *>(buf[8])->host)
    calls.aliased = true;
  int64_t batch = extent(x, 0);
  double sum = 0, gw0 = 0, gw1 = 0, gb = 0;
  for (int64_t n = 0; n < batch; ++n) {
    double e = forward(x, w, b, n) - at<float>(y, {n, 0});
    sum += e * e;
    gw0 += 2 * e * at<float>(x, {n, 0}) / batch;
    gw1 += 2 * e * at<float>(x, {n, 1}) / batch;
    gb += 2 * e / batch;
  }
  at<float>(buf[6], {}) = float(sum / batch);
  at<float>(buf[7], {0, 0}) = at<float>(buf[4], {0, 0}) + float(gw0);
  at<float>(buf[7], {0, 1}) = at<float>(buf[4], {0, 1}) + float(gw1);
  at<float>(buf[8], {0}) = at<float>(buf[5], {0}) + float(gb);
  return 0;
}

// zero_grad: no inputs, outputs {grad/w, grad/b}.
int linregZeroGrad(void **buf) {
  ++calls.zeroGrad;
  at<float>(buf[0], {0, 0}) = at<float>(buf[0], {0, 1}) = 0;
  at<float>(buf[1], {0}) = 0;
  return 0;
}

// optimizer_step: inputs {w, b, grad/w, grad/b, lr}, outputs {w, b}. The
// outputs are written before the last read of the inputs: aliasing would
// show as a wrong update.
int linregOptimizerStep(void **buf) {
  ++calls.optimizer;
  float lr = at<float>(buf[4], {});
  for (int k = 0; k < 2; ++k) {
    at<float>(buf[5], {0, k}) = 0;
    at<float>(buf[5], {0, k}) =
        at<float>(buf[0], {0, k}) - lr * at<float>(buf[2], {0, k});
  }
  at<float>(buf[6], {0}) = 0;
  at<float>(buf[6], {0}) = at<float>(buf[1], {0}) - lr * at<float>(buf[3], {0});
  return 0;
}

constexpr firn_port state(int s, int rank, std::initializer_list<int64_t> shape,
                          int dtype = FIRN_F32) {
  firn_port p{s, 0, dtype, rank, {}};
  int i = 0;
  for (int64_t d : shape)
    p.shape[i++] = d;
  return p;
}
constexpr firn_port arg(int index, int rank,
                        std::initializer_list<int64_t> shape,
                        int dtype = FIRN_F32) {
  firn_port p = state(-1, rank, shape, dtype);
  p.index = index;
  return p;
}

const firn_port kPW = state(kW, 2, {1, 2}), kPB = state(kB, 1, {1}),
                kPGW = state(kGradW, 2, {1, 2}), kPGB = state(kGradB, 1, {1}),
                kPLr = state(kLr, 0, {}), kPX = arg(0, 2, {-1, 2}),
                kPY = arg(1, 2, {-1, 1}), kPLoss = arg(0, 0, {}),
                kPPred = arg(0, 2, {-1, 1});

const firn_port kPredictIn[] = {kPX, kPW, kPB}, kPredictOut[] = {kPPred};
const firn_port kEvalIn[] = {kPX, kPY, kPW, kPB}, kEvalOut[] = {kPLoss};
const firn_port kTrainIn[] = {kPW, kPX, kPB, kPY, kPGW, kPGB},
                kTrainOut[] = {kPLoss, kPGW, kPGB};
const firn_port kZeroOut[] = {kPGW, kPGB};
const firn_port kOptIn[] = {kPW, kPB, kPGW, kPGB, kPLr}, kOptOut[] = {kPW, kPB};

const firn_function_desc kLinregPredict = {
    "predict", 3, kPredictIn, 1, kPredictOut, linregPredict};
const firn_function_desc kLinregEval = {"eval_loss", 4,        kEvalIn,
                                        1,           kEvalOut, linregEvalLoss};
const firn_function_desc kLinregTrain = {
    "train_step", 6, kTrainIn, 3, kTrainOut, linregTrainStep};
const firn_function_desc kLinregZero = {"zero_grad", 0,        nullptr,
                                        2,           kZeroOut, linregZeroGrad};
const firn_function_desc kLinregOpt = {
    "optimizer_step", 5, kOptIn, 2, kOptOut, linregOptimizerStep};

firn_state_desc stateDesc(const char *name, int kind, int rank,
                          std::initializer_list<int64_t> shape, int init,
                          const void *data = nullptr, int64_t count = 0) {
  firn_state_desc s{};
  s.name = name;
  s.kind = kind;
  s.dtype = FIRN_F32;
  s.rank = rank;
  int i = 0;
  for (int64_t d : shape)
    s.shape[i++] = d;
  s.init = init;
  s.data = data;
  s.data_count = count;
  return s;
}

std::vector<firn_state_desc> linregStates() {
  std::vector<firn_state_desc> s(kNumStates);
  s[kW] = stateDesc("w", FIRN_STATE_PARAM, 2, {1, 2}, FIRN_INIT_CONSTANT,
                    kWInit, 2);
  s[kB] =
      stateDesc("b", FIRN_STATE_PARAM, 1, {1}, FIRN_INIT_CONSTANT, &kBInit, 1);
  for (int p : {kW, kB}) {
    s[p].trainable = 1;
    s[p].optimizer = "sgd";
  }
  s[kGradW] =
      stateDesc("grad/w", FIRN_STATE_BUFFER, 2, {1, 2}, FIRN_INIT_CONSTANT);
  s[kGradB] =
      stateDesc("grad/b", FIRN_STATE_BUFFER, 1, {1}, FIRN_INIT_CONSTANT);
  s[kLr] = stateDesc("optim/sgd/0/lr", FIRN_STATE_BUFFER, 0, {},
                     FIRN_INIT_CONSTANT, &kLrInit, 1);
  // Read by no kernel: there for initialization and `info`.
  s[kU] = stateDesc("u", FIRN_STATE_PARAM, 2, {3, 4}, FIRN_INIT_UNIFORM);
  s[kU].bound = 0.3;
  return s;
}

const char *const kLinregInputs[] = {"x"};

firn_model_desc linregDesc() {
  firn_model_desc d{};
  d.name = "linreg";
  d.seed = 7;
  d.accumulate = 1;
  d.zero_grad = "optimizer";
  d.num_states = kNumStates;
  d.states = kLinregStates.data();
  d.num_inputs = 1;
  d.input_names = kLinregInputs;
  d.target_name = "y";
  d.predict = &kLinregPredict;
  d.eval_loss = &kLinregEval;
  d.train_step = &kLinregTrain;
  d.zero_grad_fn = &kLinregZero;
  d.optimizer_step = &kLinregOpt;
  return d;
}

//===----------------------------------------------------------------------===//
// clf: an inference-only classifier
//===----------------------------------------------------------------------===//

// predict: inputs {x, scale}, outputs {scores = x * scale}.
int clfPredict(void **buf) {
  float scale = at<float>(buf[1], {0});
  for (int64_t n = 0; n < extent(buf[0], 0); ++n)
    for (int64_t c = 0; c < 3; ++c)
      at<float>(buf[2], {n, c}) = at<float>(buf[0], {n, c}) * scale;
  return 0;
}

// eval_loss: inputs {x, target, scale}, outputs {mean(-x[n, target[n]])}.
int clfEvalLoss(void **buf) {
  float scale = at<float>(buf[2], {0});
  int64_t batch = extent(buf[0], 0);
  double sum = 0;
  for (int64_t n = 0; n < batch; ++n)
    sum -= at<float>(buf[0], {n, at<int64_t>(buf[1], {n})}) * scale;
  at<float>(buf[3], {}) = float(sum / batch);
  return 0;
}

const firn_port kCX = arg(0, 2, {-1, 3}), kCT = arg(1, 1, {-1}, FIRN_I64),
                kCScale = state(0, 1, {1}), kCScores = arg(0, 2, {-1, 3});
const firn_port kClfPredictIn[] = {kCX, kCScale}, kClfPredictOut[] = {kCScores};
const firn_port kClfEvalIn[] = {kCX, kCT, kCScale}, kClfEvalOut[] = {kPLoss};
const firn_function_desc kClfPredict = {
    "predict", 2, kClfPredictIn, 1, kClfPredictOut, clfPredict};
const firn_function_desc kClfEval = {"eval_loss", 3,           kClfEvalIn,
                                     1,           kClfEvalOut, clfEvalLoss};
const firn_state_desc kClfStates[] = {
    stateDesc("scale", FIRN_STATE_PARAM, 1, {1}, FIRN_INIT_LOAD)};

//===----------------------------------------------------------------------===//
// A fake device, and linreg on it
//===----------------------------------------------------------------------===//

int fakeMalloc(void *, halide_buffer_t *b, const halide_device_interface_t *) {
  size_t bytes = b->size_in_bytes();
  void *memory = std::malloc(bytes ? bytes : 1);
  std::memset(memory, 0xFF, bytes);
  b->device = reinterpret_cast<uint64_t>(memory);
  b->device_interface = fakeDeviceInterface();
  ++fakeDevice.mallocs;
  ++fakeDevice.live;
  return 0;
}

int fakeFree(void *, halide_buffer_t *b) {
  EXPECT_NE(b->device, 0u);
  EXPECT_EQ(b->device_interface, fakeDeviceInterface());
  std::free(reinterpret_cast<void *>(b->device));
  b->device = 0;
  b->device_interface = nullptr;
  ++fakeDevice.frees;
  --fakeDevice.live;
  return 0;
}

int fakeCopyToHost(void *, halide_buffer_t *b) {
  if (b->host_dirty() || !b->host)
    return -1;
  std::memcpy(b->host, reinterpret_cast<void *>(b->device), b->size_in_bytes());
  b->set_device_dirty(false);
  ++fakeDevice.downloads;
  return 0;
}

/// What a GPU pipeline does with its buffers before the kernel runs.
int prepare(halide_buffer_t *b, bool input) {
  if (!b->device)
    fakeMalloc(nullptr, b, nullptr);
  if (!input)
    return 0;
  if (b->host_dirty() && b->device_dirty())
    return -1; // halide_error_code_copy_to_device_failed, in effect.
  if (b->host_dirty()) {
    std::memcpy(reinterpret_cast<void *>(b->device), b->host, b->size_in_bytes());
    b->set_host_dirty(false);
    ++fakeDevice.uploads;
  }
  return 0;
}

/// `Host` run as a GPU pipeline with `NumIn` inputs and `NumOut` outputs.
template <firn_kernel_fn Host, int NumIn, int NumOut> int onDevice(void **buf) {
  halide_buffer_t shadow[NumIn + NumOut];
  void *pointers[NumIn + NumOut];
  for (int i = 0; i < NumIn + NumOut; ++i) {
    auto *b = static_cast<halide_buffer_t *>(buf[i]);
    if (prepare(b, i < NumIn) != 0)
      return -1;
    shadow[i] = *b;
    shadow[i].host = reinterpret_cast<uint8_t *>(b->device);
    pointers[i] = &shadow[i];
  }
  int status = Host(pointers);
  for (int i = NumIn; i < NumIn + NumOut; ++i)
    static_cast<halide_buffer_t *>(buf[i])->set_device_dirty(true);
  return status;
}

const firn_function_desc kDevicePredict = {
    "predict", 3, kPredictIn, 1, kPredictOut, onDevice<linregPredict, 3, 1>};
const firn_function_desc kDeviceEval = {
    "eval_loss", 4, kEvalIn, 1, kEvalOut, onDevice<linregEvalLoss, 4, 1>};
const firn_function_desc kDeviceTrain = {
    "train_step", 6, kTrainIn, 3, kTrainOut, onDevice<linregTrainStep, 6, 3>};
const firn_function_desc kDeviceZero = {
    "zero_grad", 0, nullptr, 2, kZeroOut, onDevice<linregZeroGrad, 0, 2>};
const firn_function_desc kDeviceOpt = {
    "optimizer_step", 5, kOptIn, 2, kOptOut, onDevice<linregOptimizerStep, 5, 2>};

firn_model_desc linregOnDeviceDesc() {
  firn_model_desc d = linregDesc();
  d.predict = &kDevicePredict;
  d.eval_loss = &kDeviceEval;
  d.train_step = &kDeviceTrain;
  d.zero_grad_fn = &kDeviceZero;
  d.optimizer_step = &kDeviceOpt;
  d.target = "cuda";
  return d;
}

firn_model_desc clfDesc() {
  firn_model_desc d{};
  d.name = "clf";
  d.accumulate = 1;
  d.zero_grad = "optimizer";
  d.num_states = 1;
  d.states = kClfStates;
  d.num_inputs = 1;
  d.input_names = kLinregInputs;
  d.target_name = "label";
  d.predict = &kClfPredict;
  d.eval_loss = &kClfEval;
  return d;
}

} // namespace

const float kWInit[2] = {0.5f, -0.25f};
const float kBInit = 0.1f;
const float kLrInit = 0.1f;

const std::vector<firn_state_desc> kLinregStates = linregStates();
const firn_model_desc kLinreg = linregDesc();
const firn_model_desc kClf = clfDesc();
const firn_model_desc kLinregOnDevice = linregOnDeviceDesc();

FakeDevice fakeDevice;

const halide_device_interface_t *fakeDeviceInterface() {
  // Only what the runtime calls: device_free and copy_to_host.
  static const halide_device_interface_t interface = [] {
    halide_device_interface_t i{};
    i.device_malloc = fakeMalloc;
    i.device_free = fakeFree;
    i.copy_to_host = fakeCopyToHost;
    return i;
  }();
  return &interface;
}

const std::vector<float> kX = {1, 2, 3, -1, 0.5f, 0.5f, -2, 1};
const std::vector<float> kY = {1, 0, 2, -1};

bool linregData(runtime::Dataset &data, std::string &error) {
  runtime::DatasetSpec spec;
  bool hasTarget;
  if (!runtime::dataSpecOf(kLinreg, spec, hasTarget, error))
    return false;
  runtime::TensorData x = runtime::TensorData::fromFloats({4, 2}, kX);
  runtime::TensorData y = runtime::TensorData::fromFloats({4, 1}, kY);
  return runtime::Dataset::fromTensors(x, "x", &y, "y", spec, data, error);
}

/// The MSE gradient of linreg for samples [first, first+count) of kX/kY at
/// (w, b), in double: {dw0, dw1, db}.
std::vector<double> gradient(const double w[2], double b, int first,
                             int count) {
  std::vector<double> g(3, 0.0);
  for (int n = first; n < first + count; ++n) {
    double e = w[0] * kX[2 * n] + w[1] * kX[2 * n + 1] + b - kY[n];
    g[0] += 2 * e * kX[2 * n] / count;
    g[1] += 2 * e * kX[2 * n + 1] / count;
    g[2] += 2 * e / count;
  }
  return g;
}

} // namespace firn::fake
