//===- DatasetTest.cpp - Loading, checking and batching .npy data ---------===//
//
// Datasets from .npy files written by writeNpy and from the NumPy fixtures:
// conversions, every error message, batching in order and shuffled (the
// permutation is pinned to values computed independently from its documented
// definition).
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Dataset.h"
#include "firn/Runtime/Npy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include <unistd.h>

#ifndef FIRN_FIXTURES_DIR
#error "FIRN_FIXTURES_DIR must name tests/fixtures"
#endif

using namespace firn::runtime;

namespace {

/// Writes .npy files into the temp directory and removes them at the end.
class DatasetTest : public ::testing::Test {
protected:
  std::vector<std::string> paths;

  void TearDown() override {
    for (const std::string &p : paths)
      std::remove(p.c_str());
  }

  std::string write(const std::string &stem, const TensorData &t) {
    const ::testing::TestInfo *info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string path = ::testing::TempDir() + "firn_ds_" + info->name() +
                             "_" + std::to_string(long(getpid())) + "_" + stem +
                             ".npy";
    std::string error;
    EXPECT_TRUE(writeNpy(path, t, error)) << error;
    paths.push_back(path);
    return path;
  }

  /// Inputs of shape [n, 2] with sample i = {i, 10 + i}.
  static TensorData inputs(int64_t n) {
    std::vector<float> v;
    for (int64_t i = 0; i < n; ++i) {
      v.push_back(float(i));
      v.push_back(float(10 + i));
    }
    return TensorData::fromFloats({n, 2}, v);
  }

  static TensorData labels(int64_t n) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    std::iota(v.begin(), v.end(), 0);
    return TensorData::fromInt64s({n}, v);
  }

  static DatasetSpec classifier() {
    DatasetSpec spec;
    spec.inputShape = {2};
    spec.targetKind = TargetKind::ClassIndices;
    spec.targetShape = std::vector<int64_t>{};
    return spec;
  }

  Dataset loadOk(const std::string &x, const std::string &y,
                 const DatasetSpec &spec) {
    Dataset d;
    std::string error;
    EXPECT_TRUE(Dataset::load(x, y, spec, d, error)) << error;
    return d;
  }

  std::string loadError(const std::string &x, const std::string &y,
                        const DatasetSpec &spec) {
    Dataset d;
    std::string error;
    EXPECT_FALSE(Dataset::load(x, y, spec, d, error));
    return error;
  }
};

//===----------------------------------------------------------------------===//
// Loading and conversions
//===----------------------------------------------------------------------===//

