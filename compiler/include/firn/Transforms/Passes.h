//===- Passes.h - firn's passes and the pipeline ----------------*- C++ -*-===//
#ifndef FIRN_TRANSFORMS_PASSES_H
#define FIRN_TRANSFORMS_PASSES_H

#include "firn/Dialect/FirnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace firn {

#define GEN_PASS_DECL
#include "firn/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "firn/Transforms/Passes.h.inc"

/// The stages of the training pipeline, in order; `firnc --emit=` names them.
enum class Stage { Grad, Pruned, Optimized };

/// Adds the passes up to and including `last`. This is the one place that
/// says in which order firn's passes run.
void buildTrainingPipeline(mlir::OpPassManager &pm, Stage last);

} // namespace firn

#endif // FIRN_TRANSFORMS_PASSES_H
