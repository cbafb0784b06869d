//===- KernelTable.h - Which reference kernel runs which firn op -*- C++ -*-===//
//
// The reference evaluator knows no op by name: each kernel file registers,
// beside its kernels, how every op of its family maps onto them (the "Op
// kernels" section at the end of each *Kernels.cpp: Elementwise, Layout,
// Reduction, Product, Pooling, Indexing, Attention), and the
// evaluator looks the op's TypeID up in the table. Adding an op to
// an existing family therefore touches its kernel file (and Kernels.h, where
// the kernel is declared for its unit tests), never Evaluator.cpp.
//
// The evaluator itself keeps only what needs the program state or the module
// (parameters, buffers, counters, constants, calls).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_REFERENCE_KERNELTABLE_H
#define FIRN_REFERENCE_KERNELTABLE_H

#include "Kernels.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "mlir/Support/TypeID.h"

#include "llvm/ADT/DenseMap.h"

#include <functional>
#include <string>
#include <vector>

namespace firn::reference {

/// The values of one function activation.
using Frame = llvm::DenseMap<mlir::Value, Tensor>;

/// An op's operand values, read from the frame (the evaluator checked that
/// every operand has one before the kernel runs).
class In {
public:
  explicit In(const Frame &frame) : frame(frame) {}
  const Tensor &operator()(mlir::Value value) const {
    return frame.find(value)->second;
  }
  /// The value of an optional operand, or null when the op has none.
  const Tensor *optional(mlir::Value value) const {
    return value ? &(*this)(value) : nullptr;
  }

private:
  const Frame &frame;
};

/// The values of an op's results, in order, or why there are none. Converts
/// from a kernel's Result (an op of one result).
struct Results {
  std::vector<Tensor> values;
  std::string error;

  Results(Result result);
  Results(Tensor value) : Results(Result(std::move(value))) {}
  explicit Results(std::vector<Tensor> values) : values(std::move(values)) {}
  bool ok() const { return error.empty(); }
  static Results fail(std::string message);
};

/// Runs one op on its operands' values.
using OpKernel = std::function<Results(mlir::Operation *, const In &)>;

class KernelTable {
public:
  /// Registers `kernel(OpT op, const In &in)` for each of the ops (a
  /// generic lambda serves a whole class of ops, such as FIRN_MATH_OPS).
  template <typename... OpTs, typename Fn> void add(Fn kernel) {
    (addOne<OpTs>(kernel), ...);
  }

  /// The op's kernel, or null when no family registered one.
  const OpKernel *find(mlir::Operation *op) const;

private:
  template <typename OpT, typename Fn> void addOne(Fn kernel) {
    kernels[mlir::TypeID::get<OpT>()] = [kernel](mlir::Operation *op,
                                                 const In &in) -> Results {
      return kernel(llvm::cast<OpT>(op), in);
    };
  }

  llvm::DenseMap<mlir::TypeID, OpKernel> kernels;
};

/// Every family's kernels, registered once.
const KernelTable &kernelTable();

/// The families' registrations, one per kernel file.
void registerElementwiseKernels(KernelTable &table);
void registerLayoutKernels(KernelTable &table);
void registerReductionKernels(KernelTable &table);
void registerProductKernels(KernelTable &table);
void registerPoolingKernels(KernelTable &table);
void registerIndexingKernels(KernelTable &table);
void registerAttentionKernels(KernelTable &table);

/// The shape of a type whose dynamic (batch) dimension has size `batch`.
Shape resolve(mlir::RankedTensorType type, int64_t batch);

/// The batch of a value: its first dimension (1 for a 0-d tensor).
inline int64_t batchOf(const Tensor &x) {
  return x.shape.empty() ? 1 : x.shape[0];
}

} // namespace firn::reference

#endif // FIRN_REFERENCE_KERNELTABLE_H
