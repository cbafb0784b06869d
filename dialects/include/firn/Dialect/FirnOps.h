//===- FirnOps.h - Operations of the firn dialect ---------------*- C++ -*-===//
#ifndef FIRN_DIALECT_FIRNOPS_H
#define FIRN_DIALECT_FIRNOPS_H

#include "firn/Dialect/CostRules.h"
#include "firn/Dialect/FirnDialect.h"
#include "firn/Dialect/ShapeRules.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "firn/Dialect/FirnEnums.h.inc"

namespace firn::OpTrait {
/// Firn_KernelAnchor (FirnInterfaces.td): the op starts a kernel.
template <typename ConcreteType>
class KernelAnchor : public mlir::OpTrait::TraitBase<ConcreteType, KernelAnchor> {};
} // namespace firn::OpTrait
#include "firn/Dialect/FirnInterfaces.h.inc"

namespace firn {

/// A ranked tensor of f32 (or i64 unless floatOnly) whose only dynamic
/// dimension, if any, is the first: the batch.
bool isFirnTensor(mlir::Type type, bool floatOnly = false);

/// A 0-d f32 tensor (a loss).
bool isFirnScalar(mlir::Type type);

/// A 0-d i64 tensor (the key of a step's random numbers).
bool isFirnKey(mlir::Type type);

/// The shape of a firn tensor type in ShapeRules' terms (batch = kBatch).
shape::Shape shapeOf(mlir::Type type);

/// The tensor type with this shape and element type.
mlir::RankedTensorType tensorTypeOf(const shape::Shape &shape,
                                    mlir::Type elementType);

namespace math {
/// The scalar functions an elementwise math op's formula (FirnOps.td,
/// Firn_MathOp) calls as M::exp(x), M::select(c, a, b), ...; one
/// specialization per scalar kind: double (firn/Dialect/MathScalar.h),
/// IRValue (firn/Dialect/MathIR.h), Halide::Expr (in code generation).
template <class T> struct Math;
} // namespace math

} // namespace firn

#define GET_OP_CLASSES
#include "firn/Dialect/FirnOps.h.inc"

namespace firn {
/// The [l, s] f32 constant that PyTorch's is_causal adds to attention
/// scores: 0 where key j <= query i, -inf above the diagonal (which gives
/// those keys weight 0 and gradient 0). For IR generation and the gradient
/// of firn.attention.
mlir::Value buildCausalMask(mlir::OpBuilder &b, mlir::Location loc, int64_t l, int64_t s);
} // namespace firn

/// Every elementwise math op (Firn_MathOp in FirnOps.td). The reference
/// evaluator and the Halide lowering handle each through its `apply`; the
/// op-completeness test (tests/codegen/OpCompletenessTest.cpp) fails for an op
/// that one of them does not handle.
#define FIRN_MATH_OPS                                                          \
  ::firn::ExpOp, ::firn::LogOp, ::firn::SqrtOp, ::firn::RsqrtOp,              \
      ::firn::AbsOp, ::firn::SignOp, ::firn::TanhOp, ::firn::SigmoidOp,        \
      ::firn::SiluOp, ::firn::ErfOp, ::firn::GeluOp, ::firn::GeluTanhOp

#endif // FIRN_DIALECT_FIRNOPS_H
