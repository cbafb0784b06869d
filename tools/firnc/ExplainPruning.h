//===- ExplainPruning.h - firnc --explain-pruning ---------------*- C++ -*-===//
#ifndef FIRNC_EXPLAINPRUNING_H
#define FIRNC_EXPLAINPRUNING_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/raw_ostream.h"

namespace firn {

/// Prunes `module` (which autodiff has run on) and writes a table of every
/// removed operation with its source location and its cost per training
/// step at `batchSize`, then the totals before and after.
void explainPruning(mlir::ModuleOp module, int64_t batchSize,
                    llvm::raw_ostream &os);

} // namespace firn

#endif // FIRNC_EXPLAINPRUNING_H
