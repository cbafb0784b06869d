//===- Attention.cpp - Fused scaled dot-product attention -----------------===//
//
// Fused scaled dot-product attention, its fused gradient, and the causal
// mask that IR generation adds to the primitives' scores.
//
// Each op's verifier, gradient rule (DifferentiableOpInterface) and cost
// rule (CostOpInterface) are here, beside one another; its definition is
// in FirnOps.td, its reference kernel and Halide lowering in the family's
// files of compiler/lib/Reference and compiler/lib/Codegen.
//
//===----------------------------------------------------------------------===//
#include "OpSupport.h"

#include <limits>

using namespace mlir;
using namespace firn;
using namespace firn::detail;

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

Value firn::buildCausalMask(OpBuilder &b, Location loc, int64_t l, int64_t s) {
  std::vector<float> mask(static_cast<size_t>(l * s), 0.0f);
  for (int64_t i = 0; i < l; ++i)
    for (int64_t j = i + 1; j < s; ++j)
      mask[static_cast<size_t>(i * s + j)] = -std::numeric_limits<float>::infinity();
  auto type = RankedTensorType::get({l, s}, b.getF32Type());
  return b.create<ConstantOp>(loc, DenseElementsAttr::get(type, ArrayRef<float>(mask)));
}

namespace {

/// The checks attention and its gradient share: the shapes of query, key
/// and value; the forward's result shape, or failure (reported on `op`).
FailureOr<shape::Shape> attentionResultShape(Operation *op, Value query, Value key,
                                             Value value, bool causal) {
  const shape::Shape q = shapeOf(query.getType()), k = shapeOf(key.getType()),
                     v = shapeOf(value.getType());
  const size_t r = q.size();
  if (r < 2 || k.size() != r || v.size() != r)
    return op->emitOpError("takes query, key and value of the same rank, at least 2");
  if (!std::equal(q.begin(), q.end() - 2, k.begin()) ||
      !std::equal(q.begin(), q.end() - 2, v.begin()))
    return op->emitOpError("query, key and value must share their leading dimensions");
  if (q[r - 1] != k[r - 1])
    return op->emitOpError("query and key must have the same last dimension");
  if (k[r - 2] != v[r - 2])
    return op->emitOpError("key and value must have as many positions");
  if (causal && (q[r - 2] == shape::kBatch || k[r - 2] == shape::kBatch))
    return op->emitOpError("a causal mask needs static positions");
  shape::Shape out = q;
  out[r - 1] = v[r - 1];
  return out;
}

} // namespace

LogicalResult AttentionOp::verify() {
  FailureOr<shape::Shape> out =
      attentionResultShape(*this, getQuery(), getKey(), getValue(), getCausal());
  if (failed(out))
    return failure();
  return checkResult(*this, shape::Inferred{*out, ""}, getType());
}

LogicalResult AttentionGradOp::verify() {
  FailureOr<shape::Shape> result =
      attentionResultShape(*this, getQuery(), getKey(), getValue(), getCausal());
  if (failed(result))
    return failure();
  const shape::Shape &out = *result, q = shapeOf(getQuery().getType()),
                     k = shapeOf(getKey().getType()), v = shapeOf(getValue().getType());
  if (shapeOf(getResult().getType()) != out || shapeOf(getGradOutput().getType()) != out)
    return emitOpError("the forward's result and its gradient must have the shape ")
           << shape::str(out);
  if (failed(checkResult(*this, shape::Inferred{q, ""}, getGradQuery().getType())) ||
      failed(checkResult(*this, shape::Inferred{k, ""}, getGradKey().getType())))
    return failure();
  return checkResult(*this, shape::Inferred{v, ""}, getGradValue().getType());
}

//===----------------------------------------------------------------------===//
// Gradient rules
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                          SmallVectorImpl<Value> &grads) {
  // The fused gradient, from the result and its gradient: it recomputes the
  // weights tile by tile, as the forward never stored them.
  auto grad = b.create<AttentionGradOp>(
      getLoc(), getQuery().getType(), getKey().getType(), getValue().getType(),
      getQuery(), getKey(), getValue(), getResult(), dys[0], getScaleAttr(),
      getCausalAttr());
  grads.append(grad->result_begin(), grad->result_end());
  return success();
}

//===----------------------------------------------------------------------===//
// Cost rules
//===----------------------------------------------------------------------===//

namespace {

/// The sizes an attention's cost counts: query rows (all of them, over the
/// batch and heads), keys per row, query and value features.
struct AttentionSizes {
  int64_t rows, keys, e, f;
};

AttentionSizes attentionSizes(Value query, Value key, Value value, int64_t batch) {
  auto q = cast<RankedTensorType>(query.getType());
  const int64_t r = q.getRank();
  AttentionSizes n{elementsOf(q, batch), cast<RankedTensorType>(key.getType()).getDimSize(r - 2),
                   q.getDimSize(r - 1), cast<RankedTensorType>(value.getType()).getDimSize(r - 1)};
  for (int64_t *d : {&n.keys, &n.e, &n.f})
    if (ShapedType::isDynamic(*d))
      *d = batch;
  n.rows = n.e > 0 ? n.rows / n.e : 0;
  return n;
}

} // namespace

/// Per query row and key: the dot product (2E), the softmax's max, exp, sum
/// and division (4), the weighted value row (2F).
int64_t AttentionOp::getFlops(int64_t batch) {
  AttentionSizes n = attentionSizes(getQuery(), getKey(), getValue(), batch);
  return saturatingMul(saturatingMul(n.rows, n.keys),
                       saturatingAdd(saturatingAdd(saturatingMul(2, n.e), 4),
                                     saturatingMul(2, n.f)));
}

/// What the fused kernels compute, recomputations included, per query row
/// and key: the scores four times (the row statistics, dq's tile, dv's and
/// dk's tiles: 2E each), the weights three times (3 each: the difference,
/// exp, the division), dp = dy·v twice (2F), ds twice (3), and the three
/// products dq, dk (2E each) and dv (2F); per row, D = dy·y (2F) and the
/// statistics' max, exp and sum (3 per key, counted above in 4 per key).
/// (The causal mask's skipped blocks are counted as computed.)
int64_t AttentionGradOp::getFlops(int64_t batch) {
  AttentionSizes n = attentionSizes(getQuery(), getKey(), getValue(), batch);
  const int64_t perKey =
      saturatingAdd(saturatingAdd(saturatingMul(12, n.e), saturatingMul(6, n.f)), 4 + 9 + 6);
  return saturatingAdd(saturatingMul(saturatingMul(n.rows, n.keys), perKey),
                       saturatingMul(n.rows, saturatingMul(2, n.f)));
}
