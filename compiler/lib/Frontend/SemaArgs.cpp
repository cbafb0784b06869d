//===- SemaArgs.cpp - Binding call arguments to signatures ----------------===//
#include "SemaArgs.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace firn {

std::optional<BoundArgs> bindArgs(const Signature &sig,
                                  const std::vector<ast::Arg> &args,
                                  SourceLocation callLoc,
                                  DiagnosticEngine &diags) {
  BoundArgs bound;
  size_t maxPositional = std::min(sig.positional, sig.params.size());
  size_t nextPositional = 0;
  bool sawKeyword = false;
  for (const ast::Arg &arg : args) {
    if (arg.name.empty()) {
      if (sawKeyword) {
        diags.error(arg.loc, "positional argument after a keyword argument");
        return std::nullopt;
      }
      if (nextPositional >= maxPositional) {
        diags.error(arg.loc, "'" + sig.callee + "' takes at most " +
                                 std::to_string(maxPositional) +
                                 " positional argument" +
                                 (maxPositional == 1 ? "" : "s") + ", got " +
                                 std::to_string(nextPositional + 1));
        return std::nullopt;
      }
      bound.values[sig.params[nextPositional++].name] = arg.value.get();
      continue;
    }
    sawKeyword = true;
    bool known = false;
    std::vector<std::string> names;
    for (const ArgSpec &spec : sig.params) {
      names.push_back(spec.name);
      known |= spec.name == arg.name;
    }
    if (!known) {
      std::string message =
          "unknown argument '" + arg.name + "' for '" + sig.callee + "'";
      std::string guess = suggest(arg.name, names);
      if (!guess.empty())
        message += "; did you mean '" + guess + "'?";
      diags.error(arg.loc, message);
      return std::nullopt;
    }
    if (bound.has(arg.name)) {
      diags.error(arg.loc, "argument '" + arg.name + "' of '" + sig.callee +
                               "' is given twice");
      return std::nullopt;
    }
    bound.values[arg.name] = arg.value.get();
  }
  for (const ArgSpec &spec : sig.params) {
    if (spec.required && !bound.has(spec.name)) {
      diags.error(callLoc, "'" + sig.callee + "' is missing argument '" +
                               spec.name + "'");
      return std::nullopt;
    }
  }
  return bound;
}

std::optional<double> literalNumber(const ast::Expr *expr) {
  if (expr->kind == ast::ExprKind::Number)
    return expr->number;
  if (expr->kind == ast::ExprKind::Negate && expr->elements.size() == 1)
    if (auto inner = literalNumber(expr->elements[0].get()))
      return -*inner;
  return std::nullopt;
}

static bool isIntegerLiteral(const ast::Expr *expr) {
  if (expr->kind == ast::ExprKind::Number)
    return expr->isInteger;
  return expr->kind == ast::ExprKind::Negate && expr->elements.size() == 1 &&
         isIntegerLiteral(expr->elements[0].get());
}

std::string formatInteger(double value) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.0f", value);
  return text;
}

