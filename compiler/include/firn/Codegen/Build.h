//===- Build.h - From optimized firn IR to kernels and a binary -*- C++ -*-===//
//
// Code generation's second half: schedules each lowered pipeline for the
// target, compiles it ahead of time (one static library per function, no
// Halide runtime inside, plus one standalone runtime object), writes the
// model table the runtime reads (runtime/include/firn/Runtime/ModelABI.h)
// and links the executable with the C++ compiler.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_CODEGEN_BUILD_H
#define FIRN_CODEGEN_BUILD_H

#include "firn/Codegen/HalideLowering.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace firn::codegen {

/// The functions a compiled model may have, in the order the runtime's
/// table lists them.
const std::vector<std::string> &modelFunctions();

/// Lowers every model function the module has and schedules it with the
/// target's scheduler (Scheduler.h); fails with a diagnostic on the module
/// when firn has no scheduler for the target.
mlir::LogicalResult lowerModel(mlir::ModuleOp module,
                               const Halide::Target &target,
                               std::vector<LoweredFunction> &functions);

/// Writes each function's lowered Halide statement (`--emit=halide`).
mlir::LogicalResult printLowered(std::vector<LoweredFunction> &functions,
                                 const Halide::Target &target,
                                 llvm::raw_ostream &os, std::string &error);

/// The C++ source of the model table and `main` (see ModelABI.h);
/// `targetName` is where its kernels run (targetName(target)).
std::string generateModelTable(mlir::ModuleOp module,
                               const std::vector<LoweredFunction> &functions,
                               llvm::StringRef targetName);

/// "cuda" for a target with Halide's CUDA feature, else "host": the model
/// table's `target`.
const char *targetName(const Halide::Target &target);

/// What buildModel writes.
enum class Artifact {
  Object,     ///< One relocatable object: kernels, Halide runtime, model table.
  Library,    ///< A static library with the runtime too, and a C header.
  Executable, ///< A training executable (the table's `main` calls firn_main).
};

struct BuildOptions {
  Artifact artifact = Artifact::Executable;
  std::string output;         ///< The file to write.
  Halide::Target target;
  std::string runtimeLibrary; ///< libFirnRuntime.a
  std::string runtimeInclude; ///< runtime/include
  std::string halideInclude;  ///< where HalideRuntime.h is
  bool keepTemporaries = false;
  /// Where compiled kernels are kept by content (KernelCache.h); empty for
  /// no caching.
  std::string cacheDirectory;
};

/// $FIRN_CACHE_DIR, else $XDG_CACHE_HOME/firn, else ~/.cache/firn.
std::string defaultCacheDirectory();

/// Compiles the kernels and writes the artifact (with --emit=lib, also
/// `<output without .a>.h`). On failure `error` says why (a Halide error,
/// or the compiler's or linker's output).
mlir::LogicalResult buildModel(mlir::ModuleOp module,
                               std::vector<LoweredFunction> &functions,
                               const BuildOptions &options, std::string &error);

} // namespace firn::codegen

#endif // FIRN_CODEGEN_BUILD_H
