//===- LowerAttention.cpp - Fused scaled dot-product attention ------------===//
//
// firn.attention as one root Func (RootFunc::Kind::Attention) and the parts
// it reads, in the order PyTorch's math computes them: scores q·k times
// the scale (-inf above the diagonal when causal), each row's maximum, the
// row's sum of exp(score - max) (in double, as the softmax's row sums),
// the weights exp(score - max) / sum, and their products with the values
// summed over the keys. The scheduler computes the parts one tile of query
// rows at a time, so the [L, S] scores of a head are never stored whole.
// firn.attention_grad likewise, as four kernels (see lowerAttentionGrad).
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"
#include "MathHalide.h"

#include <limits>

namespace firn::codegen {

namespace {

/// Index helpers over a rank-r value whose last two coordinates are (row,
/// column) and whose leading ones are the batch b... of `idx`.
struct AttentionIndex {
  std::vector<Expr> batch;
  std::vector<Expr> at(Expr row, Expr column) const {
    std::vector<Expr> index = batch;
    index.push_back(std::move(row));
    index.push_back(std::move(column));
    return index;
  }
  std::vector<Expr> atRow(Expr row) const {
    std::vector<Expr> index = batch;
    index.push_back(std::move(row));
    return index;
  }
};

/// f's element at a logical index (Halide's coordinates run innermost
/// first), to define an update of it.
Halide::FuncRef ref(Func &f, std::vector<Expr> index) {
  std::reverse(index.begin(), index.end());
  return f(index);
}

Expr exponential(Expr x) {
  return math::Math<math::HalideValue>::exp(math::HalideValue{std::move(x)}).expr;
}

/// With the causal mask, the keys after a query row have weight 0: the
/// reductions over them skip a whole block of kContractionTileRows rows
/// at a time (the keys past the block's last query row, or the queries
/// before a block of key rows' first), so that the bound is the same for
/// every row of a task's tile and becomes a loop bound. The keys inside
/// the block that the mask covers are still visited, at -inf (weight 0).
/// keysOfQueries: `range` runs over keys for the query row `row`; else over
/// queries for the key row `row`.
void skipMaskedBlocks(RDom &range, Expr row, bool keysOfQueries) {
  const int block = kContractionTileRows;
  Expr first = row / block * block;
  range.where(keysOfQueries ? range.x < first + block : range.x >= first);
}

/// A root computed a tile of rows at a time from a tile of `scores` (see
/// RootFunc::Kind::Attention); the caller adds the parts of its kind.
RootFunc tileRoot(RootFunc::Kind kind, Func func, Func scores, RDom featureRange,
                  RDom keyRange, int rows) {
  RootFunc root{std::move(func), kind, {}};
  root.scores = std::move(scores);
  root.featureRange = featureRange;
  root.keyRange = keyRange;
  root.rows = rows;
  return root;
}

} // namespace

std::optional<LogicalResult>
OpLowering::lowerAttention(Operation *op, ArrayRef<HTensor> in,
                           std::vector<HTensor> &results) {
  if (auto grad = dyn_cast<AttentionGradOp>(op))
    return lowerAttentionGrad(grad, in, results);
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
  const AttentionIndex ix{std::vector<Expr>(idx.begin(), idx.end() - 2)};
  const Expr i = idx[r - 2], column = idx[r - 1];

  // The keys transposed, keys(b..., c, j) = k(b..., j, c): the scores'
  // vectors run along j.
  Func keys("attention_keys_" + tag);
  define(keys, vars, k.at(ix.at(column, i)));
  root(keys, RootFunc::Kind::Copy);
  if (k.shape[r - 2] != shape::kBatch)
    rowWidths[keys.name()] = static_cast<int>(k.shape[r - 2]);

  RDom c(0, q.extents[r - 1], "c"), j(0, k.extents[r - 2], "j");
  if (attention.getCausal())
    skipMaskedBlocks(j, i, /*keysOfQueries=*/true);
  // Rows past the end (a rounded-up tile) read the last query row.
  const Expr row = Halide::min(i, q.extents[r - 2] - 1);
  Func scores("attention_scores_" + tag);
  define(scores, vars, Expr(0.0f));
  ref(scores, idx) += q.at(ix.at(row, c)) * call(keys, ix.at(c, column));
  const float scale = static_cast<float>(attention.getScale().convertToDouble());
  const bool causal = attention.getCausal();
  auto score = [&](Expr key) {
    Expr s = call(scores, ix.at(i, key)) * scale;
    return causal ? Halide::select(key > i, Expr(-std::numeric_limits<float>::infinity()), s)
                  : s;
  };

  std::vector<Var> rowVars(vars.begin(), vars.end() - 1);
  std::vector<Expr> rowIdx(idx.begin(), idx.end() - 1);
  Func rowMax("attention_row_max_" + tag), rowSum("attention_row_sum_" + tag);
  define(rowMax, rowVars, Halide::maximum(score(j)));
  define(rowSum, rowVars,
         Halide::sum(Halide::cast<double>(exponential(score(j) - call(rowMax, rowIdx)))));
  Func weights("attention_weights_" + tag);
  define(weights, vars,
         exponential(score(column) - call(rowMax, rowIdx)) /
             Halide::cast<float>(call(rowSum, rowIdx)));

  Func acc("attention_" + tag);
  define(acc, vars, Expr(0.0f));
  ref(acc, idx) += call(weights, ix.at(i, j)) * v.at(ix.at(j, column));
  define(out.func, vars, call(acc, idx));

  RootFunc fused =
      tileRoot(RootFunc::Kind::Attention, acc, scores, c, j,
               q.shape[r - 2] == shape::kBatch ? 0 : static_cast<int>(q.shape[r - 2]));
  fused.rowMax = rowMax;
  fused.rowSum = rowSum;
  fused.weights = weights;
  rootFuncs.push_back(fused);
  if (out.shape.back() != shape::kBatch)
    rowWidths[acc.name()] = static_cast<int>(out.shape.back());
  return success();
}


/// The gradient as four kernels that never store a head's [L, S] weights:
/// the row statistics (max, sum of exponentials) a tile of query rows at a
/// time; dq = ds k a tile of query rows at a time; dv = pᵀ dy and
/// dk = dsᵀ q a tile of key rows at a time, each recomputing its tile of
/// scores (and of dp = dy vᵀ) from the operands. The weights are the
/// forward's: exp(score - max) / sum; ds = p (dp - D) · scale with
/// D = sum_f dy y per query row.
LogicalResult OpLowering::lowerAttentionGrad(AttentionGradOp op, ArrayRef<HTensor> in,
                                             std::vector<HTensor> &results) {
  const HTensor &q = in[0], &k = in[1], &v = in[2], &y = in[3], &dy = in[4];
  const int r = q.rank();
  const std::string tag = std::to_string(counter++);
  std::vector<Var> vars = makeVars(r);
  std::vector<Expr> idx = asExprs(vars);
  std::vector<Var> rowVars(vars.begin(), vars.end() - 1);
  std::vector<Expr> rowIdx(idx.begin(), idx.end() - 1);
  const AttentionIndex ix{std::vector<Expr>(idx.begin(), idx.end() - 2)};
  const Expr a = idx[r - 2], b = idx[r - 1]; // a tile's (row, column)
  const Expr queries = q.extents[r - 2], keyRows = k.extents[r - 2];
  const float scale = static_cast<float>(op.getScale().convertToDouble());
  const bool causal = op.getCausal();
  const auto minusInf = Expr(-std::numeric_limits<float>::infinity());
  auto staticRows = [&](const HTensor &t) {
    return t.shape[r - 2] == shape::kBatch ? 0 : static_cast<int>(t.shape[r - 2]);
  };
  // t transposed in its last two dimensions, stored: the dot products'
  // vectors run along t's rows.
  auto transposed = [&](const HTensor &t, const std::string &name) {
    Func f("attention_grad_" + name + "_t_" + tag);
    define(f, vars, t.at(ix.at(b, a)));
    root(f, RootFunc::Kind::Copy);
    if (t.shape[r - 2] != shape::kBatch)
      rowWidths[f.name()] = static_cast<int>(t.shape[r - 2]);
    return f;
  };
  // A tile of dot products: dot(b..., row, column) = sum over `range` of
  // lhs row `row` (clamped to its `rows`: rounded-up tiles repeat the last
  // row) times column `column` of the transposed rhs.
  auto dotTile = [&](const std::string &name, const HTensor &lhs, Expr rows, Func &rhsT,
                     RDom range) {
    Func f("attention_grad_" + name + "_" + tag);
    define(f, vars, Expr(0.0f));
    ref(f, idx) += lhs.at(ix.at(Halide::min(a, rows - 1), range)) * call(rhsT, ix.at(range, b));
    return f;
  };
  // The masked, scaled score of query `i` and key `j` from a dot product.
  auto masked = [&](Expr dot, Expr i, Expr j) {
    Expr s = dot * scale;
    return causal ? Halide::select(j > i, minusInf, s) : s;
  };

  // Row statistics, as the forward computes them.
  Func kT = transposed(k, "k");
  RDom c(0, q.extents[r - 1], "c"), j(0, keyRows, "j");
  if (causal)
    skipMaskedBlocks(j, a, /*keysOfQueries=*/true);
  Func statScores = dotTile("stat_scores", q, queries, kT, c);
  auto statScore = [&](Expr key) { return masked(call(statScores, ix.at(a, key)), a, key); };
  Func rowMax("attention_grad_row_max_" + tag), rowSum("attention_grad_row_sum_" + tag);
  define(rowMax, rowVars, Halide::maximum(statScore(j)));
  define(rowSum, rowVars,
         Halide::sum(Halide::cast<double>(exponential(statScore(j) - call(rowMax, rowIdx)))));
  Func stats("attention_grad_stats_" + tag);
  stats(std::vector<Var>(rowVars.rbegin(), rowVars.rend())) =
      Halide::Tuple(call(rowMax, rowIdx), call(rowSum, rowIdx));
  RootFunc statsRoot =
      tileRoot(RootFunc::Kind::AttentionStats, stats, statScores, c, j, staticRows(q));
  statsRoot.rowMax = rowMax;
  statsRoot.rowSum = rowSum;
  rootFuncs.push_back(statsRoot);
  // The weight of a (masked, scaled) score of query row i.
  auto weight = [&](Expr score, Expr i) {
    std::vector<Expr> at = ix.atRow(Halide::min(i, queries - 1));
    std::reverse(at.begin(), at.end());
    return exponential(score - stats(at)[0]) / Halide::cast<float>(stats(at)[1]);
  };

  // D = sum_f dy y per query row (in double, as the row sums).
  RDom fr(0, v.extents[r - 1], "f");
  Func rowDot("attention_grad_row_dot_" + tag);
  define(rowDot, rowVars,
         Halide::cast<float>(Halide::sum(Halide::cast<double>(
             dy.at(ix.at(a, fr)) * y.at(ix.at(a, fr))))));
  root(rowDot, RootFunc::Kind::Reduction);
  auto dOf = [&](Expr i) { return call(rowDot, ix.atRow(Halide::min(i, queries - 1))); };

  auto attentionRoot = [&](Func acc, Func scores, RDom featureRange, Func weights,
                           RDom keyRange, int rows, HTensor &out,
                           std::vector<std::pair<Func, RDom>> dots) {
    define(out.func, vars, call(acc, idx));
    RootFunc fused =
        tileRoot(RootFunc::Kind::Attention, acc, scores, featureRange, keyRange, rows);
    fused.weights = weights;
    fused.dots = std::move(dots);
    rootFuncs.push_back(fused);
    if (out.shape.back() != shape::kBatch)
      rowWidths[acc.name()] = static_cast<int>(out.shape.back());
  };

  // dq, a tile of query rows a at a time: ds(a, j) k(j, :) over the keys.
  {
    Func vT = transposed(v, "v");
    RDom cq(0, q.extents[r - 1], "c"), fq(0, v.extents[r - 1], "f");
    Func scores = dotTile("q_scores", q, queries, kT, cq);
    Func dp = dotTile("q_dp", dy, queries, vT, fq);
    Func ds("attention_grad_q_ds_" + tag);
    Expr p = weight(masked(call(scores, idx), a, b), a);
    define(ds, vars, p * (call(dp, idx) - dOf(a)) * scale);
    RDom jq(0, keyRows, "j");
    if (causal)
      skipMaskedBlocks(jq, a, /*keysOfQueries=*/true);
    Func acc("attention_grad_dq_" + tag);
    define(acc, vars, Expr(0.0f));
    ref(acc, idx) += call(ds, ix.at(a, jq)) * k.at(ix.at(jq, b));
    attentionRoot(acc, scores, cq, ds, jq, staticRows(q), results[0], {{dp, fq}});
  }
  // dk and dv, a tile of key rows a at a time, over the queries i: the
  // transposed scores score(i, a) = k(a, :) · q(i, :).
  Func qT = transposed(q, "q");
  {
    RDom cv(0, q.extents[r - 1], "c"), iv(0, queries, "i");
    if (causal)
      skipMaskedBlocks(iv, a, /*keysOfQueries=*/false);
    Func scores = dotTile("v_scores", k, keyRows, qT, cv);
    Func p("attention_grad_v_p_" + tag);
    define(p, vars, weight(masked(call(scores, idx), b, a), b));
    Func acc("attention_grad_dv_" + tag);
    define(acc, vars, Expr(0.0f));
    ref(acc, idx) += call(p, ix.at(a, iv)) * dy.at(ix.at(iv, b));
    attentionRoot(acc, scores, cv, p, iv, staticRows(k), results[2], {});
  }
  {
    Func dyT = transposed(dy, "dy");
    RDom ck(0, q.extents[r - 1], "c"), fk(0, v.extents[r - 1], "f"), ik(0, queries, "i");
    if (causal)
      skipMaskedBlocks(ik, a, /*keysOfQueries=*/false);
    Func scores = dotTile("k_scores", k, keyRows, qT, ck);
    Func dp = dotTile("k_dp", v, keyRows, dyT, fk);
    Func ds("attention_grad_k_ds_" + tag);
    Expr p = weight(masked(call(scores, idx), b, a), b);
    define(ds, vars, p * (call(dp, idx) - dOf(b)) * scale);
    Func acc("attention_grad_dk_" + tag);
    define(acc, vars, Expr(0.0f));
    ref(acc, idx) += call(ds, ix.at(a, ik)) * q.at(ix.at(ik, b));
    attentionRoot(acc, scores, ck, ds, ik, staticRows(k), results[1], {{dp, fk}});
  }
  return success();
}

} // namespace firn::codegen
