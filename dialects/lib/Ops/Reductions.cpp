//===- Reductions.cpp - Reductions ----------------------------------------===//
//
// Reductions: sums, means and maxima over axes, softmax, BatchNorm,
// the count of reduced elements and the optimizers' reductions.
//
// Each op's verifier, gradient rule (DifferentiableOpInterface) and cost
// rule (CostOpInterface) are here, beside one another; its definition is
// in FirnOps.td, its reference kernel and Halide lowering in the family's
// files of compiler/lib/Reference and compiler/lib/Codegen.
//
//===----------------------------------------------------------------------===//
#include "OpSupport.h"

using namespace mlir;
using namespace firn;
using namespace firn::detail;

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

LogicalResult BatchNormOp::verify() {
  shape::Shape x = shapeOf(getInput().getType());
  for (Value channel : {getWeight(), getBias(), getRunningMean(),
                        getRunningVar(), getNewRunningMean(),
                        getNewRunningVar(), getBatchMean(), getBatchVar()}) {
    if (!channel)
      continue;
    shape::Inferred rule = shape::batchNorm(x, shapeOf(channel.getType()));
    if (!rule.ok())
      return emitOpError() << rule.error;
  }
  if (getResult().getType() != getInput().getType())
    return emitOpError("result type must equal the input type");
  if (getEps().convertToDouble() <= 0)
    return emitOpError("eps must be positive");
  if (std::optional<APFloat> momentum = getMomentum()) {
    double m = momentum->convertToDouble();
    if (m < 0 || m > 1)
      return emitOpError("momentum must be in [0, 1]");
  } else if (getTraining() && !getCount()) {
    return emitOpError("without momentum (a cumulative average) needs the "
                       "count of batches tracked in training mode");
  }
  return success();
}

LogicalResult NumelOp::verify() {
  shape::Inferred reduced =
      shape::reduce(shapeOf(getInput().getType()),
                    std::vector<int64_t>(getAxes().begin(), getAxes().end()),
                    /*keepDims=*/false);
  if (!reduced.ok())
    return emitOpError() << reduced.error;
  return success();
}

namespace {
template <typename ReduceOp>
LogicalResult verifyReduce(ReduceOp op) {
  return checkResult(op,
                     shape::reduce(shapeOf(op.getInput().getType()),
                                   std::vector<int64_t>(op.getAxes().begin(),
                                                        op.getAxes().end()),
                                   op.getKeepdims()),
                     op.getType());
}
} // namespace

LogicalResult ReduceSumOp::verify() { return verifyReduce(*this); }
LogicalResult ReduceMeanOp::verify() { return verifyReduce(*this); }
LogicalResult ReduceMaxOp::verify() { return verifyReduce(*this); }

namespace {
LogicalResult verifyAxis(Operation *op, int64_t axis, RankedTensorType type) {
  if (axis < 0 || axis >= type.getRank())
    return op->emitOpError() << "axis " << axis << " is out of range for "
                             << type;
  return success();
}
} // namespace

LogicalResult SoftmaxOp::verify() {
  return verifyAxis(*this, getAxis(), getType());
}
LogicalResult LogSoftmaxOp::verify() {
  return verifyAxis(*this, getAxis(), getType());
}

//===----------------------------------------------------------------------===//
// Gradient rules
//===----------------------------------------------------------------------===//

LogicalResult BatchNormOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                          SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value x = getInput(), dy = dys[0];
  // Statistics are per channel (dimension 1), over all other dimensions;
  // `stat` is their shape with those dimensions kept as 1s.
  int64_t rank = typeOf(x).getRank();
  SmallVector<int64_t> axes;
  shape::Shape stat(rank, 1);
  for (int64_t i = 0; i < rank; ++i)
    if (i != 1)
      axes.push_back(i);
  stat[1] = typeOf(x).getDimSize(1);
  RankedTensorType statType = f32Type(b, stat);
  auto axesAttr = b.getDenseI64ArrayAttr(axes);
  auto perChannel = [&](Value v) -> Value {
    return b.create<ReshapeOp>(loc, statType, v);
  };
  Value eps = scalar(b, loc, static_cast<float>(getEps().convertToDouble()));
  Value one = scalar(b, loc, 1.0f);

  // x^ = (x - mu) / sqrt(var + eps) with the batch's biased statistics in
  // training (the forward's, no pass over the batch), the running ones
  // otherwise; y = w x^ + b.
  Value centered, var;
  if (getTraining()) {
    centered = binary<SubOp>(b, loc, x, perChannel(getBatchMean()));
    var = perChannel(getBatchVar());
  } else {
    centered = binary<SubOp>(b, loc, x, perChannel(getRunningMean()));
    var = perChannel(getRunningVar());
  }
  Value inv = binary<DivOp>(
      b, loc, one, b.create<SqrtOp>(loc, binary<AddOp>(b, loc, var, eps)));
  // The weight and bias gradients are two sums over the batch; in training
  // dx is made of them too (no further pass over the batch).
  auto sum = [&](Value v) -> Value {
    return b.create<ReduceSumOp>(loc, statType, v, axesAttr, b.getUnitAttr());
  };
  Value xhat, sumDy, sumDyXhat;
  if (getTraining() || getWeight()) {
    xhat = binary<MulOp>(b, loc, centered, inv);
    sumDyXhat = sum(binary<MulOp>(b, loc, dy, xhat));
  }
  if (getTraining() || getBias())
    sumDy = sum(dy);
  // dx = w inv dy, and in training, where the batch statistics depend on x
  // too, as PyTorch's batch_norm_backward: w inv (dy - mean(dy) - x^ mean(dy x^)).
  Value scale = getWeight() ? binary<MulOp>(b, loc, inv, perChannel(getWeight())) : inv;
  Value dx;
  if (getTraining()) {
    Value count = b.create<NumelOp>(loc, RankedTensorType::get({}, b.getF32Type()), x,
                                    axesAttr);
    Value t = binary<SubOp>(b, loc, dy, binary<DivOp>(b, loc, sumDy, count));
    Value u = binary<MulOp>(b, loc, xhat, binary<DivOp>(b, loc, sumDyXhat, count));
    dx = binary<MulOp>(b, loc, scale, binary<SubOp>(b, loc, t, u));
  } else {
    dx = binary<MulOp>(b, loc, scale, dy);
  }
  grads.push_back(dx);
  if (getWeight())
    grads.push_back(b.create<ReshapeOp>(loc, getWeight().getType(), sumDyXhat));
  if (getBias())
    grads.push_back(b.create<ReshapeOp>(loc, getBias().getType(), sumDy));
  if (getTraining()) {
    // y does not depend on the running statistics (nor the count) in
    // training.
    grads.push_back(nullptr);
    grads.push_back(nullptr);
    if (getCount())
      grads.push_back(nullptr);
    return success();
  }
  // In eval mode it does (they are buffers in real programs, so nothing
  // accumulates these, but the rule is complete), through dx = dx^ inv:
  // d mean = -sum(dx),  d var = -1/2 sum(dx (x - mean) inv^2).
  auto channelSum = [&](Value v, Value like) -> Value {
    return b.create<ReduceSumOp>(loc, like.getType(), v, axesAttr, UnitAttr());
  };
  grads.push_back(b.create<NegOp>(loc, channelSum(dx, getRunningMean())));
  Value inv2 = binary<MulOp>(b, loc, inv, inv);
  Value dvar = channelSum(
      binary<MulOp>(b, loc, binary<MulOp>(b, loc, dx, centered), inv2),
      getRunningVar());
  grads.push_back(binary<MulOp>(b, loc, dvar, scalar(b, loc, -0.5f)));
  if (getCount())
    grads.push_back(nullptr);
  return success();
}

