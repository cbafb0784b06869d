//===- Trainer.cpp - The train, eval and predict loops
//---------------------===//
//
// See Trainer.h. The loops only move batches into tensors and call kernels
// through KernelRunner; every number is computed by the generated code.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Trainer.h"

#include "firn/Runtime/Schedules.h"

#include <cinttypes>
#include <cmath>

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

/// Moves a batch's samples into the tensors the kernels take.
void toTensors(const Dataset &data, Batch &batch, HostTensor &x,
               HostTensor &y) {
  x = HostTensor();
  x.dtype = FIRN_F32;
  x.shape = {batch.rows};
  x.shape.insert(x.shape.end(), data.inputShape().begin(),
                 data.inputShape().end());
  x.f32 = std::move(batch.inputs);
  y = HostTensor();
  if (!data.hasTargets())
    return;
  y.shape = {batch.rows};
  y.shape.insert(y.shape.end(), data.targetShape().begin(),
                 data.targetShape().end());
  if (data.targetKind() == TargetKind::ClassIndices) {
    y.dtype = FIRN_I64;
    y.i64 = std::move(batch.classTargets);
  } else {
    y.dtype = FIRN_F32;
    y.f32 = std::move(batch.floatTargets);
  }
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
  std::vector<HostTensor> results;
  return !desc.zero_grad_fn ||
         runner.call(*desc.zero_grad_fn, {}, 0, results, error);
}

bool trainMicroBatch(KernelRunner &runner,
                     const std::vector<HostTensor *> &args, int64_t batch,
                     double &loss, std::string &error) {
  const firn_model_desc &desc = runner.state().desc();
  if (!checkCanTrain(desc, error))
    return false;
  std::vector<HostTensor> results;
  return runner.call(*desc.train_step, args, batch, results, error) &&
         lossOf(*desc.train_step, results, loss, error);
}

bool optimizerStep(KernelRunner &runner, std::string &error) {
  ModelState &state = runner.state();
  std::vector<HostTensor> results;
  if (state.desc().optimizer_step &&
      !runner.call(*state.desc().optimizer_step, {}, 0, results, error))
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
                std::string &error) {
  if (desc.num_inputs != 1) {
    error = "this model takes " + std::to_string(desc.num_inputs) +
            " inputs, but the command line passes exactly one (--x)";
    return false;
  }
  const firn_port *input = findArgumentPort(desc, 0);
  if (!input) {
    error = "this model has no function that takes its input";
    return false;
  }
  spec = DatasetSpec();
  if (!sampleShape(*input, "input", spec.inputShape, error))
    return false;
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
  // Class indices index the last dimension of predict's output: checking
  // them up front names the file instead of computing garbage.
  const firn_function_desc *p = desc.predict;
  if (spec.targetKind == TargetKind::ClassIndices && p)
    for (int o = 0; o < p->num_outputs; ++o)
      if (p->outputs[o].state < 0 && p->outputs[o].index == 0 &&
          p->outputs[o].rank >= 2 &&
          p->outputs[o].shape[p->outputs[o].rank - 1] > 0)
        spec.numClasses = p->outputs[o].shape[p->outputs[o].rank - 1];
  return true;
}

