//===- MetricsTest.cpp - Per-epoch evaluation and --metrics files --------===//
//
// `train --eval-x/--eval-y` and `--metrics FILE` (Trainer.h) on the fake
// linreg model of FakeModel.h, through firn_main: the exact CSV header and
// JSON keys, one record per epoch (and one for a run that stops inside an
// epoch), the lr columns, the evaluation columns only with evaluation data
// (and equal to what `eval` reports), appending when resuming a checkpoint
// and truncating otherwise, the option errors, and ReduceLROnPlateau stepped
// on the evaluation loss where it disagrees with the training loss.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Dataset.h"
#include "firn/Runtime/Main.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Safetensors.h"
#include "firn/Runtime/Trainer.h"

#include "FakeModel.h"
#include "TestDir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

using namespace firn::runtime;
using namespace firn::fake;

namespace {

/// The lines of `text`, without their newlines.
std::vector<std::string> lines(const std::string &text) {
  std::vector<std::string> out;
  size_t start = 0, end;
  while ((end = text.find('\n', start)) != std::string::npos) {
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (start < text.size())
    out.push_back(text.substr(start));
  return out;
}

/// The comma-separated cells of a CSV line.
std::vector<std::string> cells(const std::string &line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    out.push_back(line.substr(start, comma - start));
    if (comma == std::string::npos)
      return out;
    start = comma + 1;
  }
}

/// A CSV file as rows of column -> cell, checking that every row has one
/// cell per header column.
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  std::string at(size_t row, const std::string &column) const {
    for (size_t c = 0; c < header.size(); ++c)
      if (header[c] == column)
        return rows.at(row).at(c);
    ADD_FAILURE() << "no column " << column;
    return "";
  }
  double number(size_t row, const std::string &column) const {
    return std::strtod(at(row, column).c_str(), nullptr);
  }
};

/// linreg with a ReduceLROnPlateau on its one lr buffer (rate 0.1).
struct PlateauLinreg {
  firn_schedule_desc schedule{};
  firn_model_desc desc;

  explicit PlateauLinreg(const char *options) {
    static const int lrState[1] = {kLr};
    static const double base[1] = {0.1};
    schedule.name = "plateau";
    schedule.kind = "ReduceLROnPlateau";
    schedule.optimizer = "sgd";
    schedule.num_groups = 1;
    schedule.lr_states = lrState;
    schedule.base_lrs = base;
    schedule.options = options;
    desc = kLinreg;
    desc.num_schedules = 1;
    desc.schedules = &schedule;
  }
};

class MetricsTest : public ::testing::Test {
protected:
  std::string dir;
  std::string out, err;
  std::string x, y;

  void SetUp() override {
    calls = Calls();
    dir = firn::testing::freshTestDir("firn_metrics_");
    ASSERT_NE(dir, "");
    x = writeFloats("x.npy", {4, 2}, kX);
    y = writeFloats("y.npy", {4, 1}, kY);
  }
  void TearDown() override { firn::testing::removeTestDir(dir); }

  std::string writeFloats(const std::string &name, std::vector<int64_t> shape,
                          const std::vector<float> &values) {
    std::string error;
    EXPECT_TRUE(
        writeNpy(dir + name, TensorData::fromFloats(shape, values), error))
        << error;
    return dir + name;
  }

