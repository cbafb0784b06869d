//===- Scheduler.cpp - The scheduler for each target ----------------------===//
//
// Picks the Scheduler (Scheduler.h) for a Halide target: CUDA's for a
// target with the CUDA feature, the host's for one without any GPU
// feature. Another GPU API (OpenCL, Metal, ...) has none: asking for one is
// an error the caller reports, never a pipeline that would silently run on
// the host.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Scheduler.h"

namespace firn::codegen {

Scheduler::~Scheduler() = default;

std::unique_ptr<Scheduler> makeScheduler(const Halide::Target &target,
                                         std::string &error) {
  if (target.has_feature(Halide::Target::CUDA))
    return makeCudaScheduler();
  if (target.has_gpu_feature()) {
    error = "no scheduler for the GPU target '" + target.to_string() + "'";
    return nullptr;
  }
  return makeHostScheduler(target);
}

mlir::LogicalResult scheduleForTarget(LoweredFunction &function,
                                      const Halide::Target &target,
                                      std::string &error) {
  std::unique_ptr<Scheduler> scheduler = makeScheduler(target, error);
  if (!scheduler)
    return mlir::failure();
  scheduler->schedule(function);
  return mlir::success();
}

} // namespace firn::codegen
