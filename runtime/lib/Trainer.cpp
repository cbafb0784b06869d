//===- Trainer.cpp - The train, eval and predict loops --------------------===//
//
// See Trainer.h. The loops only move batches into tensors and call kernels
// through KernelRunner; every number is computed by the generated code. The
// metrics file they write is Metrics.cpp's.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Trainer.h"

#include "firn/Runtime/DataParallel.h"
#include "firn/Runtime/Schedules.h"
#include "firn/Runtime/ZeroSharding.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>

namespace firn::runtime {

namespace {

/// A port's shape without its leading batch dimension.
bool sampleShape(const firn_port &port, const char *what,
                 std::vector<int64_t> &out, std::string &error) {
  if (port.rank < 1 || port.shape[0] != -1) {
    error =
        std::string("the model's ") + what + " has no leading batch dimension";
    return false;
  }
  out.assign(port.shape + 1, port.shape + port.rank);
  return true;
}

/// A batch as the tensors a function takes: the inputs, in order (x, then
/// the model's other inputs), and the target.
struct BatchTensors {
  HostTensor x, y;
  std::vector<HostTensor> more;
  /// The arguments in port order: x, the others, then y (null without
  /// targets).
  std::vector<HostTensor *> args;

  explicit BatchTensors(const Dataset &data) : more(data.moreInputs()) {
    args.push_back(&x);
    for (HostTensor &t : more)
      args.push_back(&t);
    args.push_back(data.hasTargets() ? &y : nullptr);
  }
  /// The inputs alone (predict).
  std::vector<HostTensor *> inputs() const {
    return std::vector<HostTensor *>(args.begin(), args.end() - 1);
  }

