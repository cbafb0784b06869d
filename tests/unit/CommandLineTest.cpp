//===- CommandLineTest.cpp - The compiled binary's command line -----------===//
//
// Every subcommand and option of issue 4, both `--name VALUE` and
// `--name=VALUE`, the help texts, and every error message.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/CommandLine.h"

#include <gtest/gtest.h>

#include <chrono>

#include <string>
#include <vector>

using namespace firn::runtime;

namespace {

bool parse(std::vector<const char *> args, CommandLine &out,
           std::string &error) {
  args.insert(args.begin(), "/path/to/tinynet");
  return parseCommandLine(int(args.size()), args.data(), out, error);
}

CommandLine parseOk(std::vector<const char *> args) {
  CommandLine cl;
  std::string error;
  EXPECT_TRUE(parse(args, cl, error)) << error;
  return cl;
}

std::string parseError(std::vector<const char *> args) {
  CommandLine cl;
  cl.x = "untouched";
  std::string error;
  EXPECT_FALSE(parse(args, cl, error));
  EXPECT_EQ(cl.x, "untouched");
  return error;
}

//===----------------------------------------------------------------------===//
// Valid command lines
//===----------------------------------------------------------------------===//

TEST(CommandLineTest, TrainWithEveryOption) {
  CommandLine cl =
      parseOk({"train", "--x", "data/x.npy", "--y=data/y.npy", "--init", "a.st",
               "--batch-size", "64", "--steps", "500", "--accumulate", "4",
               "--save", "ckpt.safetensors", "--save-grads", "--seed", "0",
               "--drop-last", "--shuffle"});
  EXPECT_EQ(cl.program, "tinynet");
  EXPECT_EQ(cl.command, Command::Train);
  EXPECT_FALSE(cl.help);
  EXPECT_EQ(cl.x, "data/x.npy");
  EXPECT_EQ(cl.y, "data/y.npy");
  EXPECT_EQ(cl.init, "a.st");
  EXPECT_EQ(cl.batchSize, 64);
  EXPECT_EQ(cl.steps, 500);
  EXPECT_EQ(cl.epochs, 0);
  EXPECT_EQ(cl.accumulate, 4);
  EXPECT_EQ(cl.save, "ckpt.safetensors");
  EXPECT_TRUE(cl.saveGrads);
  ASSERT_TRUE(cl.seed.has_value());
  EXPECT_EQ(*cl.seed, 0u);
  EXPECT_TRUE(cl.dropLast);
  EXPECT_TRUE(cl.shuffle);
  EXPECT_EQ(cl.evalX, "");
  EXPECT_EQ(cl.metrics, "");
}

TEST(CommandLineTest, NonFiniteAndCheckpointOptions) {
  CommandLine cl = parseOk({"train", "--x", "x.npy"});
  EXPECT_EQ(cl.onNonFinite, NonFinitePolicy::Stop);
  EXPECT_FALSE(cl.allowNonFinite);
  EXPECT_FALSE(cl.allowMissingState);
  EXPECT_EQ(cl.saveEvery, 0);
  EXPECT_FALSE(cl.saveEveryEpoch);
  cl = parseOk({"train", "--x", "x.npy", "--on-nonfinite=skip",
                "--allow-nonfinite", "--allow-missing-state", "--save", "c",
                "--save-every", "25", "--save-every-epoch"});
  EXPECT_EQ(cl.onNonFinite, NonFinitePolicy::Skip);
  EXPECT_TRUE(cl.allowNonFinite);
  EXPECT_TRUE(cl.allowMissingState);
  EXPECT_EQ(cl.saveEvery, 25);
  EXPECT_TRUE(cl.saveEveryEpoch);
  EXPECT_EQ(parseOk({"train", "--x", "x", "--on-nonfinite", "ignore"})
                .onNonFinite,
            NonFinitePolicy::Ignore);
  EXPECT_EQ(parseOk({"train", "--x", "x", "--on-nonfinite", "stop"})
                .onNonFinite,
            NonFinitePolicy::Stop);
  EXPECT_TRUE(parseOk({"eval", "--x", "x", "--y", "y", "--init", "c",
                       "--allow-nonfinite"})
                  .allowNonFinite);
  EXPECT_EQ(parseError({"train", "--x", "x", "--on-nonfinite", "halt"}),
            "--on-nonfinite expects stop, skip or ignore, not 'halt'");
  EXPECT_EQ(parseError({"train", "--x", "x", "--save-every", "10"}),
            "--save-every needs --save CKPT (the file the periodic "
            "checkpoints replace)");
  EXPECT_EQ(parseError({"train", "--x", "x", "--save-every-epoch"}),
            "--save-every-epoch needs --save CKPT (the file the periodic "
            "checkpoints replace)");
  EXPECT_EQ(parseError({"train", "--x", "x", "--save", "c", "--save-every",
                        "0"}),
            "--save-every must be a positive integer, not 0");
  EXPECT_EQ(parseError({"eval", "--x", "x", "--y", "y", "--init", "c",
                        "--allow-missing-state"}),
            "eval does not take --allow-missing-state (train does)");
}

TEST(CommandLineTest, TrainWithEvaluationAndMetrics) {
  CommandLine cl = parseOk({"train", "--x", "x.npy", "--eval-x", "vx.npy",
                            "--eval-y=vy.npy", "--metrics", "run.csv"});
  EXPECT_EQ(cl.evalX, "vx.npy");
  EXPECT_EQ(cl.evalY, "vy.npy");
  EXPECT_EQ(cl.metrics, "run.csv");
  // The extension is the trainer's to check (metricsFormatOf).
  cl = parseOk({"train", "--x", "x.npy", "--metrics=log.txt"});
  EXPECT_EQ(cl.metrics, "log.txt");
}

TEST(CommandLineTest, EvalDataNeedsInputsAndTargets) {
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--eval-x", "vx.npy"}),
            "--eval-x needs --eval-y Y.npy (the targets of the evaluation "
            "inputs): give both or neither");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--eval-y", "vy.npy"}),
            "--eval-y needs --eval-x X.npy (the evaluation inputs): give "
            "both or neither");
  EXPECT_EQ(parseError({"eval", "--init", "c", "--x", "x.npy", "--y", "y.npy",
                        "--eval-x", "vx.npy"}),
            "eval does not take --eval-x (train does)");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--metrics"}),
            "--metrics needs a value: --metrics FILE");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--metric", "m.csv"}),
            "unknown option '--metric' for train; did you mean '--metrics'?");
}

