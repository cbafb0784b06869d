//===- HostScheduler.cpp - The CPU schedule of lowered pipelines ----------===//
//
// Elementwise ops stay inlined into their consumers: that is the fusion
// (no buffer between a linear layer and its ReLU). What lowering computes
// once (RootFunc: reductions, copies) and the pipeline's outputs are
// vectorized along their contiguous dimension (Halide's dimension 0, the
// tensor's last) and parallel over their outermost one; the reductions in
// register tiles.
//
// Matrix products (Contraction) get a hand-written schedule, the classic
// one for a CPU GEMM: a register tile of 2 vectors x 8 rows of
// accumulators (16 of AVX-512's 32 registers; 3 x 8 or 4 x 6 where the
// width allows; 2 x 6 or 1 x 8 with AVX2's 16 registers) whose inner loop
// broadcasts a left-hand value per row and loads the right-hand vectors per
// step of k; the right-hand operand copied
// ("packed") once per column panel, contiguous along the tile's columns,
// whatever its layout (this turns x·Wᵀ into the same loop as dy·W), unless
// it can be read in place (a convolution's shifted rows); the left-hand
// operand read in place when it is stored by rows, else materialized once
// (which also computes an inlined producer such as a ReLU once, not once
// per use), in 8-row tiles when it is stored by columns (dyᵀ·x). Column
// panels, or whole images of a batch, run in parallel. Measured on this
// machine kind at 300-360 GFLOP/s on 2 cores (bench/matmul); see
// docs/benchmarks.md. A convolution that one output of its images alone
// reads is computed an image at a time in that output's loop (Readers.h
// finds those).
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Scheduler.h"

#include "Readers.h"

#include "llvm/ADT/STLExtras.h"

#include <optional>
#include <set>
#include <string>

