//===- CostRules.h - What the ops' cost rules are written with --*- C++ -*-===//
//
// Each op of a function states its FLOPs through CostOpInterface
// (FirnInterfaces.td): the two common rules are the traits below, the rest
// are `getFlops` methods beside each op's verifier (dialects/lib/Ops/).
// compiler/lib/Analysis/Cost.cpp adds the bytes and sums them for
// --explain-pruning.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_DIALECT_COSTRULES_H
#define FIRN_DIALECT_COSTRULES_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"

#include <cstdint>

namespace firn {

/// Counts saturate at INT64_MAX instead of wrapping: a huge `--batch-size`
/// or model gives "at least 9.2e18", never a negative count.
constexpr int64_t kCostSaturated = INT64_MAX;

inline int64_t saturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? kCostSaturated : sum;
}

inline int64_t saturatingMul(int64_t a, int64_t b) {
  int64_t product;
  return __builtin_mul_overflow(a, b, &product) ? kCostSaturated : product;
}

/// The elements of a tensor type whose dynamic (batch) dimension has size
/// `batch`; 0 for anything but a ranked tensor.
inline int64_t elementsOf(mlir::Type type, int64_t batch) {
  auto tensor = mlir::dyn_cast<mlir::RankedTensorType>(type);
  if (!tensor)
    return 0;
  int64_t n = 1;
  for (int64_t d : tensor.getShape())
    n = saturatingMul(n, mlir::ShapedType::isDynamic(d) ? batch : d);
  return n;
}

namespace OpTrait {
/// Firn_ElementwiseCost: one FLOP per element of the first result.
template <typename ConcreteType>
class ElementwiseCost : public mlir::OpTrait::TraitBase<ConcreteType, ElementwiseCost> {
public:
  int64_t getFlops(int64_t batch) {
    return elementsOf(this->getOperation()->getResult(0).getType(), batch);
  }
};

/// Firn_DataMovementCost: no FLOPs (copies, gathers, state access).
template <typename ConcreteType>
class NoFlops : public mlir::OpTrait::TraitBase<ConcreteType, NoFlops> {
public:
  int64_t getFlops(int64_t) { return 0; }
};
} // namespace OpTrait

} // namespace firn

#endif // FIRN_DIALECT_COSTRULES_H
