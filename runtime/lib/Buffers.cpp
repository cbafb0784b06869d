//===- Buffers.cpp - Host tensors and their halide_buffer_t ---------------===//
//
// See Buffers.h. The runtime reverses dimensions here and nowhere else; the
// code generator makes the same choice on its side
// (compiler/lib/Codegen/Lowering.h), and the tests' fake kernels undo it
// independently (TrainerTest.cpp).
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Buffers.h"

#include "firn/Runtime/HalideErrors.h"

#include <cstdio>
#include <cstdlib>
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

namespace {
/// `t` described with its device copy and flags; false if it cannot be
/// described (which a tensor with a device copy always can: a kernel took
/// it).
bool describeWithDevice(const HostTensor &t, HalideBuffer &out) {
  if (firn_describe_buffer(t.dtype, static_cast<int>(t.shape.size()),
                           t.shape.data(), const_cast<void *>(t.data()),
                           &out.buffer, out.dims) != 0)
    return false;
  attachDevice(t, out.buffer);
  return true;
}
} // namespace

void attachDevice(const HostTensor &tensor, halide_buffer_t &buffer) {
  buffer.device = tensor.device.handle;
  buffer.device_interface = tensor.device.interface;
  buffer.flags = (tensor.device.hostDirty ? halide_buffer_flag_host_dirty : 0) |
                 (tensor.device.deviceDirty ? halide_buffer_flag_device_dirty : 0);
}

void takeDevice(HostTensor &tensor, const halide_buffer_t &buffer) {
  tensor.device.handle = buffer.device;
  tensor.device.interface = buffer.device_interface;
  tensor.device.hostDirty = buffer.device && (buffer.flags & halide_buffer_flag_host_dirty);
  tensor.device.deviceDirty =
      buffer.device && (buffer.flags & halide_buffer_flag_device_dirty);
}

HostTensor::HostTensor(const HostTensor &other)
    : dtype(other.dtype), shape(other.shape) {
  other.syncToHost();
  f32 = other.f32;
  i64 = other.i64;
}

HostTensor::HostTensor(HostTensor &&other) noexcept
    : dtype(other.dtype), shape(std::move(other.shape)), f32(std::move(other.f32)),
      i64(std::move(other.i64)), device(other.device) {
  other.device = DeviceCopy();
}

HostTensor &HostTensor::operator=(const HostTensor &other) {
  if (this == &other)
    return *this;
  other.syncToHost();
  releaseDevice(/*discard=*/true);
  dtype = other.dtype;
  shape = other.shape;
  f32 = other.f32;
  i64 = other.i64;
  return *this;
}

HostTensor &HostTensor::operator=(HostTensor &&other) noexcept {
  if (this == &other)
    return *this;
  releaseDevice(/*discard=*/true);
  dtype = other.dtype;
  shape = std::move(other.shape);
  f32 = std::move(other.f32);
  i64 = std::move(other.i64);
  device = other.device;
  other.device = DeviceCopy();
  return *this;
}

HostTensor::~HostTensor() { releaseDevice(/*discard=*/true); }

void HostTensor::syncToHost() const {
  if (!device.handle || !device.deviceDirty)
    return;
  HalideBuffer described;
  int status = -1;
  if (describeWithDevice(*this, described) && device.interface)
    status = device.interface->copy_to_host(nullptr, &described.buffer);
  if (status != 0) {
    std::string said = takeHalideErrors();
    std::fprintf(stderr,
                 "error: cannot copy a tensor of shape %s from the GPU "
                 "(Halide error %d%s%s)\n",
                 shapeString(shape).c_str(), status, said.empty() ? "" : ": ",
                 said.c_str());
    std::exit(1);
  }
  device.deviceDirty = false;
}

void HostTensor::hostWritten() {
  if (!device.handle)
    return;
  syncToHost();
  device.hostDirty = true;
}

void HostTensor::releaseDevice(bool discard) {
  if (!device.handle)
    return;
  if (!discard)
    syncToHost();
  HalideBuffer described;
  if (describeWithDevice(*this, described) && device.interface) {
    described.buffer.flags = 0;
    device.interface->device_free(nullptr, &described.buffer);
  }
  device = DeviceCopy();
}

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
  syncToHost();
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
