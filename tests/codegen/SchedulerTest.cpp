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

#include "llvm/ADT/STLExtras.h"

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
        fn, codegen::hostTarget(), error)))
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
  ASSERT_TRUE(cuda) << error;
  EXPECT_STREQ(cuda->name(), "cuda");

  auto openCL = codegen::makeScheduler(
      Halide::get_host_target().with_feature(Halide::Target::OpenCL), error);
  EXPECT_FALSE(openCL);
  EXPECT_NE(error.find("no scheduler for the GPU target"), std::string::npos) << error;
}

namespace {
/// Whether `definition`'s loops include a GPU block and a GPU thread loop.
bool runsOnTheGpu(const Halide::Internal::Definition &definition) {
  bool blocks = false, threads = false;
  for (const Halide::Internal::Dim &dim : definition.schedule().dims()) {
    blocks |= dim.for_type == Halide::Internal::ForType::GPUBlock;
    threads |= dim.for_type == Halide::Internal::ForType::GPUThread;
  }
  return blocks && threads;
}

/// Whether every definition of `f` (pure and updates) runs on the GPU.
bool everyDefinitionOnTheGpu(const Halide::Func &f) {
  if (!runsOnTheGpu(f.function().definition()))
    return false;
  for (const Halide::Internal::Definition &update : f.function().updates())
    if (!runsOnTheGpu(update))
      return false;
  return true;
}
} // namespace

TEST(Scheduler, TheCudaSchedulePutsEveryKernelOnTheGpu) {
  // Every kind of work: products and convolutions (maxpool2d: also a
  // padded copy and a window argmax), statistics and a lane sum
  // (batchnorm2d), a scatter (embedding), batched products and softmax
  // (attention).
  using Kind = codegen::RootFunc::Kind;
  std::set<Kind> seen;
  const Halide::Target cuda = Halide::get_host_target()
                                  .with_feature(Halide::Target::CUDA)
                                  .with_feature(Halide::Target::CUDACapability75);
  for (const char *stem : {"maxpool2d", "batchnorm2d", "embedding", "attention"}) {
    SCOPED_TRACE(stem);
    mlir::MLIRContext context;
    firn::testing::CompiledModel compiled;
    codegen::LoweredFunction fn = lowerTrainStep(stem, context, compiled);
    ASSERT_FALSE(fn.funcs.empty());
    std::string error;
    ASSERT_TRUE(mlir::succeeded(codegen::scheduleForTarget(fn, cuda, error))) << error;
    for (const codegen::RootFunc &root : fn.rootFuncs) {
      seen.insert(root.kind);
      if (root.kind != Kind::LaneSum) {
        EXPECT_TRUE(everyDefinitionOnTheGpu(root.func)) << root.func.name();
        continue;
      }
      // One block per sum, its lanes the block's threads.
      auto hasLoop = [](const Halide::Func &f, Halide::Internal::ForType type) {
        return llvm::any_of(f.function().definition().schedule().dims(),
                            [&](const auto &dim) { return dim.for_type == type; });
      };
      EXPECT_TRUE(hasLoop(root.func, Halide::Internal::ForType::GPUBlock)) << root.func.name();
      EXPECT_TRUE(hasLoop(root.partial, Halide::Internal::ForType::GPUThread))
          << root.partial.name();
    }
    for (const codegen::Contraction &c : fn.contractions) {
      EXPECT_TRUE(everyDefinitionOnTheGpu(c.result)) << c.result.name();
      // The accumulators are registers of the thread.
      EXPECT_EQ(c.acc.function().schedule().memory_type(), Halide::MemoryType::Register)
          << c.acc.name();
    }
    for (const Halide::Func &f : fn.funcs)
      EXPECT_TRUE(everyDefinitionOnTheGpu(f)) << f.name();
    // And Halide accepts the schedule for CUDA (no race, no host loop it
    // cannot offload): the module lowers, PTX and all.
    std::vector<Halide::Argument> arguments(fn.params.begin(), fn.params.end());
    EXPECT_NO_THROW(fn.pipeline().compile_to_module(arguments, "k", cuda));
  }
  for (Kind kind : {Kind::Copy, Kind::Reduction, Kind::LaneSum, Kind::WindowArgmax,
                    Kind::Scatter})
    EXPECT_TRUE(seen.count(kind)) << "no model above has root Funcs of kind "
                                  << static_cast<int>(kind);
}
