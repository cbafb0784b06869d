//===- NNKernels.cpp - Layer and loss kernels of the reference evaluator --===//
//
// matmul, linear, the convolution and its two adjoints, the losses, one_hot
// and batch norm, each the plainest loops stating PyTorch's formula.
//
// The three convolution kernels share one loop nest, forEachTap, which visits
// every (input element, weight element, output element) triple that conv2d
// multiplies together. conv2d accumulates x*w into y; its gradient in the
// input accumulates dy*w into dx and in the weight x*dy into dw over the very
// same triples, which is what makes them exact adjoints by construction.
//
// The kernels know nothing of MLIR; the last section maps the families' ops
// onto them.
//
//===----------------------------------------------------------------------===//
#include "KernelTable.h"

#include "firn/Dialect/FirnOps.h"

#include <cmath>
#include <limits>

namespace firn::reference {
namespace {

//===----------------------------------------------------------------------===//
// Convolution geometry
//===----------------------------------------------------------------------===//

/// Sizes of one convolution: x[n, c, h, w] * weight[o, c, kh, kw] ->
/// y[n, o, ho, wo].
struct ConvDims {
  int64_t n, c, h, w, o, kh, kw, ho, wo;
};

/// PyTorch's output size along one axis; 0 when the padded input is
/// smaller than the dilated kernel.
int64_t convOutputSize(int64_t input, int64_t padBefore, int64_t padAfter,
                       int64_t kernel, int64_t stride, int64_t dilation) {
  int64_t span = input + padBefore + padAfter - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

/// Checks the shapes and geometry of a convolution and sizes its output.
/// Returns "" or a message.
std::string convDims(const Shape &x, const Shape &weight,
                     const Conv2dGeometry &g, ConvDims &d) {
  if (x.size() != 4 || weight.size() != 4 || x[1] != weight[1])
    return "conv2d input " + shapeStr(x) + " does not fit weight " +
           shapeStr(weight);
  for (int64_t s : g.stride)
    if (s < 1)
      return "conv2d stride must be positive";
  for (int64_t s : g.dilation)
    if (s < 1)
      return "conv2d dilation must be positive";
  for (int64_t p : g.padding)
    if (p < 0)
      return "conv2d padding must not be negative";
  // Padding is (top, left, bottom, right); stride and dilation are (h, w).
  d = {x[0],      x[1],      x[2],
       x[3],      weight[0], weight[2],
       weight[3], convOutputSize(x[2], g.padding[0], g.padding[2], weight[2],
                                 g.stride[0], g.dilation[0]),
       convOutputSize(x[3], g.padding[1], g.padding[3], weight[3], g.stride[1],
                      g.dilation[1])};
  if (d.ho < 1 || d.wo < 1)
    return "conv2d kernel " + shapeStr(weight) + " is larger than the padded input " +
           shapeStr(x);
  return "";
}

/// Calls fn(xIndex, wIndex, yIndex) with the flat offsets of every triple
/// conv2d multiplies: y[n, o, i, j] += x[n, c, row, col] * w[o, c, p, q] with
/// row = i*stride - padTop + p*dilation (col likewise), skipping taps that
/// fall into the zero padding.
template <typename Fn>
void forEachTap(const ConvDims &d, const Conv2dGeometry &g, Fn fn) {
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t o = 0; o < d.o; ++o)
      for (int64_t i = 0; i < d.ho; ++i)
        for (int64_t j = 0; j < d.wo; ++j) {
          int64_t yIndex = ((n * d.o + o) * d.ho + i) * d.wo + j;
          for (int64_t c = 0; c < d.c; ++c)
            for (int64_t p = 0; p < d.kh; ++p) {
              int64_t row = i * g.stride[0] - g.padding[0] + p * g.dilation[0];
              if (row < 0 || row >= d.h)
                continue;
              for (int64_t q = 0; q < d.kw; ++q) {
                int64_t col =
                    j * g.stride[1] - g.padding[1] + q * g.dilation[1];
                if (col < 0 || col >= d.w)
                  continue;
                int64_t xIndex = ((n * d.c + c) * d.h + row) * d.w + col;
                int64_t wIndex = ((o * d.c + c) * d.kh + p) * d.kw + q;
                fn(xIndex, wIndex, yIndex);
              }
            }
        }
}

/// Checks that a gradient has conv2d's output shape for these dims.
std::string checkGradOutput(const Tensor &gradOutput, const ConvDims &d) {
  Shape expected = {d.n, d.o, d.ho, d.wo};
  if (gradOutput.shape != expected)
    return "conv2d gradient " + shapeStr(gradOutput.shape) +
           " does not match the convolution's output " + shapeStr(expected);
  return "";
}

} // namespace

//===----------------------------------------------------------------------===//
// matmul and linear
//===----------------------------------------------------------------------===//

Result matmul(const Tensor &lhs, const Tensor &rhs, bool transposeLhs,
              bool transposeRhs) {
  const size_t r = lhs.shape.size();
  if (r < 2 || rhs.shape.size() != r ||
      !std::equal(lhs.shape.begin(), lhs.shape.end() - 2, rhs.shape.begin()))
    return Result::fail("matmul operands must be matrices or batches of them "
                        "with the same leading dimensions, got " +
                        shapeStr(lhs.shape) + " and " + shapeStr(rhs.shape));
  // op(lhs) is [m, k] and op(rhs) is [k, n], for each of `batch` indices.
  int64_t m = lhs.shape[transposeLhs ? r - 1 : r - 2];
  int64_t k = lhs.shape[transposeLhs ? r - 2 : r - 1];
  int64_t rhsK = rhs.shape[transposeRhs ? r - 1 : r - 2];
  int64_t n = rhs.shape[transposeRhs ? r - 2 : r - 1];
  if (k != rhsK)
    return Result::fail("matmul inner dimensions differ: " +
                        shapeStr(lhs.shape) + " and " + shapeStr(rhs.shape));
  Shape shape(lhs.shape.begin(), lhs.shape.end() - 2);
  const int64_t batch = numelOf(shape);
  shape.push_back(m);
  shape.push_back(n);
  Tensor out = filled(shape, 0.0);
  for (int64_t bi = 0; bi < batch; ++bi) {
    const double *a0 = lhs.data.data() + bi * m * k, *b0 = rhs.data.data() + bi * k * n;
    auto a = [&](int64_t i, int64_t p) { return transposeLhs ? a0[p * m + i] : a0[i * k + p]; };
    auto b = [&](int64_t p, int64_t j) { return transposeRhs ? b0[j * k + p] : b0[p * n + j]; };
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0.0;
        for (int64_t p = 0; p < k; ++p)
          sum += a(i, p) * b(p, j);
        out.data[(bi * m + i) * n + j] = sum;
      }
  }
  return out;
}

