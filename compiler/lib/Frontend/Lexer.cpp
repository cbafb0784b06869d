//===- Lexer.cpp - Tokens of a .firn file ---------------------------------===//

#include "firn/Frontend/Lexer.h"
#include "firn/Frontend/Diagnostics.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace firn;

namespace {
struct KeywordEntry {
  const char *spelling;
  TokenKind kind;
};
} // namespace

static const KeywordEntry keywords[] = {
    {"model", TokenKind::KwModel},
    {"train", TokenKind::KwTrain},
    {"forward", TokenKind::KwForward},
    {"return", TokenKind::KwReturn},
    {"freeze", TokenKind::KwFreeze},
    {"init", TokenKind::KwInit},
    {"seed", TokenKind::KwSeed},
    {"target", TokenKind::KwTarget},
    {"loss", TokenKind::KwLoss},
    {"optimizer", TokenKind::KwOptimizer},
    {"group", TokenKind::KwGroup},
    {"clip_grad_norm", TokenKind::KwClipGradNorm},
    {"clip_grad_value", TokenKind::KwClipGradValue},
    {"schedule", TokenKind::KwSchedule},
    {"accumulate", TokenKind::KwAccumulate},
    {"zero_grad", TokenKind::KwZeroGrad},
    {"mode", TokenKind::KwMode},
    {"load", TokenKind::KwLoad},
};

const char *firn::tokenKindName(TokenKind kind) {
  switch (kind) {
  case TokenKind::Eof:
    return "end of file";
  case TokenKind::Error:
    return "invalid token";
  case TokenKind::Newline:
    return "end of line";
  case TokenKind::Identifier:
    return "identifier";
  case TokenKind::Integer:
    return "integer";
  case TokenKind::Float:
    return "number";
  case TokenKind::String:
    return "string";
  case TokenKind::Bool:
    return "boolean";
  case TokenKind::LBrace:
    return "'{'";
  case TokenKind::RBrace:
    return "'}'";
  case TokenKind::LParen:
    return "'('";
  case TokenKind::RParen:
    return "')'";
  case TokenKind::LBracket:
    return "'['";
  case TokenKind::RBracket:
    return "']'";
  case TokenKind::Comma:
    return "','";
  case TokenKind::Colon:
    return "':'";
  case TokenKind::Equal:
    return "'='";
  case TokenKind::Arrow:
    return "'->'";
  case TokenKind::Dot:
    return "'.'";
  case TokenKind::Star:
    return "'*'";
  case TokenKind::Slash:
    return "'/'";
  case TokenKind::At:
    return "'@'";
  case TokenKind::Question:
    return "'?'";
  case TokenKind::Plus:
    return "'+'";
  case TokenKind::Minus:
    return "'-'";
  case TokenKind::Less:
    return "'<'";
  case TokenKind::LessEqual:
    return "'<='";
  case TokenKind::Greater:
    return "'>'";
  case TokenKind::GreaterEqual:
    return "'>='";
  case TokenKind::EqualEqual:
    return "'=='";
  case TokenKind::NotEqual:
    return "'!='";
  case TokenKind::Tilde:
    return "'~'";
  default:
    break;
  }
  for (const KeywordEntry &entry : keywords)
    if (entry.kind == kind)
      return entry.spelling;
  return "token";
}

bool firn::isKeyword(TokenKind kind) {
  return kind >= TokenKind::KwModel && kind <= TokenKind::KwLoad;
}

static bool isDigit(char c) { return c >= '0' && c <= '9'; }
static bool isIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

Lexer::Lexer(const std::string &source) : source(source) {}

char Lexer::peekChar(size_t ahead) const {
  return pos + ahead < source.size() ? source[pos + ahead] : '\0';
}

void Lexer::advance() {
  if (pos >= source.size())
    return;
  if (source[pos] == '\n') {
    ++here.line;
    here.column = 1;
  } else {
    ++here.column;
  }
  ++pos;
}

void Lexer::skipWhitespaceAndComments() {
  while (pos < source.size()) {
    char c = source[pos];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' ||
        (c == '\n' && bracketDepth > 0)) {
      advance();
    } else if (c == '#') {
      // The newline that ends the comment stays: it still ends a statement.
      while (pos < source.size() && source[pos] != '\n')
        advance();
    } else {
      return;
    }
  }
}

Token Lexer::makeToken(TokenKind kind, size_t start, SourceLocation loc) const {
  Token tok;
  tok.kind = kind;
  tok.text = source.substr(start, pos - start);
  tok.loc = loc;
  tok.offset = start;
  return tok;
}

