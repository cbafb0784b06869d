//===- ReplayMain.cpp - Runs a fuzz target over files, without libFuzzer --===//
//
// Linked with a fuzz target's LLVMFuzzerTestOneInput, this replays inputs
// in any build (g++, sanitized or not): every file named, and every file
// under every directory named, is passed once. A reproducer that crashes or
// makes the target abort fails the run, so the inputs libFuzzer found stay
// regression tests of the normal suite. So does an input that takes longer
// than kSecondsPerInput (libFuzzer's timeouts: exponential or quadratic
// work), which would otherwise only show as a slow suite.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {
/// Generous for a sanitized build: every seed takes well under a second.
constexpr unsigned kSecondsPerInput = 20;
const char *current = "";

void timedOut(int) {
  // Only async-signal-safe calls here.
  const char *what = "replay: error: this input took too long: ";
  (void)!write(2, what, std::strlen(what));
  (void)!write(2, current, std::strlen(current));
  (void)!write(2, "\n", 1);
  _exit(1);
}

/// `path`, or the regular files under it when it is a directory (sorted,
/// so that the order and the log are the same on every run).
void collect(const std::string &path, std::vector<std::string> &files) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    std::fprintf(stderr, "replay: error: cannot read '%s'\n", path.c_str());
    std::exit(1);
  }
  if (!S_ISDIR(info.st_mode)) {
    files.push_back(path);
    return;
  }
  std::vector<std::string> entries;
  if (DIR *dir = opendir(path.c_str())) {
    while (dirent *entry = readdir(dir))
      if (entry->d_name[0] != '.')
        entries.push_back(path + "/" + entry->d_name);
    closedir(dir);
  }
  std::sort(entries.begin(), entries.end());
  for (const std::string &entry : entries)
    collect(entry, files);
}
} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i)
    collect(argv[i], files);
  std::signal(SIGALRM, timedOut);
  for (const std::string &file : files) {
    current = file.c_str();
    std::ifstream in(file, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", file.c_str(), bytes.size());
    alarm(kSecondsPerInput);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(bytes.data()),
                           bytes.size());
    alarm(0);
  }
  std::fprintf(stderr, "replay: %zu inputs, none crashed\n", files.size());
  return 0;
}
