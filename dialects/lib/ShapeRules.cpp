//===- ShapeRules.cpp - Shape and dtype rules of firn's ops ---------------===//
//
// See ShapeRules.h. Messages are written for a person: they name the op's
// argument and print both shapes in the DSL's notation.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/ShapeRules.h"

#include <algorithm>

namespace firn::shape {

std::string str(const Shape &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += shape[i] == kBatch ? "N" : std::to_string(shape[i]);
  }
  return out + "]";
}

int64_t staticElements(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d != kBatch)
      n *= d;
  return n;
}

bool hasBatch(const Shape &shape) {
  return std::find(shape.begin(), shape.end(), kBatch) != shape.end();
}

std::string checkWellFormed(const Shape &shape) {
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == kBatch && i != 0)
      return "the batch dimension must be the first, not dimension " +
             std::to_string(i) + " of " + str(shape);
    if (shape[i] != kBatch && shape[i] <= 0)
      return "dimension " + std::to_string(i) + " of " + str(shape) +
             " must be positive";
  }
  return "";
}

Inferred broadcast(const Shape &lhs, const Shape &rhs) {
  size_t rank = std::max(lhs.size(), rhs.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align from the right, as NumPy does; a missing dimension is 1.
    int64_t a = i < rank - lhs.size() ? 1 : lhs[i - (rank - lhs.size())];
    int64_t b = i < rank - rhs.size() ? 1 : rhs[i - (rank - rhs.size())];
    if (a == b || b == 1)
      out[i] = a;
    else if (a == 1)
      out[i] = b;
    else
      return Inferred::fail("shapes " + str(lhs) + " and " + str(rhs) +
                            " do not broadcast");
  }
  if (std::string bad = checkWellFormed(out); !bad.empty())
    return Inferred::fail("broadcasting " + str(lhs) + " with " + str(rhs) +
                          " moves the batch dimension: " + bad);
  return {out, ""};
}

bool broadcastsTo(const Shape &from, const Shape &to) {
  Inferred joined = broadcast(from, to);
  return joined.ok() && joined.shape == to;
}

Inferred linear(const Shape &x, const Shape &w, const std::optional<Shape> &b) {
  if (w.size() != 2 || hasBatch(w))
    return Inferred::fail("linear weight must be [out, in], got " + str(w));
  if (x.empty())
    return Inferred::fail("linear input must have at least one dimension");
  if (x.back() != w[1])
    return Inferred::fail("linear input " + str(x) + " has " +
                          std::to_string(x.back()) +
                          " features but the weight " + str(w) + " expects " +
                          std::to_string(w[1]));
  if (b && !broadcastsTo(*b, {w[0]}))
    return Inferred::fail("linear bias " + str(*b) +
                          " does not broadcast to [" + std::to_string(w[0]) +
                          "]");
  Shape out = x;
  out.back() = w[0];
  return {out, ""};
}

std::array<int64_t, 4> samePadding(int64_t kh, int64_t kw,
                                   const std::array<int64_t, 2> &dilation) {
  int64_t th = dilation[0] * (kh - 1), tw = dilation[1] * (kw - 1);
  return {th / 2, tw / 2, th - th / 2, tw - tw / 2};
}

Inferred conv2d(const Shape &x, const Shape &w, const std::optional<Shape> &b,
                const Conv2dGeometry &g) {
  if (x.size() != 4)
    return Inferred::fail("conv2d input must be [N, C, H, W], got " + str(x));
  if (w.size() != 4 || hasBatch(w))
    return Inferred::fail("conv2d weight must be [out, in, kh, kw], got " +
                          str(w));
  if (x[1] != w[1])
    return Inferred::fail("conv2d input " + str(x) + " has " +
                          std::to_string(x[1]) + " channels but the weight " +
                          str(w) + " expects " + std::to_string(w[1]));
  for (int64_t v : {g.stride[0], g.stride[1], g.dilation[0], g.dilation[1]})
    if (v <= 0)
      return Inferred::fail("conv2d stride and dilation must be positive");
  for (int64_t v : g.padding)
    if (v < 0)
      return Inferred::fail("conv2d padding must not be negative");
  if (b && (b->size() != 1 || (*b)[0] != w[0]))
    return Inferred::fail("conv2d bias " + str(*b) + " must be [" +
                          std::to_string(w[0]) + "]");
  Shape out = {x[0], w[0], 0, 0};
  for (int i = 0; i < 2; ++i) {
    int64_t padded = x[2 + i] + g.padding[i] + g.padding[i + 2];
    int64_t span = g.dilation[i] * (w[2 + i] - 1) + 1;
    if (x[2 + i] == kBatch || padded < span)
      return Inferred::fail("conv2d kernel " + str(w) +
                            " is larger than the padded input " + str(x));
    out[2 + i] = (padded - span) / g.stride[i] + 1;
  }
  return {out, ""};
}

