//===- State.cpp - Program state and training setup -----------------------===//
//
// Program state and training setup: parameters, buffers, the optimizer and its clips and
// schedule (module-level symbols), and the ops that read and write them.
// None has a gradient rule: autodiff accumulates a parameter's gradient at
// its reads (OpCompletenessTest lists why for each).
//
// Each op's verifier, gradient rule (DifferentiableOpInterface) and cost
// rule (CostOpInterface) are here, beside one another; its definition is
// in FirnOps.td, its reference kernel and Halide lowering in the family's
// files of compiler/lib/Reference and compiler/lib/Codegen.
//
//===----------------------------------------------------------------------===//
#include "OpSupport.h"

#include "firn/Dialect/OptimizerSchema.h"
#include "firn/Runtime/ScheduleSchema.h"

using namespace mlir;
using namespace firn;
using namespace firn::detail;

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  if (getInit() == InitKind::Constant) {
    auto value = getValueAttr();
    if (!value)
      return emitOpError("a constant init needs a value");
    if (value.getType() != getType())
      return emitOpError() << "initial value of type " << value.getType()
                           << " does not match the parameter type "
                           << getType();
  } else if (getValueAttr()) {
    return emitOpError("only a constant init takes a value");
  }
  bool random = getInit() == InitKind::Uniform || getInit() == InitKind::Normal;
  if (random != static_cast<bool>(getBoundAttr()))
    return emitOpError("a uniform or normal init needs a bound (the normal's "
                       "standard deviation), and only they take one");
  if (getBoundAttr() && getBoundAttr().getValueAsDouble() < 0)
    return emitOpError("the bound must not be negative");
  if (auto row = getZeroRow()) {
    if (getInit() != InitKind::Normal)
      return emitOpError("only a normal init takes a zero_row");
    if (getTensorType().getRank() != 2 ||
        *row >= static_cast<uint64_t>(getTensorType().getDimSize(0)))
      return emitOpError() << "zero_row " << static_cast<int64_t>(*row)
                           << " is not a row of " << getType();
  }
  if (static_cast<bool>(getOwnerAttr()) != static_cast<bool>(getGroupAttr()))
    return emitOpError("an owner needs a group index");
  if (shape::hasBatch(shapeOf(getType())))
    return emitOpError("a parameter cannot have the batch dimension");
  return success();
}

LogicalResult ParamOp::verifySymbolUses(SymbolTableCollection &symbols) {
  if (!getOwnerAttr())
    return success();
  auto optimizer =
      symbols.lookupNearestSymbolFrom<OptimizerOp>(*this, getOwnerAttr());
  if (!optimizer)
    return emitOpError() << "owner '" << getOwnerAttr().getValue()
                         << "' is not an optimizer";
  int64_t group = static_cast<int64_t>(*getGroup());
  if (group < 0 || group >= static_cast<int64_t>(optimizer.getGroups().size()))
    return emitOpError() << "group " << group << " is out of range: '"
                         << getOwnerAttr().getValue() << "' has "
                         << optimizer.getGroups().size() << " groups";
  return success();
}

LogicalResult BufferOp::verify() {
  if (getValue().getType() != getType())
    return emitOpError() << "initial value of type " << getValue().getType()
                         << " does not match the buffer type " << getType();
  return success();
}

namespace {
bool hasHyperKind(Attribute value, HyperKind kind) {
  switch (kind) {
  case HyperKind::Float:
    return isa<FloatAttr>(value);
  case HyperKind::Bool:
    return isa<BoolAttr>(value);
  case HyperKind::Pair: {
    auto pair = dyn_cast<ArrayAttr>(value);
    return pair && pair.size() == 2 && isa<FloatAttr>(pair[0]) &&
           isa<FloatAttr>(pair[1]);
  }
  }
  return false;
}
} // namespace

LogicalResult OptimizerOp::verify() {
  if (getGroups().empty())
    return emitOpError("needs at least one parameter group");
  const OptimizerSchema &schema = optimizerSchema(getKind());
  for (auto [index, group] : llvm::enumerate(getGroups())) {
    for (NamedAttribute entry : cast<DictionaryAttr>(group)) {
      const HyperParameter *hyper = findHyperParameter(schema, entry.getName());
      if (!hyper)
        return emitOpError() << "group " << index << ": "
                             << stringifyOptimizerKind(getKind())
                             << " has no hyper-parameter '" << entry.getName().strref()
                             << "'";
      if (!hasHyperKind(entry.getValue(), hyper->kind))
        return emitOpError() << "group " << index << ": '"
                             << entry.getName().strref() << "' has the wrong kind of value";
      if (auto f = dyn_cast<FloatAttr>(entry.getValue());
          f && f.getValueAsDouble() < 0)
        return emitOpError() << "group " << index << ": '"
                             << entry.getName().strref() << "' must not be negative";
    }
    if (!cast<DictionaryAttr>(group).get("lr"))
      return emitOpError() << "group " << index << " has no 'lr'";
  }
  return success();
}

LogicalResult ClipGradNormOp::verify() {
  if (getMaxNorm().convertToDouble() <= 0)
    return emitOpError("max_norm must be positive");
  if (getNormType().convertToDouble() <= 0)
    return emitOpError("norm_type must be positive");
  return success();
}

LogicalResult ClipGradValueOp::verify() {
  if (getClipValue().convertToDouble() <= 0)
    return emitOpError("clip_value must be positive");
  return success();
}

namespace {
/// A clip's `for @opt` must name an optimizer.
LogicalResult verifyClipOwner(Operation *op, FlatSymbolRefAttr optimizer,
                              SymbolTableCollection &symbols) {
  if (optimizer && !symbols.lookupNearestSymbolFrom<OptimizerOp>(op, optimizer))
    return op->emitOpError() << "'" << optimizer.getValue()
                             << "' is not an optimizer";
  return success();
}
} // namespace

LogicalResult ClipGradNormOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyClipOwner(*this, getOptimizerAttr(), symbols);
}

LogicalResult ClipGradValueOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyClipOwner(*this, getOptimizerAttr(), symbols);
}

LogicalResult LRScheduleOp::verify() {
  if (!runtime::findScheduleSchema(getKind().str()))
    return emitOpError() << "unknown schedule '" << getKind() << "'";
  return success();
}

LogicalResult LRScheduleOp::verifySymbolUses(SymbolTableCollection &symbols) {
  if (!symbols.lookupNearestSymbolFrom<OptimizerOp>(*this, getOptimizerAttr()))
    return emitOpError() << "'" << getOptimizer() << "' is not an optimizer";
  return success();
}

LogicalResult
AdvanceCounterOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyStateUse<BufferOp>(*this, getCounterAttr(), getType(), symbols,
                                  "buffer");
}

LogicalResult ReadParamOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyStateUse<ParamOp>(*this, getParamAttr(), getType(), symbols,
                                 "parameter");
}

LogicalResult WriteParamOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyStateUse<ParamOp>(*this, getParamAttr(), getValue().getType(),
                                 symbols, "parameter");
}

LogicalResult ReadBufferOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyStateUse<BufferOp>(*this, getBufferAttr(), getType(), symbols,
                                  "buffer");
}

LogicalResult WriteBufferOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyStateUse<BufferOp>(*this, getBufferAttr(),
                                  getValue().getType(), symbols, "buffer");
}
