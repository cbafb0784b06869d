//===- CompositeLossTest.cpp - The losses as IR generation decomposes them ===//
//
// No loss has a fused op: IR generation (MLIRGen) states each as primitive
// ops. These tests run that decomposition, from DSL source through the
// real front end, in the reference evaluator (double precision) on inputs
// whose losses are known in closed form. The golden models compare the same
// losses with PyTorch in float32; this checks the formulas themselves.
//
//===----------------------------------------------------------------------===//
#include "firn/Reference/Evaluator.h"

#include "CompileModel.h"
#include "Reference/Kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

using namespace firn;
using firn::reference::Tensor;

namespace {

/// A float tensor, or with `isInteger` one of class indices.
Tensor make(const reference::Shape &shape, std::vector<double> data, bool isInteger = false) {
  Tensor t = reference::fromData(shape, std::move(data));
  t.isInteger = isInteger;
  return t;
}

/// A model whose output is its input through a Linear layer of `width`
/// features, then `loss` on it and a target of type `target`, compiled by
/// the real front end up to autodiff and loaded in the reference evaluator.
class LossModel {
public:
  LossModel(int width, const std::string &outputShape, const std::string &target,
            const std::string &loss)
      : width(width) {
    std::ostringstream source;
    source << "model M {\n  fc = Linear(" << width << ", " << width << ", bias=false)\n"
           << "  forward(x: f32[N, " << width << "]) -> f32" << outputShape << " {\n"
           << "    return reshape(fc(x), " << outputShape << ")\n  }\n}\n"
           << "train {\n  target y: " << target << "\n  loss = " << loss << "\n"
           << "  optimizer opt = SGD(lr=0.1)\n}\n";
    error = firn::testing::compileModelSource("loss.firn", source.str(), context, Stage::Grad,
                                              model);
    if (!error.empty())
      return;
    evaluator = std::make_unique<reference::Evaluator>(*model.ir);
    if (mlir::failed(evaluator->initialize(error)))
      return;
    std::vector<double> identity(width * width, 0.0);
    for (int i = 0; i < width; ++i)
      identity[i * width + i] = 1.0;
    setWeight(identity);
  }

  void setWeight(std::vector<double> w) {
    evaluator->setState("fc.weight", make({width, width}, std::move(w)));
  }

  /// `function`(x, y)'s loss: eval_loss, or train_step, which also
  /// accumulates the weight's gradient.
  double call(const char *function, const Tensor &x, const Tensor &y) {
    std::vector<Tensor> results;
    std::string message;
    EXPECT_TRUE(mlir::succeeded(evaluator->call(function, {x, y}, results, message)))
        << message;
    return results.empty() ? NAN : results[0].data[0];
  }

