//===- Parser.cpp - From .firn text to the syntax tree --------------------===//
//
// Recursive descent over the grammar in docs/language.md. Every parse
// function returns false (or a null expression) after reporting an error, and
// every caller returns at once, so the first error is the only one. All
// reports go through errorAt(), which also turns a lexical error token into
// its own message: the lexer runs at most two tokens ahead of the parser, and
// reporting lexical errors only when the parser reaches them keeps "first
// error in the file" true for both kinds.
//
//===----------------------------------------------------------------------===//

#include "firn/Frontend/Parser.h"
#include "firn/Frontend/Lexer.h"

#include <deque>

using namespace firn;
using firn::ast::Arg;
using firn::ast::Expr;
using firn::ast::ExprKind;
using firn::ast::ExprPtr;

static std::string formatLoc(SourceLocation loc) {
  return std::to_string(loc.line) + ":" + std::to_string(loc.column);
}

static std::string quote(const std::string &text) { return "'" + text + "'"; }

static ExprPtr makeExpr(ExprKind kind, SourceLocation loc) {
  return std::make_unique<Expr>(kind, loc);
}

/// Tokens that selectors are glued from: `fc1`, `.`, `*`, `?`.
static bool isSelectorPiece(TokenKind kind) {
  return kind == TokenKind::Identifier || kind == TokenKind::Dot ||
         kind == TokenKind::Star || kind == TokenKind::Question;
}

namespace {
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
  ExprPtr parseTerm();
  ExprPtr parseUnary();
  ExprPtr parsePrimary();
  ExprPtr parseCallOrName();
  ExprPtr parseParenOrTuple();
  ExprPtr parseList();
  ExprPtr parseInitValue();

  DiagnosticEngine &diags;
  Lexer lexer;
  /// Tokens lexed but not consumed yet (at most two: `name =` decides
  /// between a keyword argument and an expression).
  std::deque<Token> lookahead;
  bool reported = false;
};
} // namespace

//===----------------------------------------------------------------------===//
// Token stream
//===----------------------------------------------------------------------===//

const Token &Parser::peek(size_t ahead) {
  // deque::push_back keeps references to existing elements valid, so a
  // reference from peek(0) survives a later peek(1).
  while (lookahead.size() <= ahead)
    lookahead.push_back(lexer.next());
  return lookahead[ahead];
}

Token Parser::consume() {
  peek();
  Token tok = std::move(lookahead.front());
  lookahead.pop_front();
  return tok;
}

bool Parser::consumeIf(TokenKind kind) {
  if (!check(kind))
    return false;
  consume();
  return true;
}

void Parser::skipNewlines() {
  while (check(TokenKind::Newline))
    consume();
}

//===----------------------------------------------------------------------===//
// Errors and shared shapes
//===----------------------------------------------------------------------===//

bool Parser::errorAt(const Token &tok, const std::string &message) {
  // A bad token is the real problem wherever the parser trips over it.
  if (tok.is(TokenKind::Error))
    return errorAt(tok.loc, tok.message);
  return errorAt(tok.loc, message);
}

bool Parser::errorAt(SourceLocation loc, const std::string &message) {
  if (!reported)
    diags.error(loc, message);
  reported = true;
  return false;
}

bool Parser::expect(TokenKind kind, const std::string &message) {
  if (consumeIf(kind))
    return true;
  return errorAt(peek(), message);
}

bool Parser::expectStatementEnd(const std::string &what) {
  if (consumeIf(TokenKind::Newline))
    return true;
  // `model M { fc = Linear(1, 1) }` on one line is fine: the brace ends the
  // statement too. End of file is left to the block, which reports it.
  if (check(TokenKind::RBrace) || check(TokenKind::Eof))
    return true;
  return errorAt(peek(), "expected end of line after " + what);
}

