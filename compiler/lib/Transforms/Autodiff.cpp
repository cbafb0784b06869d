//===- Autodiff.cpp - Reverse-mode automatic differentiation --------------===//
//
// Generates the backward pass of @train_step as firn IR.
//
/// The algorithm, one reverse walk:
///   grad[loss] = 1
///   for each op of @train_step, last to first:
///     if no result of op has a gradient: skip
///     ask the op's gradient rule for its operands' gradients
///     grad[operand] += that gradient       (fan-out sums)
///   for each parameter read: grad/<param> += grad[read]   (accumulation)
/// Ops without a gradient rule are fine as long as no gradient reaches them
/// (constants, buffer reads, integer targets).
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnOps.h"
#include "firn/Dialect/StateNames.h"
#include "firn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

#include <map>

namespace firn {
#define GEN_PASS_DEF_FIRNAUTODIFF
#include "firn/Transforms/Passes.h.inc"
} // namespace firn

using namespace mlir;
using namespace firn;

namespace {

class Gradients {
public:
  explicit Gradients(OpBuilder &builder) : builder(builder) {}

  Value get(Value v) const { return grads.lookup(v); }

  /// grad[v] += g, creating the sum only when v is used more than once.
  void accumulate(Value v, Value g, Location loc) {
    Value &slot = grads[v];
    slot = slot ? builder.create<AddOp>(loc, v.getType(), slot, g).getResult()
                : g;
  }

private:
  OpBuilder &builder;
  DenseMap<Value, Value> grads;
};

class AutodiffPass : public firn::impl::FirnAutodiffBase<AutodiffPass> {
public:
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto step = module.lookupSymbol<func::FuncOp>("train_step");
    if (!step)
      return; // Nothing to train: an inference-only module.
    if (failed(differentiate(module, step)))
      return signalPassFailure();
    addZeroGrad(module);
  }

private:
  LogicalResult differentiate(ModuleOp module, func::FuncOp step) {
    Block &body = step.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    if (ret.getNumOperands() != 1 ||
        !isFirnScalar(ret.getOperand(0).getType()))
      return step.emitError("@train_step must return the scalar loss");
    Value loss = ret.getOperand(0);

    OpBuilder builder(ret);
    Gradients grads(builder);
    SmallVector<Operation *> forward;
    for (Operation &op : body.without_terminator())
      forward.push_back(&op);

    grads.accumulate(loss,
                     builder.create<ConstantOp>(
                         loss.getLoc(),
                         DenseElementsAttr::get(
                             cast<RankedTensorType>(loss.getType()), 1.0f)),
                     loss.getLoc());
    for (Operation *op : llvm::reverse(forward)) {
      SmallVector<Value> resultGrads;
      bool any = false;
      for (Value result : op->getResults()) {
        resultGrads.push_back(grads.get(result));
        any |= static_cast<bool>(resultGrads.back());
      }
      if (!any)
        continue;
      auto differentiable = dyn_cast<DifferentiableOpInterface>(op);
      if (!differentiable) {
        if (isa<ReadParamOp>(op))
          continue; // A leaf: accumulated below.
        if (isa<ReadBufferOp>(op))
          continue; // State, not learned (eval-mode BatchNorm statistics).
        if (isa<ConstantOp>(op))
          continue; // A number in the model (`2.0 * h`): nothing to learn.
        return op->emitOpError("has no gradient rule");
      }
      SmallVector<Value> operandGrads;
      if (failed(differentiable.buildGradients(builder, resultGrads,
                                               operandGrads)))
        return failure();
      // One gradient (or null: none) per operand, of the operand's type: a
      // rule that breaks this is a compiler bug, reported at its op rather
      // than left to zip's truncation or a verifier error far away.
      if (operandGrads.size() != op->getNumOperands())
        return op->emitOpError("internal error: its gradient rule gives ")
               << operandGrads.size() << " gradients for " << op->getNumOperands()
               << " operands";
      for (auto [operand, g] : llvm::zip(op->getOperands(), operandGrads))
        if (g && g.getType() != operand.getType())
          return op->emitOpError("internal error: its gradient rule gives ")
                 << g.getType() << " for an operand of type " << operand.getType();
      for (auto [operand, g] : llvm::zip(op->getOperands(), operandGrads))
        if (g)
          grads.accumulate(operand, g, op->getLoc());
    }

    // Sum the gradients of each parameter over all its reads (a layer
    // applied twice shares its weights), in PyTorch's parameter order.
    std::map<std::string, std::pair<Value, Location>> perParam;
    for (Operation *op : forward) {
      auto read = dyn_cast<ReadParamOp>(op);
      if (!read || !grads.get(read))
        continue;
      auto [it, inserted] = perParam.try_emplace(
          read.getParam().str(), grads.get(read), read.getLoc());
      if (!inserted)
        it->second.first = builder.create<AddOp>(
            read.getLoc(), read.getType(), it->second.first, grads.get(read));
    }
    for (ParamOp param : module.getOps<ParamOp>()) {
      auto it = perParam.find(param.getSymName().str());
      if (it != perParam.end())
        accumulateInto(module, builder, param, it->second.first,
                       it->second.second);
    }
    return success();
  }

  /// Adds @"grad/P" (zeros) and `grad/P += g` before the return.
  void accumulateInto(ModuleOp module, OpBuilder &builder, ParamOp param,
                      Value g, Location loc) {
    RankedTensorType type = param.getTensorType();
    std::string name = gradientBufferName(param.getSymName());
    OpBuilder moduleBuilder(param->getNextNode());
    moduleBuilder.create<BufferOp>(
        param.getLoc(), moduleBuilder.getStringAttr(name), TypeAttr::get(type),
        DenseElementsAttr::get(type, 0.0f));
    Value old = builder.create<ReadBufferOp>(loc, type, name);
    Value sum = builder.create<AddOp>(loc, type, old, g);
    builder.create<WriteBufferOp>(loc, sum, name);
  }

  /// @zero_grad(): what `optimizer.zero_grad()` for every optimizer
  /// (policy "optimizer") or `model.zero_grad()` (policy "model") clears.
  void addZeroGrad(ModuleOp module) {
    auto policy = module->getAttrOfType<StringAttr>("firn.zero_grad");
    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    auto func = builder.create<func::FuncOp>(
        module.getLoc(), "zero_grad", builder.getFunctionType({}, {}));
    builder.setInsertionPointToStart(func.addEntryBlock());
    for (ParamOp param : module.getOps<ParamOp>()) {
      std::string name = gradientBufferName(param.getSymName());
      if (!module.lookupSymbol(name))
        continue;
      bool clears = policy && (policy.getValue() == "model" ||
                               (policy.getValue() == "optimizer" &&
                                param.getOwnerAttr()));
      if (!clears)
        continue;
      RankedTensorType type = param.getTensorType();
      Value zeros = builder.create<ConstantOp>(
          param.getLoc(), DenseElementsAttr::get(type, 0.0f));
      builder.create<WriteBufferOp>(param.getLoc(), zeros, name);
    }
    builder.create<func::ReturnOp>(module.getLoc());
  }
};

} // namespace
