//===- FrontendFuzzer.cpp - Bytes through the front end and the passes ----===//
//
// libFuzzer target: the input is a .firn file. It goes where firnc takes a
// model before code generation: parse, Sema, MLIRGen, verify, then the whole
// training pipeline (autodiff, pruning, optimizer lowering, fusion) and a
// final verify. A user error is fine (a diagnostic, as firnc reports it);
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

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
[[noreturn]] void internalError(const char *what) {
  std::fprintf(stderr, "firn frontend fuzzer: internal error: %s\n", what);
  std::abort();
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

  mlir::PassManager pm(&context);
  // The final verify below tells a pass that breaks the IR (an internal
  // error) from one that rejects the model with a diagnostic.
  pm.enableVerifier(false);
  firn::buildTrainingPipeline(pm, firn::Stage::Optimized);
  if (mlir::failed(pm.run(*ir)))
    return 0;
  if (mlir::failed(mlir::verify(*ir)))
    internalError("the IR after the training pipeline does not verify");
  return 0;
}
