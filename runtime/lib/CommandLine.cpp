//===- CommandLine.cpp - The compiled binary's command line ---------------===//
//
// See CommandLine.h. One table lists every option: its name, which
// subcommands take it and require it, the kind of its value and its help
// line; the parser and the help text are both driven by it, so they cannot
// disagree.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/CommandLine.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace firn::runtime {

namespace {

/// Subcommands as bits, for the option table.
enum : unsigned { kTrain = 1, kPredict = 2, kEval = 4, kInfo = 8 };

enum class OptionId {
  X,
  Y,
  Init,
  Out,
  BatchSize,
  Steps,
  Epochs,
  Accumulate,
  Save,
  SaveGrads,
  Seed,
  DropLast,
  Shuffle,
  EvalX,
  EvalY,
  Metrics,
  OnNonFinite,
  AllowNonFinite,
  AllowMissingState,
  SaveEvery,
  SaveEveryEpoch,
  BucketMb,
  NoOverlap,
  Zero1,
  Input,
  EvalInput,
};

enum class ValueKind { Path, Positive, Seed, Flag, Policy, Megabytes };

struct OptionSpec {
  OptionId id;
  /// Without the leading "--".
  const char *name;
  /// The value's placeholder in help; empty for a flag.
  const char *metavar;
  ValueKind kind;
  /// The subcommands that take it and those that require it.
  unsigned takenBy;
  unsigned requiredBy;
  const char *help;
};

const OptionSpec kOptions[] = {
    {OptionId::X, "x", "X.npy", ValueKind::Path, kTrain | kPredict | kEval,
     kTrain | kPredict | kEval,
     "the inputs: a float32 .npy array whose first axis indexes the samples"},
    {OptionId::Input, "input", "NAME=X.npy", ValueKind::Path,
     kTrain | kPredict | kEval, 0,
     "for a model with several inputs, instead of --x: the .npy array of the "
     "input forward names NAME; once per input"},
    {OptionId::Y, "y", "Y.npy", ValueKind::Path, kTrain | kEval, kEval,
     "the targets: an .npy array with one target per sample (int64 class "
     "indices or float32 values)"},
    {OptionId::Init, "init", "CKPT", ValueKind::Path, kTrain | kPredict | kEval,
     kPredict | kEval,
     "start from this safetensors file: parameters only (as PyTorch saves "
     "them) or a full checkpoint"},
    {OptionId::Out, "out", "P.npy", ValueKind::Path, kPredict, kPredict,
     "write the model's outputs to this .npy file"},
    {OptionId::BatchSize, "batch-size", "B", ValueKind::Positive,
     kTrain | kPredict | kEval, 0, "the number of samples per batch"},
    {OptionId::Steps, "steps", "N", ValueKind::Positive, kTrain, 0,
     "train for N optimizer steps (instead of --epochs)"},
    {OptionId::Epochs, "epochs", "E", ValueKind::Positive, kTrain, 0,
     "train for E passes over the data (the default is 1)"},
    {OptionId::Accumulate, "accumulate", "K", ValueKind::Positive, kTrain, 0,
     "sum the gradients of K batches before each optimizer step (the "
     "default is the model's)"},
    {OptionId::Save, "save", "CKPT", ValueKind::Path, kTrain, 0,
     "write a checkpoint (parameters, optimizer state) here at the end, or "
     "when SIGINT/SIGTERM stops training"},
    {OptionId::SaveEvery, "save-every", "N", ValueKind::Positive, kTrain, 0,
     "also replace --save with a checkpoint after every N-th step"},
    {OptionId::SaveEveryEpoch, "save-every-epoch", "", ValueKind::Flag, kTrain,
     0, "also replace --save with a checkpoint after each epoch"},
    {OptionId::SaveGrads, "save-grads", "", ValueKind::Flag, kTrain, 0,
     "also save the gradients in the checkpoint, as grad/<name>"},
    {OptionId::Seed, "seed", "S", ValueKind::Seed, kTrain, 0,
     "the random seed for dropout and shuffling (the default is the "
     "model's)"},
    {OptionId::DropLast, "drop-last", "", ValueKind::Flag, kTrain, 0,
     "skip the samples left over when the batch size does not divide them"},
    {OptionId::Shuffle, "shuffle", "", ValueKind::Flag, kTrain, 0,
     "visit the samples in a new random order, fixed by the seed, each "
     "epoch"},
    {OptionId::EvalX, "eval-x", "X.npy", ValueKind::Path, kTrain, 0,
     "evaluate on these inputs after each epoch (ReduceLROnPlateau then "
     "steps on their loss)"},
    {OptionId::EvalInput, "eval-input", "NAME=X.npy", ValueKind::Path, kTrain, 0,
     "for a model with several inputs, instead of --eval-x: the evaluation "
     "array of input NAME; once per input"},
    {OptionId::EvalY, "eval-y", "Y.npy", ValueKind::Path, kTrain, 0,
     "the targets of --eval-x"},
    {OptionId::Metrics, "metrics", "FILE", ValueKind::Path, kTrain, 0,
     "write a record per step and per epoch to FILE, .csv or .jsonl "
     "(appended when resuming)"},
    {OptionId::OnNonFinite, "on-nonfinite", "WHAT", ValueKind::Policy, kTrain,
     0,
     "on a NaN or infinite loss: stop (the default: exit, saving nothing), "
     "skip (leave out the step's update) or ignore (train on)"},
    {OptionId::AllowNonFinite, "allow-nonfinite", "", ValueKind::Flag,
     kTrain | kPredict | kEval, 0,
     "load an --init checkpoint that holds NaN or infinite values"},
    {OptionId::AllowMissingState, "allow-missing-state", "", ValueKind::Flag,
     kTrain, 0,
     "resume from a checkpoint that lacks some optimizer state (it starts "
     "from its initial value)"},
    {OptionId::BucketMb, "bucket-mb", "MB", ValueKind::Megabytes, kTrain, 0,
     "under mpirun: send the gradients in buckets of about MB megabytes "
     "(the default is a quarter of them, from 1 to DDP's 25; the first "
     "bucket 1)"},
    {OptionId::NoOverlap, "no-overlap", "", ValueKind::Flag, kTrain, 0,
     "under mpirun: send the gradients only after the backward pass, not "
     "during it (to measure what overlapping saves)"},
    {OptionId::Zero1, "zero1", "", ValueKind::Flag, kTrain, 0,
     "under mpirun: each rank holds and updates only its share of the "
     "optimizer state (ZeRO stage 1; `info` shows the memory per rank)"},
};

struct CommandSpec {
  Command command;
  unsigned bit;
  const char *summary;
};

const CommandSpec kCommands[] = {
    {Command::Train, kTrain, "train the model on .npy data"},
    {Command::Predict, kPredict, "run the model on inputs, write its outputs"},
    {Command::Eval, kEval, "report the loss (and accuracy) on a data set"},
    {Command::Info, kInfo,
     "list the parameters, their shapes, which are frozen, the optimizers"},
};

unsigned commandBit(Command command) {
  for (const CommandSpec &c : kCommands)
    if (c.command == command)
      return c.bit;
  return 0;
}

const OptionSpec *findOption(const std::string &name) {
  for (const OptionSpec &o : kOptions)
    if (name == o.name)
      return &o;
  return nullptr;
}

/// The subcommands whose bits are in `bits`, as "train or eval".
std::string commandList(unsigned bits) {
  std::vector<std::string> names;
  for (const CommandSpec &c : kCommands)
    if (bits & c.bit)
      names.push_back(commandName(c.command));
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i)
      s += i + 1 == names.size() ? " or " : ", ";
    s += names[i];
  }
  return s;
}

