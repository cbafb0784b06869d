//===- ElementwiseKernels.cpp - Elementwise, shape and reduction kernels --===//
//
// The reference kernels of the primitive ops that are not layers: unary and
// broadcasting binary arithmetic, transpose and reshape, reductions, softmax.
// Everything walks row-major multi-indices with explicit strides, the
// textbook statement of broadcasting and reduction, so the code can be
// checked against NumPy's rules by reading it. The kernels know nothing of
// MLIR; the last section maps the families' ops onto them.
//
//===----------------------------------------------------------------------===//
#include "KernelTable.h"

#include "firn/Dialect/FirnOps.h"
#include "firn/Dialect/MathScalar.h"
#include "firn/Runtime/Random.h"

#include "mlir/IR/BuiltinOps.h"

#include <cmath>
#include <limits>

namespace firn::reference {
namespace {

//===----------------------------------------------------------------------===//
// Index arithmetic
//===----------------------------------------------------------------------===//

using Index = std::vector<int64_t>;

/// Row-major strides: the last dimension is contiguous.
Index stridesOf(const Shape &shape) {
  Index strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

/// The flat offset of a multi-index under the given strides.
int64_t offsetOf(const Index &index, const Index &strides) {
  int64_t offset = 0;
  for (size_t d = 0; d < index.size(); ++d)
    offset += index[d] * strides[d];
  return offset;
}

/// Calls fn(index) for every multi-index of `shape`, in row-major order (so
/// the n-th call is for flat element n).
template <typename Fn>
void forEachIndex(const Shape &shape, Fn fn) {
  Index index(shape.size(), 0);
  for (int64_t flat = 0, count = numelOf(shape); flat < count; ++flat) {
    fn(index);
    // Advance like an odometer: the last dimension turns fastest.
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
  }
}

/// NumPy broadcasting: align on the right; sizes must be equal or 1.
bool broadcastShape(const Shape &lhs, const Shape &rhs, Shape &result) {
  size_t rank = std::max(lhs.size(), rhs.size());
  result.assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    // Dimension i counted from the right; a missing one acts as size 1.
    int64_t l = i < lhs.size() ? lhs[lhs.size() - 1 - i] : 1;
    int64_t r = i < rhs.size() ? rhs[rhs.size() - 1 - i] : 1;
    if (l != r && l != 1 && r != 1)
      return false;
    result[rank - 1 - i] = l == 1 ? r : l;
  }
  return true;
}

/// The strides with which to read a tensor of shape `from` while walking the
/// multi-indices of `to`, which `from` broadcasts to: a stretched (size-1 or
/// missing) dimension gets stride 0, so it reads the same element again.
Index broadcastStrides(const Shape &from, const Shape &to) {
  Index own = stridesOf(from);
  Index strides(to.size(), 0);
  size_t offset = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d)
    if (from[d] != 1)
      strides[offset + d] = own[d];
  return strides;
}

//===----------------------------------------------------------------------===//
// Elementwise helpers
//===----------------------------------------------------------------------===//

template <typename Fn>
Tensor mapUnary(const Tensor &x, Fn fn) {
  Tensor out = fromData(x.shape, x.data);
  for (double &value : out.data)
    value = fn(value);
  return out;
}

template <typename Fn>
Result mapBinary(const Tensor &lhs, const Tensor &rhs, Fn fn) {
  Shape shape;
  if (!broadcastShape(lhs.shape, rhs.shape, shape))
    return Result::fail("shapes " + shapeStr(lhs.shape) + " and " +
                        shapeStr(rhs.shape) + " do not broadcast");
  Index lhsStrides = broadcastStrides(lhs.shape, shape);
  Index rhsStrides = broadcastStrides(rhs.shape, shape);
  Tensor out = filled(shape, 0.0);
  int64_t flat = 0;
  forEachIndex(shape, [&](const Index &index) {
    out.data[flat++] = fn(lhs.data[offsetOf(index, lhsStrides)],
                          rhs.data[offsetOf(index, rhsStrides)]);
  });
  return out;
}

//===----------------------------------------------------------------------===//
// Reduction helpers
//===----------------------------------------------------------------------===//

/// Where a reduction sends each input element: `strides` map an input
/// multi-index to the flat offset of its result element (0 along reduced
/// axes), and `count` is how many inputs meet in one result.
struct ReductionPlan {
  Shape resultShape;
  Index strides;
  int64_t count = 1;
  std::string error;
};

ReductionPlan planReduction(const Shape &shape, const std::vector<int64_t> &axes,
                            bool keepDims) {
  ReductionPlan plan;
  std::vector<bool> reduced(shape.size(), axes.empty());
  for (int64_t axis : axes) {
    if (axis < 0 || axis >= static_cast<int64_t>(shape.size()) ||
        reduced[axis]) {
      plan.error = "reduction axis " + std::to_string(axis) +
                   " is out of range or repeated for " + shapeStr(shape);
      return plan;
    }
    reduced[axis] = true;
  }
  // Size-1 kept dimensions do not move any element, so the result's flat
  // layout is that of the kept dimensions alone, with or without keepDims.
  Shape kept;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (reduced[d])
      plan.count *= shape[d];
    else
      kept.push_back(shape[d]);
    if (!reduced[d] || keepDims)
      plan.resultShape.push_back(reduced[d] ? 1 : shape[d]);
  }
  Index keptStrides = stridesOf(kept);
  plan.strides.assign(shape.size(), 0);
  for (size_t d = 0, k = 0; d < shape.size(); ++d)
    if (!reduced[d])
      plan.strides[d] = keptStrides[k++];
  return plan;
}

