//===- SchedulerTest.cpp - Lowering states work, schedulers decide ---------===//
//
// The split that the CUDA target builds on (Scheduler.h): lowering makes no
// scheduling decision (every Func it creates is still inlined, the
// default, until a Scheduler runs), it tells the scheduler what kind of
// work each Func computed once is, and each target gets its scheduler or a
// clear error.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/HalideLowering.h"
#include "firn/Codegen/Scheduler.h"
#include "firn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"

#include "CompileModel.h"

#include <gtest/gtest.h>

#include <set>

using namespace firn;

namespace {

bool isInlined(const Halide::Func &f) {
  // A copy: Halide inspects only locked loop levels, and locking the
  // Func's own would freeze its schedule.
  Halide::LoopLevel level = f.function().schedule().compute_level();
  Halide::LoopLevel copy(level);
  return copy.lock().is_inlined();
}

/// The training step of a golden model, lowered and not scheduled.
codegen::LoweredFunction lowerTrainStep(const std::string &stem,
                                        mlir::MLIRContext &context,
                                        firn::testing::CompiledModel &compiled) {
  std::string path = std::string(FIRN_FIXTURES_DIR) + "/models/" + stem + ".firn";
  std::string failure = firn::testing::compileModelFile(
      path, context, Stage::Optimized, compiled);
  EXPECT_EQ(failure, "");
  if (!failure.empty())
    return {};
  auto lowered = codegen::lowerFunction(
      compiled.ir->lookupSymbol<mlir::func::FuncOp>("train_step"));
  EXPECT_TRUE(mlir::succeeded(lowered));
  return mlir::succeeded(lowered) ? std::move(*lowered) : codegen::LoweredFunction();
}

std::set<codegen::RootFunc::Kind> kindsOf(const codegen::LoweredFunction &fn) {
  std::set<codegen::RootFunc::Kind> kinds;
  for (const codegen::RootFunc &root : fn.rootFuncs)
    kinds.insert(root.kind);
  return kinds;
}

} // namespace

TEST(Scheduler, LoweringLeavesEveryDecisionToTheScheduler) {
  using Kind = codegen::RootFunc::Kind;
  // Convolutions (products, a padded copy, the weight gradient's sum),
  // max pooling (window argmax), cross entropy (reductions); BatchNorm
  // (statistics) and a bias gradient over images (a lane sum).
  for (const char *stem : {"maxpool2d", "batchnorm2d"}) {
    SCOPED_TRACE(stem);
    mlir::MLIRContext context;
    firn::testing::CompiledModel compiled;
    codegen::LoweredFunction fn = lowerTrainStep(stem, context, compiled);
    ASSERT_FALSE(fn.rootFuncs.empty());
    ASSERT_FALSE(fn.contractions.empty());
    for (const codegen::RootFunc &root : fn.rootFuncs) {
      EXPECT_TRUE(isInlined(root.func)) << root.func.name() << " scheduled by lowering";
      if (root.kind == Kind::LaneSum) {
        ASSERT_TRUE(root.partial.defined());
        EXPECT_TRUE(isInlined(root.partial)) << root.partial.name();
      }
    }
    for (const codegen::Contraction &c : fn.contractions)
      EXPECT_TRUE(isInlined(c.result) && isInlined(c.acc)) << c.result.name();

    std::string error;
    ASSERT_TRUE(mlir::succeeded(codegen::scheduleForTarget(
        fn, Halide::get_jit_target_from_environment(), error)))
        << error;
    // The host computes each of them once.
    for (const codegen::RootFunc &root : fn.rootFuncs)
      EXPECT_FALSE(isInlined(root.func)) << root.func.name();
    for (const codegen::Contraction &c : fn.contractions)
      EXPECT_FALSE(isInlined(c.result)) << c.result.name();
  }
  mlir::MLIRContext context;
  firn::testing::CompiledModel pool, norm;
  EXPECT_TRUE(kindsOf(lowerTrainStep("maxpool2d", context, pool)).count(Kind::WindowArgmax));
  std::set<Kind> normKinds = kindsOf(lowerTrainStep("batchnorm2d", context, norm));
  EXPECT_TRUE(normKinds.count(Kind::Reduction));
  EXPECT_TRUE(normKinds.count(Kind::LaneSum));
}

TEST(Scheduler, EachTargetGetsItsSchedulerOrAClearError) {
  std::string error;
  auto host = codegen::makeScheduler(Halide::get_host_target(), error);
  ASSERT_TRUE(host) << error;
  EXPECT_STREQ(host->name(), "host");

  auto cuda = codegen::makeScheduler(
      Halide::get_host_target().with_feature(Halide::Target::CUDA), error);
  EXPECT_FALSE(cuda);
  EXPECT_NE(error.find("no scheduler for the GPU target"), std::string::npos) << error;
}