TEST(CommandLineTest, TrainDefaults) {
  CommandLine cl = parseOk({"train", "--x", "x.npy"});
  EXPECT_EQ(cl.epochs, 1) << "neither --steps nor --epochs: one epoch";
  EXPECT_EQ(cl.steps, 0);
  EXPECT_EQ(cl.batchSize, 0);
  EXPECT_EQ(cl.accumulate, 0);
  EXPECT_FALSE(cl.seed.has_value());
  EXPECT_FALSE(cl.saveGrads || cl.dropLast || cl.shuffle);
  EXPECT_EQ(cl.y, "");

  cl = parseOk({"train", "--epochs=3", "--x", "x.npy"});
  EXPECT_EQ(cl.epochs, 3);
  EXPECT_EQ(cl.steps, 0);
}

TEST(CommandLineTest, LargestSeed) {
  CommandLine cl =
      parseOk({"train", "--x", "x.npy", "--seed", "18446744073709551615"});
  EXPECT_EQ(*cl.seed, UINT64_MAX);
}

TEST(CommandLineTest, PredictEvalInfo) {
  CommandLine cl = parseOk({"predict", "--init", "c.st", "--x", "x.npy",
                            "--out", "p.npy", "--batch-size", "7"});
  EXPECT_EQ(cl.command, Command::Predict);
  EXPECT_EQ(cl.out, "p.npy");
  EXPECT_EQ(cl.batchSize, 7);
  EXPECT_EQ(cl.epochs, 0);

  cl = parseOk({"eval", "--init", "c.st", "--x", "x.npy", "--y", "y.npy"});
  EXPECT_EQ(cl.command, Command::Eval);
  EXPECT_EQ(cl.y, "y.npy");

  cl = parseOk({"info"});
  EXPECT_EQ(cl.command, Command::Info);
}

