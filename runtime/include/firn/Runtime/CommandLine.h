//===- CommandLine.h - The compiled binary's command line -------*- C++ -*-===//
//
// Every binary `firnc` builds has the same command line (issue 4):
//
//   model train   (--x X.npy | --input NAME=X.npy ...) [--y Y.npy] [--init CKPT]
//                 [--batch-size B]
//                 [--steps N | --epochs E] [--accumulate K] [--save CKPT]
//                 [--save-grads] [--seed S] [--drop-last] [--shuffle]
//                 [--eval-x X.npy --eval-y Y.npy] [--metrics FILE]
//                 [--save-every N] [--save-every-epoch]
//                 [--on-nonfinite stop|skip|ignore] [--allow-nonfinite]
//                 [--allow-missing-state] [--bucket-mb MB] [--no-overlap] [--zero1]
//   model predict --init CKPT --x X.npy --out P.npy [--batch-size B]
//                 [--allow-nonfinite]
//   model eval    --init CKPT --x X.npy --y Y.npy [--batch-size B]
//                 [--allow-nonfinite]
//   model info
//   model [SUBCOMMAND] --help
//
// Options are written `--name VALUE` or `--name=VALUE`. Mistakes are errors
// with a message that names the argument: an unknown subcommand or option
// (with the nearest valid one suggested when it is at most two edits away,
// and the subcommand that takes it when it belongs to another one), a missing
// value, a number that is not a positive integer (the seed may be 0), an
// option given twice, --steps together with --epochs, --eval-x without
// --eval-y (or the other way round), --save-every or --save-every-epoch
// without --save, a required option left out, and a stray positional
// argument.
//
// This file only parses; checking that files exist and fit the model is the
// job of the readers (Npy.h, Safetensors.h, Dataset.h). Plain C++17, no
// exceptions: compiled training binaries link this.
//
//===----------------------------------------------------------------------===//

#ifndef FIRN_RUNTIME_COMMANDLINE_H
#define FIRN_RUNTIME_COMMANDLINE_H

#include "firn/Runtime/NonFinite.h"

#include <cstdint>
#include <optional>
#include <string>

namespace firn::runtime {

enum class Command { None, Train, Predict, Eval, Info };

/// "train", "predict", "eval", "info"; "" for None.
const char *commandName(Command command);

struct CommandLine {
  /// argv[0] without its directory, for help and messages.
  std::string program;
  /// None only together with `help` (`model --help`).
  Command command = Command::None;
  /// --help (or -h) was given: print helpText(program, command) and exit 0.
  /// When set, no other check was made.
  bool help = false;

  /// --x, --y, --init, --out, --save; empty when not given.
  std::string x, y, init, out, save;
  /// train's --eval-x and --eval-y (both or neither), and --metrics; empty
  /// when not given. The metrics file's extension is checked by the trainer
  /// (metricsFormatOf in Trainer.h), not here.
  std::string evalX, evalY, metrics;
  /// --batch-size; 0 when not given (the binary picks its default).
  int64_t batchSize = 0;
  /// --steps (optimizer steps) or --epochs: at most one is non-zero. When a
  /// `train` command line gives neither, `epochs` is 1.
  int64_t steps = 0;
  int64_t epochs = 0;
  /// --accumulate; 0 when not given (the model's `accumulate` applies).
  int64_t accumulate = 0;
  /// --seed; absent when not given (the model's `seed` applies).
  std::optional<uint64_t> seed;
  bool saveGrads = false;
  bool dropLast = false;
  bool shuffle = false;
  /// --save-every (0 when not given) and --save-every-epoch: periodic
  /// checkpoints, which need --save.
  int64_t saveEvery = 0;
  bool saveEveryEpoch = false;
  /// --on-nonfinite (NonFinite.h).
  NonFinitePolicy onNonFinite = NonFinitePolicy::Stop;
  /// --allow-nonfinite and --allow-missing-state (LoadOptions in Model.h).
  bool allowNonFinite = false;
  bool allowMissingState = false;
  /// Data-parallel training: --bucket-mb in bytes (0 when not given: DDP's
  /// 25 MB) and --no-overlap (DataParallel.h).
  int64_t bucketBytes = 0;
  bool noOverlap = false;
  /// --zero1: shard the optimizer state across the ranks (ZeroSharding.h).
  bool zero1 = false;
  /// --input NAME=X.npy, in the order given (instead of --x, for a model
  /// with several inputs).
  std::vector<std::pair<std::string, std::string>> inputs;
  /// --eval-input NAME=X.npy, the same for the evaluation data.
  std::vector<std::pair<std::string, std::string>> evalInputs;
};

/// Parses argv[0..argc). On failure returns false and sets `error` to a
/// one-line message (without the program name or "error:"); `out` is
/// replaced only on success.
bool parseCommandLine(int argc, const char *const *argv, CommandLine &out,
                      std::string &error);

/// The help for `command` (the overview of all subcommands for None): a usage
/// line, then every option with a one-line description.
std::string helpText(const std::string &program, Command command);

/// The edit distance between `a` and `b` (insertions, deletions,
/// substitutions and swaps of adjacent characters each count 1).
int editDistance(const std::string &a, const std::string &b);

} // namespace firn::runtime

#endif // FIRN_RUNTIME_COMMANDLINE_H
