//===- Interrupt.cpp - SIGINT and SIGTERM end training cleanly ------------===//
#include "firn/Runtime/Interrupt.h"

#if !defined(_WIN32)
#include <signal.h>
#endif

namespace firn::runtime {

namespace {

volatile std::sig_atomic_t receivedSignal = 0;

extern "C" void recordSignal(int signal) { receivedSignal = signal; }

#if !defined(_WIN32)
struct sigaction previousInt, previousTerm;
#endif

} // namespace

InterruptGuard::InterruptGuard() {
  receivedSignal = 0;
#if !defined(_WIN32)
  struct sigaction action = {};
  action.sa_handler = recordSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND; // A second signal takes its default action.
  sigaction(SIGINT, &action, &previousInt);
  sigaction(SIGTERM, &action, &previousTerm);
#endif
}

InterruptGuard::~InterruptGuard() {
#if !defined(_WIN32)
  sigaction(SIGINT, &previousInt, nullptr);
  sigaction(SIGTERM, &previousTerm, nullptr);
#endif
}

const volatile std::sig_atomic_t *InterruptGuard::received() {
  return &receivedSignal;
}

const char *signalName(int signal) {
  switch (signal) {
  case SIGINT:
    return "SIGINT";
  case SIGTERM:
    return "SIGTERM";
  default:
    return "a signal";
  }
}

} // namespace firn::runtime
