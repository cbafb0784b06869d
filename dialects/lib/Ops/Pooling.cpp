//===- Pooling.cpp - Pooling windows --------------------------------------===//
//
// Pooling windows: max and average pooling and their gradients.
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

namespace {
/// Reads kernel, stride and padding of max_pool2d and its gradient and
/// infers the pooled shape of `input`.
shape::Inferred pooledShape(Operation *op, RankedTensorType input,
                            ArrayRef<int64_t> kernel, ArrayRef<int64_t> stride,
                            ArrayRef<int64_t> padding) {
  if (kernel.size() != 2 || stride.size() != 2 || padding.size() != 2)
    return shape::Inferred::fail(
        "expects 2 kernel sizes, 2 strides and 2 paddings (rows, columns)");
  auto rule = isa<AvgPool2dOp, AvgPool2dGradOp>(op) ? shape::avgPool2d
                                                    : shape::maxPool2d;
  return rule(shapeOf(input), {kernel[0], kernel[1]}, {stride[0], stride[1]},
              {padding[0], padding[1]});
}
} // namespace

/// A pooling op's result type is its input pooled.
template <class PoolOp> static LogicalResult verifyPool(PoolOp op) {
  return checkResult(op,
                     pooledShape(op, op.getInput().getType(), op.getKernel(),
                                 op.getStride(), op.getPadding()),
                     op.getType());
}

LogicalResult MaxPool2dOp::verify() { return verifyPool(*this); }

LogicalResult AvgPool2dOp::verify() { return verifyPool(*this); }

LogicalResult AvgPool2dGradOp::verify() {
  shape::Inferred pooled =
      pooledShape(*this, getType(), getKernel(), getStride(), getPadding());
  if (!pooled.ok())
    return emitOpError() << pooled.error;
  if (pooled.shape != shapeOf(getGradOutput().getType()))
    return emitOpError() << "avg_pool2d of the result type gives "
                         << shape::str(pooled.shape)
                         << ", not the grad_output shape "
                         << shape::str(shapeOf(getGradOutput().getType()));
  return success();
}

LogicalResult MaxPool2dGradOp::verify() {
  if (getType() != getInput().getType())
    return emitOpError() << "result type " << getType()
                         << " must be the input type " << getInput().getType();
  shape::Inferred pooled = pooledShape(*this, getInput().getType(), getKernel(),
                                       getStride(), getPadding());
  if (!pooled.ok())
    return emitOpError() << pooled.error;
  if (pooled.shape != shapeOf(getGradOutput().getType()))
    return emitOpError() << "max_pool2d of the input gives "
                         << shape::str(pooled.shape)
                         << ", not the grad_output shape "
                         << shape::str(shapeOf(getGradOutput().getType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Gradient rules
//===----------------------------------------------------------------------===//

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

//===----------------------------------------------------------------------===//
// Cost rules
//===----------------------------------------------------------------------===//

namespace {
/// One comparison or addition per tap of each window, the windows counted
/// on the pooled side: the result of a pooling, the incoming gradient
/// (operand 0) of a pooling's gradient.
template <class PoolOp> int64_t windowTaps(PoolOp op, Value pooled, int64_t batch) {
  ArrayRef<int64_t> kernel = op.getKernel();
  return saturatingMul(elementsOf(pooled.getType(), batch), kernel[0] * kernel[1]);
}
} // namespace

int64_t MaxPool2dOp::getFlops(int64_t batch) {
  return windowTaps(*this, getResult(), batch);
}

int64_t AvgPool2dOp::getFlops(int64_t batch) {
  return windowTaps(*this, getResult(), batch);
}

int64_t MaxPool2dGradOp::getFlops(int64_t batch) {
  return windowTaps(*this, getGradOutput(), batch);
}

int64_t AvgPool2dGradOp::getFlops(int64_t batch) {
  return windowTaps(*this, getGradOutput(), batch);
}