/// The candidate nearest to `word` if it is at most two edits away (and
/// fewer edits than `word` has characters, so that "-q" does not suggest
/// "--x"), else "".
std::string nearest(const std::string &word,
                    const std::vector<std::string> &candidates) {
  std::string best;
  int bestDistance = 3;
  for (const std::string &candidate : candidates) {
    // The distance is at least the difference in length: a word far longer
    // than every option (a pasted blob) costs nothing to reject.
    const size_t shorter = std::min(word.size(), candidate.size());
    if (std::max(word.size(), candidate.size()) - shorter >= size_t(bestDistance))
      continue;
    const int d = editDistance(word, candidate);
    if (d < bestDistance && d < int(word.size())) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best;
}

/// Positive decimal integer (or, for a seed, any non-negative one that fits
/// in 64 bits).
bool parseNumber(const std::string &option, const std::string &text,
                 bool allowZero, uint64_t limit, uint64_t &out,
                 std::string &error) {
  const char *expected =
      allowZero ? "a non-negative integer" : "a positive integer";
  if (!text.empty() && text[0] == '-' && text.size() > 1 &&
      std::all_of(text.begin() + 1, text.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    error = "--" + option + " must be " + expected + ", not " + text;
    return false;
  }
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    error = "--" + option + " expects " + expected + ", not '" + text + "'";
    return false;
  }
  uint64_t value = 0;
  for (char c : text) {
    const uint64_t digit = uint64_t(c - '0');
    if (value > (limit - digit) / 10) {
      error = "--" + option + " " + text + " is too large (at most " +
              std::to_string(limit) + ")";
      return false;
    }
    value = value * 10 + digit;
  }
  if (value == 0 && !allowZero) {
    error = "--" + option + " must be a positive integer, not " + text;
    return false;
  }
  out = value;
  return true;
}

/// Stores the value of `option` into `out`.
bool setOption(const OptionSpec &option, const std::string &value,
               CommandLine &out, std::string &error) {
  uint64_t number = 0;
  if (option.kind == ValueKind::Positive &&
      !parseNumber(option.name, value, false, uint64_t(INT64_MAX), number,
                   error))
    return false;
  if (option.kind == ValueKind::Seed &&
      !parseNumber(option.name, value, true, UINT64_MAX, number, error))
    return false;
  if (option.kind == ValueKind::Policy &&
      !parseNonFinitePolicy(value, out.onNonFinite)) {
    error = "--" + std::string(option.name) +
            " expects stop, skip or ignore, not '" + value + "'";
    return false;
  }
  switch (option.id) {
  case OptionId::X:
    out.x = value;
    break;
  case OptionId::Y:
    out.y = value;
    break;
  case OptionId::Init:
    out.init = value;
    break;
  case OptionId::Out:
    out.out = value;
    break;
  case OptionId::Save:
    out.save = value;
    break;
  case OptionId::EvalX:
    out.evalX = value;
    break;
  case OptionId::EvalY:
    out.evalY = value;
    break;
  case OptionId::Metrics:
    out.metrics = value;
    break;
  case OptionId::BatchSize:
    out.batchSize = int64_t(number);
    break;
  case OptionId::Steps:
    out.steps = int64_t(number);
    break;
  case OptionId::Epochs:
    out.epochs = int64_t(number);
    break;
  case OptionId::Accumulate:
    out.accumulate = int64_t(number);
    break;
  case OptionId::Seed:
    out.seed = number;
    break;
  case OptionId::SaveGrads:
    out.saveGrads = true;
    break;
  case OptionId::DropLast:
    out.dropLast = true;
    break;
  case OptionId::Shuffle:
    out.shuffle = true;
    break;
  case OptionId::SaveEvery:
    out.saveEvery = int64_t(number);
    break;
  case OptionId::SaveEveryEpoch:
    out.saveEveryEpoch = true;
    break;
  case OptionId::BucketMb: {
    // Megabytes as DDP's bucket_cap_mb: a decimal (0.25), at most a TB.
    char *end = nullptr;
    const double mb = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !(mb > 0) || mb > 1e6) {
      error = "--bucket-mb takes a positive number of megabytes (at most "
              "1000000), not '" + value + "'";
      return false;
    }
    out.bucketBytes = std::max<int64_t>(4, std::llround(mb * (1 << 20)));
    break;
  }
  case OptionId::NoOverlap:
    out.noOverlap = true;
    break;
  case OptionId::Zero1:
    out.zero1 = true;
    break;
  case OptionId::Input:
  case OptionId::EvalInput: {
    auto &list = option.id == OptionId::Input ? out.inputs : out.evalInputs;
    const std::string flag = std::string("--") + option.name;
    const size_t equals = value.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == value.size()) {
      error = flag + " takes NAME=X.npy (the input's name in forward, then its "
                     ".npy file), not '" + value + "'";
      return false;
    }
    const std::string name = value.substr(0, equals);
    for (const auto &given : list)
      if (given.first == name) {
        error = flag + " " + name + " is given twice";
        return false;
      }
    list.push_back({name, value.substr(equals + 1)});
    break;
  }
  case OptionId::AllowNonFinite:
    out.allowNonFinite = true;
    break;
  case OptionId::AllowMissingState:
    out.allowMissingState = true;
    break;
  case OptionId::OnNonFinite:
    break; // Parsed above.
  }
  return true;
}

