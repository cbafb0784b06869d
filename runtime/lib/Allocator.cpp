//===- Allocator.cpp - halide_malloc with a cache of freed blocks ---------===//
//
// See Allocator.h. Each block carries its size in a header in front of the
// returned pointer, so freeing needs no lookup table; freed blocks wait in
// per-size free lists. The lists keep their capacity, so steady-state
// traffic moves pointers between vectors without allocating. Kernels call
// halide_malloc from their worker threads: one mutex guards the cache.
//
// A buffer computed inside a parallel loop (a packed matrix panel) is
// allocated once per task, so how many blocks of its size are alive at
// once depends on how the threads happened to overlap: a later step could
// need one more than any step before. The first time a size is asked for,
// one block per hardware thread is allocated, so that never happens (the
// extra blocks cost address space; the system maps their pages only when
// they are used).
//
//===----------------------------------------------------------------------===//
#include "firn/Runtime/Allocator.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace firn::runtime {
namespace {

constexpr size_t kAlignment = 128;
/// The header in front of each block: its payload size, padded so the
/// payload stays aligned.
constexpr size_t kHeader = kAlignment;

/// The blocks of one size: those free, and how many exist (the free list
/// keeps room for all of them, so freeing never allocates).
struct SizeClass {
  std::vector<void *> free;
  size_t total = 0;
};

struct Cache {
  std::mutex mutex;
  std::map<size_t, SizeClass> bySize;
  AllocatorStats stats;
};

Cache &cache() {
  static Cache *instance = new Cache; // Never destroyed: kernels may run late.
  return *instance;
}

size_t &sizeOf(void *block) {
  return *reinterpret_cast<size_t *>(static_cast<char *>(block) - kHeader);
}

void *newBlock(size_t size) {
  char *base = static_cast<char *>(std::aligned_alloc(kAlignment, size + kHeader));
  if (!base)
    return nullptr;
  void *block = base + kHeader;
  sizeOf(block) = size;
  return block;
}

} // namespace

void *kernelAlloc(size_t bytes) {
  size_t size = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  SizeClass &sizeClass = c.bySize[size];
  if (!sizeClass.free.empty()) {
    void *block = sizeClass.free.back();
    sizeClass.free.pop_back();
    ++c.stats.reuses;
    c.stats.cachedBytes -= int64_t(size);
    c.stats.liveBytes += int64_t(size);
    return block;
  }
  // A size seen for the first time gets a block for each other thread too.
  static const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  const unsigned count = sizeClass.total == 0 ? threads : 1;
  void *block = newBlock(size);
  if (!block)
    return nullptr;
  ++c.stats.systemAllocations;
  ++sizeClass.total;
  c.stats.liveBytes += int64_t(size);
  for (unsigned t = 1; t < count; ++t)
    if (void *extra = newBlock(size)) {
      sizeClass.free.push_back(extra);
      ++c.stats.systemAllocations;
      ++sizeClass.total;
      c.stats.cachedBytes += int64_t(size);
    }
  sizeClass.free.reserve(sizeClass.total);
  return block;
}

void kernelFree(void *block) {
  if (!block)
    return;
  size_t size = sizeOf(block);
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.bySize[size].free.push_back(block);
  c.stats.cachedBytes += int64_t(size);
  c.stats.liveBytes -= int64_t(size);
}

void releaseCachedKernelMemory() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto &[size, sizeClass] : c.bySize) {
    for (void *block : sizeClass.free)
      std::free(static_cast<char *>(block) - kHeader);
    sizeClass.total -= sizeClass.free.size();
    sizeClass.free.clear();
  }
  c.stats.cachedBytes = 0;
}

AllocatorStats kernelAllocatorStats() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

} // namespace firn::runtime

// The kernels' allocator: these definitions override the Halide runtime's
// weak ones in every binary that links the firn runtime.
extern "C" void *halide_malloc(void * /*user_context*/, size_t bytes) {
  return firn::runtime::kernelAlloc(bytes);
}

extern "C" void halide_free(void * /*user_context*/, void *block) {
  firn::runtime::kernelFree(block);
}
