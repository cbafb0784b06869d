//===- Schedule.cpp - A host schedule for lowered pipelines ---------------===//
//
// Elementwise ops stay inlined into their consumers: that is the fusion
// (no buffer between a linear layer and its ReLU). What lowering marked as
// root (contractions, convolutions, reductions) and the pipeline's outputs
// are computed once each, vectorized along their contiguous dimension
// (Halide's dimension 0, the tensor's last) and parallel over their
// outermost one; the reductions in register tiles. Cache blocking and
// autotuning are the performance work.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Build.h"

namespace firn::codegen {

void scheduleForTarget(LoweredFunction &function, const Halide::Target &target) {
  int lanes = target.natural_vector_size(Halide::Float(32));
  using Halide::TailStrategy;
  auto schedule = [&](Halide::Func f, bool reduces) {
    f.compute_root();
    std::vector<Halide::Var> args = f.args();
    if (args.empty())
      return;
    if (reduces && args.size() >= 2) {
      // A register tile: `lanes` contiguous outputs by 4 rows, so the
      // inlined reduction keeps 4 vector accumulators and reads each
      // operand vector once per 4 outputs; rows of tiles run in parallel.
      Halide::Var xo("xo"), yo("yo"), xi("xi"), yi("yi");
      f.tile(args[0], args[1], xo, yo, xi, yi, lanes, 4,
             TailStrategy::GuardWithIf)
          .vectorize(xi)
          .unroll(yi);
      f.parallel(args.size() > 2 ? args.back() : yo);
      return;
    }
    f.vectorize(args[0], lanes, TailStrategy::GuardWithIf);
    if (args.size() >= 2)
      f.parallel(args.back());
  };
  for (Halide::Func &f : function.rootFuncs)
    schedule(f, /*reduces=*/true);
  for (Halide::Func &f : function.funcs)
    schedule(f, /*reduces=*/false);
}

} // namespace firn::codegen
