//===- firnc.cpp - The firn compiler driver -------------------------------===//
//
// Reads a .firn file and runs the pipeline up to the stage `--emit` names,
// printing that stage: the syntax tree (`ast`), the firn dialect IR as the
// front end produced it (`firn`), or after autodiff (`grad`), frozen-
// parameter pruning (`pruned`) and optimizer lowering (`optimized`). IR is
// printed with every op's DSL location, so dumps point back to the line that
// caused them. `--explain-pruning` reports what pruning removed instead. Exit status: 0 on success, 1 on a user error
// (reported as `file:line:col: error: ...` with the line and a caret), 2 on
// an internal error.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Build.h"
#include "firn/Codegen/Scheduler.h"
#include "firn/Dialect/FirnDialect.h"
#include "firn/Dialect/FirnOps.h"
#include "firn/Frontend/Diagnostics.h"
#include "firn/Frontend/MLIRGen.h"
#include "firn/Frontend/Parser.h"
#include "firn/Frontend/Program.h"
#include "firn/Transforms/Passes.h"

#include "ExplainPruning.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>

namespace cl = llvm::cl;

namespace {
enum class Emit {
  Default, AST, Firn, Grad, Pruned, Optimized, Halide, Obj, Lib, Exe
};

cl::OptionCategory category("firnc options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.firn>"),
                               cl::Required, cl::cat(category));

cl::opt<Emit> emitAction(
    "emit",
    cl::desc("The stage to stop at and print (default: exe with -o, else firn)"),
    cl::init(Emit::Default),
    cl::values(clEnumValN(Emit::AST, "ast", "the syntax tree"),
               clEnumValN(Emit::Firn, "firn",
                          "the firn dialect IR, before any pass"),
               clEnumValN(Emit::Grad, "grad",
                          "after autodiff (firn-autodiff)"),
               clEnumValN(Emit::Pruned, "pruned",
                          "after frozen-parameter pruning (firn-prune-frozen)"),
               clEnumValN(Emit::Optimized, "optimized",
                          "after optimizer lowering (firn-lower-optimizers)"),
               clEnumValN(Emit::Halide, "halide",
                          "each function's lowered Halide statement"),
               clEnumValN(Emit::Obj, "obj",
                          "one object file: kernels, Halide runtime, model "
                          "table (needs -o)"),
               clEnumValN(Emit::Lib, "lib",
                          "a static library and a C header OUT.h (needs -o)"),
               clEnumValN(Emit::Exe, "exe",
                          "a training executable (needs -o)")),
    cl::cat(category));

cl::opt<bool> noGrad(
    "no-grad",
    cl::desc("Build for inference only: no backward pass, no optimizer "
             "(like torch.no_grad())"),
    cl::init(false), cl::cat(category));

cl::opt<bool> explainPruning(
    "explain-pruning",
    cl::desc("Print what frozen-parameter pruning removes and what it saves"),
    cl::init(false), cl::cat(category));

cl::opt<int64_t> batchSize(
    "batch-size",
    cl::desc("Batch size for the costs --explain-pruning reports (default 1)"),
    cl::init(1), cl::cat(category));

cl::opt<bool> profile(
    "profile",
    cl::desc("Build the kernels with Halide's profiler: the binary prints the "
             "time spent in each stage of each kernel when it exits"),
    cl::init(false), cl::cat(category));

cl::opt<std::string> targetName(
    "target",
    cl::desc("Where the kernels run: host (this CPU, the default) or cuda "
             "(an NVIDIA GPU; PTX inside, compiled by the driver at run time)"),
    cl::value_desc("host|cuda"), cl::init("host"), cl::cat(category));

cl::opt<int> cudaCapability(
    "cuda-capability",
    cl::desc("With --target=cuda: the oldest compute capability the PTX "
             "targets, 70, 75 (default), 80 or 86 (newer GPUs run it too)"),
    cl::init(75), cl::cat(category));

cl::opt<std::string> convAlgorithm(
    "conv-algorithm",
    cl::desc("How stride-1 3x3 convolutions and their gradients compute: winograd "
             "(Winograd's F(2x2, 3x3) where the shapes suit it, the default: 2.25x "
             "fewer multiplications, results within float32 rounding of the direct "
             "sums) or direct (the sums PyTorch's CPU convolution computes)"),
    cl::value_desc("winograd|direct"), cl::init("winograd"), cl::cat(category));

cl::opt<bool> noCache(
    "no-cache",
    cl::desc("Compile every kernel anew instead of reusing the ones kept by "
             "content in $FIRN_CACHE_DIR (default ~/.cache/firn)"),
    cl::init(false), cl::cat(category));

