//===- Products.cpp - Products --------------------------------------------===//
//
// Products: linear, matmul and the conv2d family, with their gradient ops.
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

LogicalResult LinearOp::verify() {
  return checkResult(*this,
                     shape::linear(shapeOf(getInput().getType()),
                                   shapeOf(getWeight().getType()),
                                   optionalShape(getBias())),
                     getType());
}

LogicalResult Conv2dOp::verify() {
  auto g = geometryOf(*this, getStride(), getPadding(), getDilation());
  if (failed(g))
    return failure();
  return checkResult(*this,
                     shape::conv2d(shapeOf(getInput().getType()),
                                   shapeOf(getWeight().getType()),
                                   optionalShape(getBias()), *g),
                     getType());
}

LogicalResult LinearWeightGradOp::verify() {
  shape::Shape dy = shapeOf(getGradOutput().getType());
  shape::Shape x = shapeOf(getInput().getType());
  shape::Shape w = shapeOf(getType());
  if (dy.size() < 2 || dy.size() != x.size() ||
      !std::equal(dy.begin(), dy.end() - 1, x.begin()))
    return emitOpError() << "grad_output " << shape::str(dy) << " and input "
                         << shape::str(x)
                         << " must have the same leading dimensions";
  if (w != shape::Shape{dy.back(), x.back()})
    return emitOpError() << "result " << shape::str(w) << " must be ["
                         << dy.back() << ", " << x.back() << "]";
  return success();
}

LogicalResult MatmulOp::verify() {
  return checkResult(*this,
                     shape::matmul(shapeOf(getLhs().getType()),
                                   shapeOf(getRhs().getType()),
                                   getTransposeLhs(), getTransposeRhs()),
                     getType());
}

LogicalResult Conv2dGradInputOp::verify() {
  auto g = geometryOf(*this, getStride(), getPadding(), getDilation());
  if (failed(g))
    return failure();
  // The input shape is right when convolving it reproduces grad_output.
  shape::Inferred forward = shape::conv2d(
      shapeOf(getType()), shapeOf(getWeight().getType()), std::nullopt, *g);
  if (!forward.ok())
    return emitOpError() << forward.error;
  shape::Shape dy = shapeOf(getGradOutput().getType());
  if (forward.shape != dy)
    return emitOpError() << "conv2d of the result shape "
                         << shape::str(shapeOf(getType())) << " gives "
                         << shape::str(forward.shape)
                         << ", not the grad_output shape " << shape::str(dy);
  return success();
}

LogicalResult Conv2dGradWeightOp::verify() {
  auto g = geometryOf(*this, getStride(), getPadding(), getDilation());
  if (failed(g))
    return failure();
  shape::Inferred forward =
      shape::conv2d(shapeOf(getInput().getType()), shapeOf(getType()),
                    std::nullopt, *g);
  if (!forward.ok())
    return emitOpError() << forward.error;
  shape::Shape dy = shapeOf(getGradOutput().getType());
  if (forward.shape != dy)
    return emitOpError() << "conv2d with a weight of the result shape "
                         << shape::str(shapeOf(getType())) << " gives "
                         << shape::str(forward.shape)
                         << ", not the grad_output shape " << shape::str(dy);
  return success();
}

//===----------------------------------------------------------------------===//
// Gradient rules
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

//===----------------------------------------------------------------------===//
// Cost rules
//===----------------------------------------------------------------------===//

int64_t LinearOp::getFlops(int64_t batch) {
  int64_t out = elementsOf(getType(), batch);
  int64_t in = getWeight().getType().getDimSize(1);
  return saturatingAdd(saturatingMul(saturatingMul(2, out), in),
                       getBias() ? out : 0);
}

/// 2 FLOPs per (position, out, in): the operand's elements times `out`.
int64_t LinearWeightGradOp::getFlops(int64_t batch) {
  return saturatingMul(saturatingMul(2, elementsOf(getInput().getType(), batch)),
                       getType().getDimSize(0));
}

/// 2 FLOPs per product summed into each result element; the summed
/// dimension is the lhs's last (second-to-last when it is transposed),
/// whatever the batch dimensions in front.
int64_t MatmulOp::getFlops(int64_t batch) {
  auto lhs = getLhs().getType();
  const int64_t r = lhs.getRank();
  int64_t k = getTransposeLhs() ? lhs.getDimSize(r - 2) : lhs.getDimSize(r - 1);
  if (ShapedType::isDynamic(k))
    k = batch;
  return saturatingMul(saturatingMul(2, elementsOf(getType(), batch)), k);
}

int64_t Conv2dOp::getFlops(int64_t batch) {
  return convFlops(getResult(), getWeight(), batch);
}

int64_t Conv2dGradInputOp::getFlops(int64_t batch) {
  return convFlops(getGradOutput(), getWeight(), batch);
}

int64_t Conv2dGradWeightOp::getFlops(int64_t batch) {
  return convFlops(getGradOutput(), getResult(), batch);
}
