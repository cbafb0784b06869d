//===- SourceLocation.h - Positions in .firn source -------------*- C++ -*-===//
#ifndef FIRN_FRONTEND_SOURCELOCATION_H
#define FIRN_FRONTEND_SOURCELOCATION_H

namespace firn {

/// A 1-based line and column in the file being compiled (0 means unknown).
struct SourceLocation {
  unsigned line = 0;
  unsigned column = 0;
};

} // namespace firn

#endif // FIRN_FRONTEND_SOURCELOCATION_H
