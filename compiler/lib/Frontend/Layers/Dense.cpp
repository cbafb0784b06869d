//===- Dense.cpp - Layers that multiply or index a weight matrix ----------===//
//
// Linear (x Wᵀ + b over the last dimension of [N, *, in]) and Embedding
// (rows of its weight picked by i64 indices).
//
//===----------------------------------------------------------------------===//
#include "LayerKind.h"

#include "firn/Dialect/FirnOps.h"

namespace firn {
namespace {

struct LinearOptions : LayerOptions {
  int64_t in = 0, out = 0;
  bool bias = true;
};

bool declareLinear(LayerDeclaration &d) {
  LinearOptions o;
  if (!d.positive("in_features", o.in) || !d.positive("out_features", o.out) ||
      !d.flag("bias", o.bias))
    return false;
  d.setOptions(o);
  d.addParam("weight", {o.out, o.in});
  if (o.bias)
    d.addParam("bias", {o.out});
  return true;
}

void initLinear(const Layer &layer, const std::string &, Parameter &param) {
  uniformFanIn(param, static_cast<double>(layer.optionsAs<LinearOptions>().in));
}

shape::Inferred linearShape(const Layer &layer, const Program &program,
                            const shape::Shape &input) {
  return shape::linear(input, *paramShape(program, layer, "weight"),
                       paramShape(program, layer, "bias"));
}

mlir::Value emitLinear(LayerEmitter &e, const Layer &layer, mlir::Value input,
                       mlir::RankedTensorType type, mlir::Location loc) {
  mlir::Value weight = e.readParam(layer, "weight", loc);
  mlir::Value bias = e.readParam(layer, "bias", loc);
  return e.opBuilder().create<LinearOp>(loc, type, input, weight, bias);
}

struct EmbeddingOptions : LayerOptions {
  int64_t num = 0, dim = 0;
  std::optional<int64_t> paddingIdx; ///< Non-negative.
};

bool declareEmbedding(LayerDeclaration &d) {
  EmbeddingOptions o;
  if (!d.positive("num_embeddings", o.num) || !d.positive("embedding_dim", o.dim))
    return false;
  if (const ast::Expr *padding = d.get("padding_idx"); padding && !isNone(padding)) {
    // PyTorch: an index in [-num, num); a negative one counts from the end.
    auto p = readInt(padding, d.arg("padding_idx"), d.diags);
    if (!p)
      return false;
    if (*p < -o.num || *p >= o.num)
      return d.error(padding->loc, d.arg("padding_idx") + " must be within "
                                       "num_embeddings (in [" +
                                       std::to_string(-o.num) + ", " +
                                       std::to_string(o.num) + "))");
    o.paddingIdx = *p < 0 ? *p + o.num : *p;
  }
  // What firn does not implement is refused, not ignored.
  if (const ast::Expr *maxNorm = d.get("max_norm"); maxNorm && !isNone(maxNorm))
    return d.error(maxNorm->loc, d.arg("max_norm") + " must be None: firn does "
                                                     "not renormalize embeddings");
  for (const char *flag : {"scale_grad_by_freq", "sparse"})
    if (!d.refuseFlag(flag, " must be False: not supported by firn"))
      return false;
  double normType = 2.0;
  if (!d.number("norm_type", normType))
    return false;
  d.setOptions(o);
  d.addParam("weight", {o.num, o.dim});
  return true;
}

/// N(0, 1), the padding row zeroed.
void initEmbedding(const Layer &layer, const std::string &, Parameter &param) {
  param.init = ParamInit::Normal;
  param.bound = 1.0;
  param.zeroRow = layer.optionsAs<EmbeddingOptions>().paddingIdx;
}

/// Integer indices of any shape -> their shape + [embedding_dim].
shape::Inferred embeddingShape(const Layer &layer, const Program &,
                               const shape::Shape &input) {
  shape::Shape shape = input;
  shape.push_back(layer.optionsAs<EmbeddingOptions>().dim);
  return {shape, ""};
}

mlir::Value emitEmbedding(LayerEmitter &e, const Layer &layer, mlir::Value input,
                          mlir::RankedTensorType type, mlir::Location loc) {
  mlir::OpBuilder &b = e.opBuilder();
  const auto &o = layer.optionsAs<EmbeddingOptions>();
  return b.create<EmbeddingOp>(loc, type, e.readParam(layer, "weight", loc), input,
                               o.paddingIdx ? b.getI64IntegerAttr(*o.paddingIdx)
                                            : mlir::IntegerAttr());
}

} // namespace

void addDenseLayers(std::vector<LayerKind> &table) {
  // `requires_grad` is firn's addition: keyword-only, on every layer.
  table.push_back({"Linear",
                   {"Linear",
                    {{"in_features", true}, {"out_features", true}, {"bias"},
                     {"requires_grad"}},
                    3},
                   declareLinear, initLinear, linearShape, emitLinear});
  table.push_back({"Embedding",
                   {"Embedding",
                    {{"num_embeddings", true}, {"embedding_dim", true}, {"padding_idx"},
                     {"max_norm"}, {"norm_type"}, {"scale_grad_by_freq"}, {"sparse"},
                     {"requires_grad"}},
                    7},
                   declareEmbedding, initEmbedding, embeddingShape, emitEmbedding,
                   ast::DType::I64});
}

} // namespace firn
