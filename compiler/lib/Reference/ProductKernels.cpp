//===- ProductKernels.cpp - matmul, linear and the convolutions ------------===//
//
// matmul, linear and its weight gradient, and the convolution with its two
// adjoints, each the plainest loops stating PyTorch's formula.
//
// The three convolution kernels share one loop nest, forEachTap, which visits
// every (input element, weight element, output element) triple that conv2d
// multiplies together. conv2d accumulates x*w into y; its gradient in the
// input accumulates dy*w into dx and in the weight x*dy into dw over the very
// same triples, which is what makes them exact adjoints by construction.
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
// Op kernels
//===----------------------------------------------------------------------===//

namespace {

/// The convolution ops' attributes (the verifier checked their sizes).
template <typename OpT> Conv2dGeometry convGeometry(OpT op) {
  Conv2dGeometry g;
  llvm::copy(op.getStride(), g.stride.begin());
  llvm::copy(op.getPadding(), g.padding.begin());
  llvm::copy(op.getDilation(), g.dilation.begin());
  return g;
}

} // namespace

void registerProductKernels(KernelTable &table) {
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

} // namespace firn::reference
