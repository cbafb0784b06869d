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
  /// Halide's tanh is a call to libm's tanhf per vector lane (measured: 10 ns
  /// an element, a third of the GPT benchmark's step in its GELUs). Here:
  /// the Taylor series to x^17 below |x| = 0.5 (truncation ~1e-9 relative),
  /// 1 - 2e / (1 + e) with e = exp(-2|x|) above it (e <= 0.37: no
  /// cancellation; near 1 only the last subtraction rounds, which keeps
  /// 1 + tanh in GELU accurate), both vectorized; NaN passes through
  /// (Halide's exp gives 0).
  static V tanh(const V &x) {
    static constexpr double kSeries[] = {1.0,
                                         -1.0 / 3,
                                         2.0 / 15,
                                         -17.0 / 315,
                                         62.0 / 2835,
                                         -1382.0 / 155925,
                                         21844.0 / 6081075,
                                         -929569.0 / 638512875,
                                         6404582.0 / 10854718875};
    Expr x2 = x.expr * x.expr, series = lit(kSeries[8]).expr;
    for (int i = 7; i >= 0; --i)
      series = series * x2 + lit(kSeries[i]).expr;
    Expr a = Halide::abs(x.expr);
    // Beyond 20, e underflows to the float32 tanh of 1; the clamp keeps
    // exp's argument finite at +-inf.
    Expr e = Halide::exp(-2.0f * Halide::min(a, 20.0f));
    Expr far = 1.0f - 2.0f * e / (1.0f + e);
    Expr value = Halide::select(a < 0.5f, x.expr * series,
                                Halide::select(x.expr < 0.0f, -far, far));
    return {Halide::select(isNaN(x.expr), x.expr, value)};
  }
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
