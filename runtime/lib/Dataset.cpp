//===- Dataset.cpp - Training data from .npy files, batched ---------------===//
//
// See Dataset.h. The arrays are converted once, at load time, to the element
// types the kernels take (float32 or int64 inputs, int64 or float32 targets), so that
// slicing a batch is a plain copy of consecutive rows.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Dataset.h"
#include "firn/Runtime/Npy.h"

#include <algorithm>
#include <numeric>
#include <utility>

namespace firn::runtime {

namespace {

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t dim : shape)
    n *= dim;
  return n;
}

bool isFloat(DType dtype) { return dtype == DType::F32 || dtype == DType::F64; }

/// Checks that `t` has a first (sample) axis and returns the rest of its
/// shape in `sample`.
bool splitSampleAxis(const TensorData &t, const std::string &name,
                     std::vector<int64_t> &sample, std::string &error) {
  if (t.shape.empty()) {
    error = name + ": a 0-d array has no samples; the first axis must index "
                   "the samples";
    return false;
  }
  if (t.shape[0] == 0) {
    error = name + " has no samples (its first dimension is 0)";
    return false;
  }
  sample.assign(t.shape.begin() + 1, t.shape.end());
  return true;
}

bool checkSampleShape(const std::string &name, const char *what,
                      const std::vector<int64_t> &actual,
                      const std::vector<int64_t> &expected,
                      std::string &error) {
  if (actual == expected)
    return true;
  error = name + ": each " + what + " has shape " + shapeString(actual) +
          " but the model expects " + shapeString(expected);
  return false;
}

bool checkInputs(const TensorData &inputs, const std::string &name,
                 const DatasetSpec &spec, std::string &error) {
  if (spec.inputIsIndices) {
    if (!isFloat(inputs.dtype))
      return true;
    error = name + ": the inputs are floating point (" + dtypeName(inputs.dtype) +
            ") but the model takes int64 indices (token ids); save "
            "x.astype(np.int64)";
    return false;
  }
  if (isFloat(inputs.dtype))
    return true;
  error = name + ": the inputs are integers (" + dtypeName(inputs.dtype) +
          ") but the model takes float32 inputs; save x.astype(np.float32) "
          "(or were --x and --y swapped?)";
  return false;
}

bool checkTargetType(const TensorData &targets, const std::string &name,
                     TargetKind kind, std::string &error) {
  if (kind == TargetKind::ClassIndices && isFloat(targets.dtype)) {
    error = name + ": the targets are floating point (" +
            dtypeName(targets.dtype) +
            ") but the model's target is int64 class indices; save "
            "y.astype(np.int64)";
    return false;
  }
  if (kind == TargetKind::Floats && !isFloat(targets.dtype)) {
    error = name + ": the targets are integers (" + dtypeName(targets.dtype) +
            ") but the model's target is float32; save y.astype(np.float32)";
    return false;
  }
  return true;
}

/// The position of the first of `indices` outside [0, limit), or -1 when
/// all are inside (or `limit` is not positive: unchecked).
int64_t firstOutOfRange(const std::vector<int64_t> &indices, int64_t limit,
                        std::optional<int64_t> allowed = std::nullopt) {
  if (limit <= 0)
    return -1;
  for (size_t i = 0; i < indices.size(); ++i)
    if ((indices[i] < 0 || indices[i] >= limit) && indices[i] != allowed)
      return int64_t(i);
  return -1;
}

bool checkClassRange(const std::vector<int64_t> &indices, int64_t stride,
                     int64_t numClasses, std::optional<int64_t> ignoreIndex,
                     const std::string &name, std::string &error) {
  int64_t bad = firstOutOfRange(indices, numClasses, ignoreIndex);
  if (bad < 0)
    return true;
  error = name + ": target " + std::to_string(indices[size_t(bad)]) + " of sample " +
          std::to_string(stride ? bad / stride : 0) +
          " is not a class index in [0, " + std::to_string(numClasses) +
          ") (the model has " + std::to_string(numClasses) + " classes" +
          (ignoreIndex ? ", and its loss ignores " + std::to_string(*ignoreIndex)
                       : std::string()) +
          ")";
  return false;
}

bool checkInputRange(const std::vector<int64_t> &indices, int64_t stride,
                     int64_t limit, const std::string &name, std::string &error) {
  int64_t bad = firstOutOfRange(indices, limit);
  if (bad < 0)
    return true;
  error = name + ": index " + std::to_string(indices[size_t(bad)]) + " of sample " +
          std::to_string(stride ? bad / stride : 0) + " is not in [0, " +
          std::to_string(limit) + ") (the rows of the Embedding it indexes)";
  return false;
}

