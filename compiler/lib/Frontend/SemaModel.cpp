//===- SemaModel.cpp - Layers, parameters, freeze and init ----------------===//
//
// Turns `name = Layer(...)` into a Layer with PyTorch's defaults and the
// parameters PyTorch would create for it, in `named_parameters()` order, each
// with PyTorch's default initialization (`reset_parameters`): Linear and
// Conv2d draw weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// BatchNorm starts at weight 1, bias 0. Then applies `freeze` and `init`.
//
//===----------------------------------------------------------------------===//
#include "ElementwiseFunctions.h"
#include "Sema.h"

#include <algorithm>
#include <cmath>

namespace firn {

namespace {
struct LayerInfo {
  const char *kind; ///< As the DSL writes it: `Linear`.
  LayerKind layerKind;
  Signature signature;
};

const std::vector<LayerInfo> &layerTable() {
  // `requires_grad` is firn's addition: keyword-only, on every layer.
  static const std::vector<LayerInfo> table = {
      {"Linear",
       LayerKind::Linear,
       {"Linear",
        {{"in_features", true}, {"out_features", true}, {"bias"},
         {"requires_grad"}},
        3}},
      {"Conv2d",
       LayerKind::Conv2d,
       {"Conv2d",
        {{"in_channels", true}, {"out_channels", true}, {"kernel_size", true},
         {"stride"}, {"padding"}, {"dilation"}, {"groups"}, {"bias"},
         {"padding_mode"}, {"requires_grad"}},
        9}},
      {"MaxPool2d",
       LayerKind::MaxPool2d,
       {"MaxPool2d",
        {{"kernel_size", true}, {"stride"}, {"padding"}, {"requires_grad"}},
        3}},
      {"AvgPool2d",
       LayerKind::AvgPool2d,
       {"AvgPool2d",
        {{"kernel_size", true}, {"stride"}, {"padding"}, {"ceil_mode"},
         {"count_include_pad"}, {"requires_grad"}},
        5}},
      {"AdaptiveAvgPool2d",
       LayerKind::AdaptiveAvgPool2d,
       {"AdaptiveAvgPool2d", {{"output_size", true}, {"requires_grad"}}, 1}},
      {"LayerNorm",
       LayerKind::LayerNorm,
       {"LayerNorm",
        {{"normalized_shape", true}, {"eps"}, {"elementwise_affine"},
         {"requires_grad"}},
        3}},
      {"RMSNorm",
       LayerKind::RMSNorm,
       {"RMSNorm",
        {{"normalized_shape", true}, {"eps"}, {"elementwise_affine"},
         {"requires_grad"}},
        3}},
      {"BatchNorm1d",
       LayerKind::BatchNorm1d,
       {"BatchNorm1d",
        {{"num_features", true}, {"eps"}, {"momentum"}, {"affine"},
         {"requires_grad"}},
        4}},
      {"BatchNorm2d",
       LayerKind::BatchNorm2d,
       {"BatchNorm2d",
        {{"num_features", true}, {"eps"}, {"momentum"}, {"affine"},
         {"requires_grad"}},
        4}},
      {"SyncBatchNorm",
       LayerKind::SyncBatchNorm,
       {"SyncBatchNorm",
        {{"num_features", true}, {"eps"}, {"momentum"}, {"affine"},
         {"requires_grad"}},
        4}},
      {"Embedding",
       LayerKind::Embedding,
       {"Embedding",
        {{"num_embeddings", true}, {"embedding_dim", true}, {"padding_idx"},
         {"max_norm"}, {"norm_type"}, {"scale_grad_by_freq"}, {"sparse"},
         {"requires_grad"}},
        7}},
      {"MultiheadAttention",
       LayerKind::MultiheadAttention,
       {"MultiheadAttention",
        {{"embed_dim", true}, {"num_heads", true}, {"dropout"}, {"bias"},
         {"add_bias_kv"}, {"add_zero_attn"}, {"kdim"}, {"vdim"}, {"batch_first"},
         {"requires_grad"}},
        9}},
      {"Dropout", LayerKind::Dropout, {"Dropout", {{"p"}, {"requires_grad"}}, 1}},
      {"Flatten", LayerKind::Flatten, {"Flatten", {{"requires_grad"}}, 0}},
  };
  static const std::vector<LayerInfo> withActivations = [] {
    std::vector<LayerInfo> all = table;
    // One layer per elementwise function that PyTorch has as a module;
    // GELU(approximate=...) selects among its variants.
    for (const ElementwiseFunction &f : elementwiseFunctions()) {
      if (!f.layer || std::any_of(all.begin(), all.end(), [&](const LayerInfo &l) {
            return std::string(l.kind) == f.layer;
          }))
        continue;
      Signature sig{f.layer, {{"requires_grad"}}, 0};
      if (f.approximate || f.parameter) {
        sig.params.insert(sig.params.begin(), {f.approximate ? "approximate" : f.parameter});
        sig.positional = 1;
      }
      all.push_back({f.layer, LayerKind::Activation, sig});
    }
    return all;
  }();
  return withActivations;
}

std::string arg(const std::string &layer, const std::string &name) {
  return "'" + layer + "' argument '" + name + "'";
}

/// A nested list of numbers: its shape and its values in row-major order.
bool readTensorLiteral(const ast::Expr &expr, shape::Shape &shape,
                       std::vector<double> &values, size_t depth,
                       DiagnosticEngine &diags) {
  if (auto number = literalNumber(&expr)) {
    if (depth != shape.size()) {
      diags.error(expr.loc, "ragged tensor literal: a number where a list of "
                            "length " +
                                std::to_string(shape[depth]) + " belongs");
      return false;
    }
    values.push_back(*number);
    return true;
  }
  if (expr.kind != ast::ExprKind::List) {
    diags.error(expr.loc, "tensor literals hold numbers, not " +
                              describe(&expr));
    return false;
  }
  int64_t length = static_cast<int64_t>(expr.elements.size());
  if (length == 0) {
    diags.error(expr.loc, "empty list in a tensor literal");
    return false;
  }
  if (depth == shape.size() && values.empty()) {
    shape.push_back(length); // The first list at this depth fixes its size.
  } else if (depth >= shape.size() || shape[depth] != length) {
    diags.error(expr.loc, "ragged tensor literal: a list of length " +
                              std::to_string(length) + " where " +
                              (depth < shape.size()
                                   ? "one of length " +
                                         std::to_string(shape[depth])
                                   : std::string("a number")) +
                              " belongs");
    return false;
  }
  for (const ast::ExprPtr &element : expr.elements)
    if (!readTensorLiteral(*element, shape, values, depth + 1, diags))
      return false;
  return true;
}

/// PyTorch's reset_parameters for `param`, the `role` of `layer`:
/// normalization layers start at weight 1, bias 0; an Embedding draws from
/// N(0, 1) and zeroes its padding row; Linear and Conv2d draw weight and
/// bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void setDefaultInit(const Layer &layer, const std::string &role, Parameter &param) {
  param.values.clear();
  param.zeroRow.reset();
  switch (layer.kind) {
  case LayerKind::BatchNorm1d:
  case LayerKind::BatchNorm2d:
  case LayerKind::SyncBatchNorm:
  case LayerKind::LayerNorm:
  case LayerKind::RMSNorm:
    param.init = ParamInit::Constant;
    param.values = {role == "weight" ? 1.0 : 0.0};
    return;
  case LayerKind::Embedding:
    param.init = ParamInit::Normal;
    param.bound = 1.0;
    param.zeroRow = layer.paddingIdx;
    return;
  case LayerKind::MultiheadAttention:
    // _reset_parameters: xavier_uniform_ on in_proj_weight [3E, E], zero
    // biases; out_proj keeps its Linear's U(-1/sqrt(E), 1/sqrt(E)) weight.
    if (role == "in_proj_bias" || role == "out_proj.bias") {
      param.init = ParamInit::Constant;
      param.values = {0.0};
      return;
    }
    param.init = ParamInit::Uniform;
    param.bound = role == "in_proj_weight"
                      ? std::sqrt(6.0 / (4.0 * static_cast<double>(layer.in)))
                      : 1.0 / std::sqrt(static_cast<double>(layer.in));
    return;
  default: {
    // In double: the product of three 32-bit sizes may overflow int64 (the
    // weight is reported as too large right after).
    double fanIn = static_cast<double>(layer.in / layer.groups);
    if (layer.kind == LayerKind::Conv2d)
      fanIn *= static_cast<double>(layer.kernel[0]) * static_cast<double>(layer.kernel[1]);
    param.init = ParamInit::Uniform;
    param.bound = 1.0 / std::sqrt(fanIn);
    return;
  }
  }
}
} // namespace

