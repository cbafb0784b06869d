//===- Trainer.h - Call kernels: train, eval, predict ----------*- C++ -*-===//
//
// KernelRunner binds the ports of one function (ModelABI.h) to tensors and
// calls its kernel:
//   - an input that is state reads the state tensor;
//   - an input that is an argument (`state` -1, `index` i) reads args[i]:
//     the model's inputs in order, then the target;
//   - an output that is state is written into a scratch tensor of the same
//     shape, which replaces the state only after the kernel succeeded. A
//     kernel may read a state (a parameter, a gradient) while it writes the
//     new value, so inputs and outputs never alias, and a failed kernel
//     leaves the state as it was;
//   - an output that is a result (`index` i) becomes results[i]; its batch
//     dimensions (-1) take the batch size.
//
// train, evaluate and predict are the loops of the compiled binary's
// subcommands. train is PyTorch's loop: for each optimizer step, zero_grad
// (which clears what the compiled policy says), then `accumulate` micro-
// batches of train_step (gradients add up, as backward() calls do), then
// optimizer_step. The batches form one stream through the data: micro-batch
// m is batch m mod B of epoch m div B (B batches per epoch), so a run
// resumed from a checkpoint of step S continues with micro-batch
// S * accumulate, exactly where the first run stopped (as long as the batch
// size and accumulation stay the same). The model's learning-rate schedules
// step after the optimizer steps (OneCycleLR) or after the optimizer step
// that ends an epoch (the others); see Schedules.h.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_TRAINER_H
#define FIRN_RUNTIME_TRAINER_H

#include "firn/Runtime/Buffers.h"
#include "firn/Runtime/Dataset.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/Progress.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace firn::runtime {

class KernelRunner {
public:
  explicit KernelRunner(ModelState &state);

  /// Calls `fn` with `args` (indexed by the argument ports' `index`) and a
  /// batch size of `batch` for the results' batch dimensions. On success the
  /// state outputs are in the state and `results[i]` holds result i. On
  /// failure (an argument missing or not matching its port, a kernel
  /// returning non-zero: "kernel train_step failed with Halide error -N")
  /// returns false and the state is unchanged.
  bool call(const firn_function_desc &fn, const std::vector<HostTensor *> &args,
            int64_t batch, std::vector<HostTensor> &results,
            std::string &error);

  ModelState &state() { return model; }

private:
  ModelState &model;
  /// One scratch tensor per state, reused across calls: after a call it
  /// holds the state's previous value, which the next call overwrites.
  std::vector<HostTensor> scratch;
};

/// The argument port `index` (the model's inputs in order, then the target)
/// of the first of predict, train_step and eval_loss that takes it; null
/// when none does.
const firn_port *findArgumentPort(const firn_model_desc &desc, int index);

/// False, with the message the binary prints, when the model was compiled
/// without a train block (no train_step).
bool checkCanTrain(const firn_model_desc &desc, std::string &error);

// The pieces of one optimizer step, as `train` calls them and the C API
// (firn.h) exposes them. Each fails (with the state unchanged) when a kernel
// fails; none checks that the state is complete.

/// zero_grad: clears what the compiled policy says (nothing when the model
/// has no zero_grad function).
bool zeroGrad(KernelRunner &runner, std::string &error);
/// One micro-batch: train_step on `args` (inputs, then the target), which
/// adds its gradients to the gradient buffers; `loss` is its scalar loss.
bool trainMicroBatch(KernelRunner &runner,
                     const std::vector<HostTensor *> &args, int64_t batch,
                     double &loss, std::string &error);
/// optimizer_step (when the model has one), then counts the step.
bool optimizerStep(KernelRunner &runner, std::string &error);
/// predict on `inputs` for one batch; `out` is its first result, whose first
/// dimension must be the batch.
bool predictBatch(KernelRunner &runner, const std::vector<HostTensor *> &inputs,
                  int64_t batch, HostTensor &out, std::string &error);

/// What the model expects of --x and --y, read from its argument ports.
/// `hasTarget` says whether the loss takes a target. Fails when the model
/// has no function to read the input's shape from or has more than one
/// input (the command line has a single --x).
bool dataSpecOf(const firn_model_desc &desc, DatasetSpec &spec, bool &hasTarget,
                std::string &error);

struct TrainOptions {
  /// Samples per micro-batch (> 0).
  int64_t batchSize = 1;
  /// Optimizer steps to take, or (when 0) `epochs` passes over the data.
  int64_t steps = 0;
  int64_t epochs = 1;
  /// --accumulate: multiplies the model's own `accumulate`.
  int64_t accumulate = 1;
  /// Shuffle each epoch with Dataset::permutation(seed, epoch).
  bool shuffle = false;
  uint64_t seed = 0;
  /// Where progress goes, and whether it is a terminal.
  std::FILE *progress = stderr;
  bool terminal = false;
};

struct TrainResult {
  int64_t steps = 0; ///< Optimizer steps taken in this run.
  double loss = 0;   ///< The last step's loss (mean over its micro-batches).
};

/// Trains `state` on `data` (whose batch size the caller has checked).
bool train(ModelState &state, Dataset &data, const TrainOptions &options,
           TrainResult &result, std::string &error);

struct EvalResult {
  double loss = 0; ///< The mean loss per sample (batches weighted by size).
  bool hasAccuracy = false;
  int64_t correct = 0, total = 0;
};

/// Runs eval_loss over every batch (the last may be partial), and for
/// class-index targets predict, counting argmax (along the last dimension)
/// hits.
bool evaluate(ModelState &state, const Dataset &data, int64_t batchSize,
              EvalResult &result, std::string &error);

/// "loss 0.123456 accuracy 0.9744 (343/352)" (without accuracy when there
/// is none).
std::string formatEvalResult(const EvalResult &result);

/// Runs predict over every batch and concatenates its first result along
/// the batch dimension.
bool predict(ModelState &state, const Dataset &data, int64_t batchSize,
             HostTensor &out, std::string &error);

} // namespace firn::runtime

#endif // FIRN_RUNTIME_TRAINER_H
