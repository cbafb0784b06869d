//===- CompileModel.h - A .firn file through the pass pipeline (tests) ----===//
//
// The golden tests (reference evaluator and Halide JIT) both need a model
// file compiled by the real front end and pass pipeline, plus the checked
// Program for its parameter and input names. This is that one path, so the
// two suites cannot drift apart in how they compile.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_TESTS_SUPPORT_COMPILEMODEL_H
#define FIRN_TESTS_SUPPORT_COMPILEMODEL_H

#include "firn/Dialect/FirnOps.h"
#include "firn/Frontend/Diagnostics.h"
#include "firn/Frontend/MLIRGen.h"
#include "firn/Frontend/Parser.h"
#include "firn/Frontend/Program.h"
#include "firn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

namespace firn::testing {

/// A compiled model. The Program points into the AST, so both live here and
/// the AST sits behind a pointer that stays put when this struct moves.
struct CompiledModel {
  std::unique_ptr<ast::Module> ast;
  std::optional<Program> program;
  mlir::OwningOpRef<mlir::ModuleOp> ir;
};

/// Parses, checks and lowers `source` (named `path` in diagnostics) to the
/// firn dialect in `context`, then runs the training pipeline up to `last`.
/// Returns "" on success, otherwise what went wrong (the diagnostics, or
/// which step failed).
inline std::string compileModelSource(const std::string &path, const std::string &source,
                                      mlir::MLIRContext &context, Stage last,
                                      CompiledModel &out) {
  DiagnosticEngine diags(path, source);
  auto module = parseModule(diags);
  if (!module)
    return diags.text();
  out.ast = std::make_unique<ast::Module>(std::move(*module));
  out.program = analyze(*out.ast, diags);
  if (!out.program)
    return diags.text();
  context.loadDialect<FirnDialect, mlir::func::FuncDialect>();
  out.ir = mlirGen(context, *out.program);
  if (!out.ir)
    return path + ": IR generation failed";
  mlir::PassManager pm(&context);
  buildTrainingPipeline(pm, last);
  if (mlir::failed(pm.run(*out.ir)))
    return path + ": the pass pipeline failed";
  return "";
}

/// compileModelSource on the contents of the file `path`.
inline std::string compileModelFile(const std::string &path,
                                    mlir::MLIRContext &context, Stage last,
                                    CompiledModel &out) {
  std::ifstream in(path);
  if (!in)
    return path + ": cannot open";
  std::stringstream source;
  source << in.rdbuf();
  return compileModelSource(path, source.str(), context, last, out);
}

} // namespace firn::testing

#endif // FIRN_TESTS_SUPPORT_COMPILEMODEL_H