void Sema::addParam(Layer &layer, const std::string &role, shape::Shape shape) {
  Parameter param;
  param.name = layer.name + "." + role;
  param.layer = program.layers.size();
  param.shape = std::move(shape);
  setDefaultInit(layer, role, param);
  layer.params[role] = program.params.size();
  program.params.push_back(std::move(param));
}

void Sema::addBuffer(Layer &layer, const std::string &role, int64_t size,
                     double value) {
  layer.buffers[role] = program.buffers.size();
  program.buffers.push_back(
      {layer.name + "." + role, program.layers.size(), {size}, value});
}

bool Sema::declareSequential(const std::string &name, SourceLocation loc,
                             SourceLocation kindLoc,
                             const std::vector<ast::Arg> &args) {
  // Sequential(Conv2d(1, 6, 5), Tanh(), ...): each argument a layer, named
  // by its position as nn.Sequential names its modules (`features.0`), so
  // its parameters are `features.0.weight`, as PyTorch's state_dict has them.
  Layer sequence;
  sequence.name = name;
  sequence.kind = LayerKind::Sequential;
  sequence.loc = loc;
  if (args.empty()) {
    diags.error(kindLoc, "'Sequential' needs at least one layer");
    return false;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const ast::Arg &a = args[i];
    const ast::Expr &layer = *a.value;
    if (!a.name.empty() || layer.kind != ast::ExprKind::Call) {
      diags.error(a.name.empty() ? layer.loc : a.loc,
                  "'Sequential' takes layers, such as Linear(2, 3), by position; got " +
                      (a.name.empty() ? describe(&layer) : "'" + a.name + "='"));
      return false;
    }
    if (layer.name == "Sequential" || layer.name == "MultiheadAttention") {
      diags.error(layer.loc, layer.name == "Sequential"
                                 ? "a Sequential inside a Sequential is not supported; "
                                   "declare it as a layer of its own"
                                 : "a MultiheadAttention takes query, key and value and "
                                   "gives two values, so it cannot be in a Sequential; "
                                   "declare it as a layer of its own");
      return false;
    }
    if (!declareLayer(name + "." + std::to_string(i), layer.loc, layer.name,
                      layer.loc, layer.args) ||
        !checkLayerSizes(program.layers.back()))
      return false;
    sequence.children.push_back(program.layers.size() - 1);
    // Its parameters are the Sequential's too (`freeze features`, and the
    // check that a loss depends on a trainable one).
    for (const auto &[role, index] : program.layers.back().params)
      sequence.params[std::to_string(i) + "." + role] = index;
  }
  program.addLayer(std::move(sequence));
  return true;
}

