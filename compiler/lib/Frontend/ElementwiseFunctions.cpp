//===- ElementwiseFunctions.cpp - The DSL's functions of one tensor -------===//
#include "ElementwiseFunctions.h"

#include "firn/Dialect/FirnOps.h"

namespace firn {

namespace {
template <class OpT>
mlir::Value create(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, double) {
  return b.create<OpT>(loc, x);
}

/// F.leaky_relu as a composite: relu(x) - slope * relu(-x) (x where x > 0,
/// slope * x elsewhere, each with PyTorch's single rounding; NaN stays NaN).
mlir::Value leakyRelu(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                      double slope) {
  auto type = x.getType();
  mlir::Value c = b.create<ConstantOp>(
      loc, mlir::DenseElementsAttr::get(
               mlir::RankedTensorType::get({}, b.getF32Type()), static_cast<float>(slope)));
  mlir::Value negative = b.create<ReluOp>(loc, b.create<NegOp>(loc, x).getResult());
  mlir::Value scaled = b.create<MulOp>(loc, type, c, negative);
  return b.create<SubOp>(loc, type, b.create<ReluOp>(loc, x).getResult(), scaled);
}
/// F.elu as a composite: relu(x) + alpha (exp(-relu(-x)) - 1) (x where
/// x > 0, alpha (exp(x) - 1) elsewhere; exp(0) - 1 is exactly 0 above 0).
mlir::Value elu(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                double alpha) {
  auto type = x.getType();
  auto scalar = [&](float v) -> mlir::Value {
    return b.create<ConstantOp>(
        loc, mlir::DenseElementsAttr::get(
                 mlir::RankedTensorType::get({}, b.getF32Type()), v));
  };
  mlir::Value below = b.create<NegOp>(
      loc, b.create<ReluOp>(loc, b.create<NegOp>(loc, x).getResult()).getResult());
  mlir::Value expm1 = b.create<SubOp>(
      loc, type, b.create<ExpOp>(loc, below).getResult(), scalar(1.0f));
  return b.create<AddOp>(loc, type, b.create<ReluOp>(loc, x).getResult(),
                         b.create<MulOp>(loc, type, scalar(static_cast<float>(alpha)),
                                         expm1)
                             .getResult());
}
/// torch.pow with a number exponent: firn.pow against a constant.
mlir::Value power(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                  double exponent) {
  mlir::Value c = b.create<ConstantOp>(
      loc, mlir::DenseElementsAttr::get(
               mlir::RankedTensorType::get({}, b.getF32Type()),
               static_cast<float>(exponent)));
  return b.create<PowOp>(loc, x.getType(), x, c);
}
} // namespace

const std::vector<ElementwiseFunction> &elementwiseFunctions() {
  // PyTorch's names: torch.tanh / nn.Tanh, F.gelu(approximate=) / nn.GELU.
  static const std::vector<ElementwiseFunction> table = {
      {"relu", "relu", "ReLU", nullptr, create<ReluOp>},
      {"tanh", "tanh", "Tanh", nullptr, create<TanhOp>},
      {"sigmoid", "sigmoid", "Sigmoid", nullptr, create<SigmoidOp>},
      {"silu", "silu", "SiLU", nullptr, create<SiluOp>},
      {"gelu", "gelu", "GELU", "none", create<GeluOp>},
      {"gelu_tanh", "gelu", "GELU", "tanh", create<GeluTanhOp>},
      {"exp", "exp", nullptr, nullptr, create<ExpOp>},
      {"log", "log", nullptr, nullptr, create<LogOp>},
      {"sqrt", "sqrt", nullptr, nullptr, create<SqrtOp>},
      {"rsqrt", "rsqrt", nullptr, nullptr, create<RsqrtOp>},
      {"abs", "abs", nullptr, nullptr, create<AbsOp>},
      {"leaky_relu", "leaky_relu", "LeakyReLU", nullptr, leakyRelu,
       "negative_slope", 0.01},
      {"elu", "elu", "ELU", nullptr, elu, "alpha", 1.0},
      {"pow", "pow", nullptr, nullptr, power, "exponent", 0.0, true},
  };
  return table;
}

const ElementwiseFunction *findElementwiseFunction(const std::string &key) {
  for (const ElementwiseFunction &f : elementwiseFunctions())
    if (key == f.key)
      return &f;
  return nullptr;
}

namespace {
const ElementwiseFunction *find(const char *ElementwiseFunction::*field,
                                const std::string &name,
                                const std::string &approximate) {
  for (const ElementwiseFunction &f : elementwiseFunctions()) {
    if (!(f.*field) || name != f.*field)
      continue;
    if (!f.approximate ? approximate.empty()
                       : approximate == f.approximate ||
                             (approximate.empty() &&
                              std::string(f.approximate) == "none"))
      return &f;
  }
  return nullptr;
}
} // namespace

const ElementwiseFunction *findElementwiseBuiltin(const std::string &name,
                                                  const std::string &approximate) {
  return find(&ElementwiseFunction::builtin, name, approximate);
}

const ElementwiseFunction *findElementwiseLayer(const std::string &layer,
                                                const std::string &approximate) {
  return find(&ElementwiseFunction::layer, layer, approximate);
}

std::string approximateChoices(const std::string &name) {
  std::string choices;
  for (const ElementwiseFunction &f : elementwiseFunctions()) {
    bool named = (f.builtin && name == f.builtin) || (f.layer && name == f.layer);
    if (!named || !f.approximate)
      continue;
    choices += (choices.empty() ? "'" : " or '") + std::string(f.approximate) + "'";
  }
  return choices;
}

} // namespace firn
