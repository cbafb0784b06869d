//===- Progress.h - Progress reporting for `train` --------------*- C++ -*-===//
//
// A compiled binary's `train` reports its progress: the step, the epoch, the
// latest loss and the throughput. On a terminal that is one line redrawn in
// place,
//
//   \r[#####.....] step 120/500  epoch 2/3  loss 0.4312  1234 samples/s
//
// (at most every `minRedrawSeconds`, and always at the last step), ended by a
// newline when training finishes. When the output is not a terminal (a log
// file, a pipe, CI) the reporter writes plain, grep-able lines every `every`
// steps and at the last step instead:
//
//   step 120/500 epoch 2/3 loss 0.431200 samples/s 1234.5
//
// The epoch is left out when the run is counted in steps only (--steps).
// Throughput is the number of samples processed since the reporter was
// created divided by the seconds elapsed since then.
//
// For tests, the stream, whether it counts as a terminal and the clock are
// all passed in; `isTerminal(stream)` and `monotonicSeconds` give the real
// ones.
//
//===----------------------------------------------------------------------===//

#ifndef FIRN_RUNTIME_PROGRESS_H
#define FIRN_RUNTIME_PROGRESS_H

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace firn::runtime {

struct ProgressOptions {
  /// The total number of steps (> 0).
  int64_t totalSteps = 1;
  /// The number of epochs, or 0 when the run is counted in steps only.
  int64_t totalEpochs = 0;
  /// Plain mode: write a line every this many steps; 0 chooses about ten
  /// lines per run (max(1, totalSteps / 10)).
  int64_t every = 0;
  /// Terminal mode: the width of the bar in characters.
  int barWidth = 20;
  /// Terminal mode: redraw at most this often (seconds), except for the last
  /// step.
  double minRedrawSeconds = 0.1;
};

class ProgressReporter {
public:
  using Clock = std::function<double()>;

  /// Reports to `stream` (null: nowhere, as on the ranks of a data-parallel
  /// run but rank 0), as a terminal when `terminal`. `clock` returns
  /// seconds from any fixed origin; it is read once here and at each step.
  ProgressReporter(std::FILE *stream, bool terminal,
                   const ProgressOptions &options,
                   Clock clock = monotonicSeconds);

  /// Records that step `step` (1-based, up to totalSteps) of epoch `epoch`
  /// (1-based; ignored without epochs) finished with `loss`, having processed
  /// `samples` samples, and reports it when it is time to.
  void step(int64_t step, int64_t epoch, double loss, int64_t samples);

  /// Writes a message on its own line, first clearing the progress line on a
  /// terminal (it is redrawn at the next step).
  void note(const std::string &message);

  /// Ends the report: on a terminal redraws the line with the last step and
  /// ends it with a newline; otherwise writes the last step's line if it has
  /// not been written. Calling it again does nothing.
  void finish();

  /// The samples processed per second so far (0 before any time passed).
  double samplesPerSecond() const;

  /// Whether `stream` is a terminal (isatty on its file descriptor).
  static bool isTerminal(std::FILE *stream);
  /// Seconds from an arbitrary fixed origin, from a monotonic clock.
  static double monotonicSeconds();

  /// The line for the current state, without '\r' or '\n' (for tests).
  std::string terminalLine() const;
  std::string plainLine() const;

private:
  /// A formatted line, in fixed storage: reporting a step allocates nothing.
  struct Line {
    char text[512];
    size_t size = 0;
    void append(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
  };
  void formatTerminalLine(Line &line) const;
  void formatPlainLine(Line &line) const;
  void appendEpoch(Line &line, const char *separator) const;

  std::FILE *stream;
  bool terminal;
  ProgressOptions options;
  Clock clock;
  double start = 0, now = 0, lastDraw = 0;
  int64_t lastStep = 0, lastEpoch = 0, totalSamples = 0;
  double lastLoss = 0;
  int64_t lastPrintedStep = 0;
  size_t drawnWidth = 0;
  bool drawnOnce = false, finished = false;

  void draw();
  void printPlain();
};

} // namespace firn::runtime

#endif // FIRN_RUNTIME_PROGRESS_H
