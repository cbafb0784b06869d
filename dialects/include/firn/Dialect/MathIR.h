//===- MathIR.h - Elementwise formulas that build IR -------------*- C++ -*-===//
//
// IRValue is a firn tensor Value under construction: arithmetic on it
// creates firn ops (broadcasting as they do) at a builder's insertion point,
// and Math<IRValue> creates the math ops themselves. With it, an elementwise
// math op's `gradient` formula (FirnOps.td) becomes the IR of its
// gradient, so each op states its derivative once.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_DIALECT_MATHIR_H
#define FIRN_DIALECT_MATHIR_H

#include "firn/Dialect/FirnOps.h"

#include "mlir/IR/Builders.h"

namespace firn::math {

struct IRValue {
  mlir::OpBuilder *builder;
  mlir::Location loc;
  mlir::Value value;

  /// A 0-d f32 constant beside this value.
  IRValue scalar(double v) const;
  template <class OpT> IRValue unary() const {
    return {builder, loc, builder->create<OpT>(loc, value)};
  }
};

IRValue operator+(const IRValue &a, const IRValue &b);
IRValue operator-(const IRValue &a, const IRValue &b);
IRValue operator*(const IRValue &a, const IRValue &b);
IRValue operator/(const IRValue &a, const IRValue &b);
IRValue operator-(const IRValue &a);
inline IRValue operator+(const IRValue &a, double b) { return a + a.scalar(b); }
inline IRValue operator+(double a, const IRValue &b) { return b.scalar(a) + b; }
inline IRValue operator-(const IRValue &a, double b) { return a - a.scalar(b); }
inline IRValue operator-(double a, const IRValue &b) { return b.scalar(a) - b; }
inline IRValue operator*(const IRValue &a, double b) { return a * a.scalar(b); }
inline IRValue operator*(double a, const IRValue &b) { return b.scalar(a) * b; }
inline IRValue operator/(const IRValue &a, double b) { return a / a.scalar(b); }
inline IRValue operator/(double a, const IRValue &b) { return b.scalar(a) / b; }

template <> struct Math<IRValue> {
  static IRValue constant(const IRValue &like, double v) { return like.scalar(v); }
  static IRValue exp(const IRValue &x) { return x.unary<ExpOp>(); }
  static IRValue log(const IRValue &x) { return x.unary<LogOp>(); }
  static IRValue sqrt(const IRValue &x) { return x.unary<SqrtOp>(); }
  static IRValue abs(const IRValue &x) { return x.unary<AbsOp>(); }
  static IRValue sign(const IRValue &x) { return x.unary<SignOp>(); }
  static IRValue tanh(const IRValue &x) { return x.unary<TanhOp>(); }
  static IRValue erf(const IRValue &x) { return x.unary<ErfOp>(); }
  static IRValue sigmoid(const IRValue &x) { return x.unary<SigmoidOp>(); }
};

/// The gradient rule of every differentiable math op: its `gradient`
/// formula, built in IR.
template <class OpT>
mlir::LogicalResult buildMathGradient(OpT op, mlir::OpBuilder &builder,
                                      mlir::ArrayRef<mlir::Value> resultGrads,
                                      llvm::SmallVectorImpl<mlir::Value> &operandGrads) {
  IRValue x{&builder, op.getLoc(), op.getInput()};
  IRValue y{&builder, op.getLoc(), op.getResult()};
  IRValue dy{&builder, op.getLoc(), resultGrads[0]};
  operandGrads.push_back(OpT::gradient(dy, x, y).value);
  return mlir::success();
}

} // namespace firn::math

#endif // FIRN_DIALECT_MATHIR_H