Inferred pool2d(const std::string &op, const Shape &x,
                const std::array<int64_t, 2> &kernel,
                const std::array<int64_t, 2> &stride,
                const std::array<int64_t, 2> &padding) {
  if (x.size() != 4)
    return Inferred::fail(op + " input must be [N, C, H, W], got " + str(x));
  for (int i = 0; i < 2; ++i) {
    if (kernel[i] <= 0 || stride[i] <= 0)
      return Inferred::fail(op + " kernel and stride must be positive");
    if (padding[i] < 0 || 2 * padding[i] > kernel[i])
      return Inferred::fail(op + " padding must be between 0 and half "
                            "the kernel size, got padding " +
                            std::to_string(padding[i]) + " for kernel " +
                            std::to_string(kernel[i]));
  }
  Shape out = {x[0], x[1], 0, 0};
  for (int i = 0; i < 2; ++i) {
    int64_t padded = x[2 + i] + 2 * padding[i];
    if (x[2 + i] == kBatch || padded < kernel[i])
      return Inferred::fail(op + " kernel " + std::to_string(kernel[0]) +
                            "x" + std::to_string(kernel[1]) +
                            " is larger than the padded input " + str(x));
    out[2 + i] = (padded - kernel[i]) / stride[i] + 1;
  }
  return {out, ""};
}

Inferred maxPool2d(const Shape &x, const std::array<int64_t, 2> &kernel,
                   const std::array<int64_t, 2> &stride,
                   const std::array<int64_t, 2> &padding) {
  return pool2d("max_pool2d", x, kernel, stride, padding);
}

Inferred avgPool2d(const Shape &x, const std::array<int64_t, 2> &kernel,
                   const std::array<int64_t, 2> &stride,
                   const std::array<int64_t, 2> &padding) {
  return pool2d("avg_pool2d", x, kernel, stride, padding);
}

Inferred reshape(const Shape &x, const Shape &newShape) {
  if (hasBatch(x) != (!newShape.empty() && newShape[0] == kBatch))
    return Inferred::fail("reshape from " + str(x) + " to " + str(newShape) +
                          " must keep the batch dimension first");
  Shape out = newShape;
  int64_t known = 1, inferredAt = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == kBatch && i == 0)
      continue;
    if (out[i] == -1 && inferredAt < 0 && !(i == 0 && hasBatch(x))) {
      inferredAt = static_cast<int64_t>(i);
      continue;
    }
    if (out[i] <= 0)
      return Inferred::fail("reshape target " + str(newShape) +
                            " has an invalid dimension");
    known *= out[i];
  }
  int64_t total = staticElements(x);
  if (inferredAt >= 0) {
    if (total % known != 0)
      return Inferred::fail("cannot reshape " + str(x) + " to " +
                            str(newShape) + ": " + std::to_string(total) +
                            " elements per batch entry do not divide by " +
                            std::to_string(known));
    out[inferredAt] = total / known;
    known = total;
  }
  if (known != total)
    return Inferred::fail("cannot reshape " + str(x) + " (" +
                          std::to_string(total) + " elements) to " +
                          str(newShape) + " (" + std::to_string(known) +
                          " elements)");
  return {out, ""};
}

Inferred flatten(const Shape &x) {
  if (x.empty())
    return Inferred::fail("flatten needs at least one dimension");
  int64_t rest = 1;
  for (size_t i = 1; i < x.size(); ++i)
    rest *= x[i];
  return {{x[0], rest}, ""};
}

