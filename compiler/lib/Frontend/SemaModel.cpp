//===- SemaModel.cpp - Layers, parameters, freeze and init ----------------===//
//
// Turns `name = Layer(...)` into a Layer through its kind's table entry
// (Layers/): PyTorch's defaults, the parameters PyTorch would create for it
// in `named_parameters()` order, each with PyTorch's default initialization
// (`reset_parameters`). Sequential(...) declares its layers in order. Then
// applies `freeze` and `init`.
//
//===----------------------------------------------------------------------===//
#include "Layers/LayerKind.h"
#include "Sema.h"

#include <algorithm>
#include <cmath>

namespace firn {

namespace {
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

/// PyTorch's reset_parameters for `param` (what declareLayer chose).
void setDefaultInit(const Layer &layer, const std::string &role, Parameter &param) {
  param.values.clear();
  param.zeroRow.reset();
  layer.kind->defaultInit(layer, role, param);
}
} // namespace

bool Sema::declareSequential(const std::string &name, SourceLocation loc,
                             SourceLocation kindLoc,
                             const std::vector<ast::Arg> &args) {
  // Sequential(Conv2d(1, 6, 5), Tanh(), ...): each argument a layer, named
  // by its position as nn.Sequential names its modules (`features.0`), so
  // its parameters are `features.0.weight`, as PyTorch's state_dict has them.
  Layer sequence;
  sequence.name = name; // kind null: a Sequential
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
  const LayerKind *entry = lookupKind(layerKinds(), kind, "layer", kindLoc);
  if (!entry)
    return false;
  auto bound = bindArgs(entry->signature, args, kindLoc, diags);
  if (!bound)
    return false;
  Layer layer;
  layer.name = name;
  layer.kind = entry;
  layer.loc = loc;
  LayerDeclaration declaration(program, diags, layer, *bound, kindLoc);
  bool requiresGrad = true;
  if (!entry->declare(declaration) || !declaration.flag("requires_grad", requiresGrad))
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
