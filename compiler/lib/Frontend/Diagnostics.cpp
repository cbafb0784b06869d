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

unsigned firn::editDistance(const std::string &a, const std::string &b) {
  // Optimal string alignment distance: the classic dynamic programme with one
  // extra case for swapped neighbours, the most common typo.
  size_t n = a.size(), m = b.size();
  std::vector<std::vector<unsigned>> d(n + 1, std::vector<unsigned>(m + 1));
  for (size_t i = 0; i <= n; ++i)
    d[i][0] = static_cast<unsigned>(i);
  for (size_t j = 0; j <= m; ++j)
    d[0][j] = static_cast<unsigned>(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] =
          std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::string firn::suggest(const std::string &word,
                          const std::vector<std::string> &candidates) {
  const std::string *best = nullptr;
  unsigned bestDistance = 0;
  for (const std::string &candidate : candidates) {
    unsigned distance = editDistance(word, candidate);
    if (distance > 2 || distance * 2 > word.size())
      continue;
    if (!best || distance < bestDistance) {
      best = &candidate;
      bestDistance = distance;
    }
  }
  return best ? *best : std::string();
}
