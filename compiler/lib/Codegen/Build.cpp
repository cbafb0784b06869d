//===- Build.cpp - Kernels, model table and the linked executable ---------===//
//
// lowerModel lowers and schedules each model function; buildModel compiles
// them ahead of time into a temporary directory (one library or object per
// function, built without the Halide runtime, plus one standalone runtime
// object for all of them), writes the model table, and then links an
// executable with libFirnRuntime.a (--emit=exe), merges one relocatable
// object (--emit=obj, `ld -r`), or archives everything with the runtime's
// objects next to a C header (--emit=lib). Nothing built needs a Halide,
// LLVM or MLIR library at run time.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Build.h"

#include "KernelCache.h"
#include "firn/Codegen/Scheduler.h"

#include "firn/Codegen/KernelPartition.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <set>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using namespace mlir;

namespace firn::codegen {

namespace {
/// The target each kernel is compiled for: without Halide's runtime (one
/// standalone copy is linked once) and without bounds-query mode (the
/// runtime always passes allocated buffers, firn_describe_buffer, and the
/// mode's second code path in each kernel cost a tenth of its compile
/// time). --emit=halide prints what this target compiles.
Halide::Target kernelTarget(const Halide::Target &target) {
  return target.with_feature(Halide::Target::NoRuntime)
      .with_feature(Halide::Target::NoBoundsQuery);
}
} // namespace

LogicalResult lowerModel(ModuleOp module, const Halide::Target &target,
                         std::vector<LoweredFunction> &functions) {
  KernelIndex index;
  size_t first = functions.size();
  for (const std::string &name : modelFunctions()) {
    auto func = module.lookupSymbol<func::FuncOp>(name);
    if (!func)
      continue;
    // optimizer_step: each optimizer group (a function it calls) apart.
    std::vector<func::FuncOp> parts;
    if (name == "optimizer_step") {
      for (auto call : func.getOps<func::CallOp>())
        if (auto group = module.lookupSymbol<func::FuncOp>(call.getCallee()))
          parts.push_back(group);
    } else {
      parts.push_back(func);
    }
    int temporaries = 0;
    for (func::FuncOp part : parts) {
      FailureOr<int> used = lowerKernels(part, name, temporaries, functions, index);
      if (failed(used))
        return failure();
      temporaries = *used;
    }
  }
  std::string error;
  std::unique_ptr<Scheduler> scheduler = makeScheduler(target, error);
  if (!scheduler)
    return module.emitError(error);
  for (size_t i = first; i < functions.size(); ++i)
    if (!functions[i].duplicate)
      scheduler->schedule(functions[i]);
  return success();
}

namespace {
std::vector<Halide::Argument> argumentsOf(const LoweredFunction &fn) {
  std::vector<Halide::Argument> args;
  for (const Halide::ImageParam &param : fn.params)
    args.push_back(param);
  return args;
}

/// Runs `command`, capturing its output into `error` when it fails; the
/// message names `name` (default: the program).
LogicalResult run(const std::vector<std::string> &command, const std::string &log,
                  std::string &error, std::string name = "") {
  std::vector<llvm::StringRef> args(command.begin(), command.end());
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log),
                                                llvm::StringRef(log)};
  std::string message;
  int code = llvm::sys::ExecuteAndWait(command[0], args, std::nullopt, redirects,
                                       0, 0, &message);
  if (code == 0)
    return success();
  auto output = llvm::MemoryBuffer::getFile(log);
  if (name.empty())
    name = llvm::sys::path::filename(command[0]).str();
  error = name + " failed (exited with " +
          std::to_string(code) + (message.empty() ? "" : ": " + message) + ")";
  if (output)
    error += ":\n" + (*output)->getBuffer().str();
  return failure();
}
} // namespace