  std::string read(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  /// The CSV file's rows of kind `kind` ("epoch" or "step"; "" for all).
  Csv readCsv(const std::string &path, const std::string &kind = "epoch") {
    Csv csv;
    std::vector<std::string> all = lines(read(path));
    EXPECT_FALSE(all.empty()) << path;
    if (all.empty())
      return csv;
    csv.header = cells(all[0]);
    EXPECT_EQ(csv.header[0], "kind");
    for (size_t i = 1; i < all.size(); ++i) {
      std::vector<std::string> row = cells(all[i]);
      EXPECT_EQ(row.size(), csv.header.size()) << all[i];
      EXPECT_TRUE(row[0] == "step" || row[0] == "epoch") << all[i];
      if (kind.empty() || row[0] == kind)
        csv.rows.push_back(std::move(row));
    }
    return csv;
  }

  /// The JSON lines of kind `kind` in the file.
  std::vector<std::string> readJson(const std::string &path,
                                    const std::string &kind) {
    std::vector<std::string> out;
    for (const std::string &line : lines(read(path)))
      if (line.rfind("{\"kind\": \"" + kind + "\", ", 0) == 0)
        out.push_back(line);
    return out;
  }

  /// Runs firn_main as the program "linreg", keeping its stdout and stderr.
  int run(const firn_model_desc &model, std::vector<std::string> args) {
    return firn::testing::runFirnMain(model, "linreg", std::move(args), out,
                                      err);
  }

  /// `train` on x/y with batch 2 (2 optimizer steps per epoch) and `extra`.
  int train(const firn_model_desc &model, std::vector<std::string> extra) {
    std::vector<std::string> args = {"train", "--x",          x,  "--y",
                                     y,       "--batch-size", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(model, args);
  }
};

//===----------------------------------------------------------------------===//
// Formats
//===----------------------------------------------------------------------===//

TEST_F(MetricsTest, CsvHasOneRowPerEpoch) {
  std::string path = dir + "m.csv";
  ASSERT_EQ(train(kLinreg, {"--epochs", "3", "--metrics", path}), 0) << err;
  Csv csv = readCsv(path);
  EXPECT_EQ(csv.header,
            std::vector<std::string>({"kind", "epoch", "step", "train_loss",
                                      "lr/sgd/0", "samples_per_second",
                                      "seconds"}));
  ASSERT_EQ(csv.rows.size(), 3u);
  for (size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(csv.at(r, "epoch"), std::to_string(r + 1));
    EXPECT_EQ(csv.at(r, "step"), std::to_string(2 * (r + 1)));
    // The rate read from the f32 buffer, in float's shortest form.
    EXPECT_EQ(csv.at(r, "lr/sgd/0"), "0.1");
    EXPECT_GE(csv.number(r, "samples_per_second"), 0.0);
    EXPECT_GE(csv.number(r, "seconds"), 0.0);
    if (r) {
      EXPECT_GE(csv.number(r, "seconds"), csv.number(r - 1, "seconds"));
    }
  }
  // Epoch 1's training loss: the mean of its two micro-batch losses, the
  // second taken after the first SGD step.
  double w[2] = {kWInit[0], kWInit[1]}, b = kBInit;
  auto loss = [&](int first) {
    double sum = 0;
    for (int n = first; n < first + 2; ++n) {
      double e = w[0] * kX[2 * n] + w[1] * kX[2 * n + 1] + b - kY[n];
      sum += e * e;
    }
    return sum / 2;
  };
  double first = loss(0);
  std::vector<double> g = gradient(w, b, 0, 2);
  w[0] -= kLrInit * g[0];
  w[1] -= kLrInit * g[1];
  b -= kLrInit * g[2];
  double second = loss(2);
  EXPECT_NEAR(csv.number(0, "train_loss"), (first + second) / 2, 1e-5);
  // Training data only: no evaluation on the progress output.
  EXPECT_EQ(err.find("eval"), std::string::npos) << err;
}

TEST_F(MetricsTest, EvalColumnsOnlyWithEvalDataAndEqualToEval) {
  // Evaluation data: the first two samples, with other targets.
  std::string vx = writeFloats("vx.npy", {2, 2}, {kX[0], kX[1], kX[2], kX[3]});
  std::string vy = writeFloats("vy.npy", {2, 1}, {0.5f, 1.5f});
  std::string path = dir + "m.csv", ckpt = dir + "c.safetensors";
  ASSERT_EQ(train(kLinreg, {"--epochs", "2", "--eval-x", vx, "--eval-y", vy,
                            "--metrics", path, "--save", ckpt}),
            0)
      << err;
  Csv csv = readCsv(path);
  // Regression targets: a loss, no accuracy column.
  EXPECT_EQ(csv.header,
            std::vector<std::string>({"kind", "epoch", "step", "train_loss",
                                      "eval_loss", "lr/sgd/0",
                                      "samples_per_second", "seconds"}));
  ASSERT_EQ(csv.rows.size(), 2u);
  // Each epoch's evaluation on the progress output.
  EXPECT_NE(err.find("eval epoch 1 (step 2): loss "), std::string::npos) << err;
  EXPECT_NE(err.find("eval epoch 2 (step 4): loss "), std::string::npos) << err;
  // The last evaluation is what `eval` reports for the saved checkpoint.
  char text[64];
  std::snprintf(text, sizeof(text), "loss %.6f\n", csv.number(1, "eval_loss"));
  ASSERT_EQ(run(kLinreg, {"eval", "--init", ckpt, "--x", vx, "--y", vy}), 0)
      << err;
  EXPECT_EQ(out, text);
  // Evaluation is eval mode: eval_loss only, never a training kernel.
  EXPECT_EQ(calls.trainStep, 4);
}

TEST_F(MetricsTest, JsonLinesHaveTheColumnsInOrder) {
  std::string vx = writeFloats("vx.npy", {4, 2}, kX);
  for (const char *name : {"m.jsonl", "m.json"}) {
    std::string path = dir + name;
    ASSERT_EQ(train(kLinreg, {"--epochs", "2", "--metrics", path}), 0) << err;
    std::vector<std::string> records = readJson(path, "epoch");
    ASSERT_EQ(records.size(), 2u) << name;
    EXPECT_EQ(readJson(path, "step").size(), 4u) << name;
    EXPECT_EQ(lines(read(path)).size(), 6u) << name;
    for (size_t r = 0; r < 2; ++r) {
      const std::string &line = records[r];
      const std::string head = "{\"kind\": \"epoch\", \"epoch\": " +
                               std::to_string(r + 1) +
                               ", \"step\": " + std::to_string(2 * r + 2) +
                               ", \"train_loss\": ";
      EXPECT_EQ(line.rfind(head, 0), 0u) << line;
      size_t lr = line.find(", \"lr/sgd/0\": 0.1, \"samples_per_second\": ");
      size_t seconds = line.find(", \"seconds\": ");
      EXPECT_NE(lr, std::string::npos) << line;
      EXPECT_NE(seconds, std::string::npos) << line;
      EXPECT_LT(lr, seconds) << line;
      EXPECT_EQ(line.back(), '}') << line;
      EXPECT_EQ(line.find("eval"), std::string::npos) << line;
    }
  }
  std::string path = dir + "eval.jsonl";
  ASSERT_EQ(train(kLinreg, {"--epochs", "1", "--eval-x", vx, "--eval-y", y,
                            "--metrics", path}),
            0)
      << err;
  std::vector<std::string> records = readJson(path, "epoch");
  ASSERT_EQ(records.size(), 1u);
  size_t trainLoss = records[0].find("\"train_loss\": ");
  size_t evalLoss = records[0].find(", \"eval_loss\": ");
  size_t lr = records[0].find(", \"lr/sgd/0\": ");
  EXPECT_LT(trainLoss, evalLoss) << records[0];
  EXPECT_LT(evalLoss, lr) << records[0];
  EXPECT_EQ(records[0].find("eval_accuracy"), std::string::npos);
}

TEST_F(MetricsTest, StepsRunEndingInsideAnEpochWritesALastRecord) {
  std::string path = dir + "m.csv";
  std::string vx = writeFloats("vx.npy", {4, 2}, kX);
  ASSERT_EQ(train(kLinreg, {"--steps", "3", "--eval-x", vx, "--eval-y", y,
                            "--metrics", path}),
            0)
      << err;
  Csv csv = readCsv(path);
  ASSERT_EQ(csv.rows.size(), 2u);
  EXPECT_EQ(csv.at(0, "epoch"), "1");
  EXPECT_EQ(csv.at(0, "step"), "2");
  // The unfinished epoch 2, after its first micro-batch, evaluated too.
  EXPECT_EQ(csv.at(1, "epoch"), "2");
  EXPECT_EQ(csv.at(1, "step"), "3");
  EXPECT_NE(csv.at(1, "eval_loss"), "");
  EXPECT_NE(err.find("eval epoch 2 (step 3): loss "), std::string::npos) << err;

  // A --steps run that ends on an epoch's boundary writes no extra record.
  ASSERT_EQ(train(kLinreg, {"--steps", "4", "--metrics", path}), 0) << err;
  csv = readCsv(path);
  ASSERT_EQ(csv.rows.size(), 2u);
  EXPECT_EQ(csv.at(1, "epoch"), "2");
  EXPECT_EQ(csv.at(1, "step"), "4");
}

TEST_F(MetricsTest, EveryStepHasARecordWithItsLoss) {
  std::string path = dir + "m.csv";
  ASSERT_EQ(train(kLinreg, {"--epochs", "2", "--metrics", path}), 0) << err;
  Csv steps = readCsv(path, "step"), all = readCsv(path, "");
  ASSERT_EQ(steps.rows.size(), 4u);
  // In order: step 1, step 2, epoch 1, step 3, step 4, epoch 2.
  std::vector<std::string> kinds;
  for (const auto &row : all.rows)
    kinds.push_back(row[0]);
  EXPECT_EQ(kinds, std::vector<std::string>({"step", "step", "epoch", "step",
                                             "step", "epoch"}));
  // Each step's own loss (batch 2 of the data stream), by the SGD formulas
  // in double.
  double w[2] = {kWInit[0], kWInit[1]}, b = kBInit;
  for (size_t r = 0; r < 4; ++r) {
    const int first = int(2 * (r % 2));
    double loss = 0;
    for (int n = first; n < first + 2; ++n) {
      double e = w[0] * kX[2 * n] + w[1] * kX[2 * n + 1] + b - kY[n];
      loss += e * e / 2;
    }
    EXPECT_EQ(steps.at(r, "kind"), "step");
    EXPECT_EQ(steps.at(r, "step"), std::to_string(r + 1));
    EXPECT_EQ(steps.at(r, "epoch"), std::to_string(r / 2 + 1));
    EXPECT_EQ(steps.at(r, "lr/sgd/0"), "0.1");
    // Full precision (the float32 loss's shortest round-trip text): within
    // the few float32 roundings of the kernel's forward pass.
    EXPECT_NEAR(steps.number(r, "train_loss"), loss, 3e-7 * loss)
        << "step " << r + 1;
    EXPECT_GE(steps.number(r, "samples_per_second"), 0.0);
    std::vector<double> g = gradient(w, b, first, 2);
    w[0] -= kLrInit * g[0];
    w[1] -= kLrInit * g[1];
    b -= kLrInit * g[2];
  }
  // The epoch records' loss is the mean of their steps'.
  Csv epochs = readCsv(path);
  EXPECT_NEAR(epochs.number(0, "train_loss"),
              (steps.number(0, "train_loss") + steps.number(1, "train_loss")) /
                  2,
              1e-7);
}

TEST_F(MetricsTest, AFullDiskKeepsTheCheckpoint) {
  // JSON lines have no header: the first record hits the full disk in the
  // middle of training. Training goes on and saves; the status says the
  // metrics are incomplete.
  std::string full = dir + "full.jsonl", ckpt = dir + "c.safetensors";
  ASSERT_EQ(symlink("/dev/full", full.c_str()), 0);
  EXPECT_EQ(train(kLinreg, {"--epochs", "2", "--metrics", full, "--save",
                            ckpt}),
            1);
  EXPECT_NE(err.find("warning: cannot write the metrics file " + full +
                     ": No space left on device; training goes on without "
                     "writing metrics"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("linreg: error: cannot write the metrics file " + full +
                     ": No space left on device (training finished without "
                     "metrics; the checkpoint was saved)"),
            std::string::npos)
      << err;
  EXPECT_EQ(calls.trainStep, 4);
  SafetensorsFile file;
  std::string error;
  ASSERT_TRUE(readSafetensors(ckpt, file, error)) << error;
  EXPECT_EQ(file.metadata.at("step"), "4");
  // A CSV header already fails when the file opens: before any step.
  std::string csv = dir + "full.csv";
  ASSERT_EQ(symlink("/dev/full", csv.c_str()), 0);
  calls = Calls();
  EXPECT_EQ(train(kLinreg, {"--epochs", "2", "--metrics", csv}), 1);
  EXPECT_EQ(err, "linreg: error: cannot write the metrics file " + csv +
                     ": No space left on device\n");
  EXPECT_EQ(calls.trainStep, 0);
}

//===----------------------------------------------------------------------===//
// Resume
//===----------------------------------------------------------------------===//

TEST_F(MetricsTest, ResumingAppendsAndAFreshRunTruncates) {
  for (const char *name : {"m.csv", "m.jsonl"}) {
    std::string path = dir + name, ckpt = dir + "c.safetensors";
    ASSERT_EQ(
        train(kLinreg, {"--epochs", "1", "--metrics", path, "--save", ckpt}), 0)
        << err;
    ASSERT_EQ(
        train(kLinreg, {"--epochs", "2", "--metrics", path, "--init", ckpt}), 0)
        << err;
    const bool csv = std::string(name) == "m.csv";
    // One header (CSV), then epochs 1, 2 and 3 (and their steps): the
    // resumed run continues the numbering.
    ASSERT_EQ(lines(read(path)).size(), csv ? 10u : 9u) << name;
    if (csv) {
      Csv table = readCsv(path);
      for (size_t r = 0; r < 3; ++r) {
        EXPECT_EQ(table.at(r, "epoch"), std::to_string(r + 1));
        EXPECT_EQ(table.at(r, "step"), std::to_string(2 * r + 2));
      }
    } else {
      std::vector<std::string> epochs = readJson(path, "epoch");
      ASSERT_EQ(epochs.size(), 3u);
      EXPECT_EQ(epochs[2].rfind("{\"kind\": \"epoch\", \"epoch\": 3, "
                                "\"step\": 6, ",
                                0),
                0u)
          << epochs[2];
    }

    // A run that does not resume (no --init) starts the file again.
    ASSERT_EQ(train(kLinreg, {"--epochs", "1", "--metrics", path}), 0) << err;
    EXPECT_EQ(lines(read(path)).size(), csv ? 4u : 3u) << name;
  }
}

TEST_F(MetricsTest, InitFromAParametersFileIsAFreshRun) {
  // --init of a parameters-only file (step 0) is not a resume: truncated.
  std::string path = dir + "m.csv", params = dir + "p.safetensors";
  ModelState state(kLinreg);
  state.initialize(0);
  std::string error;
  ASSERT_TRUE(state.save(params, false, error)) << error;
  ASSERT_EQ(train(kLinreg, {"--epochs", "2", "--metrics", path}), 0) << err;
  ASSERT_EQ(
      train(kLinreg, {"--epochs", "1", "--metrics", path, "--init", params}), 0)
      << err;
  EXPECT_EQ(readCsv(path).rows.size(), 1u);
}

TEST_F(MetricsTest, AppendingKeepsTheHeader) {
  // The first run evaluated; the resumed one does not: its eval cells are
  // empty under the kept header.
  std::string vx = writeFloats("vx.npy", {4, 2}, kX);
  std::string path = dir + "m.csv", ckpt = dir + "c.safetensors";
  ASSERT_EQ(train(kLinreg, {"--epochs", "1", "--eval-x", vx, "--eval-y", y,
                            "--metrics", path, "--save", ckpt}),
            0)
      << err;
  ASSERT_EQ(
      train(kLinreg, {"--epochs", "1", "--metrics", path, "--init", ckpt}), 0)
      << err;
  Csv csv = readCsv(path);
  ASSERT_EQ(csv.rows.size(), 2u);
  EXPECT_NE(csv.at(0, "eval_loss"), "");
  EXPECT_EQ(csv.at(1, "eval_loss"), "");
  EXPECT_EQ(csv.at(1, "epoch"), "2");

  // The other way round a column is missing: an error, nothing trained.
  std::string plain = dir + "plain.csv";
  ASSERT_EQ(
      train(kLinreg, {"--epochs", "1", "--metrics", plain, "--save", ckpt}), 0)
      << err;
  calls = Calls();
  EXPECT_EQ(train(kLinreg, {"--epochs", "1", "--eval-x", vx, "--eval-y", y,
                            "--metrics", plain, "--init", ckpt}),
            1);
  EXPECT_EQ(err, "linreg: error: cannot append to the metrics file " + plain +
                     ": its header has no column 'eval_loss' (it was written "
                     "by a run with other options); write the metrics to a "
                     "new file\n");
  EXPECT_EQ(calls.trainStep, 0);
  EXPECT_EQ(readCsv(plain).rows.size(), 1u);
}

TEST_F(MetricsTest, AKilledRunsPartialLineIsEnded) {
  // A run killed while writing leaves a line without its newline; the
  // resumed run starts its records on a line of their own.
  std::string path = dir + "m.jsonl", ckpt = dir + "c.safetensors";
  ASSERT_EQ(
      train(kLinreg, {"--epochs", "1", "--metrics", path, "--save", ckpt}), 0)
      << err;
  {
    std::ofstream f(path, std::ios::app);
    f << "{\"epoch\": 2, \"st";
  }
  ASSERT_EQ(
      train(kLinreg, {"--epochs", "1", "--metrics", path, "--init", ckpt}), 0)
      << err;
  std::vector<std::string> all = lines(read(path));
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all[3], "{\"epoch\": 2, \"st");
  EXPECT_EQ(all[4].rfind("{\"kind\": \"step\", \"epoch\": 2, \"step\": 3, ", 0),
            0u)
      << all[4];
}

//===----------------------------------------------------------------------===//
// The writer and the columns
//===----------------------------------------------------------------------===//

TEST_F(MetricsTest, EachRecordIsFlushed) {
  std::string path = dir + "w.csv", error;
  MetricsWriter writer;
  std::vector<std::string> columns = {"kind",      "epoch",         "step",
                                      "train_loss", "eval_loss",
                                      "eval_accuracy", "seconds"};
  ASSERT_TRUE(writer.open(path, false, columns, error)) << error;
  EXPECT_EQ(read(path), "kind,epoch,step,train_loss,eval_loss,eval_accuracy,"
                        "seconds\n");
  MetricsRecord record = {{"epoch", 1},
                          {"step", 30},
                          {"train_loss", 0.25},
                          {"eval_accuracy", 0.75},
                          {"seconds", 1.0 / 3.0}};
  ASSERT_TRUE(writer.write("epoch", record, error)) << error;
  // Read while the writer is still open, as after a kill.
  EXPECT_EQ(read(path), "kind,epoch,step,train_loss,eval_loss,eval_accuracy,"
                        "seconds\nepoch,1,30,0.25,,0.75,0.3333333333333333\n");
  record[2].second = std::nan("");
  ASSERT_TRUE(writer.write("step", record, error)) << error;
  EXPECT_NE(read(path).find("\nstep,1,30,nan,,0.75,"), std::string::npos);
  writer.close();

  std::string json = dir + "w.jsonl";
  ASSERT_TRUE(writer.open(json, false, columns, error)) << error;
  EXPECT_EQ(read(json), "");
  ASSERT_TRUE(writer.write("step", record, error)) << error;
  EXPECT_EQ(read(json), "{\"kind\": \"step\", \"epoch\": 1, \"step\": 30, "
                        "\"train_loss\": null, \"eval_accuracy\": 0.75, "
                        "\"seconds\": 0.3333333333333333}\n");
}

TEST_F(MetricsTest, ColumnsFollowTheModelAndTheData) {
  EXPECT_EQ(metricsColumns(kLinreg, false, false),
            std::vector<std::string>({"kind", "epoch", "step", "train_loss",
                                      "lr/sgd/0", "samples_per_second",
                                      "seconds"}));
  EXPECT_EQ(metricsColumns(kLinreg, true, true),
            std::vector<std::string>({"kind", "epoch", "step", "train_loss",
                                      "eval_loss", "eval_accuracy", "lr/sgd/0",
                                      "samples_per_second", "seconds"}));
  // Every group of every optimizer, in param_groups order: the optimizers
  // in the order of their first state in the table (the model file's
  // order), then the groups by number, whatever their order in the table
  // (firnc puts an optimizer's later groups first).
  std::vector<firn_state_desc> states = kLinregStates;
  for (const char *name : {"optim/head/10/lr", "optim/head/momentum/w",
                           "optim/head/2/lr", "optim/head/0/lr"}) {
    firn_state_desc lr = states[kLr];
    lr.name = name;
    states.push_back(lr);
  }
  firn_model_desc two = kLinreg;
  two.states = states.data();
  two.num_states = int(states.size());
  auto lrs = learningRateColumns(two);
  ASSERT_EQ(lrs.size(), 4u);
  EXPECT_EQ(lrs[0], std::make_pair(int(kLr), std::string("lr/sgd/0")));
  EXPECT_EQ(lrs[1],
            std::make_pair(int(kNumStates) + 3, std::string("lr/head/0")));
  EXPECT_EQ(lrs[2],
            std::make_pair(int(kNumStates) + 2, std::string("lr/head/2")));
  EXPECT_EQ(lrs[3],
            std::make_pair(int(kNumStates), std::string("lr/head/10")));
  // An optimizer whose first state comes earlier comes first.
  std::swap(states[kLr], states.back());
  lrs = learningRateColumns(two);
  ASSERT_EQ(lrs.size(), 4u);
  EXPECT_EQ(lrs[0].second, "lr/head/0");
  EXPECT_EQ(lrs[3].second, "lr/sgd/0");

  // Accuracy only for class-index targets of a model with predict.
  std::string error;
  DatasetSpec spec;
  bool hasTarget;
  ASSERT_TRUE(dataSpecOf(kClf, spec, hasTarget, error)) << error;
  TensorData cx = TensorData::fromFloats({1, 3}, {1, 2, 3});
  TensorData ct = TensorData::fromInt64s({1}, {2});
  Dataset classes;
  ASSERT_TRUE(Dataset::fromTensors(cx, "x", &ct, "y", spec, classes, error))
      << error;
  EXPECT_TRUE(evalHasAccuracy(kClf, classes));
  ASSERT_TRUE(dataSpecOf(kLinreg, spec, hasTarget, error)) << error;
  TensorData lx = TensorData::fromFloats({4, 2}, kX);
  TensorData ly = TensorData::fromFloats({4, 1}, kY);
  Dataset floats;
  ASSERT_TRUE(Dataset::fromTensors(lx, "x", &ly, "y", spec, floats, error))
      << error;
  EXPECT_FALSE(evalHasAccuracy(kLinreg, floats));
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

TEST_F(MetricsTest, UnknownFormatIsAnErrorBeforeTraining) {
  std::string path = dir + "m.txt";
  EXPECT_EQ(train(kLinreg, {"--metrics", path}), 1);
  EXPECT_EQ(err, "linreg: error: --metrics " + path +
                     ": the format follows the extension: .csv "
                     "(comma-separated, with a header) or .jsonl/.json (one "
                     "JSON object per line)\n");
  EXPECT_EQ(calls.trainStep, 0);
  EXPECT_EQ(std::fopen(path.c_str(), "r"), nullptr) << "no file created";

  EXPECT_EQ(train(kLinreg, {"--metrics", dir + "none/m.csv"}), 1);
  EXPECT_EQ(err.rfind("linreg: error: cannot open the metrics file " + dir +
                          "none/m.csv: ",
                      0),
            0u)
      << err;
  EXPECT_EQ(calls.trainStep, 0);
}

TEST_F(MetricsTest, EvalDataErrorsNameTheFile) {
  EXPECT_EQ(train(kLinreg, {"--eval-x", x}), 1);
  EXPECT_NE(err.find("--eval-x needs --eval-y"), std::string::npos) << err;
  std::string wide = writeFloats("wide.npy", {4, 3}, std::vector<float>(12));
  EXPECT_EQ(train(kLinreg, {"--eval-x", wide, "--eval-y", y}), 1);
  EXPECT_EQ(err.rfind("linreg: error: " + wide, 0), 0u) << err;
  std::string few = writeFloats("few.npy", {3, 1}, {1, 2, 3});
  EXPECT_EQ(train(kLinreg, {"--eval-x", x, "--eval-y", few}), 1);
  EXPECT_NE(err.find("few.npy"), std::string::npos) << err;
  EXPECT_EQ(calls.trainStep, 0);
}

//===----------------------------------------------------------------------===//
// ReduceLROnPlateau on the evaluation loss
//===----------------------------------------------------------------------===//

TEST_F(MetricsTest, PlateauStepsOnTheEvalLoss) {
  // Full-batch gradient descent (one step per epoch) lowers the training
  // loss every epoch. The evaluation targets are the initial predictions
  // moved against the training residuals, p0 - 5 (y - p0): every step
  // towards the training data moves away from them, so the evaluation loss
  // rises every epoch.
  std::vector<float> evalTargets;
  for (int n = 0; n < 4; ++n) {
    float p0 = kWInit[0] * kX[2 * n] + kWInit[1] * kX[2 * n + 1] + kBInit;
    evalTargets.push_back(p0 - 5 * (kY[n] - p0));
  }
  std::string vy = writeFloats("vy.npy", {4, 1}, evalTargets);
  PlateauLinreg model("patience=0;factor=0.5");
  std::string withEval = dir + "eval.csv", withoutEval = dir + "train.csv";
  std::string a = dir + "a.safetensors", b = dir + "b.safetensors";
  ASSERT_EQ(run(model.desc, {"train", "--x", x, "--y", y, "--batch-size", "4",
                             "--epochs", "3", "--eval-x", x, "--eval-y", vy,
                             "--metrics", withEval, "--save", a}),
            0)
      << err;
  ASSERT_EQ(
      run(model.desc, {"train", "--x", x, "--y", y, "--batch-size", "4",
                       "--epochs", "3", "--metrics", withoutEval, "--save", b}),
      0)
      << err;
  Csv on = readCsv(withEval), off = readCsv(withoutEval);
  ASSERT_EQ(on.rows.size(), 3u);
  ASSERT_EQ(off.rows.size(), 3u);
  // The two losses disagree about improving.
  for (size_t r = 1; r < 3; ++r) {
    EXPECT_LT(on.number(r, "train_loss"), on.number(r - 1, "train_loss"));
    EXPECT_GT(on.number(r, "eval_loss"), on.number(r - 1, "eval_loss"));
  }
  // On the evaluation loss: epoch 1 sets the best, epochs 2 and 3 are worse
  // (patience 0): halved after each. The column is the rate each epoch used.
  EXPECT_EQ(on.at(0, "lr/sgd/0"), "0.1");
  EXPECT_EQ(on.at(1, "lr/sgd/0"), "0.1");
  EXPECT_EQ(on.at(2, "lr/sgd/0"), "0.05");
  SafetensorsFile file;
  std::string error;
  ASSERT_TRUE(readSafetensors(a, file, error)) << error;
  EXPECT_EQ(file.tensors.at("optim/sgd/0/lr").asFloats()[0], 0.025f);
  // The best is epoch 1's evaluation loss (a float32 value, which the file
  // writes in float's shortest form).
  EXPECT_EQ(static_cast<float>(std::strtod(
                file.metadata.at("schedule/plateau/best").c_str(), nullptr)),
            static_cast<float>(on.number(0, "eval_loss")));
  // On the training loss (no evaluation data): every epoch improves.
  for (size_t r = 0; r < 3; ++r)
    EXPECT_EQ(off.at(r, "lr/sgd/0"), "0.1");
  ASSERT_TRUE(readSafetensors(b, file, error)) << error;
  EXPECT_EQ(file.tensors.at("optim/sgd/0/lr").asFloats()[0], 0.1f);
}

} // namespace
