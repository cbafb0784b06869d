//===- Sema.h - Semantic analysis of a .firn file (internal) ----*- C++ -*-===//
//
// Semantic analysis in four steps, one file each:
//   SemaModel.cpp  layers, their parameters and buffers, freeze, init;
//   SemaExpr.cpp   types of the forward body and the loss expression;
//   SemaTrain.cpp  target, loss, optimizers and their claims, clipping,
//                  schedules, accumulation, zero_grad, mode;
//   Sema.cpp       the driver (analyze) and selector matching.
// Each step stops at the first error, which it has reported.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_SEMA_H
#define FIRN_FRONTEND_SEMA_H

#include "SemaArgs.h"

#include "firn/Frontend/Diagnostics.h"
#include "firn/Frontend/Program.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace firn {

/// The builtins of SemaMasks.cpp: where, masked_fill, logical_not, tril,
/// triu, ones, zeros.
bool isMaskFunction(const std::string &name);

class Sema {
public:
  /// `training`: the program will be trained (see AnalyzeOptions).
  Sema(Program &program, DiagnosticEngine &diags, bool training = false)
      : program(program), diags(diags), training(training) {}

  bool checkModel(const ast::ModelBlock &model);
  bool checkForward(const ast::ForwardDef &forward);
  bool checkTrain(const ast::TrainBlock &train);

  /// The parameters a selector matches, in declaration order, or an error if
  /// it matches none. A bare layer name matches all its parameters.
  std::optional<std::vector<size_t>> matchSelector(const ast::Expr &selector);

  /// The entry of `table` named `kind` (a layer, optimizer or schedule
  /// kind), or an "unknown <what> 'kind'; did you mean ...?" error at `loc`.
  template <typename Entry>
  const Entry *lookupKind(const std::vector<Entry> &table,
                          const std::string &kind, const char *what,
                          SourceLocation loc) {
    std::vector<std::string> kinds;
    for (const Entry &entry : table) {
      if (kind == entry.kind)
        return &entry;
      kinds.push_back(entry.kind);
    }
    std::string message = std::string("unknown ") + what + " '" + kind + "'";
    std::string guess = suggest(kind, kinds);
    if (!guess.empty())
      message += "; did you mean '" + guess + "'?";
    diags.error(loc, message);
    return nullptr;
  }

  /// The name of an optimizer declared before `expr` names it, or an error
  /// (`what` names the argument in the message).
  std::optional<std::string> optimizerNamed(const ast::Expr *expr,
                                            const std::string &what);

private:
  // SemaModel.cpp
  bool declareLayer(const ast::LayerDecl &decl);
  bool declareLayer(const std::string &name, SourceLocation loc,
                    const std::string &kind, SourceLocation kindLoc,
                    const std::vector<ast::Arg> &args);
  bool declareSequential(const std::string &name, SourceLocation loc,
                         SourceLocation kindLoc, const std::vector<ast::Arg> &args);
  bool applyFreeze(const ast::FreezeStmt &stmt);
  bool applyInit(const ast::InitStmt &stmt);

  // SemaExpr.cpp
  using Scope = std::map<std::string, ValueType>;
  std::optional<ValueType> typeOf(const ast::Expr &expr, Scope &scope,
                                  bool inLoss);
  std::optional<ValueType> typeOfCall(const ast::Expr &call, Scope &scope,
                                      bool inLoss);
  std::optional<ValueType> typeOfLayerCall(const ast::Expr &call,
                                           const Layer &layer,
                                           const ValueType &input);
  /// cross_entropy's weight and label_smoothing, into
  /// program.crossEntropyOptions; false after a diagnostic.
  bool crossEntropyOptions(const ast::Expr &call, const ValueType &x,
                           const ValueType &target, const BoundArgs &bound);
  /// After the loss: the cross_entropy calls without an ignore_index agree
  /// with the one another gives (see Program::targetIgnoreIndex).
  bool checkIgnoreIndex();
  std::optional<ValueType> typeOfBuiltin(const ast::Expr &call,
                                         const std::vector<ValueType> &args,
                                         const BoundArgs &bound, bool inLoss);
  std::optional<ValueType> checkType(const ast::TensorTypeNode &node);
  /// Reports at `loc` a tensor larger than Halide can index (`what` names
  /// it: "tensor f32[N, 9]", "parameter 'fc.weight' f32[9, 9]").
  bool checkSize(const ValueType &type, SourceLocation loc,
                 const std::string &what);
  /// checkSize for the parameters and buffers `layer` declared.
  bool checkLayerSizes(const Layer &layer);
  /// torch.matmul's result type for `a @ b` (or matmul(a, b)) at `expr`:
  /// batches of matrices with the same leading dimensions, or a batch of
  /// matrices times one matrix (a Linear without bias).
  /// A dimension argument of `x` (negative counts from the end), checked.
  std::optional<int64_t> readDim(const ast::Expr *expr, const ValueType &x,
                                 const std::string &what);
  /// torch.cat(tensors, dim=0): a list of tensors that agree but at `dim`.
  std::optional<ValueType> catType(const ast::Expr &call, const BoundArgs &bound,
                                   Scope &scope, bool inLoss);
  std::optional<ValueType> matmulType(const ast::Expr &expr, const ValueType &a,
                                      const ValueType &b);