LogicalResult ReduceSumOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                          SmallVectorImpl<Value> &grads) {
  grads.push_back(
      unreduce(b, getLoc(), dys[0], getInput(), getAxes(), getKeepdims()));
  return success();
}

LogicalResult ReduceMeanOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                           SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value n = b.create<NumelOp>(loc, RankedTensorType::get({}, b.getF32Type()),
                              getInput(), getAxesAttr());
  Value spread = unreduce(b, loc, dys[0], getInput(), getAxes(), getKeepdims());
  grads.push_back(binary<DivOp>(b, loc, spread, n));
  return success();
}

LogicalResult CrossReplicaSumOp::buildGradients(OpBuilder &b,
                                                ArrayRef<Value> dys,
                                                SmallVectorImpl<Value> &grads) {
  // y = sum_r x_r on every rank: dL/dx_r = sum over the ranks of dL/dy.
  grads.push_back(b.create<CrossReplicaSumOp>(getLoc(), dys[0]));
  return success();
}

LogicalResult SoftmaxOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                        SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  // dx = y (dy - sum(dy y, axis)).
  Value y = getResult();
  shape::Shape rowShape = shapeOf(y.getType());
  rowShape[getAxis()] = 1;
  Value dot = b.create<ReduceSumOp>(
      loc, f32Type(b, rowShape), binary<MulOp>(b, loc, dys[0], y),
      b.getDenseI64ArrayAttr({static_cast<int64_t>(getAxis())}),
      b.getUnitAttr());
  grads.push_back(
      binary<MulOp>(b, loc, y, binary<SubOp>(b, loc, dys[0], dot)));
  return success();
}

LogicalResult LogSoftmaxOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                           SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  // dx = dy - softmax(x) sum(dy, axis), with softmax(x) = exp(y) from the
  // result, as PyTorch's backward computes it (log_softmax_backward_data):
  // one exp per element instead of the softmax's two row passes again.
  shape::Shape rowShape = shapeOf(getType());
  rowShape[getAxis()] = 1;
  Value total = b.create<ReduceSumOp>(
      loc, f32Type(b, rowShape), dys[0],
      b.getDenseI64ArrayAttr({static_cast<int64_t>(getAxis())}),
      b.getUnitAttr());
  Value softmax = b.create<ExpOp>(loc, getResult());
  grads.push_back(
      binary<SubOp>(b, loc, dys[0], binary<MulOp>(b, loc, softmax, total)));
  return success();
}

//===----------------------------------------------------------------------===//
// Cost rules
//===----------------------------------------------------------------------===//

/// One per element reduced.
int64_t ReduceSumOp::getFlops(int64_t batch) {
  return elementsOf(getInput().getType(), batch);
}

int64_t ReduceMeanOp::getFlops(int64_t batch) {
  return elementsOf(getInput().getType(), batch);
}

int64_t ReduceMaxOp::getFlops(int64_t batch) {
  return elementsOf(getInput().getType(), batch);
}

/// Per element: the maximum, the exponential, the sum and the division
/// (or the logarithm's subtraction).
int64_t SoftmaxOp::getFlops(int64_t batch) {
  return saturatingMul(4, elementsOf(getInput().getType(), batch));
}

int64_t LogSoftmaxOp::getFlops(int64_t batch) {
  return saturatingMul(4, elementsOf(getInput().getType(), batch));
}

/// Per element: in training the statistics (a sum, a squared difference)
/// and the normalization with its affine map; in eval mode the
/// normalization alone.
int64_t BatchNormOp::getFlops(int64_t batch) {
  return saturatingMul(getTraining() ? 7 : 4, elementsOf(getInput().getType(), batch));
}
