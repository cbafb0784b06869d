//===- Buffers.cpp - Host tensors and their halide_buffer_t ---------------===//
//
// See Buffers.h. The runtime reverses dimensions here and nowhere else; the
// code generator makes the same choice on its side
// (compiler/lib/Codegen/Lowering.h), and the tests' fake kernels undo it
// independently (TrainerTest.cpp).
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Buffers.h"

#include <cstring>
#include <limits>

extern "C" int firn_describe_buffer(int dtype, int rank, const int64_t *shape,
                                    void *host, halide_buffer_t *buffer,
                                    halide_dimension_t *dims) {
  if (rank < 0 || rank > FIRN_MAX_RANK || (rank > 0 && (!shape || !dims)) ||
      !buffer || (dtype != FIRN_F32 && dtype != FIRN_I64))
    return -1;
  const int64_t limit = std::numeric_limits<int32_t>::max();
  int64_t stride = 1;
  for (int k = 0; k < rank; ++k) {
    int64_t extent = shape[rank - 1 - k];
    if (extent < 0 || extent > limit)
      return -1;
    dims[k].min = 0;
    dims[k].extent = static_cast<int32_t>(extent);
    dims[k].stride = static_cast<int32_t>(stride);
    dims[k].flags = 0;
    // The next stride must fit too (it is only used if there is a next
    // dimension, but an element count past 2^31 cannot be indexed anyway).
    stride *= extent;
    if (stride > limit)
      return -1;
  }
  std::memset(static_cast<void *>(buffer), 0, sizeof(*buffer));
  buffer->host = static_cast<uint8_t *>(host);
  buffer->type.code = dtype == FIRN_F32 ? halide_type_float : halide_type_int;
  buffer->type.bits = dtype == FIRN_F32 ? 32 : 64;
  buffer->type.lanes = 1;
  buffer->dimensions = rank;
  buffer->dim = rank > 0 ? dims : nullptr;
  return 0;
}

namespace firn::runtime {

HostTensor HostTensor::zeros(firn_dtype dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  size_t n = static_cast<size_t>(t.numel());
  if (dtype == FIRN_F32)
    t.f32.assign(n, 0.0f);
  else
    t.i64.assign(n, 0);
  return t;
}

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

void *HostTensor::data() {
  if (dtype == FIRN_F32)
    return f32.empty() ? nullptr : f32.data();
  return i64.empty() ? nullptr : i64.data();
}

const void *HostTensor::data() const {
  return const_cast<HostTensor *>(this)->data();
}

TensorData HostTensor::toTensorData() const {
  return dtype == FIRN_F32 ? TensorData::fromFloats(shape, f32)
                           : TensorData::fromInt64s(shape, i64);
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

const char *dtypeString(int dtype) {
  return dtype == FIRN_F32 ? "float32" : dtype == FIRN_I64 ? "int64" : "?";
}

HalideBuffer::HalideBuffer() {
  std::memset(static_cast<void *>(&buffer), 0, sizeof(buffer));
}

bool describeBuffer(HostTensor &tensor, HalideBuffer &out,
                    const std::string &name, std::string &error) {
  if (firn_describe_buffer(tensor.dtype, static_cast<int>(tensor.shape.size()),
                           tensor.shape.data(), tensor.data(), &out.buffer,
                           out.dims) != 0) {
    error = "cannot pass '" + name + "' of shape " + shapeString(tensor.shape) +
            " to a kernel (rank above " + std::to_string(FIRN_MAX_RANK) +
            " or 2^31 elements or more)";
    return false;
  }
  return true;
}

} // namespace firn::runtime
