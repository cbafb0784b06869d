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
// After the optimizer step that ends an epoch (the step whose micro-batches
// include the epoch's last one), and once more at the end of a run that stops
// inside an epoch (--steps, or accumulation that leaves batches unused), the
// loop
//   - evaluates the evaluation data, when there is some, exactly as `eval`
//     does (evaluate(): eval mode, the mean loss weighted by batch sizes,
//     the accuracy for class-index targets), reports it on the progress
//     output ("eval epoch 3 (step 12): loss 0.123456 ...") and, at an epoch's
//     end, gives its loss to ReduceLROnPlateau;
//   - writes a metrics record (MetricsWriter, below). Evaluation reads the
//     state and changes none of it, so it does not disturb exact resume.
//
// Metrics (`train --metrics FILE`), for plotting, are two kinds of record,
// told apart by their first column, `kind`:
//   - `step`: one per optimizer step, written after it, whose train_loss is
//     that step's loss (the mean of its micro-batches' losses, as
//     `loss.item()` of the step) at full precision;
//   - `epoch`: one per epoch, after the step that ended it (and one for a run
//     that stops inside an epoch), whose train_loss is the epoch's mean loss
//     and which alone carries the evaluation columns.
// The columns:
//   kind                `step` or `epoch`;
//   epoch               the epoch's number in the data stream, 1-based and
//                       counted from the first run (a resumed run continues
//                       it); a step record has the epoch of its last
//                       micro-batch; a run that stops inside an epoch writes
//                       a last epoch record with that unfinished epoch's
//                       number;
//   step                optimizer steps done so far (the checkpoint's step);
//   train_loss          the step's loss, or the mean loss of the epoch's
//                       micro-batches that this run trained (a run resumed
//                       inside an epoch has seen only its rest; under
//                       --on-nonfinite=skip the non-finite losses of skipped
//                       steps are left out of the mean, and show in their
//                       step records);
//   eval_loss           the evaluation loss (only with evaluation data);
//   eval_accuracy       the evaluation accuracy (only with evaluation data
//                       whose targets are class indices);
//   lr/<optimizer>/<group>  for every lr buffer `optim/<optimizer>/<group>/lr`
//                       in PyTorch's param_groups order (the optimizers as
//                       the model file declares them, then their groups in
//                       order): the rate the step (for an epoch record, the
//                       epoch's last step) used (a schedule's step at the
//                       epoch's end shows in the next record);
//   samples_per_second  training samples over training time: of the step,
//                       or since the previous epoch record (evaluation
//                       excluded), rounded to thousandths;
//   seconds             seconds since this run started, evaluation included,
//                       rounded to microseconds.
// The format follows the extension: `.csv` is a header line, then one row per
// record with the columns in the order above (a cell is empty when its value
// is absent); `.jsonl` or `.json` is one JSON object per line with the keys in
// that order (absent values left out). Numbers are written in their shortest
// round-trip form; a NaN or infinite value is `nan`/`inf`/`-inf` in CSV and
// null in JSON. The file is truncated at the start of a run, or appended to
// when the run resumes a checkpoint (the caller decides); appending to a CSV
// file keeps its header, whose columns must include every column of the run.
// Each record is flushed as it is written, so a killed run keeps the records
// it wrote. A record that cannot be written (a full disk) does not end the
// run: `train` warns, writes no more records, trains on and reports the
// error in TrainResult::metricsError (the binary then saves its checkpoint
// and exits with status 1), because losing hours of training to a full log
// disk would be worse than a truncated log.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_TRAINER_H
#define FIRN_RUNTIME_TRAINER_H

