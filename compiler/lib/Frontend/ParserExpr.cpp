//===- ParserExpr.cpp - Types, arguments, selectors, expressions ----------===//
//
// The expression half of the recursive-descent parser (see Parser.cpp for
// the error discipline): tensor types, Python-style arguments, parameter
// selectors glued from adjacent tokens, and expressions with the usual
// precedence.
//
//===----------------------------------------------------------------------===//

#include "ParserImpl.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

using namespace firn;
using namespace firn::detail;

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

bool Parser::errorTooDeep(const Token &at) {
  return errorAt(at, "expression nested too deeply: more than " +
                         std::to_string(kMaxExprNesting) +
                         " levels (each bracket, call, unary minus and "
                         "operator of a chain counts one); split it using "
                         "intermediate names");
}

bool Parser::setHeight(Expr &node, const Token &at) {
  unsigned deepest = 0;
  for (const ExprPtr &element : node.elements)
    deepest = std::max(deepest, element->height);
  for (const Arg &arg : node.args)
    deepest = std::max(deepest, arg.value->height);
  node.height = deepest + 1;
  return node.height <= kMaxExprNesting || errorTooDeep(at);
}

namespace {
bool isComparison(firn::TokenKind kind) {
  using firn::TokenKind;
  return kind == TokenKind::Less || kind == TokenKind::LessEqual ||
         kind == TokenKind::Greater || kind == TokenKind::GreaterEqual ||
         kind == TokenKind::EqualEqual || kind == TokenKind::NotEqual;
}
} // namespace

/// expr ::= sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?
/// Comparisons bind more loosely than arithmetic, as in Python; a chain of
/// them (`a < b < c`) is refused rather than read some other way.
ExprPtr Parser::parseExpr() {
  ExprPtr lhs = parseSum();
  if (!lhs || !isComparison(peek().kind))
    return lhs;
  Token op = consume();
  ExprPtr rhs = parseSum();
  if (!rhs)
    return nullptr;
  if (isComparison(peek().kind)) {
    errorAt(peek(), "chained comparisons are not supported; compare two "
                    "values at a time");
    return nullptr;
  }
  ExprPtr compare = makeBinary(std::move(lhs), std::move(rhs), op);
  if (compare)
    compare->kind = ExprKind::Compare;
  return compare;
}

/// sum ::= term (('+' | '-') term)*
ExprPtr Parser::parseSum() {
  ExprPtr lhs = parseTerm();
  while (lhs && (check(TokenKind::Plus) || check(TokenKind::Minus))) {
    Token op = consume();
    ExprPtr rhs = parseTerm();
    if (!rhs)
      return nullptr;
    lhs = makeBinary(std::move(lhs), std::move(rhs), op);
  }
  return lhs;
}

/// term ::= unary (('*' | '/' | '@') unary)*  (Python's precedence)
ExprPtr Parser::parseTerm() {
  ExprPtr lhs = parseUnary();
  while (lhs && (check(TokenKind::Star) || check(TokenKind::Slash) ||
                 check(TokenKind::At))) {
    Token op = consume();
    ExprPtr rhs = parseUnary();
    if (!rhs)
      return nullptr;
    lhs = makeBinary(std::move(lhs), std::move(rhs), op);
  }
  return lhs;
}

ExprPtr Parser::makeBinary(ExprPtr lhs, ExprPtr rhs, const Token &op) {
  ExprPtr binary = makeExpr(ExprKind::Binary, lhs->loc);
  binary->name = op.text;
  binary->elements.push_back(std::move(lhs));
  binary->elements.push_back(std::move(rhs));
  if (!setHeight(*binary, op))
    return nullptr;
  return binary;
}

