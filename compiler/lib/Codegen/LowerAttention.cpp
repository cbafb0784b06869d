//===- LowerAttention.cpp - Fused scaled dot-product attention ------------===//
//
// firn.attention as one root Func (RootFunc::Kind::Attention) and the parts
// it reads, in the order PyTorch's math computes them: scores q·k times
// the scale (-inf above the diagonal when causal), each row's maximum, the
// row's sum of exp(score - max) (in double, as the softmax's row sums),
// the weights exp(score - max) / sum, and their products with the values
// summed over the keys. The scheduler computes the parts one tile of query
// rows at a time, so the [L, S] scores of a head are never stored whole.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"
#include "MathHalide.h"

#include <limits>

namespace firn::codegen {

std::optional<LogicalResult>
OpLowering::lowerAttention(Operation *op, ArrayRef<HTensor> in,
                           std::vector<HTensor> &results) {
  auto attention = dyn_cast<AttentionOp>(op);
  if (!attention)
    return std::nullopt;
  const HTensor &q = in[0], &k = in[1], &v = in[2];
  HTensor &out = results[0];
  const int r = q.rank();
  const std::string tag = std::to_string(counter++);
  // Logical coordinates: the batch b..., then (row, column).
  std::vector<Var> vars = makeVars(r);
  std::vector<Expr> idx = asExprs(vars);
  const std::vector<Expr> batch(idx.begin(), idx.end() - 2);
  auto at = [&](Expr row, Expr column) {
    std::vector<Expr> index = batch;
    index.push_back(std::move(row));
    index.push_back(std::move(column));
    return index;
  };
  auto ref = [](Func &f, std::vector<Expr> index) {
    std::reverse(index.begin(), index.end());
    return f(index);
  };
  auto exp = [](Expr x) { return math::Math<math::HalideValue>::exp(math::HalideValue{std::move(x)}).expr; };
  const Expr i = idx[r - 2], column = idx[r - 1];

  // The keys transposed, keys(b..., c, j) = k(b..., j, c): the scores'
  // vectors run along j.
  Func keys("attention_keys_" + tag);
  define(keys, vars, k.at(at(column, i)));
  root(keys, RootFunc::Kind::Copy);
  if (k.shape[r - 2] != shape::kBatch)
    rowWidths[keys.name()] = static_cast<int>(k.shape[r - 2]);

  RDom c(0, q.extents[r - 1], "c"), j(0, k.extents[r - 2], "j");
  // Rows past the end (a rounded-up tile) read the last query row.
  const Expr row = Halide::min(i, q.extents[r - 2] - 1);
  Func scores("attention_scores_" + tag);
  define(scores, vars, Expr(0.0f));
  ref(scores, idx) += q.at(at(row, c)) * call(keys, at(c, column));
  const float scale = static_cast<float>(attention.getScale().convertToDouble());
  const bool causal = attention.getCausal();
  auto score = [&](Expr key) {
    Expr s = call(scores, at(i, key)) * scale;
    return causal ? Halide::select(key > i, Expr(-std::numeric_limits<float>::infinity()), s)
                  : s;
  };

  std::vector<Var> rowVars(vars.begin(), vars.end() - 1);
  std::vector<Expr> rowIdx(idx.begin(), idx.end() - 1);
  Func rowMax("attention_row_max_" + tag), rowSum("attention_row_sum_" + tag);
  define(rowMax, rowVars, Halide::maximum(score(j)));
  define(rowSum, rowVars,
         Halide::sum(Halide::cast<double>(exp(score(j) - call(rowMax, rowIdx)))));
  Func weights("attention_weights_" + tag);
  define(weights, vars,
         exp(score(column) - call(rowMax, rowIdx)) /
             Halide::cast<float>(call(rowSum, rowIdx)));

  Func acc("attention_" + tag);
  define(acc, vars, Expr(0.0f));
  ref(acc, idx) += call(weights, at(i, j)) * v.at(at(j, column));
  define(out.func, vars, call(acc, idx));

  RootFunc fused{acc, RootFunc::Kind::Attention, {}};
  fused.scores = scores;
  fused.rowMax = rowMax;
  fused.rowSum = rowSum;
  fused.weights = weights;
  fused.keyRange = j;
  fused.featureRange = c;
  fused.rows = q.shape[r - 2] == shape::kBatch ? 0 : static_cast<int>(q.shape[r - 2]);
  rootFuncs.push_back(fused);
  if (out.shape.back() != shape::kBatch)
    rowWidths[acc.name()] = static_cast<int>(out.shape.back());
  return success();
}

} // namespace firn::codegen
