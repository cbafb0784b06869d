//===- SemaAttention.cpp - Attention: the function and the layer ----------===//
//
// F.scaled_dot_product_attention(q, k, v, ...) and the calls of an
// nn.MultiheadAttention layer, which give (attn_output, attn_output_weights)
// and are unpacked (`y, w = attn(q, k, v)`). Both resolve to
// Program::Attention, which IR generation writes out in primitive ops.
//
//===----------------------------------------------------------------------===//
#include "Layers/Attention.h"
#include "Sema.h"

#include <algorithm>
#include <cmath>

namespace firn {

std::optional<ValueType> Sema::attentionType(const ast::Expr &call,
                                             const std::vector<ValueType> &args,
                                             const BoundArgs &bound) {
  const ValueType &q = args[0], &k = args[1], &v = args[2];
  const char *roles[] = {"query", "key", "value"};
  for (int i = 0; i < 3; ++i)
    if (!requireFloat(*bound.get(roles[i]), args[i],
                      "'scaled_dot_product_attention' " + std::string(roles[i])))
      return std::nullopt;
  auto fail = [&](const std::string &message) -> std::optional<ValueType> {
    diags.error(call.loc, "shape mismatch in 'scaled_dot_product_attention': " + message);
    return std::nullopt;
  };
  const size_t r = q.shape.size();
  if (r < 2 || k.shape.size() != r || v.shape.size() != r ||
      !std::equal(q.shape.begin(), q.shape.end() - 2, k.shape.begin()) ||
      !std::equal(q.shape.begin(), q.shape.end() - 2, v.shape.begin()))
    return fail("query, key and value must have the same leading dimensions, got " +
                str(q) + ", " + str(k) + " and " + str(v));
  if (q.shape[r - 1] != k.shape[r - 1] || k.shape[r - 2] != v.shape[r - 2] ||
      shape::hasBatch({q.shape[r - 2], q.shape[r - 1], k.shape[r - 2], v.shape[r - 1]}))
    return fail("expected query [..., L, E], key [..., S, E] and value [..., S, Ev] "
                "with static L, S, E, Ev, got " + str(q) + ", " + str(k) + " and " + str(v));
  Program::Attention attention;
  if (args.size() == 4) {
    // attn_mask: a mask (true: the position takes part) or f32 scores added,
    // broadcast to the [..., L, S] scores.
    const ValueType &mask = args[3];
    shape::Shape scores(q.shape.begin(), q.shape.end() - 1);
    scores.push_back(k.shape[r - 2]);
    shape::Inferred joined = shape::broadcast(mask.shape, scores);
    if (mask.dtype == ast::DType::I64 || !joined.ok() || joined.shape != scores) {
      diags.error(bound.get("attn_mask")->loc,
                  "'scaled_dot_product_attention' attn_mask must be a mask or an f32 "
                  "tensor that broadcasts to the scores " +
                      str(ValueType{ast::DType::F32, scores}) +
                  ", got " + str(mask));
      return std::nullopt;
    }
    attention.mask = mask.dtype == ast::DType::Bool ? Program::Attention::Mask::Bool
                                                    : Program::Attention::Mask::Added;
  }
  if (const ast::Expr *p = bound.get("dropout_p")) {
    auto value = readDropoutProbability(p, "'scaled_dot_product_attention' dropout_p", diags);
    if (!value)
      return std::nullopt;
    attention.dropout = *value;
  }
  if (const ast::Expr *causal = bound.get("is_causal")) {
    auto value = readBool(causal, "'scaled_dot_product_attention' is_causal", diags);
    if (!value)
      return std::nullopt;
    attention.causal = *value;
    if (attention.causal && attention.mask != Program::Attention::Mask::None) {
      // As PyTorch: "Explicit attn_mask should not be set when is_causal=True".
      diags.error(causal->loc, "'scaled_dot_product_attention' takes attn_mask or "
                               "is_causal=true, not both");
      return std::nullopt;
    }
  }
  attention.scale = 1.0 / std::sqrt(static_cast<double>(q.shape[r - 1]));
  if (const ast::Expr *scale = bound.get("scale");
      scale && !isNone(scale)) {
    auto value = readNumber(scale, "'scaled_dot_product_attention' scale", diags);
    if (!value)
      return std::nullopt;
    attention.scale = *value;
  }
  program.attentions[&call] = attention;
  shape::Shape out(q.shape.begin(), q.shape.end() - 1);
  out.push_back(v.shape[r - 1]);
  return ValueType{ast::DType::F32, out};
}

std::optional<std::vector<ValueType>>
Sema::multiheadAttentionTypes(const ast::Stmt &stmt, const Layer &layer, Scope &scope) {
  const ast::Expr &call = *stmt.value;
  // nn.MultiheadAttention.forward, in PyTorch's order.
  Signature sig{call.name,
                {{"query", true}, {"key", true}, {"value", true}, {"key_padding_mask"},
                 {"need_weights"}, {"attn_mask"}, {"average_attn_weights"}, {"is_causal"}},
                8};
  auto bound = bindArgs(sig, call.args, call.loc, diags);
  if (!bound)
    return std::nullopt;
  if (stmt.targets.size() != 2) {
    diags.error(stmt.targetLocs[0], "'" + call.name + "' gives two values (attn_output, "
                                    "attn_output_weights), but " +
                                        std::to_string(stmt.targets.size()) +
                                        " names are assigned");
    return std::nullopt;
  }
  ValueType qkv[3];
  const char *roles[] = {"query", "key", "value"};
  for (int i = 0; i < 3; ++i) {
    const ast::Expr *expr = bound->get(roles[i]);
    auto type = typeOf(*expr, scope, /*inLoss=*/false);
    if (!type || !requireFloat(*expr, *type, "'" + call.name + "' " + roles[i]))
      return std::nullopt;
    qkv[i] = *type;
  }
  const ValueType &q = qkv[0], &k = qkv[1], &v = qkv[2];
  const auto &o = layer.optionsAs<MultiheadAttentionOptions>();
  const int64_t e = o.embedDim;
  auto batched = [&](const ValueType &t) {
    return t.shape.size() == 3 && t.shape[0] == shape::kBatch && t.shape[1] != shape::kBatch &&
           t.shape[2] == e;
  };
  if (!batched(q) || !batched(k) || !batched(v) || k.shape[1] != v.shape[1]) {
    diags.error(call.loc, "shape mismatch in '" + call.name +
                              "': MultiheadAttention(" + std::to_string(e) +
                              ", batch_first=true) takes query [N, L, " + std::to_string(e) +
                              "], key and value [N, S, " + std::to_string(e) + "], got " +
                              str(q) + ", " + str(k) + " and " + str(v));
    return std::nullopt;
  }
  const int64_t l = q.shape[1], s = k.shape[1];
  Program::Attention attention;
  attention.scale = 1.0 / std::sqrt(static_cast<double>(e / o.heads));
  if (const ast::Expr *padding = bound->get("key_padding_mask"); padding && !isNone(padding)) {
    // A bool mask (true: a padding key, not attended) or f32 scores added,
    // [N, S]: one row of keys per sample.
    auto mask = typeOf(*padding, scope, /*inLoss=*/false);
    if (!mask)
      return std::nullopt;
    if (mask->dtype == ast::DType::I64 || mask->shape != shape::Shape{shape::kBatch, s}) {
      diags.error(padding->loc, "'" + call.name + "' key_padding_mask must be a mask or an "
                                                 "f32 tensor of shape [N, " +
                                    std::to_string(s) + "] (N, S), got " + str(*mask));
      return std::nullopt;
    }
    attention.paddingMask = mask->dtype == ast::DType::Bool ? Program::Attention::Mask::Blocked
                                                            : Program::Attention::Mask::Added;
  }
  if (const ast::Expr *causal = bound->get("is_causal")) {
    auto value = readBool(causal, "'" + call.name + "' is_causal", diags);
    if (!value)
      return std::nullopt;
    if (*value) {
      diags.error(causal->loc, "'" + call.name + "' is_causal is only a hint in PyTorch; "
                                                "give the causal mask as attn_mask (true "
                                                "above the diagonal: triu(ones(L, L), "
                                                "diagonal=1) == 1)");
      return std::nullopt;
    }
  }
  if (const ast::Expr *maskExpr = bound->get("attn_mask"); maskExpr && !isNone(maskExpr)) {
    // A bool mask (true: not attended) or f32 scores added, [L, S].
    auto mask = typeOf(*maskExpr, scope, /*inLoss=*/false);
    if (!mask)
      return std::nullopt;
    if (mask->dtype == ast::DType::I64 || mask->shape != shape::Shape{l, s}) {
      diags.error(maskExpr->loc, "'" + call.name + "' attn_mask must be a mask or an f32 "
                                                  "tensor of shape [" + std::to_string(l) +
                                     ", " + std::to_string(s) + "] (L, S), got " + str(*mask));
      return std::nullopt;
    }
    attention.mask = mask->dtype == ast::DType::Bool ? Program::Attention::Mask::Blocked
                                                     : Program::Attention::Mask::Added;
  }
  if (attention.paddingMask == Program::Attention::Mask::Added &&
      attention.mask != Program::Attention::Mask::None) {
    // PyTorch 1.13 merges the two with logical_or (a bool attn_mask: any
    // nonzero score then blocks) or masked_fill (an f32 one: an error).
    diags.error(bound->get("key_padding_mask")->loc,
                "'" + call.name + "' takes an f32 key_padding_mask only without attn_mask "
                                  "(PyTorch does not add the two); give a mask instead");
    return std::nullopt;
  }
  for (auto [param, flag] : {std::pair{"need_weights", &attention.needWeights},
                             std::pair{"average_attn_weights", &attention.averageWeights}})
    if (const ast::Expr *expr = bound->get(param)) {
      auto value = readBool(expr, "'" + call.name + "' " + param, diags);
      if (!value)
        return std::nullopt;
      *flag = *value;
    }
  if (!attention.needWeights && stmt.targets[1] != "_") {
    diags.error(stmt.targetLocs[1], "with need_weights=false the weights are None; "
                                    "unpack them into _");
    return std::nullopt;
  }
  attention.dropout = o.dropout; // MultiheadAttention(dropout=)
  program.attentions[&call] = attention;
  program.layerCalls[&call] = static_cast<size_t>(&layer - &program.layers[0]);
  std::vector<ValueType> types = {q, {ast::DType::F32, {shape::kBatch, l, s}}};
  if (!attention.averageWeights)
    types[1].shape = {shape::kBatch, o.heads, l, s};
  program.tupleTypes[&call] = types;
  return types;
}

} // namespace firn
