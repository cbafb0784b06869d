//===- Safetensors.h - Read and write safetensors files ---------*- C++ -*-===//
//
// firn's checkpoints, initial values and test fixtures are safetensors files
// (https://github.com/huggingface/safetensors), keyed by PyTorch's parameter
// names
// (`fc1.weight`), so weights move between firn and PyTorch. The format:
//
//   8 bytes   N, the header size, an unsigned little-endian 64-bit integer
//   N bytes   a JSON object: {"__metadata__": {"k": "v", ...},
//               "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b,
//               e]}, ...}
//             (offsets relative to the first byte after the header; the writer
//             pads the header with spaces to a multiple of 8)
//   the rest  the tensors' raw little-endian bytes, row-major
//
// The reader is strict: every byte of the data section belongs to exactly one
// tensor (no overlaps, no gaps, nothing trailing), each tensor's byte count is
// its element count times its element size, and anything unexpected in the
// header is an error. The writer replaces the file atomically (temporary file,
// flushed and synced, then renamed), so a crash never leaves a half-written
// checkpoint.
//
// Plain C++17, no exceptions, no dependencies beyond the C/C++ and POSIX
// libraries: compiled training binaries link this.
//
//===----------------------------------------------------------------------===//

#ifndef FIRN_RUNTIME_SAFETENSORS_H
#define FIRN_RUNTIME_SAFETENSORS_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace firn::runtime {

/// Element types firn reads and writes (safetensors names "F32", "F64", "I64",
/// "I32"). Other safetensors dtypes (F16, BF16, U8, BOOL, ...) are rejected.
enum class DType { F32, F64, I64, I32 };

/// "F32", "F64", "I64", "I32".
const char *dtypeName(DType dtype);
/// Bytes per element: 4 or 8.
size_t dtypeSize(DType dtype);
/// Parses a safetensors dtype name; false for names firn does not support.
bool parseDType(const std::string &name, DType &out);

struct TensorData {
  DType dtype = DType::F32;
  /// Row-major; empty for a 0-d (scalar) tensor.
  std::vector<int64_t> shape;
  /// numel() * dtypeSize(dtype) little-endian bytes.
  std::vector<uint8_t> bytes;

  /// Product of the shape (1 for a 0-d tensor).
  int64_t numel() const;

  /// The elements as float / double: F32 and F64 are converted, and so are I64
  /// and I32 (exactly for |values| below 2^24 / 2^53).
  std::vector<float> asFloats() const;
  std::vector<double> asDoubles() const;
  /// The elements of an I64 or I32 tensor as int64_t; empty for a float dtype
  /// (converting floats to integers silently would hide mistakes).
  std::vector<int64_t> asInt64s() const;

  static TensorData fromFloats(std::vector<int64_t> shape,
                               const std::vector<float> &values);
  static TensorData fromDoubles(std::vector<int64_t> shape,
                                const std::vector<double> &values);
  static TensorData fromInt64s(std::vector<int64_t> shape,
                               const std::vector<int64_t> &values);
  static TensorData fromInt32s(std::vector<int64_t> shape,
                               const std::vector<int32_t> &values);
};

struct SafetensorsFile {
  std::map<std::string, TensorData> tensors;
  /// The header's "__metadata__" (string to string); empty when it has none.
  std::map<std::string, std::string> metadata;
};

/// Reads a file; on failure returns false and sets `error` to a message naming
/// the file and what is wrong (missing file, truncated header, header not valid
/// JSON, data_offsets out of range or overlapping, unknown dtype,
/// shape/byte-count mismatch, ...). `out` is replaced only on success.
bool readSafetensors(const std::string &path, SafetensorsFile &out,
                     std::string &error);

/// Writes atomically (temporary file + rename) so a crash never leaves a
/// half-written checkpoint. On failure returns false, sets `error` (naming the
/// file), and leaves any existing file at `path` as it was.
bool writeSafetensors(const std::string &path, const SafetensorsFile &file,
                      std::string &error);

/// The bytes writeSafetensors would write (header size, header, data), or false
/// with `error` set when `file` cannot be written (byte count not matching the
/// shape, a negative dimension, a tensor named "__metadata__", names that are
/// not UTF-8).
bool serializeSafetensors(const SafetensorsFile &file,
                          std::vector<uint8_t> &out, std::string &error);

/// Parses the bytes of a safetensors file; `name` is used in error messages.
bool parseSafetensors(const std::vector<uint8_t> &bytes,
                      const std::string &name, SafetensorsFile &out,
                      std::string &error);

} // namespace firn::runtime

#endif // FIRN_RUNTIME_SAFETENSORS_H
