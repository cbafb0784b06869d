//===- SemaExpr.cpp - Types of forward and loss expressions ---------------===//
//
// Infers the type of every expression with the same ShapeRules the dialect's
// verifiers use, so that a shape error is reported at the DSL line that
// causes it, naming both shapes, instead of as an invalid op later.
//
//===----------------------------------------------------------------------===//
#include "ElementwiseFunctions.h"
#include "Layers/LayerKind.h"
#include "Sema.h"

#include <algorithm>
#include <numeric>
#include <cctype>
#include <cmath>

namespace firn {

namespace {
/// Builtin functions of expressions: the elementwise functions
/// (ElementwiseFunctions.h), then the rest; the last two only in the loss.
const std::vector<std::string> &builtinNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const ElementwiseFunction &f : elementwiseFunctions())
      if (f.builtin && std::find(all.begin(), all.end(), f.builtin) == all.end())
        all.push_back(f.builtin);
    for (const char *name : {"flatten", "reshape", "sum", "mean", "softmax",
                             "log_softmax", "matmul", "transpose", "permute",
                             "clamp",
                             "scaled_dot_product_attention", "narrow", "cat",
                             "unsqueeze", "squeeze", "split", "chunk",
                             "where", "masked_fill", "logical_not", "tril",
                             "triu", "ones", "zeros",
                             "mse", "cross_entropy", "l1_loss",
                             "nll_loss", "binary_cross_entropy_with_logits",
                             "binary_cross_entropy", "smooth_l1_loss",
                             "huber_loss", "kl_div"})
      all.push_back(name);
    return all;
  }();
  return names;
}

/// The losses (only in the train block's `loss`): input, target, reduction.
bool isLoss(const std::string &name) {
  return name == "mse" || name == "cross_entropy" || name == "l1_loss" ||
         name == "nll_loss" || name == "binary_cross_entropy_with_logits" ||
         name == "binary_cross_entropy" || name == "smooth_l1_loss" ||
         name == "huber_loss" || name == "kl_div";
}

/// The losses computed elementwise against a float target of the input's
/// shape, then reduced.
bool isElementwiseLoss(const std::string &name) {
  return name == "mse" || name == "l1_loss" ||
         name == "binary_cross_entropy_with_logits" ||
         name == "binary_cross_entropy" || name == "smooth_l1_loss" ||
         name == "huber_loss" || name == "kl_div";
}

/// A loss's own argument after input, target and reduction (PyTorch's name),
/// if it has one.
const char *lossParameter(const std::string &name) {
  if (name == "smooth_l1_loss")
    return "beta";
  if (name == "huber_loss")
    return "delta";
  if (name == "kl_div")
    return "log_target";
  return nullptr;
}

bool isElementwiseBuiltin(const std::string &name) {
  for (const ElementwiseFunction &f : elementwiseFunctions())
    if (f.builtin && name == f.builtin)
      return true;
  return false;
}

Signature builtinSignature(const std::string &name) {
  if (isElementwiseBuiltin(name) && !approximateChoices(name).empty())
    return {name, {{"input", true}, {"approximate"}}, 1};
  if (const ElementwiseFunction *f = findElementwiseBuiltin(name, "");
      f && f->parameter)
    return {name, {{"input", true}, {f->parameter, f->parameterRequired}}, 2};
  if (name == "reshape")
    return {name, {{"input", true}, {"shape", true}}};
  if (name == "softmax" || name == "log_softmax")
    return {name, {{"input", true}, {"dim", true}}};
  if (name == "matmul")
    return {name, {{"input", true}, {"other", true}}};
  if (name == "scaled_dot_product_attention")
    return {name,
            {{"query", true}, {"key", true}, {"value", true}, {"attn_mask"},
             {"dropout_p"}, {"is_causal"}, {"scale"}},
            7};
  if (name == "transpose")
    return {name, {{"input", true}, {"dim0", true}, {"dim1", true}}};
  if (name == "permute")
    return {name, {{"input", true}, {"dims", true}}};
  if (name == "clamp")
    return {name, {{"input", true}, {"min"}, {"max"}}, 3};
  if (name == "narrow")
    return {name, {{"input", true}, {"dim", true}, {"start", true}, {"length", true}}};
  if (name == "unsqueeze" || name == "squeeze")
    return {name, {{"input", true}, {"dim", true}}};
  if (name == "cat")
    return {name, {{"tensors", true}, {"dim"}}, 2};
  if (name == "sum" || name == "mean")
    return {name, {{"input", true}, {"dim"}, {"keepdim"}}, 3};
  if (name == "cross_entropy")
    return {name,
            {{"input", true}, {"target", true}, {"reduction"}, {"weight"},
             {"ignore_index"}, {"label_smoothing"}},
            2};
  if (isLoss(name)) {
    if (const char *own = lossParameter(name))
      return {name, {{"input", true}, {"target", true}, {"reduction"}, {own}}, 2};
    return {name, {{"input", true}, {"target", true}, {"reduction"}}, 2};
  }
  return {name, {{"input", true}}};
}
} // namespace

std::string str(const ValueType &type) {
  std::string s = shape::str(type.shape);
  switch (type.dtype) {
  case ast::DType::F32:
    return "f32" + s;
  case ast::DType::I64:
    return "i64" + s;
  case ast::DType::Bool:
    return "bool" + s;
  }
  return s;
}

