//===- KernelPartition.h - A model function as a sequence of kernels -*- C++ -*-===//
//
// Halide lowers and compiles one pipeline in time that grows faster than
// its number of stages (a 10-layer MLP's training step as one pipeline took
// 10 s, 20 layers 4x that), and a pipeline cannot share code with another.
// So a model function is cut into kernels of bounded size, each its own
// pipeline: one kernel per product-shaped op (linear, matmul, convolution,
// pooling, normalization, softmax, reduction, loss) with the elementwise
// ops that follow it fused in as its epilogue, and a cut in elementwise
// chains deeper than a bound. The values that cross a cut are the
// function's temporaries: stored by the kernel that computes them, read
// in place by the kernels after it (the runtime owns their buffers, reused
// across steps). Constants and state reads are not passed: each kernel
// that needs one reads it itself.
//
// Each kernel is compiled from its own IR, with state symbols and values
// numbered in order of appearance, so kernels that compute the same thing
// on different parameters (the blocks of a deep model, a forward shared by
// the training step and the evaluation) have the same source: the build
// compiles it once and the model table calls it with different buffers.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_CODEGEN_KERNELPARTITION_H
#define FIRN_CODEGEN_KERNELPARTITION_H

#include "firn/Codegen/HalideLowering.h"

#include <map>

namespace firn::codegen {

/// The kernels of a build so far, by name, with their ports as the kernel
/// names them (`arg0`, `s0`): a kernel with the source of an earlier one is
/// lowered once.
struct KernelPorts {
  std::vector<Port> inputs, outputs;
};
using KernelIndex = std::map<std::string, KernelPorts>;

/// Appends the kernels of `func` (part of the model function `partOf`) to
/// `kernels`, numbering its temporaries from `firstTemporary`; returns the
/// number of temporaries it used. A kernel whose source an earlier one in
/// `kernels` has is appended as a duplicate (ports only). Fails with a
/// diagnostic on an op that cannot be lowered.
mlir::FailureOr<int> lowerKernels(mlir::func::FuncOp func, const std::string &partOf,
                                  int firstTemporary,
                                  std::vector<LoweredFunction> &kernels,
                                  KernelIndex &index);

} // namespace firn::codegen

#endif // FIRN_CODEGEN_KERNELPARTITION_H
