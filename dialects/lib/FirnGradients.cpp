//===- FirnGradients.cpp - The gradient rule of each op -------------------===//
//
// One `buildGradients` per differentiable op: given dL/d(result), emit
// dL/d(operand) in firn's own primitive ops. Rules follow PyTorch's
// derivatives (tools/autograd/derivatives.yaml), including its loss
// reductions. Broadcasting ops reduce each operand's gradient back to the
// operand's shape (`unbroadcast`), which is how a [1]-shaped bias gets the
// sum of its [2]-shaped gradient (seed 001).
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace firn;

namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

RankedTensorType f32Type(OpBuilder &b, const shape::Shape &s) {
  return tensorTypeOf(s, b.getF32Type());
}

Value scalar(OpBuilder &b, Location loc, float value) {
  return b.create<ConstantOp>(
      loc, DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                                  value));
}

/// Elementwise binary op with the broadcast result type.
template <typename OpT>
Value binary(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  shape::Inferred r =
      shape::broadcast(shapeOf(lhs.getType()), shapeOf(rhs.getType()));
  return b.create<OpT>(loc, f32Type(b, r.shape), lhs, rhs);
}

/// Sums `grad` down to `target`'s shape: over the leading dimensions
/// `target` lacks and over those where it has size 1 (the inverse of
/// broadcasting `target` to `grad`'s shape).
Value unbroadcast(OpBuilder &b, Location loc, Value grad,
                  RankedTensorType target) {
  shape::Shape g = shapeOf(grad.getType()), t = shapeOf(target);
  if (g == t)
    return grad;
  size_t lead = g.size() - t.size();
  SmallVector<int64_t> axes;
  shape::Shape kept = g;
  for (size_t i = 0; i < g.size(); ++i) {
    if (i < lead || (t[i - lead] == 1 && g[i] != 1)) {
      axes.push_back(static_cast<int64_t>(i));
      kept[i] = 1;
    }
  }
  Value summed = grad;
  if (!axes.empty())
    summed = b.create<ReduceSumOp>(loc, f32Type(b, kept), grad,
                                   b.getDenseI64ArrayAttr(axes),
                                   b.getUnitAttr());
  if (kept != t)
    summed = b.create<ReshapeOp>(loc, target, summed);
  return summed;
}

/// Gives `grad` (the gradient of a reduction's result) the reduced axes back
/// as size-1 dimensions, then broadcasts it to the shape of `input`.
Value unreduce(OpBuilder &b, Location loc, Value grad, Value input,
               ArrayRef<int64_t> axes, bool keepdims) {
  if (!keepdims && !axes.empty()) {
    shape::Shape kept = shapeOf(input.getType());
    for (int64_t axis : axes)
      kept[axis] = 1;
    grad = b.create<ReshapeOp>(loc, f32Type(b, kept), grad);
  }
  return b.create<BroadcastLikeOp>(loc, typeOf(input), grad, input);
}

} // namespace

//===----------------------------------------------------------------------===//
// Layer-level ops
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                       SmallVectorImpl<Value> &grads) {
  Value dy = dys[0];
  Location loc = getLoc();
  // y = x W^T + b:  dx = dy W,  dW = dy^T x,  db = sum of dy over rows.
  if (getInput().getType().getRank() == 2) {
    grads.push_back(b.create<MatmulOp>(loc, getInput().getType(), dy,
                                       getWeight(), false, false));
    grads.push_back(b.create<MatmulOp>(loc, getWeight().getType(), dy,
                                       getInput(), true, false));
  } else {
    // [N, *, in]: dx = linear(dy, W^T) at every position; dW sums over all
    // of them.
    auto w = getWeight().getType();
    Value wt = b.create<TransposeOp>(
        loc, RankedTensorType::get({w.getDimSize(1), w.getDimSize(0)}, w.getElementType()),
        getWeight(), b.getDenseI64ArrayAttr({1, 0}));
    grads.push_back(b.create<LinearOp>(loc, getInput().getType(), dy, wt, Value()));
    grads.push_back(b.create<LinearWeightGradOp>(loc, w, dy, getInput()));
  }
  if (getBias())
    grads.push_back(unbroadcast(b, loc, dy, typeOf(getBias())));
  return success();
}