std::string baseName(const char *path) {
  if (!path || !*path)
    return "model";
  const char *slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

bool isHelp(const std::string &arg) { return arg == "--help" || arg == "-h"; }

/// Parses the subcommand name in `word`.
bool parseCommand(const std::string &word, const std::string &program,
                  Command &out, std::string &error) {
  std::vector<std::string> names;
  for (const CommandSpec &c : kCommands) {
    names.push_back(commandName(c.command));
    if (word == names.back()) {
      out = c.command;
      return true;
    }
  }
  if (!word.empty() && word[0] == '-') {
    error = "expected a subcommand (" + commandList(~0u) + ") before '" + word +
            "'; see '" + program + " --help'";
    return false;
  }
  error = "unknown subcommand '" + word + "'";
  const std::string suggestion = nearest(word, names);
  if (!suggestion.empty())
    error += "; did you mean '" + suggestion + "'?";
  else
    error += " (expected " + commandList(~0u) + ")";
  return false;
}

/// The message for an option `name` (without dashes) that `command` does not
/// take.
std::string unknownOption(const std::string &written, const std::string &name,
                          Command command) {
  const unsigned bit = commandBit(command);
  const std::string cmd = commandName(command);
  if (const OptionSpec *other = findOption(name))
    return cmd + " does not take --" + name + " (" +
           commandList(other->takenBy) + " does)";
  std::vector<std::string> candidates = {"help"};
  for (const OptionSpec &o : kOptions)
    if (o.takenBy & bit)
      candidates.push_back(o.name);
  std::string message = "unknown option '" + written + "' for " + cmd;
  const std::string suggestion = nearest(name, candidates);
  if (!suggestion.empty())
    message += "; did you mean '--" + suggestion + "'?";
  return message;
}

/// Parses the options after the subcommand, from argv[first].
bool parseOptions(int argc, const char *const *argv, int first,
                  CommandLine &out, std::string &error) {
  const unsigned bit = commandBit(out.command);
  std::vector<const OptionSpec *> seen;
  for (int i = first; i < argc; ++i) {
    const std::string arg = argv[i] ? argv[i] : "";
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      const bool singleDash = arg.size() > 1 && arg[0] == '-' && arg[1] != '-';
      if (singleDash && findOption(arg.substr(1))) {
        error = "options start with two dashes: did you mean '-" + arg + "'?";
        return false;
      }
      error = singleDash ? unknownOption(arg, arg.substr(1), out.command)
                         : "unexpected argument '" + arg + "' (" +
                               commandName(out.command) +
                               " takes only options, which start with --)";
      return false;
    }
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(
        2, equals == std::string::npos ? std::string::npos : equals - 2);
    const OptionSpec *option = findOption(name);
    if (!option || !(option->takenBy & bit)) {
      error = unknownOption(arg.substr(0, equals), name, out.command);
      return false;
    }
    if (option->id != OptionId::Input && option->id != OptionId::EvalInput &&
        // (once per input)
        std::find(seen.begin(), seen.end(), option) != seen.end()) {
      error = "--" + name + " is given twice";
      return false;
    }
    seen.push_back(option);

    std::string value;
    if (option->kind == ValueKind::Flag) {
      if (equals != std::string::npos) {
        error = "--" + name + " takes no value (remove '" + arg.substr(equals) +
                "')";
        return false;
      }
    } else if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
    } else if (i + 1 < argc && argv[i + 1] &&
               std::strncmp(argv[i + 1], "--", 2) != 0) {
      value = argv[++i];
    }
    if (option->kind != ValueKind::Flag && value.empty()) {
      error = "--" + name + " needs a value: --" + name + " " + option->metavar;
      return false;
    }
    if (!setOption(*option, value, out, error))
      return false;
  }
  return true;
}

