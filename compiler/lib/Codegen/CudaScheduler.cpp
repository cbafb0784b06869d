//===- CudaScheduler.cpp - The CUDA schedule of lowered pipelines ---------===//
//
// The same lowered pipeline as on the host (HalideLowering.h), scheduled
// for an NVIDIA GPU. Halide's schedules never change what a pipeline
// computes, only where and in what order (it rejects a schedule that would
// race), so this file decides speed, not results; the reduction order of
// every sum is the one the lowering wrote, as on the CPU, except where a
// comment says otherwise.
//
// - Elementwise ops stay inlined into their consumers (the fusion is the
//   same as on the CPU: a bias, a ReLU, an optimizer's update are computed
//   in the loop that produces their operand).
// - What lowering computes once (RootFunc) and the outputs: one thread per
//   element, all dimensions fused into one index, 256 threads per block,
//   consecutive threads on consecutive elements of the contiguous
//   dimension (coalesced loads and stores). An inline reduction (a
//   softmax's row sum, BatchNorm's statistics) runs in its element's
//   thread, in the lowering's order.
// - A vector of long sums (LaneSum, a bias gradient): one block per sum,
//   one thread per lane of its partial sums, the lanes added by one thread
//   in order: the same sum as on the CPU.
// - A scatter (an embedding's gradient): one thread per column, the
//   positions in order within it (PyTorch's order, no atomics).
// - Matrix products (Contraction): blocks of 32 x 32 outputs, 32 x 8
//   threads (32 x 8 outputs, 32 x 2 threads for a product that is an
//   output), each thread 4 rows of one column in registers, the reduction
//   innermost and serial per thread (the CPU's order); 32 threads of a
//   warp read 32 consecutive columns of the right operand (coalesced) and
//   one element of the left (a broadcast). No shared-memory staging yet:
//   see docs/benchmarks.md for what has been measured on a GPU.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Scheduler.h"

#include <set>

