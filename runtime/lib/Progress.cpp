//===- Progress.cpp - Progress reporting for `train` ----------------------===//
//
// See Progress.h. Everything is written with stdio on the given stream and
// flushed after each update, so that progress shows even when the stream is
// buffered (a pipe into `tee`).
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Progress.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <chrono>
#include <cmath>
#include <utility>

#if !defined(_WIN32)
#include <unistd.h>
#else
#include <io.h>
#define isatty _isatty
#define fileno _fileno
#endif

namespace firn::runtime {

ProgressReporter::ProgressReporter(std::FILE *stream, bool terminal,
                                   const ProgressOptions &options, Clock clock)
    : stream(stream), terminal(terminal), options(options),
      clock(std::move(clock)) {
  if (this->options.totalSteps < 1)
    this->options.totalSteps = 1;
  if (this->options.every <= 0)
    this->options.every = std::max<int64_t>(1, this->options.totalSteps / 10);
  if (this->options.barWidth < 1)
    this->options.barWidth = 1;
  start = now = this->clock();
}

bool ProgressReporter::isTerminal(std::FILE *stream) {
  return stream && isatty(fileno(stream));
}

double ProgressReporter::monotonicSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double ProgressReporter::samplesPerSecond() const {
  const double elapsed = now - start;
  return elapsed > 0 ? double(totalSamples) / elapsed : 0.0;
}

void ProgressReporter::Line::append(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  int n = std::vsnprintf(text + size, sizeof(text) - size, fmt, args);
  va_end(args);
  if (n > 0)
    size = std::min(sizeof(text) - 1, size + size_t(n));
}

void ProgressReporter::appendEpoch(Line &line, const char *separator) const {
  if (options.totalEpochs > 0)
    line.append("%sepoch %" PRId64 "/%" PRId64, separator, lastEpoch,
                options.totalEpochs);
}

void ProgressReporter::formatTerminalLine(Line &line) const {
  const int64_t total = options.totalSteps;
  const int64_t done = std::min(std::max<int64_t>(lastStep, 0), total);
  const int width = std::min(options.barWidth, 200);
  const int filled = int(done * width / total);
  line.append("[%.*s%.*s] step %" PRId64 "/%" PRId64, filled,
              "################################################################"
              "################################################################"
              "########################################################################",
              width - filled,
              "................................................................"
              "................................................................"
              "........................................................................",
              lastStep, total);
  appendEpoch(line, "  ");
  line.append("  loss %.4f  %.0f samples/s", lastLoss, samplesPerSecond());
}

void ProgressReporter::formatPlainLine(Line &line) const {
  line.append("step %" PRId64 "/%" PRId64, lastStep, options.totalSteps);
  appendEpoch(line, " ");
  line.append(" loss %.6f samples/s %.1f", lastLoss, samplesPerSecond());
}

std::string ProgressReporter::terminalLine() const {
  Line line;
  formatTerminalLine(line);
  return std::string(line.text, line.size);
}

std::string ProgressReporter::plainLine() const {
  Line line;
  formatPlainLine(line);
  return std::string(line.text, line.size);
}

void ProgressReporter::draw() {
  Line line;
  formatTerminalLine(line);
  const size_t width = line.size;
  // Blank out what is left of a longer, earlier line.
  const int pad = width < drawnWidth ? int(drawnWidth - width) : 0;
  std::fprintf(stream, "\r%s%*s", line.text, pad, "");
  std::fflush(stream);
  drawnWidth = width;
  drawnOnce = true;
  lastDraw = now;
}

void ProgressReporter::printPlain() {
  Line line;
  formatPlainLine(line);
  std::fprintf(stream, "%s\n", line.text);
  std::fflush(stream);
  lastPrintedStep = lastStep;
}

void ProgressReporter::step(int64_t step, int64_t epoch, double loss,
                            int64_t samples) {
  if (finished || !stream)
    return;
  now = clock();
  lastStep = step;
  lastEpoch = epoch;
  lastLoss = loss;
  totalSamples += samples;
  const bool last = step >= options.totalSteps;
  if (terminal) {
    if (!drawnOnce || last || now - lastDraw >= options.minRedrawSeconds)
      draw();
    return;
  }
  if (last || step % options.every == 0)
    printPlain();
}

void ProgressReporter::note(const std::string &message) {
  if (!stream)
    return;
  if (terminal && drawnOnce) {
    std::fprintf(stream, "\r%s\r", std::string(drawnWidth, ' ').c_str());
    drawnOnce = false;
    drawnWidth = 0;
  }
  std::fprintf(stream, "%s\n", message.c_str());
  std::fflush(stream);
}

void ProgressReporter::finish() {
  if (finished)
    return;
  finished = true;
  if (lastStep == 0 || !stream)
    return;
  if (terminal) {
    draw();
    std::fprintf(stream, "\n");
    std::fflush(stream);
    return;
  }
  if (lastPrintedStep != lastStep)
    printPlain();
}

} // namespace firn::runtime
