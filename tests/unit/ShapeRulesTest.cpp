//===- ShapeRulesTest.cpp - Shape inference rules -------------------------===//
//
// The rules the front end and the verifiers share, checked on their own:
// each rule's arithmetic (PyTorch's formulas) and each rejection's message.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/ShapeRules.h"

#include <gtest/gtest.h>

using namespace firn::shape;

namespace {
constexpr int64_t N = kBatch;

TEST(ShapeRules, PrintsBatchAsN) {
  EXPECT_EQ(str({N, 1, 2, 2}), "[N, 1, 2, 2]");
  EXPECT_EQ(str({}), "[]");
}

TEST(ShapeRules, WellFormedOnlyBatchFirst) {
  EXPECT_EQ(checkWellFormed({N, 3}), "");
  EXPECT_NE(checkWellFormed({3, N}), "");
  EXPECT_NE(checkWellFormed({N, 0}), "");
}

TEST(ShapeRules, BroadcastFollowsNumPy) {
  EXPECT_EQ(broadcast({N, 3}, {3}).shape, (Shape{N, 3}));
  EXPECT_EQ(broadcast({N, 1}, {1, 4}).shape, (Shape{N, 4}));
  EXPECT_EQ(broadcast({}, {2, 3}).shape, (Shape{2, 3}));
  EXPECT_EQ(broadcast({N, 3}, {N, 3}).shape, (Shape{N, 3}));
  Inferred bad = broadcast({N, 3}, {4});
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error, "shapes [N, 3] and [4] do not broadcast");
  // The batch size is unknown until run time, so it never matches a fixed size.
  EXPECT_FALSE(broadcast({N, 3}, {5, 3}).ok());
}

TEST(ShapeRules, BroadcastsTo) {
  EXPECT_TRUE(broadcastsTo({1}, {2}));
  EXPECT_TRUE(broadcastsTo({}, {N, 2}));
  EXPECT_FALSE(broadcastsTo({2}, {1}));
  EXPECT_FALSE(broadcastsTo({3}, {2}));
}

TEST(ShapeRules, Linear) {
  EXPECT_EQ(linear({N, 2}, {1, 2}, Shape{1}).shape, (Shape{N, 1}));
  // Seed 001: a bias of shape [1] on Linear(1, 2) broadcasts.
  EXPECT_EQ(linear({1}, {2, 1}, Shape{1}).shape, (Shape{2}));
  EXPECT_EQ(linear({N, 3}, {2, 4}, std::nullopt).error,
            "linear input [N, 3] has 3 features but the weight [2, 4] "
            "expects 4");
  EXPECT_FALSE(linear({N, 4}, {2, 4}, Shape{3}).ok());
}

TEST(ShapeRules, Conv2dOutputSize) {
  Conv2dGeometry g;
  g.padding = {1, 1, 1, 1};
  // Seed 003: 3x10x10 -> 16 channels, 3x3 kernel, padding 1 keeps 10x10.
  EXPECT_EQ(conv2d({N, 3, 10, 10}, {16, 3, 3, 3}, std::nullopt, g).shape,
            (Shape{N, 16, 10, 10}));
  g.stride = {2, 2};
  EXPECT_EQ(conv2d({N, 2, 8, 8}, {4, 2, 3, 3}, Shape{4}, g).shape,
            (Shape{N, 4, 4, 4}));
  g = Conv2dGeometry();
  g.dilation = {2, 2};
  EXPECT_EQ(conv2d({N, 1, 7, 7}, {1, 1, 3, 3}, std::nullopt, g).shape,
            (Shape{N, 1, 3, 3}));
  EXPECT_FALSE(conv2d({N, 1, 2, 2}, {1, 1, 3, 3}, std::nullopt,
                      Conv2dGeometry())
                   .ok());
  EXPECT_FALSE(conv2d({N, 2, 8, 8}, {4, 3, 3, 3}, std::nullopt,
                      Conv2dGeometry())
                   .ok());
}

