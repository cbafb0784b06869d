//===- IndexArithmetic.h - Row-major indices, strides, broadcasting -*- C++ -*-===//
//
// The index arithmetic the elementwise, layout and reduction kernels share:
// row-major strides, flat offsets, visiting every multi-index in order, and
// NumPy's broadcasting rules, stated as plainly as they are in NumPy's
// documentation, so that the kernels can be checked against them by reading.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_REFERENCE_INDEXARITHMETIC_H
#define FIRN_REFERENCE_INDEXARITHMETIC_H

#include "Kernels.h"

#include <cstdint>
#include <vector>

namespace firn::reference::detail {

using Index = std::vector<int64_t>;

/// Row-major strides: the last dimension is contiguous.
inline Index stridesOf(const Shape &shape) {
  Index strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

/// The flat offset of a multi-index under the given strides.
inline int64_t offsetOf(const Index &index, const Index &strides) {
  int64_t offset = 0;
  for (size_t d = 0; d < index.size(); ++d)
    offset += index[d] * strides[d];
  return offset;
}

/// Calls fn(index) for every multi-index of `shape`, in row-major order (so
/// the n-th call is for flat element n).
template <typename Fn>
void forEachIndex(const Shape &shape, Fn fn) {
  Index index(shape.size(), 0);
  for (int64_t flat = 0, count = numelOf(shape); flat < count; ++flat) {
    fn(index);
    // Advance like an odometer: the last dimension turns fastest.
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
  }
}

/// NumPy broadcasting: align on the right; sizes must be equal or 1.
inline bool broadcastShape(const Shape &lhs, const Shape &rhs, Shape &result) {
  size_t rank = std::max(lhs.size(), rhs.size());
  result.assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    // Dimension i counted from the right; a missing one acts as size 1.
    int64_t l = i < lhs.size() ? lhs[lhs.size() - 1 - i] : 1;
    int64_t r = i < rhs.size() ? rhs[rhs.size() - 1 - i] : 1;
    if (l != r && l != 1 && r != 1)
      return false;
    result[rank - 1 - i] = l == 1 ? r : l;
  }
  return true;
}

/// The strides with which to read a tensor of shape `from` while walking the
/// multi-indices of `to`, which `from` broadcasts to: a stretched (size-1 or
/// missing) dimension gets stride 0, so it reads the same element again.
inline Index broadcastStrides(const Shape &from, const Shape &to) {
  Index own = stridesOf(from);
  Index strides(to.size(), 0);
  size_t offset = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d)
    if (from[d] != 1)
      strides[offset + d] = own[d];
  return strides;
}

} // namespace firn::reference::detail

#endif // FIRN_REFERENCE_INDEXARITHMETIC_H
