//===- FirnOps.cpp - The op classes and firn's type predicates ------------===//
//
// The ops' generated classes, enums and interfaces, and the type helpers
// every op uses. What each op adds to its definition in FirnOps.td (its
// verifier, gradient rule and cost rule) is in its family's file under
// dialects/lib/Ops/. Each verifier restates its op's contract through
// ShapeRules and reports a violation with the concrete shapes, never an
// assert: IR written by hand or produced by a buggy pass must fail with a
// diagnostic.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnOps.h"
#include "firn/Dialect/MathIR.h" // buildMathGradient, for the math ops' gradients

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace firn;

#include "firn/Dialect/FirnEnums.cpp.inc"
#include "firn/Dialect/FirnInterfaces.cpp.inc"

//===----------------------------------------------------------------------===//
// Type helpers
//===----------------------------------------------------------------------===//

bool firn::isFirnTensor(Type type, bool floatOnly) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || tensor.getEncoding())
    return false;
  Type element = tensor.getElementType();
  if (!element.isF32() && (floatOnly || !element.isInteger(64)))
    return false;
  for (auto [i, dim] : llvm::enumerate(tensor.getShape()))
    if (ShapedType::isDynamic(dim) ? i != 0 : dim <= 0)
      return false;
  return true;
}

bool firn::isFirnScalar(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 0 && tensor.getElementType().isF32();
}

bool firn::isFirnKey(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 0 &&
         tensor.getElementType().isInteger(64);
}

shape::Shape firn::shapeOf(Type type) {
  shape::Shape out;
  for (int64_t dim : cast<RankedTensorType>(type).getShape())
    out.push_back(ShapedType::isDynamic(dim) ? shape::kBatch : dim);
  return out;
}

RankedTensorType firn::tensorTypeOf(const shape::Shape &s, Type elementType) {
  SmallVector<int64_t> dims;
  for (int64_t d : s)
    dims.push_back(d == shape::kBatch ? ShapedType::kDynamic : d);
  return RankedTensorType::get(dims, elementType);
}

#define GET_OP_CLASSES
#include "firn/Dialect/FirnOps.cpp.inc"
