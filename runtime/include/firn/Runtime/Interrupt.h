//===- Interrupt.h - SIGINT and SIGTERM end training cleanly ---*- C++ -*-===//
//
// While `train` runs, Ctrl-C (SIGINT) or `kill` (SIGTERM) only records the
// signal: the loop stops at the next step boundary, the binary saves the
// checkpoint (--save) and exits with status 128 + the signal's number (130,
// 143), as a shell reports a process the signal killed. The handler is
// installed for one delivery (SA_RESETHAND): a second signal kills the
// process at once, for a save that takes too long.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_INTERRUPT_H
#define FIRN_RUNTIME_INTERRUPT_H

#include <csignal>

namespace firn::runtime {

/// Installs the handlers for its lifetime (restoring the previous ones
/// after) and clears the recorded signal.
class InterruptGuard {
public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard &) = delete;
  InterruptGuard &operator=(const InterruptGuard &) = delete;

  /// The signal received since construction, or 0: what the training loop
  /// polls.
  static const volatile std::sig_atomic_t *received();
};

/// "SIGINT", "SIGTERM" (or "a signal").
const char *signalName(int signal);

} // namespace firn::runtime

#endif // FIRN_RUNTIME_INTERRUPT_H