namespace {

/// Query row i's attention weights over the s keys (rows of k0, e features
/// each), into p: softmax(q·k · scale) with the keys after i at -inf when
/// causal. A NaN score gives a NaN row, as in PyTorch.
void rowWeights(const double *query, const double *k0, int64_t i, int64_t s, int64_t e,
                double scale, bool causal, std::vector<double> &p) {
  double top = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < s; ++j) {
    double dot = 0.0;
    for (int64_t c = 0; c < e; ++c)
      dot += query[c] * k0[j * e + c];
    p[j] = causal && j > i ? -std::numeric_limits<double>::infinity() : dot * scale;
    top = std::isnan(p[j]) || p[j] > top ? p[j] : top; // NaN propagates
  }
  double total = 0.0;
  for (int64_t j = 0; j < s; ++j)
    total += p[j] = std::exp(p[j] - top);
  for (int64_t j = 0; j < s; ++j)
    p[j] /= total;
}

} // namespace

Result attention(const Tensor &q, const Tensor &k, const Tensor &v, double scale,
                 bool causal) {
  const size_t r = q.shape.size();
  if (r < 2 || k.shape.size() != r || v.shape.size() != r ||
      !std::equal(q.shape.begin(), q.shape.end() - 2, k.shape.begin()) ||
      !std::equal(q.shape.begin(), q.shape.end() - 2, v.shape.begin()) ||
      q.shape[r - 1] != k.shape[r - 1] || k.shape[r - 2] != v.shape[r - 2])
    return Result::fail("attention operands do not fit: " + shapeStr(q.shape) + ", " +
                        shapeStr(k.shape) + ", " + shapeStr(v.shape));
  const int64_t l = q.shape[r - 2], e = q.shape[r - 1], s = k.shape[r - 2],
                f = v.shape[r - 1];
  Shape shape(q.shape.begin(), q.shape.end() - 1);
  const int64_t batch = numelOf(Shape(q.shape.begin(), q.shape.end() - 2));
  shape.push_back(f);
  Tensor out = filled(shape, 0.0);
  std::vector<double> p(static_cast<size_t>(s));
  for (int64_t b = 0; b < batch; ++b) {
    const double *q0 = q.data.data() + b * l * e, *k0 = k.data.data() + b * s * e,
                 *v0 = v.data.data() + b * s * f;
    double *o0 = out.data.data() + b * l * f;
    for (int64_t i = 0; i < l; ++i) {
      rowWeights(q0 + i * e, k0, i, s, e, scale, causal, p);
      for (int64_t j = 0; j < s; ++j)
        for (int64_t c = 0; c < f; ++c)
          o0[i * f + c] += p[j] * v0[j * f + c];
    }
  }
  return out;
}