/// unary ::= ('-' | '~') unary | postfix. A minus written directly before a number
/// literal is folded into it (`-1` is Number -1 at the minus), so that
/// tensor literals and arguments such as `[N, -1]` hold plain numbers.
ExprPtr Parser::parseUnary() {
  if (check(TokenKind::Tilde)) {
    Token tilde = consume();
    NestingLevel level(nesting);
    if (level.tooDeep()) {
      errorTooDeep(tilde);
      return nullptr;
    }
    ExprPtr operand = parseUnary();
    if (!operand)
      return nullptr;
    ExprPtr negation = makeExpr(ExprKind::Not, tilde.loc);
    negation->elements.push_back(std::move(operand));
    if (!setHeight(*negation, tilde))
      return nullptr;
    return negation;
  }
  if (!check(TokenKind::Minus))
    return parsePostfix();
  Token minus = consume();
  if (check(TokenKind::Integer) || check(TokenKind::Float)) {
    Token literal = consume();
    ExprPtr number = makeExpr(ExprKind::Number, minus.loc);
    number->number = -literal.number;
    number->isInteger = literal.is(TokenKind::Integer);
    return number;
  }
  NestingLevel level(nesting);
  if (level.tooDeep()) {
    errorTooDeep(minus);
    return nullptr;
  }
  ExprPtr operand = parseUnary();
  if (!operand)
    return nullptr;
  if (operand->kind == ExprKind::Number && std::isinf(operand->number) &&
      operand->height == 0) { // `-inf`, a literal as `-1` is
    operand->number = -operand->number;
    operand->loc = minus.loc;
    return operand;
  }
  ExprPtr negate = makeExpr(ExprKind::Negate, minus.loc);
  negate->elements.push_back(std::move(operand));
  if (!setHeight(*negate, minus))
    return nullptr;
  return negate;
}

/// postfix ::= primary ('[' index (',' index)* ']')*
/// index   ::= expr | expr? ':' expr? (':' expr?)? | '...'
/// Python's subscripts: `x[:, 0:4]`, `x[:, -1]`, `x[..., :T]`. A slice is a
/// Slice node of start, stop and step, each a Name `None` where it is not
/// written (as Python fills them in); `...` is a Name `...`.
ExprPtr Parser::parsePostfix() {
  ExprPtr base = parsePrimary();
  while (base && check(TokenKind::LBracket)) {
    Token open = consume();
    NestingLevel level(nesting);
    if (level.tooDeep()) {
      errorTooDeep(open);
      return nullptr;
    }
    ExprPtr index = makeExpr(ExprKind::Index, base->loc);
    index->elements.push_back(std::move(base));
    do {
      if (check(TokenKind::RBracket))
        break;
      ExprPtr item = parseIndexItem();
      if (!item)
        return nullptr;
      index->elements.push_back(std::move(item));
    } while (consumeIf(TokenKind::Comma));
    if (index->elements.size() == 1) {
      errorAt(peek(), "expected an index or a slice inside '[]'");
      return nullptr;
    }
    if (!expect(TokenKind::RBracket, "expected ']' after the indices") ||
        !setHeight(*index, open))
      return nullptr;
    base = std::move(index);
  }
  return base;
}

