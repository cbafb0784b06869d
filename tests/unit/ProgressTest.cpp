//===- ProgressTest.cpp - The training progress reporter ------------------===//
//
// The reporter writes to a temporary FILE* with a fake clock, as a terminal
// (one line redrawn with '\r', throttled) and not (plain lines every N steps
// and at the end); the tests compare the exact text.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

using namespace firn::runtime;

namespace {

class ProgressTest : public ::testing::Test {
protected:
  std::FILE *file = nullptr;
  double seconds = 100.0;

  void SetUp() override {
    file = std::tmpfile();
    ASSERT_NE(file, nullptr);
  }
  void TearDown() override {
    if (file)
      std::fclose(file);
  }

  ProgressReporter::Clock clock() {
    return [this] { return seconds; };
  }

  /// Everything written so far.
  std::string output() {
    std::fflush(file);
    std::string text;
    std::rewind(file);
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0)
      text.append(buffer, n);
    return text;
  }
};

TEST_F(ProgressTest, PlainLinesEveryNStepsAndAtTheEnd) {
  ProgressOptions options;
  options.totalSteps = 5;
  options.totalEpochs = 2;
  options.every = 2;
  ProgressReporter progress(file, /*terminal=*/false, options, clock());
  for (int64_t step = 1; step <= 5; ++step) {
    seconds += 0.5;
    progress.step(step, step <= 3 ? 1 : 2, 1.0 / double(step), 32);
  }
  progress.finish();
  EXPECT_EQ(output(), "step 2/5 epoch 1/2 loss 0.500000 samples/s 64.0\n"
                      "step 4/5 epoch 2/2 loss 0.250000 samples/s 64.0\n"
                      "step 5/5 epoch 2/2 loss 0.200000 samples/s 64.0\n");
}

TEST_F(ProgressTest, PlainFinishWritesTheLastStepOnce) {
  ProgressOptions options;
  options.totalSteps = 100;
  options.every = 10;
  ProgressReporter progress(file, false, options, clock());
  seconds += 2;
  progress.step(7, 0, 0.4312, 100);
  progress.finish();
  progress.finish();
  EXPECT_EQ(output(), "step 7/100 loss 0.431200 samples/s 50.0\n");
}

TEST_F(ProgressTest, PlainDefaultIntervalIsATenthOfTheRun) {
  ProgressOptions options;
  options.totalSteps = 30;
  ProgressReporter progress(file, false, options, clock());
  for (int64_t step = 1; step <= 30; ++step)
    progress.step(step, 0, 1.0, 1);
  progress.finish();
  const std::string text = output();
  size_t lines = 0;
  for (char c : text)
    lines += c == '\n';
  EXPECT_EQ(lines, 10u) << text;
  EXPECT_EQ(text.rfind("step 3/30 ", 0), 0u) << text;
}

TEST_F(ProgressTest, ZeroElapsedTimeShowsZeroThroughput) {
  ProgressOptions options;
  options.totalSteps = 1;
  ProgressReporter progress(file, false, options, clock());
  progress.step(1, 0, 2.5, 8);
  EXPECT_EQ(progress.samplesPerSecond(), 0.0);
  EXPECT_EQ(output(), "step 1/1 loss 2.500000 samples/s 0.0\n");
}

TEST_F(ProgressTest, TerminalLineFormat) {
  ProgressOptions options;
  options.totalSteps = 500;
  options.totalEpochs = 3;
  options.barWidth = 10;
  ProgressReporter progress(file, /*terminal=*/true, options, clock());
  seconds += 10;
  progress.step(120, 2, 0.43124, 12340);
  EXPECT_EQ(progress.terminalLine(),
            "[##........] step 120/500  epoch 2/3  loss 0.4312  1234 "
            "samples/s");
  EXPECT_EQ(output(), "\r" + progress.terminalLine());
}

TEST_F(ProgressTest, TerminalWithoutEpochs) {
  ProgressOptions options;
  options.totalSteps = 4;
  options.barWidth = 4;
  ProgressReporter progress(file, true, options, clock());
  seconds += 1;
  progress.step(2, 0, 1, 3);
  EXPECT_EQ(progress.terminalLine(),
            "[##..] step 2/4  loss 1.0000  3 samples/s");
}

TEST_F(ProgressTest, TerminalRedrawsAreThrottledButTheLastStepIsDrawn) {
  ProgressOptions options;
  options.totalSteps = 3;
  options.barWidth = 3;
  options.minRedrawSeconds = 1.0;
  ProgressReporter progress(file, true, options, clock());
  seconds += 0.5;
  progress.step(1, 0, 3, 1); // first step: drawn
  seconds += 0.5;
  progress.step(2, 0, 2, 1); // 0.5 s after the last draw: skipped
  seconds += 0.1;
  progress.step(3, 0, 1, 1); // last step: drawn
  progress.finish();
  EXPECT_EQ(output(), "\r[#..] step 1/3  loss 3.0000  2 samples/s"
                      "\r[###] step 3/3  loss 1.0000  3 samples/s"
                      "\r[###] step 3/3  loss 1.0000  3 samples/s\n");
}

TEST_F(ProgressTest, TerminalShorterLineBlanksTheRest) {
  ProgressOptions options;
  options.totalSteps = 10;
  options.barWidth = 2;
  options.minRedrawSeconds = 0;
  ProgressReporter progress(file, true, options, clock());
  seconds += 1;
  progress.step(1, 0, 123456.0, 1000);
  seconds += 1;
  progress.step(2, 0, 1.0, 0);
  const std::string first = "[..] step 1/10  loss 123456.0000  1000 samples/s";
  const std::string second = "[..] step 2/10  loss 1.0000  500 samples/s";
  EXPECT_EQ(output(), "\r" + first + "\r" + second +
                          std::string(first.size() - second.size(), ' '));
}

TEST_F(ProgressTest, NoteClearsTheTerminalLine) {
  ProgressOptions options;
  options.totalSteps = 10;
  options.barWidth = 2;
  ProgressReporter progress(file, true, options, clock());
  seconds += 1;
  progress.step(1, 0, 1.0, 5);
  const std::string line = progress.terminalLine();
  progress.note("saved ckpt.safetensors");
  progress.step(2, 0, 1.0, 5); // redrawn at once after a note
  EXPECT_EQ(output(), "\r" + line + "\r" + std::string(line.size(), ' ') +
                          "\rsaved ckpt.safetensors\n\r" +
                          progress.terminalLine());
}

TEST_F(ProgressTest, NoteInPlainMode) {
  ProgressOptions options;
  ProgressReporter progress(file, false, options, clock());
  progress.note("epoch 1 done");
  EXPECT_EQ(output(), "epoch 1 done\n");
}

TEST_F(ProgressTest, FinishWithoutStepsWritesNothing) {
  ProgressOptions options;
  ProgressReporter progress(file, true, options, clock());
  progress.finish();
  EXPECT_EQ(output(), "");
}

TEST_F(ProgressTest, IsTerminalOnAFile) {
  EXPECT_FALSE(ProgressReporter::isTerminal(file));
  EXPECT_FALSE(ProgressReporter::isTerminal(nullptr));
  const double a = ProgressReporter::monotonicSeconds();
  EXPECT_GE(ProgressReporter::monotonicSeconds(), a);
}

} // namespace