TEST(CommandLineTest, PathsMayStartWithOneDash) {
  CommandLine cl = parseOk({"train", "--x", "-weird.npy"});
  EXPECT_EQ(cl.x, "-weird.npy");
}

TEST(CommandLineTest, ProgramNameWithoutDirectory) {
  const char *argv[] = {"tinynet", "info"};
  CommandLine cl;
  std::string error;
  ASSERT_TRUE(parseCommandLine(2, argv, cl, error)) << error;
  EXPECT_EQ(cl.program, "tinynet");
}

//===----------------------------------------------------------------------===//
// Help
//===----------------------------------------------------------------------===//

TEST(CommandLineTest, HelpFlags) {
  CommandLine cl = parseOk({"--help"});
  EXPECT_TRUE(cl.help);
  EXPECT_EQ(cl.command, Command::None);
  cl = parseOk({"-h"});
  EXPECT_TRUE(cl.help);
  // --help after a subcommand wins over any other mistake.
  cl = parseOk({"train", "--bogus", "--help"});
  EXPECT_TRUE(cl.help);
  EXPECT_EQ(cl.command, Command::Train);
  cl = parseOk({"info", "-h"});
  EXPECT_TRUE(cl.help);
  EXPECT_EQ(cl.command, Command::Info);
}

TEST(CommandLineTest, OverviewHelpListsSubcommands) {
  const std::string text = helpText("tinynet", Command::None);
  EXPECT_EQ(text.rfind("usage: tinynet SUBCOMMAND [OPTIONS]\n", 0), 0u);
  for (const char *name : {"train", "predict", "eval", "info"})
    EXPECT_NE(text.find(std::string("  ") + name), std::string::npos) << name;
  EXPECT_NE(text.find("tinynet SUBCOMMAND --help"), std::string::npos);
}

TEST(CommandLineTest, TrainHelpListsEveryOption) {
  const std::string text = helpText("tinynet", Command::Train);
  EXPECT_EQ(text.rfind("usage: tinynet train (--x X.npy | --input NAME=X.npy ...) "
                       "[--y Y.npy]\n"
                       "                     [--init CKPT] [--batch-size B] "
                       "[--steps N | --epochs E]\n"
                       "                     [--accumulate K] [--save CKPT] "
                       "[--save-every N]\n"
                       "                     [--save-every-epoch] [--save-grads] "
                       "[--seed S]\n"
                       "                     [--drop-last] [--shuffle] [--eval-x "
                       "X.npy --eval-y Y.npy]\n"
                       "                     [--metrics FILE] [--on-nonfinite WHAT] "
                       "[--allow-nonfinite]\n"
                       "                     [--allow-missing-state] [--bucket-mb MB] "
                       "[--no-overlap]\n"
                       "                     [--zero1]\n"
                       "\nTrain the model on .npy data.\n\nOptions:\n",
                       0),
            0u)
      << text;
  for (size_t begin = 0, end;
       (end = text.find('\n', begin)) != text.find("\nTrain"); begin = end + 1)
    EXPECT_LT(end - begin, 80u) << "usage lines fit in 80 columns";
  for (const char *option :
       {"--x X.npy", "--y Y.npy", "--init CKPT", "--batch-size B", "--steps N",
        "--epochs E", "--accumulate K", "--save CKPT", "--save-grads",
        "--seed S", "--drop-last", "--shuffle", "--eval-x X.npy",
        "--eval-y Y.npy", "--metrics FILE", "--save-every N",
        "--save-every-epoch", "--on-nonfinite WHAT", "--allow-nonfinite",
        "--allow-missing-state", "--bucket-mb MB", "--no-overlap", "--zero1", "--input NAME=X.npy",
        "--eval-input NAME=X.npy", "--help"})
    EXPECT_NE(text.find(std::string("\n  ") + option + " "), std::string::npos)
        << option << "\n"
        << text;
  EXPECT_EQ(text.find("--out"), std::string::npos);
  // One line per option, each with a description.
  size_t optionLines = 0;
  size_t pos = 0;
  while ((pos = text.find("\n  --", pos)) != std::string::npos) {
    ++optionLines;
    const size_t end = text.find('\n', pos + 1);
    EXPECT_GT(end - pos, 25u) << text.substr(pos, end - pos);
    pos = end;
  }
  EXPECT_EQ(optionLines, 26u);
}