/// Folds every element into its result element with `combine`, starting
/// from `initial`.
template <typename Fn>
Result reduce(const Tensor &x, const std::vector<int64_t> &axes, bool keepDims,
              double initial, Fn combine) {
  ReductionPlan plan = planReduction(x.shape, axes, keepDims);
  if (!plan.error.empty())
    return Result::fail(plan.error);
  Tensor out = filled(plan.resultShape, initial);
  int64_t flat = 0;
  forEachIndex(x.shape, [&](const Index &index) {
    double &slot = out.data[offsetOf(index, plan.strides)];
    slot = combine(slot, x.data[flat++]);
  });
  return out;
}

/// x viewed as [outer, size, inner] around `axis`, the layout softmax needs.
struct AxisView {
  int64_t outer = 1, size = 1, inner = 1;
};

bool viewAround(const Shape &shape, int64_t axis, AxisView &view) {
  if (axis < 0 || axis >= static_cast<int64_t>(shape.size()))
    return false;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis)
      view.outer *= shape[d];
    else if (d == axis)
      view.size = shape[d];
    else
      view.inner *= shape[d];
  }
  return true;
}

/// Softmax or its log along `axis`, subtracting each slice's maximum first so
/// that exp never overflows (what PyTorch does).
Result softmaxImpl(const Tensor &x, int64_t axis, bool takeLog) {
  AxisView view;
  if (!viewAround(x.shape, axis, view))
    return Result::fail("axis " + std::to_string(axis) +
                        " is out of range for " + shapeStr(x.shape));
  Tensor out = filled(x.shape, 0.0);
  for (int64_t o = 0; o < view.outer; ++o) {
    for (int64_t i = 0; i < view.inner; ++i) {
      auto at = [&](int64_t k) { return (o * view.size + k) * view.inner + i; };
      double maxValue = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < view.size; ++k)
        maxValue = std::max(maxValue, x.data[at(k)]);
      double sum = 0.0;
      for (int64_t k = 0; k < view.size; ++k)
        sum += std::exp(x.data[at(k)] - maxValue);
      for (int64_t k = 0; k < view.size; ++k) {
        double shifted = x.data[at(k)] - maxValue;
        out.data[at(k)] =
            takeLog ? shifted - std::log(sum) : std::exp(shifted) / sum;
      }
    }
  }
  return out;
}

} // namespace

//===----------------------------------------------------------------------===//
// Unary
//===----------------------------------------------------------------------===//

Tensor neg(const Tensor &x) {
  return mapUnary(x, [](double v) { return -v; });
}
Tensor mapElements(const Tensor &x, double (*fn)(double)) {
  return mapUnary(x, fn);
}
Tensor relu(const Tensor &x) {
  return mapUnary(x, [](double v) { return std::isnan(v) || v > 0 ? v : 0.0; });
}

