//===- TestDir.h - A scratch directory per GoogleTest case ------*- C++ -*-===//
//
// Unit tests that write files (data, checkpoints, progress logs) each get an
// empty directory named after the running test, so cases never see each
// other's files and a failed run leaves nothing stale behind for the next.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_TESTS_SUPPORT_TESTDIR_H
#define FIRN_TESTS_SUPPORT_TESTDIR_H

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace firn::testing {

/// Creates an empty directory `<gtest temp dir><prefix><test name>` (removing
/// what an earlier run left there) and returns its path with a trailing '/',
/// or "" if it cannot be made.
inline std::string freshTestDir(const std::string &prefix) {
  const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string dir = ::testing::TempDir() + prefix + info->name();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!std::filesystem::create_directories(dir, ec) || ec)
    return "";
  return dir + "/";
}

/// Removes a directory made by freshTestDir, ignoring errors.
inline void removeTestDir(const std::string &dir) {
  std::error_code ec;
  if (!dir.empty())
    std::filesystem::remove_all(dir, ec);
}

} // namespace firn::testing

#endif // FIRN_TESTS_SUPPORT_TESTDIR_H
