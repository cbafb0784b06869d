//===- PoolingKernels.cpp - max and average pooling ------------------------===//
//
// Max and average pooling over windows of [N, C, H, W] and their adjoints.
//
// The kernels know nothing of MLIR; the last section maps the family's ops
// and their attributes onto them (KernelTable.h).
//
//===----------------------------------------------------------------------===//
#include "KernelTable.h"

#include "firn/Dialect/FirnOps.h"

#include <cmath>
#include <limits>

namespace firn::reference {

namespace {
/// Calls visit(window, xi) for every output window (its flat index in
/// [N, C, Ho, Wo]) with the flat input index of its first maximum. The
/// window skips padding (PyTorch pads with -inf).
template <typename Visit>
Result forEachPoolMax(const Tensor &x, const PoolGeometry &g, Shape &out,
                      Visit visit) {
  shape::Inferred inferred =
      shape::maxPool2d(x.shape, g.kernel, g.stride, g.padding);
  if (!inferred.ok())
    return Result::fail(inferred.error);
  out = inferred.shape;
  const int64_t planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3];
  const int64_t ho = out[2], wo = out[3];
  for (int64_t plane = 0; plane < planes; ++plane)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        int64_t best = -1;
        for (int64_t ky = 0; ky < g.kernel[0]; ++ky)
          for (int64_t kx = 0; kx < g.kernel[1]; ++kx) {
            int64_t iy = oy * g.stride[0] - g.padding[0] + ky;
            int64_t ix = ox * g.stride[1] - g.padding[1] + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
              continue;
            int64_t xi = (plane * h + iy) * w + ix;
            if (best < 0 || x.data[xi] > x.data[best] || std::isnan(x.data[xi]))
              best = xi;
          }
        visit((plane * ho + oy) * wo + ox, best);
      }
  return Result();
}
} // namespace

Result maxPool2d(const Tensor &x, const PoolGeometry &geometry) {
  Shape out;
  std::vector<double> y;
  Result status = forEachPoolMax(x, geometry, out, [&](int64_t, int64_t xi) {
    y.push_back(x.data[xi]);
  });
  if (!status.ok())
    return status;
  return fromData(out, std::move(y));
}

Result maxPool2dGrad(const Tensor &gradOutput, const Tensor &x,
                     const PoolGeometry &geometry) {
  Shape out;
  Tensor dx = filled(x.shape, 0.0);
  Result status = forEachPoolMax(x, geometry, out, [&](int64_t yi, int64_t xi) {
    if (yi < gradOutput.numel())
      dx.data[xi] += gradOutput.data[yi];
  });
  if (!status.ok())
    return status;
  if (gradOutput.shape != out)
    return Result::fail("max_pool2d gradient " + shapeStr(gradOutput.shape) +
                        " must be " + shapeStr(out));
  return dx;
}

namespace {
/// Calls visit(window, xi, divisor) for every window of avg_pool2d (its flat
/// index in the pooled shape `out`) and every tap of it inside the input
/// (flat index xi), with the divisor of that window's mean.
template <typename Visit>
void forEachAvgTap(const Shape &xShape, const Shape &out, const PoolGeometry &g,
                   bool countIncludePad, Visit visit) {
  const int64_t planes = xShape[0] * xShape[1], h = xShape[2], w = xShape[3];
  const int64_t ho = out[2], wo = out[3];
  for (int64_t plane = 0; plane < planes; ++plane)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        int64_t y0 = oy * g.stride[0] - g.padding[0];
        int64_t x0 = ox * g.stride[1] - g.padding[1];
        int64_t yBegin = std::max<int64_t>(y0, 0), yEnd = std::min(y0 + g.kernel[0], h);
        int64_t xBegin = std::max<int64_t>(x0, 0), xEnd = std::min(x0 + g.kernel[1], w);
        double divisor = countIncludePad
                             ? static_cast<double>(g.kernel[0] * g.kernel[1])
                             : static_cast<double>((yEnd - yBegin) * (xEnd - xBegin));
        for (int64_t iy = yBegin; iy < yEnd; ++iy)
          for (int64_t ix = xBegin; ix < xEnd; ++ix)
            visit((plane * ho + oy) * wo + ox, (plane * h + iy) * w + ix, divisor);
      }
}
} // namespace

Result avgPool2d(const Tensor &x, const PoolGeometry &g, bool countIncludePad) {
  shape::Inferred out = shape::avgPool2d(x.shape, g.kernel, g.stride, g.padding);
  if (!out.ok())
    return Result::fail(out.error);
  Tensor y = filled(out.shape, 0.0);
  forEachAvgTap(x.shape, out.shape, g, countIncludePad,
                [&](int64_t yi, int64_t xi, double divisor) {
                  y.data[yi] += x.data[xi] / divisor;
                });
  return y;
}

Result avgPool2dGrad(const Tensor &gradOutput, const Shape &inputShape,
                     const PoolGeometry &g, bool countIncludePad) {
  shape::Inferred out = shape::avgPool2d(inputShape, g.kernel, g.stride, g.padding);
  if (!out.ok())
    return Result::fail(out.error);
  if (gradOutput.shape != out.shape)
    return Result::fail("avg_pool2d gradient " + shapeStr(gradOutput.shape) +
                        " must be " + shapeStr(out.shape));
  Tensor dx = filled(inputShape, 0.0);
  forEachAvgTap(inputShape, out.shape, g, countIncludePad,
                [&](int64_t yi, int64_t xi, double divisor) {
                  dx.data[xi] += gradOutput.data[yi] / divisor;
                });
  return dx;
}

//===----------------------------------------------------------------------===//
// Op kernels
//===----------------------------------------------------------------------===//

namespace {

/// The pooling ops' attributes (the verifier checked that each has 2 entries).
template <typename OpT> PoolGeometry poolGeometry(OpT op) {
  PoolGeometry g;
  g.kernel = {op.getKernel()[0], op.getKernel()[1]};
  g.stride = {op.getStride()[0], op.getStride()[1]};
  g.padding = {op.getPadding()[0], op.getPadding()[1]};
  return g;
}

} // namespace

void registerPoolingKernels(KernelTable &table) {
  table.add<MaxPool2dOp>([](MaxPool2dOp o, const In &in) {
    return maxPool2d(in(o.getInput()), poolGeometry(o));
  });
  table.add<MaxPool2dGradOp>([](MaxPool2dGradOp o, const In &in) {
    return maxPool2dGrad(in(o.getGradOutput()), in(o.getInput()), poolGeometry(o));
  });
  table.add<AvgPool2dOp>([](AvgPool2dOp o, const In &in) {
    return avgPool2d(in(o.getInput()), poolGeometry(o), o.getCountIncludePad());
  });
  table.add<AvgPool2dGradOp>([](AvgPool2dGradOp o, const In &in) {
    const Tensor &dy = in(o.getGradOutput());
    return avgPool2dGrad(dy, resolve(o.getType(), batchOf(dy)), poolGeometry(o),
                         o.getCountIncludePad());
  });
}

} // namespace firn::reference