  const int width;
  mlir::MLIRContext context;
  firn::testing::CompiledModel model;
  std::unique_ptr<reference::Evaluator> evaluator;
  std::string error;
};

/// eval_loss(x, y) with the Linear layer at the identity: the loss of x.
double evalLoss(int width, const std::string &outputShape, const std::string &target,
                const std::string &loss, const Tensor &x, const Tensor &y) {
  LossModel model(width, outputShape, target, loss);
  EXPECT_EQ(model.error, "");
  return model.error.empty() ? model.call("eval_loss", x, y) : NAN;
}

TEST(CompositeLoss, MseSumsOrAveragesSquaredDifferences) {
  // Differences 0.5, 2, 2, 2: squares sum to 12.25, mean 12.25/4.
  Tensor x = make({2, 2}, {1, 2, 3, 1}), y = make({2, 2}, {0.5, 0, 1, -1});
  EXPECT_NEAR(evalLoss(2, "[N, 2]", "f32[N, 2]", "mse(output, y, reduction='sum')", x, y),
              12.25, 1e-12);
  EXPECT_NEAR(evalLoss(2, "[N, 2]", "f32[N, 2]", "mse(output, y)", x, y), 12.25 / 4, 1e-12);
}

TEST(CompositeLoss, CrossEntropyWithClassIndices) {
  // Row 0: logits [0, 0, 0], class 1: log 3. Row 1: logits [1, 2, 3],
  // class 2: log(e + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2).
  Tensor z = make({2, 3}, {0, 0, 0, 1, 2, 3}), t = make({2}, {1, 2}, true);
  const double row0 = std::log(3.0), row1 = std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  EXPECT_NEAR(evalLoss(3, "[N, 3]", "i64[N]", "cross_entropy(output, y, reduction='sum')", z, t),
              row0 + row1, 1e-12);
  EXPECT_NEAR(evalLoss(3, "[N, 3]", "i64[N]", "cross_entropy(output, y)", z, t),
              (row0 + row1) / 2, 1e-12);
}

TEST(CompositeLoss, CrossEntropyWithProbabilities) {
  // Row 0: logits [0, log 3] -> softmax [1/4, 3/4], target [0.5, 0.25] (it
  // need not sum to 1). Row 1: logits [0, 0], target [1, 0]: log 2. 'mean'
  // divides by N = 2, as PyTorch does for probability targets.
  Tensor z = make({2, 2}, {0, std::log(3.0), 0, 0}), t = make({2, 2}, {0.5, 0.25, 1, 0});
  const double row0 = -(0.5 * std::log(0.25) + 0.25 * std::log(0.75)), row1 = std::log(2.0);
  EXPECT_NEAR(evalLoss(2, "[N, 2]", "f32[N, 2]", "cross_entropy(output, y)", z, t),
              (row0 + row1) / 2, 1e-12);
  EXPECT_NEAR(evalLoss(2, "[N, 2]", "f32[N, 2]", "cross_entropy(output, y, reduction='sum')", z,
                       t),
              row0 + row1, 1e-12);
}

TEST(CompositeLoss, CrossEntropyPerPositionAveragesOverPositions) {
  // Logits [N=1, C=2, d=2]: position 0 has logits [0, 0] (class 0: log 2),
  // position 1 logits [0, log 3] (class 1: log(4/3)). 'mean' divides by
  // N x d = 2.
  Tensor z = make({1, 4}, {0, 0, 0, std::log(3.0)}), t = make({1, 2}, {0, 1}, true);
  EXPECT_NEAR(evalLoss(4, "[N, 2, 2]", "i64[N, 2]", "cross_entropy(output, y)", z, t),
              (std::log(2.0) + std::log(4.0 / 3.0)) / 2, 1e-12);
}

/// Every loss's gradient, the composite's primitives' gradients chained by
/// autodiff, against central differences of the same evaluator's loss in
/// double precision, at random weights (so the logits are generic).
TEST(CompositeLoss, GradientsMatchFiniteDifferences) {
  struct Case {
    const char *outputShape, *target, *loss;
    Tensor y;
  };
  const Tensor x = make({3, 4}, {0.3, -1.2, 0.8, 0.1, -0.5, 0.9, 1.4, -0.2, 0.7, 0.4, -0.9, 1.1});
  const Tensor classes = make({3}, {1, 3, 0}, true);
  const Tensor probabilities =
      make({3, 4}, {0.1, 0.5, 0.2, 0.2, 0.7, 0.1, 0.1, 0.3, 0.25, 0.25, 0.4, 0.1});
  const Tensor values = make({3, 4}, {0.5, -0.1, 0.9, 0.0, 1.5, -2.0, 0.2, 0.3, -0.4, 0.8, 0.6, 1.0});
  const Tensor unitValues =
      make({3, 4}, {0.1, 0.9, 0.3, 0.5, 0.0, 1.0, 0.6, 0.2, 0.8, 0.4, 0.7, 0.05});
  const std::vector<Case> cases = {
      {"[N, 4]", "f32[N, 4]", "mse(output, y)", values},
      {"[N, 4]", "f32[N, 4]", "mse(output, y, reduction='sum')", values},
      {"[N, 4]", "i64[N]", "cross_entropy(output, y)", classes},
      {"[N, 4]", "i64[N]", "cross_entropy(output, y, reduction='sum')", classes},
      {"[N, 4]", "f32[N, 4]", "cross_entropy(output, y)", probabilities},
      {"[N, 2, 2]", "i64[N, 2]", "cross_entropy(output, y)", make({3, 2}, {1, 0, 0, 1, 1, 1}, true)},
      {"[N, 4]", "i64[N]",
       "cross_entropy(output, y, weight=[0.5, 1.0, 2.0, 1.5], ignore_index=3, label_smoothing=0.1)",
       classes},
      {"[N, 4]", "i64[N]", "nll_loss(log_softmax(output, 1), y)", classes},
      {"[N, 4]", "f32[N, 4]", "l1_loss(output, y)", values},
      {"[N, 4]", "f32[N, 4]", "smooth_l1_loss(output, y, beta=0.5)", values},
      {"[N, 4]", "f32[N, 4]", "huber_loss(output, y, delta=0.5)", values},
      {"[N, 4]", "f32[N, 4]", "binary_cross_entropy(sigmoid(output), y)", unitValues},
      {"[N, 4]", "f32[N, 4]", "binary_cross_entropy_with_logits(output, y)", unitValues},
      {"[N, 4]", "f32[N, 4]", "kl_div(log_softmax(output, 1), y, reduction='batchmean')",
       probabilities},
  };
  std::vector<double> w = {0.9,  -0.3, 0.4, 0.2, 0.1, 1.1,  -0.6, 0.5,
                           -0.2, 0.7,  0.8, 0.3, 0.6, -0.4, 0.2,  1.0};
  for (const Case &c : cases) {
    SCOPED_TRACE(c.loss);
    LossModel model(4, c.outputShape, c.target, c.loss);
    ASSERT_EQ(model.error, "");
    model.setWeight(w);
    model.call("train_step", x, c.y);
    const Tensor *grad = model.evaluator->getState("grad/fc.weight");
    ASSERT_TRUE(grad);
    const std::vector<double> analytic = grad->data;
    const double h = 1e-6;
    for (size_t i = 0; i < w.size(); ++i) {
      std::vector<double> plus = w, minus = w;
      plus[i] += h;
      minus[i] -= h;
      model.setWeight(plus);
      const double fPlus = model.call("eval_loss", x, c.y);
      model.setWeight(minus);
      const double fMinus = model.call("eval_loss", x, c.y);
      const double numeric = (fPlus - fMinus) / (2 * h);
      EXPECT_NEAR(analytic[i], numeric, 1e-6 + 1e-5 * std::fabs(numeric)) << "weight " << i;
    }
  }
}

} // namespace