/// splitmix64's step: advances `state` and returns the next output.
uint64_t splitmix64(uint64_t &state) {
  state += 0x9E3779B97F4A7C15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

} // namespace

bool Dataset::load(const std::string &inputsPath,
                   const std::string &targetsPath, const DatasetSpec &spec,
                   Dataset &out, std::string &error) {
  TensorData inputs, targets;
  if (!readNpy(inputsPath, inputs, error))
    return false;
  // Check the inputs before reading the targets, so that a wrong --x is
  // reported even when --y is wrong too.
  std::vector<int64_t> sample;
  if (!splitSampleAxis(inputs, inputsPath, sample, error) ||
      !checkInputs(inputs, inputsPath, spec, error) ||
      !checkSampleShape(inputsPath, "sample", sample, spec.inputShape, error))
    return false;
  if (!targetsPath.empty() && !readNpy(targetsPath, targets, error))
    return false;
  return fromTensors(inputs, inputsPath,
                     targetsPath.empty() ? nullptr : &targets, targetsPath,
                     spec, out, error);
}

bool Dataset::fromTensors(const TensorData &inputs,
                          const std::string &inputsName,
                          const TensorData *targets,
                          const std::string &targetsName,
                          const DatasetSpec &spec, Dataset &out,
                          std::string &error) {
  Dataset result;
  if (!splitSampleAxis(inputs, inputsName, result.inputSample, error) ||
      !checkInputs(inputs, inputsName, spec, error) ||
      !checkSampleShape(inputsName, "sample", result.inputSample,
                        spec.inputShape, error))
    return false;
  result.samples = inputs.shape[0];
  result.inputStride = product(result.inputSample);
  result.inputsFile = inputsName;
  result.kind = spec.targetKind;

  if (targets) {
    if (!splitSampleAxis(*targets, targetsName, result.targetSample, error))
      return false;
    if (targets->shape[0] != result.samples) {
      error = inputsName + " has " + std::to_string(result.samples) +
              " samples but " + targetsName + " has " +
              std::to_string(targets->shape[0]) +
              "; inputs and targets must have the same first dimension";
      return false;
    }
    if (!checkTargetType(*targets, targetsName, spec.targetKind, error))
      return false;
    if (spec.targetShape &&
        !checkSampleShape(targetsName, "target", result.targetSample,
                          *spec.targetShape, error))
      return false;
    result.withTargets = true;
    result.targetsFile = targetsName;
    result.targetStride = product(result.targetSample);
    if (spec.targetKind == TargetKind::ClassIndices) {
      result.classValues = targets->asInt64s();
      if (!checkClassRange(result.classValues, result.targetStride,
                           spec.numClasses, spec.ignoreIndex, targetsName, error))
        return false;
    } else {
      result.floatValues = targets->asFloats();
    }
  }

  result.indexInput = spec.inputIsIndices;
  if (spec.inputIsIndices) {
    result.inputIndices = inputs.asInt64s();
    if (!checkInputRange(result.inputIndices, result.inputStride, spec.inputLimit,
                         inputsName, error))
      return false;
  } else {
    result.inputValues = inputs.asFloats();
  }
  result.unshuffle();
  out = std::move(result);
  return true;
}

bool Dataset::addInput(const std::string &path, const DatasetSpec &spec,
                       std::string &error) {
  TensorData t;
  MoreInput input;
  if (!readNpy(path, t, error) || !splitSampleAxis(t, path, input.sample, error) ||
      !checkInputs(t, path, spec, error) ||
      !checkSampleShape(path, "sample", input.sample, spec.inputShape, error))
    return false;
  if (t.shape[0] != samples) {
    error = path + " has " + std::to_string(t.shape[0]) + " samples but " +
            inputsFile + " has " + std::to_string(samples) +
            "; every input must have the same first dimension";
    return false;
  }
  input.file = path;
  input.indices = spec.inputIsIndices;
  input.stride = product(input.sample);
  if (input.indices) {
    input.ints = t.asInt64s();
    if (!checkInputRange(input.ints, input.stride, spec.inputLimit, path, error))
      return false;
  } else {
    input.values = t.asFloats();
  }
  more.push_back(std::move(input));
  return true;
}

