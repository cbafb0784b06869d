//===- LayoutKernels.cpp - Transpose, slices, concat, reshape --------------===//
//
// The reference kernels of the layout ops: transpose, slices and their
// gradient, concatenation, reshape; data moved, never computed.
//
// The kernels know nothing of MLIR; the last section maps the family's ops
// and their attributes onto them (KernelTable.h).
//
//===----------------------------------------------------------------------===//
#include "IndexArithmetic.h"
#include "KernelTable.h"

#include "firn/Dialect/FirnOps.h"

#include <cmath>
#include <limits>

namespace firn::reference {
using namespace detail;

namespace {

/// Copies `from` into `to` at offset `start` along `axis` (or, with
/// `gather`, reads `to`'s shape out of `from` from `start`): the shapes
/// agree but at `axis`.
void copyAlong(const Tensor &from, Tensor &to, int64_t axis, int64_t start, bool gather) {
  const Shape &small = gather ? to.shape : from.shape;
  const Shape &big = gather ? from.shape : to.shape;
  int64_t outer = numelOf(Shape(small.begin(), small.begin() + axis));
  int64_t inner = numelOf(Shape(small.begin() + axis + 1, small.end()));
  int64_t n = small[axis], bigN = big[axis];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k) {
        int64_t smallAt = (o * n + i) * inner + k, bigAt = (o * bigN + start + i) * inner + k;
        if (gather)
          to.data[smallAt] = from.data[bigAt];
        else
          to.data[bigAt] = from.data[smallAt];
      }
}

} // namespace

//===----------------------------------------------------------------------===//
// Shape
//===----------------------------------------------------------------------===//



Result slice(const Tensor &x, int64_t axis, int64_t start, int64_t size) {
  if (axis < 0 || axis >= static_cast<int64_t>(x.shape.size()) || start < 0 ||
      start + size > x.shape[axis])
    return Result::fail("slice [" + std::to_string(start) + ", " +
                        std::to_string(start + size) + ") along axis " +
                        std::to_string(axis) + " does not fit " + shapeStr(x.shape));
  Shape shape = x.shape;
  shape[axis] = size;
  Tensor out = filled(shape, 0.0);
  copyAlong(x, out, axis, start, /*gather=*/true);
  return out;
}

Result sliceGrad(const Tensor &part, const Shape &whole, int64_t axis, int64_t start) {
  if (axis < 0 || axis >= static_cast<int64_t>(whole.size()) ||
      part.shape.size() != whole.size() || start + part.shape[axis] > whole[axis])
    return Result::fail("slice gradient " + shapeStr(part.shape) + " does not fit " +
                        shapeStr(whole));
  Tensor out = filled(whole, 0.0);
  copyAlong(part, out, axis, start, /*gather=*/false);
  return out;
}

Result concat(const std::vector<const Tensor *> &parts, int64_t axis) {
  Shape shape = parts.front()->shape;
  shape[axis] = 0;
  for (const Tensor *p : parts)
    shape[axis] += p->shape[axis];
  Tensor out = filled(shape, 0.0);
  int64_t start = 0;
  for (const Tensor *p : parts) {
    Shape expected = shape;
    expected[axis] = p->shape[axis];
    if (p->shape != expected)
      return Result::fail("concat operand " + shapeStr(p->shape) + " does not fit " +
                          shapeStr(shape) + " along axis " + std::to_string(axis));
    copyAlong(*p, out, axis, start, /*gather=*/false);
    start += p->shape[axis];
  }
  return out;
}

Result transpose(const Tensor &x, const std::vector<int64_t> &perm) {
  std::vector<bool> seen(x.shape.size(), false);
  bool valid = perm.size() == x.shape.size();
  for (int64_t p : perm) {
    valid = valid && p >= 0 && p < static_cast<int64_t>(x.shape.size()) &&
            !seen[p];
    if (valid)
      seen[p] = true;
  }
  if (!valid)
    return Result::fail("permutation of " + shapeStr(perm) +
                        " does not fit " + shapeStr(x.shape));
  Shape shape;
  for (int64_t p : perm)
    shape.push_back(x.shape[p]);
  // Result dim i walks input dim perm[i], so it steps by that dim's stride.
  Index inputStrides = stridesOf(x.shape);
  Index strides;
  for (int64_t p : perm)
    strides.push_back(inputStrides[p]);
  Tensor out = filled(shape, 0.0);
  out.isInteger = x.isInteger;
  int64_t flat = 0;
  forEachIndex(shape, [&](const Index &index) {
    out.data[flat++] = x.data[offsetOf(index, strides)];
  });
  return out;
}

Result reshape(const Tensor &x, const Shape &shape) {
  if (numelOf(shape) != x.numel())
    return Result::fail("cannot reshape " + shapeStr(x.shape) + " (" +
                        std::to_string(x.numel()) + " elements) to " +
                        shapeStr(shape));
  Tensor out = fromData(shape, x.data);
  out.isInteger = x.isInteger;
  return out;
}

//===----------------------------------------------------------------------===//
// Op kernels
//===----------------------------------------------------------------------===//

void registerLayoutKernels(KernelTable &table) {
  table.add<TransposeOp>([](TransposeOp o, const In &in) {
    return transpose(in(o.getInput()), o.getPerm());
  });
  table.add<SliceOp>([](SliceOp o, const In &in) {
    return slice(in(o.getInput()), static_cast<int64_t>(o.getAxis()),
                 static_cast<int64_t>(o.getStart()),
                 o.getType().getDimSize(o.getAxis()));
  });
  table.add<SliceGradOp>([](SliceGradOp o, const In &in) {
    const Tensor &dy = in(o.getGradOutput());
    return sliceGrad(dy, resolve(o.getType(), batchOf(dy)),
                     static_cast<int64_t>(o.getAxis()),
                     static_cast<int64_t>(o.getStart()));
  });
  table.add<ConcatOp>([](ConcatOp o, const In &in) {
    std::vector<const Tensor *> parts;
    for (mlir::Value v : o.getInputs())
      parts.push_back(&in(v));
    return concat(parts, static_cast<int64_t>(o.getAxis()));
  });
  table.add<ReshapeOp>([](ReshapeOp o, const In &in) {
    // The result type fixes every size but the batch, which the input
    // carries in its first dimension.
    const Tensor &x = in(o.getInput());
    return reshape(x, resolve(o.getType(), batchOf(x)));
  });
}

} // namespace firn::reference
