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
// On a GPU binary (firn_model_desc.target "cuda") a tensor also has a copy
// in device memory, which Halide's runtime allocates the first time a kernel
// takes the tensor and which the tensor owns from then on (DeviceCopy):
// state, temporaries and results keep theirs across calls, so a training
// step allocates nothing and copies only the batch up. Which copy is current
// is the pair of flags halide_buffer_t has: a kernel that writes the tensor
// leaves the device copy newer (deviceDirty), and the host copy is brought up
// to date (syncToHost) only when the host reads it; a host write marks the
// host copy newer (hostDirty), and the next kernel uploads it.
//
// Only the struct definitions of HalideRuntime.h are used: the runtime links
// no Halide library (the generated kernels bring the little of Halide's
// runtime they need). Device copies are copied and freed through the
// function pointers of the buffer's halide_device_interface_t, which
// Halide's runtime in the binary provides.
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
/// A tensor's copy in device memory (see the top of this file): Halide's
/// handle and interface for it, and which copy holds the current value.
struct DeviceCopy {
  uint64_t handle = 0; ///< halide_buffer_t::device; 0: none.
  const halide_device_interface_t *interface = nullptr;
  bool hostDirty = false;   ///< The host copy is newer: upload before use.
  bool deviceDirty = false; ///< The device copy is newer: copy before reading.
};

struct HostTensor {
  firn_dtype dtype = FIRN_F32;
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<int64_t> i64;
  /// The device copy, on a GPU binary. A copy of the tensor is a host copy
  /// of its current value (without a device copy); a move takes it along.
  mutable DeviceCopy device;

  HostTensor() = default;
  HostTensor(const HostTensor &other);
  HostTensor(HostTensor &&other) noexcept;
  HostTensor &operator=(const HostTensor &other);
  HostTensor &operator=(HostTensor &&other) noexcept;
  /// Frees the device copy.
  ~HostTensor();

  /// Brings the host copy up to date when a kernel left a newer value on
  /// the device. A failing copy (the device lost) cannot be recovered from:
  /// it is reported on stderr and the process exits with status 1.
  void syncToHost() const;
  /// Records that the host copy was (or may be about to be) written: the
  /// next kernel that reads the tensor uploads it. Brings the host copy up
  /// to date first (a partial write keeps the other elements).
  void hostWritten();
  /// Frees the device copy (after syncToHost unless `discard`).
  void releaseDevice(bool discard = false);

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

/// Sets the device fields and flags of `buffer` (which describes `tensor`'s
/// host copy) from the tensor's device copy.
void attachDevice(const HostTensor &tensor, halide_buffer_t &buffer);
/// Records in `tensor` the device copy and flags a kernel left in `buffer`
/// (which described it): the tensor owns that allocation from now on.
void takeDevice(HostTensor &tensor, const halide_buffer_t &buffer);

/// Describes `tensor`'s host copy in `out` (see firn_describe_buffer; no
/// device fields: attachDevice adds them); `name` is used in the error
/// message.
bool describeBuffer(HostTensor &tensor, HalideBuffer &out,
                    const std::string &name, std::string &error);

} // namespace firn::runtime

#endif // FIRN_RUNTIME_BUFFERS_H
