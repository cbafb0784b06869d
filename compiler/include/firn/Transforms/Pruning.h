//===- Pruning.h - Frozen-parameter pruning as a function -------*- C++ -*-===//
#ifndef FIRN_TRANSFORMS_PRUNING_H
#define FIRN_TRANSFORMS_PRUNING_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/STLFunctionalExtras.h"

namespace firn {

/// Does what the firn-prune-frozen pass does, calling `onRemove` with each
/// operation just before erasing it (so `firnc --explain-pruning` can say
/// what went and what it cost).
void pruneFrozen(mlir::ModuleOp module,
                 llvm::function_ref<void(mlir::Operation *)> onRemove = {});

} // namespace firn

#endif // FIRN_TRANSFORMS_PRUNING_H
