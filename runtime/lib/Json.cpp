//===- Json.cpp - A small, strict JSON parser for the runtime
//--------------===//

#include "firn/Runtime/Json.h"

#include <cstdio>

namespace firn::runtime::json {

const Value *Value::find(const std::string &key) const {
  if (kind != Kind::Object)
    return nullptr;
  for (const auto &member : object)
    if (member.first == key)
      return &member.second;
  return nullptr;
}

const char *kindName(Value::Kind kind) {
  switch (kind) {
  case Value::Kind::Null:
    return "null";
  case Value::Kind::Bool:
    return "a boolean";
  case Value::Kind::Integer:
    return "an integer";
  case Value::Kind::String:
    return "a string";
  case Value::Kind::Array:
    return "an array";
  case Value::Kind::Object:
    return "an object";
  }
  return "a value";
}

namespace {

/// Nesting deeper than this is rejected (the parser recurses; a safetensors
/// header nests three levels).
constexpr int kMaxDepth = 64;

/// Length of the valid UTF-8 sequence at `at` in `text`, or 0 when it is not
/// valid (overlong forms, surrogates and code points above U+10FFFF are
/// invalid).
size_t utf8Length(const std::string &text, size_t at) {
  auto byte = [&](size_t i) -> unsigned {
    return i < text.size() ? static_cast<unsigned char>(text[i]) : 0u;
  };
  auto cont = [&](size_t i) { return (byte(i) & 0xC0) == 0x80; };
  unsigned c = byte(at);
  if (c < 0x80)
    return at < text.size() ? 1 : 0;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(at + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(at + 1) || !cont(at + 2))
      return 0;
    unsigned c1 = byte(at + 1);
    if (c == 0xE0 && c1 < 0xA0)
      return 0; // overlong
    if (c == 0xED && c1 >= 0xA0)
      return 0; // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(at + 1) || !cont(at + 2) || !cont(at + 3))
      return 0;
    unsigned c1 = byte(at + 1);
    if (c == 0xF0 && c1 < 0x90)
      return 0; // overlong
    if (c == 0xF4 && c1 >= 0x90)
      return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}

class Parser {
public:
  explicit Parser(const std::string &text) : text(text) {}

  bool parseDocument(Value &out) {
    skipSpace();
    if (!parseValue(out, 0))
      return false;
    skipSpace();
    if (pos != text.size())
      return fail("unexpected " + describe(pos) + " after the JSON value");
    return true;
  }

  std::string error;

private:
  const std::string &text;
  size_t pos = 0;

  bool fail(const std::string &what) { return failAt(pos, what); }
  bool failAt(size_t at, const std::string &what) {
    error = "at byte " + std::to_string(at) + ": " + what;
    return false;
  }

  /// "'x'", "byte 0x01" or "end of input", for messages.
  std::string describe(size_t at) const {
    if (at >= text.size())
      return "end of input";
    unsigned char c = static_cast<unsigned char>(text[at]);
    if (c >= 0x20 && c < 0x7f)
      return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof(buf), "byte 0x%02x", c);
    return buf;
  }

  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  bool parseValue(Value &out, int depth) {
    if (depth > kMaxDepth)
      return fail("nesting deeper than " + std::to_string(kMaxDepth));
    if (pos >= text.size())
      return fail("expected a value, found end of input");
    char c = text[pos];
    if (c == '{')
      return parseObject(out, depth);
    if (c == '[')
      return parseArray(out, depth);
    if (c == '"') {
      out = Value();
      out.kind = Value::Kind::String;
      return parseString(out.string);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
      return parseInteger(out);
    if (matchWord("true")) {
      out = Value();
      out.kind = Value::Kind::Bool;
      out.boolean = true;
      return true;
    }
    if (matchWord("false")) {
      out = Value();
      out.kind = Value::Kind::Bool;
      return true;
    }
    if (matchWord("null")) {
      out = Value();
      return true;
    }
    return fail("expected a value, found " + describe(pos));
  }

  bool matchWord(const char *word) {
    size_t n = 0;
    while (word[n])
      ++n;
    if (text.compare(pos, n, word) != 0)
      return false;
    // "nullx" is not "null".
    size_t end = pos + n;
    if (end < text.size()) {
      char c = text[end];
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_')
        return false;
    }
    pos = end;
    return true;
  }

  bool parseObject(Value &out, int depth) {
    out = Value();
    out.kind = Value::Kind::Object;
    ++pos; // '{'
    skipSpace();
    if (pos < text.size() && text[pos] == '}') {
      ++pos;
      return true;
    }
    while (true) {
      skipSpace();
      if (pos >= text.size() || text[pos] != '"')
        return fail("expected a string key, found " + describe(pos));
      size_t keyStart = pos;
      std::string key;
      if (!parseString(key))
        return false;
      if (out.find(key))
        return failAt(keyStart, "duplicate key " + quote(key));
      skipSpace();
      if (pos >= text.size() || text[pos] != ':')
        return fail("expected ':' after object key, found " + describe(pos));
      ++pos;
      skipSpace();
      Value member;
      if (!parseValue(member, depth + 1))
        return false;
      out.object.emplace_back(std::move(key), std::move(member));
      skipSpace();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == '}') {
        ++pos;
        return true;
      }
      return fail("expected ',' or '}' in object, found " + describe(pos));
    }
  }

