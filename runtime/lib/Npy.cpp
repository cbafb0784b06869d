//===- Npy.cpp - Read and write NumPy .npy files --------------------------===//
//
// See Npy.h for the format. Reading streams the file (the preamble, the
// header, then the data straight into the tensor) so that a large dataset is
// not held twice; parseNpy does the same checks on bytes already in memory.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Npy.h"
#include "firn/Runtime/AtomicFile.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <sys/stat.h>

namespace firn::runtime {

namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
/// NumPy aligns the start of the data to this many bytes.
constexpr size_t kAlign = 64;
/// NumPy leaves room after the shape for this many digits so that an array can
/// grow along its first axis in place
/// (numpy.lib.format.GROWTH_AXIS_MAX_DIGITS).
constexpr size_t kGrowthAxisMaxDigits = 21;

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

/// Product of `shape` times `elementSize` into `bytes`; false on a negative
/// dimension or when the count would overflow int64_t.
bool checkedByteCount(const std::vector<int64_t> &shape, size_t elementSize,
                      int64_t &bytes) {
  // The product of the non-zero dimensions must fit too, even where a zero
  // dimension makes the array empty (NumPy makes (2**62, 0) arrays): code
  // that sizes one sample or one row of it must not overflow either.
  bytes = int64_t(elementSize);
  bool empty = false;
  for (int64_t dim : shape) {
    if (dim < 0)
      return false;
    if (dim == 0) {
      empty = true;
      continue;
    }
    if (bytes > INT64_MAX / dim)
      return false;
    bytes *= dim;
  }
  if (empty)
    bytes = 0;
  return true;
}

//===----------------------------------------------------------------------===//
// The header's dict literal
//===----------------------------------------------------------------------===//

/// A recursive-descent parser for the one dict literal NumPy writes. Values
/// are Python string literals (single or double quotes, no escapes), True,
/// False, non-negative decimal integers and tuples of those integers.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : text(text) {}

  bool parse(NpyHeader &out, std::string &error) {
    bool sawDescr = false, sawOrder = false, sawShape = false;
    skipSpace();
    if (!expect('{'))
      return fail(error);
    skipSpace();
    while (!peek('}')) {
      std::string key;
      if (!parseString(key) || !(skipSpace(), expect(':')))
        return fail(error);
      skipSpace();
      bool ok;
      if (key == "descr")
        ok = once(sawDescr, key) && parseString(out.descr);
      else if (key == "fortran_order")
        ok = once(sawOrder, key) && parseBool(out.fortranOrder);
      else if (key == "shape")
        ok = once(sawShape, key) && parseShape(out.shape);
      else
        ok = setProblem("unexpected key '" + key +
                        "' (an .npy header has 'descr', 'fortran_order' "
                        "and 'shape')");
      if (!ok)
        return fail(error);
      skipSpace();
      if (peek(','))
        ++pos, skipSpace();
      else if (!peek('}'))
        return setProblem("expected ',' or '}'"), fail(error);
    }
    ++pos;
    skipSpace();
    if (pos != text.size())
      return setProblem("unexpected text after the closing '}'"), fail(error);
    const char *missing = !sawDescr   ? "descr"
                          : !sawOrder ? "fortran_order"
                          : !sawShape ? "shape"
                                      : nullptr;
    if (missing) {
      error = std::string("the header has no '") + missing + "' key";
      return false;
    }
    return true;
  }

private:
  const std::string &text;
  size_t pos = 0;
  std::string problem;

