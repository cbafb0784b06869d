//===- Allocator.cpp - halide_malloc with a cache of freed blocks ---------===//
//
// See Allocator.h. Each block carries its size in a header in front of the
// returned pointer, so freeing needs no lookup table; freed blocks wait in
// per-size free lists. The lists keep their capacity, so steady-state
// traffic moves pointers between vectors without allocating. Kernels call
// halide_malloc from their worker threads: one mutex guards the cache.
//
//===----------------------------------------------------------------------===//
#include "firn/Runtime/Allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace firn::runtime {
namespace {

constexpr size_t kAlignment = 128;
/// The header in front of each block: its payload size, padded so the
/// payload stays aligned.
constexpr size_t kHeader = kAlignment;

struct Cache {
  std::mutex mutex;
  std::map<size_t, std::vector<void *>> freeBySize;
  AllocatorStats stats;
};

Cache &cache() {
  static Cache *instance = new Cache; // Never destroyed: kernels may run late.
  return *instance;
}

size_t &sizeOf(void *block) {
  return *reinterpret_cast<size_t *>(static_cast<char *>(block) - kHeader);
}

} // namespace

void *kernelAlloc(size_t bytes) {
  size_t size = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  Cache &c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.freeBySize.find(size);
    if (it != c.freeBySize.end() && !it->second.empty()) {
      void *block = it->second.back();
      it->second.pop_back();
      ++c.stats.reuses;
      c.stats.cachedBytes -= int64_t(size);
      c.stats.liveBytes += int64_t(size);
      return block;
    }
    ++c.stats.systemAllocations;
    c.stats.liveBytes += int64_t(size);
  }
  char *base = static_cast<char *>(std::aligned_alloc(kAlignment, size + kHeader));
  if (!base)
    return nullptr;
  void *block = base + kHeader;
  sizeOf(block) = size;
  return block;
}

void kernelFree(void *block) {
  if (!block)
    return;
  size_t size = sizeOf(block);
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.freeBySize[size].push_back(block);
  c.stats.cachedBytes += int64_t(size);
  c.stats.liveBytes -= int64_t(size);
}

void releaseCachedKernelMemory() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto &[size, blocks] : c.freeBySize)
    for (void *block : blocks)
      std::free(static_cast<char *>(block) - kHeader);
  c.freeBySize.clear();
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
