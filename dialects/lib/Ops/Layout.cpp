//===- Layout.cpp - Data movement -----------------------------------------===//
//
// Data movement: reshape, transpose, slices, concatenation, broadcasting
// and one-hot; they compute nothing (Firn_DataMovementCost).
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

LogicalResult ReshapeOp::verify() {
  if (getInput().getType().getElementType() != getType().getElementType())
    return emitOpError("reshape cannot change the element type");
  return checkResult(*this,
                     shape::reshape(shapeOf(getInput().getType()),
                                    shapeOf(getType())),
                     getType());
}

LogicalResult TransposeOp::verify() {
  return checkResult(*this,
                     shape::transpose(shapeOf(getInput().getType()),
                                      std::vector<int64_t>(getPerm().begin(),
                                                           getPerm().end())),
                     getType());
}

namespace {
/// slice and slice_grad: `part` is `whole` with `part`'s size at `axis`,
/// which lies in it from `start`.
LogicalResult verifySlice(Operation *op, RankedTensorType whole,
                          RankedTensorType part, uint64_t axis, uint64_t start) {
  if (axis >= static_cast<uint64_t>(whole.getRank()) || whole.getRank() != part.getRank())
    return op->emitOpError() << "axis " << static_cast<int64_t>(axis)
                             << " is out of range for " << whole << " and " << part;
  const int a = static_cast<int>(axis);
  if (whole.isDynamicDim(a) || part.isDynamicDim(a))
    return op->emitOpError() << "the sliced axis " << a << " must be static";
  for (int d = 0; d < whole.getRank(); ++d)
    if (d != a && whole.getDimSize(d) != part.getDimSize(d))
      return op->emitOpError() << shape::str(shapeOf(part)) << " is not a slice of "
                               << shape::str(shapeOf(whole)) << " along axis " << a;
  if (start + static_cast<uint64_t>(part.getDimSize(a)) >
      static_cast<uint64_t>(whole.getDimSize(a)))
    return op->emitOpError() << "elements [" << start << ", "
                             << start + part.getDimSize(a) << ") along axis " << a
                             << " are not inside " << shape::str(shapeOf(whole));
  return success();
}
} // namespace

LogicalResult SliceOp::verify() {
  return verifySlice(*this, getInput().getType(), getType(), getAxis(), getStart());
}

LogicalResult SliceGradOp::verify() {
  return verifySlice(*this, getType(), getGradOutput().getType(), getAxis(), getStart());
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one operand");
  RankedTensorType result = getType();
  uint64_t offset = 0;
  for (Value input : getInputs()) {
    if (failed(verifySlice(*this, result, cast<RankedTensorType>(input.getType()),
                           getAxis(), offset)))
      return failure();
    offset += cast<RankedTensorType>(input.getType()).getDimSize(getAxis());
  }
  if (offset != static_cast<uint64_t>(result.getDimSize(getAxis())))
    return emitOpError() << "the operands' sizes along axis " << getAxis() << " add up to "
                         << offset << ", not " << result.getDimSize(getAxis());
  return success();
}

LogicalResult BroadcastLikeOp::verify() {
  shape::Shape from = shapeOf(getInput().getType());
  shape::Shape to = shapeOf(getLike().getType());
  if (!shape::broadcastsTo(from, to))
    return emitOpError() << shape::str(from) << " does not broadcast to "
                         << shape::str(to);
  if (shapeOf(getType()) != to)
    return emitOpError() << "result shape " << shape::str(shapeOf(getType()))
                         << " must be the shape of 'like', " << shape::str(to);
  return success();
}

LogicalResult OneHotOp::verify() {
  RankedTensorType indices = getIndices().getType();
  if (!indices.getElementType().isInteger(64) || indices.getRank() < 1)
    return emitOpError() << "indices must be an i64 tensor [N, d...], got "
                         << indices;
  // [N, d...] -> [N, C, d...].
  shape::Shape result = shapeOf(getType());
  if (result.size() == static_cast<size_t>(indices.getRank()) + 1)
    result.erase(result.begin() + 1);
  if (result != shapeOf(indices))
    return emitOpError() << "result must be the indices' shape "
                         << shape::str(shapeOf(indices))
                         << " with the classes at dimension 1, got " << getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Gradient rules
//===----------------------------------------------------------------------===//

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

LogicalResult OneHotOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                       SmallVectorImpl<Value> &grads) {
  // Of integer class indices (nll_loss picks with it): no gradient.
  grads.push_back(nullptr);
  return success();
}

LogicalResult BroadcastLikeOp::buildGradients(OpBuilder &b,
                                              ArrayRef<Value> dys,
                                              SmallVectorImpl<Value> &grads) {
  grads.push_back(unbroadcast(b, getLoc(), dys[0], typeOf(getInput())));
  grads.push_back(nullptr); // `like` only donates its shape.
  return success();
}
