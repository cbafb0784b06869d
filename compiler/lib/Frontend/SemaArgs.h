//===- SemaArgs.h - Binding call arguments to signatures --------*- C++ -*-===//
//
// Layers, optimizers, schedules and builtins all take Python-style arguments:
// positional in a fixed order, or by keyword, with defaults. This binds a
// call's arguments to a signature the way Python does and reads the bound
// values with a diagnostic for each wrong kind of value.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_SEMAARGS_H
#define FIRN_FRONTEND_SEMAARGS_H

#include "firn/Frontend/AST.h"
#include "firn/Frontend/Diagnostics.h"

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace firn {

/// One parameter of a signature. Parameters after `positional` of them can
/// only be given by keyword.
struct ArgSpec {
  std::string name;
  bool required = false;
};

struct Signature {
  std::string callee; ///< For messages: `'Linear'`.
  std::vector<ArgSpec> params;
  size_t positional = ~size_t(0); ///< How many may be given by position.
};

/// The arguments of one call, by parameter name.
class BoundArgs {
public:
  const ast::Expr *get(const std::string &name) const {
    auto it = values.find(name);
    return it == values.end() ? nullptr : it->second;
  }
  bool has(const std::string &name) const { return values.count(name); }
  std::map<std::string, const ast::Expr *> values;
};

/// Binds `args` to `sig`, reporting too many positional arguments, unknown
/// or repeated keywords (with a suggestion) and missing required ones (at
/// `callLoc`).
std::optional<BoundArgs> bindArgs(const Signature &sig,
                                  const std::vector<ast::Arg> &args,
                                  SourceLocation callLoc,
                                  DiagnosticEngine &diags);

/// Reads a literal number, folding a unary minus. `what` names the value in
/// messages (`'Linear' argument 'in_features'`).
std::optional<double> readNumber(const ast::Expr *expr, const std::string &what,
                                 DiagnosticEngine &diags);
/// A dropout probability: a number in [0, 1), as PyTorch's (1 would drop
/// everything and scale by infinity).
std::optional<double> readDropoutProbability(const ast::Expr *expr, const std::string &what,
                                             DiagnosticEngine &diags);
/// The largest integer argument: Halide indexes with 32-bit integers.
constexpr int64_t kMaxIntArgument = 2147483647;

/// A number written as an integer, within +-kMaxIntArgument.
std::optional<int64_t> readInt(const ast::Expr *expr, const std::string &what,
                               DiagnosticEngine &diags);
/// An integer >= min.
std::optional<int64_t> readIntAtLeast(const ast::Expr *expr, int64_t min,
                                      const std::string &what,
                                      DiagnosticEngine &diags);
std::optional<bool> readBool(const ast::Expr *expr, const std::string &what,
                             DiagnosticEngine &diags);
std::optional<std::string> readString(const ast::Expr *expr,
                                      const std::string &what,
                                      DiagnosticEngine &diags);
/// The elements of a tuple or list, else the expression itself: an argument
/// that takes one value or several (`dim=1`, `dim=(2, 3)`).
std::vector<const ast::Expr *> oneOrMany(const ast::Expr *expr);
/// An integer or a pair `(h, w)` of integers, each >= min.
std::optional<std::array<int64_t, 2>> readIntPair(const ast::Expr *expr,
                                                  int64_t min,
                                                  const std::string &what,
                                                  DiagnosticEngine &diags);
/// A pair `(a, b)` of numbers.
std::optional<std::pair<double, double>>
readNumberPair(const ast::Expr *expr, const std::string &what,
               DiagnosticEngine &diags);
/// A list `[a, b, ...]` of integers.
std::optional<std::vector<int64_t>> readIntList(const ast::Expr *expr,
                                                const std::string &what,
                                                DiagnosticEngine &diags);

/// The value of a literal number expression (a Number or a negated one).
std::optional<double> literalNumber(const ast::Expr *expr);

/// An integral value in full, `4294967296` (not `4.29497e+09`).
std::string formatInteger(double value);

/// A number as a person writes it: `1.5`, `0.001`, `3`.
std::string formatNumber(double value);

/// How an expression is written, for messages: `a number`, `a string`, ...
std::string describe(const ast::Expr *expr);

/// Whether an argument is written as Python's `None` (false when it is not
/// given at all: `!e || isNone(e)` asks for "absent or None").
inline bool isNone(const ast::Expr *expr) {
  return expr && expr->kind == ast::ExprKind::Name && expr->name == "None";
}

} // namespace firn

#endif // FIRN_FRONTEND_SEMAARGS_H
