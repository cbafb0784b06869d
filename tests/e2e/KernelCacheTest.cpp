//===- KernelCacheTest.cpp - firnc reuses kernels it compiled before ------===//
//
// KernelCache.h: each compiled kernel is kept under a hash of what it is
// compiled from. Compiling the same model again adds nothing to the cache
// and gives the same executable; a model that differs only in its learning
// rate (a buffer's initial value) compiles nothing; another optimizer
// compiles only the kernels that change; --no-cache leaves the cache alone.
//
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <dirent.h>
#include <fstream>

using namespace firn::e2e;

namespace {

int countEntries(const std::string &dir) {
  int count = 0;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *entry = readdir(d))
      count += entry->d_name[0] != '.';
    closedir(d);
  }
  return count;
}

std::string model(const std::string &optimizer) {
  return "model M {\n  fc1 = Linear(4, 8)\n  fc2 = Linear(8, 2)\n"
         "  forward(x: f32[N, 4]) -> f32[N, 2] { return fc2(relu(fc1(x))) }\n}\n"
         "train {\n  target y: i64[N]\n  loss = cross_entropy(output, y)\n"
         "  optimizer opt = " + optimizer + "\n}\n";
}

/// Whether two files hold the same bytes; on a difference, the sizes and
/// the first differing offset. (EXPECT_EQ on the contents would have
/// GoogleTest print both megabytes and an edit-distance diff of them, which
/// is quadratic: one such failure grew a sanitized test to 24 GB.)
::testing::AssertionResult sameBytes(const std::string &a, const std::string &b) {
  std::string x = readBytes(a), y = readBytes(b);
  if (x == y)
    return ::testing::AssertionSuccess();
  size_t offset = std::mismatch(x.begin(), x.begin() + std::min(x.size(), y.size()),
                                y.begin())
                      .first -
                  x.begin();
  return ::testing::AssertionFailure()
         << a << " (" << x.size() << " bytes) and " << b << " (" << y.size()
         << " bytes) differ first at byte " << offset;
}

} // namespace

TEST(KernelCache, ReusesWhatDidNotChange) {
  std::string dir = tempDir() + "/kernel-cache-test", cache = dir + "/cache";
  ASSERT_EQ(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  std::ofstream(dir + "/adam1.firn") << model("Adam(lr=0.001)");
  std::ofstream(dir + "/adam2.firn") << model("Adam(lr=0.002)");
  std::ofstream(dir + "/sgd.firn") << model("SGD(lr=0.1)");
  auto compile = [&](const std::string &file, const std::string &out,
                     const std::string &flags = "") {
    std::string output;
    EXPECT_EQ(run("FIRN_CACHE_DIR=" + cache + " " + FIRNC + " " + dir + "/" + file +
                      " -o " + dir + "/" + out + flags,
                  output),
              0)
        << output;
  };
  compile("adam1.firn", "a");
  int first = countEntries(cache);
  // Kernels for predict, eval_loss, train_step, zero_grad, the optimizer
  // group, fused_step (see KernelPartition.h), and the Halide runtime.
  EXPECT_GE(first, 6);
  compile("adam1.firn", "b");
  EXPECT_EQ(countEntries(cache), first) << "the same model compiled anew";
  EXPECT_TRUE(sameBytes(dir + "/a", dir + "/b"));
  // The learning rate is a buffer's initial value, not part of any kernel:
  // nothing is compiled again.
  compile("adam2.firn", "c");
  EXPECT_EQ(countEntries(cache), first);
  compile("adam1.firn", "d", " --no-cache");
  EXPECT_EQ(countEntries(cache), first);
  EXPECT_TRUE(sameBytes(dir + "/a", dir + "/d"));
  // Another optimizer: its update kernels are new, one per parameter (the
  // four have four shapes) in optimizer_step and one per parameter in
  // fused_step (the update fused with the gradient's last op); the
  // forward, loss, backward, zero_grad kernels and the runtime are reused.
  compile("sgd.firn", "e");
  EXPECT_EQ(countEntries(cache) - first, 8);
}

// The same model links into the same bytes however many worker processes
// compile its kernels, and so whichever worker compiles which kernel: each
// kernel is compiled in a fresh fork (Build.cpp), where a worker that
// compiled several in turn carried Halide's name counters from one to the
// next (FIRN_COMPILE_JOBS=3 gave other bytes than 1; under load, so did two
// runs of the cache test above).
TEST(KernelCache, TheSameBytesWhateverTheNumberOfJobs) {
  std::string dir = tempDir() + "/kernel-jobs-test";
  ASSERT_EQ(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  std::ofstream(dir + "/m.firn") << model("Adam(lr=0.001)");
  for (const char *jobs : {"1", "2", "3", "4"}) {
    std::string output;
    EXPECT_EQ(run(std::string("FIRN_COMPILE_JOBS=") + jobs + " " + FIRNC + " " + dir +
                      "/m.firn --no-cache -o " + dir + "/m" + jobs,
                  output),
              0)
        << output;
  }
  for (const char *jobs : {"2", "3", "4"})
    EXPECT_TRUE(sameBytes(dir + "/m1", dir + "/m" + jobs)) << jobs << " jobs";
}
