//===- Build.cpp - Kernels, model table and the linked executable ---------===//
//
// lowerModel lowers and schedules each model function; buildExecutable
// compiles them ahead of time into a temporary directory (one static
// library per function, built without the Halide runtime, plus one
// standalone runtime object for all of them), writes the model table and
// links everything with libFirnRuntime.a using the system C++ compiler.
// The executable needs no Halide, LLVM or MLIR library at run time.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Build.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace firn::codegen {

namespace {
/// A C identifier for a function name: `step/adam/0` -> `step_adam_0`.
std::string identifier(StringRef name) {
  std::string out;
  for (char c : name)
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

LogicalResult lowerOne(func::FuncOp func, const Halide::Target &target,
                       const std::string &partOf,
                       std::vector<LoweredFunction> &functions) {
  FailureOr<LoweredFunction> lowered = lowerFunction(func);
  if (failed(lowered))
    return failure();
  // A function that writes nothing (zero_grad with zero_grad none, the
  // optimizer step of a model without optimizers) needs no kernel.
  if (lowered->funcs.empty())
    return success();
  lowered->name = identifier(func.getSymName());
  lowered->partOf = partOf;
  scheduleForTarget(*lowered, target);
  functions.push_back(std::move(*lowered));
  return success();
}
} // namespace

LogicalResult lowerModel(ModuleOp module, const Halide::Target &target,
                         std::vector<LoweredFunction> &functions) {
  for (const std::string &name : modelFunctions()) {
    auto func = module.lookupSymbol<func::FuncOp>(name);
    if (!func)
      continue;
    if (name != "optimizer_step") {
      if (failed(lowerOne(func, target, "", functions)))
        return failure();
      continue;
    }
    // One kernel per optimizer group: the functions optimizer_step calls.
    for (auto call : func.getOps<func::CallOp>()) {
      auto group = module.lookupSymbol<func::FuncOp>(call.getCallee());
      if (!group || failed(lowerOne(group, target, name, functions)))
        return failure();
    }
  }
  return success();
}

namespace {
std::vector<Halide::Argument> argumentsOf(const LoweredFunction &fn) {
  std::vector<Halide::Argument> args;
  for (const Halide::ImageParam &param : fn.params)
    args.push_back(param);
  return args;
}

/// Runs `command`, capturing its output into `error` when it fails.
LogicalResult run(const std::vector<std::string> &command, const std::string &log,
                  std::string &error) {
  std::vector<llvm::StringRef> args(command.begin(), command.end());
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log),
                                                llvm::StringRef(log)};
  std::string message;
  int code = llvm::sys::ExecuteAndWait(command[0], args, std::nullopt, redirects,
                                       0, 0, &message);
  if (code == 0)
    return success();
  auto output = llvm::MemoryBuffer::getFile(log);
  error = "linking failed (" + command[0] + " exited with " +
          std::to_string(code) + (message.empty() ? "" : ": " + message) + ")";
  if (output)
    error += ":\n" + (*output)->getBuffer().str();
  return failure();
}
} // namespace

LogicalResult printLowered(std::vector<LoweredFunction> &functions,
                           const Halide::Target &target, llvm::raw_ostream &os,
                           std::string &error) {
  llvm::SmallString<128> dir;
  if (llvm::sys::fs::createUniqueDirectory("firn-halide", dir)) {
    error = "cannot create a temporary directory";
    return failure();
  }
  try {
    for (LoweredFunction &fn : functions) {
      std::string path = (dir + "/" + fn.name + ".stmt").str();
      fn.pipeline().compile_to_lowered_stmt(path, argumentsOf(fn),
                                            Halide::StmtOutputFormat::Text,
                                            target);
      auto text = llvm::MemoryBuffer::getFile(path);
      os << "// ===== " << fn.name << " =====\n";
      if (text)
        os << (*text)->getBuffer();
      os << "\n";
    }
  } catch (const Halide::Error &e) {
    error = std::string("Halide: ") + e.what();
    llvm::sys::fs::remove_directories(dir);
    return failure();
  }
  llvm::sys::fs::remove_directories(dir);
  return success();
}

LogicalResult buildExecutable(ModuleOp module,
                              std::vector<LoweredFunction> &functions,
                              const BuildOptions &options, std::string &error) {
  llvm::SmallString<128> dir;
  if (llvm::sys::fs::createUniqueDirectory("firn-build", dir)) {
    error = "cannot create a temporary directory";
    return failure();
  }
  std::string base = dir.str().str();
  std::vector<std::string> command = {"", "-O2", "-std=c++17",
                                      "-I" + options.runtimeInclude,
                                      "-isystem", options.halideInclude};
  try {
    Halide::Target kernels = options.target.with_feature(Halide::Target::NoRuntime);
    for (LoweredFunction &fn : functions) {
      std::string prefix = base + "/" + fn.name;
      fn.pipeline().compile_to_static_library(prefix, argumentsOf(fn),
                                              "firn_k_" + fn.name, kernels);
      command.push_back(prefix + ".a");
    }
    Halide::compile_standalone_runtime(base + "/halide_runtime.o", options.target);
  } catch (const Halide::Error &e) {
    error = std::string("Halide: ") + e.what();
    return failure();
  }
  std::string table = base + "/model_table.cpp";
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(table, ec);
    if (ec) {
      error = "cannot write " + table + ": " + ec.message();
      return failure();
    }
    out << generateModelTable(module, functions);
  }
  auto compiler = llvm::sys::findProgramByName("c++");
  if (!compiler) {
    error = "no C++ compiler ('c++') on PATH to link the executable";
    return failure();
  }
  command[0] = *compiler;
  command.insert(command.begin() + 1, table);
  for (const std::string &extra :
       {base + "/halide_runtime.o", options.runtimeLibrary, std::string("-ldl"),
        std::string("-lpthread"), std::string("-o"), options.output})
    command.push_back(extra);
  LogicalResult linked = run(command, base + "/link.log", error);
  if (!options.keepTemporaries)
    llvm::sys::fs::remove_directories(dir);
  return linked;
}

} // namespace firn::codegen