TEST(CommandLineTest, DataParallelOptions) {
  CommandLine cl = parseOk({"train", "--x", "x.npy"});
  EXPECT_EQ(cl.bucketBytes, 0);
  EXPECT_FALSE(cl.noOverlap);
  EXPECT_FALSE(cl.zero1);
  cl = parseOk({"train", "--x", "x.npy", "--bucket-mb", "0.5", "--no-overlap",
                "--zero1"});
  EXPECT_EQ(cl.bucketBytes, 1 << 19);
  EXPECT_TRUE(cl.noOverlap);
  EXPECT_TRUE(cl.zero1);
  EXPECT_EQ(parseOk({"train", "--x", "x", "--bucket-mb=25"}).bucketBytes,
            25 << 20);
  for (const char *bad : {"0", "-1", "x", "1e7", "nan", "2MB"})
    EXPECT_EQ(parseError({"train", "--x", "x", "--bucket-mb", bad}),
              std::string("--bucket-mb takes a positive number of megabytes "
                          "(at most 1000000), not '") +
                  bad + "'")
        << bad;
}

TEST(CommandLineTest, SeveralInputsByName) {
  CommandLine cl = parseOk({"train", "--input", "ids=i.npy", "--input=mask=m.npy",
                            "--y", "y.npy"});
  ASSERT_EQ(cl.inputs.size(), 2u);
  EXPECT_EQ(cl.inputs[0], std::make_pair(std::string("ids"), std::string("i.npy")));
  EXPECT_EQ(cl.inputs[1], std::make_pair(std::string("mask"), std::string("m.npy")));
  EXPECT_EQ(cl.x, "");
  EXPECT_EQ(parseOk({"predict", "--input", "a=x=1.npy", "--init", "c", "--out", "p"})
                .inputs[0]
                .second,
            "x=1.npy");
  for (const char *bad : {"ids", "=i.npy", "ids="})
    EXPECT_EQ(parseError({"train", "--input", bad}),
              std::string("--input takes NAME=X.npy (the input's name in forward, "
                          "then its .npy file), not '") +
                  bad + "'")
        << bad;
  EXPECT_EQ(parseError({"train", "--input", "a=1.npy", "--input", "a=2.npy"}),
            "--input a is given twice");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--input", "a=1.npy"}),
            "--x and --input cannot be used together: a model with one input "
            "takes --x, one with several --input NAME=X.npy for each");
  EXPECT_EQ(parseError({"eval", "--y", "y", "--init", "c"}).rfind("eval needs --x", 0),
            0u);
  cl = parseOk({"train", "--input", "a=1.npy", "--eval-input", "a=e.npy", "--eval-y",
                "ey.npy"});
  ASSERT_EQ(cl.evalInputs.size(), 1u);
  EXPECT_EQ(cl.evalInputs[0].second, "e.npy");
  EXPECT_EQ(parseError({"train", "--x", "x", "--eval-input", "a=e.npy"}),
            "--eval-x needs --eval-y Y.npy (the targets of the evaluation inputs): "
            "give both or neither");
  EXPECT_EQ(parseError({"train", "--x", "x", "--eval-x", "e", "--eval-input", "a=e.npy",
                        "--eval-y", "y"}),
            "--eval-x and --eval-input cannot be used together: a model with one "
            "input takes --eval-x, one with several --eval-input NAME=X.npy for each");
  EXPECT_EQ(parseError({"train", "--x", "x", "--eval-input", "a"}),
            "--eval-input takes NAME=X.npy (the input's name in forward, then its "
            ".npy file), not 'a'");
}

