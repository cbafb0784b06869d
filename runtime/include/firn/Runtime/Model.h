//===- Model.h - A model's state: initialize, load, save -------*- C++ -*-===//
//
// ModelState holds one HostTensor per firn_state_desc of a compiled model
// (ModelABI.h): the parameters and every buffer (gradients `grad/P`,
// optimizer state `optim/...`, the random-number counter `rng/step`, running
// statistics), in the table's order, under their checkpoint names.
//
// Initialization follows the table:
//   - FIRN_INIT_CONSTANT: `data` holds one value (a fill) or every element;
//   - FIRN_INIT_UNIFORM: element i of state s is
//       -bound + 2 * bound * firn::random::uniform(seed, 0x1217, s, i)
//     (computed in double, rounded to float32): U(-bound, bound), a pure
//     function of the seed, reproducible on every machine but *not* the
//     numbers PyTorch's generator draws (use --init with PyTorch's weights
//     for those);
//   - FIRN_INIT_LOAD: no value until a checkpoint gives one; `checkComplete`
//     reports a state still without one.
//
// Checkpoints are safetensors files keyed by the state names. `load` takes
// a parameters-only file (a PyTorch state dict converted to safetensors) or a
// full firn checkpoint; every parameter must be in it (buffers may be
// absent and keep their values), keys the model does not have are ignored
// with a warning, a tensor of the wrong shape or dtype is an error (F64 for an
// F32 state and I32 for an I64 state are converted), and nothing changes unless
// the whole file fits. A float32 tensor holding NaN or an infinity is an
// error naming it (a checkpoint of a diverged run), unless
// LoadOptions::allowNonFinite. For `train` (LoadOptions::requireOptimizerState)
// a file that holds optimizer state (`optim/...`) must hold all of this
// model's: one that lacks some is an error (PyTorch's
// Optimizer.load_state_dict rejects a state dict that does not match the
// optimizer too), unless LoadOptions::allowMissingState, which starts the
// missing ones from their initial values with a warning; a file without any
// (parameters only) starts the optimizers afresh. `save` writes parameters and buffers (gradients only
// when asked) with the metadata {"firn_model", "format": "firn-checkpoint-1",
// "step"} and the schedules' state (metadata()); the writer is atomic.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_MODEL_H
#define FIRN_RUNTIME_MODEL_H