namespace {
/// Halide, without its large_buffers feature, addresses a buffer with 32-bit
/// signed offsets: every allocation holds at most 2^31 - 1 bytes ("Total
/// size for allocation ... exceeds 2^31 - 1" at compile time, a failed
/// bounds check at run time).
constexpr int64_t kMaxTensorBytes = 2147483647;

/// Bytes of one sample of `type` (the batch dimension counted once), or
/// nothing when that overflows 64 bits.
std::optional<int64_t> bytesPerSample(const ValueType &type) {
  int64_t bytes = type.dtype == ast::DType::I64 ? 8 : 4; // a mask is f32 0/1
  for (int64_t dim : type.shape)
    if (dim != shape::kBatch && __builtin_mul_overflow(bytes, dim, &bytes))
      return std::nullopt;
  return bytes;
}
} // namespace

bool Sema::checkSize(const ValueType &type, SourceLocation loc,
                     const std::string &what) {
  std::optional<int64_t> bytes = bytesPerSample(type);
  if (bytes && *bytes <= kMaxTensorBytes)
    return true;
  const char *perSample = shape::hasBatch(type.shape) ? " per sample" : "";
  diags.error(loc, what + " is too large: " +
                       (bytes ? std::to_string(*bytes)
                              : "more than " + std::to_string(INT64_MAX)) +
                       " bytes" + perSample + "; a tensor may hold at most " +
                       std::to_string(kMaxTensorBytes) +
                       " bytes (2 GiB), the most Halide can index");
  return false;
}

bool Sema::checkLayerSizes(const Layer &layer) {
  // In declaration order (the weight is the one to name), from the layer's
  // own indices: scanning every parameter per layer is quadratic.
  std::vector<size_t> params, buffers;
  for (const auto &[role, index] : layer.params)
    params.push_back(index);
  for (const auto &[role, index] : layer.buffers)
    buffers.push_back(index);
  std::sort(params.begin(), params.end());
  std::sort(buffers.begin(), buffers.end());
  auto check = [&](const std::string &kind, const std::string &name,
                   const shape::Shape &shape) {
    ValueType type{ast::DType::F32, shape};
    return checkSize(type, layer.loc, kind + " '" + name + "' " + str(type));
  };
  for (size_t index : params)
    if (!check("parameter", program.params[index].name,
               program.params[index].shape))
      return false;
  for (size_t index : buffers)
    if (!check("buffer", program.buffers[index].name,
               program.buffers[index].shape))
      return false;
  return true;
}

std::optional<ValueType> Sema::checkType(const ast::TensorTypeNode &node) {
  ValueType type;
  type.dtype = node.dtype;
  for (size_t i = 0; i < node.dims.size(); ++i) {
    const ast::Dim &dim = node.dims[i];
    if (dim.size) {
      if (*dim.size <= 0) {
        diags.error(dim.loc, "dimension sizes must be positive, got " +
                                 std::to_string(*dim.size));
        return std::nullopt;
      }
      type.shape.push_back(*dim.size);
      continue;
    }
    if (i != 0) {
      diags.error(dim.loc, "the batch dimension '" + dim.batchName +
                               "' must be the first dimension");
      return std::nullopt;
    }
    if (batchName.empty()) {
      batchName = dim.batchName;
      batchNameLoc = dim.loc;
    } else if (dim.batchName != batchName) {
      diags.error(dim.loc, "the batch dimension is called '" + batchName +
                               "' (first at " +
                               std::to_string(batchNameLoc.line) + ":" +
                               std::to_string(batchNameLoc.column) +
                               "); there is only one, got '" + dim.batchName +
                               "'");
      return std::nullopt;
    }
    type.shape.push_back(shape::kBatch);
  }
  if (!checkSize(type, node.loc, "tensor " + str(type)))
    return std::nullopt;
  return type;
}

bool Sema::requireFloat(const ast::Expr &expr, const ValueType &type,
                        const std::string &what) {
  if (type.dtype == ast::DType::F32)
    return true;
  diags.error(expr.loc, what + " needs an f32 tensor, got " + str(type) +
                            (type.dtype == ast::DType::Bool
                                 ? " (a comparison's mask: where(mask, a, b) or "
                                   "masked_fill(x, mask, value) take it)"
                                 : ""));
  return false;
}

std::optional<ValueType> Sema::typeOfLayerCall(const ast::Expr &call,
                                               const Layer &layer,
                                               const ValueType &input) {
  if (layer.isSequential()) { // Its first layer checks the input.
    std::vector<ValueType> types;
    ValueType current = input;
    for (size_t child : layer.children) {
      auto next = typeOfLayerCall(call, program.layers[child], current);
      if (!next)
        return std::nullopt;
      types.push_back(*next);
      current = *next;
    }
    program.sequenceTypes[&call] = types;
    return current;
  }
  if (layer.kind->takes == ast::DType::I64 && input.dtype != ast::DType::I64) {
    diags.error(call.loc, std::string(layer.kind->kind) + " '" + layer.name +
                              "' takes i64 indices (token ids), got " + str(input));
    return std::nullopt;
  }
  if (layer.kind->takes == ast::DType::F32 &&
      !requireFloat(call, input, "layer '" + layer.name + "'"))
    return std::nullopt;
  // typeOfCall and declareSequential refuse attention calls first.
  assert(!layer.kind->attention && "MultiheadAttention takes query, key and value");
  shape::Inferred result = layer.kind->shape(layer, program, input.shape);
  if (!result.ok()) {
    diags.error(call.loc,
                "shape mismatch in layer '" + layer.name + "': " + result.error);
    return std::nullopt;
  }
  return ValueType{ast::DType::F32, result.shape};
}