Result reluGrad(const Tensor &grad, const Tensor &input) {
  if (grad.shape != input.shape)
    return Result::fail("gradient " + shapeStr(grad.shape) + " and input " +
                        shapeStr(input.shape) + " differ in shape");
  Tensor out = filled(grad.shape, 0.0);
  for (int64_t i = 0; i < grad.numel(); ++i)
    out.data[i] = input.data[i] > 0 ? grad.data[i] : 0.0;
  return out;
}

//===----------------------------------------------------------------------===//
// Binary
//===----------------------------------------------------------------------===//

Result add(const Tensor &lhs, const Tensor &rhs) {
  return mapBinary(lhs, rhs, [](double a, double b) { return a + b; });
}
Result sub(const Tensor &lhs, const Tensor &rhs) {
  return mapBinary(lhs, rhs, [](double a, double b) { return a - b; });
}
Result mul(const Tensor &lhs, const Tensor &rhs) {
  return mapBinary(lhs, rhs, [](double a, double b) { return a * b; });
}
Result div(const Tensor &lhs, const Tensor &rhs) {
  return mapBinary(lhs, rhs, [](double a, double b) { return a / b; });
}
Result maximum(const Tensor &lhs, const Tensor &rhs) {
  return mapBinary(lhs, rhs, [](double a, double b) {
    if (std::isnan(a) || std::isnan(b))
      return std::numeric_limits<double>::quiet_NaN();
    return std::max(a, b);
  });
}
Result pow(const Tensor &lhs, const Tensor &rhs) {
  return mapBinary(lhs, rhs, [](double a, double b) { return std::pow(a, b); });
}

Result compare(const Tensor &lhs, const Tensor &rhs, bool (*holds)(double, double)) {
  Shape shape;
  if (!broadcastShape(lhs.shape, rhs.shape, shape))
    return Result::fail("shapes " + shapeStr(lhs.shape) + " and " + shapeStr(rhs.shape) +
                        " do not broadcast");
  Result l = broadcastTo(lhs, shape), r = broadcastTo(rhs, shape);
  Tensor out = filled(shape, 0.0);
  for (int64_t i = 0; i < out.numel(); ++i)
    out.data[i] = holds(l.value.data[i], r.value.data[i]) ? 1.0 : 0.0;
  return out;
}

Result select(const Tensor &mask, const Tensor &lhs, const Tensor &rhs) {
  Shape values, shape;
  if (!broadcastShape(lhs.shape, rhs.shape, values) ||
      !broadcastShape(mask.shape, values, shape))
    return Result::fail("shapes " + shapeStr(mask.shape) + ", " + shapeStr(lhs.shape) +
                        " and " + shapeStr(rhs.shape) + " do not broadcast");
  Result m = broadcastTo(mask, shape), l = broadcastTo(lhs, shape),
         r = broadcastTo(rhs, shape);
  Tensor out = filled(shape, 0.0);
  for (int64_t i = 0; i < out.numel(); ++i)
    out.data[i] = m.value.data[i] != 0 ? l.value.data[i] : r.value.data[i];
  return out;
}

Result broadcastTo(const Tensor &x, const Shape &shape) {
  Shape joined;
  if (x.shape.size() > shape.size() ||
      !broadcastShape(x.shape, shape, joined) || joined != shape)
    return Result::fail("shape " + shapeStr(x.shape) +
                        " does not broadcast to " + shapeStr(shape));
  Index strides = broadcastStrides(x.shape, shape);
  Tensor out = filled(shape, 0.0);
  int64_t flat = 0;
  forEachIndex(shape, [&](const Index &index) {
    out.data[flat++] = x.data[offsetOf(index, strides)];
  });
  return out;
}

//===----------------------------------------------------------------------===//
// Shape
//===----------------------------------------------------------------------===//