Result attentionGrad(const Tensor &q, const Tensor &k, const Tensor &v,
                     const Tensor &y, const Tensor &dy, double scale, bool causal,
                     std::vector<Tensor> &grads) {
  Result forward = attention(q, k, v, scale, causal); // checks the operands
  if (!forward.ok())
    return forward;
  if (y.shape != forward.value.shape || dy.shape != y.shape)
    return Result::fail("attention gradient: the result " + shapeStr(y.shape) +
                        " and its gradient " + shapeStr(dy.shape) + " must be " +
                        shapeStr(forward.value.shape));
  const size_t r = q.shape.size();
  const int64_t l = q.shape[r - 2], e = q.shape[r - 1], s = k.shape[r - 2],
                f = v.shape[r - 1];
  const int64_t batch = numelOf(Shape(q.shape.begin(), q.shape.end() - 2));
  grads = {filled(q.shape, 0.0), filled(k.shape, 0.0), filled(v.shape, 0.0)};
  std::vector<double> p(static_cast<size_t>(s));
  for (int64_t b = 0; b < batch; ++b) {
    const double *q0 = q.data.data() + b * l * e, *k0 = k.data.data() + b * s * e,
                 *v0 = v.data.data() + b * s * f, *y0 = y.data.data() + b * l * f,
                 *dy0 = dy.data.data() + b * l * f;
    double *dq0 = grads[0].data.data() + b * l * e, *dk0 = grads[1].data.data() + b * s * e,
           *dv0 = grads[2].data.data() + b * s * f;
    for (int64_t i = 0; i < l; ++i) {
      rowWeights(q0 + i * e, k0, i, s, e, scale, causal, p);
      double d = 0.0; // sum_f dy y: the softmax's sum_j p dp
      for (int64_t c = 0; c < f; ++c)
        d += dy0[i * f + c] * y0[i * f + c];
      for (int64_t j = 0; j < s; ++j) {
        const double weight = p[j];
        double dp = 0.0;
        for (int64_t c = 0; c < f; ++c) {
          dp += dy0[i * f + c] * v0[j * f + c];
          dv0[j * f + c] += weight * dy0[i * f + c];
        }
        const double ds = weight * (dp - d) * scale;
        for (int64_t c = 0; c < e; ++c) {
          dq0[i * e + c] += ds * k0[j * e + c];
          dk0[j * e + c] += ds * q0[i * e + c];
        }
      }
    }
  }
  return Result();
}

Result linearWeightGrad(const Tensor &dy, const Tensor &x) {
  if (dy.shape.size() != x.shape.size() || dy.shape.size() < 2 ||
      !std::equal(dy.shape.begin(), dy.shape.end() - 1, x.shape.begin()))
    return Result::fail("linear weight gradient: " + shapeStr(dy.shape) + " and " +
                        shapeStr(x.shape) + " differ in their leading dimensions");
  int64_t out = dy.shape.back(), in = x.shape.back();
  int64_t positions = numelOf(Shape(x.shape.begin(), x.shape.end() - 1));
  Tensor w = filled({out, in}, 0.0);
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i)
        w.data[o * in + i] += dy.data[p * out + o] * x.data[p * in + i];
  return w;
}

