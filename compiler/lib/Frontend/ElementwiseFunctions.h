//===- ElementwiseFunctions.h - The DSL's functions of one tensor -*- C++ -*-===//
//
// One table entry per elementwise function of one tensor: its builtin name
// (`tanh(h)`), its PyTorch layer (`act = Tanh()`) where there is one, and
// the firn op it becomes. Sema takes names, signatures and types from here,
// IR generation the op; a new function is one entry (and its op in
// FirnOps.td).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_ELEMENTWISEFUNCTIONS_H
#define FIRN_FRONTEND_ELEMENTWISEFUNCTIONS_H

#include "mlir/IR/Builders.h"

#include <string>
#include <vector>

namespace firn {

struct ElementwiseFunction {
  /// Unique: the entry a Layer names (`gelu_tanh`).
  const char *key;
  /// As the DSL writes the function (`gelu`); nullptr: a layer only.
  const char *builtin;
  /// The layer (`GELU`), or nullptr.
  const char *layer;
  /// For functions with variants: the value of `approximate=` that selects
  /// this entry ("none" is the default), else nullptr.
  const char *approximate;
  mlir::Value (*emit)(mlir::OpBuilder &, mlir::Location, mlir::Value,
                      double parameter);
  /// A number the function takes (`negative_slope`), with PyTorch's
  /// default; nullptr if none.
  const char *parameter = nullptr;
  double defaultValue = 0;
  /// The parameter has no default (pow's exponent).
  bool parameterRequired = false;
};

const std::vector<ElementwiseFunction> &elementwiseFunctions();
const ElementwiseFunction *findElementwiseFunction(const std::string &key);
/// The entry of a builtin name (or layer name) with this `approximate`
/// value (empty: the default); nullptr if there is none.
const ElementwiseFunction *findElementwiseBuiltin(const std::string &name,
                                                  const std::string &approximate);
const ElementwiseFunction *findElementwiseLayer(const std::string &layer,
                                                const std::string &approximate);
/// The `approximate` values a function or layer accepts, as "'none' or
/// 'tanh'"; empty when it takes none.
std::string approximateChoices(const std::string &builtinOrLayer);

} // namespace firn

#endif // FIRN_FRONTEND_ELEMENTWISEFUNCTIONS_H
