//===- AllocationTest.cpp - The training loop allocates nothing -----------===//
//
// Issue 6: no allocation inside the training loop. A compiled binary runs
// 3 and then 30 training steps (all inside the first epoch) with a
// counting malloc preloaded (AllocCounter.c): everything the process
// allocates, the C++ runtime and the kernels alike, is counted. The
// allocations before the loop (loading data, the state, the first step's
// buffers) are the same in both runs, so the counts are equal exactly when
// the 27 extra steps allocate nothing.
//
// In a build with AddressSanitizer (FIRN_SANITIZE=address) the binary has
// ASan's allocator and the counter counts through its allocation hook
// (AllocCounter.c); ASan is then told not to insist on being the first
// library loaded, as the preloaded counter is.
//
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace firn::e2e;

namespace {

/// For a binary built with AddressSanitizer (ignored by any other): the
/// preloaded counter comes before ASan's runtime in the library list.
const char *const sanitizerOptions =
    " ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0";

/// The number of allocations a run of `command` made (-1 if none recorded).
long long countAllocations(const std::string &command, const std::string &file) {
  std::remove(file.c_str());
  std::string output;
  // One Halide thread: with a step of many small kernels, two threads
  // sometimes made 2 more allocations in the longer run (1 of 3 to 1 of 6
  // runs; starting Halide's pool up front did not stop it), most likely
  // the pool starting a worker late. What this test is about, firn's own
  // buffers, temporaries and halide_malloc, does not depend on the count.
  int code = run("HL_NUM_THREADS=1 LD_PRELOAD=" + std::string(FIRN_ALLOC_COUNTER) +
                     sanitizerOptions + " FIRN_ALLOC_COUNT_FILE=" + file + " " +
                     command,
                 output);
  EXPECT_EQ(code, 0) << output;
  std::ifstream in(file);
  long long count = -1;
  in >> count;
  return count;
}

} // namespace

TEST(Allocation, NoneInsideTheTrainingLoop) {
  // digits_mlp: Linear/ReLU layers, Adam, cross-entropy; 1437 samples of
  // batch 32 make 45 steps per epoch.
  std::string binary = compileModel(
      std::string(FIRN_EXAMPLES_DIR) + "/digits_mlp.firn", "digits_alloc");
  std::string data = std::string(FIRN_EXAMPLES_DIR) + "/data/";
  std::string train = binary + " train --x " + data + "digits_train_x.npy --y " +
                      data + "digits_train_y.npy --batch-size 32 --steps ";
  std::string file = tempDir() + "/allocations.txt";
  long long few = countAllocations(train + "3", file);
  long long many = countAllocations(train + "30", file);
  ASSERT_GT(few, 0) << "the counting malloc was not used";
  EXPECT_EQ(many, few) << "27 more training steps made " << (many - few)
                       << " more allocations";
}
