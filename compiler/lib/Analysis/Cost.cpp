//===- Cost.cpp - What an operation costs per training step ---------------===//
//
// The bytes are counted here, the same way for every op (each operand read
// and each result written once); the FLOPs are the op's own rule, stated
// beside it through CostOpInterface (dialects/lib/Ops/), so that a new op
// changes nothing here.
//
//===----------------------------------------------------------------------===//
#include "firn/Analysis/Cost.h"

#include "firn/Dialect/FirnOps.h"

using namespace mlir;
using namespace firn;

namespace {
int64_t bytesOf(Type type, int64_t batch) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return 0;
  return saturatingMul(elementsOf(type, batch),
                       tensor.getElementType().getIntOrFloatBitWidth() / 8);
}
} // namespace

Cost firn::estimateCost(Operation *op, int64_t batch) {
  Cost cost;
  if (auto buffer = dyn_cast<BufferOp>(op)) {
    cost.bytes = bytesOf(buffer.getType(), batch);
    return cost;
  }
  for (Value operand : op->getOperands())
    cost.bytes = saturatingAdd(cost.bytes, bytesOf(operand.getType(), batch));
  for (Value result : op->getResults())
    cost.bytes = saturatingAdd(cost.bytes, bytesOf(result.getType(), batch));
  if (auto rule = dyn_cast<CostOpInterface>(op)) {
    cost.flops = rule.getFlops(batch);
  } else {
    // No rule: an op that states none (OpCompletenessTest fails on it).
    cost.stated = false;
    cost.flops = op->getNumResults() ? elementsOf(op->getResult(0).getType(), batch) : 0;
  }
  return cost;
}