bool Sema::crossEntropyOptions(const ast::Expr &call, const ValueType &x,
                               const ValueType &target, const BoundArgs &bound) {
  Program::CrossEntropyOptions options;
  const ast::Expr *weight = bound.get("weight");
  const ast::Expr *smoothing = bound.get("label_smoothing");
  const ast::Expr *ignore = bound.get("ignore_index");
  const bool probabilities = target.dtype != ast::DType::I64;
  if (probabilities && ignore) {
    // PyTorch refuses it too: no position is ignored by a probability row.
    diags.error(ignore->loc, "'cross_entropy' argument 'ignore_index' needs i64 "
                             "class-index targets, not class probabilities " +
                                 str(target));
    return false;
  }
  if (ignore) {
    auto v = readInt(ignore, "'cross_entropy' argument 'ignore_index'", diags);
    if (!v)
      return false;
    if (program.targetIgnoreIndex && *program.targetIgnoreIndex != *v) {
      diags.error(ignore->loc, "'cross_entropy' ignore_index " + std::to_string(*v) +
                                   " differs from the loss's other ignore_index " +
                                   std::to_string(*program.targetIgnoreIndex) +
                                   " (a model ignores one target value)");
      return false;
    }
    program.targetIgnoreIndex = *v;
    options.ignoreIndex = *v;
  } else if (!probabilities) {
    options.ignoreIndex = -100; // PyTorch's default
  }
  const int64_t classes = x.shape[1];
  if (weight && !isNone(weight)) {
    std::vector<const ast::Expr *> values = oneOrMany(weight);
    if (static_cast<int64_t>(values.size()) != classes) {
      diags.error(weight->loc, "'cross_entropy' weight must have one number per "
                               "class (" + std::to_string(classes) + "), got " +
                                   std::to_string(values.size()));
      return false;
    }
    for (const ast::Expr *e : values) {
      auto v = readNumber(e, "'cross_entropy' weight", diags);
      if (!v)
        return false;
      options.weight.push_back(*v);
    }
  }
  if (smoothing) {
    auto v =
        readNumber(smoothing, "'cross_entropy' argument 'label_smoothing'", diags);
    if (!v)
      return false;
    if (*v < 0 || *v > 1) {
      diags.error(smoothing->loc, "'cross_entropy' argument 'label_smoothing' "
                                  "must be in [0, 1], got " + formatNumber(*v));
      return false;
    }
    options.labelSmoothing = *v;
  }
  program.crossEntropyOptions[&call] = options;
  return true;
}

