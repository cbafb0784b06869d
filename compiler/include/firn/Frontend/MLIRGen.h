//===- MLIRGen.h - From a checked program to firn IR ------------*- C++ -*-===//
#ifndef FIRN_FRONTEND_MLIRGEN_H
#define FIRN_FRONTEND_MLIRGEN_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace firn {

struct Program;

/// Emits the firn module of a program that `analyze` accepted: the state
/// symbols (parameters, buffers, optimizers, clipping, schedules), `@predict`
/// (forward in eval mode) and, with a train block, `@train_step` (forward in
/// the training mode plus the loss, which it returns). Every op carries the
/// DSL location it came from. The context must have the firn and func
/// dialects loaded.
mlir::OwningOpRef<mlir::ModuleOp> mlirGen(mlir::MLIRContext &context,
                                          const Program &program);

} // namespace firn

#endif // FIRN_FRONTEND_MLIRGEN_H
