//===- AtomicFile.h - Replace a file atomically -----------------*- C++ -*-===//
//
// Checkpoints and data files are written to a temporary file next to the
// target, synced, then renamed over it, and the rename synced: a reader, or
// a run killed while saving, sees the old file or the new one, never a mix.
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

} // namespace firn::runtime

#endif // FIRN_RUNTIME_ATOMICFILE_H
