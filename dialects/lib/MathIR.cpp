//===- MathIR.cpp - Arithmetic on IRValue creates firn ops ----------------===//
#include "firn/Dialect/MathIR.h"

using namespace mlir;

namespace firn::math {

namespace {
/// An elementwise binary op with the broadcast result type.
template <class OpT> IRValue binary(const IRValue &a, const IRValue &b) {
  shape::Inferred r =
      shape::broadcast(shapeOf(a.value.getType()), shapeOf(b.value.getType()));
  auto type = tensorTypeOf(r.shape, a.builder->getF32Type());
  return {a.builder, a.loc,
          a.builder->create<OpT>(a.loc, type, a.value, b.value)};
}
} // namespace

IRValue IRValue::scalar(double v) const {
  auto type = RankedTensorType::get({}, builder->getF32Type());
  return {builder, loc,
          builder->create<ConstantOp>(
              loc, DenseElementsAttr::get(type, static_cast<float>(v)))};
}

IRValue operator+(const IRValue &a, const IRValue &b) { return binary<AddOp>(a, b); }
IRValue operator-(const IRValue &a, const IRValue &b) { return binary<SubOp>(a, b); }
IRValue operator*(const IRValue &a, const IRValue &b) { return binary<MulOp>(a, b); }
IRValue operator/(const IRValue &a, const IRValue &b) { return binary<DivOp>(a, b); }
IRValue operator-(const IRValue &a) { return a.unary<NegOp>(); }

} // namespace firn::math