  bool setProblem(const std::string &what) {
    if (problem.empty())
      problem = what;
    return false;
  }
  bool fail(std::string &error) {
    if (problem.empty())
      problem = "malformed";
    error = "header is not a valid Python dict literal: at byte " +
            std::to_string(pos) + ": " + problem;
    return false;
  }
  bool atEnd() const { return pos >= text.size(); }
  bool peek(char c) const { return !atEnd() && text[pos] == c; }
  void skipSpace() {
    while (!atEnd() && (text[pos] == ' ' || text[pos] == '\t' ||
                        text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }
  bool expect(char c) {
    if (peek(c)) {
      ++pos;
      return true;
    }
    return setProblem(std::string("expected '") + c + "'");
  }
  bool once(bool &seen, const std::string &key) {
    if (seen)
      return setProblem("duplicate key '" + key + "'");
    seen = true;
    return true;
  }

  bool parseString(std::string &out) {
    if (!peek('\'') && !peek('"'))
      return setProblem("expected a string");
    const char quote = text[pos++];
    const size_t begin = pos;
    while (!atEnd() && text[pos] != quote) {
      if (text[pos] == '\\')
        return setProblem("escape sequences are not supported in strings");
      if (text[pos] == '\n')
        return setProblem("unterminated string");
      ++pos;
    }
    if (atEnd())
      return setProblem("unterminated string");
    out = text.substr(begin, pos - begin);
    ++pos;
    return true;
  }

  bool parseWord(const char *word) {
    const size_t n = std::strlen(word);
    if (text.compare(pos, n, word) != 0)
      return false;
    const size_t end = pos + n;
    if (end < text.size() &&
        (std::isalnum((unsigned char)text[end]) || text[end] == '_'))
      return false;
    pos = end;
    return true;
  }

  bool parseBool(bool &out) {
    if (parseWord("True"))
      return out = true, true;
    if (parseWord("False"))
      return out = false, true;
    return setProblem("'fortran_order' must be True or False");
  }

  bool parseInteger(int64_t &out) {
    if (peek('-'))
      return setProblem("'shape' has a negative dimension");
    if (atEnd() || !std::isdigit((unsigned char)text[pos]))
      return setProblem("expected an integer");
    if (text[pos] == '0' && pos + 1 < text.size() &&
        std::isdigit((unsigned char)text[pos + 1]))
      return setProblem("integers cannot have leading zeros");
    out = 0;
    while (!atEnd() && std::isdigit((unsigned char)text[pos])) {
      const int digit = text[pos] - '0';
      if (out > (INT64_MAX - digit) / 10)
        return setProblem("dimension too large");
      out = out * 10 + digit;
      ++pos;
    }
    return true;
  }

  /// A tuple: "()", "(3,)", "(2, 3)" or "(2, 3,)". "(3)" is an integer in
  /// Python, not a tuple, and so is rejected.
  bool parseShape(std::vector<int64_t> &out) {
    if (!peek('('))
      return setProblem("'shape' must be a tuple of integers");
    ++pos;
    out.clear();
    bool sawComma = false;
    skipSpace();
    while (!peek(')')) {
      int64_t dim;
      if (!parseInteger(dim))
        return false;
      out.push_back(dim);
      skipSpace();
      if (peek(',')) {
        ++pos, sawComma = true;
        skipSpace();
      } else if (!peek(')')) {
        return setProblem("expected ',' or ')' in 'shape'");
      }
    }
    ++pos;
    if (out.size() == 1 && !sawComma)
      return setProblem("'shape' must be a tuple: write (N,) for one "
                        "dimension");
    return true;
  }
};

//===----------------------------------------------------------------------===//
// The preamble: magic, version, header length
//===----------------------------------------------------------------------===//

/// The fixed part before the header.
struct Preamble {
  int major = 0;
  /// Offset of the header text and its length.
  size_t headerOffset = 0;
  uint64_t headerLength = 0;
};

/// Decodes the preamble from the first `n` bytes of the file (`n` may be
/// anything; 12 is always enough).
bool decodePreamble(const uint8_t *p, size_t n, Preamble &out,
                    std::string &error) {
  if (n < kMagicSize || std::memcmp(p, kMagic, kMagicSize) != 0) {
    error = "not an .npy file (it does not start with the magic string "
            "\"\\x93NUMPY\")";
    return false;
  }
  if (n < 8) {
    error = "truncated: the file ends inside the format version";
    return false;
  }
  const int major = p[6], minor = p[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    error = "unsupported .npy format version " + std::to_string(major) + "." +
            std::to_string(minor) + " (firn reads 1.0, 2.0 and 3.0)";
    return false;
  }
  const size_t lengthBytes = major == 1 ? 2 : 4;
  if (n < 8 + lengthBytes) {
    error = "truncated: the file ends inside the header length";
    return false;
  }
  out.major = major;
  out.headerOffset = 8 + lengthBytes;
  out.headerLength = 0;
  for (size_t i = 0; i < lengthBytes; ++i)
    out.headerLength |= uint64_t(p[8 + i]) << (8 * i);
  return true;
}

/// Whether `descr` is uint8 (one byte: any byte-order character).
bool isUint8(const std::string &descr) {
  return descr == "|u1" || descr == "<u1" || descr == ">u1";
}

/// Checks the header text of a version-`major` file and fills `out`'s dtype
/// and shape; `dataBytes` is the size the data must have.
bool interpretHeader(const std::string &text, int major, TensorData &out,
                     int64_t &dataBytes, std::string &descr,
                     std::string &error) {
  if (major < 3)
    for (unsigned char c : text)
      if (c >= 0x80) {
        error = "the header of a version " + std::to_string(major) +
                ".0 file must be ASCII (only version 3.0 headers are UTF-8)";
        return false;
      }
  NpyHeader header;
  if (!parseNpyHeader(text, header, error))
    return false;
  if (header.fortranOrder) {
    error = "the array is in Fortran order (fortran_order: True); firn reads "
            "C-order arrays only: save np.ascontiguousarray(a) instead";
    return false;
  }
  if (!npyDescrToDType(header.descr, out.dtype, error))
    return false;
  // Uint8 data is stored one byte per element and widened after reading.
  const size_t fileElementSize =
      isUint8(header.descr) ? 1 : dtypeSize(out.dtype);
  int64_t widenedBytes;
  if (!checkedByteCount(header.shape, dtypeSize(out.dtype), widenedBytes) ||
      !checkedByteCount(header.shape, fileElementSize, dataBytes)) {
    error = "shape " + shapeString(header.shape) + " is too large";
    return false;
  }
  out.shape = std::move(header.shape);
  descr = std::move(header.descr);
  return true;
}

std::string dataSizeError(int64_t expected, uint64_t found,
                          const std::vector<int64_t> &shape,
                          const std::string &descr) {
  std::string what = "shape " + shapeString(shape) + " of '" + descr + "'";
  if (found < uint64_t(expected))
    return "truncated data: expected " + std::to_string(expected) +
           " bytes of data (" + what + "), found " + std::to_string(found);
  return std::to_string(found - uint64_t(expected)) +
         " trailing bytes after the data: expected " +
         std::to_string(expected) + " bytes of data (" + what + "), found " +
         std::to_string(found);
}

/// Replaces 1-byte uint8 elements in `t.bytes` by little-endian int32s.
void widenUint8(TensorData &t) {
  std::vector<uint8_t> wide(t.bytes.size() * 4, 0);
  for (size_t i = 0; i < t.bytes.size(); ++i)
    wide[4 * i] = t.bytes[i];
  t.bytes = std::move(wide);
}

/// " (float16)" for "<f2" and the like: NumPy's name of a simple descr, or
/// nothing when the descr is not one.
std::string numpyTypeName(const std::string &descr) {
  if (descr.size() < 3 ||
      std::string("<>|=").find(descr[0]) == std::string::npos)
    return "";
  const std::string size = descr.substr(2);
  // NumPy's sizes have a few digits; a longer one would overflow the bits.
  if (size.empty() || size.size() > 4)
    return "";
  for (char c : size)
    if (!std::isdigit((unsigned char)c))
      return "";
  const int bits = std::atoi(size.c_str()) * 8;
  switch (descr[1]) {
  case 'f':
    return " (float" + std::to_string(bits) + ")";
  case 'i':
    return " (int" + std::to_string(bits) + ")";
  case 'u':
    return " (uint" + std::to_string(bits) + ")";
  case 'c':
    return " (complex" + std::to_string(bits) + ")";
  case 'b':
    return " (bool)";
  case 'U':
    return " (a string type)";
  default:
    return "";
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// Public helpers
//===----------------------------------------------------------------------===//

bool parseNpyHeader(const std::string &text, NpyHeader &out,
                    std::string &error) {
  NpyHeader header;
  HeaderParser parser(text);
  if (!parser.parse(header, error))
    return false;
  out = std::move(header);
  return true;
}

bool npyDescrToDType(const std::string &descr, DType &out, std::string &error) {
  static const std::pair<const char *, DType> kSupported[] = {
      {"<f4", DType::F32}, {"<f8", DType::F64}, {"<i8", DType::I64},
      {"<i4", DType::I32}, {"|u1", DType::I32}, {"<u1", DType::I32},
      {">u1", DType::I32}}; // One byte has no byte order.
  for (const auto &entry : kSupported)
    if (descr == entry.first) {
      out = entry.second;
      return true;
    }
  const std::string supported =
      "firn reads float32 '<f4', float64 '<f8', int64 '<i8', int32 '<i4' "
      "and uint8 '|u1'";
  if (descr.size() >= 2 && descr[0] == '>' && descr != ">i1") {
    error = "unsupported dtype '" + descr +
            "': the data is big-endian; save it little-endian, e.g. "
            "a.astype(a.dtype.newbyteorder('<'))";
    return false;
  }
  error = "unsupported dtype '" + descr + "'" + numpyTypeName(descr) + " (" +
          supported + ")";
  return false;
}

const char *npyDescr(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "<f4";
  case DType::F64:
    return "<f8";
  case DType::I64:
    return "<i8";
  case DType::I32:
    return "<i4";
  }
  return "?";
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

bool parseNpy(const std::vector<uint8_t> &bytes, const std::string &name,
              TensorData &out, std::string &error) {
  auto fail = [&](const std::string &what) {
    error = name + ": " + what;
    return false;
  };
  Preamble pre;
  std::string why;
  if (!decodePreamble(bytes.data(), bytes.size(), pre, why))
    return fail(why);
  const uint64_t afterPreamble = bytes.size() - pre.headerOffset;
  if (pre.headerLength > afterPreamble)
    return fail("truncated header: the header length is " +
                std::to_string(pre.headerLength) + " bytes but only " +
                std::to_string(afterPreamble) + " bytes follow");
  const std::string text(reinterpret_cast<const char *>(bytes.data()) +
                             pre.headerOffset,
                         size_t(pre.headerLength));
  TensorData result;
  int64_t dataBytes;
  std::string descr;
  if (!interpretHeader(text, pre.major, result, dataBytes, descr, why))
    return fail(why);
  const size_t dataOffset = pre.headerOffset + size_t(pre.headerLength);
  const uint64_t found = bytes.size() - dataOffset;
  if (found != uint64_t(dataBytes))
    return fail(dataSizeError(dataBytes, found, result.shape, descr));
  result.bytes.assign(bytes.begin() + dataOffset, bytes.end());
  if (isUint8(descr))
    widenUint8(result);
  out = std::move(result);
  return true;
}

namespace {

/// Reads the file at `path` piece by piece; closes it when destroyed.
class NpyFileReader {
public:
  NpyFileReader(const std::string &path, std::string &error)
      : path(path), error(error) {}
  ~NpyFileReader() {
    if (file)
      std::fclose(file);
  }

  bool read(TensorData &out) {
    file = std::fopen(path.c_str(), "rb");
    if (!file)
      return fail(std::string("cannot open: ") + std::strerror(errno));
    struct stat info;
    if (::fstat(fileno(file), &info) != 0)
      return fail(std::string("cannot read: ") + std::strerror(errno));
    if (!S_ISREG(info.st_mode))
      return fail("not a regular file");
    const uint64_t size = uint64_t(info.st_size);

    uint8_t prefix[12];
    const size_t got = std::fread(prefix, 1, sizeof(prefix), file);
    if (std::ferror(file))
      return fail(std::string("cannot read: ") + std::strerror(errno));
    Preamble pre;
    std::string why;
    if (!decodePreamble(prefix, got, pre, why))
      return fail(why);
    if (pre.headerLength > size - pre.headerOffset)
      return fail("truncated header: the header length is " +
                  std::to_string(pre.headerLength) + " bytes but only " +
                  std::to_string(size - pre.headerOffset) + " bytes follow");

    std::string text(size_t(pre.headerLength), '\0');
    if (!seekAndRead(pre.headerOffset, &text[0], text.size()))
      return false;
    TensorData result;
    int64_t dataBytes;
    std::string descr;
    if (!interpretHeader(text, pre.major, result, dataBytes, descr, why))
      return fail(why);
    const uint64_t dataOffset = pre.headerOffset + pre.headerLength;
    const uint64_t found = size - dataOffset;
    if (found != uint64_t(dataBytes))
      return fail(dataSizeError(dataBytes, found, result.shape, descr));
    result.bytes.resize(size_t(dataBytes));
    if (!seekAndRead(dataOffset, result.bytes.data(), result.bytes.size()))
      return false;
    if (isUint8(descr))
      widenUint8(result);
    out = std::move(result);
    return true;
  }

private:
  const std::string &path;
  std::string &error;
  std::FILE *file = nullptr;

  bool fail(const std::string &what) {
    error = path + ": " + what;
    return false;
  }

  bool seekAndRead(uint64_t offset, void *into, size_t n) {
    if (n == 0)
      return true;
    if (std::fseek(file, long(offset), SEEK_SET) != 0)
      return fail(std::string("cannot read: ") + std::strerror(errno));
    if (std::fread(into, 1, n, file) != n)
      return fail(std::ferror(file)
                      ? std::string("cannot read: ") + std::strerror(errno)
                      : std::string("the file changed while being read"));
    return true;
  }
};

} // namespace

bool readNpy(const std::string &path, TensorData &out, std::string &error) {
  NpyFileReader reader(path, error);
  return reader.read(out);
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

namespace {

/// Python's repr of a shape tuple: "()", "(3,)", "(2, 3)".
std::string shapeTuple(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1)
    s += ',';
  return s + ")";
}

/// The dict, spare room and padding exactly as numpy.lib.format writes them.
std::string headerText(const TensorData &t, size_t lengthBytes) {
  std::string text =
      std::string("{'descr': '") + npyDescr(t.dtype) +
      "', 'fortran_order': False, 'shape': " + shapeTuple(t.shape) + ", }";
  if (!t.shape.empty()) {
    const size_t digits = std::to_string(t.shape[0]).size();
    if (digits < kGrowthAxisMaxDigits)
      text.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  const size_t used = kMagicSize + 2 + lengthBytes + text.size() + 1;
  text.append(kAlign - used % kAlign, ' ');
  text += '\n';
  return text;
}

} // namespace

bool serializeNpy(const TensorData &t, std::vector<uint8_t> &out,
                  std::string &error) {
  int64_t dataBytes;
  if (!checkedByteCount(t.shape, dtypeSize(t.dtype), dataBytes)) {
    error = "invalid shape " + shapeString(t.shape);
    return false;
  }
  if (uint64_t(dataBytes) != t.bytes.size()) {
    error = "shape " + shapeString(t.shape) + " of " + dtypeName(t.dtype) +
            " needs " + std::to_string(dataBytes) + " bytes but the tensor " +
            "holds " + std::to_string(t.bytes.size());
    return false;
  }
  std::string text = headerText(t, 2);
  int major = 1;
  if (text.size() > 0xffff) {
    text = headerText(t, 4);
    major = 2;
  }
  const size_t lengthBytes = major == 1 ? 2 : 4;
  out.clear();
  out.reserve(kMagicSize + 2 + lengthBytes + text.size() + t.bytes.size());
  out.insert(out.end(), kMagic, kMagic + kMagicSize);
  out.push_back(uint8_t(major));
  out.push_back(0);
  for (size_t i = 0; i < lengthBytes; ++i)
    out.push_back(uint8_t(uint64_t(text.size()) >> (8 * i)));
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  return true;
}

bool writeNpy(const std::string &path, const TensorData &t,
              std::string &error) {
  std::vector<uint8_t> bytes;
  std::string why;
  if (!serializeNpy(t, bytes, why)) {
    error = path + ": cannot write: " + why;
    return false;
  }
  return writeFileAtomically(path, bytes, error);
}

} // namespace firn::runtime
