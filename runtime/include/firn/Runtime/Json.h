//===- Json.h - A small, strict JSON parser for the runtime ------*- C++
//-*-===//
//
// The runtime reads safetensors headers, which are JSON. This parser knows just
// what those need: objects, arrays, strings (with every JSON escape, \uXXXX and
// surrogate pairs included), integers, and the literals true, false and null.
// It is strict: no trailing commas, no comments, no leading zeros, no duplicate
// object keys, nothing after the top-level value except whitespace; numbers
// with a fraction or an exponent are rejected (a safetensors header has none),
// and integers must fit in int64_t. Plain C++17, no exceptions, no
// dependencies, so that compiled training binaries can link it.
//
//===----------------------------------------------------------------------===//

#ifndef FIRN_RUNTIME_JSON_H
#define FIRN_RUNTIME_JSON_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace firn::runtime::json {

struct Value {
  enum class Kind { Null, Bool, Integer, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  int64_t integer = 0;
  std::string string;
  std::vector<Value> array;
  /// Members in the order they appear in the text (keys are unique).
  std::vector<std::pair<std::string, Value>> object;

  bool isNull() const { return kind == Kind::Null; }
  bool isBool() const { return kind == Kind::Bool; }
  bool isInteger() const { return kind == Kind::Integer; }
  bool isString() const { return kind == Kind::String; }
  bool isArray() const { return kind == Kind::Array; }
  bool isObject() const { return kind == Kind::Object; }

  /// The member named `key` of an object, or null when absent or not an object.
  const Value *find(const std::string &key) const;
};

/// Parses `text` as one JSON value. On failure returns false and sets `error`
/// to "at byte N: what is wrong" (N counted from 0).
bool parse(const std::string &text, Value &out, std::string &error);

/// `s` as a JSON string literal, quotes included. Bytes >= 0x80 are copied as
/// they are (UTF-8 stays UTF-8); control characters become escapes.
std::string quote(const std::string &s);

/// Whether `s` is well-formed UTF-8 (what JSON text and safetensors names must
/// be).
bool isValidUtf8(const std::string &s);

/// Short name of a kind for messages: "an object", "a string", ...
const char *kindName(Value::Kind kind);

} // namespace firn::runtime::json

#endif // FIRN_RUNTIME_JSON_H