TEST(CommandLineTest, PredictEvalInfoHelp) {
  EXPECT_EQ(helpText("m", Command::Predict)
                .rfind("usage: m predict (--x X.npy | --input NAME=X.npy ...) "
                       "--init CKPT --out P.npy\n",
                       0),
            0u)
      << helpText("m", Command::Predict);
  EXPECT_EQ(helpText("m", Command::Eval)
                .rfind("usage: m eval (--x X.npy | --input NAME=X.npy ...) --y "
                       "Y.npy --init CKPT\n",
                       0),
            0u)
      << helpText("m", Command::Eval);
  const std::string info = helpText("m", Command::Info);
  EXPECT_EQ(info.rfind("usage: m info\n", 0), 0u) << info;
  EXPECT_NE(info.find("--help"), std::string::npos);
  EXPECT_NE(helpText("m", Command::Predict).find("(required)"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

TEST(CommandLineTest, NoSubcommand) {
  EXPECT_EQ(parseError({}), "no subcommand given (expected train, predict, "
                            "eval or info); see 'tinynet --help'");
  EXPECT_EQ(parseError({"--x", "a.npy"}),
            "expected a subcommand (train, predict, eval or info) before "
            "'--x'; see 'tinynet --help'");
}

TEST(CommandLineTest, UnknownSubcommand) {
  EXPECT_EQ(parseError({"trian"}),
            "unknown subcommand 'trian'; did you mean 'train'?");
  EXPECT_EQ(parseError({"evaluate"}),
            "unknown subcommand 'evaluate' (expected train, predict, eval or "
            "info)");
  EXPECT_EQ(parseError({"prdict"}),
            "unknown subcommand 'prdict'; did you mean 'predict'?");
}

TEST(CommandLineTest, UnknownOptionSuggestsTheNearest) {
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--epoch", "3"}),
            "unknown option '--epoch' for train; did you mean '--epochs'?");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--batchsize=3"}),
            "unknown option '--batchsize' for train; did you mean "
            "'--batch-size'?");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--learning-rate", "3"}),
            "unknown option '--learning-rate' for train");
  EXPECT_EQ(parseError({"eval", "--hlep"}),
            "unknown option '--hlep' for eval; did you mean '--help'?");
}

/// A huge unknown option (a pasted blob) is rejected at once: the
/// suggestion skips options whose length alone rules them out, instead of
/// filling a distance table of 10^6 rows per option.
TEST(CommandLineTest, AHugeUnknownOptionIsRejectedQuickly) {
  const std::string huge(1 << 20, 'z');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(parseError({"train", "--x", "x.npy", ("--" + huge).c_str()}),
            "unknown option '--" + huge + "' for train");
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  EXPECT_LT(seconds, 0.5); // ~5 ms; 1.7 s (and 1.5 GB) with the full tables
}

TEST(CommandLineTest, OptionOfAnotherSubcommand) {
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--out", "p.npy"}),
            "train does not take --out (predict does)");
  EXPECT_EQ(parseError({"predict", "--shuffle"}),
            "predict does not take --shuffle (train does)");
  EXPECT_EQ(parseError({"predict", "--y", "y.npy"}),
            "predict does not take --y (train or eval does)");
  EXPECT_EQ(parseError({"info", "--x", "x.npy"}),
            "info does not take --x (train, predict or eval does)");
}

TEST(CommandLineTest, SingleDashAndPositionalArguments) {
  EXPECT_EQ(parseError({"train", "-x", "x.npy"}),
            "options start with two dashes: did you mean '--x'?");
  EXPECT_EQ(parseError({"train", "-q"}), "unknown option '-q' for train");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "y.npy"}),
            "unexpected argument 'y.npy' (train takes only options, which "
            "start with --)");
  EXPECT_EQ(parseError({"info", "--"}),
            "unexpected argument '--' (info takes only options, which start "
            "with --)");
}

