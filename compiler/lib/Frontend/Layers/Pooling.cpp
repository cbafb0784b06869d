//===- Pooling.cpp - MaxPool2d, AvgPool2d, AdaptiveAvgPool2d --------------===//
#include "LayerKind.h"

#include "firn/Dialect/FirnOps.h"

namespace firn {
namespace {

struct PoolOptions : LayerOptions {
  std::array<int64_t, 2> kernel = {1, 1}, stride = {1, 1};
  std::array<int64_t, 2> padding = {0, 0}; ///< Rows, columns (both sides).
  bool countIncludePad = true;             ///< AvgPool2d
};

bool declarePool(LayerDeclaration &d, PoolOptions &o) {
  if (!d.pair("kernel_size", 1, o.kernel))
    return false;
  o.stride = o.kernel; // PyTorch: stride defaults to the kernel size.
  if (!d.pair("stride", 1, o.stride) || !d.pair("padding", 0, o.padding))
    return false;
  for (int i = 0; i < 2; ++i)
    if (2 * o.padding[i] > o.kernel[i])
      return d.error(d.get("padding")->loc,
                     d.arg("padding") + " must be at most half the kernel size, "
                                        "as in PyTorch");
  d.setOptions(o);
  return true;
}

bool declareMaxPool2d(LayerDeclaration &d) {
  PoolOptions o;
  return declarePool(d, o);
}

bool declareAvgPool2d(LayerDeclaration &d) {
  PoolOptions o;
  bool ceil = false;
  if (!d.flag("ceil_mode", ceil) || !d.flag("count_include_pad", o.countIncludePad))
    return false;
  if (ceil)
    return d.error(d.get("ceil_mode")->loc,
                   d.arg("ceil_mode") + " must be False: firn pools with floor mode only");
  return declarePool(d, o);
}

shape::Inferred maxPool2dShape(const Layer &layer, const Program &,
                               const shape::Shape &input) {
  const auto &o = layer.optionsAs<PoolOptions>();
  return shape::maxPool2d(input, o.kernel, o.stride, o.padding);
}

shape::Inferred avgPool2dShape(const Layer &layer, const Program &,
                               const shape::Shape &input) {
  const auto &o = layer.optionsAs<PoolOptions>();
  return shape::avgPool2d(input, o.kernel, o.stride, o.padding);
}

mlir::Value emitMaxPool2d(LayerEmitter &e, const Layer &layer, mlir::Value input,
                          mlir::RankedTensorType type, mlir::Location loc) {
  const auto &o = layer.optionsAs<PoolOptions>();
  mlir::OpBuilder &b = e.opBuilder();
  return b.create<MaxPool2dOp>(loc, type, input, b.getDenseI64ArrayAttr(o.kernel),
                               b.getDenseI64ArrayAttr(o.stride),
                               b.getDenseI64ArrayAttr(o.padding));
}

mlir::Value emitAvgPool2d(LayerEmitter &e, const Layer &layer, mlir::Value input,
                          mlir::RankedTensorType type, mlir::Location loc) {
  const auto &o = layer.optionsAs<PoolOptions>();
  mlir::OpBuilder &b = e.opBuilder();
  return b.create<AvgPool2dOp>(loc, type, input, b.getDenseI64ArrayAttr(o.kernel),
                               b.getDenseI64ArrayAttr(o.stride),
                               b.getDenseI64ArrayAttr(o.padding),
                               o.countIncludePad ? b.getUnitAttr() : mlir::UnitAttr());
}

/// AdaptiveAvgPool2d(1): the mean over each channel's plane (a reduce_mean).
bool declareAdaptiveAvgPool2d(LayerDeclaration &d) {
  auto size = readIntPair(d.get("output_size"), 1, d.arg("output_size"), d.diags);
  if (!size)
    return false;
  if ((*size)[0] != 1 || (*size)[1] != 1)
    return d.error(d.get("output_size")->loc,
                   d.arg("output_size") + " must be 1 (global average pooling); "
                                          "other sizes are not supported yet");
  return true;
}

shape::Inferred adaptiveAvgPool2dShape(const Layer &, const Program &,
                                       const shape::Shape &input) {
  return input.size() == 4 ? shape::reduce(input, {2, 3}, /*keepDims=*/true)
                           : shape::Inferred::fail("AdaptiveAvgPool2d expects [N, C, H, W], got " +
                                                   shape::str(input));
}

mlir::Value emitAdaptiveAvgPool2d(LayerEmitter &e, const Layer &, mlir::Value input,
                                  mlir::RankedTensorType type, mlir::Location loc) {
  mlir::OpBuilder &b = e.opBuilder();
  return b.create<ReduceMeanOp>(loc, type, input, b.getDenseI64ArrayAttr({2, 3}),
                                b.getUnitAttr());
}

} // namespace

void addPoolingLayers(std::vector<LayerKind> &table) {
  table.push_back({"MaxPool2d",
                   {"MaxPool2d",
                    {{"kernel_size", true}, {"stride"}, {"padding"}, {"requires_grad"}},
                    3},
                   declareMaxPool2d, noParameters, maxPool2dShape, emitMaxPool2d});
  table.push_back({"AvgPool2d",
                   {"AvgPool2d",
                    {{"kernel_size", true}, {"stride"}, {"padding"}, {"ceil_mode"},
                     {"count_include_pad"}, {"requires_grad"}},
                    5},
                   declareAvgPool2d, noParameters, avgPool2dShape, emitAvgPool2d});
  table.push_back({"AdaptiveAvgPool2d",
                   {"AdaptiveAvgPool2d", {{"output_size", true}, {"requires_grad"}}, 1},
                   declareAdaptiveAvgPool2d, noParameters, adaptiveAvgPool2dShape,
                   emitAdaptiveAvgPool2d});
}

} // namespace firn