template <typename ParseStmt>
bool Parser::parseBlockBody(SourceLocation openLoc,
                            const std::string &blockName, ParseStmt parseStmt,
                            SourceLocation *closeLoc) {
  while (true) {
    skipNewlines();
    if (check(TokenKind::RBrace)) {
      Token close = consume();
      if (closeLoc)
        *closeLoc = close.loc;
      return true;
    }
    if (check(TokenKind::Eof))
      return errorAt(peek(), "unterminated block: expected '}' to close " +
                                 quote(blockName) + " opened at " +
                                 formatLoc(openLoc));
    if (!parseStmt())
      return false;
  }
}

//===----------------------------------------------------------------------===//
// File
//===----------------------------------------------------------------------===//

std::optional<ast::Module> Parser::parseFile() {
  ast::Module module;
  module.filename = diags.filename();
  skipNewlines();
  if (!check(TokenKind::KwModel)) {
    if (check(TokenKind::KwTrain))
      errorAt(peek(), "expected a 'model' block before the 'train' block");
    else
      errorAt(peek(), "expected a 'model' block");
    return std::nullopt;
  }
  if (!parseModelBlock(module.model))
    return std::nullopt;
  skipNewlines();
  if (check(TokenKind::KwTrain)) {
    module.train.emplace();
    if (!parseTrainBlock(*module.train))
      return std::nullopt;
    skipNewlines();
  }
  if (check(TokenKind::Eof))
    return module;

  if (check(TokenKind::KwModel))
    errorAt(peek(), "duplicate 'model' block; a file describes one model");
  else if (check(TokenKind::KwTrain))
    errorAt(peek(), "duplicate 'train' block");
  else if (module.train)
    errorAt(peek(), "expected end of file after the 'train' block");
  else
    errorAt(peek(), "expected a 'train' block or end of file after the "
                    "'model' block");
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Model block
//===----------------------------------------------------------------------===//

bool Parser::parseModelBlock(ast::ModelBlock &model) {
  model.loc = consume().loc; // 'model'
  if (!check(TokenKind::Identifier))
    return errorAt(peek(), "expected a model name after 'model'");
  model.name = consume().text;
  if (!check(TokenKind::LBrace))
    return errorAt(peek(),
                   "expected '{' after model name " + quote(model.name));
  SourceLocation openLoc = consume().loc;
  return parseBlockBody(openLoc, "model",
                        [&] { return parseModelStmt(model); });
}

bool Parser::parseModelStmt(ast::ModelBlock &model) {
  switch (peek().kind) {
  case TokenKind::Identifier:
    return parseLayerDecl(model) && expectStatementEnd("layer declaration");
  case TokenKind::KwFreeze:
    return parseFreeze(model) && expectStatementEnd("'freeze' statement");
  case TokenKind::KwInit:
    return parseInit(model) && expectStatementEnd("'init' statement");
  case TokenKind::KwSeed:
    return parseSeed(model) && expectStatementEnd("'seed' statement");
  case TokenKind::KwForward:
    return parseForward(model) && expectStatementEnd("'forward' definition");
  default:
    break;
  }
  // `train = Linear(...)`: say why the obvious reading does not work.
  if (isKeyword(peek().kind) && peek(1).is(TokenKind::Equal))
    return errorAt(peek(), quote(peek().text) +
                               " is a keyword and cannot be used as a name");
  return errorAt(peek(), "expected a layer declaration, 'freeze', 'init', "
                         "'seed' or 'forward' in model block");
}

bool Parser::parseLayerDecl(ast::ModelBlock &model) {
  ast::LayerDecl decl;
  Token name = consume();
  decl.loc = name.loc;
  decl.name = name.text;
  if (!expect(TokenKind::Equal,
              "expected '=' after layer name " + quote(name.text)))
    return false;
  if (!check(TokenKind::Identifier))
    return errorAt(peek(), "expected a layer kind such as 'Linear' after '='");
  Token kind = consume();
  decl.kindLoc = kind.loc;
  decl.kind = kind.text;
  if (!check(TokenKind::LParen))
    return errorAt(peek(), "expected '(' after layer kind " + quote(kind.text));
  if (!parseArgs(decl.args, /*selectorListFirst=*/false))
    return false;
  model.layers.push_back(std::move(decl));
  return true;
}

bool Parser::parseFreeze(ast::ModelBlock &model) {
  ast::FreezeStmt stmt;
  stmt.loc = consume().loc; // 'freeze'
  do {
    ExprPtr selector = parseSelector("after 'freeze'");
    if (!selector)
      return false;
    stmt.selectors.push_back(std::move(selector));
  } while (consumeIf(TokenKind::Comma));
  model.freezes.push_back(std::move(stmt));
  return true;
}

bool Parser::parseInit(ast::ModelBlock &model) {
  ast::InitStmt stmt;
  stmt.loc = consume().loc; // 'init'
  stmt.selector = parseSelector("after 'init'");
  if (!stmt.selector)
    return false;
  if (consumeIf(TokenKind::Colon)) {
    stmt.retype.emplace();
    if (!parseTensorType(*stmt.retype))
      return false;
  }
  if (!expect(TokenKind::Equal,
              stmt.retype ? "expected '=' after the type in 'init'"
                          : "expected '=' or ':' after the selector in 'init'"))
    return false;
  stmt.value = parseInitValue();
  if (!stmt.value)
    return false;
  model.inits.push_back(std::move(stmt));
  return true;
}

/// init_value ::= 'load' | 'default' | call | tensor_literal | number.
ExprPtr Parser::parseInitValue() {
  if (check(TokenKind::KwLoad)) {
    ExprPtr load = makeExpr(ExprKind::Name, consume().loc);
    load->name = "load";
    return load;
  }
  ExprPtr value = parseExpr();
  if (!value)
    return nullptr;
  bool allowed = value->kind == ExprKind::Call ||
                 value->kind == ExprKind::List ||
                 value->kind == ExprKind::Number ||
                 (value->kind == ExprKind::Name && value->name == "default");
  if (!allowed) {
    errorAt(value->loc, "expected an initial value: 'load', 'default', a call "
                        "such as 'fill(0.1)', a tensor literal or a number");
    return nullptr;
  }
  return value;
}

bool Parser::parseSeed(ast::ModelBlock &model) {
  Token keyword = consume();
  if (model.seed)
    return errorAt(keyword, "duplicate 'seed' in model " + quote(model.name));
  if (!check(TokenKind::Integer))
    return errorAt(peek(), "expected a non-negative integer after 'seed'");
  model.seed = consume().integer;
  model.seedLoc = keyword.loc;
  return true;
}

bool Parser::parseForward(ast::ModelBlock &model) {
  Token keyword = consume();
  if (model.forward)
    return errorAt(keyword,
                   "duplicate 'forward' in model " + quote(model.name));
  ast::ForwardDef forward;
  forward.loc = keyword.loc;
  if (!expect(TokenKind::LParen, "expected '(' after 'forward'"))
    return false;
  // Python allows a trailing comma; so do we.
  do {
    if (!forward.params.empty() && check(TokenKind::RParen))
      break;
    ast::Param param;
    if (!parseParam(param))
      return false;
    forward.params.push_back(std::move(param));
  } while (consumeIf(TokenKind::Comma));
  if (!expect(TokenKind::RParen, "expected ')' after parameters"))
    return false;
  if (consumeIf(TokenKind::Arrow)) {
    forward.resultType.emplace();
    if (!parseTensorType(*forward.resultType))
      return false;
  }
  if (!check(TokenKind::LBrace))
    return errorAt(peek(), "expected '{' to begin the body of 'forward'");
  SourceLocation openLoc = consume().loc;
  if (!parseBlockBody(
          openLoc, "forward", [&] { return parseForwardStmt(forward); },
          &forward.endLoc))
    return false;
  model.forward = std::move(forward);
  return true;
}

/// typed_name ::= IDENT ':' tensor_type, shared by forward and target.
bool Parser::parseParam(ast::Param &param) {
  if (!check(TokenKind::Identifier))
    return errorAt(peek(), isKeyword(peek().kind)
                               ? quote(peek().text) +
                                     " is a keyword and cannot be used as a "
                                     "name"
                               : "expected a name such as 'x'");
  Token name = consume();
  param.loc = name.loc;
  param.name = name.text;
  if (!expect(TokenKind::Colon,
              "expected ':' and a type after " + quote(name.text)))
    return false;
  return parseTensorType(param.type);
}

bool Parser::parseForwardStmt(ast::ForwardDef &forward) {
  ast::Stmt stmt;
  stmt.loc = peek().loc;
  if (consumeIf(TokenKind::KwReturn)) {
    stmt.isReturn = true;
    stmt.value = parseExpr();
    if (!stmt.value)
      return false;
    forward.body.push_back(std::move(stmt));
    return expectStatementEnd("'return' statement");
  }
  if (!check(TokenKind::Identifier)) {
    if (isKeyword(peek().kind) && peek(1).is(TokenKind::Equal))
      return errorAt(peek(), quote(peek().text) +
                                 " is a keyword and cannot be used as a name");
    return errorAt(peek(), "expected an assignment or 'return' in 'forward'");
  }
  Token target = consume();
  stmt.target = target.text;
  if (!expect(TokenKind::Equal, "expected '=' after " + quote(target.text)))
    return false;
  stmt.value = parseExpr();
  if (!stmt.value)
    return false;
  forward.body.push_back(std::move(stmt));
  return expectStatementEnd("assignment");
}

//===----------------------------------------------------------------------===//
// Train block
//===----------------------------------------------------------------------===//

bool Parser::parseTrainBlock(ast::TrainBlock &train) {
  train.loc = consume().loc; // 'train'
  if (!check(TokenKind::LBrace))
    return errorAt(peek(), "expected '{' after 'train'");
  SourceLocation openLoc = consume().loc;
  return parseBlockBody(openLoc, "train",
                        [&] { return parseTrainStmt(train); });
}

bool Parser::parseTrainStmt(ast::TrainBlock &train) {
  switch (peek().kind) {
  case TokenKind::KwTarget:
    return parseTarget(train) && expectStatementEnd("'target' declaration");
  case TokenKind::KwLoss:
    return parseLoss(train) && expectStatementEnd("'loss' definition");
  case TokenKind::KwOptimizer:
    return parseOptimizer(train) &&
           expectStatementEnd("'optimizer' declaration");
  case TokenKind::KwClipGradNorm:
  case TokenKind::KwClipGradValue:
    return parseClip(train) && expectStatementEnd("gradient clipping");
  case TokenKind::KwSchedule:
    return parseSchedule(train) && expectStatementEnd("'schedule' declaration");
  case TokenKind::KwAccumulate:
    return parseAccumulate(train) &&
           expectStatementEnd("'accumulate' statement");
  case TokenKind::KwZeroGrad:
    return parseZeroGrad(train) && expectStatementEnd("'zero_grad' statement");
  case TokenKind::KwMode:
    return parseMode(train) && expectStatementEnd("'mode' statement");
  default:
    return errorAt(peek(), "expected 'target', 'loss', 'optimizer', "
                           "'clip_grad_norm', 'clip_grad_value', 'schedule', "
                           "'accumulate', 'zero_grad' or 'mode' in train "
                           "block");
  }
}

bool Parser::parseTarget(ast::TrainBlock &train) {
  Token keyword = consume();
  if (train.target)
    return errorAt(keyword, "duplicate 'target' in train block");
  ast::Param param;
  if (!parseParam(param))
    return false;
  train.target = std::move(param);
  return true;
}

bool Parser::parseLoss(ast::TrainBlock &train) {
  Token keyword = consume();
  if (train.loss)
    return errorAt(keyword, "duplicate 'loss' in train block");
  if (!expect(TokenKind::Equal, "expected '=' after 'loss'"))
    return false;
  train.loss = parseExpr();
  train.lossLoc = keyword.loc;
  return train.loss != nullptr;
}

bool Parser::parseOptimizer(ast::TrainBlock &train) {
  consume(); // 'optimizer'
  ast::OptimizerDecl decl;
  if (!check(TokenKind::Identifier))
    return errorAt(peek(), "expected an optimizer name after 'optimizer'");
  Token name = consume();
  decl.loc = name.loc;
  decl.name = name.text;
  if (!expect(TokenKind::Equal,
              "expected '=' after optimizer name " + quote(name.text)))
    return false;
  if (!check(TokenKind::Identifier))
    return errorAt(peek(),
                   "expected an optimizer kind such as 'SGD' after '='");
  Token kind = consume();
  decl.kindLoc = kind.loc;
  decl.kind = kind.text;
  if (!check(TokenKind::LParen))
    return errorAt(peek(),
                   "expected '(' after optimizer kind " + quote(kind.text));
  if (!parseArgs(decl.args, /*selectorListFirst=*/true))
    return false;
  // The group block must open on the same line: a '{' on the next line
  // would be a statement of its own, as in Go.
  if (check(TokenKind::LBrace)) {
    SourceLocation openLoc = consume().loc;
    if (!parseBlockBody(openLoc, "optimizer", [&] { return parseGroup(decl); }))
      return false;
  }
  train.optimizers.push_back(std::move(decl));
  return true;
}

bool Parser::parseGroup(ast::OptimizerDecl &optimizer) {
  if (!check(TokenKind::KwGroup))
    return errorAt(peek(), "expected 'group' in optimizer block");
  ast::GroupDecl group;
  group.loc = consume().loc;
  if (!check(TokenKind::LParen))
    return errorAt(peek(), "expected '(' after 'group'");
  if (peek(1).is(TokenKind::RParen)) {
    consume();
    return errorAt(peek(), "expected a parameter list such as '[fc1]' in "
                           "'group'");
  }
  if (!parseArgs(group.args, /*selectorListFirst=*/true))
    return false;
  optimizer.groups.push_back(std::move(group));
  return expectStatementEnd("'group'");
}

bool Parser::parseClip(ast::TrainBlock &train) {
  Token keyword = consume();
  ast::ClipDecl clip;
  clip.loc = keyword.loc;
  clip.byNorm = keyword.is(TokenKind::KwClipGradNorm);
  if (!check(TokenKind::LParen))
    return errorAt(peek(), "expected '(' after " + quote(keyword.text));
  if (!parseArgs(clip.args, /*selectorListFirst=*/false))
    return false;
  train.clips.push_back(std::move(clip));
  return true;
}

bool Parser::parseSchedule(ast::TrainBlock &train) {
  consume(); // 'schedule'
  ast::ScheduleDecl decl;
  if (!check(TokenKind::Identifier))
    return errorAt(peek(), "expected a schedule name after 'schedule'");
  Token name = consume();
  decl.loc = name.loc;
  decl.name = name.text;
  if (!expect(TokenKind::Equal,
              "expected '=' after schedule name " + quote(name.text)))
    return false;
  if (!check(TokenKind::Identifier))
    return errorAt(peek(),
                   "expected a schedule kind such as 'StepLR' after '='");
  Token kind = consume();
  decl.kindLoc = kind.loc;
  decl.kind = kind.text;
  if (!check(TokenKind::LParen))
    return errorAt(peek(),
                   "expected '(' after schedule kind " + quote(kind.text));
  if (!parseArgs(decl.args, /*selectorListFirst=*/false))
    return false;
  train.schedules.push_back(std::move(decl));
  return true;
}

bool Parser::parseAccumulate(ast::TrainBlock &train) {
  Token keyword = consume();
  if (train.accumulate)
    return errorAt(keyword, "duplicate 'accumulate' in train block");
  if (!check(TokenKind::Integer))
    return errorAt(peek(), "expected an integer after 'accumulate'");
  train.accumulate = consume().integer;
  train.accumulateLoc = keyword.loc;
  return true;
}

bool Parser::parseZeroGrad(ast::TrainBlock &train) {
  Token keyword = consume();
  // The location doubles as "was it written": the field has a default.
  if (train.zeroGradLoc.line != 0)
    return errorAt(keyword, "duplicate 'zero_grad' in train block");
  // `optimizer` and `model` are keywords, `none` is not: accept the token
  // kinds, not just identifiers.
  const Token &value = peek();
  if (value.is(TokenKind::KwOptimizer) || value.is(TokenKind::KwModel) ||
      (value.is(TokenKind::Identifier) && value.text == "none")) {
    train.zeroGrad = consume().text;
    train.zeroGradLoc = keyword.loc;
    return true;
  }
  return errorAt(value,
                 "expected 'optimizer', 'model' or 'none' after 'zero_grad'");
}

bool Parser::parseMode(ast::TrainBlock &train) {
  Token keyword = consume();
  if (train.modeLoc.line != 0)
    return errorAt(keyword, "duplicate 'mode' in train block");
  const Token &value = peek();
  if (value.is(TokenKind::KwTrain) ||
      (value.is(TokenKind::Identifier) && value.text == "eval")) {
    train.mode = consume().text;
    train.modeLoc = keyword.loc;
    return true;
  }
  return errorAt(value, "expected 'train' or 'eval' after 'mode'");
}

//===----------------------------------------------------------------------===//
// Types and arguments
//===----------------------------------------------------------------------===//

bool Parser::parseTensorType(ast::TensorTypeNode &type) {
  if (!check(TokenKind::Identifier))
    return errorAt(peek(), "expected a tensor type such as 'f32[N, 2]'");
  Token dtype = consume();
  type.loc = dtype.loc;
  if (dtype.text == "f32") {
    type.dtype = ast::DType::F32;
  } else if (dtype.text == "i64") {
    type.dtype = ast::DType::I64;
  } else {
    // With two choices, listing both helps more than a guess ('f64' is one
    // edit from 'i64' but surely meant 'f32').
    return errorAt(dtype, "unknown element type " + quote(dtype.text) +
                              "; expected 'f32' or 'i64'");
  }
  if (!expect(TokenKind::LBracket,
              "expected '[' after element type " + quote(dtype.text)))
    return false;
  while (!check(TokenKind::RBracket)) {
    const Token &tok = peek();
    ast::Dim dim;
    dim.loc = tok.loc;
    if (tok.is(TokenKind::Integer))
      dim.size = tok.integer;
    else if (tok.is(TokenKind::Identifier))
      dim.batchName = tok.text;
    else
      return errorAt(tok, "expected a dimension: an integer, or a name such "
                          "as 'N' for the batch dimension");
    consume();
    type.dims.push_back(std::move(dim));
    if (!consumeIf(TokenKind::Comma))
      break;
  }
  return expect(TokenKind::RBracket, "expected ']' after dimensions");
}

/// arg_list in parentheses; the current token is '('. With
/// `selectorListFirst` (optimizer and group calls), a first positional
/// argument written as a list holds parameter selectors.
bool Parser::parseArgs(std::vector<Arg> &args, bool selectorListFirst) {
  consume(); // '('
  bool sawKeyword = false;
  while (!check(TokenKind::RParen)) {
    if (!parseArg(args, selectorListFirst && args.empty(), sawKeyword))
      return false;
    if (!consumeIf(TokenKind::Comma))
      break;
  }
  return expect(TokenKind::RParen, "expected ')' after arguments");
}

bool Parser::parseArg(std::vector<Arg> &args, bool selectorList,
                      bool &sawKeyword) {
  Arg arg;
  // A keyword argument may be named like a firn keyword: PyTorch's names
  // (`mode='min'`, `optimizer=opt`) must be writable.
  if ((check(TokenKind::Identifier) || isKeyword(peek().kind)) &&
      peek(1).is(TokenKind::Equal)) {
    Token name = consume();
    consume(); // '='
    // Python rejects both of these at parse time; so do we.
    for (const Arg &other : args)
      if (other.name == name.text)
        return errorAt(name, "duplicate keyword argument " + quote(name.text));
    arg.loc = name.loc;
    arg.name = name.text;
    sawKeyword = true;
    arg.value = parseExpr();
  } else {
    if (sawKeyword)
      return errorAt(peek(), "positional argument follows keyword argument");
    arg.loc = peek().loc;
    arg.value = selectorList && check(TokenKind::LBracket) ? parseSelectorList()
                                                           : parseExpr();
  }
  if (!arg.value)
    return false;
  args.push_back(std::move(arg));
  return true;
}

/// A selector is written without spaces, but `fc1.*` lexes as three tokens:
/// glue together the selector pieces that touch.
ExprPtr Parser::parseSelector(const std::string &context) {
  const Token &first = peek();
  if (!first.is(TokenKind::Identifier) && !first.is(TokenKind::Star) &&
      !first.is(TokenKind::Question)) {
    errorAt(first, "expected a parameter selector such as 'fc1', "
                   "'fc1.weight' or 'fc1.*' " +
                       context);
    return nullptr;
  }
  Token tok = consume();
  ExprPtr selector = makeExpr(ExprKind::Selector, tok.loc);
  selector->name = tok.text;
  size_t end = tok.end();
  while (isSelectorPiece(peek().kind) && peek().offset == end) {
    tok = consume();
    selector->name += tok.text;
    end = tok.end();
  }
  const std::string &text = selector->name;
  if (text.back() == '.' || text.find("..") != std::string::npos) {
    errorAt(selector->loc, "malformed selector " + quote(text));
    return nullptr;
  }
  return selector;
}

/// selector_list ::= '[' selector (',' selector)* ','? ']'
ExprPtr Parser::parseSelectorList() {
  ExprPtr list = makeExpr(ExprKind::List, consume().loc);
  do {
    if (!list->elements.empty() && check(TokenKind::RBracket))
      break; // trailing comma
    ExprPtr selector = parseSelector("in the parameter list");
    if (!selector)
      return nullptr;
    list->elements.push_back(std::move(selector));
  } while (consumeIf(TokenKind::Comma));
  if (!expect(TokenKind::RBracket, "expected ']' after parameter list"))
    return nullptr;
  return list;
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

/// expr ::= term (('+' | '-') term)*
ExprPtr Parser::parseExpr() {
  ExprPtr lhs = parseTerm();
  while (lhs && (check(TokenKind::Plus) || check(TokenKind::Minus))) {
    std::string op = consume().text;
    ExprPtr rhs = parseTerm();
    if (!rhs)
      return nullptr;
    ExprPtr binary = makeExpr(ExprKind::Binary, lhs->loc);
    binary->name = op;
    binary->elements.push_back(std::move(lhs));
    binary->elements.push_back(std::move(rhs));
    lhs = std::move(binary);
  }
  return lhs;
}

/// term ::= unary ('*' unary)*
ExprPtr Parser::parseTerm() {
  ExprPtr lhs = parseUnary();
  while (lhs && check(TokenKind::Star)) {
    consume();
    ExprPtr rhs = parseUnary();
    if (!rhs)
      return nullptr;
    ExprPtr binary = makeExpr(ExprKind::Binary, lhs->loc);
    binary->name = "*";
    binary->elements.push_back(std::move(lhs));
    binary->elements.push_back(std::move(rhs));
    lhs = std::move(binary);
  }
  return lhs;
}

/// unary ::= '-' unary | postfix. A minus written directly before a number
/// literal is folded into it (`-1` is Number -1 at the minus), so that
/// tensor literals and arguments such as `[N, -1]` hold plain numbers.
ExprPtr Parser::parseUnary() {
  if (!check(TokenKind::Minus))
    return parsePrimary();
  Token minus = consume();
  if (check(TokenKind::Integer) || check(TokenKind::Float)) {
    Token literal = consume();
    ExprPtr number = makeExpr(ExprKind::Number, minus.loc);
    number->number = -literal.number;
    number->isInteger = literal.is(TokenKind::Integer);
    return number;
  }
  ExprPtr operand = parseUnary();
  if (!operand)
    return nullptr;
  ExprPtr negate = makeExpr(ExprKind::Negate, minus.loc);
  negate->elements.push_back(std::move(operand));
  return negate;
}

/// primary, widened to every `value`: strings, booleans and tuples parse as
/// expressions too (as in Python), and semantic analysis rejects them where
/// they make no sense.
ExprPtr Parser::parsePrimary() {
  const Token &tok = peek();
  switch (tok.kind) {
  case TokenKind::Identifier:
    return parseCallOrName();
  case TokenKind::Integer:
  case TokenKind::Float: {
    ExprPtr number = makeExpr(ExprKind::Number, tok.loc);
    number->number = tok.number;
    number->isInteger = tok.is(TokenKind::Integer);
    consume();
    return number;
  }
  case TokenKind::String: {
    ExprPtr string = makeExpr(ExprKind::String, tok.loc);
    string->name = tok.stringValue;
    consume();
    return string;
  }
  case TokenKind::Bool: {
    ExprPtr boolean = makeExpr(ExprKind::Bool, tok.loc);
    boolean->boolean = tok.boolean;
    consume();
    return boolean;
  }
  case TokenKind::LParen:
    return parseParenOrTuple();
  case TokenKind::LBracket:
    return parseList();
  default:
    if (isKeyword(tok.kind))
      errorAt(tok,
              "expected an expression; " + quote(tok.text) + " is a keyword");
    else
      errorAt(tok, "expected an expression");
    return nullptr;
  }
}

ExprPtr Parser::parseCallOrName() {
  Token name = consume();
  if (!check(TokenKind::LParen)) {
    ExprPtr ref = makeExpr(ExprKind::Name, name.loc);
    ref->name = name.text;
    return ref;
  }
  ExprPtr call = makeExpr(ExprKind::Call, name.loc);
  call->name = name.text;
  if (!parseArgs(call->args, /*selectorListFirst=*/false))
    return nullptr;
  return call;
}

/// `(expr)` is grouping and yields the inner expression; a comma makes a
/// tuple: `(3,)`, `(0.9, 0.999)`, `(1, 2,)`.
ExprPtr Parser::parseParenOrTuple() {
  Token open = consume();
  ExprPtr first = parseExpr();
  if (!first)
    return nullptr;
  if (!check(TokenKind::Comma)) {
    if (!expect(TokenKind::RParen, "expected ')' after expression"))
      return nullptr;
    return first;
  }
  ExprPtr tuple = makeExpr(ExprKind::Tuple, open.loc);
  tuple->elements.push_back(std::move(first));
  while (consumeIf(TokenKind::Comma)) {
    if (check(TokenKind::RParen))
      break;
    ExprPtr element = parseExpr();
    if (!element)
      return nullptr;
    tuple->elements.push_back(std::move(element));
  }
  if (!expect(TokenKind::RParen, "expected ')' after tuple elements"))
    return nullptr;
  return tuple;
}

/// list ::= '[' (value (',' value)* ','?)? ']'
ExprPtr Parser::parseList() {
  ExprPtr list = makeExpr(ExprKind::List, consume().loc);
  while (!check(TokenKind::RBracket)) {
    ExprPtr element = parseExpr();
    if (!element)
      return nullptr;
    list->elements.push_back(std::move(element));
    if (!consumeIf(TokenKind::Comma))
      break;
  }
  if (!expect(TokenKind::RBracket, "expected ']' after list elements"))
    return nullptr;
  return list;
}

std::optional<ast::Module> firn::parseModule(DiagnosticEngine &diags) {
  Parser parser(diags);
  return parser.parseFile();
}
