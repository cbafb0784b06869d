//===- KernelCache.h - Compiled kernels, kept by content -------*- C++ -*-===//
//
// Compiling a Halide pipeline is most of firnc's time. A kernel's object
// depends only on the firn function it comes from, the target and the
// compiler itself, so buildModel keeps each compiled kernel (and the
// Halide runtime object) in a cache directory under a hash of those:
// recompiling a model whose functions did not change, or another model
// that shares one (every model's runtime object), takes a file lookup.
// The compiler's identity is a hash of the firnc executable, so a rebuilt
// compiler never reuses an old kernel.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_CODEGEN_KERNELCACHE_H
#define FIRN_CODEGEN_KERNELCACHE_H

#include <functional>
#include <string>

namespace firn::codegen {

class KernelCache {
public:
  /// `directory` empty: no caching (every lookup misses, nothing is kept).
  explicit KernelCache(std::string directory) : dir(std::move(directory)) {}

  /// The path of the cached file for `content` (the function's IR, the
  /// target, the artifact kind) with extension `ext` (".a", ".o"). When it
  /// is not cached, `build(path)` writes it to `path` (a temporary name);
  /// the result is then moved into the cache atomically. Returns "" when
  /// building fails; `fallback` is where to build when the cache is off
  /// or cannot be written.
  std::string get(const std::string &content, const std::string &ext,
                  const std::string &fallback,
                  const std::function<bool(const std::string &)> &build);

  /// The default directory: $FIRN_CACHE_DIR, else $XDG_CACHE_HOME/firn,
  /// else $HOME/.cache/firn ("" when none is set).
  static std::string defaultDirectory();

private:
  std::string dir;
};

} // namespace firn::codegen

#endif // FIRN_CODEGEN_KERNELCACHE_H
