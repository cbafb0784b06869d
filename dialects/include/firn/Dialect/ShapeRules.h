//===- ShapeRules.h - Shape and dtype rules of firn's ops -------*- C++ -*-===//
//
// One statement of each op's shape rule, shared by the two places that must
// agree on it: the front end (which reports a mismatch at the DSL line that
// caused it) and the dialect's verifiers (which reject hand-written or
// pass-produced IR that breaks it). Plain C++ with no MLIR types, so the rules
// are unit-tested on their own.
//
// A shape is a list of sizes; `kBatch` marks the symbolic batch dimension,
// which may only be the first. Every rule returns the result shape or a
// message that names both offending shapes.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_DIALECT_SHAPERULES_H
#define FIRN_DIALECT_SHAPERULES_H

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace firn::shape {

/// The symbolic batch dimension (`N` in the DSL, `?` in MLIR types).
constexpr int64_t kBatch = -1;

using Shape = std::vector<int64_t>;

/// `[N, 1, 2, 2]`.
std::string str(const Shape &shape);

/// The number of elements when no dimension is the batch; otherwise the
/// number of elements per batch entry.
int64_t staticElements(const Shape &shape);

bool hasBatch(const Shape &shape);

/// A shape or the reason there is none.
struct Inferred {
  Shape shape;
  std::string error;
  bool ok() const { return error.empty(); }
  static Inferred fail(std::string message) { return {{}, std::move(message)}; }
};

/// Checks that only the first dimension is symbolic and all others are
/// positive. Returns "" or a message.
std::string checkWellFormed(const Shape &shape);

/// NumPy/PyTorch broadcasting. A batch dimension broadcasts with 1 and with
/// another batch dimension; against any other fixed size it is an error since
/// the batch size is chosen at run time.
Inferred broadcast(const Shape &lhs, const Shape &rhs);

/// Whether `from` broadcasts to exactly `to` (used for bias and for
/// reducing a gradient back to a parameter's shape).
bool broadcastsTo(const Shape &from, const Shape &to);

/// `F.linear(x, w, b)`: x[..., in], w[out, in], b broadcastable to [out].
Inferred linear(const Shape &x, const Shape &w, const std::optional<Shape> &b);

/// Conv2d geometry: strides (h, w), dilations (h, w) and paddings in the
/// order (top, left, bottom, right); padding may be asymmetric because
/// PyTorch's 'same' pads the extra row/column at the end.
struct Conv2dGeometry {
  std::array<int64_t, 2> stride = {1, 1};
  std::array<int64_t, 4> padding = {0, 0, 0, 0};
  std::array<int64_t, 2> dilation = {1, 1};
};

/// x[N, C, H, W], w[O, C, kh, kw], b[O] -> [N, O, Ho, Wo].
Inferred conv2d(const Shape &x, const Shape &w, const std::optional<Shape> &b,
                const Conv2dGeometry &geometry);

/// F.max_pool2d(x, kernel, stride, padding) on [N, C, H, W] (PyTorch's
/// rules: kernel and stride positive, padding at most half the kernel, no
/// ceil mode): [N, C, (H + 2p - k) / s + 1, ...].
Inferred maxPool2d(const Shape &x, const std::array<int64_t, 2> &kernel,
                   const std::array<int64_t, 2> &stride,
                   const std::array<int64_t, 2> &padding);
/// F.avg_pool2d: the same windows (and rules) as max_pool2d.
Inferred avgPool2d(const Shape &x, const std::array<int64_t, 2> &kernel,
                   const std::array<int64_t, 2> &stride,
                   const std::array<int64_t, 2> &padding);

/// Paddings (top, left, bottom, right) that make a stride-1 conv keep its
/// size: PyTorch's padding='same'.
std::array<int64_t, 4> samePadding(int64_t kh, int64_t kw,
                                   const std::array<int64_t, 2> &dilation);

/// `x.view(newShape)` where newShape may hold one -1 and keeps the batch
/// dimension first (`kBatch` in newShape stands for it).
Inferred reshape(const Shape &x, const Shape &newShape);

/// `x.flatten(1)`.
Inferred flatten(const Shape &x);

/// a[M, K] @ b[K, N] with optional transposes; M may be the batch.
Inferred matmul(const Shape &a, const Shape &b, bool transposeA,
                bool transposeB);

/// Permutes dimensions; `perm` must be a permutation of 0..rank-1.
Inferred transpose(const Shape &x, const std::vector<int64_t> &perm);

/// Sums or averages over `axes` (all axes if empty).
Inferred reduce(const Shape &x, const std::vector<int64_t> &axes,
                bool keepDims);

/// mse_loss(a, b) -> scalar; both shapes must be equal.
Inferred mseLoss(const Shape &prediction, const Shape &target);

/// cross_entropy(logits[N, C], target): class indices [N] (indexTarget) or
/// class probabilities [N, C].
Inferred crossEntropy(const Shape &logits, const Shape &target,
                      bool indexTarget);

/// batch_norm(x[N, C, ...], weight[C], bias[C], running stats [C]).
Inferred batchNorm(const Shape &x, const Shape &channelShape);

} // namespace firn::shape

#endif // FIRN_DIALECT_SHAPERULES_H