#include "firn/Runtime/Buffers.h"
#include "firn/Runtime/ModelABI.h"
#include "firn/Runtime/NonFinite.h"

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace firn::runtime {

/// The random-number key that FIRN_INIT_UNIFORM draws with (the stream is the
/// state's index in the table, the index the element's row-major index).
constexpr uint64_t kInitRandomKey = 0x1217ULL;

/// The largest step count a checkpoint may hold (2^62): beyond it, the
/// counters of a run resumed from it could overflow.
constexpr int64_t kMaxStepCount = int64_t(1) << 62;

/// The checkpoint format written into the metadata.
constexpr const char *kCheckpointFormat = "firn-checkpoint-1";

/// Checks a model table for what the runtime relies on (ranks, shapes,
/// dtypes, initial data, port references); a failure is a bug in the code
/// generator. Sets `error` to what is wrong. (ModelValidate.cpp)
bool validateModel(const firn_model_desc &desc, std::string &error);

/// What ModelState::load accepts beyond a complete, finite checkpoint.
struct LoadOptions {
  /// Accept NaN and infinite values (--allow-nonfinite).
  bool allowNonFinite = false;
  /// A file with optimizer state must have all of it (train's --init).
  bool requireOptimizerState = false;
  /// ... unless this is set (--allow-missing-state): missing optimizer
  /// state keeps its initial value, with a warning.
  bool allowMissingState = false;
};

/// Whether `desc`'s kernels run on a GPU (its target is "cuda").
bool usesDevice(const firn_model_desc &desc);

class ModelState {
public:
  /// Allocates every state tensor (zeros). `desc` must pass validateModel
  /// and outlive this object.
  explicit ModelState(const firn_model_desc &desc);
  /// Gives the kernels' cached memory back (Allocator.h).
  ~ModelState();

  const firn_model_desc &desc() const { return model; }
  int size() const { return static_cast<int>(tensors.size()); }
  const firn_state_desc &stateDesc(int index) const {
    return model.states[index];
  }
  /// State `index` for the host to read or write: its host copy, brought up
  /// to date from the device on a GPU binary, and marked so that the next
  /// kernel uploads it (Buffers.h).
  HostTensor &tensor(int index) {
    tensors[index].hostWritten();
    return tensors[index];
  }
  /// State `index` for the host to read: its host copy, up to date.
  const HostTensor &tensor(int index) const {
    tensors[index].syncToHost();
    return tensors[index];
  }
  /// State `index` as kernels take it (KernelRunner): no copy either way.
  HostTensor &kernelTensor(int index) { return tensors[index]; }
  /// The index of the state named `name`, or -1.
  int find(const std::string &name) const;

  /// Gives every state its initial value from the table (see above); states
  /// initialized by FIRN_INIT_LOAD are marked as still needing a value.
  /// Resets the step counter to 0.
  void initialize(uint64_t seed);

  /// Loads the tensors of a safetensors checkpoint whose keys name states.
  /// Warnings (ignored keys) go to `warnings` (may be null). On failure
  /// nothing changes and `error` names the file and the tensor.
  bool load(const std::string &path, std::string &error,
            std::FILE *warnings = stderr, const LoadOptions &options = {});

  /// The first state (in table order) for which `include(index)` holds that
  /// has a NaN or infinite element, described as "'w' holds nan (element
  /// 3)"; "" when there is none.
  template <typename Include>
  std::string findNonFinite(Include include) const;

  /// Records that state `index` got its value from outside (a program
  /// embedding the model wrote it through firn_set_tensor), as `load` does
  /// for the states it fills.
  void markSet(int index) { hasValue[index] = true; }
  /// False for a FIRN_INIT_LOAD state that has no value yet.
  bool isSet(int index) const { return hasValue[index]; }

  /// False (with `error` naming the first such parameter) when a state
  /// initialized by FIRN_INIT_LOAD got no value from a checkpoint.
  bool checkComplete(std::string &error) const;

  /// Whether this process holds state `index`'s values. With the
  /// optimizer state sharded across the ranks (ZeroSharding.h) a rank frees
  /// the moments of parameters other ranks update (release) and takes them
  /// back, zeroed, before a checkpoint gathers them (hold).
  bool held(int index) const { return !released[index]; }
  void release(int index);
  void hold(int index);

  /// Writes the checkpoint; `grad/...` buffers only when `saveGrads`. Every
  /// state it writes must be held.
  bool save(const std::string &path, bool saveGrads, std::string &error) const;

  /// The optimizer steps done since initialization (restored by load from
  /// the checkpoint's "step" metadata).
  int64_t steps() const { return stepCount; }
  void setSteps(int64_t steps) { stepCount = steps; }

  /// Checkpoint metadata beyond "step": the learning-rate schedules' state
  /// ("schedule/<name>/...", Schedules.h). `save` writes every entry; `load`
  /// replaces them with the file's "schedule/..." entries; `initialize`
  /// clears them.
  std::map<std::string, std::string> &metadata() { return extraMetadata; }
  const std::map<std::string, std::string> &metadata() const {
    return extraMetadata;
  }

private:
  const firn_model_desc &model;
  std::vector<HostTensor> tensors;
  /// False for a FIRN_INIT_LOAD state no checkpoint has filled yet.
  std::vector<bool> hasValue;
  std::vector<bool> released;
  std::map<std::string, int> byName;
  int64_t stepCount = 0;
  std::map<std::string, std::string> extraMetadata;
};

/// Whether the state named `name` is a gradient (`grad/...`).
bool isGradientName(const std::string &name);

/// The bytes state `state` holds (its elements times 4 or 8).
int64_t stateBytes(const firn_state_desc &state);
/// Whether the state named `name` is optimizer state (`optim/...`).
bool isOptimizerStateName(const std::string &name);

template <typename Include>
std::string ModelState::findNonFinite(Include include) const {
  for (int s = 0; s < size(); ++s) {
    if (!include(s))
      continue;
    const int64_t element = firstNonFinite(tensor(s));
    if (element >= 0)
      return describeNonFinite(model.states[s].name, tensor(s), element);
  }
  return "";
}

} // namespace firn::runtime

#endif // FIRN_RUNTIME_MODEL_H
