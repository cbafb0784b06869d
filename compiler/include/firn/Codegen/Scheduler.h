//===- Scheduler.h - How a target runs lowered pipelines -------*- C++ -*-===//
//
// Lowering (HalideLowering.h) says what each Func computes and what kind
// of work it is: a matrix product (Contraction), a reduction, a window
// argmax, a copy (RootFunc), an output. A Scheduler says how that work
// runs on one kind of target: loop order, tiles, vectors, threads, and on
// a GPU blocks and shared memory. Every scheduling decision lives in a
// Scheduler, none in the lowering, so a new target is a new Scheduler and
// nothing else in code generation changes.
//
// Targets: the host CPU (HostScheduler.cpp), NVIDIA GPUs through CUDA
// (CudaScheduler.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_CODEGEN_SCHEDULER_H
#define FIRN_CODEGEN_SCHEDULER_H

#include "firn/Codegen/HalideLowering.h"

#include <memory>
#include <string>

namespace firn::codegen {

class Scheduler {
public:
  virtual ~Scheduler();
  /// A short name for messages and `--emit=halide` ("host").
  virtual const char *name() const = 0;
  /// Schedules the contractions, root Funcs and outputs of `function`;
  /// everything else stays inlined into its consumers (fused).
  virtual void schedule(LoweredFunction &function) const = 0;
};

/// Halide's host target less what this CPU cannot run. Halide 14 takes a
/// CPU with AVX-512 VNNI and BF16 but no AVX-VNNI (AMD Zen 4) for a
/// Sapphire Rapids, and that feature emits VEX-encoded AVX-VNNI
/// instructions (vpdpwssd on xmm registers): the kernels died of SIGILL on
/// such a host (Halide issue 7834). Such a CPU gets Cannon Lake's AVX-512.
Halide::Target hostTarget();

/// The scheduler for the host CPU `target` (any vector width).
std::unique_ptr<Scheduler> makeHostScheduler(const Halide::Target &target);

/// The scheduler for a target with Halide's CUDA feature.
std::unique_ptr<Scheduler> makeCudaScheduler();

/// The scheduler for `target`, or null with `error` saying why when firn
/// has none for it (a GPU API other than CUDA).
std::unique_ptr<Scheduler> makeScheduler(const Halide::Target &target,
                                         std::string &error);

/// Schedules `function` with makeScheduler(target); fails with `error`
/// when there is no scheduler for the target.
mlir::LogicalResult scheduleForTarget(LoweredFunction &function,
                                      const Halide::Target &target,
                                      std::string &error);

} // namespace firn::codegen

#endif // FIRN_CODEGEN_SCHEDULER_H
