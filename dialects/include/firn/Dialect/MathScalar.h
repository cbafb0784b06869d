//===- MathScalar.h - Math<double>: elementwise formulas in double -*- C++ -*-===//
//
// The scalar kind the reference evaluator computes elementwise math ops in
// (see Firn_MathOp in FirnOps.td).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_DIALECT_MATHSCALAR_H
#define FIRN_DIALECT_MATHSCALAR_H

#include "firn/Dialect/FirnOps.h"

#include <cmath>

namespace firn::math {

template <> struct Math<double> {
  static double constant(double, double value) { return value; }
  static double select(bool c, double a, double b) { return c ? a : b; }
  static double exp(double x) { return std::exp(x); }
  static double log(double x) { return std::log(x); }
  static double sqrt(double x) { return std::sqrt(x); }
  static double abs(double x) { return std::fabs(x); }
  static double sign(double x) { return SignOp::apply(x); }
  static double tanh(double x) { return std::tanh(x); }
  static double erf(double x) { return std::erf(x); }
  static double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
};

} // namespace firn::math

#endif // FIRN_DIALECT_MATHSCALAR_H