TEST_F(DatasetTest, LoadsInputsAndClassTargets) {
  Dataset d =
      loadOk(write("x", inputs(4)), write("y", labels(4)), classifier());
  EXPECT_EQ(d.size(), 4);
  EXPECT_TRUE(d.hasTargets());
  EXPECT_EQ(d.targetKind(), TargetKind::ClassIndices);
  EXPECT_EQ(d.inputShape(), std::vector<int64_t>{2});
  EXPECT_EQ(d.targetShape(), std::vector<int64_t>{});
  Batch b;
  ASSERT_TRUE(d.batch(0, 4, b));
  EXPECT_EQ(b.rows, 4);
  EXPECT_EQ(b.inputs, (std::vector<float>{0, 10, 1, 11, 2, 12, 3, 13}));
  EXPECT_EQ(b.classTargets, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(b.floatTargets.empty());
}

TEST_F(DatasetTest, InputsWithoutTargets) {
  DatasetSpec spec = classifier();
  Dataset d = loadOk(write("x", inputs(3)), "", spec);
  EXPECT_FALSE(d.hasTargets());
  Batch b;
  ASSERT_TRUE(d.batch(1, 1, b));
  EXPECT_EQ(b.inputs, (std::vector<float>{1, 11}));
  EXPECT_TRUE(b.classTargets.empty());
  EXPECT_TRUE(b.floatTargets.empty());
}

TEST_F(DatasetTest, Float64InputsAreConvertedToFloat32) {
  Dataset d =
      loadOk(write("x", TensorData::fromDoubles({2, 2}, {0.1, 2, 3, 1e40})), "",
             classifier());
  Batch b;
  ASSERT_TRUE(d.batch(0, 2, b));
  EXPECT_EQ(b.inputs[0], 0.1f);
  EXPECT_EQ(b.inputs[1], 2.0f);
  EXPECT_TRUE(std::isinf(b.inputs[3]));
}

TEST_F(DatasetTest, Int32AndUint8TargetsAreWidenedToInt64) {
  Dataset d =
      loadOk(write("x", inputs(2)),
             write("y", TensorData::fromInt32s({2}, {7, -3})), classifier());
  Batch b;
  ASSERT_TRUE(d.batch(0, 2, b));
  EXPECT_EQ(b.classTargets, (std::vector<int64_t>{7, -3}));

  // uint8 labels written by NumPy.
  const std::string y = std::string(FIRN_FIXTURES_DIR) + "/npy/u1_labels.npy";
  d = loadOk(write("x4", inputs(4)), y, classifier());
  ASSERT_TRUE(d.batch(0, 4, b));
  EXPECT_EQ(b.classTargets, (std::vector<int64_t>{0, 7, 255, 1}));
}

TEST_F(DatasetTest, IndexInputsAreWidenedAndCheckedAgainstTheTable) {
  // Token ids for an Embedding of 5 rows: int32 ids are widened, each must
  // be a row, and float inputs are refused with the fix.
  DatasetSpec spec = classifier();
  spec.inputShape = {3};
  spec.inputIsIndices = true;
  spec.inputLimit = 5;
  Dataset d = loadOk(write("ids", TensorData::fromInt32s({2, 3}, {0, 4, 2, 1, 1, 3})),
                     write("y", labels(2)), spec);
  EXPECT_TRUE(d.inputIsIndices());
  Batch b;
  ASSERT_TRUE(d.batch(0, 2, b));
  EXPECT_EQ(b.indexInputs, (std::vector<int64_t>{0, 4, 2, 1, 1, 3}));
  EXPECT_TRUE(b.inputs.empty());

  std::string error = loadError(
      write("bad", TensorData::fromInt64s({2, 3}, {0, 4, 2, 1, 5, 3})),
      write("y2", labels(2)), spec);
  EXPECT_NE(error.find("bad.npy: index 5 of sample 1 is not in [0, 5) (the rows of the "
                       "Embedding it indexes)"),
            std::string::npos)
      << error;
  error = loadError(write("negative", TensorData::fromInt64s({1, 3}, {0, -1, 2})),
                    write("y3", labels(1)), spec);
  EXPECT_NE(error.find("index -1 of sample 0"), std::string::npos) << error;
  error = loadError(write("floats", TensorData::fromFloats({1, 3}, {0, 1, 2})),
                    write("y4", labels(1)), spec);
  EXPECT_NE(error.find("the model takes int64 indices (token ids); save "
                       "x.astype(np.int64)"),
            std::string::npos)
      << error;
}

TEST_F(DatasetTest, FloatTargets) {
  DatasetSpec spec;
  spec.inputShape = {2};
  spec.targetKind = TargetKind::Floats;
  spec.targetShape = std::vector<int64_t>{3};
  Dataset d = loadOk(
      write("x", inputs(2)),
      write("y", TensorData::fromDoubles({2, 3}, {1, 2, 3, 4, 5, 6.5})), spec);
  Batch b;
  ASSERT_TRUE(d.batch(1, 1, b));
  EXPECT_EQ(b.floatTargets, (std::vector<float>{4, 5, 6.5f}));
  EXPECT_TRUE(b.classTargets.empty());
}

TEST_F(DatasetTest, NumpyFixtureAsInputs) {
  DatasetSpec spec;
  spec.inputShape = {3};
  Dataset d =
      loadOk(std::string(FIRN_FIXTURES_DIR) + "/npy/f4_2x3.npy", "", spec);
  EXPECT_EQ(d.size(), 2);
}

TEST_F(DatasetTest, FromTensors) {
  DatasetSpec spec = classifier();
  TensorData y = labels(2);
  Dataset d;
  std::string error;
  ASSERT_TRUE(Dataset::fromTensors(inputs(2), "in", &y, "lab", spec, d, error))
      << error;
  EXPECT_EQ(d.inputsName(), "in");
  EXPECT_EQ(d.targetsName(), "lab");
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

TEST_F(DatasetTest, SampleShapeMismatch) {
  const std::string x =
      write("x", TensorData::fromFloats({2, 1, 28, 28},
                                        std::vector<float>(2 * 28 * 28)));
  DatasetSpec spec;
  spec.inputShape = {1, 8, 8};
  EXPECT_EQ(loadError(x, "", spec),
            x + ": each sample has shape [1, 28, 28] but the model expects "
                "[1, 8, 8]");
}

TEST_F(DatasetTest, TargetShapeMismatch) {
  const std::string x = write("x", inputs(2));
  const std::string y = write("y", TensorData::fromInt64s({2, 1}, {0, 1}));
  EXPECT_EQ(loadError(x, y, classifier()),
            y + ": each target has shape [1] but the model expects []");
}

TEST_F(DatasetTest, DifferentNumbersOfSamples) {
  const std::string x = write("x", inputs(5));
  const std::string y = write("y", labels(4));
  EXPECT_EQ(loadError(x, y, classifier()),
            x + " has 5 samples but " + y +
                " has 4; inputs and targets must have the same first "
                "dimension");
}

TEST_F(DatasetTest, IntegerInputsAreAnError) {
  const std::string x =
      write("x", TensorData::fromInt64s({2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(loadError(x, "", classifier()),
            x + ": the inputs are integers (I64) but the model takes float32 "
                "inputs; save x.astype(np.float32) (or were --x and --y "
                "swapped?)");
}

TEST_F(DatasetTest, TargetTypeMismatch) {
  const std::string x = write("x", inputs(2));
  const std::string yf = write("yf", TensorData::fromFloats({2}, {0, 1}));
  EXPECT_EQ(loadError(x, yf, classifier()),
            yf + ": the targets are floating point (F32) but the model's "
                 "target is int64 class indices; save y.astype(np.int64)");

  DatasetSpec spec;
  spec.inputShape = {2};
  spec.targetKind = TargetKind::Floats;
  const std::string yi = write("yi", labels(2));
  EXPECT_EQ(loadError(x, yi, spec),
            yi + ": the targets are integers (I64) but the model's target is "
                 "float32; save y.astype(np.float32)");
}

TEST_F(DatasetTest, ClassIndexOutOfRange) {
  DatasetSpec spec = classifier();
  spec.numClasses = 3;
  const std::string x = write("x", inputs(4));
  const std::string y = write("y", TensorData::fromInt64s({4}, {0, 2, 3, 1}));
  EXPECT_EQ(loadError(x, y, spec),
            y + ": target 3 of sample 2 is not a class index in [0, 3) (the "
                "model has 3 classes)");
  const std::string neg =
      write("neg", TensorData::fromInt64s({4}, {-1, 0, 0, 0}));
  EXPECT_EQ(loadError(x, neg, spec),
            neg + ": target -1 of sample 0 is not a class index in [0, 3) "
                  "(the model has 3 classes)");
}

TEST_F(DatasetTest, ScalarAndEmptyArraysHaveNoSamples) {
  const std::string scalar = write("s", TensorData::fromFloats({}, {1}));
  DatasetSpec spec;
  EXPECT_EQ(loadError(scalar, "", spec),
            scalar + ": a 0-d array has no samples; the first axis must "
                     "index the samples");
  const std::string empty = write("e", TensorData::fromFloats({0, 2}, {}));
  spec.inputShape = {2};
  EXPECT_EQ(loadError(empty, "", spec),
            empty + " has no samples (its first dimension is 0)");
}

TEST_F(DatasetTest, FileErrorsPassThrough) {
  const std::string x = write("x", inputs(2));
  const std::string missing = ::testing::TempDir() + "firn_ds_missing_y.npy";
  EXPECT_EQ(loadError(x, missing, classifier()),
            missing + ": cannot open: No such file or directory");
  EXPECT_EQ(loadError(missing, x, classifier()),
            missing + ": cannot open: No such file or directory");
}

TEST_F(DatasetTest, BadInputsAreReportedBeforeTargets) {
  const std::string x =
      write("x", TensorData::fromFloats({2, 3}, {1, 2, 3, 4, 5, 6}));
  const std::string missing = ::testing::TempDir() + "firn_ds_missing_y.npy";
  EXPECT_EQ(loadError(x, missing, classifier()),
            x + ": each sample has shape [3] but the model expects [2]");
}

TEST_F(DatasetTest, OutputUntouchedOnError) {
  Dataset d = loadOk(write("x", inputs(3)), "", classifier());
  std::string error;
  EXPECT_FALSE(Dataset::load(write("bad", TensorData::fromFloats({1}, {1})), "",
                             classifier(), d, error));
  EXPECT_EQ(d.size(), 3);
}

//===----------------------------------------------------------------------===//
// Batching
//===----------------------------------------------------------------------===//

TEST_F(DatasetTest, BatchSizeMustDivideUnlessDropLast) {
  const std::string x = write("x", inputs(10));
  Dataset d = loadOk(x, "", classifier());
  std::string error;
  EXPECT_TRUE(d.checkBatchSize(5, false, error)) << error;
  EXPECT_TRUE(d.checkBatchSize(10, false, error)) << error;
  EXPECT_FALSE(d.checkBatchSize(4, false, error));
  EXPECT_EQ(error, x + " has 10 samples, which batch size 4 does not divide; "
                       "use --drop-last or a batch size that divides it");
  EXPECT_TRUE(d.checkBatchSize(4, true, error)) << error;
  EXPECT_FALSE(d.checkBatchSize(11, true, error));
  EXPECT_EQ(error, x + " has 10 samples, fewer than one batch of 11; use a "
                       "batch size of at most 10");
  EXPECT_FALSE(d.checkBatchSize(0, true, error));
  EXPECT_EQ(error, "the batch size must be positive, not 0");
}

TEST_F(DatasetTest, DropLastSkipsTheRemainder) {
  Dataset d =
      loadOk(write("x", inputs(10)), write("y", labels(10)), classifier());
  EXPECT_EQ(d.batchCount(4), 2);
  Batch b;
  ASSERT_TRUE(d.batch(1, 4, b));
  EXPECT_EQ(b.rows, 4);
  EXPECT_EQ(b.classTargets, (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(b.inputs, (std::vector<float>{4, 14, 5, 15, 6, 16, 7, 17}));
}

TEST_F(DatasetTest, KeepPartialLastBatch) {
  Dataset d =
      loadOk(write("x", inputs(10)), write("y", labels(10)), classifier());
  EXPECT_EQ(d.batchCount(4, /*keepPartial=*/true), 3);
  Batch b;
  ASSERT_TRUE(d.batch(2, 4, b));
  EXPECT_EQ(b.rows, 2);
  EXPECT_EQ(b.classTargets, (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(b.inputs, (std::vector<float>{8, 18, 9, 19}));
  EXPECT_FALSE(d.batch(3, 4, b));
  EXPECT_FALSE(d.batch(-1, 4, b));
  EXPECT_FALSE(d.batch(0, 0, b));
  EXPECT_EQ(b.rows, 2) << "a failed call leaves the batch alone";
  EXPECT_EQ(d.batchCount(0), 0);
  // A batch size near 2^63 (from --batch-size) is one partial batch, not an
  // overflow.
  EXPECT_EQ(d.batchCount(INT64_MAX, /*keepPartial=*/true), 1);
  EXPECT_EQ(d.batchCount(INT64_MAX), 0);
  ASSERT_TRUE(d.batch(0, INT64_MAX, b));
  EXPECT_EQ(b.rows, 10);
  EXPECT_FALSE(d.batch(1, INT64_MAX, b));
  EXPECT_FALSE(d.batch(INT64_MAX, 2, b));
}

TEST_F(DatasetTest, BatchesCoverEverySampleInOrder) {
  Dataset d =
      loadOk(write("x", inputs(12)), write("y", labels(12)), classifier());
  std::vector<int64_t> seen;
  Batch b;
  for (int64_t i = 0; i < d.batchCount(3); ++i) {
    ASSERT_TRUE(d.batch(i, 3, b));
    seen.insert(seen.end(), b.classTargets.begin(), b.classTargets.end());
  }
  std::vector<int64_t> expected(12);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(seen, expected);
}

//===----------------------------------------------------------------------===//
// Shuffling
//===----------------------------------------------------------------------===//

/// The documented permutation, pinned: these values were computed by a
/// separate Python implementation of the definition in Dataset.h.
TEST_F(DatasetTest, PermutationMatchesItsDefinition) {
  EXPECT_EQ(Dataset::permutation(10, 0, 0),
            (std::vector<int64_t>{8, 7, 6, 5, 3, 9, 2, 4, 1, 0}));
  EXPECT_EQ(Dataset::permutation(10, 42, 0),
            (std::vector<int64_t>{2, 3, 9, 7, 5, 8, 6, 4, 0, 1}));
  EXPECT_EQ(Dataset::permutation(10, 42, 1),
            (std::vector<int64_t>{0, 8, 1, 6, 4, 3, 5, 9, 2, 7}));
  EXPECT_EQ(Dataset::permutation(1, 5, 5), std::vector<int64_t>{0});
  EXPECT_TRUE(Dataset::permutation(0, 5, 5).empty());
}

TEST_F(DatasetTest, PermutationIsAPermutationAndVariesWithEpoch) {
  std::vector<int64_t> a = Dataset::permutation(1000, 7, 0);
  std::vector<int64_t> b = Dataset::permutation(1000, 7, 1);
  std::vector<int64_t> c = Dataset::permutation(1000, 8, 0);
  EXPECT_EQ(a, Dataset::permutation(1000, 7, 0)) << "deterministic";
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  std::sort(b.begin(), b.end());
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(b, identity);
}

TEST_F(DatasetTest, ShuffledBatchesFollowTheOrder) {
  Dataset d =
      loadOk(write("x", inputs(6)), write("y", labels(6)), classifier());
  d.shuffle(42, 3);
  const std::vector<int64_t> order = Dataset::permutation(6, 42, 3);
  EXPECT_EQ(d.order(), order);
  Batch b;
  ASSERT_TRUE(d.batch(1, 2, b));
  EXPECT_EQ(b.classTargets, (std::vector<int64_t>{order[2], order[3]}));
  EXPECT_EQ(b.inputs,
            (std::vector<float>{float(order[2]), float(10 + order[2]),
                                float(order[3]), float(10 + order[3])}));
  d.unshuffle();
  EXPECT_EQ(d.order(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
}

} // namespace
