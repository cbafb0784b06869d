//===- HalideErrors.h - What a failing kernel said ------------------------===//
//
// Halide's runtime reports an error (an allocation over its 2^31 - 1 byte
// limit, memory exhausted, a buffer of the wrong shape) by calling
// halide_error, whose default prints the message and aborts the process.
// The runtime defines halide_error instead: it keeps the message, the kernel
// returns its error code, and the caller reports both, so a training binary
// fails with a message and an exit status, never an abort (HalideErrors.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef FIRN_RUNTIME_HALIDEERRORS_H
#define FIRN_RUNTIME_HALIDEERRORS_H

#include <string>

namespace firn::runtime {

/// The messages halide_error received since the last call (joined by "; ",
/// without Halide's trailing newlines), and forgets them. Empty if none.
std::string takeHalideErrors();

} // namespace firn::runtime

#endif // FIRN_RUNTIME_HALIDEERRORS_H
