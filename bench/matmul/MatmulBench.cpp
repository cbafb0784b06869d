//===- MatmulBench.cpp - firn's matrix products against OpenBLAS sgemm ----===//
//
// The three matrix products a linear layer needs in training, as firn
// compiles them (the firn op through lowerFunction and scheduleForTarget,
// the code path of firnc, compiled by Halide for this machine), timed
// against OpenBLAS's cblas_sgemm on the same operands in the same process,
// alternating: forward x·Wᵀ (firn.linear), input gradient dy·W
// (firn.matmul) and weight gradient dyᵀ·x (firn.matmul transpose_lhs), at
// 512² and 1024². OpenBLAS is loaded with dlopen (libopenblas0-pthread,
// which bench/run.sh installs), so building this needs no BLAS headers.
// Kernels allocate through firn's runtime allocator, as in a binary.
// Prints a Markdown table; exits 1 if a result differs from OpenBLAS's.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Build.h"
#include "firn/Codegen/HalideLowering.h"
#include "firn/Codegen/Scheduler.h"
#include "firn/Dialect/FirnOps.h"
#include "firn/Runtime/Allocator.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

// cblas.h's values.
enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
using Sgemm = void (*)(int, int, int, int, int, int, float, const float *, int,
                       const float *, int, float, float *, int);
using SetThreads = void (*)(int);

struct Variant {
  const char *name;
  const char *op; ///< The firn op (%a, %b) and its attributes.
  bool transA, transB;
};

std::string tensorType(int64_t rows, int64_t cols) {
  return "tensor<" + std::to_string(rows) + "x" + std::to_string(cols) + "xf32>";
}

/// Seconds per call of `fn`, the mean over `calls` calls (one round).
double timeIt(const std::function<void()> &fn, int calls) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i)
    fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
             .count() /
         calls;
}

} // namespace

