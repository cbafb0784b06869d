//===- Readers.h - Which stages read which, to place them -------*- C++ -*-===//
//
// Where a scheduler may compute a stage depends on what reads it: a
// convolution's product that one output of its images alone reads can be
// computed an image at a time in that output's loop over the images, and
// read from cache there, instead of stored for the whole batch. These
// answer such questions from the Halide call graph of a lowered function
// (HostScheduler.cpp places stages by them).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_CODEGEN_READERS_H
#define FIRN_CODEGEN_READERS_H

#include "firn/Codegen/HalideLowering.h"

#include "llvm/ADT/ArrayRef.h"

#include <optional>

namespace firn::codegen {

/// Whether `consumer` reads `producer`, directly or through inlined Funcs.
bool reads(const Halide::Func &consumer, const Halide::Func &producer);

/// The pipeline output that alone reads Winograd convolution `root` (no
/// other root or product does), when it is a tensor of its images of its
/// shape, [N, C, H, W]: the convolution may be computed per image in that
/// output's loop over images. None for a weight gradient or an output.
std::optional<Halide::Func> soleImageReader(const LoweredFunction &function,
                                            const RootFunc &root);
/// The same for a product over a batch of images (Contraction::batchIsImages).
std::optional<Halide::Func> soleImageReader(const LoweredFunction &function,
                                            const Contraction &c);

/// The output that every product reading `source` (a convolution's shifted
/// source) is computed an image at a time in, if they all are in the same
/// one and nothing else reads it; `productImages` holds soleImageReader of
/// each of the function's contractions, in order.
std::optional<Halide::Func>
imageOfReaders(const LoweredFunction &function, const Halide::Func &source,
               llvm::ArrayRef<std::optional<Halide::Func>> productImages);

/// The product that alone reads copy `copy` as its left operand, per batch
/// index (a weight gradient's padded input, per chunk of images), if any;
/// others may read the copy only through that product.
const Contraction *soleBatchedReader(const LoweredFunction &function,
                                     const Halide::Func &copy);

} // namespace firn::codegen

#endif // FIRN_CODEGEN_READERS_H
