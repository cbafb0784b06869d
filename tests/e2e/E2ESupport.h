//===- E2ESupport.h - Helpers of the end-to-end tests -----------*- C++ -*-===//
//
// What every end-to-end test does: a private temporary directory, running a
// command and capturing its output, compiling a .firn file with firnc, and
// comparing a checkpoint tensor with a PyTorch fixture's (1e-5 relative to
// the expected tensor's largest magnitude, as every golden test here).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_TESTS_E2E_E2ESUPPORT_H
#define FIRN_TESTS_E2E_E2ESUPPORT_H

#include "firn/Runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace firn::e2e {

/// A directory of this test process's own (each ctest case is a process).
inline std::string tempDir() {
  static std::string dir = [] {
    char pattern[] = "/tmp/firn-e2e-XXXXXX";
    const char *made = mkdtemp(pattern);
    return std::string(made ? made : "/tmp");
  }();
  return dir;
}

/// Runs a shell command; returns its exit status and its output.
inline int run(const std::string &command, std::string &output) {
  std::string log = tempDir() + "/command.log";
  int status = std::system((command + " > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  output = text.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

/// Compiles a .firn file into an executable named `stem`, once per process.
inline std::string compileModel(const std::string &firn, const std::string &stem) {
  static std::map<std::string, std::string> compiled;
  auto it = compiled.find(stem);
  if (it != compiled.end())
    return it->second;
  std::string binary = tempDir() + "/" + stem;
  std::string output;
  int code = run(std::string(FIRNC) + " " + firn + " -o " + binary, output);
  EXPECT_EQ(code, 0) << output;
  if (code == 0)
    compiled[stem] = binary;
  return binary;
}

inline void expectClose(const runtime::TensorData &actual,
                        const runtime::TensorData &expected,
                        const std::string &what, double absolute = 0) {
  ASSERT_EQ(actual.shape, expected.shape) << what;
  std::vector<double> a = actual.asDoubles(), e = expected.asDoubles();
  double scale = 0;
  for (double v : e)
    scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < e.size(); ++i)
    EXPECT_NEAR(a[i], e[i], 1e-5 * std::max(scale, 1e-3) + absolute)
        << what << "[" << i << "]";
}

} // namespace firn::e2e

#endif // FIRN_TESTS_E2E_E2ESUPPORT_H
