//===- Main.cpp - firn_main: the compiled binary's subcommands
//-------------===//
//
// See Main.h. This file only wires the pieces together: the command line
// (CommandLine.h), the state (Model.h), the data (Dataset.h), the loops
// (Trainer.h) and `info` (Info.h). Every failure comes back here as a
// message, printed once as `PROGRAM: error: ...`; nothing below prints
// errors or exits.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Main.h"

#include "firn/Runtime/AtomicFile.h"
#include "firn/Runtime/CommandLine.h"
#include "firn/Runtime/Communicator.h"
#include "firn/Runtime/Dataset.h"
#include "firn/Runtime/Info.h"
#include "firn/Runtime/Interrupt.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Progress.h"
#include "firn/Runtime/Trainer.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <new>
#include <string>

namespace firn::runtime {

namespace {

/// Batch sizes when --batch-size is not given: training takes PyTorch's
/// DataLoader-style small batches, predict and eval (which keep a partial
/// last batch) larger ones. Both are capped at the number of samples.
constexpr int64_t kDefaultTrainBatch = 32;
constexpr int64_t kDefaultInferenceBatch = 256;

enum ExitCode { kSuccess = 0, kUserError = 1, kInternalError = 2 };

std::string baseName(const char *path) {
  std::string p = path && *path ? path : "model";
  size_t slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

class Driver {
public:
  Driver(const firn_model_desc &desc, const CommandLine &cl,
         Communicator &comm)
      : desc(desc), cl(cl), comm(comm), state(desc) {}

  /// The exit status of a run that succeeded (run() returned true): 0, or
  /// 128 + the signal that stopped training (after its checkpoint was
  /// saved).
  int exitStatus = kSuccess;

  bool run(std::string &error) {
    switch (cl.command) {
    case Command::Info:
      std::fputs(modelInfo(desc).c_str(), stdout);
      return true;
    case Command::Train:
      return runTrain(error);
    case Command::Eval:
      return runEval(error);
    case Command::Predict:
      return runPredict(error);
    case Command::None:
      break;
    }
    std::fputs(helpText(cl.program, Command::None).c_str(), stdout);
    return true;
  }

private:
  const firn_model_desc &desc;
  const CommandLine &cl;
  /// The data-parallel job; only its rank 0 writes files and prints.
  Communicator &comm;
  ModelState state;

  bool leader() const { return comm.rank() == 0; }

  uint64_t seed() const { return cl.seed.value_or(desc.seed); }

  /// Initial values, then --init, then the check that nothing that must be
  /// loaded is still missing.
  bool prepareState(std::string &error) {
    state.initialize(seed());
    LoadOptions load;
    load.allowNonFinite = cl.allowNonFinite;
    load.requireOptimizerState = cl.command == Command::Train;
    load.allowMissingState = cl.allowMissingState;
    if (!cl.init.empty() && !state.load(cl.init, error, stderr, load))
      return false;
    return state.checkComplete(error);
  }

  /// Before anything runs: the temporary files killed runs left next to
  /// `path` go (AtomicFile.h), and `path` must be writable, so that a
  /// mistyped directory fails now rather than after hours of training.
  bool prepareOutput(const char *option, const std::string &path,
                     std::string &error) {
    for (const std::string &file : removeStaleTemporaries(path))
      std::fprintf(stderr,
                   "note: removed %s (left by a run killed while saving)\n",
                   file.c_str());
    if (checkWritable(path, error))
      return true;
    error = std::string(option) + " " + error;
    return false;
  }

  /// Loads --x or the --input files (and --y when `withTargets`) against
  /// the model's ports.
  bool loadData(bool withTargets, Dataset &data, std::string &error) {
    std::vector<std::string> paths;
    return inputPaths(cl.x, cl.inputs, "--input", paths, error) &&
           loadData(paths, cl.y, "--y", withTargets, data, error);
  }

  /// The model's inputs' files, in its order: `x` for one input, else one
  /// of `byName` (`byNameOption` NAME=X.npy) per input.
  bool inputPaths(const std::string &x,
                  const std::vector<std::pair<std::string, std::string>> &byName,
                  const char *byNameOption,
                  std::vector<std::string> &paths, std::string &error) {
    std::string names;
    for (int i = 0; i < desc.num_inputs; ++i)
      names += std::string(i ? ", " : "") + desc.input_names[i];
    if (byName.empty()) {
      if (desc.num_inputs != 1) {
        error = "this model takes " + std::to_string(desc.num_inputs) +
                " inputs (" + names + "): give each as " + byNameOption +
                " NAME=X.npy";
        return false;
      }
      paths = {x};
      return true;
    }
    paths.assign(desc.num_inputs, std::string());
    for (const auto &[name, path] : byName) {
      int index = -1;
      for (int i = 0; i < desc.num_inputs; ++i)
        if (name == desc.input_names[i])
          index = i;
      if (index < 0) {
        error = "this model has no input '" + name + "' (its inputs: " + names + ")";
        return false;
      }
      paths[index] = path;
    }
    for (int i = 0; i < desc.num_inputs; ++i)
      if (paths[i].empty()) {
        error = std::string("no ") + byNameOption + " " + desc.input_names[i] +
                "=X.npy (the model's inputs: " + names + ")";
        return false;
      }
    return true;
  }

  /// Loads the inputs `x` (one file per input, in order; and the targets
  /// `y`, given by `yOption`, when `withTargets`) against the model's ports.
  bool loadData(const std::vector<std::string> &x, const std::string &y,
                const char *yOption, bool withTargets, Dataset &data,
                std::string &error) {
    DatasetSpec spec;
    bool hasTarget = false;
    if (!dataSpecOf(desc, spec, hasTarget, error))
      return false;
    std::string targets;
    if (withTargets) {
      std::string name = desc.target_name ? desc.target_name : "target";
      if (hasTarget && y.empty()) {
        error = "this model's loss needs a target ('" + name +
                "'): give it with " + yOption + " Y.npy";
        return false;
      }
      if (!hasTarget && !y.empty()) {
        error = std::string("this model's loss takes no target; leave out ") +
                yOption;
        return false;
      }
      targets = y;
    }
    if (!Dataset::load(x[0], targets, spec, data, error))
      return false;
    if (data.size() == 0) {
      error = x[0] + " has no samples";
      return false;
    }
    for (size_t i = 1; i < x.size(); ++i) {
      DatasetSpec more;
      if (!dataSpecOf(desc, more, hasTarget, error, int(i)) ||
          !data.addInput(x[i], more, error))
        return false;
    }
    return true;
  }

  /// The batch size to use: --batch-size, or the default capped at the
  /// number of samples; checked against the data.
  bool batchSize(const Dataset &data, int64_t fallback, bool keepPartial,
                 int64_t &out, std::string &error) {
    out = cl.batchSize ? cl.batchSize : std::min(fallback, data.size());
    // predict and eval see every sample: a batch larger than the data is
    // one partial batch, as PyTorch's DataLoader makes it.
    if (keepPartial)
      out = std::min(out, data.size());
    if (data.checkBatchSize(out, keepPartial || cl.dropLast, error))
      return true;
    if (!cl.batchSize)
      error += " (" + std::to_string(out) +
               " is the default batch size; choose one with --batch-size)";
    return false;
  }

  bool runTrain(std::string &error) {
    if (!desc.train_step) {
      error = "this model was compiled without a training setup (inference "
              "only); it cannot train";
      return false;
    }
    Dataset data, evalData;
    TrainOptions options;
    MetricsFormat format;
    const std::string save = leader() ? cl.save : std::string();
    const std::string metricsPath = leader() ? cl.metrics : std::string();
    if ((!cl.metrics.empty() && !metricsFormatOf(cl.metrics, format, error)) ||
        (!save.empty() && !prepareOutput("--save", save, error)) ||
        !prepareState(error) || !loadData(true, data, error) ||
        !batchSize(data, kDefaultTrainBatch, false, options.batchSize, error))
      return false;
    if (!cl.evalX.empty() || !cl.evalInputs.empty()) {
      // Evaluated as `eval` does, with --batch-size (or eval's default)
      // capped at the number of evaluation samples.
      if (!desc.eval_loss) {
        error = "this model was compiled without an eval_loss function; it "
                "cannot evaluate --eval-x";
        return false;
      }
      std::vector<std::string> evalPaths;
      if (!inputPaths(cl.evalX, cl.evalInputs, "--eval-input", evalPaths, error) ||
          !loadData(evalPaths, cl.evalY, "--eval-y", true, evalData, error))
        return false;
      options.evalData = &evalData;
      options.evalBatchSize =
          std::min(cl.batchSize ? cl.batchSize : kDefaultInferenceBatch,
                   evalData.size());
    }
    // The metrics continue the file of the run a checkpoint came from.
    MetricsWriter metrics;
    if (!metricsPath.empty()) {
      const bool resuming = !cl.init.empty() && state.steps() > 0;
      if (!metrics.open(
              metricsPath, resuming,
              metricsColumns(desc, options.evalData != nullptr,
                             options.evalData &&
                                 evalHasAccuracy(desc, *options.evalData)),
              error))
        return false;
      options.metrics = &metrics;
    }
    options.steps = cl.steps;
    options.epochs = cl.epochs ? cl.epochs : 1;
    options.accumulate = cl.accumulate ? cl.accumulate : 1;
    options.keepGradients = cl.saveGrads;
    options.shuffle = cl.shuffle;
    options.seed = seed();
    options.progress = leader() ? stderr : nullptr;
    options.terminal = ProgressReporter::isTerminal(options.progress);
    options.onNonFinite = cl.onNonFinite;
    // Every rank knows where checkpoints go (with --zero1 they all take
    // part in one); rank 0 alone writes them.
    options.savePath = cl.save;
    options.comm = &comm;
    options.saveEvery = cl.saveEvery;
    options.saveEveryEpoch = cl.saveEveryEpoch;
    if (cl.bucketBytes)
      options.bucketBytes = cl.bucketBytes;
    options.overlapCommunication = !cl.noOverlap;
    options.shardOptimizer = cl.zero1;
    TrainResult result;
    {
      InterruptGuard interrupts;
      options.stop = InterruptGuard::received();
      if (!train(state, data, options, result, error))
        return false;
    }
    if (!leader()) {
      exitStatus = result.stoppedBy ? 128 + result.stoppedBy : kSuccess;
      return true;
    }
    std::printf("trained %" PRId64 " steps (step %" PRId64 "), loss %.6f",
                result.steps, state.steps(), result.loss);
    if (result.skipped)
      std::printf(" (%" PRId64 " step(s) skipped: not finite)",
                  result.skipped);
    std::printf("\n");
    if (comm.distributed() && result.steps > 0)
      std::printf("communicated %.3f MB per step per rank across %d ranks: "
                  "%" PRId64 " of %" PRId64 " buckets started during the "
                  "backward pass, %.3f ms per step waited after it\n",
                  double(result.commBytesPerStep) / 1e6, comm.ranks(),
                  result.commStartedEarly, result.commBuckets,
                  1e3 * result.commWaitSeconds / double(result.steps));
    if (result.optimizerBytes)
      std::printf("optimizer state sharded (--zero1): rank 0 held %" PRId64
                  " of the %" PRId64 " bytes of optimizer state; %s\n",
                  result.heldOptimizerBytes, result.optimizerBytes,
                  result.gradientsNote.c_str());
    if (!cl.save.empty()) {
      if (!saveCheckpoint(state, cl.save, cl.saveGrads,
                          cl.onNonFinite == NonFinitePolicy::Ignore, error))
        return false;
      std::printf("saved %s\n", cl.save.c_str());
    }
    std::fflush(stdout);
    if (result.stoppedBy) {
      std::fprintf(stderr, "%s: stopped by %s after step %" PRId64 "%s\n",
                   cl.program.c_str(), signalName(result.stoppedBy),
                   state.steps(),
                   cl.save.empty() ? " (no --save: nothing saved)" : "");
      exitStatus = 128 + result.stoppedBy;
    }
    // Training went on without metrics; the checkpoint is saved, but the
    // metrics file is incomplete: a failure for scripts to notice.
    if (!result.metricsError.empty()) {
      error = result.metricsError + " (training finished without metrics" +
              (cl.save.empty() ? "" : "; the checkpoint was saved") + ")";
      return false;
    }
    return true;
  }

  bool runEval(std::string &error) {
    if (!desc.eval_loss) {
      error = "this model was compiled without a loss (inference only); it "
              "cannot eval";
      return false;
    }
    Dataset data;
    int64_t batch;
    EvalResult result;
    if (!prepareState(error) || !loadData(true, data, error) ||
        !batchSize(data, kDefaultInferenceBatch, true, batch, error) ||
        !evaluate(state, data, batch, result, error))
      return false;
    std::printf("%s\n", formatEvalResult(result).c_str());
    std::fflush(stdout);
    if (!std::isfinite(result.loss) || result.nonFiniteOutputs)
      std::fprintf(stderr,
                   "%s: warning: the %s not finite: the checkpoint or the "
                   "data hold NaN or infinite values, or the model "
                   "overflows on them\n",
                   cl.program.c_str(),
                   std::isfinite(result.loss) ? "model's outputs are"
                                              : "loss is");
    return true;
  }

  bool runPredict(std::string &error) {
    if (!desc.predict) {
      error = "this model was compiled without a predict function";
      return false;
    }
    Dataset data;
    int64_t batch;
    HostTensor out;
    if (!prepareState(error) || !loadData(false, data, error) ||
        !batchSize(data, kDefaultInferenceBatch, true, batch, error) ||
        !prepareOutput("--out", cl.out, error) ||
        !predict(state, data, batch, out, error))
      return false;
    const int64_t bad = std::count_if(out.f32.begin(), out.f32.end(),
                                      [](float v) { return !std::isfinite(v); });
    if (bad)
      std::fprintf(stderr,
                   "%s: warning: %" PRId64 " of the %zu outputs are NaN or "
                   "infinite\n",
                   cl.program.c_str(), bad, out.f32.size());
    return writeNpy(cl.out, out.toTensorData(), error);
  }
};

int runMain(int argc, char **argv, const firn_model_desc *model) {
  std::string program = baseName(argc > 0 ? argv[0] : nullptr);
  std::string error;
  if (!model || !validateModel(*model, error)) {
    std::fprintf(stderr,
                 "%s: internal error: the compiled model is malformed: %s\n",
                 program.c_str(), model ? error.c_str() : "no model");
    return kInternalError;
  }
  CommandLine cl;
  if (!parseCommandLine(argc, argv, cl, error)) {
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), error.c_str());
    return kUserError;
  }
  if (cl.help) {
    std::fputs(helpText(cl.program, cl.command).c_str(), stdout);
    return kSuccess;
  }
  // A GPU binary's commands that run kernels need the driver: say so once,
  // before any data is read.
  if (usesDevice(*model) && cl.command != Command::Info &&
      !loadCudaDriver(error)) {
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), error.c_str());
    return kUserError;
  }
  // Under mpirun, `train` runs on every rank (Communicator.h); the other
  // commands compute nothing that needs several processes, and run on rank
  // 0 alone, so that they print and write their output once.
  const Launch launch = detectLaunch();
  Communicator comm;
  if (cl.command != Command::Train && launch.rank != 0)
    return kSuccess;
  if (cl.command == Command::Train && !comm.join(launch, error)) {
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), error.c_str());
    return kUserError;
  }
  Driver driver(*model, cl, comm);
  if (!driver.run(error)) {
    std::fflush(stdout);
    if (!comm.distributed()) {
      std::fprintf(stderr, "%s: error: %s\n", program.c_str(), error.c_str());
      return kUserError;
    }
    // One rank's failure ends the job: the others would wait for it in
    // the next collective. Rank 0 has saved nothing since the last
    // checkpoint, which stays as it was (AtomicFile.h).
    std::fprintf(stderr, "%s: error: rank %d of %d: %s; stopping the job\n",
                 program.c_str(), comm.rank(), comm.ranks(), error.c_str());
    comm.abort(kUserError);
  }
  return driver.exitStatus;
}

} // namespace

} // namespace firn::runtime

extern "C" int firn_main(int argc, char **argv, const firn_model_desc *model) {
#if defined(__cpp_exceptions)
  // The runtime reports errors by return value; the one exception the
  // standard library can still throw at us is running out of memory (a huge
  // data set), which deserves a message rather than an abort.
  try {
    return firn::runtime::runMain(argc, argv, model);
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "%s: error: out of memory\n",
                 argc > 0 && argv[0] ? argv[0] : "model");
    return 1;
  }
#else
  return firn::runtime::runMain(argc, argv, model);
#endif
}