std::optional<ValueType>
Sema::typeOfBuiltin(const ast::Expr &call, const std::vector<ValueType> &args,
                    const BoundArgs &bound, bool inLoss) {
  const std::string &name = call.name;
  const ValueType &x = args[0];
  if (name == "scaled_dot_product_attention")
    return attentionType(call, args, bound);
  auto fail = [&](const std::string &message) -> std::optional<ValueType> {
    diags.error(call.loc, "shape mismatch in '" + name + "': " + message);
    return std::nullopt;
  };
  if (isLoss(name)) {
    bool none = false;
    if (!inLoss) {
      diags.error(call.loc, "'" + name + "' is a loss; use it in the train "
                                         "block's 'loss'");
      return std::nullopt;
    }
    if (const ast::Expr *reduction = bound.get("reduction")) {
      auto r = readString(reduction, "'reduction'", diags);
      if (!r)
        return std::nullopt;
      // kl_div also takes 'batchmean' (the sum over the batch's size); every
      // loss 'none' (each element's, sample's or position's loss, for the
      // loss expression to reduce).
      const bool batchmean = name == "kl_div" && *r == "batchmean";
      if (*r != "mean" && *r != "sum" && *r != "none" && !batchmean) {
        diags.error(reduction->loc,
                    "'reduction' must be 'mean'" +
                        std::string(name == "kl_div" ? ", 'batchmean'" : "") +
                        ", 'none' or 'sum', got '" + *r + "'");
        return std::nullopt;
      }
      none = *r == "none";
    }
    if (const char *own = lossParameter(name); own && bound.get(own)) {
      const ast::Expr *value = bound.get(own);
      const std::string what = "'" + name + "' argument '" + own + "'";
      if (name == "kl_div") {
        auto flag = readBool(value, what, diags);
        if (!flag)
          return std::nullopt;
        program.functionParameters[&call] = *flag ? 1.0 : 0.0;
      } else {
        auto v = readNumber(value, what, diags);
        if (!v)
          return std::nullopt;
        // PyTorch: beta >= 0 (0 is l1_loss), delta > 0.
        if (name == "smooth_l1_loss" ? *v < 0 : *v <= 0) {
          diags.error(value->loc, what + " must be " +
                                      (name == "smooth_l1_loss" ? "non-negative"
                                                                : "positive") +
                                      ", got " + formatNumber(*v));
          return std::nullopt;
        }
        program.functionParameters[&call] = *v;
      }
    }
    if (!requireFloat(*bound.get("input"), x, "'" + name + "' input"))
      return std::nullopt;
    const ValueType &target = args[1];
    // reduction='none': the per-element (nll_loss: per-sample) losses.
    auto unreduced = [&](shape::Inferred r) -> shape::Inferred {
      if (r.ok() && none) {
        r.shape = name == "nll_loss" ? target.shape : x.shape;
        if (name == "cross_entropy") // [N, C, d...] -> [N, d...]
          r.shape.erase(r.shape.begin() + 1);
      }
      return r;
    };
    shape::Inferred r;
    if (isElementwiseLoss(name)) {
      // Elementwise against a float target of the input's shape.
      if (!requireFloat(*bound.get("target"), target, "'" + name + "' target"))
        return std::nullopt;
      r = shape::mseLoss(x.shape, target.shape);
    } else if (name == "nll_loss") {
      // Log-probabilities [N, C] and class indices [N].
      if (target.dtype != ast::DType::I64) {
        diags.error(bound.get("target")->loc,
                    "'nll_loss' target must be i64 class indices, got " + str(target));
        return std::nullopt;
      }
      r = shape::crossEntropy(x.shape, target.shape, /*indexTarget=*/true);
    } else {
      r = shape::crossEntropy(x.shape, target.shape,
                              target.dtype == ast::DType::I64);
      if (r.ok() && (bound.get("weight") || bound.get("label_smoothing") ||
                     bound.get("ignore_index"))) {
        if (!crossEntropyOptions(call, x, target, bound))
          return std::nullopt;
      } else if (r.ok() && target.dtype == ast::DType::I64) {
        program.plainCrossEntropies.push_back({&call, x.shape[1]});
      }
    }
    r = unreduced(r);
    if (!r.ok())
      return fail(r.error);
    return ValueType{ast::DType::F32, r.shape};
  }

  if (!requireFloat(*bound.get("input"), x, "'" + name + "'"))
    return std::nullopt;
  if (isElementwiseBuiltin(name)) {
    std::string approximate;
    if (const ast::Expr *a = bound.get("approximate")) {
      auto v = readString(a, "'" + name + "' argument 'approximate'", diags);
      if (!v)
        return std::nullopt;
      approximate = *v;
      if (!findElementwiseBuiltin(name, approximate)) {
        diags.error(a->loc, "'" + name + "' argument 'approximate' must be " +
                                approximateChoices(name) + ", got '" +
                                approximate + "'");
        return std::nullopt;
      }
    }
    const ElementwiseFunction *f = findElementwiseBuiltin(name, approximate);
    if (f->parameter) {
      double value = f->defaultValue;
      if (const ast::Expr *p = bound.get(f->parameter)) {
        auto v = readNumber(p, "'" + name + "' argument '" + f->parameter + "'", diags);
        if (!v)
          return std::nullopt;
        value = *v;
      }
      program.functionParameters[&call] = value;
    }
    return x;
  }
  if (name == "sum" || name == "mean") {
    const ast::Expr *dim = bound.get("dim");
    const ast::Expr *keepdim = bound.get("keepdim");
    if (!dim) {
      if (keepdim) {
        diags.error(keepdim->loc, "'" + name + "' argument 'keepdim' needs 'dim'");
        return std::nullopt;
      }
      return ValueType{ast::DType::F32, {}};
    }
    // dim: an integer or a tuple/list of them, negative from the end.
    std::vector<const ast::Expr *> dims = oneOrMany(dim);
    if (dims.empty()) {
      diags.error(dim->loc, "'" + name + "' argument 'dim' names no dimension");
      return std::nullopt;
    }
    Program::Reduction reduction;
    for (const ast::Expr *e : dims) {
      auto axis = readDim(e, x, "'" + name + "' dim");
      if (!axis)
        return std::nullopt;
      if (std::find(reduction.axes.begin(), reduction.axes.end(), *axis) !=
          reduction.axes.end()) {
        diags.error(e->loc, "dim " + std::to_string(*axis) + " appears twice");
        return std::nullopt;
      }
      reduction.axes.push_back(*axis);
    }
    std::sort(reduction.axes.begin(), reduction.axes.end());
    if (keepdim) {
      auto k = readBool(keepdim, "'" + name + "' argument 'keepdim'", diags);
      if (!k)
        return std::nullopt;
      reduction.keepdim = *k;
    }
    shape::Inferred r = shape::reduce(x.shape, reduction.axes, reduction.keepdim);
    if (!r.ok())
      return fail(r.error);
    program.reductions[&call] = reduction;
    return ValueType{ast::DType::F32, r.shape};
  }
  if (name == "matmul")
    return matmulType(call, x, args[1]);
  if (name == "narrow") {
    // torch.narrow(x, dim, start, length) along a static dimension.
    auto dim = readDim(bound.get("dim"), x, "'narrow' dim");
    if (!dim)
      return std::nullopt;
    auto start = readInt(bound.get("start"), "'narrow' start", diags);
    auto length = start ? readInt(bound.get("length"), "'narrow' length", diags) : std::nullopt;
    if (!length)
      return std::nullopt;
    if (x.shape[*dim] == shape::kBatch)
      return fail("'narrow' cannot slice the batch dimension of " + str(x));
    if (*start < 0 || *length < 1 || *start + *length > x.shape[*dim])
      return fail("elements [" + std::to_string(*start) + ", " +
                  std::to_string(*start + *length) + ") of dimension " +
                  std::to_string(*dim) + " are not inside " + str(x));
    program.dimArgs[&call] = {*dim, *start, *length};
    ValueType out = x;
    out.shape[*dim] = *length;
    return out;
  }
  if (name == "transpose") {
    // x.transpose(dim0, dim1): negative dims count from the end.
    std::vector<int64_t> perm(x.shape.size());
    std::iota(perm.begin(), perm.end(), 0);
    int64_t dims[2];
    for (int i = 0; i < 2; ++i) {
      const char *param = i ? "dim1" : "dim0";
      auto d = readDim(bound.get(param), x, "'transpose' " + std::string(param));
      if (!d)
        return std::nullopt;
      dims[i] = *d;
    }
    if ((dims[0] == 0 || dims[1] == 0) && dims[0] != dims[1] &&
        shape::hasBatch(x.shape)) {
      diags.error(call.loc, "'transpose' would move the batch dimension from the "
                            "front of " + str(x));
      return std::nullopt;
    }
    std::swap(perm[dims[0]], perm[dims[1]]);
    program.permutations[&call] = perm;
    return ValueType{ast::DType::F32, shape::transpose(x.shape, perm).shape};
  }
  if (name == "clamp") {
    // torch.clamp with number bounds, None or absent for no bound.
    std::pair<std::optional<double>, std::optional<double>> bounds;
    for (const char *which : {"min", "max"}) {
      const ast::Expr *e = bound.get(which);
      if (!e || isNone(e))
        continue;
      auto v = readNumber(e, "'clamp' argument '" + std::string(which) + "'", diags);
      if (!v)
        return std::nullopt;
      (which[1] == 'i' ? bounds.first : bounds.second) = *v;
    }
    if (!bounds.first && !bounds.second) {
      diags.error(call.loc, "'clamp' needs 'min' or 'max' (at least one that is "
                            "not None)");
      return std::nullopt;
    }
    program.clampBounds[&call] = bounds;
    return x;
  }
  if (name == "permute") {
    // x.permute(dims): result dimension i is input dimension dims[i]
    // (negative from the end); the batch dimension stays first.
    const ast::Expr *list = bound.get("dims");
    std::vector<const ast::Expr *> dims = oneOrMany(list);
    if (dims.size() != x.shape.size()) {
      diags.error(list->loc, "'permute' dims must name each of the " +
                                 std::to_string(x.shape.size()) + " dimensions of " +
                                 str(x) + " once, got " + std::to_string(dims.size()));
      return std::nullopt;
    }
    std::vector<int64_t> perm;
    for (const ast::Expr *e : dims) {
      auto d = readDim(e, x, "'permute' dim");
      if (!d)
        return std::nullopt;
      if (std::find(perm.begin(), perm.end(), *d) != perm.end()) {
        diags.error(e->loc, "dim " + std::to_string(*d) + " appears twice");
        return std::nullopt;
      }
      perm.push_back(*d);
    }
    if (shape::hasBatch(x.shape) && perm[0] != 0) {
      diags.error(list->loc, "'permute' would move the batch dimension from the "
                             "front of " + str(x));
      return std::nullopt;
    }
    program.permutations[&call] = perm;
    return ValueType{ast::DType::F32, shape::transpose(x.shape, perm).shape};
  }
  if (name == "unsqueeze" || name == "squeeze") {
    // A reshape that adds or drops a size-1 dimension; the batch stays first.
    ValueType out = x;
    if (name == "unsqueeze") {
      ValueType wider = x;
      wider.shape.push_back(1); // unsqueeze's dim ranges over the result's rank
      auto dim = readDim(bound.get("dim"), wider, "'unsqueeze' dim");
      if (!dim)
        return std::nullopt;
      if (*dim == 0 && shape::hasBatch(x.shape))
        return fail("unsqueeze at 0 would move the batch dimension from the front of " +
                    str(x));
      out.shape.insert(out.shape.begin() + *dim, 1);
    } else {
      auto dim = readDim(bound.get("dim"), x, "'squeeze' dim");
      if (!dim)
        return std::nullopt;
      if (x.shape[*dim] != 1)
        return fail("dimension " + std::to_string(*dim) + " of " + str(x) +
                    " is not of size 1 (torch.squeeze would leave it; firn asks for a "
                    "dimension that it removes)");
      out.shape.erase(out.shape.begin() + *dim);
    }
    return out;
  }
  if (name == "flatten") {
    shape::Inferred r = shape::flatten(x.shape);
    if (!r.ok())
      return fail(r.error);
    return ValueType{ast::DType::F32, r.shape};
  }
  if (name == "softmax" || name == "log_softmax") {
    auto dim = readDim(bound.get("dim"), x, "'" + name + "' dim");
    if (!dim)
      return std::nullopt;
    program.dimArgs[&call] = {*dim};
    return x;
  }
  // reshape(x, [N, -1, ...])
  const ast::Expr *target = bound.get("shape");
  if (target->kind != ast::ExprKind::List) {
    diags.error(target->loc, "'reshape' shape must be a list such as [" +
                                 (batchName.empty() ? std::string("N")
                                                    : batchName) +
                                 ", -1], got " + describe(target));
    return std::nullopt;
  }
  shape::Shape dims;
  const ast::Expr *inferred = nullptr;
  for (const ast::ExprPtr &element : target->elements) {
    if (element->kind == ast::ExprKind::Name && element->name == batchName) {
      dims.push_back(shape::kBatch);
      continue;
    }
    auto v = readInt(element.get(), "'reshape' dimension", diags);
    if (!v)
      return std::nullopt;
    if (*v == 0 || *v < -1) {
      diags.error(element->loc, "'reshape' dimensions must be positive or "
                                "-1, got " +
                                    std::to_string(*v));
      return std::nullopt;
    }
    if (*v == -1 && inferred) {
      // PyTorch: "only one dimension can be inferred".
      diags.error(element->loc,
                  "'reshape' can infer only one dimension, but -1 appears "
                  "twice (first at " +
                      std::to_string(inferred->loc.line) + ":" +
                      std::to_string(inferred->loc.column) + ")");
      return std::nullopt;
    }
    if (*v == -1)
      inferred = element.get();
    dims.push_back(*v);
  }
  // The explicit sizes alone may overflow the element count the shape rule
  // multiplies out.
  shape::Shape explicitDims;
  for (int64_t d : dims)
    if (d > 0)
      explicitDims.push_back(d);
  if (!checkSize({ast::DType::F32, explicitDims}, target->loc,
                 "the 'reshape' target"))
    return std::nullopt;
  shape::Inferred r = shape::reshape(x.shape, dims);
  if (!r.ok())
    return fail(r.error);
  return ValueType{ast::DType::F32, r.shape};
}

