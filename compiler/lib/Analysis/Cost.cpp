//===- Cost.cpp - What an operation costs per training step ---------------===//
#include "firn/Analysis/Cost.h"

#include "firn/Dialect/FirnOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace firn;

namespace {
int64_t elements(Type type, int64_t batch) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return 0;
  int64_t n = 1;
  for (int64_t d : tensor.getShape())
    n = saturatingMul(n, ShapedType::isDynamic(d) ? batch : d);
  return n;
}

int64_t bytesOf(Type type, int64_t batch) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return 0;
  return saturatingMul(elements(type, batch),
                       tensor.getElementType().getIntOrFloatBitWidth() / 8);
}

/// 2 * (output elements) * (products summed into each).
int64_t convFlops(Value output, Value weight, int64_t batch) {
  auto w = cast<RankedTensorType>(weight.getType());
  int64_t perOutput = saturatingMul(
      saturatingMul(w.getDimSize(1), w.getDimSize(2)), w.getDimSize(3));
  return saturatingMul(saturatingMul(2, elements(output.getType(), batch)),
                       perOutput);
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
  int64_t out = op->getNumResults() ? elements(op->getResult(0).getType(), batch)
                                    : 0;
  if (auto linear = dyn_cast<LinearOp>(op)) {
    int64_t in = linear.getWeight().getType().getDimSize(1);
    cost.flops = saturatingAdd(saturatingMul(saturatingMul(2, out), in),
                               linear.getBias() ? out : 0);
  } else if (auto grad = dyn_cast<LinearWeightGradOp>(op)) {
    // 2 FLOPs per (position, out, in): the operand's elements times `out`.
    cost.flops = saturatingMul(saturatingMul(2, elements(grad.getInput().getType(), batch)),
                               grad.getType().getDimSize(0));
  } else if (auto matmul = dyn_cast<MatmulOp>(op)) {
    auto lhs = matmul.getLhs().getType();
    int64_t k = matmul.getTransposeLhs() ? lhs.getDimSize(0) : lhs.getDimSize(1);
    if (ShapedType::isDynamic(k))
      k = batch;
    cost.flops = saturatingMul(saturatingMul(2, out), k);
  } else if (auto attention = dyn_cast<AttentionOp>(op)) {
    // Per query row and key: the dot product (2E), the softmax's max, exp,
    // sum and division (4), the weighted value row (2F).
    auto q = attention.getQuery().getType();
    const int64_t r = q.getRank();
    int64_t e = q.getDimSize(r - 1), f = attention.getType().getDimSize(r - 1),
            s = attention.getKey().getType().getDimSize(r - 2);
    for (int64_t *d : {&e, &f, &s})
      if (ShapedType::isDynamic(*d))
        *d = batch;
    const int64_t rows = f > 0 ? out / f : 0;
    cost.flops = saturatingMul(saturatingMul(rows, s),
                               saturatingAdd(saturatingAdd(saturatingMul(2, e), 4),
                                             saturatingMul(2, f)));
  } else if (auto conv = dyn_cast<Conv2dOp>(op)) {
    cost.flops = convFlops(conv.getResult(), conv.getWeight(), batch);
  } else if (auto grad = dyn_cast<Conv2dGradInputOp>(op)) {
    cost.flops = convFlops(grad.getGradOutput(), grad.getWeight(), batch);
  } else if (auto grad = dyn_cast<Conv2dGradWeightOp>(op)) {
    cost.flops = convFlops(grad.getGradOutput(), grad.getResult(), batch);
  } else if (isa<MaxPool2dOp, AvgPool2dOp, MaxPool2dGradOp, AvgPool2dGradOp>(op)) {
    // One comparison or addition per tap of each window (the windows are
    // counted on the pooled side: the op's operand 0 for the gradients).
    ArrayRef<int64_t> kernel =
        TypeSwitch<Operation *, ArrayRef<int64_t>>(op)
            .Case<MaxPool2dOp, AvgPool2dOp, MaxPool2dGradOp, AvgPool2dGradOp>(
                [](auto pool) { return pool.getKernel(); });
    int64_t windows = isa<MaxPool2dOp, AvgPool2dOp>(op)
                          ? out
                          : elements(op->getOperand(0).getType(), batch);
    cost.flops = saturatingMul(windows, kernel[0] * kernel[1]);
  } else if (isa<SoftmaxOp, LogSoftmaxOp>(op)) {
    cost.flops = saturatingMul(4, elements(op->getOperand(0).getType(), batch));
  } else if (isa<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>(op)) {
    cost.flops = elements(op->getOperand(0).getType(), batch);
  } else if (auto grad = dyn_cast<EmbeddingGradOp>(op)) {
    // One addition per element of the gradient that is scattered.
    cost.flops = elements(grad.getGradOutput().getType(), batch);
  } else if (auto norm = dyn_cast<BatchNormOp>(op)) {
    // Per element: in training the statistics (a sum, a squared
    // difference) and the normalization with its affine map; in eval mode
    // the normalization alone.
    cost.flops = saturatingMul(norm.getTraining() ? 7 : 4,
                               elements(norm.getInput().getType(), batch));
  } else if (isa<ReadParamOp, ReadBufferOp, WriteParamOp, WriteBufferOp,
                 ConstantOp, ReshapeOp, NumelOp, EmbeddingOp, SliceOp, SliceGradOp,
                 ConcatOp, TransposeOp, BroadcastLikeOp, OneHotOp, CrossReplicaSumOp,
                 AdvanceCounterOp>(op)) {
    // Data movement: an embedding copies rows; a cross-replica sum's
    // additions happen in the communication library.
    cost.flops = 0;
  } else if (isa<FIRN_MATH_OPS, ReluOp, NegOp, AddOp, SubOp, MulOp, DivOp, MaxOp, PowOp,
                 CompareOp, SelectOp, ReluGradOp, DropoutOp, BiasCorrectionOp>(op)) {
    cost.flops = out; // Elementwise: one per element.
  } else {
    // No rule: a new op not stated here (OpCompletenessTest fails on it).
    cost.stated = false;
    cost.flops = out;
  }
  return cost;
}
