//===- LowerProducts.cpp - Matrix products and convolutions ---------------===//
//
// matmul, linear (on [N, in] and [N, *, in]) and its weight gradient, and
// conv2d with its two gradients, each defined as one canonical matrix
// product (Contraction, HalideLowering.h), so that one hand-written
// schedule per target serves them all: convolutions as implicit GEMMs
// (im2col is never materialized), convolutions and their input gradients
// as products over shifted views of the zero-padded source (split into
// phases when strided).
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"

namespace firn::codegen {

namespace {
/// A tensor's leading dimensions (all but its last) as positions: their
/// extents and how many there are (the rows of a Linear on [N, *, in]).
struct Positions {
  std::vector<Expr> extents;
  Expr count;
  explicit Positions(const HTensor &t)
      : extents(t.extents.begin(), t.extents.end() - 1), count(extents[0]) {
    for (size_t i = 1; i < extents.size(); ++i)
      count = count * extents[i];
  }
  /// t's element at flat position `p` and last coordinate `last`.
  Expr at(const HTensor &t, Expr p, Expr last) const {
    std::vector<Expr> index = unflatten(p, extents);
    index.push_back(last);
    return t.at(index);
  }
};

/// A convolution's kernel taps (c, kh, kw) flattened into one reduction
/// index k = (c * KH + kh) * KW + kw, and back.
struct ConvShape {
  int channels_, kh_, kw_;
  explicit ConvShape(const shape::Shape &weight)
      : channels_(static_cast<int>(weight[1])), kh_(static_cast<int>(weight[2])),
        kw_(static_cast<int>(weight[3])) {}
  /// The taps of `channels` channels (the weight's input channels by default).
  int taps(int64_t channels) const { return static_cast<int>(channels) * kh_ * kw_; }
  int taps() const { return taps(channels_); }
  Expr channel(Expr k) const { return k / (kh_ * kw_); }
  Expr kh(Expr k) const { return (k / kw_) % kh_; }
  Expr kw(Expr k) const { return k % kw_; }
  Expr flatTap(Expr c, Expr h, Expr w) const { return (c * kh_ + h) * kw_ + w; }
};
bool isUnit(ArrayRef<int64_t> values) {
  return llvm::all_of(values, [](int64_t v) { return v == 1; });
}
} // namespace

Func OpLowering::contraction(const ContractionSpec &spec) {
  std::string suffix = "_" + std::to_string(counter++);
  Contraction c;
  c.result = Func(spec.name + "_product" + suffix);
  c.acc = Func(spec.name + "_acc" + suffix);
  c.lhs = Func(spec.name + "_lhs" + suffix);
  c.rhs = Func(spec.name + "_rhs" + suffix);
  c.j = Var("j");
  c.i = Var("i");
  std::vector<Halide::Range> ranges;
  for (size_t d = 0; d < spec.depth.size(); ++d) {
    c.k.emplace_back("k" + std::to_string(d));
    ranges.emplace_back(0, spec.depth[d]);
  }
  for (size_t d = 0; d < spec.batch.size(); ++d)
    c.batch.emplace_back("b" + std::to_string(d));
  c.batchExtents = spec.batch;
  c.r = RDom(ranges, spec.name + "_k" + suffix);
  c.rows = spec.rows;
  c.columns = spec.columns;
  c.lhsDirect = spec.lhsStored && !spec.lhsTransposed;
  c.rhsDirect = spec.rhsDirect;
  c.lhsBatched = spec.lhsBatched;
  c.rhsRun = spec.rhsRun;
  c.batchIsImages = spec.batchIsImages;
  // The schedule computes whole row tiles, so rows past the end exist in
  // the (padded) result; they read the last row, clamped, and no consumer
  // reads them. The reduction coordinates are clamped as well so a tiled
  // copy of the operand may overrun safely.
  Expr row = Halide::clamp(c.i, 0, spec.rows - 1);
  Indices ks, bs(c.batch.begin(), c.batch.end());
  for (size_t d = 0; d < c.k.size(); ++d)
    ks.push_back(Halide::clamp(c.k[d], 0, spec.depth[d] - 1));
  // Unless it says otherwise, the left operand is the same for every batch
  // index (a convolution's weight): it takes no batch coordinate, so it is
  // packed once.
  std::vector<Var> lhsArgs = c.k, rhsArgs = {c.j}, accArgs = {c.j, c.i};
  lhsArgs.push_back(c.i);
  rhsArgs.insert(rhsArgs.end(), c.k.begin(), c.k.end());
  for (const Var &b : c.batch) {
    if (spec.lhsBatched)
      lhsArgs.push_back(b);
    rhsArgs.push_back(b);
    accArgs.push_back(b);
  }
  if (spec.lhsTransposed) {
    // dyᵀ·x: row i of the left operand is a column of the stored tensor.
    // It is copied once into row tiles, tiles(ii, k, io, b...) = row
    // io*8 + ii at k: for each k the 8 values a register tile broadcasts
    // are adjacent, and the copy moves runs of 8 contiguous floats (no
    // transposition; a batched pᵀ·dy of attention's backward copied its
    // rows with a gather per vector before, two thirds of that kernel).
    Var ii("ii"), io("io");
    c.lhsTiles = Func(spec.name + "_lhs_tiles" + suffix);
    std::vector<Var> tileArgs = {ii};
    tileArgs.insert(tileArgs.end(), c.k.begin(), c.k.end());
    tileArgs.push_back(io);
    if (spec.lhsBatched)
      tileArgs.insert(tileArgs.end(), c.batch.begin(), c.batch.end());
    Expr tileRow = Halide::clamp(io * kContractionTileRows + ii, 0, spec.rows - 1);
    c.lhsTiles(tileArgs) = spec.lhs(tileRow, ks, bs);
    std::vector<Expr> at = {c.i % kContractionTileRows};
    at.insert(at.end(), c.k.begin(), c.k.end());
    at.push_back(c.i / kContractionTileRows);
    if (spec.lhsBatched)
      at.insert(at.end(), c.batch.begin(), c.batch.end());
    c.lhs(lhsArgs) = c.lhsTiles(at);
  } else {
    c.lhs(lhsArgs) = spec.lhs(row, ks, bs);
  }
  c.rhs(rhsArgs) = spec.rhs(Indices(c.k.begin(), c.k.end()), c.j, bs);
  Indices lhsAt, rhsAt = {c.j};
  for (int d = 0; d < c.r.dimensions(); ++d) {
    lhsAt.push_back(c.r[d]);
    rhsAt.push_back(c.r[d]);
  }
  lhsAt.push_back(c.i);
  for (const Var &b : c.batch) {
    if (spec.lhsBatched)
      lhsAt.push_back(b);
    rhsAt.push_back(b);
  }
  c.acc(accArgs) = 0.0f;
  c.acc(accArgs) += c.lhs(lhsAt) * c.rhs(rhsAt);
  c.result(accArgs) = c.acc(accArgs);
  contractions.push_back(c);
  return c.result;
}

Func OpLowering::matrixProduct(const std::string &name, Expr rows, Expr depth,
                               int columns, Element lhs, Element rhs,
                               bool lhsTransposed, bool lhsStored) {
  ContractionSpec spec;
  spec.name = name;
  spec.rows = rows;
  spec.columns = columns;
  spec.depth = {depth};
  spec.lhs = [lhs](Expr row, const Indices &k, const Indices &) {
    return lhs(row, k[0]);
  };
  spec.rhs = [rhs](const Indices &k, Expr column, const Indices &) {
    return rhs(k[0], column);
  };
  spec.lhsTransposed = lhsTransposed;
  spec.lhsStored = lhsStored;
  return contraction(spec);
}

namespace {
int floorDiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
} // namespace

int OpLowering::WindowAxis::shift(int k) const {
  return floorDiv(dilation * k - padding, stride);
}
Expr OpLowering::WindowAxis::phase(Expr k) const {
  // A constant where every tap reads one phase (a 1x1 convolution's), so
  // that only that phase's planes are copied. (Halide's division and
  // modulo round down, as floorDiv.)
  auto phaseOf = [&](int tap) { return dilation * tap - padding - stride * shift(tap); };
  bool one = true;
  for (int tap = 1; tap < taps; ++tap)
    one = one && phaseOf(tap) == phaseOf(0);
  return one ? Expr(phaseOf(0)) : (k * dilation - padding) % stride;
}
Expr OpLowering::WindowAxis::offset(Expr k) const { return k * dilation - padding; }
Expr OpLowering::WindowAxis::shift(Expr k) const {
  return stride == 1 ? k * dilation - padding : (k * dilation - padding) / stride;
}

/// The planes of the source, zero-padded, each (plane, row phase,
/// channel, image) flat and `width` columns wide, at row r the source row
/// s*(r + firstH) + phase. The window of output (oh, ow) at tap (kh, kw)
/// then starts at flat index (oh + tH - firstH) * width + ow (tH the tap's
/// row shift) plus the tap's column shift, so the columns of one output
/// row, and of consecutive rows, are consecutive in memory for every tap:
/// the product reads its right operand in place, no im2col and no
/// packing. A strided convolution's rows are split by the parity of the
/// position (for stride 2), so it is the same loop. Two layouts:
///  - dense: as wide as the output, a plane u per column offset of the
///    taps (dilation*kw - padding), holding at column ow the source column
///    s*ow + u + first; the taps' column shift is 0. No column past the
///    output's width is computed (a quarter of an 8 x 8 convolution's
///    multiply-adds), but the planes are copied once per offset;
///  - padded: a plane u per column phase, `width` = the output's width
///    plus the taps' span, holding at column x the source column
///    s*(x + first) + u; a tap reads at its column shift, and the columns
///    past the output's width are computed and dropped.
OpLowering::ShiftedSource OpLowering::shiftedSource(const std::string &name,
                                                    const HTensor &src, int strideH,
                                                    int strideW, int firstH, int first,
                                                    int width, int rows, bool dense) {
  Var q("q"), c("c"), u("u"), ph("ph"), n("n");
  ShiftedSource source{Func(name + "_shifted_" + std::to_string(counter++)),
                       width,
                       firstH,
                       first,
                       dense,
                       src.extents[1],
                       src.extents[0]};
  Expr a = (q / width + firstH) * strideH + ph;
  Expr b = dense ? (q % width) * strideW + u + first : (q % width + first) * strideW + u;
  Expr inside = a >= 0 && a < src.extents[2] && b >= 0 && b < src.extents[3];
  source.flat(q, c, u, ph, n) = Halide::select(
      inside,
      src.at({n, c, Halide::clamp(a, 0, src.extents[2] - 1),
              Halide::clamp(b, 0, src.extents[3] - 1)}),
      0.0f);
  root(source.flat, RootFunc::Kind::Copy);
  rootFuncs.back().planeWidth = width;
  rootFuncs.back().planeRows = rows;
  return source;
}

bool OpLowering::denseFewerTiles(llvm::ArrayRef<int> productRows, int width,
                                 int paddedWidth) {
  // Column tiles of 32: the host's register tiles are 2 AVX-512 vectors
  // wide (or more, where the width allows). Where the padded rows need no
  // more tiles (a 14 x 14 image: 196 or 224 columns, 7 tiles either way),
  // they are kept: a single plane to copy, rows that start aligned.
  constexpr int kTile = 32;
  int dense = 0, padded = 0;
  for (int rows : productRows) {
    dense += (rows * width + kTile - 1) / kTile;
    padded += (rows * paddedWidth + kTile - 1) / kTile;
  }
  return dense < padded;
}

Expr OpLowering::shiftedConvolution(const std::string &name, const ShiftedSource &source,
                                    Expr outChannels, int outH, const WindowAxis &h,
                                    const WindowAxis &w, KernelElement kernel,
                                    const std::vector<Expr> &idx) {
  ContractionSpec spec;
  spec.name = name;
  spec.rows = outChannels;
  spec.columns = outH * source.width;
  spec.depth = {Expr(w.taps), Expr(h.taps), source.channels};
  spec.batch = {source.images};
  spec.batchIsImages = true;
  spec.lhs = [&](Expr o, const Indices &k, const Indices &) {
    return kernel(o, k[2], k[1], k[0]);
  };
  spec.rhs = [&](const Indices &k, Expr j, const Indices &batch) {
    Expr at = j + (h.shift(k[1]) - source.firstH) * source.width;
    if (source.dense)
      return source.flat(at, k[2], w.offset(k[0]) - source.first, h.phase(k[1]), batch[0]);
    return source.flat(at + w.shift(k[0]) - source.first, k[2], w.phase(k[0]),
                       h.phase(k[1]), batch[0]);
  };
  spec.rhsDirect = true;
  Func product = contraction(spec);
  return product(idx[2] * source.width + idx[3], idx[1], idx[0]);
}

Expr OpLowering::shiftedConvolution(const std::string &name, const HTensor &src,
                                    Expr outChannels, int outH, int outW,
                                    const WindowAxis &h, const WindowAxis &w,
                                    KernelElement kernel, const std::vector<Expr> &idx) {
  const int span = w.last() - w.first(), rows = outH + h.last() - h.first();
  // (In padded rows, the last row's windows run into the row past the
  // plane's last when the taps span columns.)
  ShiftedSource source =
      denseFewerTiles({outH}, outW, outW + span)
          ? shiftedSource(name, src, h.stride, w.stride, h.first(), -w.padding, outW, rows,
                          /*dense=*/true)
          : shiftedSource(name, src, h.stride, w.stride, h.first(), w.first(), outW + span,
                          rows + (span > 0 ? 1 : 0), /*dense=*/false);
  return shiftedConvolution(name, source, outChannels, outH, h, w, kernel, idx);
}

Expr OpLowering::stridedGradInput(const HTensor &dy, const HTensor &w, const HTensor &dx,
                                  ArrayRef<int64_t> stride, ArrayRef<int64_t> padding,
                                  const std::vector<Expr> &idx) {
  // By phases: the input positions h = s*hh + ph of one phase (ph, pw) are
  // reached only by the taps kh = kh0 + s*t with kh0 = (ph + p) mod s, from
  // the output rows oh = hh + q0 - t, q0 = (ph + p - kh0) / s; so each phase
  // is a stride-1 correlation of dy with that sub-kernel, flipped. One
  // product over every tap (the im2col of dy, mostly zeros, packed with a
  // division per element) did s^2 times the work. The phases read one
  // padded copy of dy (a copy each cost as much as their products).
  const int sH = static_cast<int>(stride[0]), sW = static_cast<int>(stride[1]);
  const int kH = static_cast<int>(w.shape[2]), kW = static_cast<int>(w.shape[3]);
  const int pH = static_cast<int>(padding[0]), pW = static_cast<int>(padding[1]);
  const int inH = static_cast<int>(dx.shape[2]), inW = static_cast<int>(dx.shape[3]);
  struct Phase {
    int ph, pw, kh0, kw0, rows, columns;
    WindowAxis h, w;
  };
  std::vector<Phase> phases;
  for (int ph = 0; ph < sH; ++ph)
    for (int pw = 0; pw < sW; ++pw) {
      const int kh0 = (ph + pH) % sH, kw0 = (pw + pW) % sW;
      const int tapsH = kh0 < kH ? (kH - kh0 + sH - 1) / sH : 0;
      const int tapsW = kw0 < kW ? (kW - kw0 + sW - 1) / sW : 0;
      const int rows = (inH - ph + sH - 1) / sH, columns = (inW - pw + sW - 1) / sW;
      if (tapsH == 0 || tapsW == 0 || rows <= 0 || columns <= 0)
        continue; // No tap reaches this phase: its gradient is 0.
      // dy row hh + fh - offH for sub-kernel tap fh (flipped).
      const int offH = tapsH - 1 - (ph + pH - kh0) / sH;
      const int offW = tapsW - 1 - (pw + pW - kw0) / sW;
      phases.push_back({ph, pw, kh0, kw0, rows, columns, WindowAxis{1, 1, offH, tapsH},
                        WindowAxis{1, 1, offW, tapsW}});
    }
  Expr value = 0.0f;
  if (phases.empty())
    return value;
  int firstH = phases[0].h.first(), firstW = phases[0].w.first(), width = 0, planeRows = 0;
  for (const Phase &p : phases) {
    firstH = std::min(firstH, p.h.first());
    firstW = std::min(firstW, p.w.first());
  }
  int paddedWidth = 0, lastW = firstW;
  std::vector<int> sizes;
  for (const Phase &p : phases) {
    width = std::max(width, p.columns);
    paddedWidth = std::max(paddedWidth, p.columns + p.w.last() - firstW);
    lastW = std::max(lastW, p.w.last());
    planeRows = std::max(planeRows, p.rows + p.h.last() - firstH);
    sizes.push_back(p.rows);
  }
  const bool dense = denseFewerTiles(sizes, width, paddedWidth);
  ShiftedSource source = shiftedSource(
      "conv2d_grad_input", dy, 1, 1, firstH, firstW, dense ? width : paddedWidth,
      planeRows + (!dense && lastW > firstW ? 1 : 0), dense);
  for (const Phase &p : phases) {
    const int kh0 = p.kh0, kw0 = p.kw0, tapsH = p.h.taps, tapsW = p.w.taps;
    // (Clamped: the other phases' positions read this phase's last row.)
    Expr phase = shiftedConvolution(
        "conv2d_grad_input", source, w.extents[1], p.rows, p.h, p.w,
        [&](Expr c, Expr o, Expr fh, Expr fw) {
          return w.at({o, c, kh0 + sH * (tapsH - 1 - fh), kw0 + sW * (tapsW - 1 - fw)});
        },
        {idx[0], idx[1], Halide::min(idx[2] / sH, p.rows - 1),
         Halide::min(idx[3] / sW, p.columns - 1)});
    value = Halide::select(idx[2] % sH == p.ph && idx[3] % sW == p.pw, phase, value);
  }
  return value;
}

std::optional<LogicalResult>
OpLowering::lowerProducts(Operation *op, ArrayRef<HTensor> in,
                          std::vector<HTensor> &results) {
  std::string name = op->getName().stripDialect().str();
  HTensor &out = results[0];
  std::vector<Var> v = makeVars(out.rank());
  std::vector<Expr> idx = asExprs(v);
  if (auto matmul = dyn_cast<MatmulOp>(op); matmul && out.rank() > 2) {
    // [B..., M, K] x [B..., K, N]: one product per index of the flattened
    // leading dimensions (a batch of the contraction; attention's heads).
    const HTensor &a = in[0], &b = in[1];
    bool tl = matmul.getTransposeLhs(), tr = matmul.getTransposeRhs();
    const int r = out.rank();
    std::vector<Expr> lead(out.extents.begin(), out.extents.end() - 2);
    Expr count = product(lead, {});
    auto element = [&](const HTensor &t, Expr flatBatch, Expr row, Expr col) {
      std::vector<Expr> index = unflatten(flatBatch, lead);
      index.push_back(row);
      index.push_back(col);
      return t.at(index);
    };
    ContractionSpec spec;
    spec.name = name;
    spec.rows = out.extents[r - 2];
    spec.columns = static_cast<int>(out.shape[r - 1]);
    spec.depth = {tl ? a.extents[r - 2] : a.extents[r - 1]};
    spec.batch = {count};
    spec.lhsBatched = true;
    spec.lhsTransposed = tl;
    spec.lhsStored = a.stored;
    spec.lhs = [&](Expr row, const Indices &k, const Indices &batch) {
      return tl ? element(a, batch[0], k[0], row) : element(a, batch[0], row, k[0]);
    };
    spec.rhs = [&](const Indices &k, Expr col, const Indices &batch) {
      return tr ? element(b, batch[0], col, k[0]) : element(b, batch[0], k[0], col);
    };
    Func result = contraction(spec);
    std::vector<Expr> leadIdx(idx.begin(), idx.end() - 2);
    define(out.func, v, result(idx[r - 1], idx[r - 2], flatIndex(leadIdx, lead)));
    return success();
  }
  if (auto matmul = dyn_cast<MatmulOp>(op)) {
    const HTensor &a = in[0], &b = in[1];
    bool tl = matmul.getTransposeLhs(), tr = matmul.getTransposeRhs();
    Expr k = tl ? a.extents[0] : a.extents[1];
    if (out.shape[1] != shape::kBatch) {
      Func product = matrixProduct(
          name, out.extents[0], k, static_cast<int>(out.shape[1]),
          [&](Expr row, Expr kk) { return tl ? a.at({kk, row}) : a.at({row, kk}); },
          [&](Expr kk, Expr col) { return tr ? b.at({col, kk}) : b.at({kk, col}); },
          /*lhsTransposed=*/tl, /*lhsStored=*/a.stored);
      out.func = product; // The product itself: what its consumers read.
      out.stored = true;
      return success();
    }
    RDom r(0, k);
    Expr av = tl ? a.at({r, idx[0]}) : a.at({idx[0], r});
    Expr bv = tr ? b.at({idx[1], r}) : b.at({r, idx[1]});
    define(out.func, v, Halide::sum(av * bv));
    root(out.func, RootFunc::Kind::Reduction);
    return success();
  }
  if (isa<LinearWeightGradOp>(op)) {
    // dW[o, i] = sum over the leading positions p of dy[p, o] x[p, i]: a
    // product with the positions (flattened) as its depth.
    const HTensor &dy = in[0], &x = in[1];
    Positions positions(x);
    Func product = matrixProduct(
        name, out.extents[0], positions.count, static_cast<int>(out.shape[1]),
        [&](Expr row, Expr kk) { return positions.at(dy, kk, row); },
        [&](Expr kk, Expr col) { return positions.at(x, kk, col); },
        /*lhsTransposed=*/true, /*lhsStored=*/false);
    out.func = product;
    out.stored = true;
    return success();
  }
  if (auto linear = dyn_cast<LinearOp>(op)) {
    const HTensor &x = in[0], &w = in[1];
    Expr e;
    if (x.rank() == 2) {
      // y = x·Wᵀ: row n of x times row o of W.
      Func product = matrixProduct(
          "linear", x.extents[0], w.extents[1], static_cast<int>(w.shape[0]),
          [&](Expr row, Expr kk) { return x.at({row, kk}); },
          [&](Expr kk, Expr col) { return w.at({col, kk}); },
          /*lhsTransposed=*/false, /*lhsStored=*/x.stored);
      if (!linear.getBias()) {
        out.func = product;
        out.stored = true;
        return success();
      }
      e = call(product, idx);
    } else {
      // [N, *, in]: the leading dimensions as the product's rows (row r is
      // x's element unflatten(r) of them).
      Positions positions(x);
      Func product = matrixProduct(
          "linear", positions.count, w.extents[1], static_cast<int>(w.shape[0]),
          [&](Expr row, Expr kk) { return positions.at(x, row, kk); },
          [&](Expr kk, Expr col) { return w.at({col, kk}); },
          /*lhsTransposed=*/false, /*lhsStored=*/false);
      std::vector<Expr> leadIdx(idx.begin(), idx.end() - 1);
      e = product(idx.back(), flatIndex(leadIdx, positions.extents));
    }
    if (linear.getBias())
      e = e + in[2].at(broadcastIndex(in[2], {idx.back()}));
    define(out.func, v, e);
    return success();
  }
  // Convolutions are implicit GEMMs (see Contraction): im2col is never
  // materialized, at most the column panel a tile reads.
  if (auto conv = dyn_cast<Conv2dOp>(op)) {
    const HTensor &w = in[1];
    const int outH = static_cast<int>(out.shape[2]), outW = static_cast<int>(out.shape[3]);
    auto stride = conv.getStride(), padding = conv.getPadding();
    const bool unitStride = stride[0] == 1 && stride[1] == 1;
    if (unitStride && isUnit(conv.getDilation()) &&
        winogradApplies(in[0], static_cast<int>(w.shape[0]), outH, outW,
                        static_cast<int>(w.shape[2]), static_cast<int>(w.shape[3]))) {
      // (The source is read once per block, so an inlined producer, a
      // BatchNorm and ReLU, is computed there and never stored.)
      std::function<Expr(Expr)> bias;
      if (conv.getBias())
        bias = [&](Expr o) { return in[2].at({o}); };
      out.func = winogradConvolution(
          "conv2d", in[0], static_cast<int>(w.shape[0]), outH, outW,
          static_cast<int>(padding[0]), static_cast<int>(padding[1]),
          [&](Expr o, Expr c, Expr kh, Expr kw) { return w.at({o, c, kh, kw}); }, bias);
      out.stored = true;
      return success();
    }
    // Strided or not, a product over shifted views of the source's phase
    // planes (measured: the im2col panels of a strided convolution, packed
    // per tile, took as long as its product).
    const HTensor x = materialize(in[0]);
    auto dilation = conv.getDilation();
    WindowAxis h{static_cast<int>(stride[0]), static_cast<int>(dilation[0]),
                 static_cast<int>(padding[0]), static_cast<int>(w.shape[2])};
    WindowAxis wa{static_cast<int>(stride[1]), static_cast<int>(dilation[1]),
                  static_cast<int>(padding[1]), static_cast<int>(w.shape[3])};
    Expr e = shiftedConvolution(
        "conv2d", x, w.extents[0], outH, outW, h, wa,
        [&](Expr o, Expr c, Expr kh, Expr kw) { return w.at({o, c, kh, kw}); }, idx);
    if (conv.getBias())
      e = e + in[2].at({idx[1]});
    define(out.func, v, e);
    return success();
  }
  if (auto grad = dyn_cast<Conv2dGradInputOp>(op)) {
    const HTensor &w = in[1];
    auto stride = grad.getStride(), padding = grad.getPadding(),
         dilation = grad.getDilation();
    ConvShape cs(w.shape);
    const int inW = static_cast<int>(out.shape[3]);
    const bool unitStride = stride[0] == 1 && stride[1] == 1;
    if (unitStride && isUnit(dilation) &&
        winogradApplies(in[0], static_cast<int>(w.shape[1]),
                        static_cast<int>(out.shape[2]), inW,
                        static_cast<int>(w.shape[2]), static_cast<int>(w.shape[3]))) {
      // The correlation of dy with the flipped kernel, as below.
      out.func = winogradConvolution(
          "conv2d_grad_input", in[0], static_cast<int>(w.shape[1]),
          static_cast<int>(out.shape[2]), inW, 2 - static_cast<int>(padding[0]),
          2 - static_cast<int>(padding[1]),
          [&](Expr c, Expr o, Expr fh, Expr fw) { return w.at({o, c, 2 - fh, 2 - fw}); },
          nullptr);
      out.stored = true;
      return success();
    }
    const HTensor dy = materialize(in[0]);
    if (unitStride) {
      // The correlation of dy, padded by (K-1)*d - padding, with the
      // flipped kernel: dx(h) = sum over kh of dy(h + padding - kh*d) W(kh).
      const int kh = static_cast<int>(w.shape[2]), kw = static_cast<int>(w.shape[3]);
      const int d0 = static_cast<int>(dilation[0]), d1 = static_cast<int>(dilation[1]);
      Expr e = shiftedConvolution(
          "conv2d_grad_input", dy, w.extents[1], static_cast<int>(out.shape[2]), inW,
          WindowAxis{1, d0, (kh - 1) * d0 - static_cast<int>(padding[0]), kh},
          WindowAxis{1, d1, (kw - 1) * d1 - static_cast<int>(padding[1]), kw},
          [&](Expr c, Expr o, Expr fh, Expr fw) {
            return w.at({o, c, kh - 1 - fh, kw - 1 - fw});
          },
          idx);
      define(out.func, v, e);
      return success();
    }
    if (dilation[0] == 1 && dilation[1] == 1) {
      define(out.func, v, stridedGradInput(dy, w, out, stride, padding, idx));
      return success();
    }
    // dx[n] = Wᵀ[c, (o, kh, kw)] · cols(dy[n])[(o, kh, kw), (h, w)], where
    // cols holds dy at the output position whose tap (kh, kw) reads (h, w).
    ContractionSpec spec;
    spec.name = "conv2d_grad_input";
    spec.rows = w.extents[1];
    spec.columns = static_cast<int>(out.shape[2]) * inW;
    spec.depth = {Expr(cs.taps(w.shape[0]))};
    spec.batch = {dy.extents[0]};
    spec.batchIsImages = true;
    spec.lhs = [&](Expr c, const Indices &k, const Indices &) {
      return w.at({cs.channel(k[0]), c, cs.kh(k[0]), cs.kw(k[0])});
    };
    spec.rhs = [&](const Indices &k, Expr p, const Indices &b) {
      // Output row oh reads input row oh*s + kh*d - p: invert that.
      Expr th = p / inW + static_cast<int>(padding[0]) -
                cs.kh(k[0]) * static_cast<int>(dilation[0]);
      Expr tw = p % inW + static_cast<int>(padding[1]) -
                cs.kw(k[0]) * static_cast<int>(dilation[1]);
      Expr oh = th / static_cast<int>(stride[0]);
      Expr ow = tw / static_cast<int>(stride[1]);
      Expr valid = th >= 0 && tw >= 0 && th % static_cast<int>(stride[0]) == 0 &&
                   tw % static_cast<int>(stride[1]) == 0 && oh < dy.extents[2] &&
                   ow < dy.extents[3];
      return Halide::select(
          valid,
          dy.at({b[0], cs.channel(k[0]), Halide::clamp(oh, 0, dy.extents[2] - 1),
                 Halide::clamp(ow, 0, dy.extents[3] - 1)}),
          0.0f);
    };
    Func product = contraction(spec);
    define(out.func, v, product(idx[2] * inW + idx[3], idx[1], idx[0]));
    return success();
  }
  if (auto grad = dyn_cast<Conv2dGradWeightOp>(op)) {
    const HTensor &x = in[0], dy = materialize(in[1]);
    auto stride = grad.getStride(), padding = grad.getPadding(),
         dilation = grad.getDilation();
    ConvShape cs(out.shape);
    if (isUnit(stride) && isUnit(dilation) &&
        winogradWeightGradientApplies(x, dy, static_cast<int>(out.shape[2]),
                                      static_cast<int>(out.shape[3]))) {
      define(out.func, v, winogradWeightGradient(x, dy, padding, idx));
      return success();
    }
    // The input with its zero padding, stored once, so the product reads
    // it in place without testing bounds; without padding, the input itself
    // (a copy of the whole input cost as much as the product of a 1x1
    // convolution with stride 2, which reads a quarter of it).
    const bool unpadded = llvm::all_of(padding, [](int64_t p) { return p == 0; });
    Func padded =
        unpadded ? materialize(x).func : Func("conv2d_padded_" + std::to_string(counter++));
    if (!unpadded) {
      std::vector<Var> pv = makeVars(4);
      Expr h = pv[2] - static_cast<int>(padding[0]),
           wc = pv[3] - static_cast<int>(padding[1]);
      Expr inside = h >= 0 && h < x.extents[2] && wc >= 0 && wc < x.extents[3];
      // (The images past the end, which the last chunk reads, read the
      // last: their dy is zero.)
      define(padded, pv,
             Halide::select(inside,
                            x.at({Halide::min(pv[0], x.extents[0] - 1), pv[1],
                                  Halide::clamp(h, 0, x.extents[2] - 1),
                                  Halide::clamp(wc, 0, x.extents[3] - 1)}),
                            0.0f));
      root(padded, RootFunc::Kind::Copy);
    }
    // dWᵀ[(c, kh, kw), o] = sum over (n, oh, ow) of x(n, c, oh*s + kh*d,
    // ow*s + kw*d) (padded) times dy(n, o, oh, ow): the weight gradient
    // transposed, so that the right-hand panel is dy's contiguous rows.
    // (Measured: with dy as the left operand instead, packing im2col panels
    // costs more than the simpler inner loop saves.) The images are summed
    // in chunks, one product per chunk (a batch index), so that a chunk's
    // panel of dy (about 128 KB) stays in cache while every row tile reads
    // it, and the chunks run in parallel; their products are added at the
    // end.
    const int outH = static_cast<int>(dy.shape[2]), outW = static_cast<int>(dy.shape[3]);
    const int chunk = std::max(1, 1024 / (outH * outW));
    Expr images = dy.extents[0];
    Expr chunks = (images + chunk - 1) / chunk;
    ContractionSpec spec;
    spec.name = "conv2d_grad_weight";
    spec.rows = Expr(cs.taps(out.shape[1]));
    spec.columns = static_cast<int>(out.shape[0]);
    spec.depth = {dy.extents[3], dy.extents[2], Expr(chunk)};
    spec.batch = {chunks};
    spec.lhsBatched = true;
    spec.lhsStored = true;
    spec.lhs = [&](Expr row, const Indices &k, const Indices &b) {
      // (Unclamped into the padded copy, so that a chunk's copy holds its
      // images alone.)
      Expr n = b[0] * chunk + k[2];
      if (unpadded)
        n = Halide::min(n, images - 1);
      return call(padded,
                  {n, cs.channel(row),
                   k[1] * static_cast<int>(stride[0]) +
                       cs.kh(row) * static_cast<int>(dilation[0]),
                   k[0] * static_cast<int>(stride[1]) +
                       cs.kw(row) * static_cast<int>(dilation[1])});
    };
    spec.rhsRun = outW;
    spec.rhs = [&](const Indices &k, Expr o, const Indices &b) {
      // The last chunk's images past the end contribute zeros.
      Expr n = b[0] * chunk + k[2];
      return Halide::select(n < images,
                            dy.at({Halide::min(n, images - 1), o, k[1], k[0]}), 0.0f);
    };
    Func product = contraction(spec);
    RDom rc(0, chunks);
    Func total("conv2d_grad_weight_sum_" + std::to_string(counter++));
    Var o("o"), t("t");
    total(o, t) = Halide::sum(product(o, t, rc));
    root(total, RootFunc::Kind::Reduction);
    define(out.func, v, total(idx[0], cs.flatTap(idx[1], idx[2], idx[3])));
    return success();
  }
  return std::nullopt;
}

} // namespace firn::codegen
