//===- Kernels.cpp - Tensor helpers shared by the reference kernels -------===//
//
// The few helpers every kernel file uses: element counts, printing a shape
// for messages, and building tensors. The kernels themselves are in one
// file per op family (see Kernels.h).
//
//===----------------------------------------------------------------------===//
#include "Kernels.h"

namespace firn::reference {

int64_t Tensor::numel() const { return numelOf(shape); }

Result Result::fail(std::string message) {
  Result result;
  result.error = std::move(message);
  return result;
}

int64_t numelOf(const Shape &shape) {
  int64_t count = 1;
  for (int64_t size : shape)
    count *= size;
  return count;
}

std::string shapeStr(const Shape &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

Tensor filled(const Shape &shape, double value) {
  Tensor tensor;
  tensor.shape = shape;
  tensor.data.assign(numelOf(shape), value);
  return tensor;
}

Tensor fromData(const Shape &shape, std::vector<double> data) {
  Tensor tensor;
  tensor.shape = shape;
  tensor.data = std::move(data);
  return tensor;
}

Tensor scalar(double value) { return filled({}, value); }

} // namespace firn::reference