LogicalResult MaxPool2dOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                          SmallVectorImpl<Value> &grads) {
  // The input is needed again: it decides where each window's maximum was.
  grads.push_back(b.create<MaxPool2dGradOp>(
      getLoc(), getInput().getType(), dys[0], getInput(), getKernelAttr(),
      getStrideAttr(), getPaddingAttr()));
  return success();
}

LogicalResult AvgPool2dOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                          SmallVectorImpl<Value> &grads) {
  grads.push_back(b.create<AvgPool2dGradOp>(
      getLoc(), getInput().getType(), dys[0], getKernelAttr(), getStrideAttr(),
      getPaddingAttr(), getCountIncludePadAttr()));
  return success();
}

LogicalResult Conv2dOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                       SmallVectorImpl<Value> &grads) {
  Value dy = dys[0];
  Location loc = getLoc();
  grads.push_back(b.create<Conv2dGradInputOp>(
      loc, getInput().getType(), dy, getWeight(), getStrideAttr(),
      getPaddingAttr(), getDilationAttr()));
  grads.push_back(b.create<Conv2dGradWeightOp>(
      loc, getWeight().getType(), getInput(), dy, getStrideAttr(),
      getPaddingAttr(), getDilationAttr()));
  if (getBias())
    grads.push_back(b.create<ReduceSumOp>(loc, getBias().getType(), dy,
                                          b.getDenseI64ArrayAttr({0, 2, 3}),
                                          UnitAttr()));
  return success();
}

LogicalResult DropoutOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                        SmallVectorImpl<Value> &grads) {
  // y = x * mask is linear in x: dx = dy * mask, the same mask drawn again
  // from the same key and stream.
  grads.push_back(b.create<DropoutOp>(getLoc(), dys[0].getType(), dys[0],
                                      getKey(), getPAttr(), getStreamAttr(),
                                      getTrainingAttr()));
  if (getKey())
    grads.push_back(nullptr);
  return success();
}

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

//===----------------------------------------------------------------------===//
// Primitive ops
//===----------------------------------------------------------------------===//

LogicalResult ReluOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                     SmallVectorImpl<Value> &grads) {
  grads.push_back(b.create<ReluGradOp>(getLoc(), dys[0], getInput()));
  return success();
}

LogicalResult NegOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                    SmallVectorImpl<Value> &grads) {
  grads.push_back(b.create<NegOp>(getLoc(), dys[0]));
  return success();
}

LogicalResult AddOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                    SmallVectorImpl<Value> &grads) {
  grads.push_back(unbroadcast(b, getLoc(), dys[0], typeOf(getLhs())));
  grads.push_back(unbroadcast(b, getLoc(), dys[0], typeOf(getRhs())));
  return success();
}

LogicalResult SubOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                    SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  grads.push_back(unbroadcast(b, loc, dys[0], typeOf(getLhs())));
  grads.push_back(
      unbroadcast(b, loc, b.create<NegOp>(loc, dys[0]), typeOf(getRhs())));
  return success();
}

LogicalResult MulOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                    SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  grads.push_back(unbroadcast(b, loc, binary<MulOp>(b, loc, dys[0], getRhs()),
                              typeOf(getLhs())));
  grads.push_back(unbroadcast(b, loc, binary<MulOp>(b, loc, dys[0], getLhs()),
                              typeOf(getRhs())));
  return success();
}

LogicalResult PowOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                    SmallVectorImpl<Value> &grads) {
  // y = l^r: dl = dy r l^(r - 1), dr = dy y log(l), as torch.pow's.
  Location loc = getLoc();
  Value dy = dys[0];
  auto constant = getRhs().getDefiningOp<ConstantOp>();
  auto dense = constant ? dyn_cast<DenseElementsAttr>(constant.getValue())
                        : DenseElementsAttr();
  if (dense && dense.isSplat() && dense.getSplatValue<float>() == 0.0f) {
    // x^0 is 1: no gradient (0 * x^-1 would be NaN at x = 0).
    grads.push_back(nullptr);
    grads.push_back(nullptr);
    return success();
  }
  Value rMinusOne = binary<SubOp>(b, loc, getRhs(), scalar(b, loc, 1.0f));
  Value dl = binary<MulOp>(
      b, loc, dy,
      binary<MulOp>(b, loc, getRhs(), binary<PowOp>(b, loc, getLhs(), rMinusOne)));
  grads.push_back(unbroadcast(b, loc, dl, typeOf(getLhs())));
  // A constant exponent (pow(x, 2)) gets no gradient: log of a negative base
  // would only make a NaN nobody reads.
  if (constant) {
    grads.push_back(nullptr);
    return success();
  }
  Value dr = binary<MulOp>(
      b, loc, dy,
      binary<MulOp>(b, loc, getResult(), b.create<LogOp>(loc, getLhs()).getResult()));
  grads.push_back(unbroadcast(b, loc, dr, typeOf(getRhs())));
  return success();
}

