//===- Kernels.h - Plain-loop kernels of the reference evaluator -*- C++ -*-===//
//
// One function per firn op, on double-precision row-major tensors, written
// as the plainest loops that state PyTorch's formula. They know nothing of
// MLIR so that each can be read, and unit-tested, on its own; each kernel
// file ends with the table entries (KernelTable.h) that map its family's ops
// and their attributes onto them.
//
// The op verifiers have already checked every static shape. What is left for
// the kernels to check are the facts only known at run time (two batch sizes
// that disagree, a class index out of range) and misuse from tests; they
// report those as a message and never assert.
//
// One file per op family, as the dialect's (dialects/lib/Ops/) and the
// lowering's: ElementwiseKernels.cpp, LayoutKernels.cpp,
// ReductionKernels.cpp (which share IndexArithmetic.h); matmul, linear and convolutions in
// ProductKernels.cpp; pooling in PoolingKernels.cpp; one_hot and embedding
// in IndexingKernels.cpp; attention in AttentionKernels.cpp; batch norm with
// the reductions.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_REFERENCE_KERNELS_H
#define FIRN_REFERENCE_KERNELS_H

#include "firn/Dialect/ShapeRules.h"
#include "firn/Reference/Evaluator.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace firn::reference {

using Shape = std::vector<int64_t>;

/// A kernel's tensor, or the reason the inputs don't fit. Mirrors
/// shape::Inferred. Converts from a Tensor so that infallible kernels can be
/// used wherever a Result is expected.
struct Result {
  Tensor value;
  std::string error;

  Result() = default;
  Result(Tensor value) : value(std::move(value)) {}
  bool ok() const { return error.empty(); }
  static Result fail(std::string message);
};

/// Strides, paddings (top, left, bottom, right) and dilations of a conv2d.
using Conv2dGeometry = shape::Conv2dGeometry;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// The number of elements of a shape (1 for []).
int64_t numelOf(const Shape &shape);
/// `[2, 3]`.
std::string shapeStr(const Shape &shape);
/// A float tensor of this shape with every element `value`.
Tensor filled(const Shape &shape, double value);
/// A float tensor from a shape and its row-major data.
Tensor fromData(const Shape &shape, std::vector<double> data);
/// A 0-d float tensor.
Tensor scalar(double value);

//===----------------------------------------------------------------------===//
// Elementwise (ElementwiseKernels.cpp)
//===----------------------------------------------------------------------===//

Tensor neg(const Tensor &x);
/// `fn` applied to every element (the elementwise math ops, through their
/// `apply` formula: see Firn_MathOp in FirnOps.td).
Tensor mapElements(const Tensor &x, double (*fn)(double));
/// max(x, 0); NaN stays NaN as in torch.relu.
Tensor relu(const Tensor &x);
/// grad where input > 0, else 0. The shapes must be equal.
Result reluGrad(const Tensor &grad, const Tensor &input);

/// Binary ops with NumPy broadcasting; the result has the broadcast shape.
Result add(const Tensor &lhs, const Tensor &rhs);
Result sub(const Tensor &lhs, const Tensor &rhs);
Result mul(const Tensor &lhs, const Tensor &rhs);
Result div(const Tensor &lhs, const Tensor &rhs);
/// torch.maximum: NaN in either operand gives NaN.
Result maximum(const Tensor &lhs, const Tensor &rhs);
Result pow(const Tensor &lhs, const Tensor &rhs);
/// 1 where holds(lhs, rhs), else 0 (a mask; firn.compare).
Result compare(const Tensor &lhs, const Tensor &rhs, bool (*holds)(double, double));
/// torch.where(mask != 0, lhs, rhs), the three broadcast together.
Result select(const Tensor &mask, const Tensor &lhs, const Tensor &rhs);

/// x broadcast to exactly `shape` (x's dims align to the right, 1 stretches).
Result broadcastTo(const Tensor &x, const Shape &shape);

//===----------------------------------------------------------------------===//
// Layout and reductions (LayoutKernels.cpp, ReductionKernels.cpp)
//===----------------------------------------------------------------------===//

/// Result dim i is input dim perm[i].
Result transpose(const Tensor &x, const std::vector<int64_t> &perm);
/// x's elements [start, start + size) along `axis` (torch.narrow).
Result slice(const Tensor &x, int64_t axis, int64_t start, int64_t size);
/// `part` placed from `start` along `axis` into zeros of shape `whole`.
Result sliceGrad(const Tensor &part, const Shape &whole, int64_t axis, int64_t start);
/// The tensors joined along `axis` (torch.cat).
Result concat(const std::vector<const Tensor *> &parts, int64_t axis);
/// The same row-major data under another shape with as many elements.
Result reshape(const Tensor &x, const Shape &shape);

/// Sum, mean or max over `axes` (all when empty); reduced axes are dropped,
/// or kept as size 1 with keepDims.
Result reduceSum(const Tensor &x, const std::vector<int64_t> &axes,
                 bool keepDims);
Result reduceMean(const Tensor &x, const std::vector<int64_t> &axes,
                  bool keepDims);
Result reduceMax(const Tensor &x, const std::vector<int64_t> &axes,
                 bool keepDims);
/// How many elements a reduction over `axes` combines, as a 0-d tensor.
Result numel(const Tensor &x, const std::vector<int64_t> &axes);

/// Along one axis, stably (the maximum is subtracted first).
Result softmax(const Tensor &x, int64_t axis);
Result logSoftmax(const Tensor &x, int64_t axis);