namespace firn::codegen {

namespace {
using Halide::TailStrategy;
using Halide::Var;

constexpr int kTileRows = kContractionTileRows;

/// The widest vector of 4, 8, ... up to `maxLanes` lanes that fits in a row
/// of `width` elements (0: none does).
int widestFitting(int width, int maxLanes) {
  for (int w = maxLanes; w >= 4; w /= 2)
    if (width >= w)
      return w;
  return 0;
}

/// The reduction loops of `c`, innermost first, after `inner`.
std::vector<Halide::VarOrRVar> withReduction(const Contraction &c,
                                             std::vector<Halide::VarOrRVar> inner) {
  for (int d = 0; d < c.r.dimensions(); ++d)
    inner.push_back(Halide::RVar(c.r[d]));
  return inner;
}

void scheduleContraction(Contraction &c, int lanes, int registers,
                         const std::optional<Halide::Func> &image) {
  // A convolution read only by one output of its images (see
  // soleImageReader) is computed an image at a time in that output's loop
  // over images, which runs in parallel: the output reads the image's
  // product from cache instead of a buffer of all of them written and read
  // back.
  if (image)
    c.result.compute_at(*image, image->args().back());
  else
    c.result.compute_root();
  if (c.columns < lanes) {
    // Too narrow for a vector tile (a classifier's 10 outputs): one row at
    // a time, the reduction innermost.
    c.result.parallel(c.i);
    c.acc.compute_at(c.result, c.i);
    c.acc.update().reorder(withReduction(c, {c.j}));
    return;
  }
  // Tiles 2 vectors wide; 3 (24 accumulators: more multiply-adds per load)
  // where that wastes little, on wide products or widths they divide
  // (measured: 3 vectors gain ~10% on 1024-wide products and lose on
  // convolutions' 224-wide rows, where the last tile overlaps more).
  int tileColumns = lanes;
  if (c.columns % (3 * lanes) == 0 || c.columns >= 64 * lanes)
    tileColumns = 3 * lanes;
  else if (c.columns >= 2 * lanes)
    tileColumns = 2 * lanes;
  // Widths of whole 4-vector tiles get 4 vectors x 6 rows instead (24
  // accumulators, 6 broadcasts per 4 loads; measured: a convolution's
  // weight gradient over 64 channels 2.3 -> 1.4 ms, the MLP 8% faster).
  // Not where the row count must stay a multiple of 8: a product written
  // straight to an output, a transposed operand's 8-row tiles.
  // Nor where rounding the rows up to 6s computes more of them than to 8s
  // and the tiles would be 2 vectors x 8 rows otherwise (measured, perf
  // shares on the ResNet bench: its strided input gradient into 32
  // channels, 36 rows in 6s, 11% faster in 2 x 8 tiles, its convolutions
  // into 64 channels 3-8%; its stem, 32 rows too but of only 27 terms
  // each, 20% slower in 3 x 8 ones).
  int tileRows = kTileRows;
  const int64_t *rows = Halide::Internal::as_const_int(c.rows);
  const bool sixesWaste =
      rows && tileColumns == 2 * lanes && (*rows + 5) / 6 * 6 > (*rows + 7) / 8 * 8;
  if (c.columns % (4 * lanes) == 0 && !c.lhsTiles.defined() && !c.isOutput && !sixesWaste) {
    tileColumns = 4 * lanes;
    tileRows = 6;
  }
  // With 16 vector registers (AVX2) those tiles of 24 accumulators spill.
  // 6 rows x 2 vectors (12 accumulators, as BLIS's Haswell kernel) leaves
  // room for the two loads and a broadcast; where the rows must stay a
  // multiple of 8, 8 x 1. Measured on a 2-core AVX2 EPYC, ms a step: the
  // ResNet bench 138-154 -> 90-93; in the 8-row cases (the weight
  // gradients) 8 x 1 against 8 x 2: GPT 276 against 325, MLP 6.1 against
  // 7.2, ResNet and CNN the same.
  if (registers < 32) {
    const bool eightRows = c.lhsTiles.defined() || c.isOutput;
    tileColumns = std::min(tileColumns, (eightRows ? 1 : 2) * lanes);
    tileRows = eightRows ? kTileRows : 6;
  }
  // The result holds whole row tiles (the rows past the end read the last
  // row of the operand and are never read) and exactly N columns, so that
  // every tile is full: the last column tile shifts inwards to overlap its
  // neighbour instead of running a partial vector.
  c.result.bound(c.j, 0, c.columns)
      .bound(c.i, 0, (c.rows + tileRows - 1) / tileRows * tileRows);
  Var jo("jo"), io("io"), ji("ji"), ii("ii");
  std::vector<Halide::VarOrRVar> order = {ji, ii, io, jo};
  order.insert(order.end(), c.batch.begin(), c.batch.end());
  // The rows are bounded to whole tiles, so splitting them needs no tail
  // (RoundUp adds none): a tile's first row is then exactly io * 8, which
  // lets the row-tile copy of a transposed operand be indexed by io.
  c.result.split(c.j, jo, ji, tileColumns, TailStrategy::ShiftInwards)
      .split(c.i, io, ii, tileRows, TailStrategy::RoundUp)
      .reorder(order)
      .vectorize(ji, lanes)
      .unroll(ji)
      .unroll(ii);
  // Column panels run in parallel; with a batch (a convolution's images),
  // whole batch indices do when there are a few of them (measured: tasks
  // of one panel of one image are too small for the thread pool, and
  // nested parallel loops cost more than they gain). A single panel (a
  // weight gradient with few output channels) runs its row tiles in
  // parallel instead, and packs its panel in parallel; so does a batch of
  // fewer than 4 (a weight gradient's 2 chunks of 16 images of 8 x 8 ran
  // on one core: 1.6 ms of the ResNet bench's step, twice).
  bool onePanel = c.columns <= tileColumns;
  std::optional<Halide::Expr> fewBatches;
  if (!c.batch.empty() && !image) {
    c.result.specialize(c.batchExtents.back() >= 4).parallel(c.batch.back());
    fewBatches = c.batchExtents.back() < 4;
  }
  if (!image)
    c.result.parallel(onePanel ? io : jo);
  Var task = jo;
  c.acc.compute_at(c.result, io)
      .vectorize(c.j, lanes)
      .unroll(c.j)
      .unroll(c.i);
  c.acc.update()
      .reorder(withReduction(c, {c.j, c.i}))
      .vectorize(c.j, lanes)
      .unroll(c.j)
      .unroll(c.i);
  // A single panel is packed in parallel, where the tiles are not already
  // parallel over the batch (nested, that costs more).
  auto packInParallel = [&](Halide::Func packed) {
    if (onePanel && fewBatches)
      packed.specialize(*fewBatches).parallel(c.k.back());
    else if (onePanel && !image)
      packed.parallel(c.k.back());
  };
  // The panel of the right-hand operand that a column tile reads: K rows
  // of tileColumns contiguous floats.
  if (!c.rhsDirect && c.rhsRun >= lanes && tileColumns % lanes == 0) {
    // Blocks of `lanes` columns by `lanes` values of a run: each block
    // copied along the runs (dense loads) into a square stored run-major,
    // then the panel reads the square's columns, which Halide turns into
    // an in-register transposition (dense loads and shuffles) instead of a
    // gather per vector (a weight gradient's dy packed at 5 GB/s).
    Var jo2("jo2"), ji2("ji2"), ko2("ko2"), ki2("ki2");
    Halide::Func panel = c.rhs.in(c.acc);
    panel.compute_at(c.result, task)
        .split(c.j, jo2, ji2, lanes)
        .split(c.k[0], ko2, ki2, lanes, TailStrategy::GuardWithIf)
        .reorder(ji2, ki2, jo2, ko2)
        .vectorize(ji2)
        .unroll(ki2);
    std::vector<Halide::Var> storage = {c.k[0], c.j};
    for (size_t d = 1; d < c.k.size(); ++d)
      storage.push_back(c.k[d]);
    storage.insert(storage.end(), c.batch.begin(), c.batch.end());
    c.rhs.compute_at(panel, jo2)
        .reorder_storage(storage)
        .reorder(c.k[0], c.j)
        .vectorize(c.k[0], lanes)
        .unroll(c.j);
    packInParallel(panel);
  } else if (!c.rhsDirect) {
    c.rhs.compute_at(c.result, task).vectorize(c.j, lanes);
    packInParallel(c.rhs);
  }
  // A convolution's kernel columns (3 taps): unrolled, no loop.
  if (const int64_t *taps = Halide::Internal::as_const_int(c.r[0].extent());
      taps && *taps <= 4 && c.r.dimensions() > 1)
    c.acc.update().unroll(Halide::RVar(c.r[0]));
  if (c.lhsDirect)
    return; // Broadcast straight from the operand's rows.
  if (c.lhsTiles.defined()) {
    // The row tiles of a transposed operand: 8 contiguous floats at a time.
    std::vector<Halide::Var> args = c.lhsTiles.args();
    c.lhsTiles.compute_root().vectorize(args.front()).parallel(args.back());
    return;
  }
  c.lhs.compute_root().vectorize(c.k[0], lanes, TailStrategy::GuardWithIf).parallel(c.i);
}

/// One parallel loop of attention tasks: the tiles `tiles` fused with the
/// heads and batch coordinates `outer`; returns the fused variable.
Var fusedTask(Halide::Stage stage, Var tiles, const std::vector<Var> &outer) {
  Var task = tiles;
  for (const Var &d : outer) {
    Var fused(task.name() + "_" + d.name());
    stage.fuse(task, d, fused);
    task = fused;
  }
  stage.parallel(task);
  return task;
}

/// A task's tile of scores or weights is stored for all the keys when
/// their number is static: with the causal mask's blocks skipped
/// (LowerAttention.cpp) a tile computes fewer of them, a number that
/// varies from task to task, and would otherwise be a heap allocation per
/// task.
void boundKeys(const RootFunc &a, Halide::Func &tile) {
  if (const int64_t *keys = Halide::Internal::as_const_int(a.keyRange.x.extent()))
    tile.bound_storage(tile.args()[0], static_cast<int>(*keys));
}

/// What an attention task computes for its tile of rows before its output:
/// the row statistics (when the task computes them) and the tiles of dot
/// products (`scores` and `dots`, vectors along the keys, the tile's rows
/// unrolled when static).
void scheduleAttentionTile(RootFunc &a, Halide::Func &at, Var task, int lanes) {
  if (a.rowMax.defined()) {
    a.rowMax.compute_at(at, task);
    a.rowSum.compute_at(at, task);
  }
  std::vector<std::pair<Halide::Func, Halide::RDom>> tiles = {{a.scores, a.featureRange}};
  tiles.insert(tiles.end(), a.dots.begin(), a.dots.end());
  for (auto &[f, range] : tiles) {
    std::vector<Var> s = f.args(); // (j, i, b...)
    Var jo("jo"), ji("ji");
    f.compute_at(at, task).vectorize(s[0], lanes, TailStrategy::GuardWithIf);
    boundKeys(a, f);
    Halide::Stage dots = f.update();
    dots.split(s[0], jo, ji, lanes, TailStrategy::GuardWithIf)
        .reorder(ji, s[1], Halide::RVar(range.x), jo)
        .vectorize(ji);
    if (a.rows > 0)
      dots.unroll(s[1]);
  }
}

/// Fused attention: a task per tile of 8 query rows of one head (tiles
/// and heads in parallel), which computes the tile's scores, row
/// statistics and weights (8 rows of S floats, in cache) and then the
/// output rows. Both products are register tiles of 8 rows x 1 vector
/// (8 accumulators: AVX2's 16 registers hold them with the operands):
/// per step of the reduction one vector load and 8 broadcasts.
void scheduleAttention(RootFunc &a, int lanes) {
  Halide::Func &acc = a.func;
  std::vector<Var> args = acc.args(); // (f, i, b...)
  const bool staticRows = a.rows > 0;
  const int tile = staticRows ? std::min(a.rows, kTileRows) : kTileRows;
  acc.compute_root().vectorize(args[0], lanes, TailStrategy::GuardWithIf);
  if (staticRows)
    acc.bound(args[1], 0, (a.rows + tile - 1) / tile * tile);
  Var io("io"), ii("ii"), fo("fo"), fi("fi");
  Halide::Stage update = acc.update();
  update.split(args[1], io, ii, tile,
               staticRows ? TailStrategy::RoundUp : TailStrategy::GuardWithIf)
      .split(args[0], fo, fi, lanes, TailStrategy::GuardWithIf);
  std::vector<Halide::VarOrRVar> order = {fi, ii, Halide::RVar(a.keyRange.x), fo, io};
  order.insert(order.end(), args.begin() + 2, args.end());
  update.reorder(order).vectorize(fi);
  if (staticRows)
    update.unroll(ii);
  Var task = fusedTask(update, io, {args.begin() + 2, args.end()});

  a.weights.compute_at(acc, task).vectorize(a.weights.args()[0], lanes,
                                           TailStrategy::GuardWithIf);
  boundKeys(a, a.weights);
  scheduleAttentionTile(a, acc, task, lanes);
}

/// The gradient's row statistics: a task per tile of 8 query rows of one
/// head, which computes the tile's scores (8 rows of S floats) and then
/// each row's maximum and sum.
void scheduleAttentionStats(RootFunc &a, int lanes) {
  Halide::Func &stats = a.func;
  std::vector<Var> args = stats.args(); // (i, b...)
  const bool staticRows = a.rows > 0;
  const int tile = staticRows ? std::min(a.rows, kTileRows) : kTileRows;
  stats.compute_root();
  if (staticRows)
    stats.bound(args[0], 0, (a.rows + tile - 1) / tile * tile);
  Var io("io"), ii("ii");
  stats.split(args[0], io, ii, tile,
              staticRows ? TailStrategy::RoundUp : TailStrategy::GuardWithIf);
  Var task = fusedTask(stats, io, {args.begin() + 1, args.end()});
  scheduleAttentionTile(a, stats, task, lanes);
}

/// A convolution's shifted source, a row of each plane at a time: split
/// by the planes' width, the row and column of q are loop variables, not
/// q / width and q % width (a gather per vector on a width of 17).
/// With `image`, the output in whose loop over images the products
/// reading it are computed (see soleImageReader), it is copied there too,
/// an image at a time, and read from cache.
void scheduleShiftedPlanes(RootFunc &root, int lanes,
                           const std::optional<Halide::Func> &image) {
  Halide::Func f = root.func;
  std::vector<Var> args = f.args();
  Var row("row"), column("column");
  if (image)
    f.compute_at(*image, image->args().back());
  else
    f.compute_root().parallel(args.back());
  f.bound(args[0], 0, root.planeRows * root.planeWidth)
      .split(args[0], row, column, root.planeWidth);
  const int width = root.planeWidth >= lanes ? lanes : widestFitting(root.planeWidth, lanes / 2);
  if (width)
    f.vectorize(column, width, TailStrategy::ShiftInwards);
}

/// A vector of sums (laneSums): partial(lane, c, g), the lanes one vector
/// of accumulators, the chunks of a run innermost. Over groups of images
/// (RootFunc::imageGroups), a task per group, which reads its images one
/// by one, every channel's run in memory order; else a task per sum.
void scheduleVectorSums(RootFunc &root) {
  Halide::Func f = root.func, partial = root.partial;
  std::vector<Var> p = partial.args();           // (lane, c, g)
  std::vector<Halide::RVar> r = partial.rvars(); // (chunk, the other reduced axes)
  std::vector<Halide::VarOrRVar> order = {p[0], r[0]};
  if (root.imageGroups) {
    order.push_back(p[1]);
    order.insert(order.end(), r.begin() + 1, r.end());
    order.push_back(p[2]);
    partial.compute_root().vectorize(p[0]);
    partial.update().reorder(order).vectorize(p[0]).parallel(p[2]);
    return;
  }
  order.insert(order.end(), r.begin() + 1, r.end());
  order.insert(order.end(), {p[1], p[2]});
  f.parallel(f.args()[0]);
  partial.compute_at(f, f.args()[0]).vectorize(p[0]);
  partial.update().reorder(order).vectorize(p[0]);
}

/// The transformed tiles, computed a few positions e at a time (at
/// `loop`, a loop over e or over groups of 4 of them, unrolled: constant
/// coefficients) right before the products of those positions read them
/// from cache, and stored for the block (`store`: one allocation, not one
/// per position); measured, the ResNet bench's Winograd stages 27.5 ->
/// 20.7 ms a step against all 16 positions computed first. Vectors along
/// the tile rows.
void scheduleTileTransform(Halide::Func f, Halide::Func at, Var loop, Var store,
                           int vector) {
  std::vector<Var> a = f.args(); // (tw, th, channel, e, n)
  f.compute_at(at, loop)
      .store_at(at, store)
      .reorder(a[0], a[3], a[1], a[2], a[4])
      .vectorize(a[0], vector, TailStrategy::ShiftInwards)
      .unroll(a[3]);
}

/// The first half of a tile transform, rows(tw, y, c, s, n), for a
/// block: vectors of tiles, the 4 columns s of each unrolled (they read the
/// same source values).
void scheduleTileRows(Halide::Func f, Halide::Func at, Var loop, int vector) {
  std::vector<Var> a = f.args();
  f.compute_at(at, loop)
      .reorder(a[0], a[3], a[1], a[2], a[4])
      .vectorize(a[0], vector, TailStrategy::ShiftInwards)
      .unroll(a[3]);
}

/// A block's padded source (x, y, c, n): vectors along the rows.
void schedulePadded(Halide::Func f, Halide::Func at, Var loop, int vector) {
  f.compute_at(at, loop).vectorize(f.args()[0], vector, TailStrategy::GuardWithIf);
}

/// Winograd's weight gradient: a task per chunk of images computes their
/// padded input, then per group of 4 positions e both operands'
/// transformed tiles (groups, not single positions unrolled 16 times: the
/// ResNet example compiled in 16.3 s that way, 14.3 s with groups, the
/// same step time) and, per position and pair of channel tiles (4 output
/// x 2 input channels: 8 vector accumulators; 4 x 4 with 32 registers,
/// 8 loads per 16 multiply-adds instead of 6 per 8: measured, the ResNet
/// bench's Winograd weight gradients 8 and 15% faster), the sum over the
/// chunk's tiles, a vector of tiles at a time (one position's tiles, 128
/// KB at 64 channels, stay in cache while every channel tile reads them);
/// the chunks' sums are added at the end.
void scheduleWinogradWeightGradient(RootFunc &root, int lanes, int registers) {
  RootFunc::WinogradParts &p = root.winograd;
  std::vector<Var> t = root.func.args(); // (o, c, e)
  root.func.compute_root()
      .vectorize(t[0], lanes, TailStrategy::GuardWithIf)
      .parallel(t[2]);
  std::vector<Var> a = p.products.args(); // (o, c, e, chunk)
  Var oo("oo"), oi("oi"), co("co"), ci("ci"), eo("eo"), ei("ei");
  p.products.compute_root()
      .split(a[0], oo, oi, 4, TailStrategy::RoundUp)
      .split(a[1], co, ci, registers >= 32 ? 4 : 2, TailStrategy::GuardWithIf)
      .split(a[2], eo, ei, 4)
      .reorder(oi, ci, oo, co, ei, eo, a[3])
      .unroll(ei)
      .parallel(a[3]);
  std::vector<Var> acc = p.acc.args(); // (lane, o, c, e, chunk)
  p.acc.compute_at(p.products, oo).vectorize(acc[0]).unroll(acc[1]).unroll(acc[2]);
  p.acc.update()
      .reorder(acc[0], acc[1], acc[2], Halide::RVar(p.sum.x), Halide::RVar(p.sum.y),
               Halide::RVar(p.sum.z))
      .vectorize(acc[0])
      .unroll(acc[1])
      .unroll(acc[2]);
  const int tilesW = (p.outW + 1) / 2;
  int vector = lanes;
  while (tilesW % vector != 0)
    vector /= 2; // (Rows of tiles are a multiple of 4.)
  // (The transforms' row halves inlined: stored for a whole image, as the
  // chunk needs them, they spill out of L2; measured, the 32-channel
  // weight gradients 5.4 -> 6.0 ms a step.)
  scheduleTileTransform(p.input, p.products, eo, a[3], vector);
  scheduleTileTransform(p.gradients, p.products, eo, a[3], vector);
  schedulePadded(p.padded, p.products, a[3], vector);
}

/// Winograd's F(2x2, 3x3) (LowerWinograd.cpp): a task per image, which
/// computes its output a block of tile rows at a time: the block's padded
/// source, then per position e its transformed tiles and products (the 16
/// products about 256 KB, in cache), then the block's outputs. The
/// products are register tiles of 1 vector of tiles x 2 tile rows x 4
/// output channels (8 accumulators; 4 tile rows with AVX-512's 32
/// registers, 16 accumulators: per channel of the sum 4 loads and 4
/// broadcasts, where 2 rows x 8 channels took 2 and 8; measured 5-11%
/// faster on the ResNet bench's 64-channel 16x16 ones, the same on 32x32).
///
/// `image`, if given, is the only pipeline output that reads the
/// convolution (an input gradient's ReLU mask and residual sum), of the
/// same images: the convolution is then computed per image in its loop
/// over images, so that it reads the image's result from cache (measured:
/// stored whole and read back, 4 MB each, the three input gradients'
/// outputs took 0.4-0.7 ms each).
void scheduleWinograd(RootFunc &root, int lanes, int registers,
                      const std::optional<Halide::Func> &image) {
  RootFunc::WinogradParts &p = root.winograd;
  Halide::Func &out = root.func;
  Var w = out.args()[0], h = out.args()[1], o = out.args()[2], n = out.args()[3];
  // A vector of tiles at a time, both columns of each (unrolled, so that
  // each is the sum of its own products; Halide interleaves the two
  // stores): one vector of outputs computed per vector stored, not both
  // columns' sums per lane and a select.
  const int tilesW = (p.outW + 1) / 2;
  const int tileVector = tilesW >= lanes ? lanes : widestFitting(tilesW, lanes / 2);
  Var hb("hb"), hi("hi"), hp("hp"), hr("hr"), wt("wt"), wc("wc");
  if (image)
    out.compute_at(*image, image->args().back());
  else
    out.compute_root().parallel(n);
  out.bound(w, 0, p.outW)
      .bound(h, 0, p.outH)
      .split(h, hb, hi, 2 * p.blockRows, TailStrategy::GuardWithIf)
      .split(hi, hp, hr, 2, TailStrategy::GuardWithIf)
      .split(w, wt, wc, 2, TailStrategy::GuardWithIf)
      .reorder(wc, wt, hr, hp, o, hb, n)
      .vectorize(wt, tileVector, TailStrategy::ShiftInwards)
      .unroll(wc)
      .unroll(hr);

  const int tileRows = registers >= 32 ? 4 : 2, tileChannels = 4;
  std::vector<Var> a = p.products.args(); // (tw, th, o, e, n)
  Var two("two"), twi("twi"), tho("tho"), thi("thi"), oo("oo"), oi("oi");
  p.products.compute_at(out, hb)
      .split(a[0], two, twi, tileVector, TailStrategy::ShiftInwards)
      .split(a[1], tho, thi, tileRows, TailStrategy::ShiftInwards)
      .split(a[2], oo, oi, tileChannels, TailStrategy::RoundUp)
      .reorder(twi, thi, oi, two, tho, oo, a[3], a[4])
      .vectorize(twi)
      .unroll(thi)
      .unroll(oi)
      .unroll(a[3]);
  std::vector<Var> acc = p.acc.args();
  p.acc.compute_at(p.products, two)
      .vectorize(acc[0])
      .unroll(acc[1])
      .unroll(acc[2]);
  p.acc.update()
      .reorder(acc[0], acc[1], acc[2], Halide::RVar(p.sum.x))
      .vectorize(acc[0])
      .unroll(acc[1])
      .unroll(acc[2]);

  scheduleTileTransform(p.input, p.products, a[3], a[4], tileVector);
  scheduleTileRows(p.inputRows, out, hb, tileVector);
  schedulePadded(p.padded, out, hb, tileVector);
}

/// The name of the loop over an output's row vectors, at which outputs of
/// one shape fuse.
constexpr const char *kFusedRowLoop = "vo";

/// An output's loop over its row vectors (`width` lanes; over its row's
/// elements if 0).
struct RowLoop {
  Var var;
  int width;
};

/// Outputs of one type computed in one loop nest, fused at `loop` (every
/// loop from the outermost down to it).
struct FusedOutputs {
  mlir::Type type;
  RowLoop loop;
  std::vector<Halide::Func> members;
  /// Whether `f` neither reads a member nor is read by one (fused stages
  /// must not depend on each other).
  bool independentOf(const Halide::Func &f) const {
    return llvm::none_of(members, [&](const Halide::Func &m) {
      return reads(f, m) || reads(m, f);
    });
  }
};

class HostScheduler final : public Scheduler {
public:
  explicit HostScheduler(const Halide::Target &target)
      : lanes(target.natural_vector_size(Halide::Float(32))),
        registers(target.has_feature(Halide::Target::AVX512) ? 32 : 16) {}
  const char *name() const override { return "host"; }
  void schedule(LoweredFunction &function) const override;

private:
  int lanes;     ///< float32 lanes of the target's vectors.
  int registers; ///< Vector registers: 32 with AVX-512, else 16 (x86).
};

void HostScheduler::schedule(LoweredFunction &function) const {
  // The vector for rows of `f`: where their width is known, the widest that
  // fits in a row, its last one shifted inwards to overlap the one before
  // (a 16-lane vector with a masked tail turns strided loads into
  // gathers: measured 10x slower on 14-wide pooled rows); else `lanes`
  // with a guarded tail.
  auto vectorFor = [&](const Halide::Func &f, int &width, TailStrategy &tail) {
    width = lanes;
    tail = TailStrategy::GuardWithIf;
    auto known = function.rowWidths.find(f.name());
    if (known == function.rowWidths.end())
      return;
    // Also for rows of a vector or more: a guarded tail of static length
    // is a predicated vector, which LLVM compiles as if no lane were NaN
    // (a NaN <= 1 came out true; HalideLowering.ComparisonsAndSelectAtNaN).
    width = known->second >= lanes ? lanes : widestFitting(known->second, lanes / 2);
    tail = TailStrategy::ShiftInwards;
  };
  // Schedules `f` at the root; for an elementwise output, returns the loop
  // that later outputs of its shape fuse with (see below).
  auto scheduleRoot = [&](Halide::Func f, bool reduces) -> std::optional<RowLoop> {
    f.compute_root();
    std::vector<Halide::Var> args = f.args();
    if (args.empty())
      return std::nullopt;
    int width;
    TailStrategy tail;
    vectorFor(f, width, tail);
    if (reduces && args.size() >= 2) {
      // A register tile: `width` contiguous outputs by 4 rows, so the
      // inlined reduction keeps 4 vector accumulators and reads each
      // operand vector once per 4 outputs; rows of tiles run in parallel.
      Halide::Var xo("xo"), yo("yo"), xi("xi"), yi("yi");
      if (width) {
        f.split(args[0], xo, xi, width, tail)
            .split(args[1], yo, yi, 4, TailStrategy::GuardWithIf)
            .reorder(xi, yi, xo, yo)
            .vectorize(xi)
            .unroll(yi);
      } else {
        f.split(args[1], yo, yi, 4, TailStrategy::GuardWithIf);
      }
      f.parallel(args.size() > 2 ? args.back() : yo);
      return std::nullopt;
    }
    if (reduces) {
      // A vector of sums (a bias gradient: each a sum over the batch and
      // the image) reads each sum's inputs with a stride; one sum per task
      // reads them in order.
      f.parallel(args[0]);
      return std::nullopt;
    }
    RowLoop loop{args[0], width};
    if (width) {
      Var vo(kFusedRowLoop), vi("vi");
      f.split(args[0], vo, vi, width, tail).vectorize(vi);
      loop.var = vo;
    }
    if (args.size() >= 2)
      f.parallel(args.back());
    return loop;
  };
  // Where the products and Winograd convolutions that one output of their
  // images alone reads are computed (Readers.h): found once, as each query
  // walks the pipeline's call graph; those outputs keep their own loop
  // nests (no compute_with).
  std::vector<std::optional<Halide::Func>> productImages;
  std::set<std::string> perImageOutputs;
  for (const Contraction &c : function.contractions) {
    productImages.push_back(soleImageReader(function, c));
    if (productImages.back())
      perImageOutputs.insert(productImages.back()->name());
  }
  for (size_t i = 0; i < function.contractions.size(); ++i)
    scheduleContraction(function.contractions[i], lanes, registers, productImages[i]);
  for (RootFunc &root : function.rootFuncs) {
    Halide::Func &f = root.func;
    switch (root.kind) {
    case RootFunc::Kind::Copy:
      if (root.planeWidth) {
        scheduleShiftedPlanes(root, lanes, imageOfReaders(function, root.func, productImages));
        break;
      }
      if (const Contraction *c = soleBatchedReader(function, f)) {
        // A weight gradient's padded input: copied a chunk of images at a
        // time, by the task that sums that chunk, which reads it from
        // cache (stored whole, 4 MB, it was written and read back).
        f.compute_at(c->result, c->batch.back());
        int width;
        TailStrategy tail;
        vectorFor(f, width, tail);
        if (width)
          f.vectorize(f.args()[0], width, tail);
        break;
      }
      [[fallthrough]];
    case RootFunc::Kind::Reduction:
      scheduleRoot(f, /*reduces=*/true);
      break;
    case RootFunc::Kind::LaneSum: {
      // Each sum's lanes one vector of accumulators. One long sum per task
      // (a bias gradient's); the short rows of a multi-dimensional one
      // (a softmax's) fused, eight per task.
      // (The lanes are computed at a plain loop variable: at a fused one,
      // Halide sizes their buffer at run time, a heap allocation per row.)
      std::vector<Var> args = f.args();
      f.compute_root();
      if (root.partial.has_update_definition()) {
        scheduleVectorSums(root);
        break;
      }
      if (args.size() == 1) {
        f.parallel(args[0]);
        root.partial.compute_at(f, args[0]).vectorize(root.partial.args()[0]);
        break;
      }
      Var task("task"), sum("sum");
      f.split(args[0], task, sum, 8, TailStrategy::GuardWithIf);
      for (size_t d = 1; d < args.size(); ++d) {
        Var fused(task.name() + "_" + args[d].name());
        f.fuse(task, args[d], fused);
        task = fused;
      }
      f.parallel(task);
      root.partial.compute_at(f, sum).vectorize(root.partial.args()[0]);
      break;
    }
    case RootFunc::Kind::Scatter: {
      // Vectors along the row; the positions in order within each vector
      // (their sums then add in PyTorch's order), columns in parallel.
      Halide::Var col = f.args()[0], co("co"), ci("ci");
      f.compute_root().vectorize(col, lanes, TailStrategy::GuardWithIf);
      for (int u = 0; u < f.num_update_definitions(); ++u)
        f.update(u)
            .split(col, co, ci, lanes, TailStrategy::GuardWithIf)
            .vectorize(ci)
            .parallel(co);
      break;
    }
    case RootFunc::Kind::Attention:
      scheduleAttention(root, lanes);
      break;
    case RootFunc::Kind::AttentionStats:
      scheduleAttentionStats(root, lanes);
      break;
    case RootFunc::Kind::Winograd:
      if (root.winograd.weightGradient())
        scheduleWinogradWeightGradient(root, lanes, registers);
      else {
        std::optional<Halide::Func> image = soleImageReader(function, root);
        if (image)
          perImageOutputs.insert(image->name());
        scheduleWinograd(root, lanes, registers, image);
      }
      break;
    case RootFunc::Kind::WindowArgmax: {
      // Pooled rows are short (14 and 7 after two 2x2 pools of 28): a
      // vector of 16 lanes with the row's tail masked makes every strided
      // load a gather; the widest vector that fits in a row, its last one
      // shifted inwards to overlap the one before, needs no mask.
      auto known = function.rowWidths.find(f.name());
      int width = known == function.rowWidths.end() ? 0 : widestFitting(known->second, 16);
      f.compute_root().parallel(f.args().back());
      if (width)
        f.vectorize(f.args()[0], width, TailStrategy::ShiftInwards);
      break;
    }
    }
  }
  // The outputs (products and Winograd convolutions that are outputs are
  // scheduled). Elementwise outputs of one type compute in one loop nest,
  // each vector of all of them in turn (Halide's compute_with), so that
  // the values they share are read once: a training BatchNorm's kernel
  // writes its result, the ReLU of it and the normalized input, three
  // passes over the 4 MB activation before, one now.
  std::vector<FusedOutputs> groups;
  for (size_t i = 0; i < function.funcs.size(); ++i) {
    Halide::Func &f = function.funcs[i];
    if (llvm::any_of(function.contractions,
                     [&](const Contraction &c) {
                       return c.isOutput && c.result.name() == f.name();
                     }) ||
        llvm::any_of(function.rootFuncs, [&](const RootFunc &r) {
          return r.kind == RootFunc::Kind::Winograd && r.winograd.isOutput &&
                 r.func.name() == f.name();
        }))
      continue;
    if (llvm::any_of(llvm::make_range(function.funcs.begin(), function.funcs.begin() + i),
                     [&](const Halide::Func &g) { return g.name() == f.name(); }))
      continue; // (A Tuple's Func, one per element: scheduled once.)
    std::optional<RowLoop> loop = scheduleRoot(f, /*reduces=*/false);
    // Activations only: rows of a tensor of rank 2 or more, one value each.
    if (!loop || f.dimensions() < 2 || f.outputs() != 1 || perImageOutputs.count(f.name()))
      continue;
    mlir::Type type = function.outputs[i].type;
    auto group = llvm::find_if(groups, [&](const FusedOutputs &g) {
      return g.type == type && g.loop.var.name() == loop->var.name() &&
             g.loop.width == loop->width && g.independentOf(f);
    });
    if (group == groups.end()) {
      groups.push_back({type, *loop, {f}});
      continue;
    }
    f.compute_with(group->members.back(), loop->var);
    group->members.push_back(f);
  }
}
} // namespace

std::unique_ptr<Scheduler> makeHostScheduler(const Halide::Target &target) {
  return std::make_unique<HostScheduler>(target);
}

} // namespace firn::codegen