LogicalResult MaxOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                    SmallVectorImpl<Value> &grads) {
  // As torch.maximum's: dy goes to the larger operand, half to each at a
  // tie. relu_grad(dy, l - r) is dy where l > r (and where l - r is NaN).
  Location loc = getLoc();
  Value dy = dys[0];
  auto type = dy.getType();
  Value toLhs = b.create<ReluGradOp>(loc, type, dy,
                                     binary<SubOp>(b, loc, getLhs(), getRhs()));
  Value toRhs = b.create<ReluGradOp>(loc, type, dy,
                                     binary<SubOp>(b, loc, getRhs(), getLhs()));
  Value tie = binary<SubOp>(b, loc, binary<SubOp>(b, loc, dy, toLhs), toRhs);
  Value half = binary<MulOp>(b, loc, tie, scalar(b, loc, 0.5f));
  grads.push_back(unbroadcast(b, loc, binary<AddOp>(b, loc, toLhs, half),
                              typeOf(getLhs())));
  grads.push_back(unbroadcast(b, loc, binary<AddOp>(b, loc, toRhs, half),
                              typeOf(getRhs())));
  return success();
}

LogicalResult CompareOp::buildGradients(OpBuilder &, ArrayRef<Value>,
                                        SmallVectorImpl<Value> &grads) {
  // A mask is piecewise constant: nothing flows back to what was compared.
  grads.push_back(nullptr);
  grads.push_back(nullptr);
  return success();
}

LogicalResult SelectOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                       SmallVectorImpl<Value> &grads) {
  // As torch.where's: dy where an operand was chosen, 0 where it was not
  // (selected, not multiplied by the mask, so that it stays 0 next to inf).
  Location loc = getLoc();
  Value dy = dys[0];
  Value zero = scalar(b, loc, 0.0f);
  grads.push_back(nullptr);
  grads.push_back(unbroadcast(
      b, loc, b.create<SelectOp>(loc, dy.getType(), getCondition(), dy, zero),
      typeOf(getLhs())));
  grads.push_back(unbroadcast(
      b, loc, b.create<SelectOp>(loc, dy.getType(), getCondition(), zero, dy),
      typeOf(getRhs())));
  return success();
}

LogicalResult DivOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                    SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  // y = l / r:  dl = dy / r,  dr = -dy y / r.
  Value dl = binary<DivOp>(b, loc, dys[0], getRhs());
  grads.push_back(unbroadcast(b, loc, dl, typeOf(getLhs())));
  Value dr = b.create<NegOp>(loc, binary<MulOp>(b, loc, dl, getResult()));
  grads.push_back(unbroadcast(b, loc, dr, typeOf(getRhs())));
  return success();
}

LogicalResult ReshapeOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                        SmallVectorImpl<Value> &grads) {
  grads.push_back(b.create<ReshapeOp>(getLoc(), getInput().getType(), dys[0]));
  return success();
}

LogicalResult TransposeOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                          SmallVectorImpl<Value> &grads) {
  SmallVector<int64_t> inverse(getPerm().size());
  for (auto [i, p] : llvm::enumerate(getPerm()))
    inverse[p] = static_cast<int64_t>(i);
  grads.push_back(b.create<TransposeOp>(getLoc(), getInput().getType(), dys[0],
                                        b.getDenseI64ArrayAttr(inverse)));
  return success();
}

LogicalResult SliceOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                      SmallVectorImpl<Value> &grads) {
  grads.push_back(b.create<SliceGradOp>(getLoc(), getInput().getType(), dys[0],
                                        getAxisAttr(), getStartAttr()));
  return success();
}

LogicalResult ConcatOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                       SmallVectorImpl<Value> &grads) {
  // Each operand's part of the gradient: its slice of dy.
  int64_t start = 0;
  for (Value input : getInputs()) {
    auto type = cast<RankedTensorType>(input.getType());
    grads.push_back(b.create<SliceOp>(getLoc(), type, dys[0], getAxisAttr(),
                                      b.getI64IntegerAttr(start)));
    start += type.getDimSize(getAxis());
  }
  return success();
}

