//===- KernelCache.cpp - Compiled kernels, kept by content ----------------===//
//
// See KernelCache.h. Entries are written under a unique temporary name and
// renamed into place, so concurrent firnc runs (parallel test jobs) never
// read a partial file; two runs that build the same kernel both succeed.
//
//===----------------------------------------------------------------------===//
#include "KernelCache.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SHA256.h"

#include <cstdlib>

namespace firn::codegen {
namespace {

std::string hex(llvm::ArrayRef<uint8_t> bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

/// A hash of the running compiler's executable (computed once).
const std::string &compilerIdentity() {
  static const std::string identity = [] {
    std::string exe = llvm::sys::fs::getMainExecutable(nullptr, nullptr);
    auto contents = llvm::MemoryBuffer::getFile(exe);
    if (!contents)
      return std::string(); // Unknown: the cache is not used.
    llvm::SHA256 hash;
    hash.update(llvm::StringRef((*contents)->getBuffer()));
    return hex(hash.final());
  }();
  return identity;
}

} // namespace

std::string KernelCache::defaultDirectory() {
  if (const char *dir = std::getenv("FIRN_CACHE_DIR"))
    return dir;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/firn";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/firn";
  return "";
}

std::string KernelCache::get(const std::string &content, const std::string &ext,
                             const std::string &fallback,
                             const std::function<bool(const std::string &)> &build) {
  const std::string &identity = compilerIdentity();
  if (dir.empty() || identity.empty() || llvm::sys::fs::create_directories(dir))
    return build(fallback) ? fallback : "";
  llvm::SHA256 hash;
  hash.update(identity);
  hash.update(content);
  std::string path = dir + "/" + hex(hash.final()) + ext;
  if (llvm::sys::fs::exists(path))
    return path;
  llvm::SmallString<256> temp;
  int fd;
  if (llvm::sys::fs::createUniqueFile(path + ".tmp-%%%%%%%%" + ext, fd, temp))
    return build(fallback) ? fallback : "";
  llvm::sys::Process::SafelyCloseFileDescriptor(fd);
  if (!build(temp.str().str())) {
    llvm::sys::fs::remove(temp);
    return "";
  }
  if (llvm::sys::fs::rename(temp, path)) {
    // The cache cannot be written: build where this compile keeps its files.
    llvm::sys::fs::remove(temp);
    return build(fallback) ? fallback : "";
  }
  return path;
}

} // namespace firn::codegen
