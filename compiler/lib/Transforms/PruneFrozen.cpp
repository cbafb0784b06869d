//===- PruneFrozen.cpp - Remove the work frozen parameters make unneeded --===//
//
// A small dead-code pass over a fact of the IR: a parameter marked `frozen`
// keeps no gradient. So:
//   1. its gradient buffer @"grad/<param>" goes, with every write to it;
//   2. then every op whose results nothing uses, repeatedly: the gradient
//      computations that only fed those writes (a frozen layer's weight
//      gradient), the input gradients of a frozen prefix of the network,
//      the gradient of the data itself.
// A gradient that passes through a frozen layer to a trainable layer before
// it is still used, so it stays (seed 002).
//
// The same walk backs `firnc --explain-pruning`, which reports what it
// removed (see pruneFrozen in Pruning.h).
//
//===----------------------------------------------------------------------===//
#include "firn/Transforms/Pruning.h"

#include "firn/Dialect/FirnOps.h"
#include "firn/Dialect/StateNames.h"
#include "firn/Transforms/Passes.h"

#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/ADT/StringSet.h"

namespace firn {
#define GEN_PASS_DEF_FIRNPRUNEFROZEN
#include "firn/Transforms/Passes.h.inc"
} // namespace firn

using namespace mlir;
using namespace firn;

void firn::pruneFrozen(ModuleOp module,
                       llvm::function_ref<void(Operation *)> onRemove) {
  // 1. The gradient buffers of frozen parameters, and their writes.
  llvm::StringSet<> dropped;
  for (ParamOp param : llvm::make_early_inc_range(module.getOps<ParamOp>())) {
    if (param.isTrainable())
      continue;
    std::string name = gradientBufferName(param.getSymName());
    if (Operation *buffer = module.lookupSymbol(name)) {
      dropped.insert(name);
      if (onRemove)
        onRemove(buffer);
      buffer->erase();
    }
  }
  module.walk([&](WriteBufferOp write) {
    if (dropped.contains(write.getBuffer())) {
      if (onRemove)
        onRemove(write);
      write->erase();
    }
  });

  // 2. Dead code, to a fixed point: erasing an op may make its operands'
  // producers dead, so walk each block backwards until nothing changes.
  bool changed = true;
  while (changed) {
    changed = false;
    module.walk([&](func::FuncOp func) {
      for (Block &block : func.getBody()) {
        for (Operation &op :
             llvm::make_early_inc_range(llvm::reverse(block))) {
          if (!isOpTriviallyDead(&op))
            continue;
          if (onRemove)
            onRemove(&op);
          op.erase();
          changed = true;
        }
      }
    });
  }
}

namespace {
class PruneFrozenPass : public firn::impl::FirnPruneFrozenBase<PruneFrozenPass> {
public:
  void runOnOperation() override { pruneFrozen(getOperation()); }
};
} // namespace