TEST(CommandLineTest, MissingValue) {
  EXPECT_EQ(parseError({"train", "--x"}), "--x needs a value: --x X.npy");
  EXPECT_EQ(parseError({"train", "--x", "--y", "y.npy"}),
            "--x needs a value: --x X.npy");
  EXPECT_EQ(parseError({"train", "--x="}), "--x needs a value: --x X.npy");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--batch-size"}),
            "--batch-size needs a value: --batch-size B");
}

TEST(CommandLineTest, FlagWithAValue) {
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--shuffle=yes"}),
            "--shuffle takes no value (remove '=yes')");
}

TEST(CommandLineTest, BadNumbers) {
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--batch-size", "abc"}),
            "--batch-size expects a positive integer, not 'abc'");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--batch-size", "0"}),
            "--batch-size must be a positive integer, not 0");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--steps", "-5"}),
            "--steps must be a positive integer, not -5");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--epochs=2.5"}),
            "--epochs expects a positive integer, not '2.5'");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--accumulate", "+3"}),
            "--accumulate expects a positive integer, not '+3'");
  EXPECT_EQ(
      parseError({"train", "--x", "x.npy", "--steps", "9223372036854775808"}),
      "--steps 9223372036854775808 is too large (at most "
      "9223372036854775807)");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--seed", "-1"}),
            "--seed must be a non-negative integer, not -1");
  EXPECT_EQ(parseError({"train", "--x", "x.npy", "--seed", "0x10"}),
            "--seed expects a non-negative integer, not '0x10'");
  EXPECT_EQ(
      parseError({"train", "--x", "x.npy", "--seed", "18446744073709551616"}),
      "--seed 18446744073709551616 is too large (at most "
      "18446744073709551615)");
}

TEST(CommandLineTest, StepsWithEpochs) {
  EXPECT_EQ(
      parseError({"train", "--x", "x.npy", "--steps", "10", "--epochs", "2"}),
      "--steps and --epochs cannot be used together: give one of them");
}

TEST(CommandLineTest, RepeatedOption) {
  EXPECT_EQ(parseError({"train", "--x", "a.npy", "--x", "b.npy"}),
            "--x is given twice");
  EXPECT_EQ(parseError({"train", "--x", "a.npy", "--shuffle", "--shuffle"}),
            "--shuffle is given twice");
}

TEST(CommandLineTest, MissingRequiredOption) {
  EXPECT_EQ(parseError({"train"}),
            "train needs --x X.npy (the inputs: a float32 .npy array whose "
            "first axis indexes the samples)");
  EXPECT_EQ(parseError({"predict", "--x", "x.npy", "--out", "p.npy"}),
            "predict needs --init CKPT (start from this safetensors file: "
            "parameters only (as PyTorch saves them) or a full checkpoint)");
  EXPECT_EQ(parseError({"predict", "--x", "x.npy", "--init", "c"}),
            "predict needs --out P.npy (write the model's outputs to this "
            ".npy file)");
  EXPECT_EQ(parseError({"eval", "--x", "x.npy", "--init", "c"}),
            "eval needs --y Y.npy (the targets: an .npy array with one "
            "target per sample (int64 class indices or float32 values))");
}

TEST(CommandLineTest, EditDistance) {
  EXPECT_EQ(editDistance("", ""), 0);
  EXPECT_EQ(editDistance("epochs", "epochs"), 0);
  EXPECT_EQ(editDistance("epoch", "epochs"), 1);
  EXPECT_EQ(editDistance("trian", "train"), 1) << "a swap counts once";
  EXPECT_EQ(editDistance("batchsize", "batch-size"), 1);
  EXPECT_EQ(editDistance("abc", ""), 3);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3);
}

TEST(CommandLineTest, CommandNames) {
  EXPECT_STREQ(commandName(Command::Train), "train");
  EXPECT_STREQ(commandName(Command::Predict), "predict");
  EXPECT_STREQ(commandName(Command::Eval), "eval");
  EXPECT_STREQ(commandName(Command::Info), "info");
  EXPECT_STREQ(commandName(Command::None), "");
}

} // namespace