namespace {
/// `s0=fc1.weight`, `arg0=x`, `t3`, `result0`: a port in --emit=halide.
std::string describePort(const Port &port) {
  switch (port.kind) {
  case Port::Kind::State:
    return port.name + "=" + port.symbol;
  case Port::Kind::Argument:
    return "arg" + std::to_string(port.index);
  case Port::Kind::Result:
    return "result" + std::to_string(port.index);
  case Port::Kind::Temporary:
    return "t" + std::to_string(port.index);
  }
  return "";
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
    // Each kernel once, under the first function that calls it, with what
    // its ports are bound to there (kernels name state s0, s1, ...).
    std::string function;
    int number = 0;
    for (LoweredFunction &fn : functions) {
      if (fn.partOf != function) {
        function = fn.partOf;
        number = 0;
        os << "// ===== " << function << " =====\n";
      }
      ++number;
      auto list = [](const std::vector<Port> &ports) {
        std::string out;
        for (const Port &port : ports)
          out += (out.empty() ? "" : ", ") + describePort(port);
        return "(" + out + ")";
      };
      os << "// kernel " << number << ": firn_k_" << fn.name << list(fn.inputs)
         << " -> " << list(fn.outputs) << (fn.duplicate ? ", compiled above" : "")
         << "\n";
      if (fn.duplicate)
        continue;
      std::string path = (dir + "/" + fn.name + ".stmt").str();
      fn.pipeline().compile_to_lowered_stmt(path, argumentsOf(fn),
                                            Halide::StmtOutputFormat::Text,
                                            kernelTarget(target));
      auto text = llvm::MemoryBuffer::getFile(path);
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

namespace {
/// Runs a program found on PATH; its output goes to `log`.
LogicalResult runTool(const std::string &tool, std::vector<std::string> args,
                      const std::string &log, std::string &error) {
  auto program = llvm::sys::findProgramByName(tool);
  if (!program) {
    error = "'" + tool + "' is not on PATH; firnc needs it to build";
    return failure();
  }
  args.insert(args.begin(), *program);
  return run(args, log, error);
}

/// Runs the C++ compiler in `dir`, the build's temporary directory, on
/// sources named relative to it: sanitizers embed a source's path as given
/// (ASan's module name), and a unique temporary path would make every
/// build of the same model differ. Every other path must be absolute.
LogicalResult runCompiler(const std::string &dir, std::vector<std::string> args,
                          const std::string &log, std::string &error) {
  auto program = llvm::sys::findProgramByName("c++");
  if (!program) {
    error = "'c++' is not on PATH; firnc needs it to build";
    return failure();
  }
  // sh changes directory and then becomes the compiler: no quoting, as
  // the directory and the arguments stay separate words.
  args.insert(args.begin(),
              {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", dir, *program});
  return run(args, log, error, "c++");
}

std::string absolute(const std::string &path) {
  llvm::SmallString<256> full(path);
  llvm::sys::fs::make_absolute(full);
  return full.str().str();
}

std::string readFile(const std::string &path) {
  auto text = llvm::MemoryBuffer::getFile(path);
  return text ? (*text)->getBuffer().str() : std::string();
}

/// The C header of an --emit=lib library: self-contained (the model ABI and
/// the C API, whose declarations come from the runtime's own headers).
std::string libraryHeader(ModuleOp module, const BuildOptions &options) {
  std::string name =
      module->getAttrOfType<StringAttr>("firn.model").getValue().str();
  std::string abi = readFile(options.runtimeInclude + "/firn/Runtime/ModelABI.h");
  std::string api = readFile(options.runtimeInclude + "/firn/Runtime/firn.h");
  // firn.h includes ModelABI.h, which is pasted above it.
  size_t include = api.find("#include \"firn/Runtime/ModelABI.h\"");
  if (include != std::string::npos)
    api.erase(include, api.find('\n', include) - include);
  return "/* Generated by firnc: the C interface of the compiled model '" + name +
         "'.\n * Link the library next to this header with a C++-aware "
         "linker\n * (c++ ..., or cc ... -lstdc++ -lm -ldl -lpthread) and "
         "pass &firn_model\n * to firn_create. */\n" +
         abi + "\n" + api;
}
} // namespace

std::string defaultCacheDirectory() { return KernelCache::defaultDirectory(); }

namespace {
/// Runs `jobs` in worker processes, at most one per core at a time
/// (FIRN_COMPILE_JOBS sets how many): Halide compiles a pipeline on one
/// thread, and a process per job needs no thread safety from Halide or
/// LLVM. Each job runs in a fresh fork of this process, so every object is
/// compiled from the same state: Halide's and LLVM's process-wide counters
/// (unique names) would otherwise carry over from the jobs a worker ran
/// before, and which jobs those are depends on timing (the same model then
/// linked into different bytes under load). The jobs start in `order`
/// (the costliest first), the next one as soon as a worker finishes. Each
/// job leaves its result in the cache or the build directory; what a worker
/// could not build is left for the caller to build.
void compileInParallel(const std::vector<std::function<std::string()>> &jobs,
                       const std::vector<size_t> &order) {
  unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  if (const char *env = std::getenv("FIRN_COMPILE_JOBS"))
    workers = std::max(1, std::atoi(env));
  size_t next = 0;
  unsigned running = 0;
  while (next < order.size() || running > 0) {
    while (running < workers && next < order.size()) {
      pid_t pid = fork();
      if (pid == 0) {
        int status = 0;
        try {
          if (jobs[order[next]]().empty())
            status = 1;
        } catch (...) {
          status = 1;
        }
        _exit(status); // No destructors, no atexit handlers of the parent.
      }
      if (pid < 0) {
        next = order.size(); // The caller builds what is left itself.
        break;
      }
      ++next;
      ++running;
    }
    if (running == 0)
      break;
    int status;
    if (waitpid(-1, &status, 0) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    --running;
  }
}

} // namespace

const char *targetName(const Halide::Target &target) {
  return target.has_feature(Halide::Target::CUDA) ? "cuda" : "host";
}

LogicalResult buildModel(ModuleOp module, std::vector<LoweredFunction> &functions,
                         const BuildOptions &options, std::string &error) {
  llvm::SmallString<128> dir;
  if (llvm::sys::fs::createUniqueDirectory("firn-build", dir)) {
    error = "cannot create a temporary directory";
    return failure();
  }
  std::string base = dir.str().str();
  std::string log = base + "/build.log";
  bool executable = options.artifact == Artifact::Executable;
  std::vector<std::string> objects;
  KernelCache cache(options.cacheDirectory);
  try {
    Halide::Target kernels = kernelTarget(options.target);
    // Each distinct kernel once (a kernel that several functions or blocks
    // share is one object), then the Halide runtime.
    std::vector<std::function<std::string()>> jobs;
    // A job: the object for `content` from the cache, or `compile`d into
    // it (or into `fallback` without a cache), whole or not at all (a
    // worker may die half-way); a second run finds the first one's object.
    auto job = [&cache](std::string content, std::string fallback,
                        std::function<void(const std::string &)> compile) {
      return [&cache, content, fallback, compile] {
        return cache.get(content, ".o", fallback, [&](const std::string &path) {
          if (path == fallback && llvm::sys::fs::exists(path))
            return true; // Built by a worker (see compileInParallel).
          std::string part = path + ".part";
          compile(part);
          return !llvm::sys::fs::rename(part, path);
        });
      };
    };
    std::set<std::string> compiled;
    // Each job's expected cost, for the order: a kernel's grows with its
    // IR; the runtime is one of the larger objects.
    std::vector<size_t> cost;
    for (LoweredFunction &fn : functions) {
      if (fn.duplicate || !compiled.insert(fn.name).second)
        continue;
      cost.push_back(fn.source.size());
      jobs.push_back(job(
          "kernel firn_k_" + fn.name + "\n" + kernels.to_string() + "\n" + fn.source,
          base + "/" + fn.name + ".o", [&fn, kernels](const std::string &path) {
            fn.pipeline().compile_to_object(path, argumentsOf(fn), "firn_k_" + fn.name,
                                            kernels);
          }));
    }
    jobs.push_back(job("runtime\n" + options.target.to_string(),
                       base + "/halide_runtime.o", [&options](const std::string &path) {
                         Halide::compile_standalone_runtime(path, options.target);
                       }));
    cost.push_back(std::numeric_limits<size_t>::max());
    std::vector<size_t> order(jobs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return cost[a] > cost[b]; });
    compileInParallel(jobs, order);
    // Everything is in the cache or the build directory now, unless a
    // worker failed: this process then builds it again, and reports.
    for (auto &job : jobs) {
      std::string object = job();
      if (object.empty())
        return failure();
      objects.push_back(object);
    }
  } catch (const Halide::Error &e) {
    error = std::string("Halide: ") + e.what();
    return failure();
  }
  const std::string tableName = "model_table.cpp";
  std::string table = base + "/" + tableName;
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(table, ec);
    if (ec) {
      error = "cannot write " + table + ": " + ec.message();
      return failure();
    }
    out << generateModelTable(module, functions, targetName(options.target));
  }
  std::vector<std::string> compile = {"-O2", "-std=c++17",
                                      "-I" + absolute(options.runtimeInclude),
                                      "-isystem", absolute(options.halideInclude)};
#ifdef FIRN_SANITIZE_FLAGS
  // A sanitized firnc (FIRN_SANITIZE) links the instrumented runtime: the
  // model table and the link need the same sanitizers.
  for (llvm::StringRef flag :
       llvm::split(llvm::StringRef(FIRN_SANITIZE_FLAGS), ' '))
    compile.push_back(flag.str());
#endif
  LogicalResult built = success();
  if (executable) {
    std::vector<std::string> args = compile;
    args.push_back(tableName);
    for (const std::string &object : objects)
      args.push_back(absolute(object));
    for (const std::string &extra :
         {absolute(options.runtimeLibrary), std::string("-ldl"),
          std::string("-lpthread"), std::string("-o"), absolute(options.output)})
      args.push_back(extra);
    built = runCompiler(base, args, log, error);
  } else {
    std::vector<std::string> args = compile;
    for (const std::string &extra :
         {std::string("-DFIRN_NO_MAIN"), std::string("-c"), tableName,
          std::string("-o"), std::string("model_table.o")})
      args.push_back(extra);
    built = runCompiler(base, args, log, error);
    objects.push_back(base + "/model_table.o");
    if (succeeded(built) && options.artifact == Artifact::Object) {
      std::vector<std::string> link = {"-r", "-o", options.output};
      link.insert(link.end(), objects.begin(), objects.end());
      built = runTool("ld", link, log, error);
    }
    if (succeeded(built) && options.artifact == Artifact::Library) {
      // The runtime's objects go into the library too, so that a program
      // links one archive.
      std::string runtimeDir = base + "/runtime";
      llvm::sys::fs::create_directory(runtimeDir);
      built = runTool("ar", {"x", "--output=" + runtimeDir, options.runtimeLibrary},
                      log, error);
      std::error_code ec;
      for (llvm::sys::fs::directory_iterator it(runtimeDir, ec), end;
           !ec && it != end; it.increment(ec))
        objects.push_back(it->path());
      llvm::sys::fs::remove(options.output);
      std::vector<std::string> archive = {"rcs", options.output};
      archive.insert(archive.end(), objects.begin(), objects.end());
      if (succeeded(built))
        built = runTool("ar", archive, log, error);
      if (succeeded(built)) {
        std::string header = options.output;
        if (llvm::StringRef(header).ends_with(".a"))
          header.resize(header.size() - 2);
        header += ".h";
        std::error_code hec;
        llvm::raw_fd_ostream out(header, hec);
        if (hec) {
          error = "cannot write " + header + ": " + hec.message();
          built = failure();
        } else {
          out << libraryHeader(module, options);
        }
      }
    }
  }
  if (!options.keepTemporaries)
    llvm::sys::fs::remove_directories(dir);
  return built;
}

} // namespace firn::codegen
