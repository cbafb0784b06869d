//===- LowerElementwise.cpp - Elementwise firn ops as Halide Exprs --------===//
//
// Arithmetic with NumPy broadcasting, the math ops (each op's `apply`
// formula from FirnOps.td, on Halide Exprs: MathHalide.h), ReLU and its
// gradient, and dropout's counter-based mask. None is computed at root:
// each is inlined into its consumers, which is the fusion. NaN propagates
// as in PyTorch, also where Halide's simplifier would fold it away.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"
#include "MathHalide.h"

#include "firn/Runtime/Random.h"

namespace firn::codegen {

using math::isNaN;

namespace {
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

/// firn.compare's predicate as a Halide condition: Halide's float
/// comparisons are IEEE's (false at NaN, but != true), as PyTorch's
/// (HalideLowering.ComparisonsAndSelectAtNaN checks it). Halide's
/// simplifier rewrites a <= b as !(b < a), which is true at NaN (and
/// strict_float(a <= b) came out true at NaN too), so the two non-strict
/// orders test for NaN explicitly.
Expr holds(ComparisonPredicate predicate, const Expr &a, const Expr &b) {
  switch (predicate) {
  case ComparisonPredicate::LT:
    return a < b;
  case ComparisonPredicate::LE:
    return !isNaN(a) && !isNaN(b) && a <= b;
  case ComparisonPredicate::GT:
    return a > b;
  case ComparisonPredicate::GE:
    return !isNaN(a) && !isNaN(b) && a >= b;
  case ComparisonPredicate::EQ:
    return a == b;
  case ComparisonPredicate::NE:
    return a != b;
  }
  llvm_unreachable("unknown comparison");
}
} // namespace

std::optional<LogicalResult>
OpLowering::lowerElementwise(Operation *op, ArrayRef<HTensor> in,
                             std::vector<HTensor> &results) {
  HTensor &out = results[0];
  std::vector<Var> v = makeVars(out.rank());
  std::vector<Expr> idx = asExprs(v);
  auto operand = [&](size_t i) { return in[i].at(broadcastIndex(in[i], idx)); };
  Expr e;
  // Arithmetic rounds to float32 once per op, in the program's order, as
  // PyTorch's eager ops do. Without strict_float, Halide's simplifier and
  // LLVM's fast-math flags treat float arithmetic as real arithmetic across
  // the ops a kernel fuses: (x + m) - m folded to x (3 where PyTorch gives
  // 0 at m = 1e8), (x - m) - l became x - (m + l), and 0 * x folded to 0
  // where x is NaN or infinite (HalideLowering.FusedArithmeticRoundsLikePyTorch).
  if (isa<AddOp>(op))
    e = Halide::strict_float(operand(0) + operand(1));
  else if (isa<SubOp>(op))
    e = Halide::strict_float(operand(0) - operand(1));
  else if (isa<MulOp>(op))
    e = Halide::strict_float(operand(0) * operand(1));
  else if (isa<DivOp>(op))
    e = Halide::strict_float(operand(0) / operand(1));
  else if (isa<MaxOp>(op))
    e = nanMax(operand(0), operand(1));
  else if (isa<PowOp>(op))
    e = Halide::pow(operand(0), operand(1));
  else if (auto compare = dyn_cast<CompareOp>(op)) {
    // With an i64 side (token ids), both by value in double.
    Expr a = operand(0), b = operand(1);
    if (a.type().is_int() || b.type().is_int()) {
      a = Halide::cast<double>(a);
      b = Halide::cast<double>(b);
    }
    e = Halide::select(holds(compare.getPredicate(), a, b), 1.0f, 0.0f);
  }
  else if (isa<SelectOp>(op))
    e = Halide::select(operand(0) != 0.0f, operand(1), operand(2));
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
  else if (isa<CrossReplicaSumOp>(op))
    e = operand(0); // The runtime summed its input over the ranks already.
  if (e.defined()) {
    define(out.func, v, e);
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
  return std::nullopt;
}


} // namespace firn::codegen
