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

/// `relative` in the source tree the tests read models, data and fixtures
/// from: $FIRN_TEST_SOURCE_DIR when set (a copy of the repository on
/// another machine: tests/gpu/run.sh), else the tree they were built from.
inline std::string sourcePath(const std::string &relative) {
  const char *root = std::getenv("FIRN_TEST_SOURCE_DIR");
  return std::string(root && *root ? root : FIRN_SOURCE_DIR) + "/" + relative;
}
#define FIRN_FIXTURES_DIR (firn::e2e::sourcePath("tests/fixtures"))
#define FIRN_EXAMPLES_DIR (firn::e2e::sourcePath("examples"))
#define FIRN_E2E_MODELS (firn::e2e::sourcePath("tests/e2e/models"))

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

/// The target the golden tests build their binaries for: $FIRN_TEST_TARGET
/// ("host" or "cuda"; tests/gpu/run.sh sets "cuda"), "host" by default.
inline std::string testTarget() {
  const char *target = std::getenv("FIRN_TEST_TARGET");
  return target && *target ? target : "host";
}

/// Compiles a .firn file into an executable named `stem` for `target`
/// (default testTarget()), once per process. With $FIRN_TEST_BINARIES set,
/// the executables are kept in <that>/<target>/<stem>, and one already
/// there is used as it is: the GPU machine, which has none of firnc's
/// libraries, runs binaries built on this one (tests/gpu/run.sh).
inline std::string compileModel(const std::string &firn, const std::string &stem,
                                std::string target = "") {
  if (target.empty())
    target = testTarget();
  static std::map<std::string, std::string> compiled;
  auto it = compiled.find(target + "/" + stem);
  if (it != compiled.end())
    return it->second;
  const char *kept = std::getenv("FIRN_TEST_BINARIES");
  std::string dir = kept && *kept ? std::string(kept) + "/" + target
                    : target == "host" ? tempDir()
                                       : tempDir() + "/" + target;
  std::string binary = dir + "/" + stem;
  if (kept && *kept && access(binary.c_str(), X_OK) == 0) {
    compiled[target + "/" + stem] = binary;
    return binary;
  }
  std::string output;
  int code = run("mkdir -p " + dir + " && " + std::string(FIRNC) + " " + firn +
                     (target == "host" ? "" : " --target=" + target) + " -o " + binary,
                 output);
  EXPECT_EQ(code, 0) << output;
  if (code == 0)
    compiled[target + "/" + stem] = binary;
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