Inferred matmul(const Shape &a, const Shape &b, bool transposeA,
                bool transposeB) {
  if (a.size() < 2 || b.size() != a.size())
    return Inferred::fail("matmul operands must be matrices or batches of them "
                          "of the same rank, got " + str(a) + " and " + str(b));
  const size_t r = a.size();
  if (!std::equal(a.begin(), a.end() - 2, b.begin()))
    return Inferred::fail("matmul batch dimensions differ: " + str(a) + " and " +
                          str(b));
  int64_t m = transposeA ? a[r - 1] : a[r - 2], ka = transposeA ? a[r - 2] : a[r - 1];
  int64_t kb = transposeB ? b[r - 1] : b[r - 2], n = transposeB ? b[r - 2] : b[r - 1];
  if (ka != kb)
    return Inferred::fail("matmul inner dimensions differ: " + str(a) +
                          (transposeA ? "^T" : "") + " and " + str(b) +
                          (transposeB ? "^T" : ""));
  if (n == kBatch)
    return Inferred::fail(
        "matmul result would have the batch dimension last: " + str(a) +
        " and " + str(b));
  if (r > 2 && (m == kBatch || ka == kBatch))
    return Inferred::fail("a batched matmul takes the batch dimension only among "
                          "its leading dimensions, got " + str(a) + " and " + str(b));
  Shape out(a.begin(), a.end() - 2);
  out.push_back(m);
  out.push_back(n);
  return {out, ""};
}

Inferred transpose(const Shape &x, const std::vector<int64_t> &perm) {
  if (perm.size() != x.size())
    return Inferred::fail("transpose permutation has " +
                          std::to_string(perm.size()) +
                          " entries for a tensor of shape " + str(x));
  std::vector<bool> seen(x.size(), false);
  Shape out(x.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(x.size()) ||
        seen[perm[i]])
      return Inferred::fail("transpose permutation is not a permutation of " +
                            std::to_string(x.size()) + " dimensions");
    seen[perm[i]] = true;
    out[i] = x[perm[i]];
  }
  if (std::string bad = checkWellFormed(out); !bad.empty())
    return Inferred::fail(bad);
  return {out, ""};
}

Inferred reduce(const Shape &x, const std::vector<int64_t> &axes,
                bool keepDims) {
  std::vector<bool> reduced(x.size(), axes.empty());
  for (int64_t axis : axes) {
    if (axis < 0 || axis >= static_cast<int64_t>(x.size()) || reduced[axis])
      return Inferred::fail("reduction axis " + std::to_string(axis) +
                            " is out of range or repeated for " + str(x));
    reduced[axis] = true;
  }
  Shape out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!reduced[i])
      out.push_back(x[i]);
    else if (keepDims)
      out.push_back(1);
  }
  if (std::string bad = checkWellFormed(out); !bad.empty())
    return Inferred::fail(bad);
  return {out, ""};
}

Inferred mseLoss(const Shape &prediction, const Shape &target) {
  if (prediction != target)
    return Inferred::fail("mse prediction " + str(prediction) +
                          " and target " + str(target) +
                          " must have the same shape");
  return {{}, ""};
}

Inferred crossEntropy(const Shape &logits, const Shape &target,
                      bool indexTarget) {
  if (logits.size() < 2)
    return Inferred::fail("cross_entropy logits must be [N, C] or [N, C, d...], got " +
                          str(logits));
  // Class indices: the logits' shape without the class dimension (1).
  Shape indices = logits;
  indices.erase(indices.begin() + 1);
  if (indexTarget && target != indices)
    return Inferred::fail("cross_entropy class-index target " + str(target) +
                          " must be " + str(indices) + " for logits " +
                          str(logits));
  if (!indexTarget && target != logits)
    return Inferred::fail("cross_entropy class-probability target " +
                          str(target) + " must have the logits' shape " +
                          str(logits));
  return {{}, ""};
}

Inferred batchNorm(const Shape &x, const Shape &channelShape) {
  if (x.size() < 2)
    return Inferred::fail("batch_norm input must be [N, C, ...], got " +
                          str(x));
  if (channelShape.size() != 1 || channelShape[0] != x[1])
    return Inferred::fail("batch_norm statistics " + str(channelShape) +
                          " must be [" + std::to_string(x[1]) +
                          "] for input " + str(x));
  return {x, ""};
}

} // namespace firn::shape