ExprPtr Parser::parseIndexItem() {
  const Token first = peek(); // a copy: lexing on may move the tokens
  auto none = [&](SourceLocation loc) {
    ExprPtr n = makeExpr(ExprKind::Name, loc);
    n->name = "None";
    return n;
  };
  if (first.is(TokenKind::Dot) && peek(1).is(TokenKind::Dot) &&
      peek(2).is(TokenKind::Dot)) {
    ExprPtr ellipsis = makeExpr(ExprKind::Name, first.loc);
    ellipsis->name = "...";
    consume();
    consume();
    consume();
    return ellipsis;
  }
  auto endsPart = [&] {
    return check(TokenKind::Colon) || check(TokenKind::Comma) ||
           check(TokenKind::RBracket);
  };
  ExprPtr start;
  if (!check(TokenKind::Colon)) {
    start = parseExpr();
    if (!start || !check(TokenKind::Colon))
      return start; // An integer index (or nothing, after an error).
  } else {
    start = none(first.loc);
  }
  ExprPtr slice = makeExpr(ExprKind::Slice, first.loc);
  slice->elements.push_back(std::move(start));
  for (int part = 0; part < 2; ++part) {
    SourceLocation at = peek().loc;
    if (!consumeIf(TokenKind::Colon)) {
      slice->elements.push_back(none(at));
      continue;
    }
    if (endsPart()) {
      slice->elements.push_back(none(peek().loc));
      continue;
    }
    ExprPtr bound = parseExpr();
    if (!bound)
      return nullptr;
    slice->elements.push_back(std::move(bound));
  }
  if (check(TokenKind::Colon)) {
    errorAt(peek(), "a slice has at most start:stop:step");
    return nullptr;
  }
  if (!setHeight(*slice, first))
    return nullptr;
  return slice;
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
  if (name.text == "inf" && !check(TokenKind::LParen) && !check(TokenKind::Dot)) {
    // `inf`, `-inf`: infinity as a number (Python's float('inf'), math.inf).
    ExprPtr number = makeExpr(ExprKind::Number, name.loc);
    number->number = std::numeric_limits<double>::infinity();
    return number;
  }
  if (!check(TokenKind::LParen)) {
    ExprPtr ref = makeExpr(ExprKind::Name, name.loc);
    ref->name = name.text;
    // A parameter by its PyTorch name, written without spaces: `fc1.weight`,
    // `net.0.bias`.
    size_t end = name.end();
    while (peek().is(TokenKind::Dot) && peek().offset == end &&
           (peek(1).is(TokenKind::Identifier) || peek(1).is(TokenKind::Integer)) &&
           peek(1).offset == end + 1) {
      consume();
      Token part = consume();
      ref->name += "." + part.text;
      end = part.end();
    }
    return ref;
  }
  NestingLevel level(nesting);
  if (level.tooDeep()) {
    errorTooDeep(name);
    return nullptr;
  }
  ExprPtr call = makeExpr(ExprKind::Call, name.loc);
  call->name = name.text;
  if (!parseArgs(call->args, /*selectorListFirst=*/false) ||
      !setHeight(*call, name))
    return nullptr;
  if (call->name == "float" && call->args.size() == 1 && call->args[0].name.empty() &&
      call->args[0].value->kind == ExprKind::String) {
    // Python's float('inf'), float('-inf'), float('nan'): the number.
    std::string text = call->args[0].value->name;
    for (char &c : text)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    double value;
    if (text == "inf" || text == "+inf" || text == "infinity")
      value = std::numeric_limits<double>::infinity();
    else if (text == "-inf" || text == "-infinity")
      value = -std::numeric_limits<double>::infinity();
    else if (text == "nan")
      value = std::numeric_limits<double>::quiet_NaN();
    else {
      errorAt(name, "float(...) takes 'inf', '-inf' or 'nan' here");
      return nullptr;
    }
    ExprPtr number = makeExpr(ExprKind::Number, name.loc);
    number->number = value;
    return number;
  }
  return call;
}

/// `(expr)` is grouping and yields the inner expression; a comma makes a
/// tuple: `(3,)`, `(0.9, 0.999)`, `(1, 2,)`.
ExprPtr Parser::parseParenOrTuple() {
  Token open = consume();
  NestingLevel level(nesting);
  if (level.tooDeep()) {
    errorTooDeep(open);
    return nullptr;
  }
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
  if (!expect(TokenKind::RParen, "expected ')' after tuple elements") ||
      !setHeight(*tuple, open))
    return nullptr;
  return tuple;
}

/// list ::= '[' (value (',' value)* ','?)? ']'
ExprPtr Parser::parseList() {
  Token open = consume();
  NestingLevel level(nesting);
  if (level.tooDeep()) {
    errorTooDeep(open);
    return nullptr;
  }
  ExprPtr list = makeExpr(ExprKind::List, open.loc);
  while (!check(TokenKind::RBracket)) {
    ExprPtr element = parseExpr();
    if (!element)
      return nullptr;
    list->elements.push_back(std::move(element));
    if (!consumeIf(TokenKind::Comma))
      break;
  }
  if (!expect(TokenKind::RBracket, "expected ']' after list elements") ||
      !setHeight(*list, open))
    return nullptr;
  return list;
}