Token Lexer::makeError(size_t start, SourceLocation loc, std::string message) {
  errorToken = makeToken(TokenKind::Error, start, loc);
  errorToken.message = std::move(message);
  failed = true;
  return errorToken;
}

SourceLocation Lexer::endOfFileLocation() const {
  // A file normally ends with a newline; pointing past it would quote an
  // empty line 'after' the file, so point at the end of the last line.
  if (source.empty() || source.back() != '\n')
    return here;
  SourceLocation loc{here.line - 1, 1};
  size_t lineStart = source.rfind('\n', source.size() - 2);
  lineStart = lineStart == std::string::npos ? 0 : lineStart + 1;
  loc.column = static_cast<unsigned>(source.size() - 1 - lineStart) + 1;
  return loc;
}

Token Lexer::next() {
  if (failed)
    return errorToken;
  skipWhitespaceAndComments();
  size_t start = pos;
  SourceLocation loc = here;
  if (pos >= source.size()) {
    Token eof = makeToken(TokenKind::Eof, start, endOfFileLocation());
    return eof;
  }
  char c = source[pos];
  if (c == '\n') {
    advance();
    return makeToken(TokenKind::Newline, start, loc);
  }
  if (isIdentStart(c))
    return lexIdentifier(start, loc);
  // In a dotted name (`features.0.weight`: nn.Sequential's names) a dot
  // glued to a name is a Dot, and the digits after it a name's part.
  bool afterName = pos > 0 && isIdentChar(source[pos - 1]);
  bool afterNameDot = pos > 1 && source[pos - 1] == '.' && isIdentChar(source[pos - 2]);
  if (isDigit(c) && afterNameDot) {
    while (isDigit(peekChar()))
      advance();
    Token part = makeToken(TokenKind::Integer, start, loc);
    part.integer = std::strtoll(part.text.c_str(), nullptr, 10);
    part.number = static_cast<double>(part.integer);
    return part;
  }
  if (isDigit(c) || (c == '.' && !afterName && isDigit(peekChar(1))))
    return lexNumber(start, loc);
  if (c == '\'' || c == '"')
    return lexString(start, loc);
  return lexPunctuation(start, loc);
}

Token Lexer::lexIdentifier(size_t start, SourceLocation loc) {
  while (isIdentChar(peekChar()))
    advance();
  Token tok = makeToken(TokenKind::Identifier, start, loc);
  for (const KeywordEntry &entry : keywords)
    if (tok.text == entry.spelling)
      tok.kind = entry.kind;
  // Python spells them True/False, the spec true/false; both are accepted.
  if (tok.text == "true" || tok.text == "True" || tok.text == "false" ||
      tok.text == "False") {
    tok.kind = TokenKind::Bool;
    tok.boolean = tok.text[0] == 't' || tok.text[0] == 'T';
  }
  return tok;
}

Token Lexer::lexNumber(size_t start, SourceLocation loc) {
  bool isFloat = false;
  bool malformed = false;
  while (isDigit(peekChar()))
    advance();
  if (peekChar() == '.') {
    isFloat = true;
    advance();
    while (isDigit(peekChar()))
      advance();
  }
  if (peekChar() == 'e' || peekChar() == 'E') {
    isFloat = true;
    advance();
    if (peekChar() == '+' || peekChar() == '-')
      advance();
    if (!isDigit(peekChar()))
      malformed = true; // `1e`, `1e+`
    while (isDigit(peekChar()))
      advance();
  }
  // A number glued to letters, digits or another dot (`0x1`, `1.2.3`, `2x`)
  // is one mistyped number, not two tokens: take it whole for the message.
  if (isIdentChar(peekChar()) || peekChar() == '.') {
    malformed = true;
    while (isIdentChar(peekChar()) || peekChar() == '.')
      advance();
  }
  std::string text = source.substr(start, pos - start);
  if (malformed)
    return makeError(start, loc, "malformed number '" + text + "'");

  Token tok =
      makeToken(isFloat ? TokenKind::Float : TokenKind::Integer, start, loc);
  errno = 0;
  if (!isFloat) {
    long long value = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == ERANGE)
      return makeError(start, loc,
                       "integer literal '" + text +
                           "' does not fit in 64 bits (the largest is " +
                           std::to_string(INT64_MAX) + ")");
    tok.integer = value;
    tok.number = static_cast<double>(value);
    return tok;
  }
  // Underflow to zero is harmless (it is what PyTorch would store); overflow
  // to infinity is almost certainly a typo. Every number becomes an f32
  // (data, parameters, hyperparameters), so the range is f32's: 3.5e38 is
  // finite as a double but would reach the generated code as inf.
  tok.number = std::strtod(text.c_str(), nullptr);
  if (std::isinf(static_cast<float>(tok.number)))
    return makeError(start, loc,
                     "floating-point literal '" + text +
                         "' is out of range for f32 (the largest finite "
                         "value is about 3.4028235e38)");
  return tok;
}