  bool parseArray(Value &out, int depth) {
    out = Value();
    out.kind = Value::Kind::Array;
    ++pos; // '['
    skipSpace();
    if (pos < text.size() && text[pos] == ']') {
      ++pos;
      return true;
    }
    while (true) {
      skipSpace();
      Value element;
      if (!parseValue(element, depth + 1))
        return false;
      out.array.push_back(std::move(element));
      skipSpace();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == ']') {
        ++pos;
        return true;
      }
      return fail("expected ',' or ']' in array, found " + describe(pos));
    }
  }

  bool parseInteger(Value &out) {
    size_t start = pos;
    bool negative = false;
    if (text[pos] == '-') {
      negative = true;
      ++pos;
    }
    if (pos >= text.size() || text[pos] < '0' || text[pos] > '9')
      return fail("expected a digit after '-', found " + describe(pos));
    if (text[pos] == '0' && pos + 1 < text.size() && text[pos + 1] >= '0' &&
        text[pos + 1] <= '9')
      return failAt(start, "leading zeros are not allowed in numbers");
    // Accumulate the magnitude as unsigned so that INT64_MIN fits.
    uint64_t magnitude = 0;
    const uint64_t limit =
        negative ? uint64_t(INT64_MAX) + 1 : uint64_t(INT64_MAX);
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      uint64_t digit = uint64_t(text[pos] - '0');
      if (magnitude > (limit - digit) / 10)
        return failAt(start, "integer does not fit in 64 bits");
      magnitude = magnitude * 10 + digit;
      ++pos;
    }
    if (pos < text.size() &&
        (text[pos] == '.' || text[pos] == 'e' || text[pos] == 'E'))
      return failAt(start, "only integers are supported, not fractions or "
                           "exponents");
    out = Value();
    out.kind = Value::Kind::Integer;
    out.integer = negative ? int64_t(0 - magnitude) : int64_t(magnitude);
    if (negative && magnitude == uint64_t(INT64_MAX) + 1)
      out.integer = INT64_MIN;
    return true;
  }

  bool parseHex4(uint32_t &value) {
    if (pos + 4 > text.size())
      return fail("truncated \\u escape");
    value = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text[pos + i];
      uint32_t d;
      if (c >= '0' && c <= '9')
        d = uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = uint32_t(c - 'A' + 10);
      else
        return failAt(pos + i, "invalid hex digit " + describe(pos + i) +
                                   " in \\u escape");
      value = value * 16 + d;
    }
    pos += 4;
    return true;
  }

  static void appendUtf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool parseString(std::string &out) {
    size_t start = pos;
    ++pos; // opening quote
    out.clear();
    while (true) {
      if (pos >= text.size())
        return failAt(start, "unterminated string");
      unsigned char c = static_cast<unsigned char>(text[pos]);
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c < 0x20)
        return fail("unescaped control character " + describe(pos) +
                    " in string");
      if (c >= 0x80) {
        size_t n = utf8Length(text, pos);
        if (n == 0)
          return fail("invalid UTF-8 in string");
        out.append(text, pos, n);
        pos += n;
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos;
        continue;
      }
      ++pos; // backslash
      if (pos >= text.size())
        return failAt(start, "unterminated string");
      char e = text[pos++];
      switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        size_t escStart = pos - 2;
        uint32_t cp;
        if (!parseHex4(cp))
          return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          // A high surrogate must be followed by \u and a low surrogate.
          uint32_t low;
          if (pos + 1 >= text.size() || text[pos] != '\\' ||
              text[pos + 1] != 'u')
            return failAt(escStart, "unpaired surrogate in \\u escape");
          pos += 2;
          if (!parseHex4(low))
            return false;
          if (low < 0xDC00 || low > 0xDFFF)
            return failAt(escStart, "unpaired surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return failAt(escStart, "unpaired surrogate in \\u escape");
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        return failAt(pos - 2,
                      "invalid escape " + describe(pos - 1) + " in string");
      }
    }
  }
};

} // namespace

bool isValidUtf8(const std::string &s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8Length(s, i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

bool parse(const std::string &text, Value &out, std::string &error) {
  Parser parser(text);
  Value result;
  if (!parser.parseDocument(result)) {
    error = parser.error;
    return false;
  }
  out = std::move(result);
  return true;
}

std::string quote(const std::string &s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
  return out;
}

} // namespace firn::runtime::json
