//===- Info.h - `model info`: what a compiled model contains ----*- C++ -*-===//
//
// Prints what a user needs to drive a compiled binary without its .firn
// file: the parameters (shape, trainable or frozen, which optimizer group
// updates them), the buffers (everything else a checkpoint holds), the
// input and target with the batch dimension marked N, and the functions the
// binary was built with (no train block means inference only).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_INFO_H
#define FIRN_RUNTIME_INFO_H

#include "firn/Runtime/ModelABI.h"

#include <string>

namespace firn::runtime {

/// The text `model info` prints (several lines, each ended by '\n').
std::string modelInfo(const firn_model_desc &desc);

} // namespace firn::runtime

#endif // FIRN_RUNTIME_INFO_H
