//===- Pipeline.cpp - The order of firn's passes --------------------------===//
//
// The one place that says in which order firn's passes run. Each step's
// comment says why it comes where it does.
//
//===----------------------------------------------------------------------===//
#include "firn/Transforms/Passes.h"

void firn::buildTrainingPipeline(mlir::OpPassManager &pm, Stage last) {
  // 1. The backward pass, for every parameter, frozen ones included, so
  //    that the next step's removals are visible in the dumps.
  pm.addPass(createFirnAutodiff());
  if (last == Stage::Grad)
    return;
  // 2. Drop what freezing makes unnecessary before anything is built on
  //    the gradients: frozen parameters must get no optimizer state.
  pm.addPass(createFirnPruneFrozen());
  if (last == Stage::Pruned)
    return;
  // 3. The optimizer updates, reading the gradient buffers that survived.
  pm.addPass(createFirnLowerOptimizers());
  // 4. One function for the whole step, the updates reading the gradients
  //    as values: needs the updates as IR, so it comes last.
  pm.addPass(createFirnFuseOptimizer());
}
