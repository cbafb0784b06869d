//===- Progress.cpp - Progress reporting for `train` ----------------------===//
//
// See Progress.h. Everything is written with stdio on the given stream and
// flushed after each update, so that progress shows even when the stream is
// buffered (a pipe into `tee`).
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Progress.h"

#include <algorithm>
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

namespace {

std::string format(const char *fmt, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), fmt, value);
  return buffer;
}

} // namespace

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

std::string ProgressReporter::epochText(const char *separator) const {
  if (options.totalEpochs <= 0)
    return "";
  return separator + std::string("epoch ") + std::to_string(lastEpoch) + "/" +
         std::to_string(options.totalEpochs);
}

std::string ProgressReporter::terminalLine() const {
  const int64_t total = options.totalSteps;
  const int64_t done = std::min(std::max<int64_t>(lastStep, 0), total);
  const int filled = int(done * options.barWidth / total);
  std::string line = "[";
  line.append(size_t(filled), '#');
  line.append(size_t(options.barWidth - filled), '.');
  line += "] step " + std::to_string(lastStep) + "/" + std::to_string(total);
  line += epochText("  ");
  line += "  loss " + format("%.4f", lastLoss);
  line += "  " + format("%.0f", samplesPerSecond()) + " samples/s";
  return line;
}

std::string ProgressReporter::plainLine() const {
  std::string line = "step " + std::to_string(lastStep) + "/" +
                     std::to_string(options.totalSteps);
  line += epochText(" ");
  line += " loss " + format("%.6f", lastLoss);
  line += " samples/s " + format("%.1f", samplesPerSecond());
  return line;
}

void ProgressReporter::draw() {
  std::string line = terminalLine();
  const size_t width = line.size();
  // Blank out what is left of a longer, earlier line.
  if (width < drawnWidth)
    line.append(drawnWidth - width, ' ');
  std::fprintf(stream, "\r%s", line.c_str());
  std::fflush(stream);
  drawnWidth = width;
  drawnOnce = true;
  lastDraw = now;
}

void ProgressReporter::printPlain() {
  std::fprintf(stream, "%s\n", plainLine().c_str());
  std::fflush(stream);
  lastPrintedStep = lastStep;
}

void ProgressReporter::step(int64_t step, int64_t epoch, double loss,
                            int64_t samples) {
  if (finished)
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
  if (lastStep == 0)
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
