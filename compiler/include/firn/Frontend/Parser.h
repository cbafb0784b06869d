//===- Parser.h - From .firn text to the syntax tree ------------*- C++ -*-===//
//
// A recursive-descent parser for the grammar in docs/language.md. It stops at
// the first error and reports exactly one diagnostic, pointing at the token
// where the input stopped making sense.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_PARSER_H
#define FIRN_FRONTEND_PARSER_H

#include "firn/Frontend/AST.h"
#include "firn/Frontend/Diagnostics.h"

#include <optional>

namespace firn {

/// How deeply an expression may nest, as clang's -fbracket-depth bounds
/// brackets: every bracket, call, unary minus and each operator of a chain
/// such as `a + b + c` is one level. Everything after the parser walks
/// expressions recursively; this bound is what keeps those walks (and the
/// tree's destructor) within the stack whatever the input.
constexpr unsigned kMaxExprNesting = 256;

/// Parses the file held by `diags` (its filename and source). Returns the
/// tree, or std::nullopt after reporting one error through `diags`.
std::optional<ast::Module> parseModule(DiagnosticEngine &diags);

} // namespace firn

#endif // FIRN_FRONTEND_PARSER_H
