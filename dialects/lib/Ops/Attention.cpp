//===- Attention.cpp - Fused scaled dot-product attention -----------------===//
//
// Fused scaled dot-product attention: and the causal mask it adds.
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

LogicalResult AttentionOp::verify() {
  const shape::Shape q = shapeOf(getQuery().getType()), k = shapeOf(getKey().getType()),
                     v = shapeOf(getValue().getType());
  const size_t r = q.size();
  if (r < 2 || k.size() != r || v.size() != r)
    return emitOpError("takes query, key and value of the same rank, at least 2");
  if (!std::equal(q.begin(), q.end() - 2, k.begin()) ||
      !std::equal(q.begin(), q.end() - 2, v.begin()))
    return emitOpError("query, key and value must share their leading dimensions");
  if (q[r - 1] != k[r - 1])
    return emitOpError("query and key must have the same last dimension");
  if (k[r - 2] != v[r - 2])
    return emitOpError("key and value must have as many positions");
  if (getCausal() && (q[r - 2] == shape::kBatch || k[r - 2] == shape::kBatch))
    return emitOpError("a causal mask needs static positions");
  shape::Shape out = q;
  out[r - 1] = v[r - 1];
  return checkResult(*this, shape::Inferred{out, ""}, getType());
}

//===----------------------------------------------------------------------===//
// Gradient rules
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                          SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value dy = dys[0], q = getQuery(), k = getKey(), v = getValue();
  // The weights again, in primitive ops (the fused forward kept none):
  // p = softmax(q kᵀ · scale + causal mask), and through them the
  // primitives' own gradient rules.
  shape::Shape scoreShape = shapeOf(q.getType());
  const size_t r = scoreShape.size();
  const int64_t l = scoreShape[r - 2], s = typeOf(k).getDimSize(r - 2);
  scoreShape[r - 1] = s;
  RankedTensorType scoreType = f32Type(b, scoreShape);
  Value scale = scalar(b, loc, static_cast<float>(getScale().convertToDouble()));
  auto product = b.create<MatmulOp>(loc, scoreType, q, k, false, true);
  Value scores = b.create<MulOp>(loc, scoreType, product, scale);
  if (getCausal())
    scores = b.create<AddOp>(loc, scoreType, scores, buildCausalMask(b, loc, l, s));
  auto p = b.create<SoftmaxOp>(loc, scores, static_cast<int64_t>(r - 1));
  // y = p v: dv = pᵀ dy, dp = dy vᵀ.
  Value dv = b.create<MatmulOp>(loc, v.getType(), p, dy, true, false);
  Value dp = b.create<MatmulOp>(loc, scoreType, dy, v, false, true);
  // The mask is a constant: the scaled scores get the softmax's gradient.
  SmallVector<Value> dScores, dQK;
  if (failed(p.buildGradients(b, {dp}, dScores)) ||
      failed(product.buildGradients(b, {binary<MulOp>(b, loc, dScores[0], scale)}, dQK)))
    return failure();
  grads.push_back(dQK[0]);
  grads.push_back(dQK[1]);
  grads.push_back(dv);
  return success();
}

//===----------------------------------------------------------------------===//
// Cost rules
//===----------------------------------------------------------------------===//

/// Per query row and key: the dot product (2E), the softmax's max, exp, sum
/// and division (4), the weighted value row (2F).
int64_t AttentionOp::getFlops(int64_t batch) {
  auto q = getQuery().getType();
  const int64_t r = q.getRank();
  int64_t e = q.getDimSize(r - 1), f = getType().getDimSize(r - 1),
          s = getKey().getType().getDimSize(r - 2);
  for (int64_t *d : {&e, &f, &s})
    if (ShapedType::isDynamic(*d))
      *d = batch;
  const int64_t rows = f > 0 ? elementsOf(getType(), batch) / f : 0;
  return saturatingMul(saturatingMul(rows, s),
                       saturatingAdd(saturatingAdd(saturatingMul(2, e), 4),
                                     saturatingMul(2, f)));
}
