//===- Diagnostics.cpp - Error reporting for .firn files ------------------===//

#include "firn/Frontend/Diagnostics.h"

#include <algorithm>

using namespace firn;

DiagnosticEngine::DiagnosticEngine(std::string filename, std::string source)
    : file(std::move(filename)), buffer(std::move(source)) {
  // Index the lines once so that quoting a line is cheap however many
  // diagnostics a stage emits.
  lineStarts.push_back(0);
  for (size_t i = 0, e = buffer.size(); i != e; ++i)
    if (buffer[i] == '\n')
      lineStarts.push_back(i + 1);
}

std::string DiagnosticEngine::lineText(unsigned line) const {
  if (line == 0 || line > lineStarts.size())
    return "";
  size_t begin = lineStarts[line - 1];
  size_t end = buffer.find('\n', begin);
  if (end == std::string::npos)
    end = buffer.size();
  // A CRLF file would otherwise print a stray carriage return that moves the
  // terminal cursor back over the line.
  if (end > begin && buffer[end - 1] == '\r')
    --end;
  return buffer.substr(begin, end - begin);
}

/// Builds the line under the quoted source line: whitespace up to the column,
/// then '^'. Tabs are copied so that the caret lines up whatever the tab
/// width, and UTF-8 continuation bytes are skipped so that a multi-byte
/// character takes one cell, as it does on screen (columns count bytes).
static std::string caretLine(const std::string &line, unsigned column) {
  std::string caret;
  for (unsigned i = 0; i + 1 < column; ++i) {
    if (i >= line.size()) {
      caret += ' ';
      continue;
    }
    unsigned char c = static_cast<unsigned char>(line[i]);
    if ((c & 0xC0) == 0x80)
      continue;
    caret += c == '\t' ? '\t' : ' ';
  }
  caret += '^';
  return caret;
}

void DiagnosticEngine::report(const char *severity, SourceLocation loc,
                              const std::string &message) {
  rendered += file;
  if (loc.line != 0) {
    rendered += ':' + std::to_string(loc.line) + ':' +
                std::to_string(loc.column == 0 ? 1 : loc.column);
  }
  rendered += std::string(": ") + severity + ": " + message + "\n";
  if (loc.line == 0)
    return;
  std::string line = lineText(loc.line);
  rendered += line + "\n";
  rendered += caretLine(line, loc.column == 0 ? 1 : loc.column) + "\n";
}

void DiagnosticEngine::error(SourceLocation loc, const std::string &message) {
  ++errorCount;
  report("error", loc, message);
}

void DiagnosticEngine::note(SourceLocation loc, const std::string &message) {
  report("note", loc, message);
}

unsigned firn::editDistance(const std::string &a, const std::string &b,
                            unsigned maxDistance) {
  // Optimal string alignment distance: the classic dynamic programme with one
  // extra case for swapped neighbours, the most common typo. As in LLVM's
  // StringRef::edit_distance, a bound makes it cheap for long words: only
  // the cells within `limit` of the diagonal can stay within the bound, and
  // once two consecutive rows exceed it so does the result. Time is
  // O(n * limit) and memory three rows, however long the two strings are.
  size_t n = a.size(), m = b.size();
  size_t limit = std::min<size_t>(maxDistance, std::max(n, m));
  const unsigned beyond = static_cast<unsigned>(limit) + 1;
  if ((n > m ? n - m : m - n) > limit)
    return beyond;
  std::vector<unsigned> rows[3];
  for (std::vector<unsigned> &row : rows)
    row.assign(m + 1, beyond);
  for (size_t j = 0; j <= std::min(m, limit); ++j)
    rows[0][j] = static_cast<unsigned>(j);
  unsigned previousMin = 0;
  for (size_t i = 1; i <= n; ++i) {
    std::vector<unsigned> &cur = rows[i % 3];
    const std::vector<unsigned> &prev = rows[(i - 1) % 3];
    const std::vector<unsigned> &prev2 = rows[(i + 1) % 3]; // row i - 2
    size_t lo = i > limit ? i - limit : 1, hi = std::min(m, i + limit);
    // The row's buffer still holds row i - 3: reset what this row reads
    // (its left neighbour) and what the next row reads past its band.
    cur[0] = i <= limit ? static_cast<unsigned>(i) : beyond;
    cur[lo - 1] = lo > 1 ? beyond : cur[0];
    unsigned rowMin = cur[0];
    for (size_t j = lo; j <= hi; ++j) {
      unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
      unsigned d = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d = std::min(d, prev2[j - 2] + 1);
      cur[j] = std::min(d, beyond);
      rowMin = std::min(rowMin, cur[j]);
    }
    if (hi < m)
      cur[hi + 1] = beyond;
    if (rowMin > limit && previousMin > limit)
      return beyond;
    previousMin = rowMin;
  }
  return rows[n % 3][m];
}

std::string firn::suggest(const std::string &word,
                          const std::vector<std::string> &candidates) {
  // A candidate qualifies within 2 edits and at most half of the word's
  // length, which bounds every distance computed.
  const unsigned limit =
      static_cast<unsigned>(std::min<size_t>(2, word.size() / 2));
  const std::string *best = nullptr;
  unsigned bestDistance = 0;
  for (const std::string &candidate : candidates) {
    unsigned distance = editDistance(word, candidate, limit);
    if (distance > limit)
      continue;
    if (!best || distance < bestDistance) {
      best = &candidate;
      bestDistance = distance;
    }
  }
  return best ? *best : std::string();
}
