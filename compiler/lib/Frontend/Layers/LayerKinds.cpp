//===- LayerKinds.cpp - The layer table and what its entries share --------===//
#include "LayerKind.h"

#include "firn/Dialect/FirnOps.h"

#include <cmath>

namespace firn {

const std::vector<LayerKind> &layerKinds() {
  static const std::vector<LayerKind> table = [] {
    std::vector<LayerKind> all;
    addDenseLayers(all);
    addConvolutionLayers(all);
    addPoolingLayers(all);
    addNormalizationLayers(all);
    addAttentionLayers(all);
    addParameterlessLayers(all);
    return all;
  }();
  return table;
}

std::string LayerDeclaration::arg(const std::string &name) const {
  return "'" + std::string(layer.kind->kind) + "' argument '" + name + "'";
}

bool LayerDeclaration::error(SourceLocation loc, const std::string &message) {
  diags.error(loc, message);
  return false;
}

namespace {
/// An optional argument read into `out` by `reader` (one of SemaArgs.h's),
/// `out` left as it is when the argument is absent.
template <class T, class Reader>
bool readOptional(const LayerDeclaration &d, const char *name, T &out, Reader reader) {
  if (!d.has(name))
    return true;
  auto v = reader(d.get(name), d.arg(name));
  if (v)
    out = *v;
  return v.has_value();
}
} // namespace

bool LayerDeclaration::positive(const char *name, int64_t &out) {
  return readOptional(*this, name, out, [&](const ast::Expr *e, const std::string &what) {
    return readIntAtLeast(e, 1, what, diags);
  });
}

bool LayerDeclaration::flag(const char *name, bool &out) {
  return readOptional(*this, name, out, [&](const ast::Expr *e, const std::string &what) {
    return readBool(e, what, diags);
  });
}

bool LayerDeclaration::number(const char *name, double &out) {
  return readOptional(*this, name, out, [&](const ast::Expr *e, const std::string &what) {
    return readNumber(e, what, diags);
  });
}

bool LayerDeclaration::positiveNumber(const char *name, double &out) {
  double value = out;
  if (!number(name, value))
    return false;
  if (has(name) && value <= 0)
    return error(get(name)->loc, arg(name) + " must be positive");
  out = value;
  return true;
}

bool LayerDeclaration::pair(const char *name, int64_t min,
                            std::array<int64_t, 2> &out) {
  return readOptional(*this, name, out, [&](const ast::Expr *e, const std::string &what) {
    return readIntPair(e, min, what, diags);
  });
}

bool LayerDeclaration::dropoutProbability(const char *name, double &out) {
  return readOptional(*this, name, out, [&](const ast::Expr *e, const std::string &what) {
    return readDropoutProbability(e, what, diags);
  });
}

bool LayerDeclaration::refuseFlag(const char *name, const std::string &what) {
  bool on = false;
  if (!flag(name, on))
    return false;
  return !on || error(get(name)->loc, arg(name) + what);
}

void LayerDeclaration::addParam(const std::string &role, shape::Shape shape) {
  Parameter param;
  param.name = layer.name + "." + role;
  param.layer = program.layers.size();
  param.shape = std::move(shape);
  layer.kind->defaultInit(layer, role, param);
  layer.params[role] = program.params.size();
  program.params.push_back(std::move(param));
}

void LayerDeclaration::addBuffer(const std::string &role, shape::Shape shape,
                                 double value, bool counter) {
  layer.buffers[role] = program.buffers.size();
  program.buffers.push_back({layer.name + "." + role, program.layers.size(),
                             std::move(shape), value, counter});
}

mlir::Value LayerEmitter::scalar(float value, mlir::Location loc) {
  return opBuilder().create<ConstantOp>(loc, mlir::DenseElementsAttr::get(f32Tensor({}), value));
}

mlir::RankedTensorType LayerEmitter::f32Tensor(const shape::Shape &shape) {
  return tensorTypeOf(shape, opBuilder().getF32Type());
}

std::optional<shape::Shape> paramShape(const Program &program, const Layer &layer,
                                       const char *role) {
  auto it = layer.params.find(role);
  if (it == layer.params.end())
    return std::nullopt;
  return program.params[it->second].shape;
}

void uniformFanIn(Parameter &param, double fanIn) {
  param.init = ParamInit::Uniform;
  param.bound = 1.0 / std::sqrt(fanIn);
}

void noParameters(const Layer &, const std::string &, Parameter &) {}

void onesAndZeros(const Layer &, const std::string &role, Parameter &param) {
  param.init = ParamInit::Constant;
  param.values = {role == "weight" ? 1.0 : 0.0};
}

} // namespace firn