bool Sema::declareLayer(const ast::LayerDecl &decl) {
  return declareLayer(decl.name, decl.loc, decl.kind, decl.kindLoc, decl.args);
}

bool Sema::declareLayer(const std::string &name, SourceLocation loc,
                        const std::string &kind, SourceLocation kindLoc,
                        const std::vector<ast::Arg> &args) {
  if (program.findLayer(name)) {
    diags.error(loc, "duplicate layer name '" + name + "'");
    return false;
  }
  if (kind == "Sequential")
    return declareSequential(name, loc, kindLoc, args);
  const LayerInfo *info =
      lookupKind(layerTable(), kind, "layer", kindLoc);
  if (!info)
    return false;
  auto bound = bindArgs(info->signature, args, kindLoc, diags);
  if (!bound)
    return false;
  Layer layer;
  layer.name = name;
  layer.kind = info->layerKind;
  layer.loc = loc;
  const std::string &k = kind;
  auto readPositive = [&](const char *name, int64_t &out) {
    auto v = readIntAtLeast(bound->get(name), 1, arg(k, name), diags);
    if (v)
      out = *v;
    return v.has_value();
  };
  auto readFlag = [&](const char *name, bool &out) {
    if (!bound->has(name))
      return true;
    auto v = readBool(bound->get(name), arg(k, name), diags);
    if (v)
      out = *v;
    return v.has_value();
  };

  auto readEps = [&] { // Normalization layers: positive.
    if (!bound->has("eps"))
      return true;
    auto eps = readNumber(bound->get("eps"), arg(k, "eps"), diags);
    if (!eps)
      return false;
    if (*eps <= 0) {
      diags.error(bound->get("eps")->loc, arg(k, "eps") + " must be positive");
      return false;
    }
    layer.eps = *eps;
    return true;
  };

  switch (layer.kind) {
  case LayerKind::Linear: {
    if (!readPositive("in_features", layer.in) ||
        !readPositive("out_features", layer.out) || !readFlag("bias", layer.bias))
      return false;
    addParam(layer, "weight", {layer.out, layer.in});
    if (layer.bias)
      addParam(layer, "bias", {layer.out});
    break;
  }
  case LayerKind::Conv2d: {
    if (!readPositive("in_channels", layer.in) ||
        !readPositive("out_channels", layer.out) || !readFlag("bias", layer.bias))
      return false;
    auto kernel = readIntPair(bound->get("kernel_size"), 1,
                              arg(k, "kernel_size"), diags);
    if (!kernel)
      return false;
    layer.kernel = *kernel;
    if (bound->has("stride")) {
      auto s = readIntPair(bound->get("stride"), 1, arg(k, "stride"), diags);
      if (!s)
        return false;
      layer.stride = *s;
    }
    if (bound->has("dilation")) {
      auto d =
          readIntPair(bound->get("dilation"), 1, arg(k, "dilation"), diags);
      if (!d)
        return false;
      layer.dilation = *d;
    }
    if (bound->has("groups")) {
      if (!readPositive("groups", layer.groups))
        return false;
      if (layer.in % layer.groups != 0 || layer.out % layer.groups != 0) {
        // PyTorch: "in_channels must be divisible by groups" (and out_channels).
        diags.error(bound->get("groups")->loc,
                    std::string(layer.in % layer.groups ? "in_channels" : "out_channels") +
                        " must be divisible by groups, as in PyTorch: " +
                        std::to_string(layer.in % layer.groups ? layer.in : layer.out) +
                        " is not a multiple of " + std::to_string(layer.groups));
        return false;
      }
    }
    if (const ast::Expr *mode = bound->get("padding_mode")) {
      auto m = readString(mode, arg(k, "padding_mode"), diags);
      if (!m)
        return false;
      if (*m != "zeros") {
        diags.error(mode->loc, arg(k, "padding_mode") + " must be 'zeros' ('" + *m +
                                   "' is not supported yet)");
        return false;
      }
    }
    if (const ast::Expr *padding = bound->get("padding")) {
      if (padding->kind == ast::ExprKind::String) {
        if (padding->name == "same") {
          if (layer.stride != std::array<int64_t, 2>{1, 1}) {
            diags.error(padding->loc, "padding='same' needs stride 1, as in "
                                      "PyTorch");
            return false;
          }
          layer.padding = shape::samePadding(layer.kernel[0], layer.kernel[1],
                                             layer.dilation);
        } else if (padding->name != "valid") {
          diags.error(padding->loc, arg(k, "padding") +
                                        " must be an integer, a pair, 'same' "
                                        "or 'valid', got '" +
                                        padding->name + "'");
          return false;
        }
      } else {
        auto p = readIntPair(padding, 0, arg(k, "padding"), diags);
        if (!p)
          return false;
        layer.padding = {(*p)[0], (*p)[1], (*p)[0], (*p)[1]};
      }
    }
    addParam(layer, "weight",
             {layer.out, layer.in / layer.groups, layer.kernel[0], layer.kernel[1]});
    if (layer.bias)
      addParam(layer, "bias", {layer.out});
    break;
  }
  case LayerKind::MaxPool2d:
  case LayerKind::AvgPool2d: {
    if (layer.kind == LayerKind::AvgPool2d) {
      bool ceil = false;
      if (!readFlag("ceil_mode", ceil) ||
          !readFlag("count_include_pad", layer.countIncludePad))
        return false;
      if (ceil) {
        diags.error(bound->get("ceil_mode")->loc,
                    arg(k, "ceil_mode") + " must be False: firn pools with "
                                          "floor mode only");
        return false;
      }
    }
    auto kernel = readIntPair(bound->get("kernel_size"), 1,
                              arg(k, "kernel_size"), diags);
    if (!kernel)
      return false;
    layer.kernel = *kernel;
    layer.stride = *kernel; // PyTorch: stride defaults to the kernel size.
    if (bound->has("stride")) {
      auto s = readIntPair(bound->get("stride"), 1, arg(k, "stride"), diags);
      if (!s)
        return false;
      layer.stride = *s;
    }
    if (const ast::Expr *padding = bound->get("padding")) {
      auto p = readIntPair(padding, 0, arg(k, "padding"), diags);
      if (!p)
        return false;
      for (int i = 0; i < 2; ++i)
        if (2 * (*p)[i] > layer.kernel[i]) {
          diags.error(padding->loc, arg(k, "padding") +
                                        " must be at most half the kernel "
                                        "size, as in PyTorch");
          return false;
        }
      layer.padding = {(*p)[0], (*p)[1], 0, 0};
    }
    break;
  }
  case LayerKind::MultiheadAttention: {
    if (!readPositive("embed_dim", layer.in) || !readPositive("num_heads", layer.heads) ||
        !readFlag("bias", layer.bias))
      return false;
    layer.out = layer.in;
    if (layer.in % layer.heads != 0) {
      diags.error(bound->get("num_heads")->loc,
                  "embed_dim must be divisible by num_heads, as in PyTorch: " +
                      std::to_string(layer.in) + " is not a multiple of " +
                      std::to_string(layer.heads));
      return false;
    }
    // firn puts the batch first: only batch_first=true fits, and what it
    // does not implement is refused rather than ignored.
    bool batchFirst = false;
    if (!readFlag("batch_first", batchFirst))
      return false;
    if (!batchFirst) {
      diags.error(bound->has("batch_first") ? bound->get("batch_first")->loc : kindLoc,
                  "'MultiheadAttention' needs batch_first=true: firn's batch "
                  "dimension comes first ([N, L, E])");
      return false;
    }
    layer.p = 0; // PyTorch's default: no dropout on the weights
    if (const ast::Expr *p = bound->get("dropout")) {
      auto value = readDropoutProbability(p, arg(k, "dropout"), diags);
      if (!value)
        return false;
      layer.p = *value;
    }
    for (const char *flag : {"add_bias_kv", "add_zero_attn"}) {
      bool on = false;
      if (!readFlag(flag, on))
        return false;
      if (on) {
        diags.error(bound->get(flag)->loc, arg(k, flag) + " is not supported");
        return false;
      }
    }
    for (const char *dim : {"kdim", "vdim"}) {
      const ast::Expr *d = bound->get(dim);
      if (!d || isNone(d))
        continue;
      auto value = readInt(d, arg(k, dim), diags);
      if (!value)
        return false;
      if (*value != layer.in) {
        diags.error(d->loc, arg(k, dim) + " must be embed_dim (" +
                                std::to_string(layer.in) +
                                "): keys and values of another size are not "
                                "supported yet");
        return false;
      }
    }
    addParam(layer, "in_proj_weight", {3 * layer.in, layer.in});
    if (layer.bias)
      addParam(layer, "in_proj_bias", {3 * layer.in});
    addParam(layer, "out_proj.weight", {layer.in, layer.in});
    if (layer.bias)
      addParam(layer, "out_proj.bias", {layer.in});
    break;
  }
  case LayerKind::AdaptiveAvgPool2d: {
    auto size = readIntPair(bound->get("output_size"), 1, arg(k, "output_size"), diags);
    if (!size)
      return false;
    if ((*size)[0] != 1 || (*size)[1] != 1) {
      diags.error(bound->get("output_size")->loc,
                  arg(k, "output_size") + " must be 1 (global average pooling); "
                                          "other sizes are not supported yet");
      return false;
    }
    break;
  }
  case LayerKind::LayerNorm:
  case LayerKind::RMSNorm: {
    // normalized_shape: an integer or a tuple/list of them (the trailing
    // dimensions normalized over).
    const ast::Expr *shapeArg = bound->get("normalized_shape");
    std::vector<const ast::Expr *> dims = oneOrMany(shapeArg);
    if (dims.empty()) {
      diags.error(shapeArg->loc, arg(k, "normalized_shape") + " names no dimension");
      return false;
    }
    for (const ast::Expr *e : dims) {
      auto d = readIntAtLeast(e, 1, arg(k, "normalized_shape"), diags);
      if (!d)
        return false;
      layer.normalizedShape.push_back(*d);
    }
    if (!readFlag("elementwise_affine", layer.affine))
      return false;
    if (layer.kind == LayerKind::RMSNorm) {
      // eps=None (the default): torch.finfo(float32).eps.
      layer.eps = 1.1920928955078125e-07;
      if (const ast::Expr *eps = bound->get("eps");
          eps && !isNone(eps) && !readEps())
        return false;
      if (layer.affine)
        addParam(layer, "weight", layer.normalizedShape);
      break;
    }
    if (!readEps())
      return false;
    if (layer.affine) {
      addParam(layer, "weight", layer.normalizedShape);
      addParam(layer, "bias", layer.normalizedShape);
    }
    break;
  }
  case LayerKind::BatchNorm1d:
  case LayerKind::BatchNorm2d:
  case LayerKind::SyncBatchNorm: {
    if (!readPositive("num_features", layer.in) ||
        !readFlag("affine", layer.affine))
      return false;
    layer.out = layer.in;
    if (!readEps())
      return false;
    const ast::Expr *momentum = bound->has("momentum") ? bound->get("momentum")
                                                       : nullptr;
    if (momentum && momentum->kind == ast::ExprKind::Name &&
        momentum->name == "None") {
      // PyTorch's momentum=None: a cumulative moving average.
      if (layer.kind == LayerKind::SyncBatchNorm) {
        diags.error(momentum->loc, "SyncBatchNorm(momentum=None) is not "
                                   "supported yet; give a momentum (PyTorch's "
                                   "default is 0.1)");
        return false;
      }
      layer.cumulativeAverage = true;
    } else if (momentum) {
      auto m = readNumber(bound->get("momentum"), arg(k, "momentum"), diags);
      if (!m)
        return false;
      if (*m < 0 || *m > 1) {
        diags.error(bound->get("momentum")->loc,
                    arg(k, "momentum") + " must be in [0, 1]");
        return false;
      }
      layer.momentum = *m;
    }
    if (layer.affine) {
      addParam(layer, "weight", {layer.in});
      addParam(layer, "bias", {layer.in});
    }
    addBuffer(layer, "running_mean", layer.in, 0.0);
    addBuffer(layer, "running_var", layer.in, 1.0);
    // PyTorch's state_dict has it (load_state_dict(strict=True) wants it),
    // and momentum=None divides by it.
    layer.buffers["num_batches_tracked"] = program.buffers.size();
    program.buffers.push_back({layer.name + ".num_batches_tracked",
                               program.layers.size(), {}, 0.0, true});
    break;
  }
  case LayerKind::Embedding: {
    if (!readPositive("num_embeddings", layer.in) ||
        !readPositive("embedding_dim", layer.out))
      return false;
    if (const ast::Expr *padding = bound->get("padding_idx");
        padding && !isNone(padding)) {
      // PyTorch: an index in [-num, num); a negative one counts from the end.
      auto p = readInt(padding, arg(k, "padding_idx"), diags);
      if (!p)
        return false;
      if (*p < -layer.in || *p >= layer.in) {
        diags.error(padding->loc, arg(k, "padding_idx") + " must be within "
                                      "num_embeddings (in [" +
                                      std::to_string(-layer.in) + ", " +
                                      std::to_string(layer.in) + "))");
        return false;
      }
      layer.paddingIdx = *p < 0 ? *p + layer.in : *p;
    }
    // What firn does not implement is refused, not ignored.
    if (const ast::Expr *maxNorm = bound->get("max_norm");
        maxNorm && !isNone(maxNorm)) {
      diags.error(maxNorm->loc, arg(k, "max_norm") + " must be None: firn does "
                                                      "not renormalize embeddings");
      return false;
    }
    for (const char *flag : {"scale_grad_by_freq", "sparse"}) {
      bool on = false;
      if (!readFlag(flag, on))
        return false;
      if (on) {
        diags.error(bound->get(flag)->loc,
                    arg(k, flag) + " must be False: not supported by firn");
        return false;
      }
    }
    if (bound->has("norm_type") &&
        !readNumber(bound->get("norm_type"), arg(k, "norm_type"), diags))
      return false;
    addParam(layer, "weight", {layer.in, layer.out});
    break;
  }
  case LayerKind::Dropout:
    if (bound->has("p")) {
      auto p = readDropoutProbability(bound->get("p"), arg(k, "p"), diags);
      if (!p)
        return false;
      layer.p = *p;
    }
    break;
  case LayerKind::Activation: {
    std::string approximate;
    if (const ast::Expr *a = bound->get("approximate")) {
      auto v = readString(a, arg(k, "approximate"), diags);
      if (!v)
        return false;
      approximate = *v;
    }
    const ElementwiseFunction *f = findElementwiseLayer(k, approximate);
    if (!f) {
      diags.error(bound->get("approximate")->loc,
                  arg(k, "approximate") + " must be " + approximateChoices(k) +
                      ", got '" + approximate + "'");
      return false;
    }
    layer.function = f->key;
    layer.functionParameter = f->defaultValue;
    if (f->parameter && bound->has(f->parameter)) {
      auto v = readNumber(bound->get(f->parameter), arg(k, f->parameter), diags);
      if (!v)
        return false;
      layer.functionParameter = *v;
    }
    break;
  }
  case LayerKind::Flatten:
  case LayerKind::Sequential: // declareSequential
    break;
  }

  bool requiresGrad = true;
  if (!readFlag("requires_grad", requiresGrad))
    return false;
  for (auto &[role, index] : layer.params)
    program.params[index].trainable = requiresGrad;
  program.addLayer(std::move(layer));
  return true;
}

