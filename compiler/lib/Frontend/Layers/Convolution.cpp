//===- Convolution.cpp - Conv2d -------------------------------------------===//
#include "LayerKind.h"

#include "firn/Dialect/FirnOps.h"

namespace firn {
namespace {

struct Conv2dOptions : LayerOptions {
  int64_t in = 0, out = 0;
  /// Each group of in/groups channels makes out/groups channels.
  int64_t groups = 1;
  bool bias = true;
  std::array<int64_t, 2> kernel = {1, 1}, stride = {1, 1}, dilation = {1, 1};
  /// Top, left, bottom, right.
  std::array<int64_t, 4> padding = {0, 0, 0, 0};
};

/// padding: an integer, a pair, 'same' (stride 1 only) or 'valid'.
bool readPadding(LayerDeclaration &d, Conv2dOptions &o) {
  const ast::Expr *padding = d.get("padding");
  if (!padding)
    return true;
  if (padding->kind != ast::ExprKind::String) {
    std::array<int64_t, 2> p{};
    if (!d.pair("padding", 0, p))
      return false;
    o.padding = {p[0], p[1], p[0], p[1]};
    return true;
  }
  if (padding->name == "same") {
    if (o.stride != std::array<int64_t, 2>{1, 1})
      return d.error(padding->loc, "padding='same' needs stride 1, as in PyTorch");
    o.padding = shape::samePadding(o.kernel[0], o.kernel[1], o.dilation);
    return true;
  }
  if (padding->name != "valid")
    return d.error(padding->loc, d.arg("padding") +
                                     " must be an integer, a pair, 'same' or 'valid', "
                                     "got '" +
                                     padding->name + "'");
  return true;
}

bool declareConv2d(LayerDeclaration &d) {
  Conv2dOptions o;
  if (!d.positive("in_channels", o.in) || !d.positive("out_channels", o.out) ||
      !d.flag("bias", o.bias) || !d.pair("kernel_size", 1, o.kernel) ||
      !d.pair("stride", 1, o.stride) || !d.pair("dilation", 1, o.dilation) ||
      !d.positive("groups", o.groups))
    return false;
  if (o.in % o.groups != 0 || o.out % o.groups != 0) {
    // PyTorch: "in_channels must be divisible by groups" (and out_channels).
    bool inFails = o.in % o.groups != 0;
    return d.error(d.get("groups")->loc,
                   std::string(inFails ? "in_channels" : "out_channels") +
                       " must be divisible by groups, as in PyTorch: " +
                       std::to_string(inFails ? o.in : o.out) +
                       " is not a multiple of " + std::to_string(o.groups));
  }
  if (const ast::Expr *mode = d.get("padding_mode")) {
    auto m = readString(mode, d.arg("padding_mode"), d.diags);
    if (!m)
      return false;
    if (*m != "zeros")
      return d.error(mode->loc, d.arg("padding_mode") + " must be 'zeros' ('" + *m +
                                    "' is not supported yet)");
  }
  if (!readPadding(d, o))
    return false;
  d.setOptions(o);
  d.addParam("weight", {o.out, o.in / o.groups, o.kernel[0], o.kernel[1]});
  if (o.bias)
    d.addParam("bias", {o.out});
  return true;
}

void initConv2d(const Layer &layer, const std::string &, Parameter &param) {
  const auto &o = layer.optionsAs<Conv2dOptions>();
  // In double: the product of three 32-bit sizes may overflow int64 (the
  // weight is reported as too large right after).
  uniformFanIn(param, static_cast<double>(o.in / o.groups) *
                          static_cast<double>(o.kernel[0]) *
                          static_cast<double>(o.kernel[1]));
}

shape::Inferred conv2dShape(const Layer &layer, const Program &program,
                            const shape::Shape &input) {
  const auto &o = layer.optionsAs<Conv2dOptions>();
  shape::Conv2dGeometry g{o.stride, o.padding, o.dilation};
  // With groups the weight holds in/groups input channels; the input all.
  shape::Shape weight = *paramShape(program, layer, "weight");
  weight[1] *= o.groups;
  return shape::conv2d(input, weight, paramShape(program, layer, "bias"), g);
}

/// Conv2d with groups, in primitive ops: group g convolves input channels
/// [g in/G, (g + 1) in/G) with weight rows [g out/G, (g + 1) out/G) (and
/// those biases), and the groups' outputs are joined along the channels.
/// (A composite: one convolution per group, so a depthwise convolution
/// with many groups makes as many small kernels.)
mlir::Value groupedConv2d(LayerEmitter &e, const Conv2dOptions &o, mlir::Value input,
                          mlir::Value weight, mlir::Value bias,
                          mlir::RankedTensorType type, mlir::Location loc) {
  mlir::OpBuilder &b = e.opBuilder();
  const int64_t groups = o.groups, cin = o.in / groups, cout = o.out / groups;
  auto slice = [&](mlir::Value v, const shape::Shape &shape, int64_t axis,
                   int64_t start) -> mlir::Value {
    return b.create<SliceOp>(loc, e.f32Tensor(shape), v, b.getI64IntegerAttr(axis),
                             b.getI64IntegerAttr(start));
  };
  shape::Shape inShape = shapeOf(input.getType()), wShape = shapeOf(weight.getType()),
               outShape = shapeOf(type);
  inShape[1] = cin;
  wShape[0] = cout;
  outShape[1] = cout;
  llvm::SmallVector<mlir::Value> outputs;
  for (int64_t g = 0; g < groups; ++g)
    outputs.push_back(b.create<Conv2dOp>(
        loc, e.f32Tensor(outShape), slice(input, inShape, 1, g * cin),
        slice(weight, wShape, 0, g * cout),
        bias ? slice(bias, {cout}, 0, g * cout) : mlir::Value(),
        b.getDenseI64ArrayAttr(o.stride), b.getDenseI64ArrayAttr(o.padding),
        b.getDenseI64ArrayAttr(o.dilation)));
  return b.create<ConcatOp>(loc, type, outputs, b.getI64IntegerAttr(1));
}

mlir::Value emitConv2d(LayerEmitter &e, const Layer &layer, mlir::Value input,
                       mlir::RankedTensorType type, mlir::Location loc) {
  const auto &o = layer.optionsAs<Conv2dOptions>();
  mlir::OpBuilder &b = e.opBuilder();
  mlir::Value weight = e.readParam(layer, "weight", loc);
  mlir::Value bias = e.readParam(layer, "bias", loc);
  if (o.groups > 1)
    return groupedConv2d(e, o, input, weight, bias, type, loc);
  return b.create<Conv2dOp>(loc, type, input, weight, bias,
                            b.getDenseI64ArrayAttr(o.stride),
                            b.getDenseI64ArrayAttr(o.padding),
                            b.getDenseI64ArrayAttr(o.dilation));
}

} // namespace

void addConvolutionLayers(std::vector<LayerKind> &table) {
  table.push_back({"Conv2d",
                   {"Conv2d",
                    {{"in_channels", true}, {"out_channels", true}, {"kernel_size", true},
                     {"stride"}, {"padding"}, {"dilation"}, {"groups"}, {"bias"},
                     {"padding_mode"}, {"requires_grad"}},
                    9},
                   declareConv2d, initConv2d, conv2dShape, emitConv2d});
}

} // namespace firn
