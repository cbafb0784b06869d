//===- Evaluator.h - Reference evaluator for firn IR ------------*- C++ -*-===//
//
// A small interpreter that runs firn IR in double precision with plain loops.
// It is a test oracle only and never ships in compiled binaries: the tests of
// autodiff, optimizer lowering and code generation compare what those produce
// against it, so it favours being obviously correct over being fast. Every
// op follows PyTorch's semantics; each op's arithmetic is a kernel in
// compiler/lib/Reference/Kernels.h that knows nothing of MLIR.
//
// The program state (every firn.param and firn.buffer) lives in the
// evaluator, keyed by symbol name, and persists across calls, as it does in
// the runtime: a training step that accumulates into @"grad/P" twice leaves
// twice the gradient there.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_REFERENCE_EVALUATOR_H
#define FIRN_REFERENCE_EVALUATOR_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mlir {
class Operation;
namespace func {
class FuncOp;
} // namespace func
} // namespace mlir

namespace firn::reference {

/// A dense row-major tensor of doubles. Integer tensors (class indices) are
/// stored as doubles too and only flagged, which keeps every kernel on one
/// element type.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<double> data;
  bool isInteger = false;

  /// The product of the sizes: 1 for a 0-d tensor.
  int64_t numel() const;
};

/// Runs the functions of one firn module. The module must outlive the
/// evaluator.
class Evaluator {
public:
  explicit Evaluator(mlir::ModuleOp module);

  /// Verifies the module and sets the initial state, discarding any earlier
  /// one: every firn.param with init=constant and every firn.buffer gets its
  /// value (f32 values widened to double). Params with init
  /// uniform or load have no value until setState; calling a function that
  /// reads one is an error, not a crash.
  mlir::LogicalResult initialize(std::string &error);

  /// Sets (or replaces) the value of a param or buffer.
  void setState(const std::string &symbol, Tensor value);
  /// The current value of a param or buffer; nullptr if it has none.
  const Tensor *getState(const std::string &symbol) const;
  /// The symbols that have a value, sorted.
  std::vector<std::string> stateNames() const;

  /// Runs func.func @name on the arguments and fills `results`. A dynamic
  /// (batch) dimension takes the argument's size; an argument whose shape
  /// does not fit the function type is an error. Errors name the op's
  /// location when there is one.
  mlir::LogicalResult call(llvm::StringRef name, llvm::ArrayRef<Tensor> args,
                           std::vector<Tensor> &results, std::string &error);

private:
  mlir::LogicalResult callFunction(mlir::func::FuncOp func,
                                   llvm::ArrayRef<Tensor> args,
                                   std::vector<Tensor> &results,
                                   std::string &error, unsigned depth);

  mlir::ModuleOp module;
  /// Keyed by symbol name; std::map keeps stateNames() sorted.
  std::map<std::string, Tensor> state;
};

} // namespace firn::reference

#endif // FIRN_REFERENCE_EVALUATOR_H
