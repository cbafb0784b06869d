//===- LowerOps.cpp - One Halide Func per firn op -------------------------===//
//
// Each op's definition in Halide's algorithm language, following the same
// semantics as the reference evaluator's kernels (compiler/lib/Reference),
// which the tests compare it with. Reductions use RDoms; padding and
// gathers clamp their coordinates and select, so no Func reads outside its
// producer's bounds.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"
#include "MathHalide.h"

#include "firn/Runtime/Random.h"

#include <limits>

using namespace mlir;
using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Var;

namespace firn::codegen {

std::vector<Var> makeVars(int rank) {
  std::vector<Var> vars;
  for (int i = 0; i < rank; ++i)
    vars.emplace_back("d" + std::to_string(i));
  return vars;
}

std::vector<Expr> asExprs(const std::vector<Var> &vars) {
  return std::vector<Expr>(vars.begin(), vars.end());
}

/// max(a, b) as torch.maximum computes it: NaN if either is NaN. Halide's
/// max, its simplifier and LLVM's fast-math flags (which Halide sets) all
/// assume no NaNs (max(NaN, 0) is 0, and an is_nan test can fold to false):
/// an is_nan test under strict_float survives them.
Expr nanMax(Expr a, Expr b) {
  return Halide::strict_float(Halide::select(a > b || Halide::is_nan(a), a, b));
}

using math::isNaN;

/// A float32 NaN.
Expr quietNaN() { return Expr(std::numeric_limits<float>::quiet_NaN()); }

namespace {
/// Whether `v` is known at compile time: Halide folds arithmetic on such a
/// value (0 * x to 0) as if x could not be NaN or infinite. Looks `depth`
/// ops deep (constants shared by a chain of ops would otherwise make the
/// walk exponential); deeper, `v` counts as unknown.
bool isCompileTimeConstant(Value v, int depth = 8) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return false;
  if (isa<ConstantOp>(def))
    return true;
  return depth > 0 && def->getNumOperands() > 0 && def->getNumResults() == 1 &&
         def->getName().getDialectNamespace() ==
             FirnDialect::getDialectNamespace() &&
         llvm::all_of(def->getOperands(), [&](Value operand) {
           return isCompileTimeConstant(operand, depth - 1);
         });
}
} // namespace

Expr call(const Func &f, std::vector<Expr> index) {
  std::reverse(index.begin(), index.end());
  return f(index);
}

void define(Func &f, const std::vector<Var> &vars, const Expr &value) {
  f(std::vector<Var>(vars.rbegin(), vars.rend())) = value;
}

std::vector<Expr> OpLowering::extentsOf(RankedTensorType type) const {
  std::vector<Expr> extents;
  for (int64_t d : type.getShape())
    extents.push_back(ShapedType::isDynamic(d) ? batch
                                               : Expr(static_cast<int>(d)));
  return extents;
}

HTensor OpLowering::make(Value result, const std::string &name) {
  auto type = cast<RankedTensorType>(result.getType());
  HTensor t;
  t.func = Func(name + "_" + std::to_string(counter++));
  t.extents = extentsOf(type);
  t.shape = shapeOf(type);
  t.type = type.getElementType().isF32() ? Halide::Float(32) : Halide::Int(64);
  return t;
}

