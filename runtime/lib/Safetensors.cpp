//===- Safetensors.cpp - Read and write safetensors files -----------------===//

#include "firn/Runtime/Safetensors.h"
#include "firn/Runtime/AtomicFile.h"
#include "firn/Runtime/Json.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>


namespace firn::runtime {

//===----------------------------------------------------------------------===//
// DType and TensorData
//===----------------------------------------------------------------------===//

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "F32";
  case DType::F64:
    return "F64";
  case DType::I64:
    return "I64";
  case DType::I32:
    return "I32";
  }
  return "?";
}

size_t dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F64:
  case DType::I64:
    return 8;
  }
  return 0;
}

bool parseDType(const std::string &name, DType &out) {
  static const std::pair<const char *, DType> kNames[] = {{"F32", DType::F32},
                                                          {"F64", DType::F64},
                                                          {"I64", DType::I64},
                                                          {"I32", DType::I32}};
  for (const auto &entry : kNames)
    if (name == entry.first) {
      out = entry.second;
      return true;
    }
  return false;
}

namespace {

// Little-endian loads and stores that do not depend on the host's byte order.
uint32_t load32(const uint8_t *p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
         uint32_t(p[3]) << 24;
}
uint64_t load64(const uint8_t *p) {
  return uint64_t(load32(p)) | uint64_t(load32(p + 4)) << 32;
}
void store32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = uint8_t(v >> (8 * i));
}
void store64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = uint8_t(v >> (8 * i));
}

/// Element `i` of `t` as a double (any dtype).
double elementAsDouble(const TensorData &t, size_t i) {
  const uint8_t *p = t.bytes.data() + i * dtypeSize(t.dtype);
  switch (t.dtype) {
  case DType::F32: {
    uint32_t bits = load32(p);
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  case DType::F64: {
    uint64_t bits = load64(p);
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  case DType::I64:
    return double(int64_t(load64(p)));
  case DType::I32:
    return double(int32_t(load32(p)));
  }
  return 0;
}

/// Number of complete elements in `t.bytes` (guards the helpers against a
/// TensorData whose bytes do not match its shape).
size_t storedElements(const TensorData &t) {
  return t.bytes.size() / dtypeSize(t.dtype);
}

/// Product of `shape` into `numel`; false on a negative dimension or when the
/// byte count (numel * elementSize) would overflow int64_t.
bool checkedNumel(const std::vector<int64_t> &shape, size_t elementSize,
                  int64_t &numel) {
  const int64_t limit = INT64_MAX / int64_t(elementSize);
  numel = 1;
  for (int64_t dim : shape) {
    if (dim < 0)
      return false;
    if (dim != 0 && numel > limit / dim)
      return false;
    numel *= dim;
  }
  return true;
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

} // namespace

int64_t TensorData::numel() const {
  int64_t n = 1;
  for (int64_t dim : shape)
    n *= dim;
  return n;
}

std::vector<float> TensorData::asFloats() const {
  std::vector<float> out(storedElements(*this));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = float(elementAsDouble(*this, i));
  return out;
}

std::vector<double> TensorData::asDoubles() const {
  std::vector<double> out(storedElements(*this));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = elementAsDouble(*this, i);
  return out;
}

std::vector<int64_t> TensorData::asInt64s() const {
  std::vector<int64_t> out;
  if (dtype != DType::I64 && dtype != DType::I32)
    return out;
  out.resize(storedElements(*this));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t *p = bytes.data() + i * dtypeSize(dtype);
    out[i] = dtype == DType::I64 ? int64_t(load64(p)) : int32_t(load32(p));
  }
  return out;
}

TensorData TensorData::fromFloats(std::vector<int64_t> shape,
                                  const std::vector<float> &values) {
  TensorData t;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.bytes.resize(values.size() * 4);
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], 4);
    store32(t.bytes.data() + 4 * i, bits);
  }
  return t;
}

TensorData TensorData::fromDoubles(std::vector<int64_t> shape,
                                   const std::vector<double> &values) {
  TensorData t;
  t.dtype = DType::F64;
  t.shape = std::move(shape);
  t.bytes.resize(values.size() * 8);
  for (size_t i = 0; i < values.size(); ++i) {
    uint64_t bits;
    std::memcpy(&bits, &values[i], 8);
    store64(t.bytes.data() + 8 * i, bits);
  }
  return t;
}

TensorData TensorData::fromInt64s(std::vector<int64_t> shape,
                                  const std::vector<int64_t> &values) {
  TensorData t;
  t.dtype = DType::I64;
  t.shape = std::move(shape);
  t.bytes.resize(values.size() * 8);
  for (size_t i = 0; i < values.size(); ++i)
    store64(t.bytes.data() + 8 * i, uint64_t(values[i]));
  return t;
}

