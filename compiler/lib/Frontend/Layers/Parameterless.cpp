//===- Parameterless.cpp - Dropout, Flatten, Softmax, activations ---------===//
//
// Layers without parameters: Dropout, Flatten, Identity, Softmax and
// LogSoftmax, and the activations, which come from the elementwise-function
// table: one layer per function PyTorch has as a module (ReLU, Tanh, ...).
//
//===----------------------------------------------------------------------===//
#include "../ElementwiseFunctions.h"
#include "LayerKind.h"

#include "firn/Dialect/FirnOps.h"

#include <algorithm>

namespace firn {
namespace {

shape::Inferred sameShape(const Layer &, const Program &, const shape::Shape &input) {
  return {input, ""};
}

struct DropoutOptions : LayerOptions {
  double p = 0.5;
};

bool declareDropout(LayerDeclaration &d) {
  DropoutOptions o;
  if (!d.dropoutProbability("p", o.p))
    return false;
  d.setOptions(o);
  return true;
}

mlir::Value emitDropout(LayerEmitter &e, const Layer &layer, mlir::Value input,
                        mlir::RankedTensorType, mlir::Location loc) {
  // Each dropout call site draws its own stream of random numbers.
  return e.dropout(input, layer.optionsAs<DropoutOptions>().p, loc);
}

/// nn.Flatten(start_dim=1, end_dim=-1): dimensions start_dim..end_dim
/// merged into one. The batch stays first, so start_dim is at least 1.
struct FlattenOptions : LayerOptions {
  int64_t start = 1, end = -1; ///< end as given: negative counts from the back.
};

bool declareFlatten(LayerDeclaration &d) {
  FlattenOptions o;
  if (const ast::Expr *start = d.get("start_dim")) {
    auto v = readInt(start, d.arg("start_dim"), d.diags);
    if (!v)
      return false;
    if (*v < 1)
      return d.error(start->loc, d.arg("start_dim") + " must be at least 1: the batch "
                                                       "dimension stays first");
    o.start = *v;
  }
  if (const ast::Expr *end = d.get("end_dim")) {
    auto v = readInt(end, d.arg("end_dim"), d.diags);
    if (!v)
      return false;
    if (*v == 0)
      return d.error(end->loc, d.arg("end_dim") + " must not be 0: the batch "
                                                   "dimension stays first");
    o.end = *v;
  }
  d.setOptions(o);
  return true;
}

shape::Inferred flattenShape(const Layer &layer, const Program &, const shape::Shape &input) {
  const auto &o = layer.optionsAs<FlattenOptions>();
  const int64_t rank = static_cast<int64_t>(input.size());
  const int64_t end = o.end < 0 ? o.end + rank : o.end;
  if (o.start >= rank || end < 1 || end >= rank)
    return shape::Inferred::fail("Flatten(start_dim=" + std::to_string(o.start) +
                                 ", end_dim=" + std::to_string(o.end) +
                                 ") is out of range for " + shape::str(input));
  if (end < o.start)
    return shape::Inferred::fail("Flatten's start_dim comes after its end_dim on " +
                                 shape::str(input));
  shape::Shape out(input.begin(), input.begin() + o.start);
  int64_t merged = 1;
  for (int64_t i = o.start; i <= end; ++i)
    merged *= input[i];
  out.push_back(merged);
  out.insert(out.end(), input.begin() + end + 1, input.end());
  return {out, ""};
}

mlir::Value emitFlatten(LayerEmitter &e, const Layer &, mlir::Value input,
                        mlir::RankedTensorType type, mlir::Location loc) {
  return e.opBuilder().create<ReshapeOp>(loc, type, input);
}

bool declareIdentity(LayerDeclaration &) { return true; }

mlir::Value emitIdentity(LayerEmitter &, const Layer &, mlir::Value input,
                         mlir::RankedTensorType, mlir::Location) {
  return input;
}

/// nn.Softmax(dim) and nn.LogSoftmax(dim) over the dimension `dim` of the
/// input (negative counts from the back); firn's softmax ops.
struct SoftmaxOptions : LayerOptions {
  int64_t dim = 0;
  bool log = false;
};

bool declareSoftmax(LayerDeclaration &d, bool log) {
  SoftmaxOptions o;
  o.log = log;
  const ast::Expr *dim = d.get("dim");
  // PyTorch's dim=None picks a dimension by the input's rank, with a
  // deprecation warning; firn asks for it.
  if (!dim || isNone(dim))
    return d.error(dim ? dim->loc : d.kindLoc,
                   "'" + std::string(d.layer.kind->kind) +
                       "' needs dim (PyTorch's implicit choice is deprecated)");
  auto v = readInt(dim, d.arg("dim"), d.diags);
  if (!v)
    return false;
  o.dim = *v;
  d.setOptions(o);
  return true;
}

shape::Inferred softmaxShape(const Layer &layer, const Program &, const shape::Shape &input) {
  const int64_t dim = layer.optionsAs<SoftmaxOptions>().dim;
  const int64_t rank = static_cast<int64_t>(input.size());
  if (dim < -rank || dim >= rank)
    return shape::Inferred::fail("dim " + std::to_string(dim) + " is out of range for " +
                                 shape::str(input));
  return {input, ""};
}

mlir::Value emitSoftmax(LayerEmitter &e, const Layer &layer, mlir::Value input,
                        mlir::RankedTensorType type, mlir::Location loc) {
  const auto &o = layer.optionsAs<SoftmaxOptions>();
  const int64_t dim = o.dim < 0 ? o.dim + type.getRank() : o.dim;
  if (o.log)
    return e.opBuilder().create<LogSoftmaxOp>(loc, input, dim);
  return e.opBuilder().create<SoftmaxOp>(loc, input, dim);
}

struct ActivationOptions : LayerOptions {
  const ElementwiseFunction *function = nullptr;
  double parameter = 0; ///< Its parameter, if it has one.
};

bool declareActivation(LayerDeclaration &d) {
  const std::string kind = d.layer.kind->kind;
  std::string approximate;
  if (const ast::Expr *a = d.get("approximate")) {
    auto v = readString(a, d.arg("approximate"), d.diags);
    if (!v)
      return false;
    approximate = *v;
  }
  ActivationOptions o;
  o.function = findElementwiseLayer(kind, approximate);
  if (!o.function)
    return d.error(d.get("approximate")->loc, d.arg("approximate") + " must be " +
                                                  approximateChoices(kind) + ", got '" +
                                                  approximate + "'");
  o.parameter = o.function->defaultValue;
  if (o.function->parameter && !d.number(o.function->parameter, o.parameter))
    return false;
  d.setOptions(o);
  return true;
}

mlir::Value emitActivation(LayerEmitter &e, const Layer &layer, mlir::Value input,
                           mlir::RankedTensorType, mlir::Location loc) {
  const auto &o = layer.optionsAs<ActivationOptions>();
  return o.function->emit(e.opBuilder(), loc, input, o.parameter);
}

} // namespace

void addParameterlessLayers(std::vector<LayerKind> &table) {
  LayerKind dropout{"Dropout", {"Dropout", {{"p"}, {"requires_grad"}}, 1},
                    declareDropout, noParameters, sameShape, emitDropout};
  dropout.random = true;
  table.push_back(dropout);
  table.push_back({"Flatten", {"Flatten", {{"start_dim"}, {"end_dim"}, {"requires_grad"}}, 2},
                   declareFlatten, noParameters, flattenShape, emitFlatten});
  table.push_back({"Identity", {"Identity", {{"requires_grad"}}, 0}, declareIdentity,
                   noParameters, sameShape, emitIdentity});
  table.push_back({"Softmax", {"Softmax", {{"dim"}, {"requires_grad"}}, 1},
                   [](LayerDeclaration &d) { return declareSoftmax(d, false); },
                   noParameters, softmaxShape, emitSoftmax});
  table.push_back({"LogSoftmax", {"LogSoftmax", {{"dim"}, {"requires_grad"}}, 1},
                   [](LayerDeclaration &d) { return declareSoftmax(d, true); },
                   noParameters, softmaxShape, emitSoftmax});
  // One layer per elementwise function that PyTorch has as a module;
  // GELU(approximate=...) selects among its variants.
  for (const ElementwiseFunction &f : elementwiseFunctions()) {
    if (!f.layer || std::any_of(table.begin(), table.end(), [&](const LayerKind &l) {
          return std::string(l.kind) == f.layer;
        }))
      continue;
    Signature sig{f.layer, {{"requires_grad"}}, 0};
    if (f.approximate || f.parameter) {
      sig.params.insert(sig.params.begin(), {f.approximate ? "approximate" : f.parameter});
      sig.positional = 1;
    }
    table.push_back({f.layer, sig, declareActivation, noParameters, sameShape,
                     emitActivation});
  }
}

} // namespace firn
