//===- Lexer.h - Tokens of a .firn file -------------------------*- C++ -*-===//
//
// Splits a .firn buffer into tokens (docs/language.md, "Lexical structure").
// Newlines are tokens because they end statements, except inside ( ) and [ ],
// where the lexer drops them so that argument lists and tensor literals may
// span lines. The lexer is pulled one token at a time so that the parser,
// which stops at the first error, never sees a lexical error that comes after
// a syntax error.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_LEXER_H
#define FIRN_FRONTEND_LEXER_H

#include "firn/Frontend/SourceLocation.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace firn {

class DiagnosticEngine;

enum class TokenKind {
  Eof,
  Error, ///< A lexical error; Token::message says what is wrong.
  Newline,

  Identifier,
  Integer, ///< `3`: Token::integer and Token::number hold the value.
  Float,   ///< `0.1`, `1e-3`, `.5`, `1.`: Token::number holds the value.
  String,  ///< `'same'`: Token::stringValue holds the contents.
  Bool,    ///< `true`, `false`, `True`, `False`: Token::boolean.

  // Keywords.
  KwModel,
  KwTrain,
  KwForward,
  KwReturn,
  KwFreeze,
  KwInit,
  KwSeed,
  KwTarget,
  KwLoss,
  KwOptimizer,
  KwGroup,
  KwClipGradNorm,
  KwClipGradValue,
  KwSchedule,
  KwAccumulate,
  KwZeroGrad,
  KwMode,
  KwLoad,

  // Punctuation.
  LBrace,   ///< `{`
  RBrace,   ///< `}`
  LParen,   ///< `(`
  RParen,   ///< `)`
  LBracket, ///< `[`
  RBracket, ///< `]`
  Comma,    ///< `,`
  Colon,    ///< `:`
  Equal,    ///< `=`
  Arrow,    ///< `->`
  Dot,      ///< `.`
  Star,     ///< `*`
  Slash,    ///< `/`
  At,       ///< `@` (matrix product)
  Question, ///< `?`
  Plus,     ///< `+`
  Minus,    ///< `-`
  Less,         ///< `<`
  LessEqual,    ///< `<=`
  Greater,      ///< `>`
  GreaterEqual, ///< `>=`
  EqualEqual,   ///< `==`
  NotEqual,     ///< `!=`
  Tilde,        ///< `~` (logical not of a mask)
};

/// A short description for messages and test output: `identifier`,
/// `'('`, `keyword 'model'`, `end of file`.
const char *tokenKindName(TokenKind kind);

/// Whether `kind` is one of the reserved words.
bool isKeyword(TokenKind kind);

struct Token {
  TokenKind kind = TokenKind::Eof;
  /// The spelling exactly as in the source (quotes included for strings,
  /// "\n" for a newline, empty at end of file; for an error, the bad text).
  std::string text;
  SourceLocation loc;
  size_t offset = 0; ///< Byte offset of the first character.

  double number = 0;       ///< Integer and Float.
  int64_t integer = 0;     ///< Integer.
  bool boolean = false;    ///< Bool.
  std::string stringValue; ///< String: the text between the quotes.
  std::string message;     ///< Error: the diagnostic to report.

  bool is(TokenKind k) const { return kind == k; }
  /// Byte offset just past the token; two tokens touch (no whitespace between
  /// them) when one's end() is the other's offset.
  size_t end() const { return offset + text.size(); }
};

/// Produces the tokens of one buffer. The lexer never reports anything
/// itself: a lexical error comes back as an Error token carrying the message
/// and location, so that whoever consumes tokens decides whether it is the
/// first error of the file. After an Error token, next() keeps returning it.
class Lexer {
public:
  /// `source` must outlive the lexer.
  explicit Lexer(const std::string &source);
  /// A temporary would dangle: the lexer keeps a reference.
  explicit Lexer(std::string &&source) = delete;

  Token next();

private:
  char peekChar(size_t ahead = 0) const;
  void advance();
  void skipWhitespaceAndComments();
  Token makeToken(TokenKind kind, size_t start, SourceLocation loc) const;
  Token makeError(size_t start, SourceLocation loc, std::string message);
  Token lexIdentifier(size_t start, SourceLocation loc);
  Token lexNumber(size_t start, SourceLocation loc);
  Token lexString(size_t start, SourceLocation loc);
  Token lexPunctuation(size_t start, SourceLocation loc);
  Token lexBadCharacter(size_t start, SourceLocation loc);
  SourceLocation endOfFileLocation() const;

  const std::string &source;
  size_t pos = 0;
  SourceLocation here{1, 1};
  /// Open ( and [ not yet closed: newlines inside them are not tokens.
  unsigned bracketDepth = 0;
  bool failed = false;
  Token errorToken;
};

/// Lexes the whole buffer held by `diags`, up to and including the Eof token
/// or the first Error token, whose message is reported through `diags`.
std::vector<Token> tokenize(DiagnosticEngine &diags);

} // namespace firn

#endif // FIRN_FRONTEND_LEXER_H
