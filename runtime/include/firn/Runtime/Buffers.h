//===- Buffers.h - Host tensors and their halide_buffer_t -------*- C++ -*-===//
//
// The runtime keeps every tensor (parameters, buffers, batches, results) as a
// HostTensor: a dtype, a row-major shape and the elements in a std::vector.
// Generated kernels take halide_buffer_t descriptions instead, and Halide's
// dimension 0 is the innermost one, so the description lists the tensor's
// dimensions in reverse:
//
//   Halide dimension 0      = the tensor's last dimension (stride 1)
//   Halide dimension k      = the tensor's dimension rank-1-k, with stride the
//                             product of the extents after it
//   a 0-d tensor (a scalar) = a buffer with 0 dimensions
//
// halide_dimension_t holds 32-bit extents and strides, so a tensor with 2^31
// elements or more cannot be described (an error, not a silent wrap).
//
// Only the struct definitions of HalideRuntime.h are used: the runtime links
// no Halide library (the generated kernels bring the little of Halide's
// runtime they need).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_BUFFERS_H
#define FIRN_RUNTIME_BUFFERS_H

#include "firn/Runtime/ModelABI.h"
#include "firn/Runtime/Safetensors.h"

#include <HalideRuntime.h>

#include <cstdint>
#include <string>
#include <vector>

extern "C" {
/// Fills `buffer` and `dims[0..rank)` to describe the row-major tensor of
/// `dtype` (enum firn_dtype) and `shape[0..rank)` whose elements start at
/// `host`; `buffer->dim` is set to `dims`, which must outlive the buffer.
/// Returns 0 on success, -1 for a rank outside [0, FIRN_MAX_RANK], an unknown
/// dtype, a negative extent, or more elements than 32-bit strides can reach.
/// Plain C so that a program embedding a model can bind its own arrays.
int firn_describe_buffer(int dtype, int rank, const int64_t *shape, void *host,
                         halide_buffer_t *buffer, halide_dimension_t *dims);
}

namespace firn::runtime {

/// A tensor in host memory, row-major. Exactly one of `f32`/`i64` holds the
/// elements (the one `dtype` names); the other stays empty.
struct HostTensor {
  firn_dtype dtype = FIRN_F32;
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<int64_t> i64;

  /// A tensor of zeros.
  static HostTensor zeros(firn_dtype dtype, std::vector<int64_t> shape);

  /// The product of the shape (1 for a 0-d tensor).
  int64_t numel() const;
  /// The first element (null when there are none).
  void *data();
  const void *data() const;

  /// Converts to the safetensors representation (F32 or I64).
  TensorData toTensorData() const;
};

/// "[2, 3]" (and "[]" for a scalar), as messages print shapes.
std::string shapeString(const std::vector<int64_t> &shape);
/// "float32" or "int64".
const char *dtypeString(int dtype);

/// A halide_buffer_t with room for its dimensions. `buffer.dim` points into
/// the object itself, so it can be neither copied nor moved.
struct HalideBuffer {
  halide_buffer_t buffer;
  halide_dimension_t dims[FIRN_MAX_RANK];

  HalideBuffer();
  HalideBuffer(const HalideBuffer &) = delete;
  HalideBuffer &operator=(const HalideBuffer &) = delete;
};

/// Describes `tensor` in `out` (see firn_describe_buffer); `name` is used in
/// the error message.
bool describeBuffer(HostTensor &tensor, HalideBuffer &out,
                    const std::string &name, std::string &error);

} // namespace firn::runtime

#endif // FIRN_RUNTIME_BUFFERS_H
