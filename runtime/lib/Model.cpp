//===- Model.cpp - A compiled model's state
//--------------------------------===//
//
// See Model.h. Loading checks the whole file against the model before it
// changes anything, so a rejected checkpoint never leaves the state half
// replaced.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Model.h"

#include "firn/Runtime/Allocator.h"

#include "firn/Runtime/Random.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace firn::runtime {

int64_t stateBytes(const firn_state_desc &state) {
  int64_t bytes = state.dtype == FIRN_F32 ? 4 : 8;
  for (int i = 0; i < state.rank; ++i)
    bytes *= state.shape[i];
  return bytes;
}

bool isGradientName(const std::string &name) {
  return name.compare(0, 5, "grad/") == 0;
}

bool isOptimizerStateName(const std::string &name) {
  return name.compare(0, 6, "optim/") == 0;
}

ModelState::~ModelState() { releaseCachedKernelMemory(); }

// Halide's runtime, in a binary that has one (every compiled model; not the
// runtime's unit tests).
extern "C" int halide_reuse_device_allocations(void *user_context, bool)
    __attribute__((weak));

bool usesDevice(const firn_model_desc &desc) {
  return desc.target && std::string(desc.target) == "cuda";
}

ModelState::ModelState(const firn_model_desc &desc) : model(desc) {
  // A kernel's own intermediate buffers on a GPU come from a pool that
  // keeps freed device blocks for the next call (as halide_malloc does on
  // the host: Allocator.h), instead of a cuMemAlloc per buffer per call.
  if (usesDevice(desc) && halide_reuse_device_allocations)
    halide_reuse_device_allocations(nullptr, true);
  tensors.reserve(desc.num_states);
  for (int s = 0; s < desc.num_states; ++s) {
    const firn_state_desc &state = desc.states[s];
    tensors.push_back(HostTensor::zeros(
        static_cast<firn_dtype>(state.dtype),
        std::vector<int64_t>(state.shape, state.shape + state.rank)));
    byName[state.name] = s;
  }
  hasValue.assign(tensors.size(), true);
  released.assign(tensors.size(), false);
}

void ModelState::release(int index) {
  tensors[index] = HostTensor();
  released[index] = true;
}

void ModelState::hold(int index) {
  if (!released[index])
    return;
  const firn_state_desc &state = model.states[index];
  tensors[index] = HostTensor::zeros(
      static_cast<firn_dtype>(state.dtype),
      std::vector<int64_t>(state.shape, state.shape + state.rank));
  released[index] = false;
}

int ModelState::find(const std::string &name) const {
  auto it = byName.find(name);
  return it == byName.end() ? -1 : it->second;
}

void ModelState::initialize(uint64_t seed) {
  stepCount = 0;
  extraMetadata.clear();
  for (int s = 0; s < size(); ++s) {
    const firn_state_desc &state = model.states[s];
    HostTensor &t = tensor(s);
    size_t n = static_cast<size_t>(t.numel());
    hasValue[s] = true;
    switch (state.init) {
    case FIRN_INIT_CONSTANT:
      // No data means zeros (gradient buffers, counters).
      for (size_t i = 0; i < n; ++i) {
        size_t from = state.data_count == 1 ? 0 : i;
        if (state.dtype == FIRN_F32)
          t.f32[i] = state.data_count
                         ? static_cast<const float *>(state.data)[from]
                         : 0.0f;
        else
          t.i64[i] = state.data_count
                         ? static_cast<const int64_t *>(state.data)[from]
                         : 0;
      }
      break;
    case FIRN_INIT_UNIFORM:
      // The stream is the state's index, so adding a state to the end of a
      // model does not change the others' values; the 32-bit element index
      // wraps for tensors past 2^32 elements, which firn never allocates.
      for (size_t i = 0; i < n; ++i) {
        double u = firn::random::uniform(seed, kInitRandomKey,
                                         static_cast<uint32_t>(s),
                                         static_cast<uint32_t>(i));
        t.f32[i] = static_cast<float>(-state.bound + 2.0 * state.bound * u);
      }
      break;
    case FIRN_INIT_NORMAL:
      // Box-Muller on two draws of the same stream per element (2i and
      // 2i + 1): N(0, 1) scaled by the standard deviation; then the
      // padding row, if any, is zero (nn.Embedding's padding_idx).
      for (size_t i = 0; i < n; ++i) {
        double u1 = firn::random::uniform(seed, kInitRandomKey, static_cast<uint32_t>(s),
                                          static_cast<uint32_t>(2 * i));
        double u2 = firn::random::uniform(seed, kInitRandomKey, static_cast<uint32_t>(s),
                                          static_cast<uint32_t>(2 * i + 1));
        double z = std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * M_PI * u2);
        t.f32[i] = static_cast<float>(state.bound * z);
      }
      if (state.zero_row >= 0) {
        const size_t width = static_cast<size_t>(state.shape[1]);
        std::fill_n(t.f32.begin() + static_cast<size_t>(state.zero_row) * width, width, 0.0f);
      }
      break;
    default: // FIRN_INIT_LOAD
      std::fill(t.f32.begin(), t.f32.end(), 0.0f);
      std::fill(t.i64.begin(), t.i64.end(), 0);
      hasValue[s] = false;
      break;
    }
  }
}

