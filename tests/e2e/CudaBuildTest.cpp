//===- CudaBuildTest.cpp - Every model builds for the GPU, without one ----===//
//
// `firnc --target=cuda` on every example, seed and golden model: it must
// build the executable on this machine (no GPU, no CUDA toolkit), the
// kernels must carry PTX for the GPU (the driver compiles it at run time),
// and the binary must say it is a GPU binary (`info`). Without a CUDA
// driver, a command that runs kernels fails with a message saying so,
// never an abort. Whether the binaries compute what the CPU's do is for a
// machine with a GPU: tests/gpu/run.sh.
//
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"

#include <gtest/gtest.h>

#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace firn::e2e;

namespace {

/// Every .firn file a user or a golden test builds: examples (the GPT's
/// too), seeds, PyTorch golden models, the end-to-end tests' models.
std::vector<std::string> modelFiles() {
  std::vector<std::string> files;
  for (std::string dir :
       {std::string(FIRN_EXAMPLES_DIR), std::string(FIRN_EXAMPLES_DIR) + "/gpt",
        std::string(FIRN_EXAMPLES_DIR) + "/seeds",
        std::string(FIRN_FIXTURES_DIR) + "/models", std::string(FIRN_E2E_MODELS)}) {
    DIR *d = opendir(dir.c_str());
    if (!d)
      continue;
    while (dirent *entry = readdir(d)) {
      std::string name = entry->d_name;
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".firn") == 0)
        files.push_back(dir + "/" + name);
    }
    closedir(d);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string stemOf(const std::string &path) {
  std::string name = path.substr(path.rfind('/') + 1);
  return name.substr(0, name.size() - 5);
}

/// How often `needle` occurs in `haystack`.
size_t count(const std::string &haystack, const std::string &needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

class CudaBuild : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaBuild, BuildsWithPtxInside) {
  const std::string &file = GetParam();
  std::string binary = tempDir() + "/" + stemOf(file) + "-cuda", output;
  ASSERT_EQ(run(std::string(FIRNC) + " " + file + " --target=cuda -o " + binary,
                output),
            0)
      << output;
  std::string bytes = readBytes(binary);
  // PTX for compute capability 7.5 (firnc's default), one entry point per
  // GPU kernel.
  EXPECT_NE(bytes.find(".target sm_75"), std::string::npos);
  EXPECT_GT(count(bytes, ".visible .entry "), 0u);
  ASSERT_EQ(run(binary + " info", output), 0) << output;
  EXPECT_NE(output.find("\ntarget cuda\n"), std::string::npos) << output;
}

// (Names: the file's stem; two directories never share one.)
INSTANTIATE_TEST_SUITE_P(Models, CudaBuild, ::testing::ValuesIn(modelFiles()),
                         [](const ::testing::TestParamInfo<std::string> &info) {
                           std::string name = stemOf(info.param);
                           std::replace_if(
                               name.begin(), name.end(),
                               [](char c) { return !std::isalnum(c); }, '_');
                           return name;
                         });

TEST(CudaBuildDriver, WithoutADriverTheBinarySaysSoAndStops) {
  if (dlopen("libcuda.so.1", RTLD_LAZY) || dlopen("libcuda.so", RTLD_LAZY))
    GTEST_SKIP() << "this machine has a CUDA driver";
  std::string binary = tempDir() + "/digits-cuda", output;
  std::string examples = FIRN_EXAMPLES_DIR;
  ASSERT_EQ(run(std::string(FIRNC) + " " + examples +
                    "/digits_mlp.firn --target=cuda -o " + binary,
                output),
            0)
      << output;
  int code = run(binary + " train --x " + examples + "/data/digits_train_x.npy --y " +
                     examples + "/data/digits_train_y.npy --steps 1",
                 output);
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("digits-cuda: error: this binary runs its kernels on an "
                        "NVIDIA GPU (firnc --target=cuda), and no CUDA driver "
                        "was found (libcuda.so"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("or build it with --target=host"), std::string::npos) << output;
}

TEST(CudaBuildDriver, UnknownTargetsAndCapabilitiesAreErrors) {
  std::string output, file = std::string(FIRN_EXAMPLES_DIR) + "/digits_mlp.firn";
  EXPECT_EQ(run(std::string(FIRNC) + " " + file + " --target=rocm --emit=firn", output), 1);
  EXPECT_NE(output.find("firnc: error: unknown --target 'rocm' (host or cuda)"),
            std::string::npos)
      << output;
  EXPECT_EQ(run(std::string(FIRNC) + " " + file +
                    " --target=cuda --cuda-capability=60 --emit=firn",
                output),
            1);
  EXPECT_NE(output.find("--cuda-capability must be 70, 75, 80 or 86, not 60"),
            std::string::npos)
      << output;
}

} // namespace