std::optional<ValueType> Sema::typeOfCall(const ast::Expr &call, Scope &scope,
                                          bool inLoss) {
  if (const Layer *layer = program.findLayer(call.name)) {
    if (isAttentionLayer(*layer)) {
      diags.error(call.loc, "'" + call.name + "' (MultiheadAttention) gives "
                            "(attn_output, attn_output_weights); unpack them: y, w = " +
                            call.name + "(q, k, v), or y, _ = ...");
      return std::nullopt;
    }
    if (call.args.size() != 1 || !call.args[0].name.empty()) {
      diags.error(call.loc, "layer '" + call.name +
                                "' takes exactly one positional argument, got " +
                                std::to_string(call.args.size()));
      return std::nullopt;
    }
    auto input = typeOf(*call.args[0].value, scope, inLoss);
    if (!input)
      return std::nullopt;
    auto result = typeOfLayerCall(call, *layer, *input);
    if (result)
      program.layerCalls[&call] = static_cast<size_t>(layer - &program.layers[0]);
    return result;
  }
  const auto &names = builtinNames();
  if (std::find(names.begin(), names.end(), call.name) == names.end()) {
    std::vector<std::string> candidates = names;
    for (const Layer &layer : program.layers)
      candidates.push_back(layer.name);
    std::string message = "unknown function or layer '" + call.name + "'";
    std::string guess = suggest(call.name, candidates);
    if (!guess.empty())
      message += "; did you mean '" + guess + "'?";
    else if (!call.name.empty() && std::isupper(call.name[0]))
      message += "; layers are declared in the model block as name = " +
                 call.name + "(...)";
    diags.error(call.loc, message);
    return std::nullopt;
  }
  if (isMaskFunction(call.name))
    return maskCallType(call, scope, inLoss);
  if (call.name == "split" || call.name == "chunk") {
    diags.error(call.loc, "'" + call.name + "' gives several tensors; unpack them "
                          "into names: a, b = " + call.name + "(...)");
    return std::nullopt;
  }
  Signature sig = builtinSignature(call.name);
  auto bound = bindArgs(sig, call.args, call.loc, diags);
  if (!bound)
    return std::nullopt;
  if (call.name == "cat")
    return catType(call, *bound, scope, inLoss);
  std::vector<ValueType> tensors;
  for (const char *operand :
       {"input", "target", "other", "query", "key", "value", "attn_mask"}) {
    const ast::Expr *expr = bound->get(operand);
    if (!expr || isNone(expr))
      continue;
    auto type = typeOf(*expr, scope, inLoss);
    if (!type)
      return std::nullopt;
    tensors.push_back(*type);
  }
  return typeOfBuiltin(call, tensors, *bound, inLoss);
}