namespace firn::codegen {

namespace {
using Halide::TailStrategy;
using Halide::Var;
using Halide::VarOrRVar;

constexpr int kThreadsPerBlock = 256;
constexpr int kProductTile = 32;     ///< Outputs per block side.
constexpr int kProductThreadRows = 4; ///< Rows of one column per thread.

/// The threads of a block along the contiguous dimension of a Func whose
/// rows are `width` long (0: unknown): a warp's worth, or the power of two
/// that covers a short row (a classifier's 10 columns: 16, not 32).
int threadsAlongRow(int width) {
  int threads = 32;
  while (width > 0 && threads > 1 && threads / 2 >= width)
    threads /= 2;
  return threads;
}

/// args[first], args[first + 1], ... fused into one loop of `stage` (a
/// Func or an update Stage): at most three block dimensions.
template <class StageT>
Var fuseFrom(StageT &stage, const std::string &prefix, const std::vector<Var> &args,
             size_t first) {
  Var outer = args[first];
  for (size_t d = first + 1; d < args.size(); ++d) {
    Var fused(prefix + std::to_string(d));
    stage.fuse(outer, args[d], fused);
    outer = fused;
  }
  return outer;
}

/// Runs every element of the pure definition of `f` in its own thread:
/// threads along the contiguous dimension and the next one, blocks over
/// those and the rest (fused into one block dimension). The two inner
/// coordinates stay plain loop variables: an inline reduction's storage
/// per thread is then one element (Halide cannot see that through the
/// div/mod of a fused thread index, and sizes it for the whole block).
void scheduleElementwise(Halide::Func f, int rowWidth) {
  f.compute_root();
  std::vector<Var> args = f.args();
  if (args.empty()) {
    f.gpu_single_thread();
    return;
  }
  Var bx("bx"), tx("tx"), by("by"), ty("ty");
  if (args.size() == 1) {
    f.gpu_tile(args[0], bx, tx, kThreadsPerBlock, TailStrategy::GuardWithIf);
    return;
  }
  int x = threadsAlongRow(rowWidth);
  f.gpu_tile(args[0], args[1], bx, by, tx, ty, x, kThreadsPerBlock / x,
             TailStrategy::GuardWithIf);
  if (args.size() == 2)
    return;
  f.gpu_blocks(fuseFrom(f, f.name() + "_f", args, 2));
}

void scheduleContraction(Contraction &c) {
  c.result.compute_root();
  // Whole row tiles, so that each thread's loop over its 4 rows has a
  // constant extent (registers need one): the rows past the end read the
  // operand's last row, clamped by the lowering, and nobody reads them. A
  // product written straight to an output has a multiple of 8 rows
  // (kContractionTileRows) and exactly those: its blocks are 8 rows high.
  const int blockRows = c.isOutput ? kContractionTileRows : kProductTile;
  c.result.bound(c.i, 0, (c.rows + blockRows - 1) / blockRows * blockRows);
  Var jo("jo"), io("io"), ji("ji"), ii("ii"), it("it"), ir("ir");
  c.result.split(c.j, jo, ji, kProductTile, TailStrategy::GuardWithIf)
      .split(c.i, io, ii, blockRows, TailStrategy::RoundUp)
      .split(ii, it, ir, kProductThreadRows, TailStrategy::RoundUp);
  std::vector<VarOrRVar> order = {ir, ji, it, jo, io};
  order.insert(order.end(), c.batch.begin(), c.batch.end());
  c.result.reorder(order);
  // At most three block dimensions: the batch coordinates (a convolution's
  // images) fuse into one.
  Var blocksZ;
  bool batched = !c.batch.empty();
  if (batched) {
    blocksZ = c.batch[0];
    for (size_t d = 1; d < c.batch.size(); ++d) {
      Var fused("batch_f" + std::to_string(d));
      c.result.fuse(blocksZ, c.batch[d], fused);
      blocksZ = fused;
    }
  }
  if (batched)
    c.result.gpu_blocks(jo, io, blocksZ);
  else
    c.result.gpu_blocks(jo, io);
  c.result.gpu_threads(ji, it).unroll(ir);
  // Each thread's 4 accumulators live in registers.
  c.acc.compute_at(c.result, ji).store_in(Halide::MemoryType::Register).unroll(c.i);
  std::vector<VarOrRVar> reduction = {c.j, c.i};
  for (int d = 0; d < c.r.dimensions(); ++d)
    reduction.push_back(Halide::RVar(c.r[d]));
  c.acc.update().reorder(reduction).unroll(c.i);
}

/// An update stage of `f` over its first two pure coordinates in blocks
/// of threads, the rest fused into blocks; `reduction` (the update's RVar)
/// a serial loop in each thread.
void scheduleUpdateOnThreads(Halide::Func f, const Halide::RDom &reduction) {
  std::vector<Var> args = f.args();
  Halide::Stage update = f.update();
  Var bx("bx"), tx("tx"), by("by"), ty("ty");
  update.reorder(Halide::RVar(reduction.x), args[0], args[1]);
  update.gpu_tile(args[0], args[1], bx, by, tx, ty, 32, 8, TailStrategy::GuardWithIf);
  if (args.size() == 2)
    return;
  update.gpu_blocks(fuseFrom(update, f.name() + "_u", args, 2));
}

/// Fused attention on the GPU: each part its own kernel (the fusion that
/// keeps the scores out of memory is the host scheduler's).
void scheduleAttention(RootFunc &a, int rowWidth) {
  scheduleElementwise(a.scores, 0);
  scheduleUpdateOnThreads(a.scores, a.featureRange);
  for (auto &[dot, range] : a.dots) {
    scheduleElementwise(dot, 0);
    scheduleUpdateOnThreads(dot, range);
  }
  if (a.rowMax.defined()) {
    scheduleElementwise(a.rowMax, 0);
    scheduleElementwise(a.rowSum, 0);
  }
  if (a.weights.defined())
    scheduleElementwise(a.weights, 0);
  if (a.kind == RootFunc::Kind::AttentionStats) {
    scheduleElementwise(a.func, 0);
    return;
  }
  scheduleElementwise(a.func, rowWidth);
  scheduleUpdateOnThreads(a.func, a.keyRange);
}

class CudaScheduler final : public Scheduler {
public:
  const char *name() const override { return "cuda"; }
  void schedule(LoweredFunction &function) const override;
};

void CudaScheduler::schedule(LoweredFunction &function) const {
  auto rowWidth = [&](const Halide::Func &f) {
    auto known = function.rowWidths.find(f.name());
    return known == function.rowWidths.end() ? 0 : known->second;
  };
  std::set<std::string> scheduled;
  for (Contraction &c : function.contractions) {
    scheduleContraction(c);
    scheduled.insert(c.result.name());
  }
  for (RootFunc &root : function.rootFuncs) {
    Halide::Func &f = root.func;
    scheduled.insert(f.name());
    switch (root.kind) {
    case RootFunc::Kind::Copy:
    case RootFunc::Kind::Reduction:
    case RootFunc::Kind::WindowArgmax:
      scheduleElementwise(f, rowWidth(f));
      break;
    case RootFunc::Kind::LaneSum: {
      // One block per sum (the rows of a multi-dimensional one fused).
      std::vector<Var> args = f.args();
      Var c = args[0];
      for (size_t d = 1; d < args.size(); ++d) {
        Var fused(f.name() + "_sums" + std::to_string(d));
        f.fuse(c, args[d], fused);
        c = fused;
      }
      f.compute_root().gpu_blocks(c);
      // (A block's single thread adds the lanes: gpu_blocks alone runs
      // one.)
      root.partial.compute_at(f, c).gpu_threads(root.partial.args()[0]);
      if (root.partial.has_update_definition())
        root.partial.update().gpu_threads(root.partial.args()[0]);
      break;
    }
    case RootFunc::Kind::Attention:
    case RootFunc::Kind::AttentionStats:
      scheduleAttention(root, rowWidth(f));
      break;
    case RootFunc::Kind::Winograd: {
      // Each stage its own kernel (the host's blocks in cache do not carry
      // over to a GPU), the products' sums a thread per output.
      RootFunc::WinogradParts &p = root.winograd;
      scheduleElementwise(p.padded, 0);
      scheduleElementwise(p.input, 0);
      if (p.weightGradient()) {
        scheduleElementwise(p.gradients, 0);
        scheduleElementwise(p.products, 0);
      }
      scheduleElementwise(p.acc, 0);
      scheduleUpdateOnThreads(p.acc, p.sum);
      scheduleElementwise(f, rowWidth(f));
      break;
    }
    case RootFunc::Kind::Scatter: {
      scheduleElementwise(f, rowWidth(f));
      Var col = f.args()[0], co("co"), ci("ci");
      for (int u = 0; u < f.num_update_definitions(); ++u)
        f.update(u).gpu_tile(col, co, ci, 64, TailStrategy::GuardWithIf);
      break;
    }
    }
  }
  for (Halide::Func &f : function.funcs)
    if (scheduled.insert(f.name()).second)
      scheduleElementwise(f, rowWidth(f));
}
} // namespace

std::unique_ptr<Scheduler> makeCudaScheduler() {
  return std::make_unique<CudaScheduler>();
}

} // namespace firn::codegen
