//===- FirnDialect.cpp - The firn dialect ---------------------------------===//
//
// Registers the ops and checks the discardable attributes that carry the
// training setup on the module (`firn.model`, `firn.seed`, `firn.accumulate`,
// `firn.zero_grad`, `firn.conv_algorithm`) and on functions (`firn.mode`).
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnDialect.h"
#include "firn/Dialect/FirnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

using namespace mlir;
using namespace firn;

#include "firn/Dialect/FirnOpsDialect.cpp.inc"

void FirnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "firn/Dialect/FirnOps.cpp.inc"
      >();
}

LogicalResult FirnDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  StringRef name = attr.getName().strref();
  Attribute value = attr.getValue();
  auto oneOf = [&](std::initializer_list<StringRef> allowed) -> LogicalResult {
    auto str = dyn_cast<StringAttr>(value);
    if (str && llvm::is_contained(allowed, str.getValue()))
      return success();
    std::string list;
    for (StringRef a : allowed)
      list += (list.empty() ? "'" : ", '") + a.str() + "'";
    return op->emitError() << "'" << name << "' must be one of " << list;
  };
  auto positiveInt = [&](int64_t min) -> LogicalResult {
    auto i = dyn_cast<IntegerAttr>(value);
    if (i && i.getType().isInteger(64) && i.getInt() >= min)
      return success();
    return op->emitError() << "'" << name << "' must be an i64 >= " << min;
  };
  if (name == "firn.model")
    return isa<StringAttr>(value)
               ? success()
               : op->emitError("'firn.model' must be a string");
  if (name == "firn.seed")
    return positiveInt(0);
  if (name == "firn.accumulate")
    return positiveInt(1);
  if (name == "firn.zero_grad")
    return oneOf({"optimizer", "model", "none"});
  if (name == "firn.conv_algorithm") // firnc --conv-algorithm (code generation).
    return oneOf({"winograd", "direct"});
  if (name == "firn.mode")
    return oneOf({"train", "eval"});
  if (name == "firn.ignore_index") // The target value the loss ignores.
    return isa<IntegerAttr>(value) && cast<IntegerAttr>(value).getType().isInteger(64)
               ? success()
               : op->emitError("'firn.ignore_index' must be an i64");
  return op->emitError() << "unknown firn attribute '" << name << "'";
}