  bool requireFloat(const ast::Expr &expr, const ValueType &type,
                    const std::string &what);

  // SemaAttention.cpp
  /// F.scaled_dot_product_attention(query, key, value, ...): [..., L, E],
  /// [..., S, E], [..., S, Ev] -> [..., L, Ev].
  std::optional<ValueType> attentionType(const ast::Expr &call,
                                         const std::vector<ValueType> &args,
                                         const BoundArgs &bound);
  /// `y, w = attn(q, k, v, ...)` for a MultiheadAttention layer: the output
  /// [N, L, E] and the weights [N, L, S] (or [N, H, L, S] per head).
  std::optional<std::vector<ValueType>>
  multiheadAttentionTypes(const ast::Stmt &stmt, const Layer &layer, Scope &scope);

  // SemaMasks.cpp
  /// `a < b`, `a == b`, ...: a mask of the broadcast shape.
  std::optional<ValueType> compareType(const ast::Expr &expr, Scope &scope,
                                       bool inLoss);
  /// `~mask`.
  std::optional<ValueType> notType(const ast::Expr &expr, Scope &scope, bool inLoss);
  /// where, masked_fill, logical_not, tril, triu, ones, zeros.
  std::optional<ValueType> maskCallType(const ast::Expr &call, Scope &scope,
                                        bool inLoss);

  // SemaIndexing.cpp
  /// `x[...]`: each index an integer, a slice (start:stop, step 1) or `...`.
  std::optional<ValueType> indexType(const ast::Expr &expr, Scope &scope,
                                     bool inLoss);
  /// The pieces `a, b = split(x, ...)` (or chunk) assigns, one per name.
  std::optional<std::vector<ValueType>> unpackTypes(const ast::Stmt &stmt,
                                                    Scope &scope);

  // SemaTrain.cpp
  bool declareOptimizer(const ast::OptimizerDecl &decl);
  bool claimParams(const ast::Expr *selection, size_t optimizer, size_t group,
                   SourceLocation fallbackLoc);
  std::optional<HyperParams> readHyperParams(const std::string &kind,
                                             const BoundArgs &bound,
                                             const HyperParams &defaults,
                                             const std::string &callee);
  bool declareClip(const ast::ClipDecl &decl);
  bool declareSchedule(const ast::ScheduleDecl &decl);
  /// "Nothing to train" and "the loss has no gradient", as PyTorch's
  /// backward() would refuse them.
  bool checkTrainable(const ast::TrainBlock &train);
  /// Whether `expr` depends on a trainable parameter (PyTorch's
  /// requires_grad), given that of each name in scope.
  bool requiresGrad(const ast::Expr &expr,
                    const std::map<std::string, bool> &scope) const;

  Program &program;
  DiagnosticEngine &diags;
  const bool training;
  /// Where each claimed parameter was claimed, for the "claimed twice" error.
  std::map<size_t, std::string> claimedBy;
  /// The batch dimension's name, fixed by its first use.
  std::string batchName;
  SourceLocation batchNameLoc;
};

} // namespace firn

#endif // FIRN_FRONTEND_SEMA_H
