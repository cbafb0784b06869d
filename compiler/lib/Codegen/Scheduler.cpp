//===- Scheduler.cpp - The scheduler for each target ----------------------===//
//
// Picks the Scheduler (Scheduler.h) for a Halide target. GPU targets have
// none yet: asking for one is an error the caller reports, never a
// pipeline that would silently run on the host.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Scheduler.h"

namespace firn::codegen {

Scheduler::~Scheduler() = default;

std::unique_ptr<Scheduler> makeScheduler(const Halide::Target &target,
                                         std::string &error) {
  if (target.has_gpu_feature()) {
    error = "no scheduler for the GPU target '" + target.to_string() + "' yet";
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
