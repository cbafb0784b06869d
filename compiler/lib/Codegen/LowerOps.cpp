//===- LowerOps.cpp - One Halide Func per firn op: dispatch and layout ----===//
//
// Each op's definition in Halide's algorithm language, following the same
// semantics as the reference evaluator's kernels (compiler/lib/Reference),
// which the tests compare it with. One file per op family:
//
//   LowerOps.cpp          dispatch, shared index helpers, constants and
//                         data movement (reshape, transpose, one_hot)
//   LowerElementwise.cpp  arithmetic, the math ops, dropout
//   LowerProducts.cpp     matmul, linear and convolutions (Contraction)
//   LowerPooling.cpp      max and average pooling and their gradients
//   LowerReductions.cpp   sums, softmax, BatchNorm
//   LowerIndexing.cpp     gathers and scatters by integer indices (embedding)
//   LowerAttention.cpp    fused scaled dot-product attention
//
// Reductions use RDoms; padding and gathers clamp their coordinates and
// select, so no Func reads outside its producer's bounds. Lowering makes
// no scheduling decision: it states what each Func computed once is
// (RootFunc), and the target's Scheduler decides how it runs.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"

#include <limits>

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

/// A float32 NaN.
Expr quietNaN() { return Expr(std::numeric_limits<float>::quiet_NaN()); }

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
  root(copy, RootFunc::Kind::Copy);
  copy.stored = true;
  materialized[t.func.name()] = copy;
  return copy;
}

LogicalResult OpLowering::lower(Operation *op, ArrayRef<HTensor> in,
                                std::vector<HTensor> &results) {
  std::string name = op->getName().stripDialect().str();
  for (Value result : op->getResults())
    results.push_back(make(result, name));
  for (auto family : {&OpLowering::lowerLayout, &OpLowering::lowerElementwise,
                      &OpLowering::lowerProducts, &OpLowering::lowerPooling,
                      &OpLowering::lowerReductions, &OpLowering::lowerIndexing,
                      &OpLowering::lowerAttention})
    if (std::optional<LogicalResult> lowered = (this->*family)(op, in, results))
      return *lowered;
  return op->emitOpError("cannot be compiled to Halide yet");
}

std::optional<LogicalResult>
OpLowering::lowerLayout(Operation *op, ArrayRef<HTensor> in,
                        std::vector<HTensor> &results) {
  HTensor &out = results[0];
  std::vector<Var> v = makeVars(out.rank());
  std::vector<Expr> idx = asExprs(v);
  if (auto c = dyn_cast<ConstantOp>(op)) {
    auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
    if (!dense || !dense.getElementType().isF32())
      return LogicalResult(op->emitOpError("only f32 dense constants can be compiled"));
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
  if (auto slice = dyn_cast<SliceOp>(op)) {
    std::vector<Expr> at = idx;
    at[slice.getAxis()] += static_cast<int>(slice.getStart());
    define(out.func, v, in[0].at(at));
    return success();
  }
  if (auto grad = dyn_cast<SliceGradOp>(op)) {
    // dy inside [start, start + size) along the axis, zero elsewhere.
    const int axis = static_cast<int>(grad.getAxis()), start = static_cast<int>(grad.getStart());
    const int size = static_cast<int>(in[0].shape[axis]);
    std::vector<Expr> at = idx;
    at[axis] = Halide::clamp(idx[axis] - start, 0, size - 1);
    Expr inside = idx[axis] >= start && idx[axis] < start + size;
    define(out.func, v, Halide::select(inside, in[0].at(at), 0.0f));
    return success();
  }
  if (auto concat = dyn_cast<ConcatOp>(op)) {
    // A select over the operands by where the coordinate along the axis falls.
    const int axis = static_cast<int>(concat.getAxis());
    int start = 0;
    Expr e;
    for (const HTensor &part : in) {
      const int size = static_cast<int>(part.shape[axis]);
      std::vector<Expr> at = idx;
      at[axis] = Halide::clamp(idx[axis] - start, 0, size - 1);
      e = e.defined() ? Halide::select(idx[axis] < start + size && idx[axis] >= start,
                                       part.at(at), e)
                      : part.at(at);
      start += size;
    }
    define(out.func, v, e);
    return success();
  }
  if (isa<OneHotOp>(op)) {
    // [N, d...] -> [N, C, d...]: the class is coordinate 1.
    std::vector<Expr> position = idx;
    position.erase(position.begin() + 1);
    define(out.func, v, Halide::select(
        Halide::cast<int>(in[0].at(position)) == idx[1], 1.0f, 0.0f));
    return success();
  }
  return std::nullopt;
}

} // namespace firn::codegen
