//===- TestDir.h - A scratch directory per GoogleTest case ------*- C++ -*-===//
//
// Unit tests that write files (data, checkpoints, progress logs) each get an
// empty directory named after the running test, so cases never see each
// other's files and a failed run leaves nothing stale behind for the next.
// Also: single scratch file paths, whole-file byte I/O, and running firn_main
// (the compiled binaries' entry point) with its output captured.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_TESTS_SUPPORT_TESTDIR_H
#define FIRN_TESTS_SUPPORT_TESTDIR_H

#include <gtest/gtest.h>

#include "firn/Runtime/Main.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

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

/// A scratch file path `<gtest temp dir><prefix><suite>_<test>_<pid><suffix>`,
/// unique per test and process.
inline std::string tempPath(const std::string &prefix,
                            const std::string &suffix) {
  const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + prefix + info->test_suite_name() + "_" +
         info->name() + "_" + std::to_string(long(getpid())) + suffix;
}

inline void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

/// Runs firn_main as the program `prog` with `args`; returns its exit status
/// and what it wrote to stdout and stderr.
inline int runFirnMain(const firn_model_desc &model, const std::string &prog,
                       std::vector<std::string> args, std::string &out,
                       std::string &err) {
  args.insert(args.begin(), prog);
  std::vector<char *> argv;
  for (std::string &a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  int rc = firn_main(static_cast<int>(args.size()), argv.data(), &model);
  out = ::testing::internal::GetCapturedStdout();
  err = ::testing::internal::GetCapturedStderr();
  return rc;
}

} // namespace firn::testing

#endif // FIRN_TESTS_SUPPORT_TESTDIR_H
