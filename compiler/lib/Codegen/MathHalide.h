//===- MathHalide.h - Elementwise math formulas in Halide (internal) -*- C++ -*-===//
//
// HalideValue wraps a float32 Halide Expr for the formulas of elementwise
// math ops (FirnOps.td, Firn_MathOp): the formulas write double literals
// (`0.5 * x`), which Halide's own operators find ambiguous (float or int);
// here a literal always becomes a float32 constant.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_CODEGEN_MATHHALIDE_H
#define FIRN_CODEGEN_MATHHALIDE_H

#include "firn/Dialect/FirnOps.h"

#include "Halide.h"

#include <limits>

namespace firn::math {

/// Whether `x` is NaN, in a form that fast-math cannot fold away: Halide's
/// simplifier and LLVM's fast-math flags assume that no value is NaN.
inline Halide::Expr isNaN(const Halide::Expr &x) {
  return Halide::strict_float(Halide::is_nan(x));
}

struct HalideValue {
  Halide::Expr expr;
};

inline HalideValue lit(double v) { return {Halide::Expr(static_cast<float>(v))}; }

#define FIRN_HALIDE_VALUE_OPERATOR(OP)                                         \
  inline HalideValue operator OP(const HalideValue &a, const HalideValue &b) { \
    return {a.expr OP b.expr};                                                 \
  }                                                                            \
  inline HalideValue operator OP(const HalideValue &a, double b) {             \
    return a OP lit(b);                                                        \
  }                                                                            \
  inline HalideValue operator OP(double a, const HalideValue &b) {             \
    return lit(a) OP b;                                                        \
  }
FIRN_HALIDE_VALUE_OPERATOR(+)
FIRN_HALIDE_VALUE_OPERATOR(-)
FIRN_HALIDE_VALUE_OPERATOR(*)
FIRN_HALIDE_VALUE_OPERATOR(/)
FIRN_HALIDE_VALUE_OPERATOR(<)
FIRN_HALIDE_VALUE_OPERATOR(>)
#undef FIRN_HALIDE_VALUE_OPERATOR
inline HalideValue operator-(const HalideValue &a) { return {-a.expr}; }

template <> struct Math<HalideValue> {
  using V = HalideValue;
  using Expr = Halide::Expr;
  static V constant(const V &, double v) { return lit(v); }
  static V select(const V &c, const V &a, const V &b) {
    return {Halide::select(c.expr, a.expr, b.expr)};
  }
  /// Halide's exp gives 0 for NaN and +inf, its log about 89, its erf NaN
  /// for +-inf (HalideLoweringTest's MathOpsAtExtremes): guarded. exp and
  /// log are x itself at NaN and +inf.
  static V exp(const V &x) { return passNaNAndInf(x, Halide::exp(x.expr)); }
  static V log(const V &x) { return passNaNAndInf(x, Halide::log(x.expr)); }
  static V sqrt(const V &x) { return {Halide::sqrt(x.expr)}; }
  static V abs(const V &x) { return {Halide::abs(x.expr)}; }
  static V sign(const V &x) { return SignOp::apply(x); }
  static V tanh(const V &x) { return {Halide::tanh(x.expr)}; }
  static V erf(const V &x) {
    return {Halide::select(isNaN(x.expr), x.expr,
                           Halide::erf(Halide::clamp(x.expr, -10.0f, 10.0f)))};
  }
  static V sigmoid(const V &x) { return 1.0 / (1.0 + exp(-x)); }

private:
  static V passNaNAndInf(const V &x, const Expr &value) {
    Expr inf = Expr(std::numeric_limits<float>::infinity());
    return {Halide::select(isNaN(x.expr) || x.expr == inf, x.expr, value)};
  }
};

} // namespace firn::math

#endif // FIRN_CODEGEN_MATHHALIDE_H