Result linear(const Tensor &x, const Tensor &w, const Tensor *bias) {
  if (w.shape.size() != 2 || x.shape.empty() || x.shape.back() != w.shape[1])
    return Result::fail("linear input " + shapeStr(x.shape) +
                        " does not fit weight " + shapeStr(w.shape));
  int64_t in = w.shape[1], out = w.shape[0];
  Shape leading(x.shape.begin(), x.shape.end() - 1);
  int64_t rows = numelOf(leading);
  Shape shape = leading;
  shape.push_back(out);
  Tensor y = filled(shape, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0.0;
      for (int64_t i = 0; i < in; ++i)
        sum += x.data[r * in + i] * w.data[o * in + i];
      y.data[r * out + o] = sum;
    }
  if (!bias)
    return y;
  // The bias broadcasts to [out]; adding it must not grow the result.
  Result withBias = add(y, *bias);
  if (!withBias.ok() || withBias.value.shape != shape)
    return Result::fail("linear bias " + shapeStr(bias->shape) +
                        " does not broadcast to [" + std::to_string(out) + "]");
  return withBias;
}

//===----------------------------------------------------------------------===//
// Convolution
//===----------------------------------------------------------------------===//

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

Result conv2d(const Tensor &x, const Tensor &w, const Tensor *bias,
              const Conv2dGeometry &geometry) {
  ConvDims d;
  if (std::string error = convDims(x.shape, w.shape, geometry, d);
      !error.empty())
    return Result::fail(error);
  if (bias && bias->shape != Shape{d.o})
    return Result::fail("conv2d bias " + shapeStr(bias->shape) +
                        " must be [" + std::to_string(d.o) + "]");
  Tensor y = filled({d.n, d.o, d.ho, d.wo}, 0.0);
  forEachTap(d, geometry, [&](int64_t xi, int64_t wi, int64_t yi) {
    y.data[yi] += x.data[xi] * w.data[wi];
  });
  if (bias)
    for (int64_t yi = 0; yi < y.numel(); ++yi)
      y.data[yi] += bias->data[(yi / (d.ho * d.wo)) % d.o];
  return y;
}

Result conv2dGradInput(const Tensor &gradOutput, const Tensor &w,
                       const Conv2dGeometry &geometry,
                       const Shape &inputShape) {
  ConvDims d;
  if (std::string error = convDims(inputShape, w.shape, geometry, d);
      !error.empty())
    return Result::fail(error);
  if (std::string error = checkGradOutput(gradOutput, d); !error.empty())
    return Result::fail(error);
  Tensor dx = filled(inputShape, 0.0);
  forEachTap(d, geometry, [&](int64_t xi, int64_t wi, int64_t yi) {
    dx.data[xi] += gradOutput.data[yi] * w.data[wi];
  });
  return dx;
}

Result conv2dGradWeight(const Tensor &x, const Tensor &gradOutput,
                        const Conv2dGeometry &geometry,
                        const Shape &weightShape) {
  ConvDims d;
  if (std::string error = convDims(x.shape, weightShape, geometry, d);
      !error.empty())
    return Result::fail(error);
  if (std::string error = checkGradOutput(gradOutput, d); !error.empty())
    return Result::fail(error);
  Tensor dw = filled(weightShape, 0.0);
  forEachTap(d, geometry, [&](int64_t xi, int64_t wi, int64_t yi) {
    dw.data[wi] += x.data[xi] * gradOutput.data[yi];
  });
  return dw;
}

//===----------------------------------------------------------------------===//
// one_hot
//===----------------------------------------------------------------------===//

/// A class index held in a double, or -1 if it is not one in [0, classes).
static int64_t classIndex(double value, int64_t classes) {
  if (!(value >= 0) || value >= static_cast<double>(classes) ||
      value != std::floor(value))
    return -1;
  return static_cast<int64_t>(value);
}

