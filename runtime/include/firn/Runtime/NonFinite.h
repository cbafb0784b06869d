//===- NonFinite.h - NaN and infinity in losses and state ------*- C++ -*-===//
//
// What `train` does when a step's loss is not finite (--on-nonfinite), and
// the scans behind it: a checkpoint holding NaN or an infinity is refused on
// load (unless --allow-nonfinite) and never written by `train`.
//
//   stop    (the default) the run ends at the step with a message naming it
//           and exit status 1; nothing is saved after the bad step, so the
//           last checkpoint written keeps the last finite state. PyTorch's
//           loops stop on `not torch.isfinite(loss)` the same way.
//   skip    the step's optimizer update is not applied, as AMP's GradScaler
//           skips optimizer.step() when it finds an infinite gradient: the
//           loss and the gradients are checked between backward and the
//           update, and a bad step leaves the parameters, the optimizer
//           state and everything train_step wrote (gradients, running
//           statistics) as they were before it. The step still counts (the
//           data stream and the schedules move on).
//   ignore  train on, as earlier firn versions did, with one warning.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_NONFINITE_H
#define FIRN_RUNTIME_NONFINITE_H

#include "firn/Runtime/Buffers.h"

#include <cstdint>
#include <string>

namespace firn::runtime {

enum class NonFinitePolicy { Stop, Skip, Ignore };

/// "stop", "skip" or "ignore" into `out`; false for anything else.
bool parseNonFinitePolicy(const std::string &text, NonFinitePolicy &out);

/// The flat index of the first NaN or infinite element of a float32 tensor;
/// -1 when every element is finite (and for int64 tensors).
int64_t firstNonFinite(const HostTensor &tensor);

/// "'w' holds nan (element 3)" for element `index` of `tensor`.
std::string describeNonFinite(const std::string &name,
                              const HostTensor &tensor, int64_t index);

} // namespace firn::runtime

#endif // FIRN_RUNTIME_NONFINITE_H
