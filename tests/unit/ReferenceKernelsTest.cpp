//===- ReferenceKernelsTest.cpp - The reference evaluator's kernels -------===//
//
// Each kernel of the reference evaluator on small cases computed by hand
// (the arithmetic is in the comments), and the two convolution gradients
// checked as exact adjoints of conv2d on random data. The kernels are the
// oracle other tests trust, so they are checked against arithmetic rather
// than against another implementation.
//
//===----------------------------------------------------------------------===//
#include "Reference/Kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

using namespace firn::reference;

namespace {

constexpr double kTol = 1e-12;

Tensor t(const Shape &shape, std::vector<double> data) {
  return fromData(shape, std::move(data));
}

Tensor indices(std::vector<double> data) {
  int64_t size = static_cast<int64_t>(data.size());
  Tensor out = fromData({size}, std::move(data));
  out.isInteger = true;
  return out;
}

/// The value of a kernel that must succeed.
Tensor ok(const Result &result) {
  EXPECT_TRUE(result.ok()) << result.error;
  return result.value;
}

void expectNear(const Tensor &actual, const Shape &shape,
                const std::vector<double> &expected, double tol = kTol) {
  ASSERT_EQ(actual.shape, shape);
  ASSERT_EQ(actual.data.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(actual.data[i], expected[i], tol) << "element " << i;
}

Tensor random(const Shape &shape, std::mt19937 &rng) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  Tensor out = filled(shape, 0.0);
  for (double &v : out.data)
    v = dist(rng);
  return out;
}

double dot(const Tensor &a, const Tensor &b) {
  EXPECT_EQ(a.shape, b.shape);
  double sum = 0.0;
  for (size_t i = 0; i < a.data.size(); ++i)
    sum += a.data[i] * b.data[i];
  return sum;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

TEST(ReferenceKernels, Unary) {
  Tensor x = t({4}, {-2, -0.5, 0, 3});
  expectNear(neg(x), {4}, {2, 0.5, 0, -3});
  expectNear(relu(x), {4}, {0, 0, 0, 3});
  auto twice = [](double v) { return 2 * v; };
  expectNear(mapElements(x, twice), {4}, {-4, -1, 0, 6});
  // torch.relu keeps NaN.
  EXPECT_TRUE(std::isnan(relu(t({1}, {NAN})).data[0]));
}

TEST(ReferenceKernels, ReluGradPassesWherePositive) {
  // x > 0 only at index 2; x == 0 gives 0, as in PyTorch.
  expectNear(ok(reluGrad(t({3}, {5, 6, 7}), t({3}, {-1, 0, 2}))), {3},
             {0, 0, 7});
  EXPECT_FALSE(reluGrad(t({2}, {1, 2}), t({3}, {1, 2, 3})).ok());
}

TEST(ReferenceKernels, BinaryBroadcasts) {
  // [2, 1] + [3] -> [2, 3]: row r is a[r] + b.
  Tensor a = t({2, 1}, {10, 20});
  Tensor b = t({3}, {1, 2, 3});
  expectNear(ok(add(a, b)), {2, 3}, {11, 12, 13, 21, 22, 23});
  expectNear(ok(sub(a, b)), {2, 3}, {9, 8, 7, 19, 18, 17});
  expectNear(ok(mul(a, b)), {2, 3}, {10, 20, 30, 20, 40, 60});
  expectNear(ok(div(b, scalar(2))), {3}, {0.5, 1, 1.5});
  expectNear(ok(maximum(b, scalar(2))), {3}, {2, 2, 3});
  expectNear(ok(pow(b, scalar(2))), {3}, {1, 4, 9});
  // 0.9 ** [1, 2]: Adam's bias correction.
  expectNear(ok(pow(scalar(0.9), t({2}, {1, 2}))), {2}, {0.9, 0.81});
  Result bad = add(t({2, 3}, std::vector<double>(6, 0)), t({2}, {0, 0}));
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error, "shapes [2, 3] and [2] do not broadcast");
}

TEST(ReferenceKernels, MaximumPropagatesNaN) {
  Tensor out = ok(maximum(t({2}, {NAN, 1}), t({2}, {0, NAN})));
  EXPECT_TRUE(std::isnan(out.data[0]));
  EXPECT_TRUE(std::isnan(out.data[1]));
}

TEST(ReferenceKernels, BroadcastTo) {
  // [3] -> [2, 3] repeats the row; [2, 1] -> [2, 3] repeats each entry.
  expectNear(ok(broadcastTo(t({3}, {1, 2, 3}), {2, 3})), {2, 3},
             {1, 2, 3, 1, 2, 3});
  expectNear(ok(broadcastTo(t({2, 1}, {4, 5}), {2, 3})), {2, 3},
             {4, 4, 4, 5, 5, 5});
  expectNear(ok(broadcastTo(scalar(7), {2})), {2}, {7, 7});
  // Broadcasting may only grow the input.
  EXPECT_FALSE(broadcastTo(t({2, 3}, std::vector<double>(6, 0)), {3}).ok());
  EXPECT_FALSE(broadcastTo(t({2}, {1, 2}), {3}).ok());
}

//===----------------------------------------------------------------------===//
// Shape and reductions
//===----------------------------------------------------------------------===//

TEST(ReferenceKernels, Transpose) {
  // [[1, 2, 3], [4, 5, 6]]^T = [[1, 4], [2, 5], [3, 6]].
  expectNear(ok(transpose(t({2, 3}, {1, 2, 3, 4, 5, 6}), {1, 0})), {3, 2},
             {1, 4, 2, 5, 3, 6});
  // perm [2, 0, 1]: out[i, j, k] = x[j, k, i]; x[a, b, c] = 100a + 10b + c.
  Tensor x = filled({2, 3, 4}, 0);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 4; ++c)
        x.data[(a * 3 + b) * 4 + c] = 100 * a + 10 * b + c;
  Tensor y = ok(transpose(x, {2, 0, 1}));
  ASSERT_EQ(y.shape, (Shape{4, 2, 3}));
  // out[3, 1, 2] = x[1, 2, 3] = 123.
  EXPECT_EQ(y.data[(3 * 2 + 1) * 3 + 2], 123);
  EXPECT_FALSE(transpose(x, {0, 0, 1}).ok());
}

