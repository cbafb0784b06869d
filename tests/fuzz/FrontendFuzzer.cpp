//===- FrontendFuzzer.cpp - Bytes through the front end and the passes ----===//
//
// libFuzzer target: the input is a .firn file. It goes where firnc takes a
// model before code generation: parse, Sema, MLIRGen, verify, then the whole
// training pipeline (autodiff, pruning, optimizer lowering, fusion) and a
// final verify; on a copy, autodiff and firnc's --explain-pruning report
// (pruning and the cost model, at a batch size large enough to overflow
// unchecked arithmetic). A user error is fine (a diagnostic, as firnc reports it);
// what is not is a crash, a sanitizer report, or an internal error: IR the
// front end generates or a pass leaves behind that does not verify. Those
// abort, so that libFuzzer keeps the input.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnDialect.h"
#include "firn/Frontend/Diagnostics.h"
#include "firn/Frontend/MLIRGen.h"
#include "firn/Frontend/Parser.h"
#include "firn/Frontend/Program.h"
#include "firn/Transforms/Passes.h"

#include "ExplainPruning.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
[[noreturn]] void internalError(const char *what) {
  std::fprintf(stderr, "firn frontend fuzzer: internal error: %s\n", what);
  std::abort();
}

/// Runs the training pipeline up to `last`. A failure is a diagnostic
/// (the model is rejected); IR that does not verify after a successful run
/// is an internal error. The pass manager's own verifier is off so that the
/// two are told apart.
mlir::LogicalResult runPipeline(mlir::MLIRContext &context, mlir::ModuleOp module,
                                firn::Stage last) {
  mlir::PassManager pm(&context);
  pm.enableVerifier(false);
  firn::buildTrainingPipeline(pm, last);
  if (mlir::failed(pm.run(module)))
    return mlir::failure();
  if (mlir::failed(mlir::verify(module)))
    internalError("the IR after the training pipeline does not verify");
  return mlir::success();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  firn::DiagnosticEngine diags(
      "fuzz.firn", std::string(reinterpret_cast<const char *>(data), size));
  std::optional<firn::ast::Module> module = firn::parseModule(diags);
  if (!module)
    return 0;
  std::optional<firn::Program> program = firn::analyze(*module, diags);
  if (!program)
    return 0;

  // One context per input: a shared one would keep every input's uniqued
  // attributes and grow without bound. No threads: firnc's passes run on
  // one module, and a thread pool per input would dominate the run time.
  mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
  context.loadDialect<firn::FirnDialect, mlir::func::FuncDialect>();
  // Pass errors are user diagnostics at DSL locations; they are not printed
  // (that would be most of the time spent), only counted as "rejected".
  mlir::ScopedDiagnosticHandler quiet(&context,
                                      [](mlir::Diagnostic &) { return mlir::success(); });
  mlir::OwningOpRef<mlir::ModuleOp> ir = firn::mlirGen(context, *program);
  if (!ir)
    internalError("MLIRGen returned no module for a program Sema accepted");
  if (mlir::failed(mlir::verify(*ir)))
    internalError("the generated IR does not verify");

  // --explain-pruning: after autodiff only, as firnc runs it.
  mlir::OwningOpRef<mlir::ModuleOp> explained = ir->clone();
  if (succeeded(runPipeline(context, *explained, firn::Stage::Grad)))
    firn::explainPruning(*explained, /*batchSize=*/int64_t(1) << 40,
                         llvm::nulls());

  (void)runPipeline(context, *ir, firn::Stage::Optimized);
  return 0;
}