namespace {

/// Converts `data` into a tensor for `state`, or explains why it does not
/// fit.
bool convert(const std::string &path, const std::string &key,
             const TensorData &data, const firn_state_desc &state,
             HostTensor &out, std::string &error) {
  std::vector<int64_t> expected(state.shape, state.shape + state.rank);
  if (data.shape != expected) {
    error = path + ": '" + key + "' has shape " + shapeString(data.shape) +
            ", but the model's '" + key + "' has shape " +
            shapeString(expected);
    return false;
  }
  out = HostTensor();
  out.dtype = static_cast<firn_dtype>(state.dtype);
  out.shape = expected;
  // Widening conversions only: F64 -> F32 (PyTorch users save float64 by
  // accident) and I32 -> I64. Anything else would hide a wrong tensor.
  bool floatData = data.dtype == DType::F32 || data.dtype == DType::F64;
  if (state.dtype == FIRN_F32 && floatData) {
    out.f32 = data.asFloats();
    return true;
  }
  if (state.dtype == FIRN_I64 && !floatData) {
    out.i64 = data.asInt64s();
    return true;
  }
  error = path + ": '" + key + "' has dtype " + dtypeName(data.dtype) +
          ", but the model's '" + key + "' is " + dtypeString(state.dtype);
  return false;
}

} // namespace

namespace {

/// "'a', 'b', 'c' and 4 more": the first three of `names`.
std::string nameList(const std::vector<std::string> &names) {
  std::string list;
  for (size_t i = 0; i < names.size() && i < 3; ++i)
    list += std::string(i ? ", " : "") + "'" + names[i] + "'";
  if (names.size() > 3)
    list += " and " + std::to_string(names.size() - 3) + " more";
  return list;
}

} // namespace