TEST(ReferenceKernels, ReshapeKeepsRowMajorData) {
  Tensor y = ok(reshape(t({2, 3}, {1, 2, 3, 4, 5, 6}), {3, 2}));
  expectNear(y, {3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_FALSE(reshape(y, {4}).ok());
  Tensor i = indices({1, 2});
  EXPECT_TRUE(ok(reshape(i, {2, 1})).isInteger);
}

TEST(ReferenceKernels, Reductions) {
  // x = [[1, 2, 3], [4, 5, 6]].
  Tensor x = t({2, 3}, {1, 2, 3, 4, 5, 6});
  expectNear(ok(reduceSum(x, {0}, false)), {3}, {5, 7, 9});
  expectNear(ok(reduceSum(x, {1}, true)), {2, 1}, {6, 15});
  expectNear(ok(reduceSum(x, {}, false)), {}, {21});
  expectNear(ok(reduceSum(x, {}, true)), {1, 1}, {21});
  expectNear(ok(reduceMean(x, {1}, false)), {2}, {2, 5});
  expectNear(ok(reduceMean(x, {}, false)), {}, {3.5});
  expectNear(ok(reduceMax(x, {0}, false)), {3}, {4, 5, 6});
  expectNear(ok(reduceMax(x, {1}, true)), {2, 1}, {3, 6});
  EXPECT_FALSE(reduceSum(x, {2}, false).ok());
  EXPECT_FALSE(reduceSum(x, {0, 0}, false).ok());
  // torch.amax propagates NaN.
  EXPECT_TRUE(std::isnan(ok(reduceMax(t({3}, {1, NAN, 2}), {}, false)).data[0]));
}

TEST(ReferenceKernels, ReduceOverMiddleAxis) {
  // x[a, b, c] = 100a + 10b + c, shape [2, 3, 2]; sum over b:
  // out[a, c] = 3 * 100a + (0 + 10 + 20) + 3c.
  Tensor x = filled({2, 3, 2}, 0);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 2; ++c)
        x.data[(a * 3 + b) * 2 + c] = 100 * a + 10 * b + c;
  expectNear(ok(reduceSum(x, {1}, false)), {2, 2}, {30, 33, 330, 333});
  expectNear(ok(reduceSum(x, {0, 2}, true)), {1, 3, 1},
             // b = 0: (0 + 1) + (100 + 101) = 202; +40 per step of b.
             {202, 242, 282});
}

TEST(ReferenceKernels, Numel) {
  Tensor x = filled({5, 3, 2}, 0);
  expectNear(ok(numel(x, {})), {}, {30});
  expectNear(ok(numel(x, {0})), {}, {5});
  expectNear(ok(numel(x, {0, 2})), {}, {10});
  EXPECT_FALSE(numel(x, {3}).ok());
}

TEST(ReferenceKernels, SoftmaxRowsSumToOne) {
  Tensor x = t({3, 4}, {1, 2, 3, 4, -1, 0, 1, 0, 5, 5, 5, 5});
  Tensor p = ok(softmax(x, 1));
  for (int r = 0; r < 3; ++r) {
    double sum = 0;
    for (int c = 0; c < 4; ++c)
      sum += p.data[r * 4 + c];
    EXPECT_NEAR(sum, 1.0, kTol);
  }
  // Equal logits give equal probabilities.
  EXPECT_NEAR(p.data[8], 0.25, kTol);
  // log_softmax is the log of softmax.
  Tensor lp = ok(logSoftmax(x, 1));
  for (int i = 0; i < 12; ++i)
    EXPECT_NEAR(lp.data[i], std::log(p.data[i]), kTol);
  // Along axis 0 the columns sum to one instead.
  Tensor q = ok(softmax(x, 0));
  EXPECT_NEAR(q.data[0] + q.data[4] + q.data[8], 1.0, kTol);
  EXPECT_FALSE(softmax(x, 2).ok());
}

TEST(ReferenceKernels, SoftmaxIsStable) {
  // softmax([1000, 1001]) = [1, e] / (1 + e), though exp(1000) overflows.
  double e = std::exp(1.0);
  expectNear(ok(softmax(t({1, 2}, {1000, 1001}), 1)), {1, 2},
             {1 / (1 + e), e / (1 + e)});
  expectNear(ok(logSoftmax(t({1, 2}, {1000, 1001}), 1)), {1, 2},
             {-std::log(1 + e), 1 - std::log(1 + e)});
}

//===----------------------------------------------------------------------===//
// matmul and linear
//===----------------------------------------------------------------------===//

TEST(ReferenceKernels, MatmulWithTransposes) {
  // A = [[1, 2, 3], [4, 5, 6]], B = [[7, 8], [9, 10], [11, 12]]:
  // AB = [[7+18+33, 8+20+36], [28+45+66, 32+50+72]] = [[58, 64], [139, 154]].
  Tensor a = t({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = t({3, 2}, {7, 8, 9, 10, 11, 12});
  std::vector<double> ab = {58, 64, 139, 154};
  expectNear(ok(matmul(a, b, false, false)), {2, 2}, ab);
  Tensor aT = ok(transpose(a, {1, 0}));
  Tensor bT = ok(transpose(b, {1, 0}));
  expectNear(ok(matmul(aT, b, true, false)), {2, 2}, ab);
  expectNear(ok(matmul(a, bT, false, true)), {2, 2}, ab);
  expectNear(ok(matmul(aT, bT, true, true)), {2, 2}, ab);
  EXPECT_FALSE(matmul(a, a, false, false).ok());
}

TEST(ReferenceKernels, Linear) {
  // x = [[1, 2, 3], [4, 5, 6]], w = [[1, 0, -1], [0.5, 0.5, 0.5]], b = [10, 20]:
  // y = [[1 - 3 + 10, 3 + 20], [4 - 6 + 10, 7.5 + 20]].
  Tensor x = t({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor w = t({2, 3}, {1, 0, -1, 0.5, 0.5, 0.5});
  Tensor b = t({2}, {10, 20});
  expectNear(ok(linear(x, w, &b)), {2, 2}, {8, 23, 8, 27.5});
  expectNear(ok(linear(x, w, nullptr)), {2, 2}, {-2, 3, -2, 7.5});
  // A [1] bias broadcasts to [out].
  Tensor one = t({1}, {1});
  expectNear(ok(linear(x, w, &one)), {2, 2}, {-1, 4, -1, 8.5});
  // Leading dimensions are kept: [1, 2, 3] -> [1, 2, 2].
  expectNear(ok(linear(ok(reshape(x, {1, 2, 3})), w, nullptr)), {1, 2, 2},
             {-2, 3, -2, 7.5});
  // in = 2 does not fit a weight with in = 3.
  EXPECT_FALSE(linear(t({2, 2}, {0, 0, 0, 0}), w, nullptr).ok());
  Tensor bad = t({3}, {1, 2, 3});
  EXPECT_FALSE(linear(x, w, &bad).ok());
}

//===----------------------------------------------------------------------===//
// Convolution
//===----------------------------------------------------------------------===//

TEST(ReferenceKernels, Conv2dPaddingOneOnTwoByTwo) {
  // x = [[1, 2], [3, 4]], w = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], padding 1,
  // bias 0.5. y[i][j] = sum_{p,q} x[i-1+p][j-1+q] w[p][q], so only the taps
  // landing on x count:
  //   y[0][0] = 1*5 + 2*6 + 3*8 + 4*9 = 77
  //   y[0][1] = 1*4 + 2*5 + 3*7 + 4*8 = 67
  //   y[1][0] = 1*2 + 2*3 + 3*5 + 4*6 = 47
  //   y[1][1] = 1*1 + 2*2 + 3*4 + 4*5 = 37
  Tensor x = t({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor w = t({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor b = t({1}, {0.5});
  Conv2dGeometry g;
  g.padding = {1, 1, 1, 1};
  expectNear(ok(conv2d(x, w, &b, g)), {1, 1, 2, 2}, {77.5, 67.5, 47.5, 37.5});
}

TEST(ReferenceKernels, Conv2dStrideAndDilation) {
  // x[a][b] = 5a + b on 5x5, a 2x2 kernel of ones with dilation 2 and stride
  // 2: Ho = (5 - 2*(2-1) - 1)/2 + 1 = 2 and
  // y[i][j] = x[2i][2j] + x[2i][2j+2] + x[2i+2][2j] + x[2i+2][2j+2]:
  //   y[0][0] = 0 + 2 + 10 + 12 = 24,   y[0][1] = 2 + 4 + 12 + 14 = 32,
  //   y[1][0] = 10 + 12 + 20 + 22 = 64, y[1][1] = 12 + 14 + 22 + 24 = 72.
  Tensor x = filled({1, 1, 5, 5}, 0);
  for (int i = 0; i < 25; ++i)
    x.data[i] = i;
  Conv2dGeometry g;
  g.stride = {2, 2};
  g.dilation = {2, 2};
  expectNear(ok(conv2d(x, filled({1, 1, 2, 2}, 1), nullptr, g)), {1, 1, 2, 2},
             {24, 32, 64, 72});
}

TEST(ReferenceKernels, Conv2dAsymmetricPadding) {
  // padding='same' with a 2x2 kernel pads one row and column at the end
  // (top 0, left 0, bottom 1, right 1): a 3x3 input keeps its size. With
  // ones everywhere each output counts the taps that land on the input.
  Conv2dGeometry g;
  g.padding = {0, 0, 1, 1};
  expectNear(ok(conv2d(filled({1, 1, 3, 3}, 1), filled({1, 1, 2, 2}, 1),
                       nullptr, g)),
             {1, 1, 3, 3}, {4, 4, 2, 4, 4, 2, 2, 2, 1});
}

TEST(ReferenceKernels, Conv2dChannelsAndBias) {
  // Two input channels, two filters of 1x1: y[o] = sum_c w[o][c] x[c] + b[o].
  Tensor x = t({1, 2, 1, 2}, {1, 2, 10, 20});
  Tensor w = t({2, 2, 1, 1}, {1, 1, 2, -1});
  Tensor b = t({2}, {0, 100});
  // o = 0: [1 + 10, 2 + 20]; o = 1: [2 - 10 + 100, 4 - 20 + 100].
  expectNear(ok(conv2d(x, w, &b, Conv2dGeometry())), {1, 2, 1, 2},
             {11, 22, 92, 84});
  EXPECT_FALSE(conv2d(x, filled({2, 3, 1, 1}, 1), nullptr, {}).ok());
}

TEST(ReferenceKernels, Conv2dGradientsAreAdjoints) {
  // For the linear map y = conv2d(x, w): <conv2d(x, w), dy> equals
  // <x, grad_input(dy, w)> and <w, grad_weight(x, dy)>, for any dy. Stride 2,
  // asymmetric padding and dilation so that every index path is exercised.
  std::mt19937 rng(42);
  Conv2dGeometry g;
  g.stride = {2, 2};
  g.padding = {1, 0, 2, 1};
  g.dilation = {1, 2};
  Shape xShape = {2, 3, 7, 6}, wShape = {4, 3, 3, 2};
  Tensor x = random(xShape, rng), w = random(wShape, rng);
  Tensor y = ok(conv2d(x, w, nullptr, g));
  // Ho = (7 + 1 + 2 - 1*(3-1) - 1)/2 + 1 = 4, Wo = (6 + 0 + 1 - 2*(2-1) - 1)/2 + 1 = 3.
  ASSERT_EQ(y.shape, (Shape{2, 4, 4, 3}));
  Tensor dy = random(y.shape, rng);
  Tensor dx = ok(conv2dGradInput(dy, w, g, xShape));
  Tensor dw = ok(conv2dGradWeight(x, dy, g, wShape));
  ASSERT_EQ(dx.shape, xShape);
  ASSERT_EQ(dw.shape, wShape);
  double reference = dot(y, dy);
  EXPECT_NEAR(dot(x, dx), reference, 1e-10);
  EXPECT_NEAR(dot(w, dw), reference, 1e-10);
  // A gradient of the wrong shape is reported.
  EXPECT_FALSE(conv2dGradInput(x, w, g, xShape).ok());
  EXPECT_FALSE(conv2dGradWeight(x, x, g, wShape).ok());
}

//===----------------------------------------------------------------------===//
// one_hot (the losses are composites: CompositeLossTest.cpp)
//===----------------------------------------------------------------------===//

TEST(ReferenceKernels, OneHot) {
  expectNear(ok(oneHot(indices({2, 0}), 3)), {2, 3}, {0, 0, 1, 1, 0, 0});
  EXPECT_FALSE(oneHot(indices({3}), 3).ok());
  EXPECT_FALSE(oneHot(t({1}, {0}), 3).ok()); // float indices
}

//===----------------------------------------------------------------------===//
// Batch norm
//===----------------------------------------------------------------------===//

TEST(ReferenceKernels, BatchNormTraining) {
  // One channel, x = [1, 2, 3, 4]: mean 2.5, biased variance
  // (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25, unbiased 5/3. With momentum 0.1
  // from (0, 1): running mean 0.25, running var 0.9 + 0.1 * 5/3.
  Tensor x = t({4, 1}, {1, 2, 3, 4});
  Tensor w = t({1}, {2}), b = t({1}, {1});
  double eps = 1e-5;
  BatchNormResult out = batchNorm(x, &w, &b, t({1}, {0}), t({1}, {1}), eps,
                                  0.1, /*training=*/true);
  ASSERT_TRUE(out.ok()) << out.error;
  double s = 1 / std::sqrt(1.25 + eps);
  expectNear(out.result, {4, 1},
             {-1.5 * s * 2 + 1, -0.5 * s * 2 + 1, 0.5 * s * 2 + 1,
              1.5 * s * 2 + 1});
  expectNear(out.runningMean, {1}, {0.25});
  expectNear(out.runningVar, {1}, {0.9 + 0.1 * 5.0 / 3});
  // PyTorch refuses to train with one value per channel.
  EXPECT_FALSE(batchNorm(t({1, 1}, {1}), nullptr, nullptr, t({1}, {0}),
                         t({1}, {1}), eps, 0.1, true)
                   .ok());
}

TEST(ReferenceKernels, BatchNormTrainingPerChannel2d) {
  // x[2, 2, 1, 2]: channel 0 holds {1, 3, 5, 7} (mean 4, biased var 5,
  // unbiased 20/3), channel 1 holds {2, 2, 2, 2} (mean 2, var 0, so eps
  // keeps 0/0 away). No affine; momentum 0.5 from (0, 1).
  Tensor x = t({2, 2, 1, 2}, {1, 3, 2, 2, 5, 7, 2, 2});
  double eps = 1e-5;
  BatchNormResult out = batchNorm(x, nullptr, nullptr, t({2}, {0, 0}),
                                  t({2}, {1, 1}), eps, 0.5, true);
  ASSERT_TRUE(out.ok()) << out.error;
  double s = 1 / std::sqrt(5.0 + eps);
  expectNear(out.result, {2, 2, 1, 2},
             {-3 * s, -1 * s, 0, 0, 1 * s, 3 * s, 0, 0});
  expectNear(out.runningMean, {2}, {2, 1});
  expectNear(out.runningVar, {2}, {0.5 + 0.5 * 20.0 / 3, 0.5});
}

TEST(ReferenceKernels, BatchNormEvalUsesRunningStats) {
  // (x - 1)/sqrt(4 + 0) * 3 - 1 for x = [1, 5]: [-1, 5]; stats unchanged.
  Tensor w = t({1}, {3}), b = t({1}, {-1});
  BatchNormResult out = batchNorm(t({2, 1}, {1, 5}), &w, &b, t({1}, {1}),
                                  t({1}, {4}), 0.0, 0.1, /*training=*/false);
  ASSERT_TRUE(out.ok()) << out.error;
  expectNear(out.result, {2, 1}, {-1, 5});
  expectNear(out.runningMean, {1}, {1});
  expectNear(out.runningVar, {1}, {4});
}

} // namespace
