//===- AtomicFile.h - Replace a file atomically -----------------*- C++ -*-===//
//
// Checkpoints and data files are written to a temporary file next to the
// target, synced, then renamed over it, and the rename synced: a reader, or
// a run killed while saving, sees the old file or the new one, never a mix.
// The temporary file is `<path>.tmp.<pid>`; a process killed while writing
// it leaves it behind, and removeStaleTemporaries (called when a run that
// writes `path` starts) deletes those of processes no longer running.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_ATOMICFILE_H
#define FIRN_RUNTIME_ATOMICFILE_H

#include <cstdint>
#include <string>
#include <vector>

namespace firn::runtime {

/// Replaces `path` with `bytes`. On failure returns false, leaves `path`
/// untouched and sets `error` to a message starting with `path`.
bool writeFileAtomically(const std::string &path,
                         const std::vector<uint8_t> &bytes, std::string &error);

/// Whether writeFileAtomically(path) can succeed as far as can be told
/// before writing: `path` is not a directory and its temporary file can be
/// created (and is removed again). On failure `error` starts with `path`.
bool checkWritable(const std::string &path, std::string &error);

/// Removes the files `<path>.tmp.<pid>` (exactly that pattern, pid in
/// decimal) whose process is no longer running, and returns their names.
/// Files of running processes (another run saving to the same place) and
/// anything else are left alone.
std::vector<std::string> removeStaleTemporaries(const std::string &path);

} // namespace firn::runtime

#endif // FIRN_RUNTIME_ATOMICFILE_H
