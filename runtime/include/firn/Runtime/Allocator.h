//===- Allocator.h - The kernels' memory: reused, not reallocated -*- C++ -*-===//
//
// A compiled kernel allocates its intermediate buffers (activations kept
// for the backward, packed matrix panels) through halide_malloc at every
// call and frees them at its end. The runtime defines halide_malloc and
// halide_free (overriding the Halide runtime's weak ones) with a cache of
// freed blocks by exact size: a training step asks for the same sizes as
// the step before, so after the first step the loop allocates nothing.
// Blocks are 128-byte aligned, as Halide requires of halide_malloc.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_ALLOCATOR_H
#define FIRN_RUNTIME_ALLOCATOR_H

#include <cstddef>
#include <cstdint>

namespace firn::runtime {

struct AllocatorStats {
  int64_t systemAllocations = 0; ///< Blocks obtained from the C library.
  int64_t reuses = 0;            ///< Requests served from the cache.
  int64_t cachedBytes = 0;       ///< Freed bytes held for reuse.
  int64_t liveBytes = 0;         ///< Bytes handed out and not yet freed.
};

/// A block of at least `bytes` bytes, 128-byte aligned; nullptr when the
/// system is out of memory.
void *kernelAlloc(size_t bytes);
/// Returns a block from kernelAlloc to the cache (nullptr is ignored).
void kernelFree(void *block);
/// Gives every cached block back to the system (a model unloads).
void releaseCachedKernelMemory();
AllocatorStats kernelAllocatorStats();

} // namespace firn::runtime

#endif // FIRN_RUNTIME_ALLOCATOR_H
