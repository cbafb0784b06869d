//===- AtomicFile.cpp - Replace a file atomically -------------------------===//
#include "firn/Runtime/AtomicFile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#if defined(_WIN32)
#include <process.h>
#define FIRN_GETPID _getpid
#else
#include <fcntl.h>
#include <unistd.h>
#define FIRN_GETPID getpid
#endif

namespace firn::runtime {

namespace {
/// The directory part of `path` ("." when it has none), for syncing the
/// rename.
std::string directoryOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

} // namespace

bool writeFileAtomically(const std::string &path,
                         const std::vector<uint8_t> &bytes,
                         std::string &error) {
  const std::string tmp = path + ".tmp." + std::to_string(long(FIRN_GETPID()));
  std::FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    error = path + ": cannot create temporary file '" + tmp +
            "': " + std::strerror(errno);
    return false;
  }
  bool ok = bytes.empty() ||
            std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = ok && std::fflush(f) == 0;
#if !defined(_WIN32)
  ok = ok && ::fsync(fileno(f)) == 0;
#endif
  int saved = errno;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    error = path + ": cannot write temporary file '" + tmp +
            "': " + std::strerror(saved);
    return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    saved = errno;
    std::remove(tmp.c_str());
    error = path + ": cannot replace the file with '" + tmp +
            "': " + std::strerror(saved);
    return false;
  }
#if !defined(_WIN32)
  int dir = ::open(directoryOf(path).c_str(), O_RDONLY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
#endif
  return true;
}

} // namespace firn::runtime
