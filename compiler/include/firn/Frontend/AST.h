//===- AST.h - The syntax tree of a .firn file ------------------*- C++ -*-===//
//
// What the parser produces and semantic analysis reads: a faithful picture of
// the source (nothing resolved, nothing inferred), every node with the
// location of its first character so that later stages can point back at it.
// The grammar is in docs/language.md.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_AST_H
#define FIRN_FRONTEND_AST_H

#include "firn/Frontend/SourceLocation.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace firn::ast {

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

/// Element types. `Bool` is never written in a type: it is what a
/// comparison gives (a mask for where, masked_fill and attn_mask).
enum class DType { F32, I64, Bool };

/// One dimension of a tensor type: a size, or the batch dimension written as
/// an identifier (`N`).
struct Dim {
  SourceLocation loc;
  std::optional<int64_t> size; ///< Empty for the batch dimension.
  std::string batchName;       ///< The identifier when `size` is empty.
};

/// `f32[N, 1, 2, 2]`.
struct TensorTypeNode {
  SourceLocation loc;
  DType dtype = DType::F32;
  std::vector<Dim> dims;
};

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

/// A call argument, positional (`name` empty) or keyword (`name=value`).
struct Arg {
  SourceLocation loc; ///< Of the keyword if there is one, else of the value.
  std::string name;
  ExprPtr value;
};

enum class ExprKind {
  Name,     ///< `x`
  Number,   ///< `3`, `0.1`
  String,   ///< `'same'`
  Bool,     ///< `true`
  Call,     ///< `relu(x)`, `Linear(2, 2)`, `fill(0.1)`
  Binary,   ///< `a + b`
  Negate,   ///< `-a`
  List,     ///< `[1, 2]`, `[[0.1], [0.2]]`, `[fc1, fc2.*]`
  Tuple,    ///< `(0.9, 0.999)`
  Selector, ///< `fc1.*`, `conv*`, `fc3.bias`: a parameter name or glob
  Index,    ///< `x[:, 0:4]`, `x[:, -1]`: elements[0] indexed by elements[1...]
  Slice,    ///< `a:b` inside an Index: elements start, stop, step, each a
            ///< Name `None` where it is not written
  Compare,  ///< `a < b`, `a == b`: elements (2), the operator in `name`
  Not,      ///< `~mask`: elements (1)
};

struct Expr {
  ExprKind kind;
  SourceLocation loc;

  std::string name; ///< Name, Call (callee), String (contents), Selector
                    ///< (the glob text), Binary (operator: "+", "-", "*"),
                    ///< Compare ("<", "==", ...).
  double number = 0;      ///< Number.
  bool isInteger = false; ///< Number written without '.', 'e' or 'E'.
  bool boolean = false;   ///< Bool.
  std::vector<Arg> args;  ///< Call.
  std::vector<ExprPtr> elements; ///< List, Tuple; Binary (2), Negate (1).
  /// Levels of nesting in this subtree: 0 for a leaf, else one more than
  /// its deepest child. The parser keeps it at most kMaxExprNesting
  /// (Parser.h), which bounds every recursive walk of the tree.
  unsigned height = 0;

  Expr(ExprKind kind, SourceLocation loc) : kind(kind), loc(loc) {}
};

//===----------------------------------------------------------------------===//
// The model block
//===----------------------------------------------------------------------===//

/// `fc1 = Linear(2, 2, bias=false)`
struct LayerDecl {
  SourceLocation loc; ///< Of the name.
  std::string name;
  SourceLocation kindLoc;
  std::string kind; ///< `Linear`, as written.
  std::vector<Arg> args;
};

/// `freeze fc2, fc3.bias`
struct FreezeStmt {
  SourceLocation loc;
  std::vector<ExprPtr> selectors; ///< Each a Selector expression.
};

/// `init fc1.weight = [[...]]`, `init a.bias: f32[1] = [3.0]`, `init * = load`
struct InitStmt {
  SourceLocation loc;
  ExprPtr selector;                     ///< A Selector expression.
  std::optional<TensorTypeNode> retype; ///< The `: f32[1]` part.
  /// `load` and `default` are Name expressions with those names; everything
  /// else (a call, a literal list, a number) is kept as written.
  ExprPtr value;
};

/// `name = expr`, `a, b = expr` (unpacking split/chunk) or `return expr`
/// inside forward.
struct Stmt {
  SourceLocation loc;
  bool isReturn = false;
  std::vector<std::string> targets; ///< Assigned names (none for return).
  std::vector<SourceLocation> targetLocs;
  ExprPtr value;
};

struct Param {
  SourceLocation loc;
  std::string name;
  TensorTypeNode type;
};

struct ForwardDef {
  SourceLocation loc;
  std::vector<Param> params;
  std::optional<TensorTypeNode> resultType;
  std::vector<Stmt> body;
  SourceLocation endLoc; ///< Of the closing brace.
};

struct ModelBlock {
  SourceLocation loc;
  std::string name;
  std::vector<LayerDecl> layers;
  std::vector<FreezeStmt> freezes;
  std::vector<InitStmt> inits; ///< In source order (the last match wins).
  std::optional<int64_t> seed;
  SourceLocation seedLoc;
  std::optional<ForwardDef> forward;
};

//===----------------------------------------------------------------------===//
// The train block
//===----------------------------------------------------------------------===//

/// `group([fc1], lr=1e-4)`
struct GroupDecl {
  SourceLocation loc;
  std::vector<Arg> args;
};

/// `optimizer adam = Adam([fc1], lr=1e-3) { group(...) ... }`
struct OptimizerDecl {
  SourceLocation loc; ///< Of the name.
  std::string name;
  SourceLocation kindLoc;
  std::string kind;
  std::vector<Arg> args;
  std::vector<GroupDecl> groups;
};

/// `clip_grad_norm(...)`, `clip_grad_value(...)`
struct ClipDecl {
  SourceLocation loc;
  bool byNorm = true;
  std::vector<Arg> args;
};

/// `schedule s = StepLR(opt, step_size=10)`
struct ScheduleDecl {
  SourceLocation loc;
  std::string name;
  SourceLocation kindLoc;
  std::string kind;
  std::vector<Arg> args;
};

struct TrainBlock {
  SourceLocation loc;
  std::optional<Param> target;
  ExprPtr loss;
  SourceLocation lossLoc;
  std::vector<OptimizerDecl> optimizers;
  std::vector<ClipDecl> clips;
  std::vector<ScheduleDecl> schedules;
  std::optional<int64_t> accumulate;
  SourceLocation accumulateLoc;
  std::string zeroGrad = "optimizer"; ///< "optimizer", "model" or "none".
  SourceLocation zeroGradLoc;
  std::string mode = "train"; ///< "train" or "eval".
  SourceLocation modeLoc;
};

/// A whole file.
struct Module {
  std::string filename;
  ModelBlock model;
  std::optional<TrainBlock> train;
};

/// Writes the tree as an indented, human-readable listing (`firnc --emit=ast`).
void dump(const Module &module, std::string &out);

} // namespace firn::ast

#endif // FIRN_FRONTEND_AST_H
