//===- LowerIndexing.cpp - Gathers and scatters by integer indices --------===//
//
// embedding: a gather, inlined into its consumers like an elementwise op
// (the position embedding added to it reads the table in the same loop).
// embedding_grad: a scatter-add, computed once (RootFunc::Kind::Scatter):
// the positions add into their rows in position order, in float32, as
// PyTorch's CPU kernel adds them, so the sums match it bit for bit where
// PyTorch runs sequentially. Indices are clamped into the table: the
// runtime rejects out-of-range inputs before a kernel runs, and a clamped
// read never leaves the buffer.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"

namespace firn::codegen {

namespace {
/// Row `index` clamped into a table of `rows` rows, as a Halide int.
Expr clampedRow(const Expr &index, const Expr &rows) {
  return Halide::clamp(Halide::cast<int>(index), 0, rows - 1);
}
} // namespace

std::optional<LogicalResult>
OpLowering::lowerIndexing(Operation *op, ArrayRef<HTensor> in,
                          std::vector<HTensor> &results) {
  HTensor &out = results[0];
  std::vector<Var> v = makeVars(out.rank());
  std::vector<Expr> idx = asExprs(v);
  if (isa<EmbeddingOp>(op)) {
    const HTensor &table = in[0], &indices = in[1];
    std::vector<Expr> position(idx.begin(), idx.end() - 1);
    define(out.func, v,
           table.at({clampedRow(indices.at(position), table.extents[0]), idx.back()}));
    return success();
  }
  if (auto grad = dyn_cast<EmbeddingGradOp>(op)) {
    const HTensor &dy = in[0], &indices = in[1];
    // The positions in row-major order: Halide's first RDom dimension is
    // its innermost loop, so the indices' last dimension comes first.
    std::vector<Halide::Range> ranges;
    for (int d = indices.rank() - 1; d >= 0; --d)
      ranges.emplace_back(0, indices.extents[d]);
    RDom r(ranges);
    std::vector<Expr> position;
    for (int d = indices.rank() - 1; d >= 0; --d)
      position.push_back(r[d]);
    Var col("col"), row("row");
    out.func(col, row) = 0.0f;
    std::vector<Expr> dyAt = position;
    dyAt.push_back(col);
    out.func(col, clampedRow(indices.at(position), out.extents[0])) += dy.at(dyAt);
    if (auto padding = grad.getPaddingIdx())
      out.func(col, static_cast<int>(*padding)) = 0.0f;
    root(out, RootFunc::Kind::Scatter);
    out.stored = true;
    return success();
  }
  return std::nullopt;
}

} // namespace firn::codegen
