//===- OpCompletenessTest.cpp - Every op has everything an op needs -------===//
//
// Enumerates the ops the firn dialect registers and fails for one that lacks
// any part of what an op needs: an example in tests/lit/Dialect/ops.mlir
// (which round-trips every op), a gradient rule (DifferentiableOpInterface)
// or a stated reason why it has none, a cost rule (CostOpInterface, for
// --explain-pruning), a reference kernel, and a Halide lowering. The last
// two are checked by running them: each op of ops.mlir, alone in a
// function of its operands, is evaluated by the reference evaluator and
// lowered to Halide.
//
//===----------------------------------------------------------------------===//
#include "firn/Analysis/Cost.h"
#include "firn/Codegen/HalideLowering.h"
#include "firn/Dialect/FirnDialect.h"
#include "firn/Dialect/FirnOps.h"
#include "firn/Reference/Evaluator.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace firn;

namespace {

/// Ops without a gradient rule, each with the reason (an op added to the
/// dialect without a rule fails until it is listed here, or gets one).
const std::map<std::string, std::string> &withoutGradient() {
  static const std::map<std::string, std::string> reasons = {
      {"firn.param", "a declaration (module level)"},
      {"firn.buffer", "a declaration (module level)"},
      {"firn.optimizer", "a declaration (module level)"},
      {"firn.clip_grad_norm", "training setup (module level)"},
      {"firn.clip_grad_value", "training setup (module level)"},
      {"firn.lr_schedule", "training setup (module level)"},
      {"firn.read_param", "autodiff accumulates a parameter's gradient at its reads"},
      {"firn.read_buffer", "state that learns nothing (BatchNorm statistics)"},
      {"firn.write_param", "written by the optimizer step, after autodiff"},
      {"firn.write_buffer", "a side effect of the forward, not on the loss's path"},
      {"firn.advance_counter", "an integer count"},
      {"firn.constant", "a constant"},
      {"firn.numel", "a count (optimizer and loss scaling)"},
      {"firn.bias_correction", "optimizer arithmetic, after autodiff"},
      {"firn.reduce_max", "used by gradients and optimizers only; not in the DSL"},
      {"firn.sign", "only in gradients (of abs)"},
      {"firn.relu_grad", "a gradient op"},
      {"firn.conv2d_grad_input", "a gradient op"},
      {"firn.conv2d_grad_weight", "a gradient op"},
      {"firn.max_pool2d_grad", "a gradient op"},
      {"firn.avg_pool2d_grad", "a gradient op"},
      {"firn.linear_weight_grad", "a gradient op"},
      {"firn.embedding_grad", "a gradient op"},
      {"firn.slice_grad", "a gradient op"},
      {"firn.attention_grad", "a gradient op"},
  };
  return reasons;
}

/// A value for a function argument of `type`: the batch is 2; floats in
/// [0.5, 1.5] (inside every op's domain), integers 0 (a valid class index
/// and key).
reference::Tensor sample(mlir::RankedTensorType type, uint64_t &seed) {
  reference::Tensor t;
  for (int64_t d : type.getShape())
    t.shape.push_back(mlir::ShapedType::isDynamic(d) ? 2 : d);
  t.isInteger = type.getElementType().isInteger(64);
  for (int64_t i = 0, n = t.numel(); i < n; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    t.data.push_back(t.isInteger ? 0.0
                                 : 0.5 + static_cast<double>(seed >> 11) /
                                             static_cast<double>(1ULL << 53));
  }
  return t;
}

TEST(OpCompleteness, EveryOpHasAGradientReferenceKernelAndLowering) {
  mlir::MLIRContext context;
  context.loadDialect<FirnDialect, mlir::func::FuncDialect>();
  auto ops = mlir::parseSourceFile<mlir::ModuleOp>(
      std::string(FIRN_TESTS_DIR) + "/lit/Dialect/ops.mlir", &context);
  ASSERT_TRUE(ops);

  // Where each op appears: at module level (declarations) or in a function.
  std::set<std::string> declared, used;
  std::vector<mlir::Operation *> examples;
  for (mlir::Operation &op : ops->getBody()->getOperations()) {
    if (auto func = llvm::dyn_cast<mlir::func::FuncOp>(op)) {
      func.walk([&](mlir::Operation *inner) {
        if (inner->getDialect() && inner->getDialect()->getNamespace() == "firn") {
          used.insert(inner->getName().getStringRef().str());
          examples.push_back(inner);
        }
      });
    } else {
      declared.insert(op.getName().getStringRef().str());
    }
  }

  int registered = 0;
  for (mlir::RegisteredOperationName name : context.getRegisteredOperations()) {
    if (name.getDialectNamespace() != "firn")
      continue;
    ++registered;
    std::string op = name.getStringRef().str();
    EXPECT_TRUE(declared.count(op) || used.count(op))
        << op << " has no example in tests/lit/Dialect/ops.mlir";
    bool differentiable = name.hasInterface<DifferentiableOpInterface>();
    bool excused = withoutGradient().count(op);
    EXPECT_TRUE(differentiable || excused)
        << op << " has no gradient rule (DifferentiableOpInterface) and no "
                 "reason in withoutGradient()";
    EXPECT_FALSE(differentiable && excused)
        << op << " has a gradient rule: remove it from withoutGradient()";
    if (declared.count(op)) {
      EXPECT_TRUE(excused) << op << " is a module-level op with a gradient?";
    }
  }
  EXPECT_GT(registered, 40);

  // Each op of a function, alone: its operands become the arguments of @f,
  // its results @f's; the module's declarations come along (for the
  // symbols it reads or writes).
  std::set<std::string> evaluated, lowered;
  uint64_t seed = 1;
  for (mlir::Operation *example : examples) {
    std::string op = example->getName().getStringRef().str();
    SCOPED_TRACE(op);
    mlir::OpBuilder b(&context);
    mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(b.getUnknownLoc());
    (*module)->setAttrs(ops->getOperation()->getAttrDictionary());
    b.setInsertionPointToEnd(module->getBody());
    for (mlir::Operation &decl : ops->getBody()->getOperations())
      if (!llvm::isa<mlir::func::FuncOp>(decl))
        b.clone(decl);
    auto func = b.create<mlir::func::FuncOp>(
        b.getUnknownLoc(), "f",
        b.getFunctionType(example->getOperandTypes(), example->getResultTypes()));
    // Training mode where the example's function has it (dropout, batch_norm).
    if (auto mode = example->getParentOfType<mlir::func::FuncOp>()->getAttr("firn.mode"))
      func->setAttr("firn.mode", mode);
    mlir::Block *entry = func.addEntryBlock();
    b.setInsertionPointToEnd(entry);
    mlir::IRMapping map;
    for (auto [operand, arg] : llvm::zip(example->getOperands(), entry->getArguments()))
      map.map(operand, arg);
    mlir::Operation *clone = b.clone(*example, map);
    b.create<mlir::func::ReturnOp>(b.getUnknownLoc(), clone->getResults());

    std::vector<reference::Tensor> args, results;
    for (mlir::Type type : func.getArgumentTypes())
      args.push_back(sample(llvm::cast<mlir::RankedTensorType>(type), seed));
    reference::Evaluator eval(*module);
    std::string error;
    bool ran = mlir::succeeded(eval.initialize(error));
    // Parameters initialized by `uniform` or `load` get a sample value.
    module->walk([&](ParamOp param) {
      if (!eval.getState(param.getSymName().str()))
        eval.setState(param.getSymName().str(),
                      sample(llvm::cast<mlir::RankedTensorType>(param.getType()), seed));
    });
    ran = ran && mlir::succeeded(eval.call("f", args, results, error));
    EXPECT_TRUE(ran) << op << ": the reference evaluator fails: " << error;
    if (ran)
      evaluated.insert(op);
    EXPECT_TRUE(estimateCost(clone, 2).stated)
        << op << " states no cost: give it Firn_ElementwiseCost, "
                 "Firn_DataMovementCost or Firn_OwnCost (CostOpInterface) in FirnOps.td";
    if (mlir::succeeded(codegen::lowerFunction(func)))
      lowered.insert(op);
    else
      ADD_FAILURE() << op << " has no Halide lowering";
  }
  EXPECT_EQ(evaluated, used);
  EXPECT_EQ(lowered, used);
}

} // namespace