int main(int argc, char **argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 9;
  void *blas = dlopen("libopenblas.so.0", RTLD_NOW);
  if (!blas) {
    std::fprintf(stderr, "firn-matmul-bench: cannot load OpenBLAS: %s\n"
                         "(apt-get install libopenblas0-pthread)\n", dlerror());
    return 2;
  }
  auto sgemm = reinterpret_cast<Sgemm>(dlsym(blas, "cblas_sgemm"));
  auto setThreads = reinterpret_cast<SetThreads>(dlsym(blas, "openblas_set_num_threads"));
  if (!sgemm) {
    std::fprintf(stderr, "firn-matmul-bench: no cblas_sgemm in libopenblas.so.0\n");
    return 2;
  }
  if (setThreads)
    setThreads(2);

  mlir::MLIRContext context;
  context.loadDialect<firn::FirnDialect, mlir::func::FuncDialect>();
  Halide::Target target = firn::codegen::hostTarget();

  const Variant variants[] = {
      {"x·Wᵀ (linear forward)", "firn.linear %a, %b", false, true},
      {"dy·W (input gradient)", "firn.matmul %a, %b", false, false},
      {"dyᵀ·x (weight gradient)", "firn.matmul %a, %b transpose_lhs", true, false},
  };
  std::printf("| product | size | firn GFLOP/s best (median) | OpenBLAS GFLOP/s best "
              "(median) | firn/OpenBLAS (best) | max rel. diff |\n"
              "|---|---:|---:|---:|---:|---:|\n");
  bool allMatch = true;
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int size : {512, 1024}) {
    int m = size, n = size, k = size;
    for (const Variant &v : variants) {
      // Operand shapes as stored (row-major): A is m x k or k x m, B is
      // k x n or n x k.
      int aRows = v.transA ? k : m, aCols = v.transA ? m : k;
      int bRows = v.transB ? n : k, bCols = v.transB ? k : n;
      std::string op = v.op;
      std::string types = tensorType(aRows, aCols) + ", " + tensorType(bRows, bCols);
      std::string body =
          "func.func @f(%a: " + tensorType(aRows, aCols) + ", %b: " +
          tensorType(bRows, bCols) + ") -> " + tensorType(m, n) + " {\n  %y = " +
          op + " : " + (op.rfind("firn.linear", 0) == 0 ? "(" + types + ")" : types) +
          " -> " + tensorType(m, n) + "\n  return %y : " + tensorType(m, n) + "\n}\n";
      auto module = mlir::parseSourceString<mlir::ModuleOp>(body, &context);
      if (!module)
        return 2;
      auto lowered = firn::codegen::lowerFunction(
          module->lookupSymbol<mlir::func::FuncOp>("f"));
      if (mlir::failed(lowered))
        return 2;
      std::string error;
      if (mlir::failed(firn::codegen::scheduleForTarget(*lowered, target, error))) {
        std::fprintf(stderr, "firn-matmul-bench: %s\n", error.c_str());
        return 2;
      }

      std::vector<float> a(size_t(aRows) * aCols), b(size_t(bRows) * bCols),
          cFirn(size_t(m) * n), cBlas(size_t(m) * n);
      for (float &x : a)
        x = uniform(rng);
      for (float &x : b)
        x = uniform(rng);
      // Halide's first dimension is the innermost (the row-major column).
      Halide::Buffer<float> aBuf(a.data(), aCols, aRows), bBuf(b.data(), bCols, bRows),
          cBuf(cFirn.data(), n, m);
      lowered->params[0].set(aBuf);
      lowered->params[1].set(bBuf);
      Halide::Pipeline pipeline = lowered->pipeline();
      // The allocator of compiled binaries (runtime/Allocator.h): packed
      // panels reuse memory instead of faulting in fresh pages every call.
      pipeline.jit_handlers().custom_malloc = [](Halide::JITUserContext *,
                                                 size_t bytes) {
        return firn::runtime::kernelAlloc(bytes);
      };
      pipeline.jit_handlers().custom_free = [](Halide::JITUserContext *,
                                               void *block) {
        firn::runtime::kernelFree(block);
      };
      pipeline.compile_jit(target);
      auto firnCall = [&] { pipeline.realize(Halide::Realization({cBuf}), target); };
      auto blasCall = [&] {
        sgemm(RowMajor, v.transA ? Trans : NoTrans, v.transB ? Trans : NoTrans, m,
              n, k, 1.0f, a.data(), aCols, b.data(), bCols, 0.0f, cBlas.data(), n);
      };
      firnCall();
      blasCall();
      double maxDiff = 0, maxAbs = 0;
      for (size_t i = 0; i < cFirn.size(); ++i) {
        maxDiff = std::max(maxDiff, double(std::fabs(cFirn[i] - cBlas[i])));
        maxAbs = std::max(maxAbs, double(std::fabs(cBlas[i])));
      }
      double relDiff = maxDiff / maxAbs;
      allMatch = allMatch && relDiff < 1e-5;
      // ~50 ms per round at 350 GFLOP/s.
      double flops = 2.0 * m * n * k;
      int calls = std::max(1, static_cast<int>(0.05 * 350e9 / flops));
      std::vector<double> firnTimes, blasTimes;
      for (int round = 0; round < rounds; ++round) {
        firnTimes.push_back(timeIt(firnCall, calls));
        blasTimes.push_back(timeIt(blasCall, calls));
      }
      auto median = [](std::vector<double> t) {
        std::sort(t.begin(), t.end());
        return t[t.size() / 2];
      };
      auto best = [](const std::vector<double> &t) {
        return *std::min_element(t.begin(), t.end());
      };
      // The ratio compares the best rounds: on a shared 2-core VM a round
      // loses up to a third of its time to the neighbours, on either side.
      double firnBest = flops / best(firnTimes) / 1e9;
      double blasBest = flops / best(blasTimes) / 1e9;
      std::printf("| %s | %d² | %.0f (%.0f) | %.0f (%.0f) | %.2f | %.1e |\n", v.name,
                  size, firnBest, flops / median(firnTimes) / 1e9, blasBest,
                  flops / median(blasTimes) / 1e9, firnBest / blasBest, relDiff);
      std::fflush(stdout);
    }
  }
  if (!allMatch)
    std::fprintf(stderr, "firn-matmul-bench: a product differs from OpenBLAS's\n");
  return allMatch ? 0 : 1;
}
