//===- Schedule.cpp - A host schedule for lowered pipelines ---------------===//
//
// Elementwise ops stay inlined into their consumers: that is the fusion
// (no buffer between a linear layer and its ReLU). What lowering marked as
// root (contractions, convolutions, reductions) and the pipeline's outputs
// are computed once each, vectorized along their contiguous dimension
// (Halide's dimension 0, the tensor's last) and parallel over their
// outermost one. Tuning (tiling the contractions) is the performance work.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Build.h"

namespace firn::codegen {

void scheduleForTarget(LoweredFunction &function, const Halide::Target &target) {
  int lanes = target.natural_vector_size(Halide::Float(32));
  auto schedule = [&](Halide::Func f) {
    f.compute_root();
    std::vector<Halide::Var> args = f.args();
    if (args.empty())
      return;
    f.vectorize(args[0], lanes, Halide::TailStrategy::GuardWithIf);
    if (args.size() >= 2)
      f.parallel(args.back());
  };
  for (Halide::Func &f : function.rootFuncs)
    schedule(f);
  for (Halide::Func &f : function.funcs)
    schedule(f);
}

} // namespace firn::codegen
