//===- Diagnostics.h - Error reporting for .firn files ----------*- C++ -*-===//
//
// Every stage reports problems here, in the format compilers use so that
// editors and people recognize it:
//
//   bad.firn:4:9: error: unknown layer 'Linaer'; did you mean 'Linear'?
//     fc1 = Linaer(2, 2)
//           ^
//
// The engine only collects text; the driver decides where it goes (stderr,
// a test's expectation), which keeps the front end free of I/O.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_DIAGNOSTICS_H
#define FIRN_FRONTEND_DIAGNOSTICS_H

#include "firn/Frontend/SourceLocation.h"

#include <cstddef>
#include <string>
#include <vector>

namespace firn {

/// Owns the file's name and text (so that every stage can quote source lines)
/// and accumulates the rendered diagnostics.
class DiagnosticEngine {
public:
  DiagnosticEngine(std::string filename, std::string source);

  /// Reports an error: `file:line:col: error: message`, the source line and a
  /// caret under the column. A location with line 0 prints the header only.
  void error(SourceLocation loc, const std::string &message);
  /// Reports a note attached to the previous error (same layout, `note:`).
  void note(SourceLocation loc, const std::string &message);

  /// Whether error() was called at least once (notes do not count).
  bool hadError() const { return errorCount != 0; }
  unsigned numErrors() const { return errorCount; }

  /// Everything reported so far, in order.
  const std::string &text() const { return rendered; }
  const std::string &filename() const { return file; }
  const std::string &source() const { return buffer; }

  /// The text of a 1-based line without its line terminator; empty when the
  /// line does not exist.
  std::string lineText(unsigned line) const;

private:
  void report(const char *severity, SourceLocation loc,
              const std::string &message);

  std::string file;
  std::string buffer;
  std::vector<size_t> lineStarts; ///< Byte offset of each line's first byte.
  std::string rendered;
  unsigned errorCount = 0;
};

/// Returns the candidate closest to `word` for a "did you mean" hint, or "" if
/// none is close enough. Distance is Levenshtein with adjacent transpositions
/// counted as one edit (`Linaer` -> `Linear` is 1); a candidate qualifies when
/// its distance is at most 2 and at most half the length of `word` (so that
/// `x` never suggests `y`). An exact match is returned as is. Ties go to the
/// earliest candidate, which keeps messages deterministic.
std::string suggest(const std::string &word,
                    const std::vector<std::string> &candidates);

/// The edit distance used by suggest(), or a value above `maxDistance` once
/// the distance is known to exceed it (then in time proportional to
/// `a.size() * maxDistance`, not to the product of the lengths).
unsigned editDistance(const std::string &a, const std::string &b,
                      unsigned maxDistance = ~0u);

} // namespace firn

#endif // FIRN_FRONTEND_DIAGNOSTICS_H
