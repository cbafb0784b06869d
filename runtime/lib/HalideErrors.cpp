//===- HalideErrors.cpp - halide_error that keeps the message -------------===//
//
// See HalideErrors.h. halide_error is a weak symbol of Halide's runtime;
// this strong definition replaces it (as Allocator.cpp's halide_malloc
// does). Kernels may call it from worker threads: a mutex guards the text.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/HalideErrors.h"

#include <mutex>

namespace {
std::mutex mutex;
std::string pending;
} // namespace

extern "C" void halide_error(void * /*user_context*/, const char *message) {
  std::string text = message ? message : "(no message)";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  std::lock_guard<std::mutex> lock(mutex);
  // Keep the first few: one failure can be reported by many tasks.
  if (pending.size() < 4096)
    pending += (pending.empty() ? "" : "; ") + text;
}

namespace firn::runtime {

std::string takeHalideErrors() {
  std::lock_guard<std::mutex> lock(mutex);
  std::string taken;
  taken.swap(pending);
  return taken;
}

} // namespace firn::runtime
