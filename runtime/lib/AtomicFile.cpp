//===- AtomicFile.cpp - Replace a file atomically -------------------------===//
#include "firn/Runtime/AtomicFile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#if defined(_WIN32)
#include <process.h>
#define FIRN_GETPID _getpid
#else
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
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

/// The temporary file writeFileAtomically writes `path` through.
std::string temporaryOf(const std::string &path) {
  return path + ".tmp." + std::to_string(long(FIRN_GETPID()));
}

} // namespace

bool writeFileAtomically(const std::string &path,
                         const std::vector<uint8_t> &bytes,
                         std::string &error) {
  const std::string tmp = temporaryOf(path);
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

bool checkWritable(const std::string &path, std::string &error) {
#if !defined(_WIN32)
  struct stat info;
  if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    error = path + ": is a directory";
    return false;
  }
#endif
  const std::string tmp = temporaryOf(path);
  std::FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    error = path + ": cannot create a file next to it ('" + tmp +
            "'): " + std::strerror(errno);
    return false;
  }
  std::fclose(f);
  std::remove(tmp.c_str());
  return true;
}

std::vector<std::string> removeStaleTemporaries(const std::string &path) {
  std::vector<std::string> removed;
#if !defined(_WIN32)
  const std::string dir = directoryOf(path);
  const size_t slash = path.find_last_of('/');
  const std::string prefix =
      (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return removed;
  while (const dirent *entry = ::readdir(d)) {
    const std::string name = entry->d_name;
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix))
      continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits[0] == '0' ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const long pid = std::stol(digits);
    // kill(pid, 0) probes without signalling: ESRCH means no such process
    // (EPERM means one runs under another user: alive).
    if (pid == long(FIRN_GETPID()) || ::kill(pid_t(pid), 0) == 0 ||
        errno != ESRCH)
      continue;
    const std::string file = (slash == std::string::npos ? "" : dir + "/") +
                             name;
    if (std::remove(file.c_str()) == 0)
      removed.push_back(file);
  }
  ::closedir(d);
#else
  (void)path;
#endif
  return removed;
}

} // namespace firn::runtime
