//===- IndexingKernels.cpp - one_hot and embedding -------------------------===//
//
// The kernels indexed by integer class indices or token ids: one_hot, the
// embedding gather and its scatter-add gradient.
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
// Op kernels
//===----------------------------------------------------------------------===//

void registerIndexingKernels(KernelTable &table) {
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

} // namespace firn::reference