/// "3" for an integral value, else its decimal form, for messages.
static std::string numberStr(double value) {
  if (value == std::floor(value) && std::fabs(value) < 1e15)
    return std::to_string(static_cast<int64_t>(value));
  return std::to_string(value);
}

/// The class index at sample `s`, position `p` of integer `indices`
/// ([N, d...], `inner` positions per sample) among `classes`; false with a
/// message naming the sample when it is not one.
static bool classAt(const Tensor &indices, int64_t s, int64_t p, int64_t inner,
                    int64_t classes, int64_t &label, std::string &error) {
  double value = indices.data[s * inner + p];
  label = classIndex(value, classes);
  if (label >= 0)
    return true;
  error = "class index " + numberStr(value) + " of sample " + std::to_string(s) +
          " is out of range [0, " + std::to_string(classes) + ")";
  return false;
}

namespace {
/// Checks that embedding's indices are integers that pick one of `rows`
/// rows; "" when they do.
std::string checkEmbedding(const Tensor &indices, int64_t rows) {
  if (!indices.isInteger)
    return "embedding needs integer indices";
  for (size_t p = 0; p < indices.data.size(); ++p)
    if (classIndex(indices.data[p], rows) < 0)
      return "embedding index " + numberStr(indices.data[p]) + " at position " +
             std::to_string(p) + " is out of range [0, " + std::to_string(rows) + ")";
  return "";
}
} // namespace

Result embedding(const Tensor &table, const Tensor &indices) {
  if (table.shape.size() != 2)
    return Result::fail("embedding table must be [rows, dim], got " +
                        shapeStr(table.shape));
  const int64_t rows = table.shape[0], dim = table.shape[1];
  if (std::string error = checkEmbedding(indices, rows); !error.empty())
    return Result::fail(error);
  Shape shape = indices.shape;
  shape.push_back(dim);
  Tensor out = filled(shape, 0.0);
  for (size_t p = 0; p < indices.data.size(); ++p) {
    int64_t row = static_cast<int64_t>(indices.data[p]);
    for (int64_t d = 0; d < dim; ++d)
      out.data[p * dim + d] = table.data[row * dim + d];
  }
  return out;
}

Result embeddingGrad(const Tensor &dy, const Tensor &indices, int64_t rows,
                     int64_t paddingIdx) {
  if (std::string error = checkEmbedding(indices, rows); !error.empty())
    return Result::fail(error);
  Shape expected = indices.shape;
  expected.push_back(dy.shape.empty() ? 0 : dy.shape.back());
  if (dy.shape.empty() || dy.shape != expected)
    return Result::fail("embedding gradient " + shapeStr(dy.shape) +
                        " does not fit indices " + shapeStr(indices.shape));
  const int64_t dim = dy.shape.back();
  Tensor table = filled({rows, dim}, 0.0);
  for (size_t p = 0; p < indices.data.size(); ++p) {
    int64_t row = static_cast<int64_t>(indices.data[p]);
    if (row == paddingIdx)
      continue;
    for (int64_t d = 0; d < dim; ++d)
      table.data[row * dim + d] += dy.data[p * dim + d];
  }
  return table;
}

Result oneHot(const Tensor &indices, int64_t numClasses) {
  if (!indices.isInteger || indices.shape.empty())
    return Result::fail("one_hot needs integer class indices [N, d...], got " +
                        shapeStr(indices.shape));
  // [N, d...] -> [N, numClasses, d...]: the classes at dimension 1.
  int64_t n = indices.shape[0];
  const int64_t inner = numelOf(Shape(indices.shape.begin() + 1, indices.shape.end()));
  Shape shape = indices.shape;
  shape.insert(shape.begin() + 1, numClasses);
  Tensor out = filled(shape, 0.0);
  std::string error;
  for (int64_t s = 0; s < n; ++s)
    for (int64_t p = 0; p < inner; ++p) {
      int64_t label;
      if (!classAt(indices, s, p, inner, numClasses, label, error))
        return Result::fail(error);
      out.data[(s * numClasses + label) * inner + p] = 1.0;
    }
  return out;
}

//===----------------------------------------------------------------------===//
// Batch norm
//===----------------------------------------------------------------------===//

