//===- Attention.cpp - MultiheadAttention's declaration -------------------===//
//
// nn.MultiheadAttention(embed_dim, num_heads, batch_first=True): its
// arguments and parameters. Its call is a composite (in-projection, scaled
// dot-product attention per head, out-projection) that SemaAttention.cpp
// types and MLIRGen.cpp writes out in primitive ops; it gives (output,
// weights), unpacked by `y, w = attn(q, k, v)`.
//
//===----------------------------------------------------------------------===//
#include "Attention.h"
#include "LayerKind.h"

#include <cmath>

namespace firn {
namespace {

bool declareMultiheadAttention(LayerDeclaration &d) {
  MultiheadAttentionOptions o;
  if (!d.positive("embed_dim", o.embedDim) || !d.positive("num_heads", o.heads) ||
      !d.flag("bias", o.bias))
    return false;
  if (o.embedDim % o.heads != 0)
    return d.error(d.get("num_heads")->loc,
                   "embed_dim must be divisible by num_heads, as in PyTorch: " +
                       std::to_string(o.embedDim) + " is not a multiple of " +
                       std::to_string(o.heads));
  // firn puts the batch first: only batch_first=true fits, and what it does
  // not implement is refused rather than ignored.
  bool batchFirst = false;
  if (!d.flag("batch_first", batchFirst))
    return false;
  if (!batchFirst)
    return d.error(d.has("batch_first") ? d.get("batch_first")->loc : d.kindLoc,
                   "'MultiheadAttention' needs batch_first=true: firn's batch "
                   "dimension comes first ([N, L, E])");
  if (!d.dropoutProbability("dropout", o.dropout)) // PyTorch's default: 0
    return false;
  for (const char *flag : {"add_bias_kv", "add_zero_attn"})
    if (!d.refuseFlag(flag, " is not supported"))
      return false;
  for (const char *dim : {"kdim", "vdim"}) {
    const ast::Expr *given = d.get(dim);
    if (!given || isNone(given))
      continue;
    auto value = readInt(given, d.arg(dim), d.diags);
    if (!value)
      return false;
    if (*value != o.embedDim)
      return d.error(given->loc, d.arg(dim) + " must be embed_dim (" +
                                     std::to_string(o.embedDim) +
                                     "): keys and values of another size are not "
                                     "supported yet");
  }
  const int64_t e = o.embedDim;
  d.setOptions(o);
  d.addParam("in_proj_weight", {3 * e, e});
  if (o.bias)
    d.addParam("in_proj_bias", {3 * e});
  d.addParam("out_proj.weight", {e, e});
  if (o.bias)
    d.addParam("out_proj.bias", {e});
  return true;
}

/// _reset_parameters: xavier_uniform_ on in_proj_weight [3E, E], zero
/// biases; out_proj keeps its Linear's U(-1/sqrt(E), 1/sqrt(E)) weight.
void initMultiheadAttention(const Layer &layer, const std::string &role, Parameter &param) {
  const double e = static_cast<double>(layer.optionsAs<MultiheadAttentionOptions>().embedDim);
  if (role == "in_proj_bias" || role == "out_proj.bias") {
    param.init = ParamInit::Constant;
    param.values = {0.0};
    return;
  }
  param.init = ParamInit::Uniform;
  param.bound = role == "in_proj_weight" ? std::sqrt(6.0 / (4.0 * e)) : 1.0 / std::sqrt(e);
}

} // namespace

void addAttentionLayers(std::vector<LayerKind> &table) {
  LayerKind kind{"MultiheadAttention",
                 {"MultiheadAttention",
                  {{"embed_dim", true}, {"num_heads", true}, {"dropout"}, {"bias"},
                   {"add_bias_kv"}, {"add_zero_attn"}, {"kdim"}, {"vdim"}, {"batch_first"},
                   {"requires_grad"}},
                  9},
                 declareMultiheadAttention, initMultiheadAttention, nullptr, nullptr};
  kind.attention = true;
  table.push_back(kind);
}

} // namespace firn