#include "firn/Runtime/Buffers.h"
#include "firn/Runtime/Communicator.h"
#include "firn/Runtime/Dataset.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/NonFinite.h"
#include "firn/Runtime/Progress.h"

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace firn::runtime {

/// Loads the CUDA driver (libcuda.so.1) for a GPU binary's kernels; false
/// with `error` saying what is missing and what to do. firn_main and
/// firn_create call it before any kernel of a GPU model runs.
bool loadCudaDriver(std::string &error);

/// Runs a call's kernels one by one (firn_function_desc.kernels): tells,
/// after each kernel, which outputs are final, which lets data-parallel
/// training send gradients while the rest of the backward pass runs
/// (DataParallel.h), and may leave kernels out (the updates of parameters
/// another rank owns, ZeroSharding.h).
class KernelProgress {
public:
  virtual ~KernelProgress() = default;
  /// Whether kernel `kernel` of the call runs.
  virtual bool runs(int kernel) { return true; }
  /// Sums `count` floats over the ranks of the job, in place, before a
  /// kernel that reads them (a cross-replica sum); one process: nothing.
  virtual bool sumOverRanks(float *data, int64_t count, std::string &error) {
    return true;
  }
  /// outputs[0, count) (the function's outputs in port order) are written.
  /// A state output's tensor is the scratch one that becomes the state when
  /// the call returns: read it, never keep the pointer.
  virtual void written(int count, HostTensor *const *outputs) {}
};

class KernelRunner {
public:
  explicit KernelRunner(ModelState &state);

  /// Calls `fn` with `args` (indexed by the argument ports' `index`) and a
  /// batch size of `batch` for the results' batch dimensions. On success the
  /// state outputs are in the state and `results[i]` holds result i. On
  /// failure (an argument missing or not matching its port, a kernel
  /// returning non-zero: "kernel train_step failed with Halide error -N")
  /// returns false and the state is unchanged.
  /// `progress`, when given, runs the kernels one by one (a table that
  /// does not list them: all at once, telling it nothing). A state that is
  /// not held (ModelState::held) is bound to no buffer: a kernel that runs
  /// must not take one.
  bool call(const firn_function_desc &fn, const std::vector<HostTensor *> &args,
            int64_t batch, std::vector<HostTensor> &results,
            std::string &error, KernelProgress *progress = nullptr);

  ModelState &state() { return model; }

  /// A results vector owned by the runner for `fn`: passing it to `call`
  /// reuses its tensors (and the runner's buffer descriptions), so that the
  /// training loop allocates nothing after each function's first call.
  std::vector<HostTensor> &resultsOf(const firn_function_desc &fn) {
    return workspace(fn).results;
  }

private:
  /// What one function's calls reuse: its ports' buffer descriptions and
  /// its results.
  struct Workspace {
    std::unique_ptr<HalideBuffer[]> buffers;
    std::vector<void *> pointers;
    /// The tensor each buffer describes in the current call.
    std::vector<HostTensor *> tensors;
    std::vector<HostTensor> results;
    /// The function's temporaries, kept for the next call.
    std::vector<HostTensor> temps;
  };
  Workspace &workspace(const firn_function_desc &fn);
  /// After a call on a GPU binary: every tensor of the call takes the
  /// device copy and flags its buffer now has.
  void keepDeviceCopies(Workspace &ws, int numPorts);

  ModelState &model;
  /// Whether the kernels run on a GPU (firn_model_desc.target "cuda").
  bool device;
  /// One scratch tensor per state, reused across calls: after a call it
  /// holds the state's previous value, which the next call overwrites.
  std::vector<HostTensor> scratch;
  std::map<const firn_function_desc *, Workspace> workspaces;
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
/// `progress` is told after each of its kernels (KernelRunner::call).
bool trainMicroBatch(KernelRunner &runner,
                     const std::vector<HostTensor *> &args, int64_t batch,
                     double &loss, std::string &error,
                     KernelProgress *progress = nullptr);
/// optimizer_step (when the model has one), then counts the step.
bool optimizerStep(KernelRunner &runner, std::string &error);
/// zeroGrad, trainMicroBatch and optimizerStep as one kernel (the model's
/// fused_step, which leaves the cleared gradient buffers untouched).
bool fusedStep(KernelRunner &runner, const std::vector<HostTensor *> &args,
               int64_t batch, double &loss, std::string &error);
/// predict on `inputs` for one batch; `out` is its first result, whose first
/// dimension must be the batch.
bool predictBatch(KernelRunner &runner, const std::vector<HostTensor *> &inputs,
                  int64_t batch, HostTensor &out, std::string &error);

/// What the model expects of its input `inputIndex` (--x or --input) and
/// of --y, read from its argument ports. `hasTarget` says whether the loss
/// takes a target. Fails when the model has no function to read the
/// input's shape from.
bool dataSpecOf(const firn_model_desc &desc, DatasetSpec &spec, bool &hasTarget,
                std::string &error, int inputIndex = 0);

/// A metrics value as text: an integer as an integer, a float32 value (a
/// loss, a rate) in float's shortest round-trip form, anything else in
/// double's; "nan", "inf", "-inf" (also for messages about a value).
std::string numberText(double value);

/// The formats of `--metrics`, chosen by the file's extension.
enum class MetricsFormat { Csv, JsonLines };

/// `.csv` is Csv, `.jsonl` and `.json` are JsonLines; anything else is an
/// error naming the file and the two formats.
bool metricsFormatOf(const std::string &path, MetricsFormat &format,
                     std::string &error);

/// The lr buffers of `desc` (states `optim/<optimizer>/<group>/lr`, scalar
/// float32) in table order: their state indices and metrics columns
/// (`lr/<optimizer>/<group>`).
std::vector<std::pair<int, std::string>>
learningRateColumns(const firn_model_desc &desc);

/// Whether evaluate() reports an accuracy for `data`: class-index targets and
/// a model with predict.
bool evalHasAccuracy(const firn_model_desc &desc, const Dataset &data);

/// The metrics columns of a run of `desc`, in record order (see above).
std::vector<std::string> metricsColumns(const firn_model_desc &desc,
                                        bool evalLoss, bool evalAccuracy);

/// One metrics record as (column, value) pairs in column order, without
/// `kind` (which MetricsWriter::write takes); a value that is absent is not
/// in it.
using MetricsRecord = std::vector<std::pair<std::string, double>>;

/// Writes metrics records to a file (the format is in the header comment).
class MetricsWriter {
public:
  MetricsWriter() = default;
  MetricsWriter(const MetricsWriter &) = delete;
  MetricsWriter &operator=(const MetricsWriter &) = delete;
  ~MetricsWriter() { close(); }

  /// Opens `path` for a run writing `columns`: truncates it, or appends to
  /// it when `append` (a CSV file that has a header keeps it, and fails when
  /// it lacks one of `columns`). Fails with an error naming the file.
  bool open(const std::string &path, bool append,
            const std::vector<std::string> &columns, std::string &error);
  bool isOpen() const { return file != nullptr; }
  const std::string &path() const { return filePath; }

  /// Writes `record` (whose columns are among open()'s), of kind `kind`
  /// ("step" or "epoch"), and flushes it.
  bool write(const std::string &kind, const MetricsRecord &record,
             std::string &error);
  void close();

private:
  std::FILE *file = nullptr;
  std::string filePath;
  MetricsFormat format = MetricsFormat::Csv;
  /// CSV: the header's columns, the order of each row's cells.
  std::vector<std::string> header;
};

struct TrainOptions {
  /// Samples per micro-batch (> 0).
  int64_t batchSize = 1;
  /// Optimizer steps to take, or (when 0) `epochs` passes over the data.
  int64_t steps = 0;
  int64_t epochs = 1;
  /// --accumulate: multiplies the model's own `accumulate`.
  int64_t accumulate = 1;
  /// Keep every gradient in its buffer (--save-grads): the step is then
  /// always zero_grad, train_step, optimizer_step, never fused_step.
  bool keepGradients = false;
  /// Shuffle each epoch with Dataset::permutation(seed, epoch).
  bool shuffle = false;
  uint64_t seed = 0;
  /// Where progress goes, and whether it is a terminal.
  std::FILE *progress = stderr;
  bool terminal = false;
  /// Evaluation data (null for none), evaluated after every epoch in batches
  /// of `evalBatchSize` (> 0; the last may be partial).
  const Dataset *evalData = nullptr;
  int64_t evalBatchSize = 0;
  /// Where the metrics records go (null or not open for none), opened with
  /// metricsColumns(desc, evalData != null, evalHasAccuracy(...)).
  MetricsWriter *metrics = nullptr;
  /// The clock for progress and metrics (seconds); empty for
  /// ProgressReporter::monotonicSeconds.
  ProgressReporter::Clock clock;
  /// What a non-finite loss does (NonFinite.h).
  NonFinitePolicy onNonFinite = NonFinitePolicy::Stop;
  /// Periodic checkpoints (--save-every N, --save-every-epoch): after every
  /// step whose number (the checkpoint's step) is a multiple of `saveEvery`
  /// (0: none), and after each step that ends an epoch, the state is saved
  /// to `savePath`, replacing it atomically (with the gradients when
  /// keepGradients). The run's last step is left to the caller's final save.
  std::string savePath;
  int64_t saveEvery = 0;
  bool saveEveryEpoch = false;
  /// Polled at each step boundary (InterruptGuard::received()): non-zero
  /// ends the run there, as if it had been its last step.
  const volatile std::sig_atomic_t *stop = nullptr;
  /// The job, for data-parallel training (Communicator.h; null: this
  /// process alone). `batchSize` is then the global batch, which the ranks
  /// must divide; only rank 0 should be given progress, metrics and a
  /// savePath.
  Communicator *comm = nullptr;
  /// The gradient bucket size and whether buckets start during the
  /// backward pass (GradientAverager).
  int64_t bucketBytes = 0; ///< 0: defaultBucketBytes (DataParallel.h)
  bool overlapCommunication = true;
  /// ZeRO stage 1 (ZeroSharding.h): each rank holds and updates its share
  /// of the optimizer state. Every rank must be given `savePath` (rank 0
  /// alone writes it): a checkpoint first gathers the state on rank 0.
  bool shardOptimizer = false;
};

struct EvalResult {
  double loss = 0; ///< The mean loss per sample (batches weighted by size).
  bool hasAccuracy = false;
  int64_t correct = 0, total = 0;
  /// Outputs of predict (read for the accuracy) that are NaN or infinite.
  int64_t nonFiniteOutputs = 0;
};

struct TrainResult {
  int64_t steps = 0; ///< Optimizer steps taken in this run.
  double loss = 0;   ///< The last step's loss (mean over its micro-batches).
  /// The last evaluation, when there was evaluation data.
  bool evaluated = false;
  EvalResult eval;
  /// The signal (TrainOptions::stop) that ended the run early, or 0.
  int stoppedBy = 0;
  /// Steps whose update --on-nonfinite=skip left out.
  int64_t skipped = 0;
  /// Why the metrics stopped being written, when they did.
  std::string metricsError;
  /// Data-parallel runs: the bytes each rank sends per optimizer step, in
  /// how many buckets, and how much of it the backward pass hid.
  int64_t commBytesPerStep = 0;
  int64_t commBuckets = 0;
  int64_t commStartedEarly = 0; ///< Buckets started during backward.
  double commWaitSeconds = 0;   ///< Waited after backward, all steps.
  /// --zero1: the optimizer state (`optim/` buffers) this rank held while
  /// training, of the whole.
  int64_t heldOptimizerBytes = 0, optimizerBytes = 0;
  std::string gradientsNote; ///< How the gradients travelled, and why.
};

/// Saves a checkpoint (ModelState::save) unless a state it would write
/// holds NaN or an infinity (and `allowNonFinite` is false): a diverged
/// run never overwrites a good checkpoint.
bool saveCheckpoint(const ModelState &state, const std::string &path,
                    bool saveGrads, bool allowNonFinite, std::string &error);

/// Trains `state` on `data` (whose batch size the caller has checked). A
/// non-finite loss under NonFinitePolicy::Stop fails with an error naming
/// the step; the other outcomes are in `result`.
bool train(ModelState &state, Dataset &data, const TrainOptions &options,
           TrainResult &result, std::string &error);

/// Runs eval_loss over every batch (the last may be partial), and for
/// class-index targets predict, counting argmax (along the last dimension,
/// where NaN is the largest value, as in torch.argmax) hits.
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
