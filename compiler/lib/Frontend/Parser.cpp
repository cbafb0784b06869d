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

#include "ParserImpl.h"

using namespace firn;
using namespace firn::detail;

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
  // `a = ...`, or `q, k, v = ...` (unpacking split, chunk, ...).
  while (true) {
    Token target = consume();
    stmt.targets.push_back(target.text);
    stmt.targetLocs.push_back(target.loc);
    if (!consumeIf(TokenKind::Comma))
      break;
    if (!check(TokenKind::Identifier))
      return errorAt(peek(), "expected a name after ',' in an assignment");
  }
  if (!expect(TokenKind::Equal, "expected '=' after " + quote(stmt.targets.back())))
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

std::optional<ast::Module> firn::parseModule(DiagnosticEngine &diags) {
  detail::Parser parser(diags);
  return parser.parseFile();
}