namespace {
/// Copies `from` into `to` at offset `start` along `axis` (or, with
/// `gather`, reads `to`'s shape out of `from` from `start`): the shapes
/// agree but at `axis`.
void copyAlong(const Tensor &from, Tensor &to, int64_t axis, int64_t start, bool gather) {
  const Shape &small = gather ? to.shape : from.shape;
  const Shape &big = gather ? from.shape : to.shape;
  int64_t outer = numelOf(Shape(small.begin(), small.begin() + axis));
  int64_t inner = numelOf(Shape(small.begin() + axis + 1, small.end()));
  int64_t n = small[axis], bigN = big[axis];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k) {
        int64_t smallAt = (o * n + i) * inner + k, bigAt = (o * bigN + start + i) * inner + k;
        if (gather)
          to.data[smallAt] = from.data[bigAt];
        else
          to.data[bigAt] = from.data[smallAt];
      }
}
} // namespace

Result slice(const Tensor &x, int64_t axis, int64_t start, int64_t size) {
  if (axis < 0 || axis >= static_cast<int64_t>(x.shape.size()) || start < 0 ||
      start + size > x.shape[axis])
    return Result::fail("slice [" + std::to_string(start) + ", " +
                        std::to_string(start + size) + ") along axis " +
                        std::to_string(axis) + " does not fit " + shapeStr(x.shape));
  Shape shape = x.shape;
  shape[axis] = size;
  Tensor out = filled(shape, 0.0);
  copyAlong(x, out, axis, start, /*gather=*/true);
  return out;
}

Result sliceGrad(const Tensor &part, const Shape &whole, int64_t axis, int64_t start) {
  if (axis < 0 || axis >= static_cast<int64_t>(whole.size()) ||
      part.shape.size() != whole.size() || start + part.shape[axis] > whole[axis])
    return Result::fail("slice gradient " + shapeStr(part.shape) + " does not fit " +
                        shapeStr(whole));
  Tensor out = filled(whole, 0.0);
  copyAlong(part, out, axis, start, /*gather=*/false);
  return out;
}

Result concat(const std::vector<const Tensor *> &parts, int64_t axis) {
  Shape shape = parts.front()->shape;
  shape[axis] = 0;
  for (const Tensor *p : parts)
    shape[axis] += p->shape[axis];
  Tensor out = filled(shape, 0.0);
  int64_t start = 0;
  for (const Tensor *p : parts) {
    Shape expected = shape;
    expected[axis] = p->shape[axis];
    if (p->shape != expected)
      return Result::fail("concat operand " + shapeStr(p->shape) + " does not fit " +
                          shapeStr(shape) + " along axis " + std::to_string(axis));
    copyAlong(*p, out, axis, start, /*gather=*/false);
    start += p->shape[axis];
  }
  return out;
}

Result transpose(const Tensor &x, const std::vector<int64_t> &perm) {
  std::vector<bool> seen(x.shape.size(), false);
  bool valid = perm.size() == x.shape.size();
  for (int64_t p : perm) {
    valid = valid && p >= 0 && p < static_cast<int64_t>(x.shape.size()) &&
            !seen[p];
    if (valid)
      seen[p] = true;
  }
  if (!valid)
    return Result::fail("permutation of " + shapeStr(perm) +
                        " does not fit " + shapeStr(x.shape));
  Shape shape;
  for (int64_t p : perm)
    shape.push_back(x.shape[p]);
  // Result dim i walks input dim perm[i], so it steps by that dim's stride.
  Index inputStrides = stridesOf(x.shape);
  Index strides;
  for (int64_t p : perm)
    strides.push_back(inputStrides[p]);
  Tensor out = filled(shape, 0.0);
  out.isInteger = x.isInteger;
  int64_t flat = 0;
  forEachIndex(shape, [&](const Index &index) {
    out.data[flat++] = x.data[offsetOf(index, strides)];
  });
  return out;
}

