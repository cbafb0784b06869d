//===- ParserImpl.h - The parser's class (internal) -------------*- C++ -*-===//
//
// Shared by Parser.cpp (the token stream, blocks and statements) and
// ParserExpr.cpp (types, arguments, selectors and expressions).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_PARSERIMPL_H
#define FIRN_FRONTEND_PARSERIMPL_H

#include "firn/Frontend/Parser.h"
#include "firn/Frontend/Lexer.h"

#include <deque>

namespace firn::detail {

using firn::ast::Arg;
using firn::ast::Expr;
using firn::ast::ExprKind;
using firn::ast::ExprPtr;

inline std::string formatLoc(SourceLocation loc) {
  return std::to_string(loc.line) + ":" + std::to_string(loc.column);
}

inline std::string quote(const std::string &text) { return "'" + text + "'"; }

inline ExprPtr makeExpr(ExprKind kind, SourceLocation loc) {
  return std::make_unique<Expr>(kind, loc);
}

/// Tokens that selectors are glued from: `fc1`, `.`, `*`, `?`, and the
/// positions in a Sequential's names (`features.0.weight`).
inline bool isSelectorPiece(TokenKind kind) {
  return kind == TokenKind::Identifier || kind == TokenKind::Dot ||
         kind == TokenKind::Integer ||
         kind == TokenKind::Star || kind == TokenKind::Question;
}

/// One level of the parser's own recursion, counted while it lives.
class NestingLevel {
public:
  explicit NestingLevel(unsigned &depth) : depth(depth) { ++depth; }
  ~NestingLevel() { --depth; }
  NestingLevel(const NestingLevel &) = delete;
  NestingLevel &operator=(const NestingLevel &) = delete;
  bool tooDeep() const { return depth > kMaxExprNesting; }

private:
  unsigned &depth;
};

class Parser {
public:
  explicit Parser(DiagnosticEngine &diags)
      : diags(diags), lexer(diags.source()) {}

  std::optional<ast::Module> parseFile();

private:
  //===--- Token stream ---------------------------------------------------===//
  const Token &peek(size_t ahead = 0);
  Token consume();
  bool check(TokenKind kind) { return peek().is(kind); }
  bool consumeIf(TokenKind kind);
  void skipNewlines();

  //===--- Errors and shared shapes ---------------------------------------===//
  bool errorAt(const Token &tok, const std::string &message);
  bool errorAt(SourceLocation loc, const std::string &message);
  bool expect(TokenKind kind, const std::string &message);
  bool expectStatementEnd(const std::string &what);
  template <typename ParseStmt>
  bool parseBlockBody(SourceLocation openLoc, const std::string &blockName,
                      ParseStmt parseStmt, SourceLocation *closeLoc = nullptr);

  //===--- Model block ----------------------------------------------------===//
  bool parseModelBlock(ast::ModelBlock &model);
  bool parseModelStmt(ast::ModelBlock &model);
  bool parseLayerDecl(ast::ModelBlock &model);
  bool parseFreeze(ast::ModelBlock &model);
  bool parseInit(ast::ModelBlock &model);
  bool parseSeed(ast::ModelBlock &model);
  bool parseForward(ast::ModelBlock &model);
  bool parseParam(ast::Param &param);
  bool parseForwardStmt(ast::ForwardDef &forward);

  //===--- Train block ----------------------------------------------------===//
  bool parseTrainBlock(ast::TrainBlock &train);
  bool parseTrainStmt(ast::TrainBlock &train);
  bool parseTarget(ast::TrainBlock &train);
  bool parseLoss(ast::TrainBlock &train);
  bool parseOptimizer(ast::TrainBlock &train);
  bool parseGroup(ast::OptimizerDecl &optimizer);
  bool parseClip(ast::TrainBlock &train);
  bool parseSchedule(ast::TrainBlock &train);
  bool parseAccumulate(ast::TrainBlock &train);
  bool parseZeroGrad(ast::TrainBlock &train);
  bool parseMode(ast::TrainBlock &train);

  //===--- Types, arguments, expressions ----------------------------------===//
  bool parseTensorType(ast::TensorTypeNode &type);
  bool parseArgs(std::vector<Arg> &args, bool selectorListFirst);
  bool parseArg(std::vector<Arg> &args, bool selectorListFirst,
                bool &sawKeyword);
  ExprPtr parseSelector(const std::string &context);
  ExprPtr parseSelectorList();
  ExprPtr parseExpr();
  ExprPtr parseSum();
  ExprPtr parseTerm();
  ExprPtr parseUnary();
  ExprPtr parsePostfix();
  ExprPtr parseIndexItem();
  ExprPtr parsePrimary();
  ExprPtr parseCallOrName();
  ExprPtr parseParenOrTuple();
  ExprPtr parseList();
  ExprPtr parseInitValue();
  /// Sets `node.height` from its children, or reports at `at` that the
  /// expression nests deeper than kMaxExprNesting.
  bool setHeight(Expr &node, const Token &at);
  bool errorTooDeep(const Token &at);
  /// `lhs op rhs`, or null after reporting a chain grown too deep: a
  /// left-associative chain is a tree as deep as it is long.
  ExprPtr makeBinary(ExprPtr lhs, ExprPtr rhs, const Token &op);

  DiagnosticEngine &diags;
  Lexer lexer;
  /// Tokens lexed but not consumed yet (at most two: `name =` decides
  /// between a keyword argument and an expression).
  std::deque<Token> lookahead;
  bool reported = false;
  /// Brackets, calls and unary minuses the parser is inside of now, at most
  /// kMaxExprNesting: every cycle of its recursion passes one of them, so a
  /// deeper input is reported instead of overflowing the stack.
  unsigned nesting = 0;
};

} // namespace firn::detail

#endif // FIRN_FRONTEND_PARSERIMPL_H