/// The checks that involve several options.
bool checkCombination(CommandLine &out, std::string &error) {
  if (out.steps && out.epochs) {
    error = "--steps and --epochs cannot be used together: give one of them";
    return false;
  }
  if (!out.evalX.empty() && !out.evalInputs.empty()) {
    error = "--eval-x and --eval-input cannot be used together: a model with one "
            "input takes --eval-x, one with several --eval-input NAME=X.npy for "
            "each";
    return false;
  }
  if ((out.evalX.empty() && out.evalInputs.empty()) != out.evalY.empty()) {
    error = out.evalY.empty()
                ? "--eval-x needs --eval-y Y.npy (the targets of the "
                  "evaluation inputs): give both or neither"
                : "--eval-y needs --eval-x X.npy (the evaluation inputs): "
                  "give both or neither";
    return false;
  }
  if ((out.saveEvery || out.saveEveryEpoch) && out.save.empty()) {
    error = std::string(out.saveEvery ? "--save-every" : "--save-every-epoch") +
            " needs --save CKPT (the file the periodic checkpoints replace)";
    return false;
  }
  if (!out.x.empty() && !out.inputs.empty()) {
    error = "--x and --input cannot be used together: a model with one input "
            "takes --x, one with several --input NAME=X.npy for each";
    return false;
  }
  const unsigned bit = commandBit(out.command);
  for (const OptionSpec &o : kOptions) {
    if (!(o.requiredBy & bit) || (o.id == OptionId::X && !out.inputs.empty()))
      continue;
    const std::string *value = o.id == OptionId::X      ? &out.x
                               : o.id == OptionId::Y    ? &out.y
                               : o.id == OptionId::Init ? &out.init
                               : o.id == OptionId::Out  ? &out.out
                                                        : nullptr;
    if (value && value->empty()) {
      error = std::string(commandName(out.command)) + " needs --" + o.name +
              " " + o.metavar + " (" + o.help + ")";
      return false;
    }
  }
  if (out.command == Command::Train && !out.steps && !out.epochs)
    out.epochs = 1;
  return true;
}

} // namespace