LogicalResult MatmulOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                       SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value dc = dys[0], a = getLhs(), c = getRhs();
  bool ta = getTransposeLhs(), tb = getTransposeRhs();
  // C = op(A) op(B); each case is the adjoint written without transposes.
  auto mm = [&](Value l, Value r, bool tl, bool tr, Type type) -> Value {
    return b.create<MatmulOp>(loc, type, l, r, tl, tr);
  };
  Type aType = a.getType(), bType = c.getType();
  if (!ta && !tb) {
    grads.push_back(mm(dc, c, false, true, aType));
    grads.push_back(mm(a, dc, true, false, bType));
  } else if (ta && !tb) {
    grads.push_back(mm(c, dc, false, true, aType));
    grads.push_back(mm(a, dc, false, false, bType));
  } else if (!ta && tb) {
    grads.push_back(mm(dc, c, false, false, aType));
    grads.push_back(mm(dc, a, true, false, bType));
  } else {
    grads.push_back(mm(c, dc, true, true, aType));
    grads.push_back(mm(dc, a, true, true, bType));
  }
  return success();
}

LogicalResult AttentionOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                          SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value dy = dys[0], q = getQuery(), k = getKey(), v = getValue();
  // The weights again, in primitive ops (the fused forward kept none):
  // p = softmax(q kᵀ · scale + causal mask), and through them the
  // primitives' own gradient rules.
  shape::Shape scoreShape = shapeOf(q.getType());
  const size_t r = scoreShape.size();
  const int64_t l = scoreShape[r - 2], s = typeOf(k).getDimSize(r - 2);
  scoreShape[r - 1] = s;
  RankedTensorType scoreType = f32Type(b, scoreShape);
  Value scale = scalar(b, loc, static_cast<float>(getScale().convertToDouble()));
  auto product = b.create<MatmulOp>(loc, scoreType, q, k, false, true);
  Value scores = b.create<MulOp>(loc, scoreType, product, scale);
  if (getCausal())
    scores = b.create<AddOp>(loc, scoreType, scores, buildCausalMask(b, loc, l, s));
  auto p = b.create<SoftmaxOp>(loc, scores, static_cast<int64_t>(r - 1));
  // y = p v: dv = pᵀ dy, dp = dy vᵀ.
  Value dv = b.create<MatmulOp>(loc, v.getType(), p, dy, true, false);
  Value dp = b.create<MatmulOp>(loc, scoreType, dy, v, false, true);
  // The mask is a constant: the scaled scores get the softmax's gradient.
  SmallVector<Value> dScores, dQK;
  if (failed(p.buildGradients(b, {dp}, dScores)) ||
      failed(product.buildGradients(b, {binary<MulOp>(b, loc, dScores[0], scale)}, dQK)))
    return failure();
  grads.push_back(dQK[0]);
  grads.push_back(dQK[1]);
  grads.push_back(dv);
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

LogicalResult OneHotOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                       SmallVectorImpl<Value> &grads) {
  // Of integer class indices (nll_loss picks with it): no gradient.
  grads.push_back(nullptr);
  return success();
}

LogicalResult EmbeddingOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                          SmallVectorImpl<Value> &grads) {
  grads.push_back(b.create<EmbeddingGradOp>(getLoc(), getWeight().getType(), dys[0],
                                            getIndices(), getPaddingIdxAttr()));
  grads.push_back(nullptr); // Integer indices.
  return success();
}

LogicalResult CrossReplicaSumOp::buildGradients(OpBuilder &b,
                                                ArrayRef<Value> dys,
                                                SmallVectorImpl<Value> &grads) {
  // y = sum_r x_r on every rank: dL/dx_r = sum over the ranks of dL/dy.
  grads.push_back(b.create<CrossReplicaSumOp>(getLoc(), dys[0]));
  return success();
}

LogicalResult BroadcastLikeOp::buildGradients(OpBuilder &b,
                                              ArrayRef<Value> dys,
                                              SmallVectorImpl<Value> &grads) {
  grads.push_back(unbroadcast(b, getLoc(), dys[0], typeOf(getInput())));
  grads.push_back(nullptr); // `like` only donates its shape.
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