//===----------------------------------------------------------------------===//
// Layers (ProductKernels.cpp, AttentionKernels.cpp, PoolingKernels.cpp,
// IndexingKernels.cpp; batch norm in ReductionKernels.cpp)
//===----------------------------------------------------------------------===//

/// op(a) @ op(b) for matrices, op = transpose when asked.
Result matmul(const Tensor &lhs, const Tensor &rhs, bool transposeLhs,
              bool transposeRhs);
/// F.scaled_dot_product_attention without mask or dropout:
/// softmax(q kᵀ · scale) v over [B..., L, E], [B..., S, E], [B..., S, F];
/// `causal`: the scores of key j > query i at -inf.
Result attention(const Tensor &q, const Tensor &k, const Tensor &v, double scale,
                 bool causal);
/// attention's gradients (firn.attention_grad): dq, dk, dv into `grads`,
/// from the forward's result y and its gradient dy, with the softmax's
/// sum_j p dp per row taken as sum_f dy y. The Result is empty, or says why
/// the operands do not fit.
Result attentionGrad(const Tensor &q, const Tensor &k, const Tensor &v,
                     const Tensor &y, const Tensor &dy, double scale, bool causal,
                     std::vector<Tensor> &grads);
/// F.linear: x[..., in] @ w[out, in]^T + bias (broadcast to [out]).
Result linear(const Tensor &x, const Tensor &w, const Tensor *bias);

/// F.max_pool2d's window geometry: kernel, stride, padding (rows, columns).
struct PoolGeometry {
  std::array<int64_t, 2> kernel = {1, 1}, stride = {1, 1}, padding = {0, 0};
};
/// F.max_pool2d: x[N, C, H, W] -> [N, C, Ho, Wo].
Result maxPool2d(const Tensor &x, const PoolGeometry &geometry);
/// Its adjoint: each gradOutput element goes to its window's first maximum
/// in x (row-major), as in PyTorch.
Result maxPool2dGrad(const Tensor &gradOutput, const Tensor &x,
                     const PoolGeometry &geometry);

/// The gradient of linear's weight: dy[..., out], x[..., in] (the same
/// leading dimensions) -> sum over the leading positions of dy^T x [out, in].
Result linearWeightGrad(const Tensor &dy, const Tensor &x);

/// F.avg_pool2d: x[N, C, H, W] -> [N, C, Ho, Wo], zero padding; each
/// window divided by its area (countIncludePad) or by its taps inside x.
Result avgPool2d(const Tensor &x, const PoolGeometry &geometry,
                 bool countIncludePad);
/// Its adjoint: each gradOutput element, divided as its window, to every
/// input of the window; `inputShape` is x's.
Result avgPool2dGrad(const Tensor &gradOutput, const Shape &inputShape,
                     const PoolGeometry &geometry, bool countIncludePad);

/// F.conv2d: x[N, C, H, W], w[O, C, kh, kw], bias[O] -> [N, O, Ho, Wo].
Result conv2d(const Tensor &x, const Tensor &w, const Tensor *bias,
              const Conv2dGeometry &geometry);
/// The adjoint of conv2d in its input: dy[N, O, Ho, Wo] -> [N, C, H, W] with
/// `inputShape` = [N, C, H, W] (stride alone leaves H and W ambiguous).
Result conv2dGradInput(const Tensor &gradOutput, const Tensor &w,
                       const Conv2dGeometry &geometry,
                       const Shape &inputShape);
/// The adjoint of conv2d in its weight: -> `weightShape` = [O, C, kh, kw].
Result conv2dGradWeight(const Tensor &x, const Tensor &gradOutput,
                        const Conv2dGeometry &geometry,
                        const Shape &weightShape);

/// Integer class indices [N, d...] -> float one-hot [N, numClasses, d...].
Result oneHot(const Tensor &indices, int64_t numClasses);
/// nn.Embedding: rows of `table` [V, D] picked by integer `indices` (any
/// shape); the result is the indices' shape + [D]. An index outside
/// [0, V) is an error, as PyTorch's IndexError.
Result embedding(const Tensor &table, const Tensor &indices);
/// Its gradient with respect to the table: `dy` (the indices' shape + [D])
/// added into row indices[p] of a [rows, D] zero table, in position order;
/// the row `paddingIdx` (when >= 0) stays zero.
Result embeddingGrad(const Tensor &dy, const Tensor &indices, int64_t rows,
                     int64_t paddingIdx);

/// BatchNorm's three results, or why there are none.
struct BatchNormResult {
  Tensor result, runningMean, runningVar;
  /// The statistics that normalized: the batch's (biased variance) in
  /// training, the running ones in evaluation.
  Tensor mean, var;
  std::string error;
  bool ok() const { return error.empty(); }
};
/// nn.BatchNorm1d/2d over channel dim 1 of x[N, C, ...]; weight and bias are
/// optional (affine=False). Training normalizes with the batch statistics
/// (biased variance) and moves the running statistics by `momentum`, the
/// variance with its unbiased estimate; evaluation normalizes with the
/// running statistics and returns them unchanged.
BatchNormResult batchNorm(const Tensor &x, const Tensor *weight,
                          const Tensor *bias, const Tensor &runningMean,
                          const Tensor &runningVar, double eps,
                          double momentum, bool training);

} // namespace firn::reference

#endif // FIRN_REFERENCE_KERNELS_H
