//===- AttentionKernels.cpp - scaled dot-product attention -----------------===//
//
// Fused scaled dot-product attention and its gradient, each query row's
// weights computed as the forward computes them (rowWeights).
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

//===----------------------------------------------------------------------===//
// Op kernels
//===----------------------------------------------------------------------===//

void registerAttentionKernels(KernelTable &table) {
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

} // namespace firn::reference