Result reshape(const Tensor &x, const Shape &shape) {
  if (numelOf(shape) != x.numel())
    return Result::fail("cannot reshape " + shapeStr(x.shape) + " (" +
                        std::to_string(x.numel()) + " elements) to " +
                        shapeStr(shape));
  Tensor out = fromData(shape, x.data);
  out.isInteger = x.isInteger;
  return out;
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

Result reduceSum(const Tensor &x, const std::vector<int64_t> &axes,
                 bool keepDims) {
  return reduce(x, axes, keepDims, 0.0,
                [](double acc, double v) { return acc + v; });
}

Result reduceMean(const Tensor &x, const std::vector<int64_t> &axes,
                  bool keepDims) {
  Result sum = reduceSum(x, axes, keepDims);
  if (!sum.ok())
    return sum;
  // Dividing by 0 for an empty reduction gives NaN, as torch.mean does.
  double count = static_cast<double>(planReduction(x.shape, axes, keepDims).count);
  for (double &v : sum.value.data)
    v /= count;
  return sum;
}

Result reduceMax(const Tensor &x, const std::vector<int64_t> &axes,
                 bool keepDims) {
  ReductionPlan plan = planReduction(x.shape, axes, keepDims);
  if (plan.error.empty() && plan.count == 0)
    return Result::fail("max over no elements of " + shapeStr(x.shape));
  // torch.amax propagates NaN: once a slot is NaN, no comparison replaces it.
  return reduce(x, axes, keepDims, -std::numeric_limits<double>::infinity(),
                [](double acc, double v) {
                  return std::isnan(v) || v > acc ? v : acc;
                });
}

Result numel(const Tensor &x, const std::vector<int64_t> &axes) {
  ReductionPlan plan = planReduction(x.shape, axes, /*keepDims=*/false);
  if (!plan.error.empty())
    return Result::fail(plan.error);
  return scalar(static_cast<double>(plan.count));
}

Result softmax(const Tensor &x, int64_t axis) {
  return softmaxImpl(x, axis, /*takeLog=*/false);
}

Result logSoftmax(const Tensor &x, int64_t axis) {
  return softmaxImpl(x, axis, /*takeLog=*/true);
}

} // namespace firn::reference

//===----------------------------------------------------------------------===//
// Op kernels: which kernel runs which op of the elementwise, layout and
// reduction families (KernelTable.h)
//===----------------------------------------------------------------------===//

