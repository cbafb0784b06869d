//===- Indexing.cpp - Gathers and scatters by integer indices -------------===//
//
// Gathers and scatters by integer indices: embedding and its
// gradient.
//
// Each op's verifier, gradient rule (DifferentiableOpInterface) and cost
// rule (CostOpInterface) are here, beside one another; its definition is
// in FirnOps.td, its reference kernel and Halide lowering in the family's
// files of compiler/lib/Reference and compiler/lib/Codegen.
//
//===----------------------------------------------------------------------===//
#include "OpSupport.h"

using namespace mlir;
using namespace firn;
using namespace firn::detail;

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

namespace {
/// embedding and embedding_grad: i64 indices, a [rows, dim] table, values
/// of the indices' shape + [dim], and a padding row inside the table.
LogicalResult verifyEmbedding(Operation *op, RankedTensorType table,
                              RankedTensorType indices, RankedTensorType values,
                              std::optional<uint64_t> paddingIdx) {
  if (!indices.getElementType().isInteger(64))
    return op->emitOpError() << "indices must be i64, got " << indices;
  if (table.getRank() != 2 || table.isDynamicDim(0) || table.isDynamicDim(1))
    return op->emitOpError() << "the table must be a static [rows, dim] tensor, got "
                             << table;
  shape::Shape expected = shapeOf(indices);
  expected.push_back(table.getDimSize(1));
  if (shapeOf(values) != expected)
    return op->emitOpError() << "values must be " << shape::str(expected)
                             << " (the indices' shape and the table's width), got "
                             << shape::str(shapeOf(values));
  if (paddingIdx && *paddingIdx >= static_cast<uint64_t>(table.getDimSize(0)))
    return op->emitOpError() << "padding_idx " << static_cast<int64_t>(*paddingIdx)
                             << " is not a row of the table (" << table.getDimSize(0)
                             << " rows)";
  return success();
}
} // namespace

LogicalResult EmbeddingOp::verify() {
  return verifyEmbedding(*this, getWeight().getType(), getIndices().getType(),
                         getType(), getPaddingIdx());
}

LogicalResult EmbeddingGradOp::verify() {
  return verifyEmbedding(*this, getType(), getIndices().getType(),
                         getGradOutput().getType(), getPaddingIdx());
}

//===----------------------------------------------------------------------===//
// Gradient rules
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::buildGradients(OpBuilder &b, ArrayRef<Value> dys,
                                          SmallVectorImpl<Value> &grads) {
  grads.push_back(b.create<EmbeddingGradOp>(getLoc(), getWeight().getType(), dys[0],
                                            getIndices(), getPaddingIdxAttr()));
  grads.push_back(nullptr); // Integer indices.
  return success();
}

//===----------------------------------------------------------------------===//
// Cost rules
//===----------------------------------------------------------------------===//

/// One addition per element of the gradient that is scattered (the
/// forward gather only copies rows: Firn_DataMovementCost).
int64_t EmbeddingGradOp::getFlops(int64_t batch) {
  return elementsOf(getGradOutput().getType(), batch);
}
