//===- FuseOptimizer.cpp - A training step without gradient buffers -------===//
//
// A step of training is zero_grad, train_step (which adds each gradient to
// its buffer grad/<param>) and optimizer_step (which reads the buffers).
// When the buffers are cleared before every step and nothing else reads
// them, a buffer only carries a value from the backward pass to the update
// within one step. This pass writes that step as one function, @fused_step:
// train_step's body, then every optimizer group's update reading each
// gradient as the SSA value the backward pass computed. For a buffer that
// zero_grad clears, grad/<param> = 0 + g, so the update reads g and the
// buffer is neither read nor written: code generation then computes each
// update inside the kernel that computes its gradient, and no gradient
// buffer exists (the runtime uses @fused_step when nothing asks for the
// gradients: --save-grads, --accumulate). A gradient the policy does not
// clear (a trainable parameter no optimizer owns, `zero_grad none`) keeps
// accumulating in its buffer exactly as before.
//
// There is no @fused_step when a step is several backward passes
// (`accumulate`), or when gradient clipping reads every gradient before any
// update. The other functions stay as they are: the runtime still needs
// them for those options and the C API exposes them.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnOps.h"
#include "firn/Dialect/StateNames.h"
#include "firn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include <map>
#include <set>

namespace firn {
#define GEN_PASS_DEF_FIRNFUSEOPTIMIZER
#include "firn/Transforms/Passes.h.inc"
} // namespace firn

using namespace mlir;
using namespace firn;

namespace {


class Fusion {
public:
  explicit Fusion(ModuleOp module) : module(module), builder(module.getContext()) {}

  /// Builds @fused_step, or nothing when the model does not allow it.
  void run() {
    auto step = module.lookupSymbol<func::FuncOp>("train_step");
    auto optimizer = module.lookupSymbol<func::FuncOp>("optimizer_step");
    auto accumulate = module->getAttrOfType<IntegerAttr>("firn.accumulate");
    if (!step || !optimizer || module.lookupSymbol("fused_step") ||
        (accumulate && accumulate.getInt() != 1) ||
        !module.getOps<ClipGradNormOp>().empty() ||
        !module.getOps<ClipGradValueOp>().empty())
      return;
    if (auto zero = module.lookupSymbol<func::FuncOp>("zero_grad"))
      zero.walk([&](WriteBufferOp write) { cleared.insert(write.getBuffer().str()); });

    builder.setInsertionPointAfter(optimizer);
    auto fused = builder.create<func::FuncOp>(step.getLoc(), "fused_step",
                                              step.getFunctionType());
    if (ArrayAttr args = step.getAllArgAttrs())
      fused.setAllArgAttrs(args);
    Block *body = fused.addEntryBlock();
    builder.setInsertionPointToEnd(body);
    IRMapping map;
    for (auto [from, to] : llvm::zip(step.getArguments(), body->getArguments()))
      map.map(from, to);
    SmallVector<Value> results;
    if (failed(cloneBackward(step, map, results)) ||
        failed(cloneUpdates(optimizer))) {
      fused.erase(); // A form this pass does not know: keep the three steps.
      return;
    }
    builder.create<func::ReturnOp>(step.getLoc(), results);
  }

private:
  /// train_step's body; each gradient it adds to a buffer that zero_grad
  /// clears becomes an SSA value instead of a write.
  LogicalResult cloneBackward(func::FuncOp step, IRMapping &map,
                              SmallVectorImpl<Value> &results) {
    for (Operation &op : step.getBody().front()) {
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        for (Value v : ret.getOperands())
          results.push_back(map.lookup(v));
        continue;
      }
      auto write = dyn_cast<WriteBufferOp>(op);
      if (!write || !isGradientBuffer(write.getBuffer())) {
        builder.clone(op, map);
        continue;
      }
      std::string buffer = write.getBuffer().str();
      if (!cleared.count(buffer)) {
        gradients[buffer] = map.lookup(write.getValue());
        builder.clone(op, map);
        continue;
      }
      // autodiff writes grad = read_buffer(grad) + g; the buffer is 0.
      auto add = write.getValue().getDefiningOp<AddOp>();
      auto read = add ? add.getLhs().getDefiningOp<ReadBufferOp>() : ReadBufferOp();
      if (!read || read.getBuffer() != write.getBuffer() ||
          add.getRhs().getType() != write.getValue().getType())
        return failure();
      gradients[buffer] = map.lookup(add.getRhs());
      Operation *clonedAdd = map.lookup(add.getResult()).getDefiningOp();
      Operation *clonedRead = map.lookup(read.getResult()).getDefiningOp();
      if (clonedAdd->use_empty())
        clonedAdd->erase();
      if (clonedRead->use_empty())
        clonedRead->erase();
    }
    return success();
  }

  /// The optimizer's updates (the group functions optimizer_step calls),
  /// reading the gradients as values.
  LogicalResult cloneUpdates(func::FuncOp function) {
    IRMapping map;
    for (Operation &op : function.getBody().front()) {
      if (isa<func::ReturnOp>(op))
        continue;
      if (auto call = dyn_cast<func::CallOp>(op)) {
        auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
        if (!callee || call.getNumResults() != 0 || failed(cloneUpdates(callee)))
          return failure();
        continue;
      }
      if (auto read = dyn_cast<ReadBufferOp>(op); read && isGradientBuffer(read.getBuffer())) {
        auto it = gradients.find(read.getBuffer().str());
        if (it == gradients.end())
          return failure(); // A gradient the backward pass does not produce.
        map.map(read.getResult(), it->second);
        continue;
      }
      builder.clone(op, map);
    }
    return success();
  }

  ModuleOp module;
  OpBuilder builder;
  std::set<std::string> cleared;           ///< Buffers zero_grad clears.
  std::map<std::string, Value> gradients;  ///< grad/<param> -> its value.
};

class FuseOptimizerPass
    : public firn::impl::FirnFuseOptimizerBase<FuseOptimizerPass> {
public:
  void runOnOperation() override { Fusion(getOperation()).run(); }
};

} // namespace