namespace firn::reference {
namespace {

/// firn.compare's predicate on two doubles (NaN: false but for `ne`).
bool (*holds(ComparisonPredicate predicate))(double, double) {
  switch (predicate) {
  case ComparisonPredicate::LT:
    return [](double a, double b) { return a < b; };
  case ComparisonPredicate::LE:
    return [](double a, double b) { return a <= b; };
  case ComparisonPredicate::GT:
    return [](double a, double b) { return a > b; };
  case ComparisonPredicate::GE:
    return [](double a, double b) { return a >= b; };
  case ComparisonPredicate::EQ:
    return [](double a, double b) { return a == b; };
  case ComparisonPredicate::NE:
    return [](double a, double b) { return a != b; };
  }
  llvm_unreachable("unknown comparison");
}

/// Eval mode: the identity. Training: firn's counter-based mask
/// (firn/Runtime/Random.h), the same function the compiled kernels use.
Result dropout(DropoutOp op, const In &in) {
  Tensor out = in(op.getInput());
  if (!op.getTraining())
    return out;
  auto module = op->getParentOfType<mlir::ModuleOp>();
  auto seedAttr =
      module ? module->getAttrOfType<mlir::IntegerAttr>("firn.seed") : nullptr;
  uint64_t seed = seedAttr ? static_cast<uint64_t>(seedAttr.getInt()) : 0;
  uint64_t key = static_cast<uint64_t>(in(op.getKey()).data.at(0));
  auto stream = static_cast<uint32_t>(op.getStream());
  auto p = static_cast<float>(op.getP().convertToDouble());
  for (size_t i = 0; i < out.data.size(); ++i)
    out.data[i] *=
        random::dropoutScale(seed, key, stream, static_cast<uint32_t>(i), p);
  return out;
}

void registerElementwise(KernelTable &table) {
  table.add<NegOp>([](NegOp o, const In &in) { return neg(in(o.getInput())); });
  table.add<FIRN_MATH_OPS>([](auto o, const In &in) {
    using OpT = decltype(o);
    return mapElements(in(o.getInput()), [](double x) { return OpT::apply(x); });
  });
  table.add<ReluOp>([](ReluOp o, const In &in) { return relu(in(o.getInput())); });
  table.add<ReluGradOp>([](ReluGradOp o, const In &in) {
    return reluGrad(in(o.getGrad()), in(o.getInput()));
  });
  table.add<AddOp>([](AddOp o, const In &in) { return add(in(o.getLhs()), in(o.getRhs())); });
  table.add<SubOp>([](SubOp o, const In &in) { return sub(in(o.getLhs()), in(o.getRhs())); });
  table.add<MulOp>([](MulOp o, const In &in) { return mul(in(o.getLhs()), in(o.getRhs())); });
  table.add<DivOp>([](DivOp o, const In &in) { return div(in(o.getLhs()), in(o.getRhs())); });
  table.add<MaxOp>([](MaxOp o, const In &in) {
    return maximum(in(o.getLhs()), in(o.getRhs()));
  });
  table.add<PowOp>([](PowOp o, const In &in) { return pow(in(o.getLhs()), in(o.getRhs())); });
  table.add<CompareOp>([](CompareOp o, const In &in) {
    return compare(in(o.getLhs()), in(o.getRhs()), holds(o.getPredicate()));
  });
  table.add<SelectOp>([](SelectOp o, const In &in) {
    return select(in(o.getCondition()), in(o.getLhs()), in(o.getRhs()));
  });
  table.add<BroadcastLikeOp>([](BroadcastLikeOp o, const In &in) {
    return broadcastTo(in(o.getInput()), in(o.getLike()).shape);
  });
  table.add<DropoutOp>(dropout);
  table.add<BiasCorrectionOp>([](BiasCorrectionOp o, const In &in) {
    Tensor step = in(o.getStep());
    step.data[0] = 1.0 - std::pow(o.getBeta().convertToDouble(), step.data[0]);
    return step;
  });
  table.add<CrossReplicaSumOp>([](CrossReplicaSumOp o, const In &in) {
    return in(o.getInput()); // One process: the sum is itself.
  });
}

void registerLayout(KernelTable &table) {
  table.add<TransposeOp>([](TransposeOp o, const In &in) {
    return transpose(in(o.getInput()), o.getPerm());
  });
  table.add<SliceOp>([](SliceOp o, const In &in) {
    return slice(in(o.getInput()), static_cast<int64_t>(o.getAxis()),
                 static_cast<int64_t>(o.getStart()),
                 o.getType().getDimSize(o.getAxis()));
  });
  table.add<SliceGradOp>([](SliceGradOp o, const In &in) {
    const Tensor &dy = in(o.getGradOutput());
    return sliceGrad(dy, resolve(o.getType(), batchOf(dy)),
                     static_cast<int64_t>(o.getAxis()),
                     static_cast<int64_t>(o.getStart()));
  });
  table.add<ConcatOp>([](ConcatOp o, const In &in) {
    std::vector<const Tensor *> parts;
    for (mlir::Value v : o.getInputs())
      parts.push_back(&in(v));
    return concat(parts, static_cast<int64_t>(o.getAxis()));
  });
  table.add<ReshapeOp>([](ReshapeOp o, const In &in) {
    // The result type fixes every size but the batch, which the input
    // carries in its first dimension.
    const Tensor &x = in(o.getInput());
    return reshape(x, resolve(o.getType(), batchOf(x)));
  });
}

void registerReductions(KernelTable &table) {
  table.add<ReduceSumOp>([](ReduceSumOp o, const In &in) {
    return reduceSum(in(o.getInput()), o.getAxes(), o.getKeepdims());
  });
  table.add<ReduceMeanOp>([](ReduceMeanOp o, const In &in) {
    return reduceMean(in(o.getInput()), o.getAxes(), o.getKeepdims());
  });
  table.add<ReduceMaxOp>([](ReduceMaxOp o, const In &in) {
    return reduceMax(in(o.getInput()), o.getAxes(), o.getKeepdims());
  });
  table.add<NumelOp>([](NumelOp o, const In &in) {
    return numel(in(o.getInput()), o.getAxes());
  });
  table.add<SoftmaxOp>([](SoftmaxOp o, const In &in) {
    return softmax(in(o.getInput()), static_cast<int64_t>(o.getAxis()));
  });
  table.add<LogSoftmaxOp>([](LogSoftmaxOp o, const In &in) {
    return logSoftmax(in(o.getInput()), static_cast<int64_t>(o.getAxis()));
  });
}

} // namespace

void registerElementwiseKernels(KernelTable &table) {
  registerElementwise(table);
  registerLayout(table);
  registerReductions(table);
}

} // namespace firn::reference