bool train(ModelState &state, Dataset &data, const TrainOptions &options,
           TrainResult &result, std::string &error) {
  const firn_model_desc &desc = state.desc();
  if (!checkCanTrain(desc, error))
    return false;
  const int64_t batchSize = options.batchSize;
  const int64_t accumulate = int64_t(desc.accumulate) * options.accumulate;
  const int64_t perEpoch = data.batchCount(batchSize);
  if (perEpoch <= 0 || accumulate <= 0) {
    error = "no full batch of " + std::to_string(batchSize) + " samples in " +
            data.inputsName();
    return false;
  }
  int64_t total = options.steps;
  int64_t unused = 0;
  if (!total) {
    total = options.epochs * perEpoch / accumulate;
    unused = options.epochs * perEpoch % accumulate;
    if (!total) {
      error = "one optimizer step takes " + std::to_string(accumulate) +
              " batches (accumulate), but " + std::to_string(options.epochs) +
              " epoch(s) of " + data.inputsName() + " have only " +
              std::to_string(options.epochs * perEpoch) +
              "; train for more epochs or use a smaller batch size";
      return false;
    }
  }

  ProgressOptions progressOptions;
  progressOptions.totalSteps = total;
  progressOptions.totalEpochs = options.steps ? 0 : options.epochs;
  ProgressReporter progress(options.progress, options.terminal,
                            progressOptions);
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
  HostTensor x, y;
  std::vector<HostTensor *> args = {&x, data.hasTargets() ? &y : nullptr};
  // Resuming from a checkpoint of step S continues the stream of batches
  // where the run that wrote it stopped.
  const int64_t start = state.steps() * accumulate;
  int64_t micro = start;
  int64_t shuffledEpoch = -1;
  bool reportedNaN = false;
  for (int64_t step = 1; step <= total; ++step) {
    if (!zeroGrad(runner, error))
      return fail();
    double lossSum = 0;
    for (int64_t k = 0; k < accumulate; ++k, ++micro) {
      int64_t epoch = micro / perEpoch;
      if (options.shuffle && epoch != shuffledEpoch) {
        data.shuffle(options.seed, static_cast<uint64_t>(epoch));
        shuffledEpoch = epoch;
      }
      Batch batch;
      data.batch(micro % perEpoch, batchSize, batch);
      toTensors(data, batch, x, y);
      double loss;
      if (!trainMicroBatch(runner, args, batch.rows, loss, error))
        return fail();
      lossSum += loss;
      schedules.addLoss(loss, (micro + 1) % perEpoch == 0);
    }
    // Schedules step after the optimizer step, as scheduler.step() follows
    // optimizer.step() in PyTorch's loop.
    if (!optimizerStep(runner, error) ||
        !schedules.afterOptimizerStep(state, error))
      return fail();
    result.steps = step;
    result.loss = lossSum / double(accumulate);
    if (!std::isfinite(result.loss) && !reportedNaN) {
      reportedNaN = true;
      progress.note("warning: the loss is " + std::to_string(result.loss) +
                    " at step " + std::to_string(step) +
                    " (try a smaller learning rate)");
    }
    progress.step(step, (micro - 1 - start) / perEpoch + 1, result.loss,
                  accumulate * batchSize);
  }
  progress.finish();
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
  result.hasAccuracy = data.hasTargets() &&
                       data.targetKind() == TargetKind::ClassIndices &&
                       desc.predict;
  KernelRunner runner(state);
  std::vector<HostTensor> results;
  HostTensor x, y;
  std::vector<HostTensor *> args = {&x, data.hasTargets() ? &y : nullptr};
  double weighted = 0;
  int64_t samples = 0;
  const int64_t count = data.batchCount(batchSize, /*keepPartial=*/true);
  for (int64_t i = 0; i < count; ++i) {
    Batch batch;
    data.batch(i, batchSize, batch);
    toTensors(data, batch, x, y);
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
    if (!runner.call(*desc.predict, {&x}, batch.rows, results, error))
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
    // argmax along the last dimension; the first maximum wins a tie, as
    // torch.argmax does.
    for (int64_t r = 0; r < y.numel(); ++r) {
      const float *row = out.f32.data() + r * classes;
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c)
        if (row[c] > row[best])
          best = c;
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
  HostTensor x, y, part;
  HostTensor all;
  const int64_t count = data.batchCount(batchSize, /*keepPartial=*/true);
  for (int64_t i = 0; i < count; ++i) {
    Batch batch;
    data.batch(i, batchSize, batch);
    toTensors(data, batch, x, y);
    if (!predictBatch(runner, {&x}, batch.rows, part, error))
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