bool Dataset::checkBatchSize(int64_t batchSize, bool dropLast,
                             std::string &error) const {
  if (batchSize <= 0) {
    error = "the batch size must be positive, not " + std::to_string(batchSize);
    return false;
  }
  if (batchSize > samples) {
    error = inputsFile + " has " + std::to_string(samples) +
            " samples, fewer than one batch of " + std::to_string(batchSize) +
            "; use a batch size of at most " + std::to_string(samples);
    return false;
  }
  if (!dropLast && samples % batchSize != 0) {
    error = inputsFile + " has " + std::to_string(samples) +
            " samples, which batch size " + std::to_string(batchSize) +
            " does not divide; use --drop-last or a batch size that divides it";
    return false;
  }
  return true;
}

int64_t Dataset::batchCount(int64_t batchSize, bool keepPartial) const {
  if (batchSize <= 0)
    return 0;
  // (No samples + batchSize - 1: a batch size near 2^63 would overflow.)
  return samples / batchSize + (keepPartial && samples % batchSize != 0);
}

bool Dataset::batch(int64_t index, int64_t batchSize, Batch &out, int rank,
                    int ranks) const {
  if (batchSize <= 0 || index < 0 || index >= batchCount(batchSize, true) ||
      ranks < 1 || rank < 0 || rank >= ranks)
    return false;
  const int64_t first = index * batchSize;
  // A rank's share of a global batch: every ranks-th sample from its own
  // offset, as DistributedSampler deals them out.
  if (ranks > 1 && (batchSize % ranks || first + batchSize > samples))
    return false;
  const int64_t rows = std::min(batchSize, samples - first) / ranks;
  out.rows = rows;
  out.inputs.resize(indexInput ? 0 : size_t(rows * inputStride));
  out.indexInputs.resize(indexInput ? size_t(rows * inputStride) : 0);
  out.classTargets.clear();
  out.floatTargets.clear();
  if (withTargets && kind == TargetKind::ClassIndices)
    out.classTargets.resize(size_t(rows * targetStride));
  if (withTargets && kind == TargetKind::Floats)
    out.floatTargets.resize(size_t(rows * targetStride));

  out.moreInputs.resize(more.size());
  out.moreIndexInputs.resize(more.size());
  for (size_t i = 0; i < more.size(); ++i) {
    out.moreInputs[i].resize(more[i].indices ? 0 : size_t(rows * more[i].stride));
    out.moreIndexInputs[i].resize(more[i].indices ? size_t(rows * more[i].stride) : 0);
  }

  for (int64_t r = 0; r < rows; ++r) {
    const int64_t sample = sampleOrder[size_t(first + rank + r * ranks)];
    for (size_t i = 0; i < more.size(); ++i) {
      const MoreInput &m = more[i];
      if (m.indices)
        std::copy_n(m.ints.begin() + sample * m.stride, m.stride,
                    out.moreIndexInputs[i].begin() + r * m.stride);
      else
        std::copy_n(m.values.begin() + sample * m.stride, m.stride,
                    out.moreInputs[i].begin() + r * m.stride);
    }
    if (indexInput)
      std::copy_n(inputIndices.begin() + sample * inputStride, inputStride,
                  out.indexInputs.begin() + r * inputStride);
    else
      std::copy_n(inputValues.begin() + sample * inputStride, inputStride,
                  out.inputs.begin() + r * inputStride);
    if (!out.classTargets.empty())
      std::copy_n(classValues.begin() + sample * targetStride, targetStride,
                  out.classTargets.begin() + r * targetStride);
    if (!out.floatTargets.empty())
      std::copy_n(floatValues.begin() + sample * targetStride, targetStride,
                  out.floatTargets.begin() + r * targetStride);
  }
  return true;
}

/// The permutation of 0..n-1 for (seed, epoch), written into `order`
/// (its storage reused: shuffling each epoch allocates nothing).
static void fillPermutation(std::vector<int64_t> &order, int64_t n,
                            uint64_t seed, uint64_t epoch) {
  order.resize(size_t(std::max<int64_t>(n, 0)));
  std::iota(order.begin(), order.end(), int64_t(0));
  uint64_t state = seed ^ (0x9E3779B97F4A7C15ULL * (epoch + 1));
  for (int64_t i = n - 1; i >= 1; --i) {
    const int64_t j = int64_t(splitmix64(state) % uint64_t(i + 1));
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
}

void Dataset::shuffle(uint64_t seed, uint64_t epoch) {
  fillPermutation(sampleOrder, samples, seed, epoch);
}

void Dataset::unshuffle() {
  sampleOrder.resize(size_t(samples));
  std::iota(sampleOrder.begin(), sampleOrder.end(), int64_t(0));
}

std::vector<int64_t> Dataset::permutation(int64_t n, uint64_t seed,
                                          uint64_t epoch) {
  std::vector<int64_t> order;
  fillPermutation(order, n, seed, epoch);
  return order;
}

} // namespace firn::runtime