std::optional<ValueType> Sema::typeOf(const ast::Expr &expr, Scope &scope,
                                      bool inLoss) {
  std::optional<ValueType> type;
  switch (expr.kind) {
  case ast::ExprKind::Name: {
    auto it = scope.find(expr.name);
    if (it != scope.end()) {
      type = it->second;
      break;
    }
    if (expr.name.size() > 2 && expr.name.compare(expr.name.size() - 2, 2, ".T") == 0) {
      // `w.T`: the transpose of a matrix (a value or a parameter), as
      // PyTorch's Tensor.T (which other ranks deprecate).
      ast::Expr base(ast::ExprKind::Name, expr.loc);
      base.name = expr.name.substr(0, expr.name.size() - 2);
      auto inner = typeOf(base, scope, inLoss);
      if (!inner)
        return std::nullopt;
      if (inner->shape.size() != 2 || shape::hasBatch(inner->shape)) {
        diags.error(expr.loc, "'.T' transposes a matrix without the batch "
                              "dimension; '" + base.name + "' is " + str(*inner) +
                              " (use transpose(x, dim0, dim1))");
        return std::nullopt;
      }
      if (auto ref = program.paramRefs.find(&base); ref != program.paramRefs.end()) {
        program.paramRefs[&expr] = ref->second;
        program.paramRefs.erase(ref);
      }
      program.types.erase(&base);
      program.permutations[&expr] = {1, 0};
      type = ValueType{inner->dtype, {inner->shape[1], inner->shape[0]}};
      break;
    }
    if (program.findLayer(expr.name)) {
      diags.error(expr.loc, "'" + expr.name + "' is a layer; call it: " +
                                expr.name + "(...)");
      return std::nullopt;
    }
    // A parameter used directly (weights tied, a bias added twice): its
    // gradient sums over every use, as PyTorch's does.
    if (expr.name.find('.') != std::string::npos) {
      for (size_t i = 0; i < program.params.size(); ++i)
        if (program.params[i].name == expr.name) {
          program.paramRefs[&expr] = i;
          type = ValueType{ast::DType::F32, program.params[i].shape};
          break;
        }
      if (type)
        break;
    }
    std::vector<std::string> candidates;
    for (const auto &[name, t] : scope)
      candidates.push_back(name);
    if (expr.name.find('.') != std::string::npos)
      for (const Parameter &param : program.params)
        candidates.push_back(param.name);
    std::string message = "undefined name '" + expr.name + "'";
    std::string guess = suggest(expr.name, candidates);
    if (!guess.empty())
      message += "; did you mean '" + guess + "'?";
    diags.error(expr.loc, message);
    return std::nullopt;
  }
  case ast::ExprKind::Number:
    type = ValueType{ast::DType::F32, {}};
    break;
  case ast::ExprKind::Negate: {
    auto inner = typeOf(*expr.elements[0], scope, inLoss);
    if (!inner || !requireFloat(expr, *inner, "'-'"))
      return std::nullopt;
    type = inner;
    break;
  }
  case ast::ExprKind::Binary: {
    auto lhs = typeOf(*expr.elements[0], scope, inLoss);
    if (!lhs)
      return std::nullopt;
    auto rhs = typeOf(*expr.elements[1], scope, inLoss);
    if (!rhs)
      return std::nullopt;
    std::string op = "'" + expr.name + "'";
    if (!requireFloat(*expr.elements[0], *lhs, op) ||
        !requireFloat(*expr.elements[1], *rhs, op))
      return std::nullopt;
    if (expr.name == "@") {
      type = matmulType(expr, *lhs, *rhs);
      if (!type)
        return std::nullopt;
      break;
    }
    shape::Inferred r = shape::broadcast(lhs->shape, rhs->shape);
    if (!r.ok()) {
      diags.error(expr.loc, "shape mismatch in " + op + ": " + str(*lhs) +
                                " and " + str(*rhs) + " do not broadcast");
      return std::nullopt;
    }
    type = ValueType{ast::DType::F32, r.shape};
    break;
  }
  case ast::ExprKind::Call:
    type = typeOfCall(expr, scope, inLoss);
    if (!type)
      return std::nullopt;
    break;
  case ast::ExprKind::Index:
    type = indexType(expr, scope, inLoss);
    if (!type)
      return std::nullopt;
    break;
  case ast::ExprKind::Compare:
    type = compareType(expr, scope, inLoss);
    if (!type)
      return std::nullopt;
    break;
  case ast::ExprKind::Not:
    type = notType(expr, scope, inLoss);
    if (!type)
      return std::nullopt;
    break;
  default:
    diags.error(expr.loc, "expected a tensor expression, got " +
                              describe(&expr));
    return std::nullopt;
  }
  // Every operand is within the limit, but a result can still outgrow it
  // (broadcasting [N, K, 1] with [M]).
  if (!checkSize(*type, expr.loc, "the result " + str(*type)))
    return std::nullopt;
  program.types[&expr] = *type;
  return type;
}