bool ModelState::load(const std::string &path, std::string &error,
                      std::FILE *warnings, const LoadOptions &options) {
  SafetensorsFile file;
  if (!readSafetensors(path, file, error))
    return false;

  int64_t steps = stepCount;
  auto meta = file.metadata.find("step");
  if (meta != file.metadata.end()) {
    const char *text = meta->second.c_str();
    char *end = nullptr;
    errno = 0;
    long long value = std::strtoll(text, &end, 10);
    if (errno || end == text || *end || value < 0) {
      error = path + ": the metadata 'step' is '" + meta->second +
              "', not a step count";
      return false;
    }
    // No run takes 2^62 steps: such a count is damage, and counting on from
    // it would overflow (train checks its own arithmetic too).
    if (value > kMaxStepCount) {
      error = path + ": the metadata 'step' is " + meta->second +
              ", beyond any real step count (at most 2^62); the checkpoint "
              "is damaged";
      return false;
    }
    steps = value;
  } else {
    // A parameters-only file (from PyTorch) starts the run at step 0.
    steps = 0;
  }

  std::vector<std::pair<int, HostTensor>> loaded;
  // Warned about only when the file is accepted: next to an error they are
  // noise.
  std::vector<std::string> ignored;
  for (const auto &[key, data] : file.tensors) {
    int s = find(key);
    if (s < 0) {
      ignored.push_back(key);
      continue;
    }
    HostTensor t;
    if (!convert(path, key, data, model.states[s], t, error))
      return false;
    // Resuming a diverged run would only train on NaN (issue 11).
    const int64_t bad = options.allowNonFinite ? -1 : firstNonFinite(t);
    if (bad >= 0) {
      error = path + ": " + describeNonFinite(key, t, bad) +
              ": the checkpoint comes from a run that diverged; resume from "
              "an earlier one, or pass --allow-nonfinite to load it anyway";
      return false;
    }
    loaded.emplace_back(s, std::move(t));
  }
  // Every parameter must come from the file (issue 4: a missing tensor is an
  // error, not a silent fallback to the initializer); buffers may be absent,
  // as in a parameters-only file, and keep their initial values.
  std::vector<std::string> missing, missingOptim;
  bool anyOptim = false;
  for (int s = 0; s < size(); ++s) {
    const firn_state_desc &state = model.states[s];
    const bool present = file.tensors.count(state.name) != 0;
    if (state.kind == FIRN_STATE_PARAM && !present)
      missing.push_back(state.name);
    if (isOptimizerStateName(state.name) && present)
      anyOptim = true;
    else if (isOptimizerStateName(state.name))
      missingOptim.push_back(state.name);
  }
  if (!missing.empty()) {
    error = path + ": no tensor for the parameter" +
            (missing.size() > 1 ? "s " : " ") + nameList(missing) +
            " of this model";
    return false;
  }
  // Optimizer state that is partly there: a checkpoint of another setup
  // (a changed optimizer or parameter list) or a damaged one.
  const bool partialOptim = options.requireOptimizerState && anyOptim &&
                            !missingOptim.empty();
  if (partialOptim && !options.allowMissingState) {
    error = path + ": the checkpoint has optimizer state, but none for " +
            nameList(missingOptim) +
            " of this model (it comes from another optimizer setup, or is "
            "damaged); pass --allow-missing-state to start those from their "
            "initial values";
    return false;
  }
  if (partialOptim && warnings)
    std::fprintf(warnings,
                 "%s: warning: no optimizer state %s in the checkpoint: "
                 "starting from the initial value%s\n",
                 path.c_str(), nameList(missingOptim).c_str(),
                 missingOptim.size() > 1 ? "s" : "");
  if (warnings)
    for (const std::string &key : ignored) {
      // A checkpoint of the training build carries training state that an
      // inference-only build has no use for: not worth a warning.
      bool trainingState = key.rfind("grad/", 0) == 0 ||
                           key.rfind("optim/", 0) == 0 ||
                           key.rfind("rng/", 0) == 0;
      if (trainingState && !model.train_step)
        continue;
      std::fprintf(warnings, "%s: ignoring '%s' (not part of this model)\n",
                   path.c_str(), key.c_str());
    }
  for (auto &[s, t] : loaded) {
    tensors[s] = std::move(t);
    hasValue[s] = true;
  }
  stepCount = steps;
  // The schedules' state goes with the step count it belongs to.
  extraMetadata.clear();
  for (const auto &[key, value] : file.metadata)
    if (key.compare(0, 9, "schedule/") == 0)
      extraMetadata[key] = value;
  return true;
}

bool ModelState::checkComplete(std::string &error) const {
  for (int s = 0; s < size(); ++s) {
    if (hasValue[s])
      continue;
    const firn_state_desc &state = model.states[s];
    error =
        std::string(state.kind == FIRN_STATE_PARAM ? "parameter" : "buffer") +
        " '" + state.name +
        "' needs a value: the model loads it from a checkpoint, so give "
        "one that has it with --init";
    return false;
  }
  return true;
}

bool ModelState::save(const std::string &path, bool saveGrads,
                      std::string &error) const {
  SafetensorsFile file;
  for (int s = 0; s < size(); ++s) {
    const std::string name = model.states[s].name;
    if (!saveGrads && isGradientName(name))
      continue;
    file.tensors[name] = tensors[s].toTensorData();
  }
  file.metadata = extraMetadata;
  file.metadata["firn_model"] = model.name;
  file.metadata["format"] = kCheckpointFormat;
  file.metadata["step"] = std::to_string(stepCount);
  return writeSafetensors(path, file, error);
}

} // namespace firn::runtime