  /// Moves `batch` into the tensors by swapping storage, so that the next
  /// batch is read into the previous tensors' storage: no allocation per
  /// batch.
  void take(const Dataset &data, Batch &batch) {
    // `t` gets `sample`'s shape behind the batch, and the values of its
    // dtype (int64 `ints` or float32 `floats`).
    auto fill = [&](HostTensor &t, const std::vector<int64_t> &sample,
                    bool integer, std::vector<float> &floats,
                    std::vector<int64_t> &ints) {
      t.shape.resize(1 + sample.size());
      t.shape[0] = batch.rows;
      std::copy(sample.begin(), sample.end(), t.shape.begin() + 1);
      t.dtype = integer ? FIRN_I64 : FIRN_F32;
      if (integer) {
        t.i64.swap(ints);
        t.f32.clear();
      } else {
        t.f32.swap(floats);
        t.i64.clear();
      }
    };
    fill(x, data.inputShape(), data.inputIsIndices(), batch.inputs,
         batch.indexInputs);
    for (size_t i = 0; i < more.size(); ++i)
      fill(more[i], data.moreInputShape(i), data.moreInputIsIndices(i),
           batch.moreInputs[i], batch.moreIndexInputs[i]);
    if (!data.hasTargets()) {
      y = HostTensor();
      return;
    }
    fill(y, data.targetShape(), data.targetKind() == TargetKind::ClassIndices,
         batch.floatTargets, batch.classTargets);
  }
};

/// Dataset::batch, with its failure (an index out of range: a bug) as an
/// error instead of a stale batch.
bool checkedBatch(const Dataset &data, int64_t index, int64_t batchSize,
                  Batch &batch, std::string &error, int rank = 0,
                  int ranks = 1) {
  if (data.batch(index, batchSize, batch, rank, ranks))
    return true;
  error = "internal error: no batch " + std::to_string(index) + " of " +
          std::to_string(batchSize) + " samples in " + data.inputsName();
  return false;
}

/// The scalar loss a train_step or eval_loss returned as result 0.
bool lossOf(const firn_function_desc &fn,
            const std::vector<HostTensor> &results, double &loss,
            std::string &error) {
  if (results.empty() || results[0].dtype != FIRN_F32 ||
      results[0].f32.size() != 1) {
    error = std::string("function ") + fn.name +
            " does not return a scalar float32 loss";
    return false;
  }
  loss = results[0].f32[0];
  return true;
}

} // namespace

const firn_port *findArgumentPort(const firn_model_desc &desc, int index) {
  for (const firn_function_desc *fn :
       {desc.predict, desc.train_step, desc.eval_loss}) {
    if (!fn)
      continue;
    for (int i = 0; i < fn->num_inputs; ++i)
      if (fn->inputs[i].state < 0 && fn->inputs[i].index == index)
        return &fn->inputs[i];
  }
  return nullptr;
}

bool checkCanTrain(const firn_model_desc &desc, std::string &error) {
  if (desc.train_step)
    return true;
  error = "this model was compiled without a training setup (inference "
          "only); it cannot train";
  return false;
}

bool zeroGrad(KernelRunner &runner, std::string &error) {
  const firn_model_desc &desc = runner.state().desc();
  return !desc.zero_grad_fn ||
         runner.call(*desc.zero_grad_fn, {}, 0,
                     runner.resultsOf(*desc.zero_grad_fn), error);
}

bool trainMicroBatch(KernelRunner &runner,
                     const std::vector<HostTensor *> &args, int64_t batch,
                     double &loss, std::string &error,
                     KernelProgress *progress) {
  const firn_model_desc &desc = runner.state().desc();
  if (!checkCanTrain(desc, error))
    return false;
  std::vector<HostTensor> &results = runner.resultsOf(*desc.train_step);
  return runner.call(*desc.train_step, args, batch, results, error,
                     progress) &&
         lossOf(*desc.train_step, results, loss, error);
}

bool optimizerStep(KernelRunner &runner, std::string &error) {
  ModelState &state = runner.state();
  const firn_function_desc *step = state.desc().optimizer_step;
  if (step && !runner.call(*step, {}, 0, runner.resultsOf(*step), error))
    return false;
  state.setSteps(state.steps() + 1);
  return true;
}

bool fusedStep(KernelRunner &runner, const std::vector<HostTensor *> &args,
               int64_t batch, double &loss, std::string &error) {
  ModelState &state = runner.state();
  const firn_function_desc *step = state.desc().fused_step;
  if (!step) {
    error = "this model has no fused training step";
    return false;
  }
  std::vector<HostTensor> &results = runner.resultsOf(*step);
  if (!runner.call(*step, args, batch, results, error) ||
      !lossOf(*step, results, loss, error))
    return false;
  state.setSteps(state.steps() + 1);
  return true;
}

bool predictBatch(KernelRunner &runner, const std::vector<HostTensor *> &inputs,
                  int64_t batch, HostTensor &out, std::string &error) {
  const firn_model_desc &desc = runner.state().desc();
  if (!desc.predict) {
    error = "this model was compiled without a predict function";
    return false;
  }
  std::vector<HostTensor> results;
  if (!runner.call(*desc.predict, inputs, batch, results, error))
    return false;
  if (results.empty() || results[0].shape.empty() ||
      results[0].shape[0] != batch) {
    error = "predict's output does not have the batch as its first "
            "dimension";
    return false;
  }
  out = std::move(results[0]);
  return true;
}

bool dataSpecOf(const firn_model_desc &desc, DatasetSpec &spec, bool &hasTarget,
                std::string &error, int inputIndex) {
  const firn_port *input = findArgumentPort(desc, inputIndex);
  if (!input) {
    error = "this model has no function that takes its input";
    return false;
  }
  spec = DatasetSpec();
  if (!sampleShape(*input, "input", spec.inputShape, error))
    return false;
  spec.inputIsIndices = input->dtype == FIRN_I64;
  if (spec.inputIsIndices && desc.input_index_limits)
    spec.inputLimit = desc.input_index_limits[inputIndex];
  hasTarget = desc.target_name != nullptr;
  if (!hasTarget)
    return true;
  const firn_port *target = findArgumentPort(desc, desc.num_inputs);
  if (!target)
    return true; // Inference only: the target is never read.
  std::vector<int64_t> shape;
  if (!sampleShape(*target, "target", shape, error))
    return false;
  spec.targetShape = shape;
  spec.targetKind =
      target->dtype == FIRN_I64 ? TargetKind::ClassIndices : TargetKind::Floats;
  if (desc.target_ignore_index)
    spec.ignoreIndex = *desc.target_ignore_index;
  // Class indices index the last dimension of predict's output when it is
  // the target's shape plus classes ([N, C] for [N], a sequence model's
  // [N, T, V] for [N, T]): checking them up front names the file instead
  // of computing garbage.
  const firn_function_desc *p = desc.predict;
  if (spec.targetKind == TargetKind::ClassIndices && p)
    for (int o = 0; o < p->num_outputs; ++o) {
      const firn_port &out = p->outputs[o];
      if (out.state < 0 && out.index == 0 && out.rank == target->rank + 1 &&
          std::equal(target->shape + 1, target->shape + target->rank, out.shape + 1) &&
          out.shape[out.rank - 1] > 0)
        spec.numClasses = out.shape[out.rank - 1];
    }
  return true;
}

//===----------------------------------------------------------------------===//
// train
//===----------------------------------------------------------------------===//

namespace {

/// a * b and a + b, false when the result does not fit in int64: the step
/// count comes from a checkpoint and the counts from the command line.
bool checkedMul(int64_t a, int64_t b, int64_t &out) {
  return !__builtin_mul_overflow(a, b, &out);
}
bool checkedAdd(int64_t a, int64_t b, int64_t &out) {
  return !__builtin_add_overflow(a, b, &out);
}

/// The states train_step writes (gradients, running statistics), without
/// the random-number counter: what a step skipped by --on-nonfinite=skip
/// puts back, so that it leaves no trace but the randomness it drew.
std::vector<int> statesTrainStepWrites(const firn_model_desc &desc) {
  std::vector<int> out;
  const firn_function_desc &fn = *desc.train_step;
  for (int o = 0; o < fn.num_outputs; ++o) {
    const int s = fn.outputs[o].state;
    if (s >= 0 && std::strncmp(desc.states[s].name, "rng/", 4) != 0 &&
        std::find(out.begin(), out.end(), s) == out.end())
      out.push_back(s);
  }
  return out;
}

} // namespace

bool saveCheckpoint(const ModelState &state, const std::string &path,
                    bool saveGrads, bool allowNonFinite, std::string &error) {
  if (!allowNonFinite) {
    const std::string bad = state.findNonFinite([&](int s) {
      return saveGrads || !isGradientName(state.stateDesc(s).name);
    });
    if (!bad.empty()) {
      error = "not saving " + path + " at step " +
              std::to_string(state.steps()) + ": " + bad +
              " (the loss was finite, but a gradient or an update was not); "
              "the file keeps what it held. Try a smaller learning rate, "
              "look for NaN in the data, or pass --on-nonfinite=ignore to "
              "save it anyway";
      return false;
    }
  }
  return state.save(path, saveGrads, error);
}

bool train(ModelState &state, Dataset &data, const TrainOptions &options,
           TrainResult &result, std::string &error) {
  const firn_model_desc &desc = state.desc();
  if (!checkCanTrain(desc, error))
    return false;
  const int64_t batchSize = options.batchSize;
  // Data parallelism (DataParallel.h): this rank's share of each global
  // batch, gradients averaged before the optimizer step.
  Communicator single;
  Communicator &comm = options.comm ? *options.comm : single;
  const int rank = comm.rank(), ranks = comm.ranks();
  const bool distributed = comm.distributed();
  if (batchSize % ranks) {
    error = "the batch size " + std::to_string(batchSize) +
            " is the global batch, shared by the " + std::to_string(ranks) +
            " processes of the job; choose a multiple of " +
            std::to_string(ranks);
    return false;
  }
  int64_t accumulate = 0;
  if (!checkedMul(desc.accumulate, options.accumulate, accumulate)) {
    error = "--accumulate " + std::to_string(options.accumulate) +
            " times the model's accumulate (" +
            std::to_string(desc.accumulate) + ") is too large";
    return false;
  }
  const int64_t perEpoch = data.batchCount(batchSize);
  if (perEpoch <= 0 || accumulate <= 0) {
    error = "no full batch of " + std::to_string(batchSize) + " samples in " +
            data.inputsName();
    return false;
  }
  int64_t total = options.steps;
  int64_t unused = 0;
  if (!total) {
    int64_t batches = 0;
    if (!checkedMul(options.epochs, perEpoch, batches)) {
      error = "--epochs " + std::to_string(options.epochs) + " of " +
              std::to_string(perEpoch) +
              " batches each are more batches than a 64-bit counter holds";
      return false;
    }
    total = batches / accumulate;
    unused = batches % accumulate;
    if (!total) {
      error = "one optimizer step takes " + std::to_string(accumulate) +
              " batches (accumulate), but " + std::to_string(options.epochs) +
              " epoch(s) of " + data.inputsName() + " have only " +
              std::to_string(batches) +
              "; train for more epochs or use a smaller batch size";
      return false;
    }
  }
  // Every micro-batch's place in the data stream must fit in 64 bits (a
  // damaged checkpoint's step near 2^63 would wrap around and train on the
  // wrong batches).
  const int64_t firstStep = state.steps();
  int64_t lastStep = 0, endMicro = 0;
  if (firstStep < 0 || !checkedAdd(firstStep, total, lastStep) ||
      !checkedMul(lastStep, accumulate, endMicro)) {
    error = "the checkpoint is at step " + std::to_string(firstStep) + ": " +
            std::to_string(total) + " more step(s) of " +
            std::to_string(accumulate) +
            " micro-batch(es) go past the largest step count (2^63 - 1); "
            "its 'step' metadata is damaged";
    return false;
  }

  ProgressOptions progressOptions;
  progressOptions.totalSteps = total;
  progressOptions.totalEpochs = options.steps ? 0 : options.epochs;
  const ProgressReporter::Clock clock =
      options.clock ? options.clock : ProgressReporter::monotonicSeconds;
  ProgressReporter progress(options.progress, options.terminal, progressOptions,
                            clock);
  if (unused)
    progress.note("note: the last " + std::to_string(unused) +
                  " batch(es) are not used: they do not make up a whole "
                  "optimizer step of " +
                  std::to_string(accumulate) + " batches");
  auto fail = [&] {
    progress.finish();
    return false;
  };

  KernelRunner runner(state);
  // The learning-rate schedules (Schedules.h): resumed from the state's
  // metadata, or started (their first rates written into the lr buffers).
  ScheduleRunner schedules;
  if (!schedules.init(state, error) || !schedules.checkRun(total, error))
    return fail();

  // Per-step and per-epoch records, and evaluation (the header comment). A
  // record that cannot be written (a full disk) is reported once; training
  // goes on without metrics, so that the run still ends in a checkpoint.
  MetricsWriter *metrics =
      options.metrics && options.metrics->isOpen() ? options.metrics : nullptr;
  auto writeRecord = [&](const char *kind, const MetricsRecord &record) {
    std::string why;
    if (!metrics || metrics->write(kind, record, why))
      return;
    result.metricsError = why;
    progress.note("warning: " + why +
                  "; training goes on without writing metrics");
    metrics = nullptr;
  };
  const auto lrColumns = learningRateColumns(desc);
  const double runStart = clock();
  double intervalStart = runStart;
  int64_t intervalSamples = 0;
  // The epoch so far: its micro-batches, and the sum and count of the
  // losses its mean takes (all of them, but the non-finite ones of skipped
  // steps under --on-nonfinite=skip).
  double epochLossSum = 0;
  int64_t epochLossCount = 0, epochBatches = 0;
  auto epochMean = [&] {
    return epochLossCount ? epochLossSum / double(epochLossCount) : NAN;
  };
  /// The epochs that ended in the current step: (number, mean loss).
  std::vector<std::pair<int64_t, double>> endedEpochs;
  /// The rates the last optimizer step used.
  std::vector<float> usedRates;
  auto addRates = [&](MetricsRecord &record) {
    for (size_t i = 0; i < lrColumns.size(); ++i)
      record.emplace_back(lrColumns[i].second,
                          i < usedRates.size()
                              ? double(usedRates[i])
                              : double(std::as_const(state).tensor(lrColumns[i].first).f32[0]));
  };
  // Evaluates (when there is evaluation data) and writes a record for each
  // of `epochs` after the optimizer step that finished them.
  auto endEpochs = [&](const std::vector<std::pair<int64_t, double>> &epochs,
                       bool &evaluated, EvalResult &eval) {
    const double trainEnd = clock();
    const double samplesPerSecond =
        trainEnd > intervalStart
            ? double(intervalSamples) / (trainEnd - intervalStart)
            : 0.0;
    evaluated = false;
    if (options.evalData) {
      // Rank 0 evaluates (its BatchNorm statistics are the checkpoint's)
      // and tells the others, whose schedules take the same loss.
      if (rank == 0 && !evaluate(state, *options.evalData,
                                 options.evalBatchSize, eval, error))
        return false;
      static_assert(std::is_trivially_copyable_v<EvalResult>);
      if (!comm.broadcast(&eval, sizeof(eval), 0, error))
        return false;
      evaluated = true;
      result.evaluated = true;
      result.eval = eval;
      progress.note("eval epoch " + std::to_string(epochs.back().first) +
                    " (step " + std::to_string(state.steps()) +
                    "): " + formatEvalResult(eval));
    }
    for (const auto &[epoch, trainLoss] : epochs) {
      if (!metrics)
        break;
      MetricsRecord record = {{"epoch", double(epoch)},
                              {"step", double(state.steps())},
                              {"train_loss", trainLoss}};
      if (evaluated) {
        record.emplace_back("eval_loss", eval.loss);
        if (eval.hasAccuracy && eval.total > 0)
          record.emplace_back("eval_accuracy",
                              double(eval.correct) / double(eval.total));
      }
      addRates(record);
      // Microseconds and thousandths are plenty for plotting.
      record.emplace_back("samples_per_second",
                          std::round(samplesPerSecond * 1e3) / 1e3);
      record.emplace_back("seconds",
                          std::round((clock() - runStart) * 1e6) / 1e6);
      writeRecord("epoch", record);
    }
    intervalStart = clock();
    intervalSamples = 0;
    return true;
  };
  // The record of one optimizer step: its loss at full precision.
  auto writeStepRecord = [&](int64_t step, int64_t epoch, double loss,
                             int64_t samples, double stepStart) {
    if (!metrics)
      return;
    const double now = clock();
    MetricsRecord record = {{"epoch", double(epoch)},
                            {"step", double(step)},
                            {"train_loss", loss}};
    addRates(record);
    record.emplace_back(
        "samples_per_second",
        now > stepStart ? std::round(double(samples) / (now - stepStart) * 1e3) /
                              1e3
                        : 0.0);
    record.emplace_back("seconds", std::round((now - runStart) * 1e6) / 1e6);
    writeRecord("step", record);
  };

  BatchTensors tensors(data);
  const std::vector<HostTensor *> &args = tensors.args;
  // Resuming from a checkpoint of step S continues the stream of batches
  // where the run that wrote it stopped.
  const int64_t start = firstStep * accumulate;
  int64_t micro = start;
  int64_t shuffledEpoch = -1;
  bool reportedNaN = false;
  Batch batch;
  const NonFinitePolicy policy = options.onNonFinite;
  // One kernel per step, no gradient buffers (FuseOptimizer.cpp), when
  // nobody needs the gradients between backward and step or after it:
  // --on-nonfinite=skip does, to decide before the update.
  const bool fused = desc.fused_step && accumulate == 1 && !distributed &&
                     !options.keepGradients && policy != NonFinitePolicy::Skip;
  // ZeRO stage 1: each rank updates its share of the parameters and holds
  // only their optimizer state (ZeroSharding.h).
  std::optional<ShardedOptimizer> sharded;
  if (distributed && options.shardOptimizer) {
    ShardPlan plan;
    if (!planShards(desc, ranks, plan, error))
      return fail();
    sharded.emplace(state, comm, std::move(plan));
    sharded->releaseOthers();
    result.heldOptimizerBytes = sharded->heldOptimizerBytes();
    result.optimizerBytes = sharded->plan().optimizerBytes;
  }
  // With --zero1 the gradients are reduce-scattered when only their owners
  // read them and nothing else will.
  const bool scatter =
      sharded &&
      scattersGradients(
          sharded->plan(),
          std::strcmp(desc.zero_grad ? desc.zero_grad : "optimizer", "none") == 0 ||
              options.keepGradients || policy == NonFinitePolicy::Skip,
          result.gradientsNote);
  std::optional<GradientAverager> averager;
  if (distributed)
    averager.emplace(state, comm, options.bucketBytes,
                     options.overlapCommunication,
                     scatter ? &sharded->plan().gradientOwner : nullptr);
  // What a checkpoint needs on rank 0: every rank's optimizer state.
  auto gathered = [&] {
    return !sharded || sharded->gatherToLeader(error);
  };
  // Each rank draws its own dropout masks: its random-number key is offset
  // by rank * 2^48 (rank 0's, the one checkpoints keep, is a single
  // process's), so the streams are reproducible from the seed and the rank.
  if (distributed && rank > 0)
    for (int s = 0; s < state.size(); ++s)
      if (std::strncmp(state.stateDesc(s).name, "rng/", 4) == 0 &&
          state.stateDesc(s).dtype == FIRN_I64 &&
          std::as_const(state).tensor(s).i64.size() == 1)
        state.tensor(s).i64[0] += int64_t(rank) << 48;
  // A signal any rank received, agreed on with each micro-batch's loss:
  // every rank stops after the same step.
  int agreedStop = 0;
  const std::vector<int> restored = policy == NonFinitePolicy::Skip
                                        ? statesTrainStepWrites(desc)
                                        : std::vector<int>();
  std::vector<HostTensor> before(restored.size());
  for (int64_t step = 1; step <= total; ++step) {
    // A step boundary: where SIGINT/SIGTERM end the run (Interrupt.h).
    const int stopSignal =
        distributed ? agreedStop : options.stop ? int(*options.stop) : 0;
    if (stopSignal) {
      result.stoppedBy = stopSignal;
      break;
    }
    const double stepStart = metrics ? clock() : 0.0;
    if (!fused && !zeroGrad(runner, error))
      return fail();
    for (size_t i = 0; i < restored.size(); ++i)
      before[i] = std::as_const(state).tensor(restored[i]);
    double lossSum = 0;
    int64_t stepSamples = 0;
    for (int64_t k = 0; k < accumulate; ++k, ++micro) {
      int64_t epoch = micro / perEpoch;
      if (options.shuffle && epoch != shuffledEpoch) {
        data.shuffle(options.seed, static_cast<uint64_t>(epoch));
        shuffledEpoch = epoch;
      }
      if (!checkedBatch(data, micro % perEpoch, batchSize, batch, error, rank,
                        ranks))
        return fail();
      tensors.take(data, batch);
      double loss;
      // The step's last micro-batch: its gradients are the step's, sent as
      // the kernels write them. (Every micro-batch gets the averager, for
      // the sums over the ranks between kernels: SyncBatchNorm.)
      const bool sends = averager && k == accumulate - 1;
      if (sends)
        averager->beginLastMicroBatch();
      if (!(fused ? fusedStep(runner, args, batch.rows, loss, error)
                  : trainMicroBatch(runner, args, batch.rows, loss, error,
                                    averager ? &*averager : nullptr)))
        return fail();
      if (distributed) {
        // The global batch's loss is the mean of the ranks' (equal shares).
        double shared[2] = {loss, options.stop ? double(*options.stop) : 0.0};
        if (!comm.sum(shared, 2, error))
          return fail();
        loss = shared[0] / double(ranks);
        if (shared[1] > 0)
          agreedStop = shared[1] <= 64 ? int(shared[1]) : SIGTERM;
      }
      lossSum += loss;
      intervalSamples += batch.rows * ranks;
      stepSamples += batch.rows * ranks;
      const bool endsEpoch = (micro + 1) % perEpoch == 0;
      schedules.addLoss(loss, endsEpoch);
      ++epochBatches;
      if (policy != NonFinitePolicy::Skip || std::isfinite(loss)) {
        epochLossSum += loss;
        ++epochLossCount;
      }
      if (endsEpoch) {
        endedEpochs.emplace_back(epoch + 1, epochMean());
        epochLossSum = 0;
        epochLossCount = epochBatches = 0;
      }
    }
    if (averager && !averager->average(error))
      return fail();
    const double stepLoss = lossSum / double(accumulate);
    const int64_t globalStep = firstStep + step;
    const int64_t stepEpoch = (micro - 1) / perEpoch + 1;
    // What is not finite, if anything: the loss, or (for skip, as AMP's
    // GradScaler looks for infinities in the gradients) a gradient.
    std::string bad;
    if (!std::isfinite(stepLoss))
      bad = "the loss is " + numberText(stepLoss);
    else if (policy == NonFinitePolicy::Skip)
      bad = state.findNonFinite(
          [&](int s) { return isGradientName(state.stateDesc(s).name); });
    // (Built only for a message: the loop allocates nothing per step.)
    auto where = [&] {
      return "step " + std::to_string(globalStep) + " (epoch " +
             std::to_string(stepEpoch) + "): ";
    };
    if (!bad.empty() && policy == NonFinitePolicy::Stop) {
      writeStepRecord(globalStep, stepEpoch, stepLoss, stepSamples, stepStart);
      error = where() + bad +
              ": training stopped (--on-nonfinite=stop) and nothing more is "
              "saved, so the last checkpoint written keeps the last finite "
              "state; try a smaller learning rate, look for NaN in the data, "
              "or see --on-nonfinite";
      return fail();
    }
    const bool skip = !bad.empty() && policy == NonFinitePolicy::Skip;
    if (skip) {
      for (size_t i = 0; i < restored.size(); ++i)
        state.tensor(restored[i]) = before[i];
      if (++result.skipped <= 10)
        progress.note("warning: " + where() + bad +
                      ": its update is skipped (--on-nonfinite=skip)");
    }
    if (!bad.empty() && policy == NonFinitePolicy::Ignore && !reportedNaN) {
      reportedNaN = true;
      progress.note("warning: " + where() + bad +
                    " (try a smaller learning rate)");
    }
    if (skip)
      state.setSteps(state.steps() + 1);
    else if (sharded) {
      if (!sharded->step(runner, error))
        return fail();
      state.setSteps(state.steps() + 1);
    } else if (!fused && !optimizerStep(runner, error)) {
      return fail();
    }
    usedRates.clear();
    for (const auto &lr : lrColumns)
      usedRates.push_back(std::as_const(state).tensor(lr.first).f32[0]);
    result.steps = step;
    result.loss = stepLoss;
    progress.step(step, (micro - 1 - start) / perEpoch + 1, result.loss,
                  accumulate * batchSize);
    writeStepRecord(state.steps(), stepEpoch, stepLoss, stepSamples,
                    stepStart);
    // An epoch ended: evaluate, then step the schedules (after the optimizer
    // step, as scheduler.step(val_loss) follows optimizer.step() in
    // PyTorch's loop), then write the records.
    bool evaluated = false;
    EvalResult eval;
    const bool endedEpoch = !endedEpochs.empty();
    if (endedEpoch && !endEpochs(endedEpochs, evaluated, eval))
      return fail();
    if (!schedules.afterOptimizerStep(state, error,
                                      evaluated ? &eval.loss : nullptr))
      return fail();
    endedEpochs.clear();
    // Periodic checkpoints replace --save; the last step's is the caller's
    // final save.
    const bool due =
        (options.saveEvery > 0 && state.steps() % options.saveEvery == 0) ||
        (options.saveEveryEpoch && endedEpoch);
    if (due && step < total && !options.savePath.empty()) {
      if (!gathered())
        return fail();
      if (rank == 0 &&
          !saveCheckpoint(state, options.savePath, options.keepGradients,
                          policy == NonFinitePolicy::Ignore, error))
        return fail();
      if (sharded)
        sharded->releaseOthers();
      progress.note("saved " + options.savePath + " (step " +
                    std::to_string(state.steps()) + ")");
    }
  }
  if (result.skipped > 10)
    progress.note("warning: " + std::to_string(result.skipped) +
                  " steps skipped in all (--on-nonfinite=skip)");
  // A run that stops inside an epoch reports that epoch so far.
  if (epochBatches > 0) {
    bool evaluated;
    EvalResult eval;
    if (!endEpochs({{micro / perEpoch + 1, epochMean()}}, evaluated, eval))
      return fail();
  }
  progress.finish();
  // The caller's final checkpoint, on rank 0, has the whole state.
  if (!options.savePath.empty() && !gathered())
    return fail();
  if (averager) {
    result.commBytesPerStep = averager->bytesPerStep();
    result.commBuckets = averager->stats().buckets;
    result.commStartedEarly = averager->stats().startedEarly;
    result.commWaitSeconds = averager->stats().waitSeconds;
  }
  return true;
}

bool evaluate(ModelState &state, const Dataset &data, int64_t batchSize,
              EvalResult &result, std::string &error) {
  const firn_model_desc &desc = state.desc();
  if (!desc.eval_loss) {
    error = "this model was compiled without a loss (inference only); it "
            "cannot eval";
    return false;
  }
  result = EvalResult();
  result.hasAccuracy = evalHasAccuracy(desc, data);
  KernelRunner runner(state);
  std::vector<HostTensor> results;
  BatchTensors tensors(data);
  const std::vector<HostTensor *> &args = tensors.args;
  const HostTensor &y = tensors.y;
  double weighted = 0;
  int64_t samples = 0;
  const int64_t count = data.batchCount(batchSize, /*keepPartial=*/true);
  Batch batch;
  for (int64_t i = 0; i < count; ++i) {
    if (!checkedBatch(data, i, batchSize, batch, error))
      return false;
    tensors.take(data, batch);
    double loss;
    if (!runner.call(*desc.eval_loss, args, batch.rows, results, error) ||
        !lossOf(*desc.eval_loss, results, loss, error))
      return false;
    // eval_loss is a mean over its batch; weighting by the batch size makes
    // the partial last batch count as much as its samples.
    weighted += loss * double(batch.rows);
    samples += batch.rows;
    if (!result.hasAccuracy)
      continue;
    if (!runner.call(*desc.predict, tensors.inputs(), batch.rows, results, error))
      return false;
    static const HostTensor none;
    const HostTensor &out = results.empty() ? none : results[0];
    int64_t classes = out.shape.empty() ? 0 : out.shape.back();
    if (out.dtype != FIRN_F32 || classes <= 0 ||
        out.numel() / classes != y.numel()) {
      error = "cannot compute accuracy: predict's output " +
              shapeString(out.shape) +
              " does not have one row of scores "
              "per target of " +
              shapeString(y.shape);
      return false;
    }
    for (float v : out.f32)
      result.nonFiniteOutputs += !std::isfinite(v);
    // argmax along the last dimension as torch.argmax: the first maximum
    // wins a tie, and NaN is larger than anything (the first NaN wins).
    for (int64_t r = 0; r < y.numel(); ++r) {
      const float *row = out.f32.data() + r * classes;
      int64_t best = 0;
      for (int64_t c = 1; c < classes && !std::isnan(row[best]); ++c)
        if (row[c] > row[best] || std::isnan(row[c]))
          best = c;
      // A target the loss ignores (padding) is not a prediction to count.
      const firn_model_desc &desc = state.desc();
      if (desc.target_ignore_index && y.i64[r] == *desc.target_ignore_index)
        continue;
      result.correct += best == y.i64[r];
      ++result.total;
    }
  }
  result.loss = samples ? weighted / double(samples) : 0.0;
  return true;
}

std::string formatEvalResult(const EvalResult &result) {
  char text[128];
  int n = std::snprintf(text, sizeof(text), "loss %.6f", result.loss);
  if (result.hasAccuracy && result.total > 0)
    std::snprintf(text + n, sizeof(text) - n,
                  " accuracy %.4f (%" PRId64 "/%" PRId64 ")",
                  double(result.correct) / double(result.total), result.correct,
                  result.total);
  return text;
}

bool predict(ModelState &state, const Dataset &data, int64_t batchSize,
             HostTensor &out, std::string &error) {
  const firn_model_desc &desc = state.desc();
  if (!desc.predict) {
    error = "this model was compiled without a predict function";
    return false;
  }
  KernelRunner runner(state);
  BatchTensors tensors(data);
  HostTensor part;
  HostTensor all;
  const int64_t count = data.batchCount(batchSize, /*keepPartial=*/true);
  Batch batch;
  for (int64_t i = 0; i < count; ++i) {
    if (!checkedBatch(data, i, batchSize, batch, error))
      return false;
    tensors.take(data, batch);
    if (!predictBatch(runner, tensors.inputs(), batch.rows, part, error))
      return false;
    if (i == 0) {
      all.dtype = part.dtype;
      all.shape = part.shape;
      all.shape[0] = 0;
    }
    all.shape[0] += part.shape[0];
    all.f32.insert(all.f32.end(), part.f32.begin(), part.f32.end());
    all.i64.insert(all.i64.end(), part.i64.begin(), part.i64.end());
  }
  out = std::move(all);
  return true;
}

} // namespace firn::runtime