bool Sema::checkForward(const ast::ForwardDef &forward) {
  program.forward = &forward;
  Scope scope;
  for (const ast::Param &param : forward.params) {
    if (scope.count(param.name)) {
      diags.error(param.loc, "duplicate input name '" + param.name + "'");
      return false;
    }
    if (program.findLayer(param.name)) {
      diags.error(param.loc, "input '" + param.name +
                                 "' has the name of a layer");
      return false;
    }
    auto type = checkType(param.type);
    if (!type)
      return false;
    // i64 inputs are indices (token ids): Sema lets them reach only an
    // Embedding (every other layer and op asks for f32).
    scope[param.name] = *type;
    program.inputs.push_back({param.name, *type, param.loc});
  }
  if (forward.params.empty()) {
    diags.error(forward.loc, "forward needs at least one input");
    return false;
  }
  const ast::Stmt *returned = nullptr;
  for (const ast::Stmt &stmt : forward.body) {
    if (returned) {
      diags.error(stmt.loc, "statement after 'return'");
      return false;
    }
    for (size_t i = 0; i < stmt.targets.size(); ++i)
      if (program.findLayer(stmt.targets[i])) {
        diags.error(stmt.targetLocs[i], "'" + stmt.targets[i] +
                                            "' is a layer; assign to another name");
        return false;
      }
    if (stmt.targets.size() > 1) {
      auto types = unpackTypes(stmt, scope);
      if (!types)
        return false;
      for (size_t i = 0; i < stmt.targets.size(); ++i)
        scope[stmt.targets[i]] = (*types)[i];
      continue;
    }
    auto type = typeOf(*stmt.value, scope, /*inLoss=*/false);
    if (!type)
      return false;
    if (stmt.isReturn) {
      if (type->dtype != ast::DType::F32) {
        diags.error(stmt.value->loc, "forward must return an f32 tensor (the model's "
                                     "output), got " + str(*type));
        return false;
      }
      returned = &stmt;
      program.output = *type;
      continue;
    }
    scope[stmt.targets[0]] = *type;
  }
  if (!returned) {
    diags.error(forward.endLoc, "forward has no 'return'");
    return false;
  }
  if (forward.resultType) {
    auto declared = checkType(*forward.resultType);
    if (!declared)
      return false;
    if (declared->shape != program.output.shape ||
        declared->dtype != program.output.dtype) {
      diags.error(returned->value->loc,
                  "shape mismatch: forward returns " + str(program.output) +
                      " but its declared result type is " + str(*declared));
      return false;
    }
  }
  return true;
}