BatchNormResult batchNorm(const Tensor &x, const Tensor *weight,
                          const Tensor *bias, const Tensor &runningMean,
                          const Tensor &runningVar, double eps,
                          double momentum, bool training) {
  BatchNormResult out;
  if (x.shape.size() < 2) {
    out.error = "batch_norm input must be [N, C, ...], got " + shapeStr(x.shape);
    return out;
  }
  int64_t n = x.shape[0], channels = x.shape[1];
  Shape channelShape = {channels};
  for (const Tensor *t : {weight, bias, &runningMean, &runningVar})
    if (t && t->shape != channelShape) {
      out.error = "batch_norm per-channel tensor " + shapeStr(t->shape) +
                  " does not fit input " + shapeStr(x.shape);
      return out;
    }
  // x viewed as [n, channels, inner]: statistics run over n and inner.
  int64_t inner = numelOf(Shape(x.shape.begin() + 2, x.shape.end()));
  int64_t count = n * inner;
  auto at = [&](int64_t s, int64_t c, int64_t k) {
    return (s * channels + c) * inner + k;
  };
  if (training && count <= 1) {
    out.error = "expected more than 1 value per channel when training, got "
                "input " + shapeStr(x.shape);
    return out;
  }

  std::vector<double> mean = runningMean.data, var = runningVar.data;
  out.runningMean = runningMean;
  out.runningVar = runningVar;
  if (training) {
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0.0;
      for (int64_t s = 0; s < n; ++s)
        for (int64_t k = 0; k < inner; ++k)
          sum += x.data[at(s, c, k)];
      mean[c] = sum / static_cast<double>(count);
      double squares = 0.0;
      for (int64_t s = 0; s < n; ++s)
        for (int64_t k = 0; k < inner; ++k) {
          double diff = x.data[at(s, c, k)] - mean[c];
          squares += diff * diff;
        }
      // Normalization uses the biased variance, the running estimate the
      // unbiased one (PyTorch's documented behaviour).
      var[c] = squares / static_cast<double>(count);
      double unbiased = squares / static_cast<double>(count - 1);
      out.runningMean.data[c] =
          (1 - momentum) * runningMean.data[c] + momentum * mean[c];
      out.runningVar.data[c] =
          (1 - momentum) * runningVar.data[c] + momentum * unbiased;
    }
  }

  out.mean = Tensor{channelShape, mean};
  out.var = Tensor{channelShape, var};
  out.result = filled(x.shape, 0.0);
  for (int64_t s = 0; s < n; ++s)
    for (int64_t c = 0; c < channels; ++c) {
      double scale = 1.0 / std::sqrt(var[c] + eps);
      double gamma = weight ? weight->data[c] : 1.0;
      double beta = bias ? bias->data[c] : 0.0;
      for (int64_t k = 0; k < inner; ++k)
        out.result.data[at(s, c, k)] =
            (x.data[at(s, c, k)] - mean[c]) * scale * gamma + beta;
    }
  return out;
}

} // namespace firn::reference

//===----------------------------------------------------------------------===//
// Op kernels: which kernel runs which op of the product, pooling, indexing,
// attention and normalization families (KernelTable.h)
//===----------------------------------------------------------------------===//

