//===- Cost.h - What an operation costs per training step -------*- C++ -*-===//
#ifndef FIRN_ANALYSIS_COST_H
#define FIRN_ANALYSIS_COST_H

#include "firn/Dialect/CostRules.h"

#include "mlir/IR/Operation.h"

#include <cstdint>

namespace firn {

/// Floating-point operations and bytes moved (operands read, results
/// written, as f32/i64) by one execution, for a given batch size. Both are
/// non-negative and saturate at kCostSaturated.
struct Cost {
  int64_t flops = 0;
  int64_t bytes = 0;
  /// Whether the op states its FLOPs (CostOpInterface; OpCompletenessTest
  /// requires it of every op in a function); one that does not is counted
  /// as elementwise.
  bool stated = true;
  Cost &operator+=(const Cost &other) {
    flops = saturatingAdd(flops, other.flops);
    bytes = saturatingAdd(bytes, other.bytes);
    return *this;
  }
};

/// A first-order estimate: exact FLOP counts for the contractions (linear,
/// matmul, the conv2d family), one FLOP per element for elementwise ops and
/// reductions, a few per element for softmax and the losses; bytes as if
/// every operand were read and every result written once (no fusion). For a
/// firn.buffer: its size (memory it holds, no FLOPs).
Cost estimateCost(mlir::Operation *op, int64_t batchSize);

} // namespace firn

#endif // FIRN_ANALYSIS_COST_H
