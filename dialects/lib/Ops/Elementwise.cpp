//===- Elementwise.cpp - Elementwise ops ----------------------------------===//
//
// Elementwise ops: constants, arithmetic with broadcasting, masks (compare,
// select), relu and dropout. The math ops (exp, tanh, ...) are stated
// whole in FirnOps.td (Firn_MathOp) and have nothing here.
//
// Each op's verifier, gradient rule (DifferentiableOpInterface) and cost
// rule (CostOpInterface) are here, beside one another; its definition is
// in FirnOps.td, its reference kernel and Halide lowering in the family's
// files of compiler/lib/Reference and compiler/lib/Codegen.
//
//===----------------------------------------------------------------------===//
#include "OpSupport.h"

#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace firn;
using namespace firn::detail;

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

LogicalResult DropoutOp::verify() {
  double p = getP().convertToDouble();
  if (p < 0 || p >= 1)
    return emitOpError() << "p must be in [0, 1), got " << p;
  if (getTraining() && !getKey())
    return emitOpError("in training mode needs a random-number key");
  if (getStreamAttr().getInt() < 0)
    return emitOpError("stream must not be negative");
  return success();
}

ParseResult ConstantOp::parse(OpAsmParser &parser, OperationState &result) {
  ElementsAttr value;
  if (parser.parseOptionalAttrDict(result.attributes) ||
      parser.parseAttribute(value, "value", result.attributes))
    return failure();
  result.addTypes(value.getType());
  return success();
}

void ConstantOp::print(OpAsmPrinter &printer) {
  printer.printOptionalAttrDict((*this)->getAttrs(), {"value"});
  printer << ' ';
  printer.printAttribute(getValue());
}

LogicalResult ConstantOp::verify() {
  if (shape::hasBatch(shapeOf(getType())))
    return emitOpError("a constant cannot have the batch dimension");
  if (getValue().getType() != getType())
    return emitOpError() << "value of type " << getValue().getType()
                         << " does not match the result type " << getType();
  return success();
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

namespace {
LogicalResult verifyBroadcastBinary(Operation *op) {
  return checkResult(op,
                     shape::broadcast(shapeOf(op->getOperand(0).getType()),
                                      shapeOf(op->getOperand(1).getType())),
                     op->getResult(0).getType());
}
} // namespace

LogicalResult AddOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult SubOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult MulOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult DivOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult MaxOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult PowOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult CompareOp::verify() { return verifyBroadcastBinary(*this); }

LogicalResult SelectOp::verify() {
  shape::Inferred values = shape::broadcast(shapeOf(getLhs().getType()),
                                            shapeOf(getRhs().getType()));
  if (!values.ok())
    return emitOpError() << values.error;
  return checkResult(*this,
                     shape::broadcast(shapeOf(getCondition().getType()), values.shape),
                     getType());
}

//===----------------------------------------------------------------------===//
// Gradient rules
//===----------------------------------------------------------------------===//

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

LogicalResult ReluOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                     SmallVectorImpl<Value> &grads) {
  // Masked by the result, as PyTorch's threshold_backward (y > 0 exactly
  // where x > 0, NaN where x is NaN): the result is stored anyway (the next
  // layer's input), so the input need not be kept for the backward pass; a
  // BatchNorm's output before the ReLU was a 4 MB activation written only
  // for this.
  grads.push_back(b.create<ReluGradOp>(getLoc(), dys[0], getResult()));
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