cl::opt<std::string> outputFile("o", cl::desc("Output file (default: stdout)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(category));

/// Writes `text` to the output file; false (reported) if it can't.
bool writeOutput(llvm::function_ref<void(llvm::raw_ostream &)> write) {
  std::error_code error;
  llvm::ToolOutputFile out(outputFile, error, llvm::sys::fs::OF_Text);
  if (error) {
    llvm::errs() << "firnc: error: cannot write '" << outputFile
                 << "': " << error.message() << "\n";
    return false;
  }
  write(out.os());
  out.keep();
  return true;
}
/// Whether the output file can be written, checked before compiling (a
/// model can take minutes): the linker's "cannot open output file" is no
/// message for a mistyped -o. Writes and removes a probe file next to it,
/// the only test that also catches read-only and pseudo file systems.
bool checkOutputWritable() {
  if (outputFile == "-")
    return true;
  auto fail = [](const llvm::Twine &why) {
    llvm::errs() << "firnc: error: cannot write '" << outputFile
                 << "': " << why << "\n";
    return false;
  };
  if (llvm::sys::fs::is_directory(outputFile))
    return fail("it is a directory");
  llvm::SmallString<256> dir(outputFile);
  llvm::sys::path::remove_filename(dir);
  if (dir.empty())
    dir = ".";
  if (!llvm::sys::fs::is_directory(dir))
    return fail("the directory '" + dir + "' does not exist");
  llvm::SmallString<256> probe(dir);
  llvm::sys::path::append(probe, ".firnc-write-test-%%%%%%");
  int fd = -1;
  llvm::SmallString<256> probePath;
  if (std::error_code error =
          llvm::sys::fs::createUniqueFile(probe, fd, probePath))
    return fail("cannot create files in '" + dir + "': " + error.message());
  llvm::sys::Process::SafelyCloseFileDescriptor(fd);
  llvm::sys::fs::remove(probePath);
  return true;
}

/// --no-grad: keeps what inference needs (@predict, @eval_loss and the
/// state they read) and removes the training step and the optimizers, so
/// no pass generates a backward pass or an update.
void dropTraining(mlir::ModuleOp module) {
  if (auto step = module.lookupSymbol<mlir::func::FuncOp>("train_step"))
    step.erase();
  for (mlir::Operation &op :
       llvm::make_early_inc_range(module.getBody()->getOperations()))
    if (mlir::isa<firn::OptimizerOp, firn::LRScheduleOp, firn::ClipGradNormOp,
                  firn::ClipGradValueOp>(op))
      op.erase();
  module.walk([](firn::ParamOp param) {
    param.removeOwnerAttr();
    param.removeGroupAttr();
  });
}

/// The Halide target --target and --cuda-capability name; none (reported)
/// for a name firnc does not know.
std::optional<Halide::Target> chosenTarget() {
  Halide::Target target = firn::codegen::hostTarget();
  if (targetName == "cuda") {
    const std::pair<int, Halide::Target::Feature> capabilities[] = {
        {70, Halide::Target::CUDACapability70},
        {75, Halide::Target::CUDACapability75},
        {80, Halide::Target::CUDACapability80},
        {86, Halide::Target::CUDACapability86}};
    auto it = llvm::find_if(capabilities,
                            [](auto &c) { return c.first == cudaCapability; });
    if (it == std::end(capabilities)) {
      llvm::errs() << "firnc: error: --cuda-capability must be 70, 75, 80 or "
                      "86, not "
                   << cudaCapability << "\n";
      return std::nullopt;
    }
    target = target.with_feature(Halide::Target::CUDA).with_feature(it->second);
  } else if (targetName != "host") {
    llvm::errs() << "firnc: error: unknown --target '" << targetName
                 << "' (host or cuda)\n";
    return std::nullopt;
  }
  return target;
}

/// Code generation: the lowered Halide statements, an object, a library
/// or the executable.
int generateCode(mlir::ModuleOp module) {
  Halide::Target target = *chosenTarget();
  if (profile)
    target = target.with_feature(Halide::Target::Profile);
  std::vector<firn::codegen::LoweredFunction> functions;
  // A function that cannot be lowered has been reported at its DSL line.
  if (mlir::failed(firn::codegen::lowerModel(module, target, functions)))
    return 1;
  std::string error;
  if (emitAction == Emit::Halide) {
    bool ok = writeOutput([&](llvm::raw_ostream &os) {
      if (mlir::failed(
              firn::codegen::printLowered(functions, target, os, error)))
        llvm::errs() << "firnc: error: " << error << "\n";
    });
    return ok && error.empty() ? 0 : 2;
  }
  firn::codegen::BuildOptions options;
  options.artifact = emitAction == Emit::Obj   ? firn::codegen::Artifact::Object
                     : emitAction == Emit::Lib ? firn::codegen::Artifact::Library
                                               : firn::codegen::Artifact::Executable;
  options.output = outputFile;
  options.target = target;
  if (!noCache)
    options.cacheDirectory = firn::codegen::defaultCacheDirectory();
  options.runtimeLibrary = FIRN_RUNTIME_LIBRARY;
  options.runtimeInclude = FIRN_RUNTIME_INCLUDE;
  options.halideInclude = FIRN_HALIDE_INCLUDE;
  if (mlir::failed(
          firn::codegen::buildModel(module, functions, options, error))) {
    llvm::errs() << "firnc: error: " << error << "\n";
    return 2;
  }
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "firnc: compile a .firn model and its training "
                              "setup\n");
  if (emitAction == Emit::Default)
    emitAction = outputFile == "-" ? Emit::Firn : Emit::Exe;
  if ((emitAction == Emit::Exe || emitAction == Emit::Obj ||
       emitAction == Emit::Lib) &&
      outputFile == "-") {
    llvm::errs() << "firnc: error: --emit=obj, lib and exe need an output "
                    "file (-o)\n";
    return 1;
  }

  if (!checkOutputWritable() || !chosenTarget())
    return 1;

  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(inputFile, /*IsText=*/true);
  if (std::error_code error = buffer.getError()) {
    llvm::errs() << "firnc: error: cannot read '" << inputFile
                 << "': " << error.message() << "\n";
    return 1;
  }
  firn::DiagnosticEngine diags(inputFile, (*buffer)->getBuffer().str());
  std::optional<firn::ast::Module> module = firn::parseModule(diags);
  if (!module) {
    llvm::errs() << diags.text();
    return 1;
  }
  if (emitAction == Emit::AST) {
    std::string text;
    firn::ast::dump(*module, text);
    return writeOutput([&](llvm::raw_ostream &os) { os << text; }) ? 0 : 1;
  }

  firn::AnalyzeOptions analyzeOptions;
  analyzeOptions.training = !noGrad;
  std::optional<firn::Program> program =
      firn::analyze(*module, diags, analyzeOptions);
  if (!program) {
    llvm::errs() << diags.text();
    return 1;
  }

  mlir::MLIRContext context;
  context.loadDialect<firn::FirnDialect, mlir::func::FuncDialect>();
  mlir::OwningOpRef<mlir::ModuleOp> ir = firn::mlirGen(context, *program);
  if (mlir::failed(mlir::verify(*ir))) {
    // Semantic analysis should have caught whatever the verifier found.
    llvm::errs() << "firnc: internal error: the generated IR does not verify\n";
    return 2;
  }
  if (noGrad)
    dropTraining(*ir);
  if (convAlgorithm != "winograd" && convAlgorithm != "direct") {
    llvm::errs() << "firnc: error: --conv-algorithm must be winograd or direct, not '"
                 << convAlgorithm << "'\n";
    return 1;
  }
  if (convAlgorithm == "direct")
    (*ir)->setAttr(firn::codegen::kConvAlgorithmAttr,
                   mlir::StringAttr::get(&context, convAlgorithm));
  if (batchSize < 1) {
    llvm::errs() << "firnc: error: --batch-size must be at least 1\n";
    return 1;
  }

  if (explainPruning || emitAction != Emit::Firn) {
    firn::Stage last = explainPruning || emitAction == Emit::Grad
                           ? firn::Stage::Grad
                       : emitAction == Emit::Pruned ? firn::Stage::Pruned
                                                    : firn::Stage::Optimized;
    mlir::PassManager pm(&context);
    firn::buildTrainingPipeline(pm, last);
    // A pass failure has been reported as a diagnostic at the DSL location.
    if (mlir::failed(pm.run(*ir)))
      return 1;
  }
  if (explainPruning)
    return writeOutput([&](llvm::raw_ostream &os) {
             firn::explainPruning(*ir, batchSize, os);
           })
               ? 0
               : 1;
  if (emitAction == Emit::Halide || emitAction == Emit::Obj ||
      emitAction == Emit::Lib || emitAction == Emit::Exe)
    return generateCode(*ir);

  mlir::OpPrintingFlags flags;
  flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  flags.useLocalScope();
  return writeOutput([&](llvm::raw_ostream &os) {
           ir->print(os, flags);
           os << "\n";
         })
             ? 0
             : 1;
}