const char *commandName(Command command) {
  switch (command) {
  case Command::None:
    return "";
  case Command::Train:
    return "train";
  case Command::Predict:
    return "predict";
  case Command::Eval:
    return "eval";
  case Command::Info:
    return "info";
  }
  return "";
}

int editDistance(const std::string &a, const std::string &b) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions.
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i)
    d[i][0] = int(i);
  for (size_t j = 0; j <= m; ++j)
    d[0][j] = int(j);
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] =
          std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

bool parseCommandLine(int argc, const char *const *argv, CommandLine &out,
                      std::string &error) {
  CommandLine result;
  result.program = baseName(argc > 0 ? argv[0] : nullptr);
  if (argc < 2) {
    error = "no subcommand given (expected " + commandList(~0u) + "); see '" +
            result.program + " --help'";
    return false;
  }
  const std::string first = argv[1] ? argv[1] : "";
  if (isHelp(first)) {
    result.help = true;
    out = std::move(result);
    return true;
  }
  if (!parseCommand(first, result.program, result.command, error))
    return false;
  // --help anywhere after the subcommand wins over everything else.
  for (int i = 2; i < argc; ++i)
    if (argv[i] && isHelp(argv[i])) {
      result.help = true;
      out = std::move(result);
      return true;
    }
  if (!parseOptions(argc, argv, 2, result, error) ||
      !checkCombination(result, error))
    return false;
  out = std::move(result);
  return true;
}