namespace firn::reference {
namespace {

/// The pooling ops' attributes (the verifier checked that each has 2 entries).
template <typename OpT> PoolGeometry poolGeometry(OpT op) {
  PoolGeometry g;
  g.kernel = {op.getKernel()[0], op.getKernel()[1]};
  g.stride = {op.getStride()[0], op.getStride()[1]};
  g.padding = {op.getPadding()[0], op.getPadding()[1]};
  return g;
}

/// The convolution ops' attributes (the verifier checked their sizes).
template <typename OpT> Conv2dGeometry convGeometry(OpT op) {
  Conv2dGeometry g;
  llvm::copy(op.getStride(), g.stride.begin());
  llvm::copy(op.getPadding(), g.padding.begin());
  llvm::copy(op.getDilation(), g.dilation.begin());
  return g;
}

void registerProducts(KernelTable &table) {
  table.add<MatmulOp>([](MatmulOp o, const In &in) {
    return matmul(in(o.getLhs()), in(o.getRhs()), o.getTransposeLhs(),
                  o.getTransposeRhs());
  });
  table.add<LinearOp>([](LinearOp o, const In &in) {
    return linear(in(o.getInput()), in(o.getWeight()), in.optional(o.getBias()));
  });
  table.add<LinearWeightGradOp>([](LinearWeightGradOp o, const In &in) {
    return linearWeightGrad(in(o.getGradOutput()), in(o.getInput()));
  });
  table.add<Conv2dOp>([](Conv2dOp o, const In &in) {
    return conv2d(in(o.getInput()), in(o.getWeight()), in.optional(o.getBias()),
                  convGeometry(o));
  });
  table.add<Conv2dGradInputOp>([](Conv2dGradInputOp o, const In &in) {
    // Stride leaves the input size ambiguous, so the result type gives it;
    // the batch comes from the gradient.
    const Tensor &dy = in(o.getGradOutput());
    return conv2dGradInput(dy, in(o.getWeight()), convGeometry(o),
                           resolve(o.getType(), batchOf(dy)));
  });
  table.add<Conv2dGradWeightOp>([](Conv2dGradWeightOp o, const In &in) {
    // The kernel size is not recoverable from the shapes either.
    return conv2dGradWeight(in(o.getInput()), in(o.getGradOutput()),
                            convGeometry(o), resolve(o.getType(), 1));
  });
}

void registerPooling(KernelTable &table) {
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

void registerIndexing(KernelTable &table) {
  table.add<OneHotOp>([](OneHotOp o, const In &in) {
    return oneHot(in(o.getIndices()), o.getType().getDimSize(1));
  });
  table.add<EmbeddingOp>([](EmbeddingOp o, const In &in) {
    return embedding(in(o.getWeight()), in(o.getIndices()));
  });
  table.add<EmbeddingGradOp>([](EmbeddingGradOp o, const In &in) {
    auto padding = o.getPaddingIdx();
    return embeddingGrad(in(o.getGradOutput()), in(o.getIndices()),
                         o.getType().getDimSize(0),
                         padding ? static_cast<int64_t>(*padding) : -1);
  });
}

void registerAttention(KernelTable &table) {
  table.add<AttentionOp>([](AttentionOp o, const In &in) {
    return attention(in(o.getQuery()), in(o.getKey()), in(o.getValue()),
                     o.getScale().convertToDouble(), o.getCausal());
  });
  table.add<AttentionGradOp>([](AttentionGradOp o, const In &in) {
    std::vector<Tensor> grads;
    Result checked = attentionGrad(in(o.getQuery()), in(o.getKey()), in(o.getValue()),
                                   in(o.getResult()), in(o.getGradOutput()),
                                   o.getScale().convertToDouble(), o.getCausal(), grads);
    return checked.ok() ? Results(std::move(grads)) : Results(std::move(checked));
  });
}

void registerNormalization(KernelTable &table) {
  table.add<BatchNormOp>([](BatchNormOp o, const In &in) {
    // momentum=None: the cumulative average, 1 / num_batches_tracked after
    // this batch (training only, where the verifier asks for the count; eval
    // mode never moves the statistics, whatever the momentum).
    double momentum = 0.0;
    if (o.getMomentum())
      momentum = o.getMomentum()->convertToDouble();
    else if (o.getCount())
      momentum = 1.0 / (in(o.getCount()).data.at(0) + 1);
    BatchNormResult out =
        batchNorm(in(o.getInput()), in.optional(o.getWeight()),
                  in.optional(o.getBias()), in(o.getRunningMean()),
                  in(o.getRunningVar()), o.getEps().convertToDouble(), momentum,
                  o.getTraining());
    if (!out.ok())
      return Results::fail(out.error);
    return Results({std::move(out.result), std::move(out.runningMean),
                    std::move(out.runningVar), std::move(out.mean),
                    std::move(out.var)});
  });
}

} // namespace

void registerNNKernels(KernelTable &table) {
  registerProducts(table);
  registerPooling(table);
  registerIndexing(table);
  registerAttention(table);
  registerNormalization(table);
}

} // namespace firn::reference
