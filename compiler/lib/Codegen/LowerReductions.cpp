//===- LowerReductions.cpp - Sums, softmax and BatchNorm ------------------===//
//
// reduce_sum/mean/max over any axes, softmax and log_softmax over any
// axis (max-shifted, as PyTorch computes them) and batch_norm (training
// statistics and the running averages). The losses are composites of
// these and the elementwise ops (MLIRGen). Sums and statistics accumulate
// in double: PyTorch's cascaded float32 sums are closer to the exact value
// than one float32 accumulator is.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"
#include "MathHalide.h"

namespace firn::codegen {

using math::isNaN;

namespace {
/// How deep a chain of elementwise ops a reduction computes in its loop.
constexpr int kMaxInlinedIntoReduction = 3;

/// Whether `v`, read only by one reduction, is a stored tensor or at most
/// `depth` elementwise ops deep of stored (or small) tensors, each read
/// once.
bool computedInLoop(Value v, int depth) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return true; // A kernel argument: stored.
  if (depth == 0 || !v.hasOneUse() || !def->hasTrait<firn::OpTrait::ElementwiseCost>() ||
      isa<DropoutOp>(def))
    return false;
  return llvm::all_of(def->getOperands(), [&](Value operand) {
    auto type = dyn_cast<RankedTensorType>(operand.getType());
    if (type && type.hasStaticShape() && type.getNumElements() <= 4096)
      return true; // Small: a per-channel statistic, broadcast.
    return computedInLoop(operand, depth - 1);
  });
}
/// log_softmax = (x - max) - log(sum exp(x - max)), in that order, as
/// PyTorch computes it. Halide's simplifier would reassociate it into
/// x - (max + log(sum)), which rounds max + log(sum) at max's magnitude: at
/// logits near 1e4 the result was 2^-10 off (seed 003's twenty equal logits
/// gave a loss of 2.99609 for log 20). strict_float keeps the order.
Expr logSoftmax(const Expr &shifted, const Expr &logSum) {
  return Halide::strict_float(shifted - logSum);
}

/// The vector width of the lane-wise reductions (laneSums, rowReduction).
constexpr int kLanes = 16;
/// The images a task of laneSums sums.
constexpr int kImagesPerGroup = 4;

/// partial(prefix..., lane) over the kLanes lanes (tensor order, see
/// call()), added or maximized pairwise, written out: an inline reduction
/// over them is a buffer per use, which Halide sizes at run time (a heap
/// allocation per row) where the use sits in a fused loop.
Expr combineLanes(const Func &partial, const std::vector<Expr> &prefix, bool maximum) {
  std::vector<Expr> terms;
  for (int i = 0; i < kLanes; ++i) {
    std::vector<Expr> at = prefix;
    at.push_back(i);
    terms.push_back(call(partial, at));
  }
  for (size_t width = terms.size(); width > 1; width /= 2)
    for (size_t i = 0; i < width / 2; ++i)
      terms[i] = maximum ? Halide::max(terms[2 * i], terms[2 * i + 1])
                         : terms[2 * i] + terms[2 * i + 1];
  return terms[0];
}
} // namespace

bool OpLowering::laneSums(Func sums, const HTensor &in, ArrayRef<int64_t> reduced,
                          const ElementAt &value, Expr divisor) {
  // Only sums over every axis but one (a bias gradient's, BatchNorm's
  // statistics) whose trailing reduced axes are contiguous in memory (an
  // image's rows and columns) and long enough.
  int rank = in.rank();
  auto isReduced = [&](int axis) { return llvm::is_contained(reduced, axis); };
  int trailing = 0;
  int64_t length = 1;
  while (trailing < rank && isReduced(rank - 1 - trailing) &&
         in.shape[rank - 1 - trailing] != shape::kBatch) {
    length *= in.shape[rank - 1 - trailing];
    ++trailing;
  }
  if (trailing == 0 || length < kLanes || static_cast<int>(reduced.size()) != rank - 1)
    return false;
  // partial(l, c, g) sums lane l of every kLanes-wide chunk of the
  // contiguous run, over the other reduced axes too: kLanes independent
  // accumulators, one vector, instead of one serial chain; then the lanes
  // and the groups g are added. The chunks are the innermost loop, so that
  // the sum reads each image's run in order (with the images innermost it
  // jumped from image to image, 128 KB apart, a stream per image for the
  // prefetcher). Where the kept axis c sits right outside the run ([N, C,
  // H, W]), the outermost reduced axis (the images) is split into groups
  // of kImagesPerGroup, a task each, which sums all of c over its images:
  // it reads them in memory order (a channel's runs of every image in
  // turn, 4 KB every 128 KB, ran at half the speed from memory).
  const int chunks = static_cast<int>((length + kLanes - 1) / kLanes);
  const int kept = rank - trailing - 1;
  const bool grouped = kept > 0 && !isReduced(kept) && isReduced(0);
  Expr groups = grouped ? (in.extents[0] + kImagesPerGroup - 1) / kImagesPerGroup : Expr(1);
  std::vector<Halide::Range> ranges = {Halide::Range(0, chunks)};
  for (int64_t a : reduced)
    if (a < rank - trailing)
      ranges.emplace_back(0, grouped && a == 0 ? Expr(kImagesPerGroup) : in.extents[a]);
  RDom r(ranges);
  Var lane("lane"), c("c"), g("g");
  Expr flat = r[0] * kLanes + lane;
  std::vector<Expr> run = unflatten(
      Halide::min(flat, static_cast<int>(length) - 1),
      std::vector<Expr>(in.extents.end() - trailing, in.extents.end()));
  std::vector<Expr> index;
  for (int i = 0, o = 0; i < rank - trailing; ++i)
    index.push_back(isReduced(i) ? Expr(r[1 + o++]) : Expr(c));
  if (grouped) {
    index[0] = g * kImagesPerGroup + r[1];
    r.where(index[0] < in.extents[0]);
  }
  index.insert(index.end(), run.begin(), run.end());
  Func partial(sums.name() + "_lanes");
  // In double: a gradient's sum over a batch of images (16 x 32 x 32 terms)
  // cancels to a thousandth of its terms, and float32 accumulators lost a
  // few tenths of a percent of it against PyTorch's (cascaded) sums.
  partial(lane, c, g) = Halide::cast<double>(0);
  partial(lane, c, g) +=
      Halide::cast<double>(Halide::select(flat < static_cast<int>(length), value(index), 0.0f));
  RDom group(0, groups);
  // (combineLanes takes tensor order: (g, c, lane) is Halide's (lane, c, g).)
  Expr total = Halide::cast<float>(
      Halide::sum(combineLanes(partial, {group.x, c}, /*maximum=*/false)));
  sums(c) = divisor.defined() ? total / divisor : total;
  rootFuncs.push_back({sums, RootFunc::Kind::LaneSum, partial});
  rootFuncs.back().imageGroups = grouped;
  return true;
}