std::string formatNumber(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string describe(const ast::Expr *expr) {
  switch (expr->kind) {
  case ast::ExprKind::Name:
    return "the name '" + expr->name + "'";
  case ast::ExprKind::Number:
  case ast::ExprKind::Negate:
    return isIntegerLiteral(expr) ? "an integer" : "a number";
  case ast::ExprKind::String:
    return "the string '" + expr->name + "'";
  case ast::ExprKind::Bool:
    return expr->boolean ? "true" : "false";
  case ast::ExprKind::Call:
    return "a call of '" + expr->name + "'";
  case ast::ExprKind::Binary:
    return "an expression";
  case ast::ExprKind::List:
    return "a list";
  case ast::ExprKind::Tuple:
    return "a tuple";
  case ast::ExprKind::Selector:
    return "the selector '" + expr->name + "'";
  case ast::ExprKind::Compare:
    return "a comparison";
  case ast::ExprKind::Not:
    return "a negated mask";
  case ast::ExprKind::Index:
    return "a subscript";
  case ast::ExprKind::Slice:
    return "a slice";
  }
  return "a value";
}

std::optional<double> readNumber(const ast::Expr *expr, const std::string &what,
                                 DiagnosticEngine &diags) {
  if (auto value = literalNumber(expr)) {
    if (std::isfinite(*value))
      return value;
    diags.error(expr->loc, what + " must be a finite number");
    return std::nullopt;
  }
  diags.error(expr->loc, what + " must be a number, got " + describe(expr));
  return std::nullopt;
}

std::optional<double> readDropoutProbability(const ast::Expr *expr, const std::string &what,
                                             DiagnosticEngine &diags) {
  auto value = readNumber(expr, what, diags);
  if (value && (*value < 0 || *value >= 1)) {
    diags.error(expr->loc, what + " must be in [0, 1), got " + formatNumber(*value));
    return std::nullopt;
  }
  return value;
}

std::optional<int64_t> readInt(const ast::Expr *expr, const std::string &what,
                               DiagnosticEngine &diags) {
  auto value = literalNumber(expr);
  if (!value || !isIntegerLiteral(expr)) {
    diags.error(expr->loc, what + " must be an integer, got " +
                               (value ? "a number with a fraction or exponent"
                                      : describe(expr)));
    return std::nullopt;
  }
  // Sizes, strides and indices end up as Halide's 32-bit integers, so every
  // integer argument is one: a larger value is reported here, not wrapped
  // around in the generated code.
  if (*value > kMaxIntArgument || *value < -kMaxIntArgument - 1) {
    diags.error(expr->loc, what + " must be between " +
                               std::to_string(-kMaxIntArgument - 1) + " and " +
                               std::to_string(kMaxIntArgument) + ", got " +
                               formatInteger(*value));
    return std::nullopt;
  }
  return static_cast<int64_t>(*value);
}

std::optional<int64_t> readIntAtLeast(const ast::Expr *expr, int64_t min,
                                      const std::string &what,
                                      DiagnosticEngine &diags) {
  auto value = readInt(expr, what, diags);
  if (value && *value < min) {
    diags.error(expr->loc, what + " must be at least " + std::to_string(min) +
                               ", got " + std::to_string(*value));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> readBool(const ast::Expr *expr, const std::string &what,
                             DiagnosticEngine &diags) {
  if (expr->kind == ast::ExprKind::Bool)
    return expr->boolean;
  diags.error(expr->loc,
              what + " must be true or false, got " + describe(expr));
  return std::nullopt;
}

std::optional<std::string> readString(const ast::Expr *expr,
                                      const std::string &what,
                                      DiagnosticEngine &diags) {
  if (expr->kind == ast::ExprKind::String)
    return expr->name;
  diags.error(expr->loc, what + " must be a string, got " + describe(expr));
  return std::nullopt;
}

std::vector<const ast::Expr *> oneOrMany(const ast::Expr *expr) {
  if (expr->kind != ast::ExprKind::Tuple && expr->kind != ast::ExprKind::List)
    return {expr};
  std::vector<const ast::Expr *> elements;
  for (const ast::ExprPtr &e : expr->elements)
    elements.push_back(e.get());
  return elements;
}

std::optional<std::array<int64_t, 2>> readIntPair(const ast::Expr *expr,
                                                  int64_t min,
                                                  const std::string &what,
                                                  DiagnosticEngine &diags) {
  if (expr->kind == ast::ExprKind::Tuple) {
    if (expr->elements.size() != 2) {
      diags.error(expr->loc, what + " must be an integer or a pair (h, w), "
                                    "got a tuple of " +
                                 std::to_string(expr->elements.size()));
      return std::nullopt;
    }
    auto h = readIntAtLeast(expr->elements[0].get(), min, what, diags);
    if (!h)
      return std::nullopt;
    auto w = readIntAtLeast(expr->elements[1].get(), min, what, diags);
    if (!w)
      return std::nullopt;
    return std::array<int64_t, 2>{*h, *w};
  }
  auto v = readIntAtLeast(expr, min, what, diags);
  if (!v)
    return std::nullopt;
  return std::array<int64_t, 2>{*v, *v};
}

std::optional<std::pair<double, double>>
readNumberPair(const ast::Expr *expr, const std::string &what,
               DiagnosticEngine &diags) {
  if ((expr->kind != ast::ExprKind::Tuple &&
       expr->kind != ast::ExprKind::List) ||
      expr->elements.size() != 2) {
    diags.error(expr->loc, what + " must be a pair (a, b), got " +
                               describe(expr));
    return std::nullopt;
  }
  auto a = readNumber(expr->elements[0].get(), what, diags);
  if (!a)
    return std::nullopt;
  auto b = readNumber(expr->elements[1].get(), what, diags);
  if (!b)
    return std::nullopt;
  return std::make_pair(*a, *b);
}

std::optional<std::vector<int64_t>> readIntList(const ast::Expr *expr,
                                                const std::string &what,
                                                DiagnosticEngine &diags) {
  if (expr->kind != ast::ExprKind::List &&
      expr->kind != ast::ExprKind::Tuple) {
    diags.error(expr->loc,
                what + " must be a list of integers, got " + describe(expr));
    return std::nullopt;
  }
  std::vector<int64_t> out;
  for (const ast::ExprPtr &element : expr->elements) {
    auto v = readInt(element.get(), what, diags);
    if (!v)
      return std::nullopt;
    out.push_back(*v);
  }
  return out;
}

} // namespace firn
