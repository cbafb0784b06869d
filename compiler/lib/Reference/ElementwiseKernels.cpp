//===- ElementwiseKernels.cpp - Elementwise arithmetic ---------------------===//
//
// The reference kernels of the elementwise ops: unary and broadcasting
// binary arithmetic, comparisons and selects, broadcasting, dropout. They
// walk row-major multi-indices with explicit strides (IndexArithmetic.h).
//
// The kernels know nothing of MLIR; the last section maps the family's ops
// and their attributes onto them (KernelTable.h).
//
//===----------------------------------------------------------------------===//
#include "IndexArithmetic.h"
#include "KernelTable.h"

#include "firn/Dialect/FirnOps.h"
#include "firn/Dialect/MathScalar.h"
#include "firn/Runtime/Random.h"

#include "mlir/IR/BuiltinOps.h"

#include <cmath>
#include <limits>

namespace firn::reference {
using namespace detail;

namespace {

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
// Op kernels
//===----------------------------------------------------------------------===//

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

} // namespace

void registerElementwiseKernels(KernelTable &table) {
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

} // namespace firn::reference