LogicalResult OpLowering::vectorSum(Operation *op, const HTensor &in,
                                    ArrayRef<int64_t> reduced, HTensor &out) {
  // A vector of sums; with keepdims ([1, C, 1, 1], BatchNorm's gradient)
  // the same sums, read through the kept shape.
  const int rank = in.rank();
  const bool keep = out.rank() == rank && rank > 1;
  if (out.rank() != 1 && !keep)
    return failure();
  Func sums = keep ? Func(out.func.name() + "_sums") : out.func;
  Expr divisor;
  if (isa<ReduceMeanOp>(op))
    divisor = Halide::cast<float>(product(in.extents, reduced));
  if (!laneSums(sums, in, reduced,
                [&](const std::vector<Expr> &index) { return in.at(index); }, divisor))
    return failure();
  if (keep) {
    int kept = 0;
    while (llvm::is_contained(reduced, kept))
      ++kept;
    std::vector<Var> v = makeVars(rank);
    define(out.func, v, sums(v[kept]));
    return success();
  }
  out.stored = true;
  return success();
}

bool OpLowering::reducesByLanes(const HTensor &t) {
  return t.rank() >= 2 && t.shape.back() != shape::kBatch && t.shape.back() >= kLanes;
}

Func OpLowering::rowReduction(const std::string &name, const std::vector<Expr> &extents,
                              bool maximum, const ElementAt &value) {
  // A row as one serial chain of scalar adds (the generic path: the
  // reduced axis is the vector dimension, of extent 1) ran a GPT's
  // attention softmax at ~2 ns an element; sixteen lanes keep it in vectors.
  const int rank = static_cast<int>(extents.size());
  const Expr length = extents.back();
  std::vector<Var> rows = makeVars(rank - 1);
  Var lane("lane");
  RDom chunk(0, (length + kLanes - 1) / kLanes);
  Expr k = chunk * kLanes + lane;
  std::vector<Expr> index = asExprs(rows);
  // Past the row's end: its last element again (harmless for a maximum,
  // masked out of a sum).
  index.push_back(Halide::min(k, length - 1));
  Expr element = value(index);
  std::vector<Var> partialVars = rows;
  partialVars.push_back(lane);
  Func partial(name + "_lanes");
  define(partial, partialVars,
         maximum ? Halide::maximum(element)
                 : Expr(Halide::sum(Halide::cast<double>(
                       Halide::select(k < length, element, 0.0f)))));
  Expr total = combineLanes(partial, asExprs(rows), maximum);
  Func f(name);
  define(f, rows, maximum ? total : Halide::cast<float>(total));
  rootFuncs.push_back({f, RootFunc::Kind::LaneSum, partial});
  return f;
}

