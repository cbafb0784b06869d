//===- Npy.h - Read and write NumPy .npy files ------------------*- C++ -*-===//
//
// Compiled training binaries take their data as `.npy` files, what
// `numpy.save` writes, and `predict` writes its output as one. The format
// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
//
//   6 bytes   the magic string "\x93NUMPY"
//   2 bytes   the format version, major then minor: 1.0, 2.0 or 3.0
//   2 or 4    HEADER_LEN, little-endian (2 bytes in 1.0, 4 bytes in 2.0/3.0)
//   HEADER_LEN bytes: a Python dict literal, padded with spaces and ended by
//             '\n', e.g. {'descr': '<f4', 'fortran_order': False,
//             'shape': (2, 3), }
//   the rest  the array's raw bytes
//
// The header is read by a small, strict parser for exactly that dict (keys
// 'descr', 'fortran_order' and 'shape', each once, in any order; string,
// boolean and tuple-of-integer values), not by a general Python evaluator.
//
// Supported element types: little-endian float32 ('<f4'), float64 ('<f8'),
// int64 ('<i8') and int32 ('<i4'), read into the matching DType, and uint8
// ('|u1', '<u1'), which is converted to I32 on reading (exactly) so that the
// runtime needs no 8-bit type. Big-endian data, Fortran-ordered arrays, other
// element types, truncated data and bytes after the data are errors that name
// the file and what is wrong. Arrays of any rank, 0-d included, are read.
//
// The writer produces exactly the bytes `numpy.save` (NumPy 1.24) writes for
// the same array: a version 1.0 header (2.0 if the header would not fit),
// with NumPy's spare room after the shape, padded with spaces and a final
// '\n' so that the data starts at a multiple of 64 bytes. It replaces the file
// atomically (temporary file, flushed and synced, then renamed).
//
// Plain C++17, no exceptions, no dependencies beyond the C/C++ and POSIX
// libraries: compiled training binaries link this.
//
//===----------------------------------------------------------------------===//

#ifndef FIRN_RUNTIME_NPY_H
#define FIRN_RUNTIME_NPY_H

#include "firn/Runtime/Safetensors.h"

#include <cstdint>
#include <string>
#include <vector>

namespace firn::runtime {

/// What an .npy header says.
struct NpyHeader {
  /// The 'descr' string as written, e.g. "<f4".
  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
};

/// Parses the dict literal of an .npy header (padding and the final '\n'
/// included). On failure returns false and sets `error` to what is wrong
/// (without a file name).
bool parseNpyHeader(const std::string &text, NpyHeader &out,
                    std::string &error);

/// The DType that .npy data of element type `descr` is read into; false, with
/// `error` naming the type (and saying why: big-endian, unsupported), when
/// firn cannot read it.
bool npyDescrToDType(const std::string &descr, DType &out, std::string &error);

/// The NumPy descr firn writes for `dtype`: "<f4", "<f8", "<i8", "<i4".
const char *npyDescr(DType dtype);

/// Reads an .npy file. On failure returns false and sets `error` to a message
/// that starts with "PATH: " and says what is wrong (missing file, bad magic,
/// unsupported version, malformed header, unsupported dtype, Fortran order,
/// truncated data, trailing bytes). `out` is replaced only on success.
bool readNpy(const std::string &path, TensorData &out, std::string &error);

/// Parses the bytes of an .npy file; `name` starts error messages.
bool parseNpy(const std::vector<uint8_t> &bytes, const std::string &name,
              TensorData &out, std::string &error);

/// The bytes writeNpy writes, or false with `error` set when `t` cannot be
/// written (a negative dimension, a byte count not matching the shape).
bool serializeNpy(const TensorData &t, std::vector<uint8_t> &out,
                  std::string &error);

/// Writes `t` atomically (temporary file + rename). On failure returns false,
/// sets `error` (starting with "PATH: "), and leaves any existing file at
/// `path` as it was.
bool writeNpy(const std::string &path, const TensorData &t, std::string &error);

} // namespace firn::runtime

#endif // FIRN_RUNTIME_NPY_H