namespace {

/// The usage line of `command`, wrapped before 80 columns with continuation
/// lines indented under the first option.
std::string usageLine(const std::string &program, Command command) {
  const unsigned bit = commandBit(command);
  const std::string head = "usage: " + program + " " + commandName(command);
  std::string text = head;
  size_t lineStart = 0;
  for (const OptionSpec &o : kOptions) {
    if (!(o.takenBy & bit) || o.id == OptionId::Epochs ||
        o.id == OptionId::EvalY || o.id == OptionId::Input ||
        o.id == OptionId::EvalInput) // (listed below the usage line)
      continue;
    std::string usage = std::string("--") + o.name;
    if (*o.metavar)
      usage += std::string(" ") + o.metavar;
    if (o.id == OptionId::Steps)
      usage = "--steps N | --epochs E";
    if (o.id == OptionId::X) // One input, or several by name.
      usage = "(--x X.npy | --input NAME=X.npy ...)";
    if (o.id == OptionId::EvalX)
      usage = "--eval-x X.npy --eval-y Y.npy"; // Both or neither.
    if (!(o.requiredBy & bit))
      usage = "[" + usage + "]";
    if (text.size() - lineStart + 1 + usage.size() > 79) {
      text += "\n";
      lineStart = text.size();
      text += std::string(head.size(), ' ');
    }
    text += " " + usage;
  }
  return text + "\n";
}

} // namespace

std::string helpText(const std::string &program, Command command) {
  std::string text;
  if (command == Command::None) {
    text = "usage: " + program + " SUBCOMMAND [OPTIONS]\n\nSubcommands:\n";
    for (const CommandSpec &c : kCommands) {
      std::string name = commandName(c.command);
      name.resize(10, ' ');
      text += "  " + name + c.summary + "\n";
    }
    text += "\nRun '" + program +
            " SUBCOMMAND --help' for the options of a subcommand.\n";
    return text;
  }
  text = usageLine(program, command);
  for (const CommandSpec &c : kCommands)
    if (c.command == command) {
      std::string summary = c.summary;
      summary[0] = char(summary[0] - 'a' + 'A');
      text += "\n" + summary + ".\n\nOptions:\n";
    }
  const unsigned bit = commandBit(command);
  for (const OptionSpec &o : kOptions) {
    if (!(o.takenBy & bit))
      continue;
    std::string left = std::string("--") + o.name;
    if (*o.metavar)
      left += std::string(" ") + o.metavar;
    left.resize(std::max<size_t>(left.size() + 2, 20), ' ');
    text += "  " + left + o.help + ((o.requiredBy & bit) ? " (required)" : "") +
            "\n";
  }
  text += "  --help              show this help\n";
  if (command == Command::Train)
    text += "\nData-parallel: 'mpirun -np K " + program +
            " train ...' (Open MPI) trains on K processes; --batch-size is "
            "the global batch,\nwhich K must divide, gradients are averaged "
            "across them, and rank 0 prints and saves.\n";
  return text;
}

} // namespace firn::runtime
