//===- Scheduler.cpp - The scheduler for each target ----------------------===//
//
// Picks the Scheduler (Scheduler.h) for a Halide target: CUDA's for a
// target with the CUDA feature, the host's for one without any GPU
// feature. Another GPU API (OpenCL, Metal, ...) has none: asking for one is
// an error the caller reports, never a pipeline that would silently run on
// the host. hostTarget() corrects Halide's view of the host CPU.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Scheduler.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace firn::codegen {

namespace {
/// Whether the CPU has the VEX-encoded AVX-VNNI instructions (CPUID leaf 7,
/// sub-leaf 1, EAX bit 4).
bool hasAvxVnni() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 4));
#else
  return false;
#endif
}
} // namespace

Halide::Target hostTarget() {
  Halide::Target target = Halide::get_host_target();
  if (target.has_feature(Halide::Target::AVX512_SapphireRapids) && !hasAvxVnni())
    target = target.without_feature(Halide::Target::AVX512_SapphireRapids);
  return target;
}

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