std::optional<ValueType> Sema::matmulType(const ast::Expr &expr, const ValueType &a,
                                          const ValueType &b) {
  auto fail = [&](const std::string &message) -> std::optional<ValueType> {
    diags.error(expr.loc, "shape mismatch in '@': " + message);
    return std::nullopt;
  };
  const std::string operands = str(a) + " and " + str(b);
  if (a.shape.empty() || b.shape.empty())
    return fail("matmul needs tensors of at least one dimension, got " + operands);
  if (a.shape.size() == 1 || b.shape.size() == 1) {
    // torch.matmul with a vector: [K] @ [K] is their dot product, [K] @
    // [..., K, M] is [..., M], [..., M, K] @ [K] is [..., M].
    const int64_t ka = a.shape.back(), kb = b.shape.size() == 1 ? b.shape[0]
                                                                 : b.shape[b.shape.size() - 2];
    if (ka != kb || ka == shape::kBatch)
      return fail(ka == shape::kBatch || kb == shape::kBatch
                      ? "the batch dimension cannot be summed over: " + operands
                      : "inner dimensions differ: " + operands);
    if (a.shape.size() == 1 && b.shape.size() > 2 && b.shape[b.shape.size() - 1] == shape::kBatch)
      return fail("the batch dimension must stay first: " + operands);
    shape::Shape out;
    if (a.shape.size() > 1)
      out.assign(a.shape.begin(), a.shape.end() - 1);
    else if (b.shape.size() > 1) {
      out.assign(b.shape.begin(), b.shape.end() - 2);
      out.push_back(b.shape.back());
    }
    if (b.shape.size() == 2 && b.shape[1] == shape::kBatch)
      return fail("the batch dimension must stay first: " + operands);
    return ValueType{ast::DType::F32, out};
  }
  if (a.shape.size() == 2 && b.shape.size() > 2) {
    // [M, K] @ [B..., K, N]: the matrix at every leading position.
    if (shape::hasBatch(a.shape) || a.shape[1] != b.shape[b.shape.size() - 2])
      return fail(shape::hasBatch(a.shape)
                      ? "a matrix with the batch dimension times a batch of matrices: " +
                            operands
                      : "inner dimensions differ: " + operands);
    shape::Shape out(b.shape.begin(), b.shape.end() - 2);
    out.push_back(a.shape[0]);
    out.push_back(b.shape.back());
    return ValueType{ast::DType::F32, out};
  }
  if (b.shape.size() == 2 && a.shape.size() > 2) {
    // [N, *, K] @ [K, M]: the product at every leading position.
    if (a.shape.back() != b.shape[0] || shape::hasBatch(b.shape))
      return fail("inner dimensions differ: " + operands);
    shape::Shape out(a.shape.begin(), a.shape.end() - 1);
    out.push_back(b.shape[1]);
    return ValueType{ast::DType::F32, out};
  }
  // Batches of matrices: the leading (batch) dimensions broadcast as
  // NumPy's do ([N, 2, 3, 4] @ [1, 4, 4], [N, 1, M, K] @ [1, H, K, M]).
  const shape::Shape aBatch(a.shape.begin(), a.shape.end() - 2),
      bBatch(b.shape.begin(), b.shape.end() - 2);
  shape::Inferred batch = shape::broadcast(aBatch, bBatch);
  if (!batch.ok())
    return fail("the leading (batch) dimensions of " + operands + " do not broadcast");
  shape::Shape aFull = batch.shape, bFull = batch.shape;
  aFull.insert(aFull.end(), a.shape.end() - 2, a.shape.end());
  bFull.insert(bFull.end(), b.shape.end() - 2, b.shape.end());
  shape::Inferred r = shape::matmul(aFull, bFull, false, false);
  if (!r.ok())
    return fail(r.error);
  return ValueType{ast::DType::F32, r.shape};
}

std::optional<int64_t> Sema::readDim(const ast::Expr *expr, const ValueType &x,
                                     const std::string &what) {
  auto d = readInt(expr, what, diags);
  if (!d)
    return std::nullopt;
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (*d < -rank || *d >= rank) {
    diags.error(expr->loc, "dim " + std::to_string(*d) + " is out of range for " + str(x));
    return std::nullopt;
  }
  return *d < 0 ? *d + rank : *d;
}

std::optional<ValueType> Sema::catType(const ast::Expr &call, const BoundArgs &bound,
                                       Scope &scope, bool inLoss) {
  const ast::Expr *list = bound.get("tensors");
  if (list->kind != ast::ExprKind::List || list->elements.empty()) {
    diags.error(list->loc, "'cat' takes a list of tensors, such as [a, b], got " +
                               describe(list));
    return std::nullopt;
  }
  std::vector<ValueType> parts;
  for (const ast::ExprPtr &element : list->elements) {
    auto type = typeOf(*element, scope, inLoss);
    if (!type || !requireFloat(*element, *type, "'cat'"))
      return std::nullopt;
    parts.push_back(*type);
  }
  int64_t dim = 0;
  if (const ast::Expr *d = bound.get("dim")) {
    auto value = readDim(d, parts[0], "'cat' dim");
    if (!value)
      return std::nullopt;
    dim = *value;
  }
  ValueType out = parts[0];
  if (out.shape[dim] == shape::kBatch) {
    diags.error(call.loc, "'cat' cannot join along the batch dimension of " + str(out));
    return std::nullopt;
  }
  out.shape[dim] = 0;
  for (const ValueType &part : parts) {
    ValueType expected = parts[0];
    expected.shape[dim] = part.shape[dim];
    if (part.shape != expected.shape) {
      diags.error(call.loc, "shape mismatch in 'cat': " + str(part) + " and " +
                                str(parts[0]) + " differ in a dimension other than " +
                                std::to_string(dim));
      return std::nullopt;
    }
    out.shape[dim] += part.shape[dim];
  }
  program.dimArgs[&call] = {dim};
  return out;
}

} // namespace firn