Token Lexer::lexString(size_t start, SourceLocation loc) {
  char quote = source[pos];
  advance();
  // No escapes and no line breaks: a string ends at its quote or is an error
  // at the opening quote, where the mistake usually is.
  while (pos < source.size() && source[pos] != quote && source[pos] != '\n')
    advance();
  if (pos >= source.size() || source[pos] != quote) {
    Token err = makeError(start, loc, "unterminated string literal");
    return err;
  }
  advance();
  Token tok = makeToken(TokenKind::String, start, loc);
  tok.stringValue = tok.text.substr(1, tok.text.size() - 2);
  return tok;
}

Token Lexer::lexPunctuation(size_t start, SourceLocation loc) {
  char c = source[pos];
  TokenKind kind;
  switch (c) {
  case '{':
    kind = TokenKind::LBrace;
    break;
  case '}':
    kind = TokenKind::RBrace;
    break;
  case '(':
    kind = TokenKind::LParen;
    ++bracketDepth;
    break;
  case ')':
    kind = TokenKind::RParen;
    bracketDepth -= bracketDepth > 0;
    break;
  case '[':
    kind = TokenKind::LBracket;
    ++bracketDepth;
    break;
  case ']':
    kind = TokenKind::RBracket;
    bracketDepth -= bracketDepth > 0;
    break;
  case ',':
    kind = TokenKind::Comma;
    break;
  case ':':
    kind = TokenKind::Colon;
    break;
  case '=':
    kind = TokenKind::Equal;
    if (peekChar(1) == '=') {
      advance();
      kind = TokenKind::EqualEqual;
    }
    break;
  case '<':
  case '>':
    kind = c == '<' ? TokenKind::Less : TokenKind::Greater;
    if (peekChar(1) == '=') {
      advance();
      kind = c == '<' ? TokenKind::LessEqual : TokenKind::GreaterEqual;
    }
    break;
  case '~':
    kind = TokenKind::Tilde;
    break;
  case '!':
    if (peekChar(1) != '=')
      return lexBadCharacter(start, loc);
    advance();
    kind = TokenKind::NotEqual;
    break;
  case '.':
    kind = TokenKind::Dot;
    break;
  case '*':
    kind = TokenKind::Star;
    break;
  case '/':
    kind = TokenKind::Slash;
    break;
  case '@':
    kind = TokenKind::At;
    break;
  case '?':
    kind = TokenKind::Question;
    break;
  case '+':
    kind = TokenKind::Plus;
    break;
  case '-':
    kind = TokenKind::Minus;
    if (peekChar(1) == '>') {
      advance();
      kind = TokenKind::Arrow;
    }
    break;
  default:
    return lexBadCharacter(start, loc);
  }
  advance();
  return makeToken(kind, start, loc);
}

Token Lexer::lexBadCharacter(size_t start, SourceLocation loc) {
  unsigned char c = static_cast<unsigned char>(source[pos]);
  advance();
  std::string shown;
  if (c >= 0x80) {
    // Quote a whole UTF-8 character (`é`, `→`), not its first byte.
    while (pos < source.size() &&
           (static_cast<unsigned char>(source[pos]) & 0xC0) == 0x80)
      advance();
    shown = source.substr(start, pos - start);
  } else if (c < 0x20 || c == 0x7F) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\x%02X", c);
    shown = buf;
  } else {
    shown = std::string(1, static_cast<char>(c));
  }
  return makeError(start, loc, "unexpected character '" + shown + "'");
}

std::vector<Token> firn::tokenize(DiagnosticEngine &diags) {
  Lexer lexer(diags.source());
  std::vector<Token> tokens;
  while (true) {
    tokens.push_back(lexer.next());
    const Token &tok = tokens.back();
    if (tok.is(TokenKind::Error))
      diags.error(tok.loc, tok.message);
    if (tok.is(TokenKind::Error) || tok.is(TokenKind::Eof))
      return tokens;
  }
}