bool Sema::applyFreeze(const ast::FreezeStmt &stmt) {
  for (const ast::ExprPtr &selector : stmt.selectors) {
    auto matched = matchSelector(*selector);
    if (!matched)
      return false;
    for (size_t index : *matched)
      program.params[index].trainable = false;
  }
  return true;
}

bool Sema::applyInit(const ast::InitStmt &stmt) {
  auto matched = matchSelector(*stmt.selector);
  if (!matched)
    return false;

  if (stmt.retype) {
    if (matched->size() != 1) {
      diags.error(stmt.selector->loc,
                  "a retyping init must name exactly one parameter; '" +
                      stmt.selector->name + "' matches " +
                      std::to_string(matched->size()));
      return false;
    }
    auto type = checkType(*stmt.retype);
    if (!type)
      return false;
    Parameter &param = program.params[matched->front()];
    if (type->dtype != ast::DType::F32 || shape::hasBatch(type->shape)) {
      diags.error(stmt.retype->loc, "a parameter must be f32 without the "
                                    "batch dimension, got " +
                                        str(*type));
      return false;
    }
    if (!shape::broadcastsTo(type->shape, param.shape)) {
      diags.error(stmt.retype->loc,
                  "shape mismatch: '" + param.name + "' retyped to " +
                      shape::str(type->shape) +
                      ", which does not broadcast to its layer's shape " +
                      shape::str(param.shape));
      return false;
    }
    param.shape = type->shape;
  }

  const ast::Expr &value = *stmt.value;
  ParamInit kind = ParamInit::Constant;
  std::vector<double> values;
  std::optional<shape::Shape> literalShape;
  double normalStd = 0;
  bool isDefault = false;
  if (value.kind == ast::ExprKind::Name && value.name == "load") {
    kind = ParamInit::Load;
  } else if (value.kind == ast::ExprKind::Name && value.name == "default") {
    isDefault = true;
  } else if (auto number = literalNumber(&value)) {
    values = {*number};
  } else if (value.kind == ast::ExprKind::Call &&
             (value.name == "fill" || value.name == "zeros" ||
              value.name == "ones")) {
    bool isFill = value.name == "fill";
    Signature sig{value.name, isFill ? std::vector<ArgSpec>{{"value", true}}
                                     : std::vector<ArgSpec>{}};
    auto bound = bindArgs(sig, value.args, value.loc, diags);
    if (!bound)
      return false;
    if (isFill) {
      auto v = readNumber(bound->get("value"), "'fill' value", diags);
      if (!v)
        return false;
      values = {*v};
    } else {
      values = {value.name == "ones" ? 1.0 : 0.0};
    }
  } else if (value.kind == ast::ExprKind::Call && value.name == "normal") {
    // nn.init.normal_(p, mean=0.0, std=1.0), drawn by firn's generator.
    Signature sig{"normal", {{"mean"}, {"std"}}, 2};
    auto bound = bindArgs(sig, value.args, value.loc, diags);
    if (!bound)
      return false;
    normalStd = 1.0;
    if (const ast::Expr *mean = bound->get("mean")) {
      auto m = readNumber(mean, "'normal' mean", diags);
      if (!m)
        return false;
      if (*m != 0) {
        diags.error(mean->loc, "'normal' mean must be 0; other means are not "
                               "supported yet");
        return false;
      }
    }
    if (const ast::Expr *stdArg = bound->get("std")) {
      auto s = readNumber(stdArg, "'normal' std", diags);
      if (!s)
        return false;
      if (!(*s >= 0) || !std::isfinite(*s)) {
        diags.error(stdArg->loc, "'normal' std must be a finite number >= 0");
        return false;
      }
      normalStd = *s;
    }
    kind = ParamInit::Normal;
  } else if (value.kind == ast::ExprKind::List) {
    literalShape = shape::Shape();
    if (!readTensorLiteral(value, *literalShape, values, 0, diags))
      return false;
  } else {
    diags.error(value.loc, "expected an initial value: fill(v), zeros(), "
                           "ones(), normal(std=s), a number, a tensor literal, "
                           "'load' or 'default'; got " +
                               describe(&value));
    return false;
  }

  for (size_t index : *matched) {
    Parameter &param = program.params[index];
    if (literalShape && *literalShape != param.shape) {
      diags.error(value.loc, "shape mismatch: the initial value of '" +
                                 param.name + "' has shape " +
                                 shape::str(*literalShape) +
                                 " but the parameter has shape " +
                                 shape::str(param.shape));
      return false;
    }
    if (isDefault) {
      // Undo an earlier init: back to what declareLayer chose.
      const Layer &layer = program.layers[param.layer];
      setDefaultInit(layer, param.name.substr(layer.name.size() + 1), param);
      continue;
    }
    param.init = kind;
    param.values = values;
    param.bound = normalStd;
    param.zeroRow.reset();
  }
  return true;
}

bool Sema::checkModel(const ast::ModelBlock &model) {
  program.modelName = model.name;
  program.modelLoc = model.loc;
  program.seed = model.seed.value_or(0);
  if (model.seed && *model.seed < 0) {
    diags.error(model.seedLoc, "the seed must not be negative");
    return false;
  }
  for (const ast::LayerDecl &decl : model.layers)
    if (!declareLayer(decl) || !checkLayerSizes(program.layers.back()))
      return false;
  for (const ast::FreezeStmt &stmt : model.freezes)
    if (!applyFreeze(stmt))
      return false;
  for (const ast::InitStmt &stmt : model.inits)
    if (!applyInit(stmt))
      return false;
  if (!model.forward) {
    diags.error(model.loc, "model '" + model.name + "' has no 'forward'");
    return false;
  }
  return checkForward(*model.forward);
}

} // namespace firn