LogicalResult OpLowering::reduce(Operation *op, const HTensor &input,
                                 ArrayRef<int64_t> axes, bool keepdims,
                                 HTensor &out) {
  // A reduction reads its input once per element: computing an inlined
  // input (a bias gradient's ReLU-masked gradient) into memory first keeps
  // that work out of the reduction's loops, and the convolution gradients
  // that read the same value reuse the copy. A few elementwise ops of
  // stored tensors that nothing else reads (a BatchNorm gradient's
  // dy * x̂) are computed in the reduction's loop instead: storing them
  // cost a write and a read of the whole activation.
  const HTensor in =
      computedInLoop(op->getOperand(0), kMaxInlinedIntoReduction) ? input : materialize(input);
  std::vector<int64_t> reduced(axes.begin(), axes.end());
  if (reduced.empty())
    for (int i = 0; i < in.rank(); ++i)
      reduced.push_back(i);
  if (isa<ReduceSumOp, ReduceMeanOp>(op) && succeeded(vectorSum(op, in, reduced, out)))
    return success();
  if (isa<ReduceSumOp, ReduceMeanOp>(op) && reduced.size() == 1 &&
      reduced[0] == in.rank() - 1 && reducesByLanes(in)) {
    // Along the last axis only (a LayerNorm's statistics, a softmax
    // gradient's row sums).
    Func rows = rowReduction(out.func.name() + "_rows", in.extents, /*maximum=*/false,
                             [&](const std::vector<Expr> &index) { return in.at(index); });
    std::vector<Var> v = makeVars(out.rank());
    std::vector<Expr> row = asExprs(v);
    if (keepdims)
      row.pop_back();
    Expr total = call(rows, row);
    if (isa<ReduceMeanOp>(op))
      total = total / Halide::cast<float>(in.extents.back());
    define(out.func, v, total);
    return success();
  }
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
  root(out, RootFunc::Kind::Reduction);
  out.stored = true;
  return success();
}

std::optional<LogicalResult>
OpLowering::lowerReductions(Operation *op, ArrayRef<HTensor> in,
                            std::vector<HTensor> &results) {
  HTensor &out = results[0];
  std::vector<Var> v = makeVars(out.rank());
  std::vector<Expr> idx = asExprs(v);
  if (auto sum = dyn_cast<ReduceSumOp>(op))
    return reduce(op, in[0], sum.getAxes(), sum.getKeepdims(), out);
  if (auto mean = dyn_cast<ReduceMeanOp>(op))
    return reduce(op, in[0], mean.getAxes(), mean.getKeepdims(), out);
  if (auto max = dyn_cast<ReduceMaxOp>(op))
    return reduce(op, in[0], max.getAxes(), max.getKeepdims(), out);
  if (isa<SoftmaxOp, LogSoftmaxOp>(op)) {
    int axis = static_cast<int>(isa<SoftmaxOp>(op)
                                    ? cast<SoftmaxOp>(op).getAxis()
                                    : cast<LogSoftmaxOp>(op).getAxis());
    const HTensor &x = in[0];
    if (axis == x.rank() - 1 && reducesByLanes(x)) {
      // Rows along the contiguous axis (attention's scores): in lanes.
      auto rowOf = [](std::vector<Expr> index) {
        index.pop_back();
        return index;
      };
      const std::string tag = std::to_string(counter++);
      Func rowMax = rowReduction("row_max_" + tag, x.extents, /*maximum=*/true,
                                 [&](const std::vector<Expr> &index) { return x.at(index); });
      Func rowSum = rowReduction(
          "row_sum_" + tag, x.extents, /*maximum=*/false, [&](const std::vector<Expr> &index) {
            return Halide::exp(x.at(index) - call(rowMax, rowOf(index)));
          });
      Expr shifted = x.at(idx) - call(rowMax, rowOf(idx));
      if (isa<SoftmaxOp>(op))
        define(out.func, v, Halide::exp(shifted) / call(rowSum, rowOf(idx)));
      else
        define(out.func, v, logSoftmax(shifted, Halide::log(call(rowSum, rowOf(idx)))));
      return success();
    }
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
    root(maxAlong, RootFunc::Kind::Reduction);
    root(sumAlong, RootFunc::Kind::Reduction);
    Expr shifted = x.at(idx) - m;
    if (isa<SoftmaxOp>(op))
      define(out.func, v, Halide::exp(shifted) / call(sumAlong, rowIndex));
    else
      define(out.func, v, logSoftmax(shifted, Halide::log(call(sumAlong, rowIndex))));
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
    std::vector<int64_t> notChannels;
    for (int i = 0; i < rank; ++i)
      if (i != 1)
        notChannels.push_back(i);
    auto centred = [&](const std::vector<Expr> &index) {
      Expr d = x.at(index) - mean(index[1]);
      return d * d;
    };
    if (bn.getTraining() &&
        laneSums(mean, x, notChannels, [&](const std::vector<Expr> &index) { return x.at(index); },
                 count)) {
      // Over images: the planes' rows in lanes (one serial chain in a
      // batch-strided order before: a ResNet's BatchNorm statistics took a
      // fifth of its step).
      laneSums(var, x, notChannels, centred, count);
    } else if (bn.getTraining()) {
      // Statistics accumulate in double (see laneSums).
      mean(c) = Halide::cast<float>(Halide::sum(Halide::cast<double>(x.at(xi)))) / count;
      root(mean, RootFunc::Kind::Reduction);
      var(c) = Halide::cast<float>(Halide::sum(Halide::cast<double>(centred(xi)))) / count;
      root(var, RootFunc::Kind::Reduction);
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
    results[3].func(k) = mean(k);
    results[4].func(k) = var(k);
    return success();
  }
  return std::nullopt;
}

} // namespace firn::codegen