TensorData TensorData::fromInt32s(std::vector<int64_t> shape,
                                  const std::vector<int32_t> &values) {
  TensorData t;
  t.dtype = DType::I32;
  t.shape = std::move(shape);
  t.bytes.resize(values.size() * 4);
  for (size_t i = 0; i < values.size(); ++i)
    store32(t.bytes.data() + 4 * i, uint32_t(values[i]));
  return t;
}

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

namespace {

struct Range {
  uint64_t begin, end;
  const std::string *name;
};

/// Reads one non-negative integer array element; false if it is not one.
bool nonNegativeInteger(const json::Value &v, int64_t &out) {
  if (!v.isInteger() || v.integer < 0)
    return false;
  out = v.integer;
  return true;
}

} // namespace

bool parseSafetensors(const std::vector<uint8_t> &bytes,
                      const std::string &name, SafetensorsFile &out,
                      std::string &error) {
  auto fail = [&](const std::string &what) {
    error = name + ": " + what;
    return false;
  };
  if (bytes.size() < 8)
    return fail("truncated: the file has " + std::to_string(bytes.size()) +
                " bytes, fewer than the 8-byte header size");
  const uint64_t headerSize = load64(bytes.data());
  const uint64_t available = bytes.size() - 8;
  if (headerSize > available)
    return fail("truncated header: the header size is " +
                std::to_string(headerSize) + " bytes but only " +
                std::to_string(available) + " bytes follow");
  const std::string headerText(reinterpret_cast<const char *>(bytes.data()) + 8,
                               size_t(headerSize));
  const uint64_t dataSize = available - headerSize;
  const uint8_t *data = bytes.data() + 8 + headerSize;

  json::Value header;
  std::string jsonError;
  if (!json::parse(headerText, header, jsonError))
    return fail("header is not valid JSON: " + jsonError);
  if (!header.isObject())
    return fail(std::string("header is not a JSON object (it is ") +
                json::kindName(header.kind) + ")");

  SafetensorsFile result;
  std::vector<Range> ranges;
  for (const auto &member : header.object) {
    const std::string &key = member.first;
    const json::Value &value = member.second;
    if (key == "__metadata__") {
      if (!value.isObject())
        return fail(std::string("__metadata__ is not an object (it is ") +
                    json::kindName(value.kind) + ")");
      for (const auto &entry : value.object) {
        if (!entry.second.isString())
          return fail("__metadata__ value of " + json::quote(entry.first) +
                      " is not a string (it is " +
                      json::kindName(entry.second.kind) + ")");
        result.metadata[entry.first] = entry.second.string;
      }
      continue;
    }

    const std::string where = "tensor " + json::quote(key) + ": ";
    if (!value.isObject())
      return fail(where + "entry is not an object (it is " +
                  json::kindName(value.kind) + ")");
    for (const auto &field : value.object)
      if (field.first != "dtype" && field.first != "shape" &&
          field.first != "data_offsets")
        return fail(where + "unexpected field " + json::quote(field.first));
    const json::Value *dtypeV = value.find("dtype");
    const json::Value *shapeV = value.find("shape");
    const json::Value *offsetsV = value.find("data_offsets");
    if (!dtypeV)
      return fail(where + "missing \"dtype\"");
    if (!shapeV)
      return fail(where + "missing \"shape\"");
    if (!offsetsV)
      return fail(where + "missing \"data_offsets\"");

    TensorData tensor;
    if (!dtypeV->isString())
      return fail(where + "\"dtype\" is not a string");
    if (!parseDType(dtypeV->string, tensor.dtype))
      return fail(where + "unsupported dtype " + json::quote(dtypeV->string) +
                  " (firn reads F32, F64, I64 and I32)");

    if (!shapeV->isArray())
      return fail(where + "\"shape\" is not an array");
    for (const json::Value &dim : shapeV->array) {
      int64_t d;
      if (!nonNegativeInteger(dim, d))
        return fail(where + "\"shape\" must hold non-negative integers");
      tensor.shape.push_back(d);
    }

    if (!offsetsV->isArray() || offsetsV->array.size() != 2)
      return fail(where + "\"data_offsets\" must be an array of two integers");
    int64_t begin, end;
    if (!nonNegativeInteger(offsetsV->array[0], begin) ||
        !nonNegativeInteger(offsetsV->array[1], end))
      return fail(where + "\"data_offsets\" must hold non-negative integers");
    const std::string offsetsText = "data_offsets [" + std::to_string(begin) +
                                    ", " + std::to_string(end) + "]";
    if (begin > end)
      return fail(where + offsetsText + " end before they begin");
    if (uint64_t(end) > dataSize)
      return fail(where + offsetsText + " out of range (the data section has " +
                  std::to_string(dataSize) + " bytes)");

    int64_t numel;
    const size_t elementSize = dtypeSize(tensor.dtype);
    if (!checkedNumel(tensor.shape, elementSize, numel))
      return fail(where + "shape " + shapeString(tensor.shape) +
                  " is too large");
    const int64_t expected = numel * int64_t(elementSize);
    if (expected != end - begin)
      return fail(where + "shape " + shapeString(tensor.shape) + " of " +
                  dtypeName(tensor.dtype) + " needs " +
                  std::to_string(expected) + " bytes but " + offsetsText +
                  " span " + std::to_string(end - begin));

    tensor.bytes.assign(data + begin, data + end);
    auto inserted = result.tensors.emplace(key, std::move(tensor));
    ranges.push_back({uint64_t(begin), uint64_t(end), &inserted.first->first});
  }

  // Every byte of the data section belongs to exactly one tensor.
  std::sort(ranges.begin(), ranges.end(), [](const Range &a, const Range &b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const std::string *previous = nullptr;
  for (const Range &r : ranges) {
    if (r.begin < covered)
      return fail("tensors " + json::quote(*previous) + " and " +
                  json::quote(*r.name) + " overlap (data_offsets of " +
                  json::quote(*r.name) + " begin at " +
                  std::to_string(r.begin) + ", before " +
                  std::to_string(covered) + ")");
    if (r.begin > covered)
      return fail("bytes [" + std::to_string(covered) + ", " +
                  std::to_string(r.begin) +
                  ") of the data section belong to no tensor");
    covered = r.end;
    previous = r.name;
  }
  if (covered != dataSize)
    return fail(std::to_string(dataSize - covered) +
                " trailing bytes after the last tensor's data (the data "
                "section has " +
                std::to_string(dataSize) + " bytes, the tensors cover " +
                std::to_string(covered) + ")");

  out = std::move(result);
  return true;
}

bool readSafetensors(const std::string &path, SafetensorsFile &out,
                     std::string &error) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  while (true) {
    size_t n = std::fread(buffer, 1, sizeof(buffer), f);
    bytes.insert(bytes.end(), buffer, buffer + n);
    if (n < sizeof(buffer))
      break;
  }
  if (std::ferror(f)) {
    int saved = errno;
    std::fclose(f);
    error = path + ": cannot read: " + std::strerror(saved);
    return false;
  }
  std::fclose(f);
  return parseSafetensors(bytes, path, out, error);
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

bool serializeSafetensors(const SafetensorsFile &file,
                          std::vector<uint8_t> &out, std::string &error) {
  std::string header = "{";
  bool first = true;
  if (!file.metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto &entry : file.metadata) {
      if (!json::isValidUtf8(entry.first) || !json::isValidUtf8(entry.second)) {
        error = "metadata entry " + json::quote(entry.first) +
                " is not valid UTF-8";
        return false;
      }
      if (!first)
        header += ',';
      first = false;
      header += json::quote(entry.first) + ':' + json::quote(entry.second);
    }
    header += '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const auto &entry : file.tensors) {
    const std::string &name = entry.first;
    const TensorData &t = entry.second;
    if (name == "__metadata__") {
      error = "a tensor cannot be named \"__metadata__\"";
      return false;
    }
    if (!json::isValidUtf8(name)) {
      error = "tensor name " + json::quote(name) + " is not valid UTF-8";
      return false;
    }
    int64_t numel;
    if (!checkedNumel(t.shape, dtypeSize(t.dtype), numel)) {
      error = "tensor " + json::quote(name) + ": invalid shape " +
              shapeString(t.shape);
      return false;
    }
    const uint64_t size = uint64_t(numel) * dtypeSize(t.dtype);
    if (size != t.bytes.size()) {
      error = "tensor " + json::quote(name) + ": shape " +
              shapeString(t.shape) + " of " + dtypeName(t.dtype) + " needs " +
              std::to_string(size) + " bytes but it holds " +
              std::to_string(t.bytes.size());
      return false;
    }
    if (!first)
      header += ',';
    first = false;
    header += json::quote(name) + ":{\"dtype\":\"" + dtypeName(t.dtype) +
              "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i)
        header += ',';
      header += std::to_string(t.shape[i]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + ',' +
              std::to_string(offset + size) + "]}";
    offset += size;
  }
  header += '}';
  // Pad with spaces so that the data starts 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');

  out.clear();
  out.reserve(8 + header.size() + offset);
  out.resize(8);
  store64(out.data(), header.size());
  out.insert(out.end(), header.begin(), header.end());
  for (const auto &entry : file.tensors)
    out.insert(out.end(), entry.second.bytes.begin(), entry.second.bytes.end());
  return true;
}


bool writeSafetensors(const std::string &path, const SafetensorsFile &file,
                      std::string &error) {
  std::vector<uint8_t> bytes;
  std::string why;
  if (!serializeSafetensors(file, bytes, why)) {
    error = path + ": cannot write: " + why;
    return false;
  }

  return writeFileAtomically(path, bytes, error);
}

} // namespace firn::runtime
