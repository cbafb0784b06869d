//===- StateNames.h - The names of the state the passes add -----*- C++ -*-===//
//
// The symbols of the training state that autodiff and optimizer lowering
// add to a module, stated once: a parameter P's gradient is the buffer
// @"grad/P"; optimizer O's state `name` (of its group g, or of parameter P)
// is @"optim/O/<rest>". These are also the tensor names in checkpoints
// (where PyTorch's state_dict has no name for them), so the runtime reads
// the same prefixes (runtime/lib/Model.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_DIALECT_STATENAMES_H
#define FIRN_DIALECT_STATENAMES_H

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"

#include <string>

namespace firn {

inline constexpr llvm::StringLiteral kGradientPrefix = "grad/";
inline constexpr llvm::StringLiteral kOptimizerPrefix = "optim/";

/// @"grad/P": the gradient buffer of parameter `param`.
inline std::string gradientBufferName(llvm::StringRef param) {
  return (kGradientPrefix + param).str();
}

/// Whether `buffer` is a parameter's gradient.
inline bool isGradientBuffer(llvm::StringRef buffer) {
  return buffer.starts_with(kGradientPrefix);
}

/// The parameter whose gradient `buffer` is (isGradientBuffer(buffer)).
inline llvm::StringRef gradientParam(llvm::StringRef buffer) {
  return buffer.drop_front(kGradientPrefix.size());
}

/// @"optim/O/<rest>": state of optimizer `optimizer`.
inline std::string optimizerStateName(llvm::StringRef optimizer, const llvm::Twine &rest) {
  return (kOptimizerPrefix + optimizer + "/" + rest).str();
}

} // namespace firn

#endif // FIRN_DIALECT_STATENAMES_H