namespace {
/// The operand's index for a result coordinate under NumPy broadcasting:
/// size-1 dimensions read element 0, missing leading ones are dropped.
std::vector<Expr> broadcastIndex(const HTensor &operand,
                                 const std::vector<Expr> &index) {
  std::vector<Expr> out;
  int lead = static_cast<int>(index.size()) - operand.rank();
  for (int i = 0; i < operand.rank(); ++i)
    out.push_back(operand.shape[i] == 1 ? Expr(0) : index[lead + i]);
  return out;
}

Expr flatIndex(const std::vector<Expr> &index,
               const std::vector<Expr> &extents) {
  Expr flat = 0;
  for (size_t i = 0; i < index.size(); ++i)
    flat = flat * extents[i] + index[i];
  return flat;
}

std::vector<Expr> unflatten(Expr flat, const std::vector<Expr> &extents) {
  std::vector<Expr> index(extents.size());
  for (int i = static_cast<int>(extents.size()) - 1; i >= 0; --i) {
    index[i] = flat % extents[i];
    flat = flat / extents[i];
  }
  return index;
}

Expr product(const std::vector<Expr> &extents, ArrayRef<int64_t> axes) {
  Expr n = 1;
  if (axes.empty())
    for (const Expr &e : extents)
      n = n * e;
  for (int64_t a : axes)
    n = n * extents[a];
  return n;
}

Expr u32(uint32_t value) {
  return Halide::Internal::UIntImm::make(Halide::UInt(32), value);
}

/// firn::random::hash32, on uint32 Exprs.
Expr hash32(Expr x) {
  x = x ^ (x >> 16);
  x = x * u32(0x7feb352dU);
  x = x ^ (x >> 15);
  x = x * u32(0x846ca68bU);
  x = x ^ (x >> 16);
  return x;
}

/// Coordinates of a padded, strided, dilated window, and whether they are
/// inside the input (outside reads as zero).
struct Window {
  Expr h, w, inside;
};
Window window(Expr outH, Expr outW, Expr kh, Expr kw, ArrayRef<int64_t> stride,
              ArrayRef<int64_t> padding, ArrayRef<int64_t> dilation, Expr H,
              Expr W) {
  Expr h = outH * static_cast<int>(stride[0]) +
           kh * static_cast<int>(dilation[0]) - static_cast<int>(padding[0]);
  Expr w = outW * static_cast<int>(stride[1]) +
           kw * static_cast<int>(dilation[1]) - static_cast<int>(padding[1]);
  Expr inside = h >= 0 && h < H && w >= 0 && w < W;
  return {Halide::clamp(h, 0, H - 1), Halide::clamp(w, 0, W - 1), inside};
}

/// The taps of a pooling window at output index `at` ([n, c, oh, ow]):
/// `r` walks the window in row-major order (r.y rows, r.x columns: the
/// order in which PyTorch takes the first maximum), `value` is the input
/// there and `pad` in the padding (max pooling: the lowest float, PyTorch
/// pads with -inf; average pooling: 0).
struct PoolWindow {
  RDom r;
  Expr value;
  PoolWindow(const HTensor &x, ArrayRef<int64_t> kernel, ArrayRef<int64_t> stride,
             ArrayRef<int64_t> padding, const std::vector<Expr> &at,
             Expr pad = Halide::Float(32).min())
      : r(0, static_cast<int>(kernel[1]), 0, static_cast<int>(kernel[0])) {
    Expr h = at[2] * static_cast<int>(stride[0]) + r.y - static_cast<int>(padding[0]);
    Expr w = at[3] * static_cast<int>(stride[1]) + r.x - static_cast<int>(padding[1]);
    if (padding[0] == 0 && padding[1] == 0) {
      value = x.at({at[0], at[1], h, w});
      return;
    }
    Expr inside = h >= 0 && h < x.extents[2] && w >= 0 && w < x.extents[3];
    value = Halide::select(
        inside,
        x.at({at[0], at[1], Halide::clamp(h, 0, x.extents[2] - 1),
              Halide::clamp(w, 0, x.extents[3] - 1)}),
        pad);
  }
};

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

/// The windows of avg_pool2d over an input of H x W: kernel, stride and
/// padding as ints, and the divisor of each window's mean.
struct AvgWindows {
  Expr H, W;
  int kh, kw, sh, sw, ph, pw;
  bool countIncludePad;
  AvgWindows(Expr H, Expr W, ArrayRef<int64_t> kernel, ArrayRef<int64_t> stride,
             ArrayRef<int64_t> padding, bool countIncludePad)
      : H(std::move(H)), W(std::move(W)), kh(static_cast<int>(kernel[0])),
        kw(static_cast<int>(kernel[1])), sh(static_cast<int>(stride[0])),
        sw(static_cast<int>(stride[1])), ph(static_cast<int>(padding[0])),
        pw(static_cast<int>(padding[1])), countIncludePad(countIncludePad) {}
  /// The window's area, or (count_include_pad=False) its taps inside.
  Expr divisor(Expr oh, Expr ow) const {
    if (countIncludePad || (!ph && !pw))
      return Expr(static_cast<float>(kh * kw));
    Expr h0 = oh * sh - ph, w0 = ow * sw - pw;
    Expr rows = Halide::min(h0 + kh, H) - Halide::max(h0, 0);
    Expr cols = Halide::min(w0 + kw, W) - Halide::max(w0, 0);
    return Halide::cast<float>(rows * cols);
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
  if (spec.lhsTransposed && !spec.lhsBatched) {
    // dyᵀ·x: row i of the left operand is a column of the stored tensor.
    // It is copied once into row tiles, tiles(ii, k, io) = row io*8 + ii at
    // k: for each k the 8 values a register tile broadcasts are adjacent,
    // and the copy moves runs of 8 contiguous floats (no transposition).
    Var ii("ii"), io("io");
    c.lhsTiles = Func(spec.name + "_lhs_tiles" + suffix);
    std::vector<Var> tileArgs = {ii};
    tileArgs.insert(tileArgs.end(), c.k.begin(), c.k.end());
    tileArgs.push_back(io);
    Expr tileRow = Halide::clamp(io * kContractionTileRows + ii, 0, spec.rows - 1);
    c.lhsTiles(tileArgs) = spec.lhs(tileRow, ks, bs);
    std::vector<Expr> at = {c.i % kContractionTileRows};
    at.insert(at.end(), c.k.begin(), c.k.end());
    at.push_back(c.i / kContractionTileRows);
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

/// The source, zero-padded, stored with each (image, channel) plane flat
/// and `width` columns wide: the window of output (h, w) at tap (kh, kw)
/// then starts at flat index (h + kh*d0) * width + w + kw*d1, so the
/// columns of one output row, and of consecutive rows (the columns past
/// the output's width are computed and dropped), are consecutive in
/// memory for every tap: the product reads its right operand in place, no
/// im2col and no packing.
Expr OpLowering::shiftedConvolution(const std::string &name, const HTensor &src,
                                    Expr outChannels, int outH, int outW, int kh,
                                    int kw, ArrayRef<int64_t> dilation, int offH,
                                    int offW, KernelElement kernel,
                                    const std::vector<Expr> &idx) {
  const int d0 = static_cast<int>(dilation[0]), d1 = static_cast<int>(dilation[1]);
  const int width = outW + (kw - 1) * d1;
  Var q("q"), c("c"), n("n");
  Func flat(name + "_shifted_" + std::to_string(counter++));
  Expr a = q / width - offH, b = q % width - offW;
  Expr inside = a >= 0 && a < src.extents[2] && b >= 0 && b < src.extents[3];
  flat(q, c, n) = Halide::select(
      inside,
      src.at({n, c, Halide::clamp(a, 0, src.extents[2] - 1),
              Halide::clamp(b, 0, src.extents[3] - 1)}),
      0.0f);
  root(flat);
  ContractionSpec spec;
  spec.name = name;
  spec.rows = outChannels;
  spec.columns = outH * width;
  spec.depth = {Expr(kw), Expr(kh), src.extents[1]};
  spec.batch = {src.extents[0]};
  spec.lhs = [&](Expr o, const Indices &k, const Indices &) {
    return kernel(o, k[2], k[1], k[0]);
  };
  spec.rhs = [&](const Indices &k, Expr j, const Indices &batch) {
    return flat(j + k[1] * (d0 * width) + k[0] * d1, k[2], batch[0]);
  };
  spec.rhsDirect = true;
  Func product = contraction(spec);
  return product(idx[2] * width + idx[3], idx[1], idx[0]);
}

Func OpLowering::poolArgmax(const HTensor &x, ArrayRef<int64_t> kernel,
                            ArrayRef<int64_t> stride, ArrayRef<int64_t> padding) {
  std::string key = x.func.name();
  for (ArrayRef<int64_t> attr : {kernel, stride, padding})
    for (int64_t a : attr)
      key += "_" + std::to_string(a);
  auto it = poolArgmaxes.find(key);
  if (it != poolArgmaxes.end())
    return it->second;
  std::vector<Var> pv = makeVars(4);
  PoolWindow win(x, kernel, stride, padding, asExprs(pv));
  Func best("max_pool_argmax_" + std::to_string(counter++));
  // PyTorch's max_pool2d takes a tap when `value > best || isnan(value)`:
  // the first maximum, unless the window holds a NaN: then the last NaN
  // (the result is NaN, its gradient goes there). Halide's argmax assumes
  // no NaNs, so a second inline reduction finds the last NaN.
  Expr tap = win.r.y * static_cast<int>(kernel[1]) + win.r.x;
  Halide::Tuple lastNaN =
      Halide::argmax(win.r, Halide::select(isNaN(win.value), tap, -1));
  Halide::Tuple first = Halide::argmax(win.r, win.value);
  Expr hasNaN = lastNaN[2] >= 0;
  best(std::vector<Var>(pv.rbegin(), pv.rend())) = Halide::Tuple(
      Halide::select(hasNaN, lastNaN[0], first[0]),
      Halide::select(hasNaN, lastNaN[1], first[1]),
      Halide::select(hasNaN, quietNaN(), first[2]));
  // Scheduled here, where the row width is known. Pooled rows are short
  // (14 and 7 after two 2x2 pools of 28): a vector of 16 lanes with the
  // row's tail masked makes every strided load a gather; the widest vector
  // that fits in a row, its last one shifted inwards to overlap the one
  // before, needs no mask.
  int outW = 0;
  if (x.shape[3] != shape::kBatch)
    outW = static_cast<int>((x.shape[3] + 2 * padding[1] - kernel[1]) / stride[1] + 1);
  int width = outW >= 16 ? 16 : outW >= 8 ? 8 : outW >= 4 ? 4 : 0;
  best.compute_root().parallel(pv[0]);
  if (width)
    best.vectorize(pv[3], width, Halide::TailStrategy::ShiftInwards);
  poolArgmaxes[key] = best;
  return best;
}

HTensor OpLowering::materialize(const HTensor &t) {
  if (t.stored)
    return t;
  auto it = materialized.find(t.func.name());
  if (it != materialized.end())
    return it->second;
  HTensor copy = t;
  copy.func = Func(t.func.name() + "_stored");
  std::vector<Var> v = makeVars(t.rank());
  define(copy.func, v, t.at(asExprs(v)));
  root(copy);
  copy.stored = true;
  materialized[t.func.name()] = copy;
  return copy;
}

namespace {
/// An elementwise math op's `apply` formula on a Halide Expr.
template <class... Ops> Expr applyMathOf(Operation *op, const Expr &x) {
  Expr e;
  ((isa<Ops>(op) ? (e = Ops::apply(math::HalideValue{x}).expr, true) : false) ||
   ...);
  return e;
}
Expr applyMath(Operation *op, const Expr &x) {
  return applyMathOf<FIRN_MATH_OPS>(op, x);
}
} // namespace

LogicalResult OpLowering::elementwise(Operation *op, ArrayRef<HTensor> in,
                                      HTensor &out) {
  std::vector<Var> v = makeVars(out.rank());
  std::vector<Expr> idx = asExprs(v);
  auto operand = [&](size_t i) { return in[i].at(broadcastIndex(in[i], idx)); };
  Expr e;
  if (isa<AddOp>(op))
    e = operand(0) + operand(1);
  else if (isa<SubOp>(op))
    e = operand(0) - operand(1);
  else if (isa<MulOp, DivOp>(op)) {
    e = isa<MulOp>(op) ? operand(0) * operand(1) : operand(0) / operand(1);
    // 0 * x is NaN where x is NaN or infinite (PyTorch does not fold it):
    // keep Halide from folding a product or quotient with a constant.
    if (llvm::any_of(op->getOperands(),
                     [](Value v) { return isCompileTimeConstant(v); }))
      e = Halide::strict_float(e);
  } else if (isa<MaxOp>(op))
    e = nanMax(operand(0), operand(1));
  else if (isa<PowOp>(op))
    e = Halide::pow(operand(0), operand(1));
  else if (isa<ReluOp>(op))
    e = nanMax(operand(0), 0.0f); // relu(NaN) is NaN, as in PyTorch
  else if (isa<NegOp>(op))
    e = -operand(0);
  else if (isa<FIRN_MATH_OPS>(op))
    e = applyMath(op, operand(0));
  else if (isa<ReluGradOp>(op))
    // PyTorch passes the gradient where the input is not <= 0: NaN too.
    e = Halide::select(operand(1) > 0.0f || isNaN(operand(1)), operand(0), 0.0f);
  else if (isa<BroadcastLikeOp>(op))
    e = operand(0);
  else
    return failure();
  define(out.func, v, e);
  return success();
}

LogicalResult OpLowering::vectorSum(Operation *op, const HTensor &in,
                                    ArrayRef<int64_t> reduced, HTensor &out) {
  // Only a vector of sums (a bias gradient) over trailing axes that are
  // contiguous in memory (an image's rows and columns) and long enough.
  constexpr int kLanes = 16;
  int rank = in.rank();
  auto isReduced = [&](int axis) { return llvm::is_contained(reduced, axis); };
  int trailing = 0;
  int64_t length = 1;
  while (trailing < rank && isReduced(rank - 1 - trailing) &&
         in.shape[rank - 1 - trailing] != shape::kBatch) {
    length *= in.shape[rank - 1 - trailing];
    ++trailing;
  }
  if (out.rank() != 1 || trailing == 0 || length < kLanes ||
      static_cast<int>(reduced.size()) != rank - 1)
    return failure();
  // partial(l, c) sums lane l of every kLanes-wide chunk of the contiguous
  // run, over the other reduced axes too: kLanes independent accumulators,
  // one vector, instead of one serial chain; then the lanes are added.
  std::vector<Halide::Range> ranges;
  std::vector<int> other;
  for (int64_t a : reduced)
    if (a < rank - trailing) {
      other.push_back(static_cast<int>(a));
      ranges.emplace_back(0, in.extents[a]);
    }
  const int chunks = static_cast<int>((length + kLanes - 1) / kLanes);
  ranges.emplace_back(0, chunks);
  RDom r(ranges);
  Var lane("lane"), c("c");
  Expr flat = r[static_cast<int>(other.size())] * kLanes + lane;
  std::vector<Expr> run = unflatten(
      Halide::min(flat, static_cast<int>(length) - 1),
      std::vector<Expr>(in.extents.end() - trailing, in.extents.end()));
  std::vector<Expr> index;
  for (int i = 0, o = 0; i < rank - trailing; ++i)
    index.push_back(isReduced(i) ? Expr(r[o++]) : Expr(c));
  index.insert(index.end(), run.begin(), run.end());
  Func partial(out.func.name() + "_lanes");
  // In double: a gradient's sum over a batch of images (16 x 32 x 32 terms)
  // cancels to a thousandth of its terms, and float32 accumulators lost a
  // few tenths of a percent of it against PyTorch's (cascaded) sums.
  partial(lane, c) = Halide::sum(Halide::cast<double>(
      Halide::select(flat < static_cast<int>(length), in.at(index), 0.0f)));
  RDom l(0, kLanes);
  Expr total = Halide::cast<float>(Halide::sum(partial(l, c)));
  if (isa<ReduceMeanOp>(op))
    total = total / Halide::cast<float>(product(in.extents, reduced));
  out.func(c) = total;
  partial.compute_at(out.func, c).vectorize(lane);
  root(out.func);
  out.stored = true;
  return success();
}

LogicalResult OpLowering::reduce(Operation *op, const HTensor &input,
                                 ArrayRef<int64_t> axes, bool keepdims,
                                 HTensor &out) {
  // A reduction reads its input once per element: computing an inlined
  // input (a bias gradient's ReLU-masked gradient) into memory first keeps
  // that work out of the reduction's loops, and the convolution gradients
  // that read the same value reuse the copy.
  const HTensor in = materialize(input);
  std::vector<int64_t> reduced(axes.begin(), axes.end());
  if (reduced.empty())
    for (int i = 0; i < in.rank(); ++i)
      reduced.push_back(i);
  if (isa<ReduceSumOp, ReduceMeanOp>(op) && succeeded(vectorSum(op, in, reduced, out)))
    return success();
  std::vector<Halide::Range> ranges;
  for (int64_t a : reduced)
    ranges.emplace_back(0, in.extents[a]);
  RDom r(ranges);
  std::vector<Var> v = makeVars(out.rank());
  // The input coordinate: a reduction variable on reduced axes, else the
  // next result variable (with keepdims every axis has a result variable).
  std::vector<Expr> index;
  int next = 0;
  for (int i = 0; i < in.rank(); ++i) {
    auto pos = std::find(reduced.begin(), reduced.end(), i);
    bool isReduced = pos != reduced.end();
    if (isReduced)
      index.push_back(r[static_cast<int>(pos - reduced.begin())]);
    else
      index.push_back(v[next]);
    if (!isReduced || keepdims)
      ++next;
  }
  Expr x = in.at(index);
  // Sums accumulate in double (see vectorSum).
  Expr sum = Halide::cast<float>(Halide::sum(Halide::cast<double>(x)));
  if (isa<ReduceSumOp>(op))
    define(out.func, v, sum);
  else if (isa<ReduceMeanOp>(op))
    define(out.func, v, sum / Halide::cast<float>(product(in.extents, reduced)));
  else
    // amax: NaN if any element is NaN, as PyTorch's. Two inline reductions
    // (keeping one pure definition for the schedule): whether there is a
    // NaN, and the maximum, which Halide computes as if there were none.
    define(out.func, v,
           Halide::select(Halide::maximum(Halide::cast<uint8_t>(isNaN(x))) > 0,
                          quietNaN(), Halide::maximum(x)));
  root(out);
  out.stored = true;
  return success();
}

LogicalResult OpLowering::lower(Operation *op, ArrayRef<HTensor> in,
                                std::vector<HTensor> &results) {
  std::string name = op->getName().stripDialect().str();
  for (Value result : op->getResults())
    results.push_back(make(result, name));
  HTensor &out = results[0];
  std::vector<Var> v = makeVars(out.rank());
  std::vector<Expr> idx = asExprs(v);

  if (auto c = dyn_cast<ConstantOp>(op)) {
    auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
    if (!dense || !dense.getElementType().isF32())
      return op->emitOpError("only f32 dense constants can be compiled");
    if (dense.isSplat()) {
      define(out.func, v, dense.getSplatValue<float>());
      return success();
    }
    std::vector<int> dims;
    for (int64_t d : llvm::reverse(dense.getType().getShape()))
      dims.push_back(static_cast<int>(d));
    Halide::Buffer<float> data(dims);
    float *ptr = data.data();
    for (float f : dense.getValues<float>())
      *ptr++ = f;
    // Halide buffers are column-major: the first coordinate varies fastest.
    std::vector<Expr> reversed(idx.rbegin(), idx.rend());
    define(out.func, v, data(reversed));
    return success();
  }
  if (succeeded(elementwise(op, in, out)))
    return success();

  if (auto reshape = dyn_cast<ReshapeOp>(op)) {
    // Leading dimensions the reshape keeps (the batch, when it flattens an
    // image) index directly; only the rest goes through a flat index, over
    // static extents, so the division and remainder simplify away.
    const shape::Shape &from = in[0].shape, &to = out.shape;
    size_t kept = 0;
    while (kept + 1 < from.size() && kept + 1 < to.size() && from[kept] == to[kept])
      ++kept;
    std::vector<Expr> index(idx.begin(), idx.begin() + kept);
    std::vector<Expr> outRest(out.extents.begin() + kept, out.extents.end());
    std::vector<Expr> inRest(in[0].extents.begin() + kept, in[0].extents.end());
    Expr flat = flatIndex(std::vector<Expr>(idx.begin() + kept, idx.end()), outRest);
    for (const Expr &e : unflatten(flat, inRest))
      index.push_back(e);
    define(out.func, v, in[0].at(index));
    return success();
  }
  if (auto transpose = dyn_cast<TransposeOp>(op)) {
    std::vector<Expr> index(out.rank());
    for (auto [i, p] : llvm::enumerate(transpose.getPerm()))
      index[p] = idx[i];
    define(out.func, v, in[0].at(index));
    return success();
  }
  if (auto sum = dyn_cast<ReduceSumOp>(op))
    return reduce(op, in[0], sum.getAxes(), sum.getKeepdims(), out);
  if (auto mean = dyn_cast<ReduceMeanOp>(op))
    return reduce(op, in[0], mean.getAxes(), mean.getKeepdims(), out);
  if (auto max = dyn_cast<ReduceMaxOp>(op))
    return reduce(op, in[0], max.getAxes(), max.getKeepdims(), out);
  if (auto correction = dyn_cast<BiasCorrectionOp>(op)) {
    // In double precision, as torch.optim computes it.
    Expr beta = Halide::Expr(correction.getBeta().convertToDouble());
    out.func() = Halide::cast<float>(
        Halide::Expr(1.0) - Halide::pow(beta, Halide::cast<double>(in[0].func())));
    return success();
  }
  if (auto numel = dyn_cast<NumelOp>(op)) {
    out.func() = Halide::cast<float>(product(in[0].extents, numel.getAxes()));
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
    root(out.func);
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
  // materialized, only the column panel a tile reads.
  if (auto conv = dyn_cast<Conv2dOp>(op)) {
    const HTensor x = materialize(in[0]), &w = in[1];
    ConvShape cs(w.shape);
    const int outH = static_cast<int>(out.shape[2]), outW = static_cast<int>(out.shape[3]);
    auto stride = conv.getStride(), padding = conv.getPadding();
    if (stride[0] == 1 && stride[1] == 1) {
      Expr e = shiftedConvolution(
          "conv2d", x, w.extents[0], outH, outW, static_cast<int>(w.shape[2]),
          static_cast<int>(w.shape[3]), conv.getDilation(),
          static_cast<int>(padding[0]), static_cast<int>(padding[1]),
          [&](Expr o, Expr c, Expr kh, Expr kw) { return w.at({o, c, kh, kw}); },
          idx);
      if (conv.getBias())
        e = e + in[2].at({idx[1]});
      define(out.func, v, e);
      return success();
    }
    // y[n] = W[o, (c, kh, kw)] · im2col(x[n])[(c, kh, kw), (oh, ow)].
    ContractionSpec spec;
    spec.name = "conv2d";
    spec.rows = w.extents[0];
    spec.columns = outH * outW;
    spec.depth = {Expr(cs.taps())};
    spec.batch = {x.extents[0]};
    spec.lhs = [&](Expr o, const Indices &k, const Indices &) {
      return w.at({o, cs.channel(k[0]), cs.kh(k[0]), cs.kw(k[0])});
    };
    spec.rhs = [&](const Indices &k, Expr p, const Indices &b) {
      Window win = window(p / outW, p % outW, cs.kh(k[0]), cs.kw(k[0]),
                          conv.getStride(), conv.getPadding(), conv.getDilation(),
                          x.extents[2], x.extents[3]);
      return Halide::select(win.inside, x.at({b[0], cs.channel(k[0]), win.h, win.w}),
                            0.0f);
    };
    Func product = contraction(spec);
    Expr e = product(idx[2] * outW + idx[3], idx[1], idx[0]);
    if (conv.getBias())
      e = e + in[2].at({idx[1]});
    define(out.func, v, e);
    return success();
  }
  if (auto grad = dyn_cast<Conv2dGradInputOp>(op)) {
    const HTensor dy = materialize(in[0]), &w = in[1];
    auto stride = grad.getStride(), padding = grad.getPadding(),
         dilation = grad.getDilation();
    ConvShape cs(w.shape);
    const int inW = static_cast<int>(out.shape[3]);
    if (stride[0] == 1 && stride[1] == 1) {
      // The correlation of dy, padded by (K-1)*d - padding, with the
      // flipped kernel: dx(h) = sum over kh of dy(h + padding - kh*d) W(kh).
      const int kh = static_cast<int>(w.shape[2]), kw = static_cast<int>(w.shape[3]);
      Expr e = shiftedConvolution(
          "conv2d_grad_input", dy, w.extents[1], static_cast<int>(out.shape[2]),
          inW, kh, kw, dilation,
          (kh - 1) * static_cast<int>(dilation[0]) - static_cast<int>(padding[0]),
          (kw - 1) * static_cast<int>(dilation[1]) - static_cast<int>(padding[1]),
          [&](Expr c, Expr o, Expr fh, Expr fw) {
            return w.at({o, c, kh - 1 - fh, kw - 1 - fw});
          },
          idx);
      define(out.func, v, e);
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
    // The input with its zero padding, stored once, so the product reads
    // it in place without testing bounds.
    std::vector<Var> pv = makeVars(4);
    Func padded("conv2d_padded_" + std::to_string(counter++));
    Expr h = pv[2] - static_cast<int>(padding[0]), wc = pv[3] - static_cast<int>(padding[1]);
    Expr inside = h >= 0 && h < x.extents[2] && wc >= 0 && wc < x.extents[3];
    define(padded, pv,
           Halide::select(inside,
                          x.at({pv[0], pv[1], Halide::clamp(h, 0, x.extents[2] - 1),
                                Halide::clamp(wc, 0, x.extents[3] - 1)}),
                          0.0f));
    root(padded);
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
      Expr n = Halide::min(b[0] * chunk + k[2], images - 1);
      return call(padded,
                  {n, cs.channel(row),
                   k[1] * static_cast<int>(stride[0]) +
                       cs.kh(row) * static_cast<int>(dilation[0]),
                   k[0] * static_cast<int>(stride[1]) +
                       cs.kw(row) * static_cast<int>(dilation[1])});
    };
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
    root(total);
    define(out.func, v, total(idx[0], cs.flatTap(idx[1], idx[2], idx[3])));
    return success();
  }
  if (auto pool = dyn_cast<MaxPool2dOp>(op)) {
    // The window's first maximum and its position, stored once: the
    // forward reads the value, the gradient (in a training step) the
    // position.
    Func best = poolArgmax(in[0], pool.getKernel(), pool.getStride(),
                           pool.getPadding());
    define(out.func, v, best(idx[3], idx[2], idx[1], idx[0])[2]);
    return success();
  }
  if (auto grad = dyn_cast<MaxPool2dGradOp>(op)) {
    const HTensor &dy = in[0], &x = in[1];
    auto kernel = grad.getKernel(), stride = grad.getStride(),
         padding = grad.getPadding();
    // Where each window's first maximum is: (column, row) in the window.
    Func best = poolArgmax(x, kernel, stride, padding);
    if (kernel == stride && padding[0] == 0 && padding[1] == 0) {
      // Windows that tile the input: each input is in at most one window,
      // so its gradient is a select, inlined into its consumer (no sum).
      Expr oh = idx[2] / static_cast<int>(stride[0]);
      Expr ow = idx[3] / static_cast<int>(stride[1]);
      Expr ohc = Halide::min(oh, dy.extents[2] - 1), owc = Halide::min(ow, dy.extents[3] - 1);
      Expr hit = oh < dy.extents[2] && ow < dy.extents[3] &&
                 best(owc, ohc, idx[1], idx[0])[0] == idx[3] % static_cast<int>(stride[1]) &&
                 best(owc, ohc, idx[1], idx[0])[1] == idx[2] % static_cast<int>(stride[0]);
      define(out.func, v,
             Halide::select(hit, dy.at({idx[0], idx[1], ohc, owc}), 0.0f));
      return success();
    }
    // Input (h, w) is tap (ky, kx) of window (oh, ow) when
    // oh * stride - padding + ky = h: every tap that lands on it and was its
    // window's maximum adds that window's gradient.
    RDom r(0, static_cast<int>(kernel[1]), 0, static_cast<int>(kernel[0]));
    Expr th = idx[2] + static_cast<int>(padding[0]) - r.y;
    Expr tw = idx[3] + static_cast<int>(padding[1]) - r.x;
    Expr oh = th / static_cast<int>(stride[0]), ow = tw / static_cast<int>(stride[1]);
    Expr valid = th >= 0 && tw >= 0 && th % static_cast<int>(stride[0]) == 0 &&
                 tw % static_cast<int>(stride[1]) == 0 && oh < dy.extents[2] &&
                 ow < dy.extents[3];
    Expr ohc = Halide::clamp(oh, 0, dy.extents[2] - 1);
    Expr owc = Halide::clamp(ow, 0, dy.extents[3] - 1);
    Expr hit = valid && best(owc, ohc, idx[1], idx[0])[0] == r.x &&
               best(owc, ohc, idx[1], idx[0])[1] == r.y;
    define(out.func, v,
           Halide::sum(Halide::select(hit, dy.at({idx[0], idx[1], ohc, owc}), 0.0f)));
    root(out);
    out.stored = true;
    return success();
  }
  if (auto pool = dyn_cast<AvgPool2dOp>(op)) {
    const HTensor &x = in[0];
    AvgWindows windows(x.extents[2], x.extents[3], pool.getKernel(),
                       pool.getStride(), pool.getPadding(),
                       pool.getCountIncludePad());
    PoolWindow win(x, pool.getKernel(), pool.getStride(), pool.getPadding(), idx,
                   Expr(0.0f));
    define(out.func, v, Halide::sum(win.value) / windows.divisor(idx[2], idx[3]));
    root(out);
    out.stored = true;
    return success();
  }
  if (auto grad = dyn_cast<AvgPool2dGradOp>(op)) {
    const HTensor &dy = in[0];
    AvgWindows windows(out.extents[2], out.extents[3], grad.getKernel(),
                       grad.getStride(), grad.getPadding(),
                       grad.getCountIncludePad());
    if (windows.kh == windows.sh && windows.kw == windows.sw && !windows.ph &&
        !windows.pw) {
      // Windows that tile the input: each input is in at most one window,
      // so its gradient is that window's share, inlined into its consumer.
      Expr oh = idx[2] / windows.sh, ow = idx[3] / windows.sw;
      Expr inWindow = oh < dy.extents[2] && ow < dy.extents[3];
      Expr share = dy.at({idx[0], idx[1], Halide::min(oh, dy.extents[2] - 1),
                          Halide::min(ow, dy.extents[3] - 1)}) /
                   static_cast<float>(windows.kh * windows.kw);
      define(out.func, v, Halide::select(inWindow, share, 0.0f));
      return success();
    }
    // Input (h, w) is tap (ky, kx) of window (oh, ow) when
    // oh * stride - padding + ky = h.
    RDom r(0, windows.kw, 0, windows.kh);
    Expr th = idx[2] + windows.ph - r.y, tw = idx[3] + windows.pw - r.x;
    Expr oh = th / windows.sh, ow = tw / windows.sw;
    Expr valid = th >= 0 && tw >= 0 && th % windows.sh == 0 &&
                 tw % windows.sw == 0 && oh < dy.extents[2] && ow < dy.extents[3];
    Expr ohc = Halide::clamp(oh, 0, dy.extents[2] - 1);
    Expr owc = Halide::clamp(ow, 0, dy.extents[3] - 1);
    Expr share = dy.at({idx[0], idx[1], ohc, owc}) / windows.divisor(ohc, owc);
    define(out.func, v, Halide::sum(Halide::select(valid, share, 0.0f)));
    root(out);
    out.stored = true;
    return success();
  }
  if (isa<SoftmaxOp, LogSoftmaxOp>(op)) {
    int axis = static_cast<int>(isa<SoftmaxOp>(op)
                                    ? cast<SoftmaxOp>(op).getAxis()
                                    : cast<LogSoftmaxOp>(op).getAxis());
    const HTensor &x = in[0];
    RDom r(0, x.extents[axis]);
    std::vector<Expr> along = idx;
    along[axis] = r;
    Func maxAlong("row_max_" + std::to_string(counter++));
    Func sumAlong("row_sum_" + std::to_string(counter++));
    // Stable: subtract the maximum along the axis before exponentiating.
    define(maxAlong, v, Halide::maximum(x.at(along)));
    std::vector<Expr> rowIndex = idx;
    rowIndex[axis] = 0;
    Expr m = call(maxAlong, rowIndex);
    std::vector<Expr> mAlong = along;
    mAlong[axis] = 0;
    define(sumAlong, v,
           Halide::sum(Halide::exp(x.at(along) - call(maxAlong, mAlong))));
    root(maxAlong);
    root(sumAlong);
    Expr shifted = x.at(idx) - m;
    if (isa<SoftmaxOp>(op))
      define(out.func, v, Halide::exp(shifted) / call(sumAlong, rowIndex));
    else
      define(out.func, v, shifted - Halide::log(call(sumAlong, rowIndex)));
    return success();
  }
  if (isa<OneHotOp>(op)) {
    define(out.func, v, Halide::select(
        Halide::cast<int>(in[0].at({idx[0]})) == idx[1], 1.0f, 0.0f));
    return success();
  }
  if (auto mse = dyn_cast<MSELossOp>(op)) {
    const HTensor &p = in[0], &t = in[1];
    std::vector<Halide::Range> ranges;
    for (const Expr &e : p.extents)
      ranges.emplace_back(0, e);
    RDom r(ranges);
    std::vector<Expr> ri;
    for (int i = 0; i < p.rank(); ++i)
      ri.push_back(r[i]);
    Expr d = p.at(ri) - t.at(ri);
    Expr total = Halide::sum(d * d);
    out.func() = mse.getReduction() == Reduction::Mean
                     ? total / Halide::cast<float>(product(p.extents, {}))
                     : total;
    return success();
  }
  if (auto ce = dyn_cast<CrossEntropyOp>(op)) {
    const HTensor &z = in[0], &t = in[1];
    Var n("n");
    RDom c(0, z.extents[1]);
    Func rowMax("ce_max_" + std::to_string(counter++));
    Func logSum("ce_logsum_" + std::to_string(counter++));
    // log_softmax = (z - max) - log(sum(exp(z - max))): subtracting the
    // maximum first keeps large logits exact, as PyTorch does.
    rowMax(n) = Halide::maximum(z.at({n, c}));
    logSum(n) = Halide::log(Halide::sum(Halide::exp(z.at({n, c}) - rowMax(n))));
    root(rowMax);
    root(logSum);
    auto logSoftmax = [&](Expr row, Expr cls) {
      return z.at({row, cls}) - rowMax(row) - logSum(row);
    };
    RDom rn(0, z.extents[0]);
    Expr total;
    if (t.type.is_int()) {
      Expr cls = Halide::clamp(Halide::cast<int>(t.at({rn})), 0,
                               z.extents[1] - 1);
      total = Halide::sum(-logSoftmax(rn, cls));
    } else {
      RDom rc(0, z.extents[0], 0, z.extents[1]);
      total = Halide::sum(-t.at({rc.x, rc.y}) * logSoftmax(rc.x, rc.y));
    }
    out.func() = ce.getReduction() == Reduction::Mean
                     ? total / Halide::cast<float>(z.extents[0])
                     : total;
    return success();
  }
  if (auto dropout = dyn_cast<DropoutOp>(op)) {
    if (!dropout.getTraining()) {
      define(out.func, v, in[0].at(idx));
      return success();
    }
    // firn::random::dropoutScale in Halide: the same bits on every backend.
    uint32_t h0 = random::hash32(static_cast<uint32_t>(seed) ^
                                 random::hash32(static_cast<uint32_t>(seed >> 32)));
    Expr key = in[1].func();
    Expr h = hash32(u32(h0) ^ Halide::cast<uint32_t>(key));
    h = hash32(h ^ Halide::cast<uint32_t>(key >> 32));
    h = hash32(h ^ u32(static_cast<uint32_t>(dropout.getStream())));
    Expr bits = hash32(h ^ Halide::cast<uint32_t>(flatIndex(idx, out.extents)));
    Expr u = Halide::cast<float>(bits >> 8) * (1.0f / 16777216.0f);
    float p = static_cast<float>(dropout.getP().convertToDouble());
    define(out.func, v, in[0].at(idx) * Halide::select(u < p, 0.0f, 1.0f / (1.0f - p)));
    return success();
  }
  if (auto bn = dyn_cast<BatchNormOp>(op)) {
    const HTensor &x = in[0];
    int rank = x.rank();
    // Operands: input, [weight], [bias], running_mean, running_var, [count].
    const HTensor *weight = bn.getWeight() ? &in[1] : nullptr;
    const HTensor *bias =
        bn.getBias() ? &in[bn.getWeight() ? 2 : 1] : nullptr;
    const size_t stats = in.size() - (bn.getCount() ? 3 : 2);
    const HTensor &rm = in[stats], &rv = in[stats + 1];
    Var c("c");
    std::vector<Halide::Range> ranges;
    for (int i = 0; i < rank; ++i)
      if (i != 1)
        ranges.emplace_back(0, x.extents[i]);
    RDom r(ranges);
    std::vector<Expr> xi;
    for (int i = 0, j = 0; i < rank; ++i)
      xi.push_back(i == 1 ? Expr(c) : Expr(r[j++]));
    Expr count = Halide::cast<float>(x.extents[0]);
    for (int i = 2; i < rank; ++i)
      count = count * Halide::cast<float>(x.extents[i]);
    Func mean("bn_mean_" + std::to_string(counter++));
    Func var("bn_var_" + std::to_string(counter++));
    float eps = static_cast<float>(bn.getEps().convertToDouble());
    if (bn.getTraining()) {
      // Statistics accumulate in double (see vectorSum).
      mean(c) = Halide::cast<float>(Halide::sum(Halide::cast<double>(x.at(xi)))) / count;
      root(mean);
      Expr d = x.at(xi) - mean(c);
      var(c) = Halide::cast<float>(Halide::sum(Halide::cast<double>(d * d))) / count;
      root(var);
    } else {
      mean(c) = rm.at({c});
      var(c) = rv.at({c});
    }
    Expr y = (x.at(idx) - mean(idx[1])) / Halide::sqrt(var(idx[1]) + eps);
    if (weight)
      y = y * weight->at({idx[1]});
    if (bias)
      y = y + bias->at({idx[1]});
    define(out.func, v, y);
    Var k("k");
    if (bn.getTraining()) {
      // momentum=None (no attribute; the verifier asks for the count): the
      // cumulative average, 1 / num_batches_tracked after this batch, in
      // double as PyTorch computes it, then rounded.
      Expr momentum =
          bn.getMomentum()
              ? Expr(static_cast<float>(bn.getMomentum()->convertToDouble()))
              : Halide::cast<float>(Expr(1.0) /
                                    Halide::cast<double>(in[stats + 2].func() + 1));
      results[1].func(k) = (1 - momentum) * rm.at({k}) + momentum * mean(k);
      results[2].func(k) = (1 - momentum) * rv.at({k}) +
                           momentum * var(k) * count / (count - 1);
    } else {
      results[1].func(k) = rm.at({k});
      results[2].func(k) = rv.at({k});
    }
    return success();
  }
  return op->emitOpError("cannot be compiled to Halide yet");
}

} // namespace firn::codegen