TEST(ShapeRules, SamePaddingIsPyTorchs) {
  // Odd kernels pad evenly; even kernels put the extra row/column at the end.
  EXPECT_EQ(samePadding(3, 3, {1, 1}), (std::array<int64_t, 4>{1, 1, 1, 1}));
  EXPECT_EQ(samePadding(4, 2, {1, 1}), (std::array<int64_t, 4>{1, 0, 2, 1}));
  EXPECT_EQ(samePadding(3, 3, {2, 2}), (std::array<int64_t, 4>{2, 2, 2, 2}));
  Conv2dGeometry g;
  g.padding = samePadding(3, 3, {1, 1});
  // Seed 000: 'same' on a 2x2 image with a 3x3 kernel stays 2x2.
  EXPECT_EQ(conv2d({N, 1, 2, 2}, {1, 1, 3, 3}, std::nullopt, g).shape,
            (Shape{N, 1, 2, 2}));
}

TEST(ShapeRules, ReshapeAndFlatten) {
  EXPECT_EQ(reshape({N, 1, 2, 2}, {N, -1}).shape, (Shape{N, 4}));
  EXPECT_EQ(reshape({N, 32, 10, 10}, {N, 3200}).shape, (Shape{N, 3200}));
  EXPECT_EQ(reshape({6}, {2, -1}).shape, (Shape{2, 3}));
  EXPECT_EQ(reshape({N, 2, 3}, {N, 5}).error,
            "cannot reshape [N, 2, 3] (6 elements) to [N, 5] (5 elements)");
  EXPECT_FALSE(reshape({N, 2, 3}, {6}).ok());
  EXPECT_FALSE(reshape({N, 6}, {N, -1, -1}).ok());
  EXPECT_EQ(flatten({N, 32, 10, 10}).shape, (Shape{N, 3200}));
}

TEST(ShapeRules, MatmulAndTranspose) {
  EXPECT_EQ(matmul({N, 4}, {4, 3}, false, false).shape, (Shape{N, 3}));
  EXPECT_EQ(matmul({N, 4}, {N, 3}, true, false).shape, (Shape{4, 3}));
  EXPECT_EQ(matmul({N, 3}, {4, 3}, false, true).shape, (Shape{N, 4}));
  EXPECT_FALSE(matmul({N, 4}, {3, 2}, false, false).ok());
  EXPECT_EQ(transpose({4, 3}, {1, 0}).shape, (Shape{3, 4}));
  EXPECT_FALSE(transpose({4, 3}, {0, 0}).ok());
  EXPECT_FALSE(transpose({N, 3}, {1, 0}).ok()); // moves the batch
}

TEST(ShapeRules, Reductions) {
  EXPECT_EQ(reduce({N, 4}, {}, false).shape, (Shape{}));
  EXPECT_EQ(reduce({N, 4}, {0}, false).shape, (Shape{4}));
  EXPECT_EQ(reduce({N, 4}, {1}, true).shape, (Shape{N, 1}));
  EXPECT_FALSE(reduce({N, 4}, {2}, false).ok());
  EXPECT_FALSE(reduce({N, 4}, {1, 1}, false).ok());
}

TEST(ShapeRules, Losses) {
  EXPECT_EQ(mseLoss({N, 1}, {N, 1}).shape, (Shape{}));
  EXPECT_EQ(mseLoss({N, 1}, {N, 2}).error,
            "mse prediction [N, 1] and target [N, 2] must have the same shape");
  EXPECT_TRUE(crossEntropy({N, 20}, {N}, true).ok());
  EXPECT_TRUE(crossEntropy({N, 4}, {N, 4}, false).ok());
  EXPECT_EQ(crossEntropy({N, 4}, {N, 4}, true).error,
            "cross_entropy class-index target [N, 4] must be [N] for logits "
            "[N, 4]");
  EXPECT_FALSE(crossEntropy({N, 4}, {N, 3}, false).ok());
}

TEST(ShapeRules, BatchNorm) {
  EXPECT_EQ(batchNorm({N, 4, 2, 2}, {4}).shape, (Shape{N, 4, 2, 2}));
  EXPECT_FALSE(batchNorm({N, 4, 2, 2}, {3}).ok());
  EXPECT_FALSE(batchNorm({N}, {1}).ok());
}
} // namespace
