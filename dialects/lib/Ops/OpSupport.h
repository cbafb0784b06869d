//===- OpSupport.h - What the op family files share -------------*- C++ -*-===//
//
// Helpers of the verifiers and gradient rules in dialects/lib/Ops/, one
// file per op family: checking a result against its shape rule, reading
// the conv2d geometry, and building the small pieces of IR gradients are
// written with (constants, broadcast binaries, sums back to an operand's
// shape).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_DIALECT_OPS_OPSUPPORT_H
#define FIRN_DIALECT_OPS_OPSUPPORT_H

#include "firn/Dialect/FirnOps.h"

#include "mlir/IR/Builders.h"

namespace firn::detail {
// The op files are written in MLIR's names, as FirnOps.cpp was.
using namespace mlir;

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

/// Compares an op's declared result type with the rule's answer.
inline LogicalResult checkResult(Operation *op, const shape::Inferred &inferred,
                          Type result) {
  if (!inferred.ok())
    return op->emitOpError() << inferred.error;
  if (shapeOf(result) != inferred.shape)
    return op->emitOpError()
           << "result shape " << shape::str(shapeOf(result))
           << " does not match the inferred shape "
           << shape::str(inferred.shape);
  return success();
}

inline std::optional<shape::Shape> optionalShape(Value v) {
  if (!v)
    return std::nullopt;
  return shapeOf(v.getType());
}

/// Reads stride, padding and dilation of the conv2d family.
inline FailureOr<shape::Conv2dGeometry> geometryOf(Operation *op,
                                            ArrayRef<int64_t> stride,
                                            ArrayRef<int64_t> padding,
                                            ArrayRef<int64_t> dilation) {
  if (stride.size() != 2 || padding.size() != 4 || dilation.size() != 2)
    return op->emitOpError()
           << "expects 2 strides, 4 paddings (top, left, bottom, right) and 2 "
              "dilations, got "
           << stride.size() << ", " << padding.size() << " and "
           << dilation.size();
  shape::Conv2dGeometry g;
  std::copy(stride.begin(), stride.end(), g.stride.begin());
  std::copy(padding.begin(), padding.end(), g.padding.begin());
  std::copy(dilation.begin(), dilation.end(), g.dilation.begin());
  return g;
}

/// A symbol reference must resolve to an op of the expected kind whose type
/// equals `type`.
template <typename TargetOp>
inline LogicalResult verifyStateUse(Operation *op, FlatSymbolRefAttr ref, Type type,
                             SymbolTableCollection &symbols, StringRef what) {
  auto target = symbols.lookupNearestSymbolFrom<TargetOp>(op, ref);
  if (!target)
    return op->emitOpError() << "'" << ref.getValue() << "' is not a " << what;
  if (target.getType() != type)
    return op->emitOpError()
           << "type " << type << " does not match " << what << " '"
           << ref.getValue() << "' of type " << target.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Gradient rules
//===----------------------------------------------------------------------===//

inline RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

inline RankedTensorType f32Type(OpBuilder &b, const shape::Shape &s) {
  return tensorTypeOf(s, b.getF32Type());
}

inline Value scalar(OpBuilder &b, Location loc, float value) {
  return b.create<ConstantOp>(
      loc, DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                                  value));
}

/// Elementwise binary op with the broadcast result type.
template <typename OpT>
inline Value binary(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  shape::Inferred r =
      shape::broadcast(shapeOf(lhs.getType()), shapeOf(rhs.getType()));
  return b.create<OpT>(loc, f32Type(b, r.shape), lhs, rhs);
}

/// Sums `grad` down to `target`'s shape: over the leading dimensions
/// `target` lacks and over those where it has size 1 (the inverse of
/// broadcasting `target` to `grad`'s shape).
inline Value unbroadcast(OpBuilder &b, Location loc, Value grad,
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
inline Value unreduce(OpBuilder &b, Location loc, Value grad, Value input,
               ArrayRef<int64_t> axes, bool keepdims) {
  if (!keepdims && !axes.empty()) {
    shape::Shape kept = shapeOf(input.getType());
    for (int64_t axis : axes)
      kept[axis] = 1;
    grad = b.create<ReshapeOp>(loc, f32Type(b, kept), grad);
  }
  return b.create<BroadcastLikeOp>(loc, typeOf(input), grad, input);
}


/// The FLOPs of a convolution: 2 * (output elements) * (products summed
/// into each), from the [O, C/groups, kh, kw] weight.
inline int64_t convFlops(Value output, Value weight, int64_t batch) {
  auto w = cast<RankedTensorType>(weight.getType());
  int64_t perOutput = saturatingMul(
      saturatingMul(w.getDimSize(1), w.getDimSize(2)), w.getDimSize(3));
  return saturatingMul(saturatingMul(2, elementsOf(output.getType(), batch)),
                       perOutput);
}

} // namespace firn::detail

#endif // FIRN_DIALECT_OPS_OPSUPPORT_H
