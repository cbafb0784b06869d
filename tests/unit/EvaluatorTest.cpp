//===- EvaluatorTest.cpp - The reference evaluator on whole modules -------===//
//
// Small firn modules parsed from strings and run by the reference evaluator:
// program state that persists across calls (as the runtime keeps it), the
// batch size flowing from the arguments into numel and means, gradient
// accumulation, func.call, and the errors a test author meets (a parameter
// without a value, an argument of the wrong shape, an unsupported op), each
// reported with the op's location instead of a crash.
//
//===----------------------------------------------------------------------===//
#include "firn/Reference/Evaluator.h"

#include "firn/Dialect/FirnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace firn::reference;

namespace {

Tensor make(std::vector<int64_t> shape, std::vector<double> data,
            bool isInteger = false) {
  Tensor tensor;
  tensor.shape = std::move(shape);
  tensor.data = std::move(data);
  tensor.isInteger = isInteger;
  return tensor;
}

/// A parsed module and an initialized evaluator over it.
class Module {
public:
  explicit Module(const char *source) {
    context.loadDialect<firn::FirnDialect, mlir::func::FuncDialect>();
    module = mlir::parseSourceString<mlir::ModuleOp>(
        source, mlir::ParserConfig(&context), "test.mlir");
    if (!module)
      return;
    evaluator = std::make_unique<Evaluator>(*module);
    initialized = mlir::succeeded(evaluator->initialize(error));
  }

  /// Calls a function that must succeed.
  std::vector<Tensor> call(llvm::StringRef name, std::vector<Tensor> args) {
    std::vector<Tensor> results;
    std::string message;
    EXPECT_TRUE(mlir::succeeded(evaluator->call(name, args, results, message)))
        << message;
    return results;
  }

  /// Calls a function that must fail; returns the message.
  std::string callError(llvm::StringRef name, std::vector<Tensor> args) {
    std::vector<Tensor> results;
    std::string message;
    EXPECT_TRUE(mlir::failed(evaluator->call(name, args, results, message)));
    EXPECT_FALSE(message.empty());
    return message;
  }

  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::unique_ptr<Evaluator> evaluator;
  bool initialized = false;
  std::string error;
};

#define ASSERT_LOADED(m)                                                       \
  ASSERT_TRUE((m).module) << "module does not parse";                          \
  ASSERT_TRUE((m).initialized) << (m).error

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

TEST(Evaluator, InitialStateFromConstantsAndBuffers) {
  Module m(R"mlir(
    firn.param @fc.weight : tensor<1x2xf32> frozen init constant = dense<[[1.0, 2.0]]> : tensor<1x2xf32>
    firn.param @fc.bias : tensor<1xf32> frozen init uniform bound 0.5
    firn.buffer @"grad/fc.weight" : tensor<1x2xf32> = dense<0.0> : tensor<1x2xf32>
    firn.buffer @steps : tensor<i64> = dense<3> : tensor<i64>
  )mlir");
  ASSERT_LOADED(m);
  // The uniform-initialized bias has no value until a test sets one.
  EXPECT_EQ(m.evaluator->stateNames(),
            (std::vector<std::string>{"fc.weight", "grad/fc.weight", "steps"}));
  EXPECT_EQ(m.evaluator->getState("fc.bias"), nullptr);
  const Tensor *w = m.evaluator->getState("fc.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(w->data, (std::vector<double>{1.0, 2.0}));
  EXPECT_EQ(m.evaluator->getState("grad/fc.weight")->data,
            (std::vector<double>{0.0, 0.0}));
  const Tensor *steps = m.evaluator->getState("steps");
  EXPECT_TRUE(steps->isInteger);
  EXPECT_EQ(steps->data, (std::vector<double>{3.0}));
}

TEST(Evaluator, StatePersistsAcrossCalls) {
  // Each call doubles the parameter in place and returns it.
  Module m(R"mlir(
    firn.param @w : tensor<2xf32> frozen init constant = dense<[1.0, 2.0]> : tensor<2xf32>
    func.func @double() -> tensor<2xf32> {
      %w = firn.read_param @w : tensor<2xf32>
      %two = firn.constant dense<2.0> : tensor<f32>
      %y = firn.mul %w, %two : tensor<2xf32>, tensor<f32> -> tensor<2xf32>
      firn.write_param %y to @w : tensor<2xf32>
      return %y : tensor<2xf32>
    }
  )mlir");
  ASSERT_LOADED(m);
  EXPECT_EQ(m.call("double", {})[0].data, (std::vector<double>{2, 4}));
  EXPECT_EQ(m.call("double", {})[0].data, (std::vector<double>{4, 8}));
  EXPECT_EQ(m.evaluator->getState("w")->data, (std::vector<double>{4, 8}));
}

TEST(Evaluator, BatchSizeDependentNumelAndMean) {
  Module m(R"mlir(
    func.func @stats(%x: tensor<?x2xf32>) -> (tensor<f32>, tensor<f32>, tensor<f32>) {
      %n = firn.numel %x axes [] : tensor<?x2xf32> -> tensor<f32>
      %b = firn.numel %x axes [0] : tensor<?x2xf32> -> tensor<f32>
      %m = firn.reduce_mean %x axes [] : tensor<?x2xf32> -> tensor<f32>
      return %n, %b, %m : tensor<f32>, tensor<f32>, tensor<f32>
    }
  )mlir");
  ASSERT_LOADED(m);
  // Batch 3 of [0..5]: 6 elements, 3 rows, mean 2.5.
  std::vector<Tensor> r = m.call("stats", {make({3, 2}, {0, 1, 2, 3, 4, 5})});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0].shape.empty());
  EXPECT_EQ(r[0].data[0], 6);
  EXPECT_EQ(r[1].data[0], 3);
  EXPECT_EQ(r[2].data[0], 2.5);
  // Batch 1 of [4, 6]: 2 elements, 1 row, mean 5.
  r = m.call("stats", {make({1, 2}, {4, 6})});
  EXPECT_EQ(r[0].data[0], 2);
  EXPECT_EQ(r[1].data[0], 1);
  EXPECT_EQ(r[2].data[0], 5);
}

TEST(Evaluator, GradientAccumulates) {
  // What firn-autodiff appends before the return: read, add, write back.
  Module m(R"mlir(
    firn.buffer @"grad/fc.weight" : tensor<2x2xf32> = dense<0.0> : tensor<2x2xf32>
    func.func @accumulate(%g: tensor<2x2xf32>) {
      %old = firn.read_buffer @"grad/fc.weight" : tensor<2x2xf32>
      %new = firn.add %old, %g : tensor<2x2xf32>, tensor<2x2xf32> -> tensor<2x2xf32>
      firn.write_buffer %new to @"grad/fc.weight" : tensor<2x2xf32>
      return
    }
  )mlir");
  ASSERT_LOADED(m);
  Tensor g = make({2, 2}, {0.5, -1, 2, 0.25});
  EXPECT_TRUE(m.call("accumulate", {g}).empty());
  m.call("accumulate", {g});
  EXPECT_EQ(m.evaluator->getState("grad/fc.weight")->data,
            (std::vector<double>{1, -2, 4, 0.5}));
}

TEST(Evaluator, MissingParamValueIsAnError) {
  Module m(R"mlir(
    firn.param @fc.weight : tensor<1x2xf32> frozen init uniform bound 0.5
    func.func @predict(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
      %w = firn.read_param @fc.weight : tensor<1x2xf32>
      %y = firn.linear %x, %w : (tensor<?x2xf32>, tensor<1x2xf32>) -> tensor<?x1xf32>
      return %y : tensor<?x1xf32>
    }
  )mlir");
  ASSERT_LOADED(m);
  Tensor x = make({2, 2}, {1, 1, 2, 3});
  std::string error = m.callError("predict", {x});
  EXPECT_EQ(error, "test.mlir:4:12: firn.read_param: parameter @fc.weight has "
                   "no value (init uniform or load: set it with setState "
                   "first)");
  // Once the test supplies the value, the same call works: [1+2, 2+6].
  m.evaluator->setState("fc.weight", make({1, 2}, {1, 2}));
  std::vector<Tensor> y = m.call("predict", {x});
  EXPECT_EQ(y[0].shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(y[0].data, (std::vector<double>{3, 8}));
  // A value of the wrong shape is caught at the read.
  m.evaluator->setState("fc.weight", make({2}, {1, 2}));
  EXPECT_TRUE(contains(m.callError("predict", {x}), "does not fit"));
}

TEST(Evaluator, ArgumentsMustFitTheFunctionType) {
  Module m(R"mlir(
    func.func @loss(%x: tensor<?x2xf32>, %y: tensor<?xi64>) -> tensor<f32> {
      %h = firn.one_hot %y : tensor<?xi64> -> tensor<?x2xf32>
      %p = firn.log_softmax %x axis 1 : tensor<?x2xf32>
      %m = firn.mul %h, %p : tensor<?x2xf32>, tensor<?x2xf32> -> tensor<?x2xf32>
      %s = firn.reduce_mean %m axes [] : tensor<?x2xf32> -> tensor<f32>
      %l = firn.neg %s : tensor<f32>
      return %l : tensor<f32>
    }
  )mlir");
  ASSERT_LOADED(m);
  Tensor labels = make({2}, {0, 1}, /*isInteger=*/true);
  // Wrong inner size.
  std::string error =
      m.callError("loss", {make({2, 3}, std::vector<double>(6, 0)), labels});
  EXPECT_TRUE(contains(error, "@loss: argument 0")) << error;
  EXPECT_TRUE(contains(error, "[2, 3]")) << error;
  // Float where the type says i64.
  EXPECT_TRUE(contains(m.callError("loss", {make({2, 2}, {0, 0, 0, 0}),
                                            make({2}, {0, 1})}),
                       "argument 1"));
  // Two different batch sizes.
  EXPECT_TRUE(contains(m.callError("loss", {make({3, 2}, std::vector<double>(6, 0)),
                                            labels}),
                       "batch size"));
  // Too few arguments; an unknown function.
  EXPECT_TRUE(contains(m.callError("loss", {labels}), "expects 2 arguments"));
  EXPECT_EQ(m.callError("nope", {}), "no function @nope in the module");
  // A class index out of range is reported at the op.
  EXPECT_EQ(m.callError("loss", {make({2, 2}, {0, 0, 0, 0}),
                                 make({2}, {0, 2}, true)}),
            "test.mlir:3:12: firn.one_hot: class index 2 of sample 1 is "
            "out of range [0, 2)");
  // Equal logits: log 2 per sample, averaged over the two classes too.
  std::vector<Tensor> r = m.call("loss", {make({2, 2}, {0, 0, 1, 1}), labels});
  EXPECT_NEAR(r[0].data[0], std::log(2.0) / 2, 1e-15);
}

TEST(Evaluator, CallsOtherFunctions) {
  Module m(R"mlir(
    func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
      %y = firn.relu %x : tensor<?x2xf32>
      return %y : tensor<?x2xf32>
    }
    func.func @main(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
      %a = func.call @layer(%x) : (tensor<?x2xf32>) -> tensor<?x2xf32>
      %b = firn.neg %a : tensor<?x2xf32>
      return %b : tensor<?x2xf32>
    }
  )mlir");
  ASSERT_LOADED(m);
  EXPECT_EQ(m.call("main", {make({1, 2}, {-1, 3})})[0].data,
            (std::vector<double>{0, -3}));
}

TEST(Evaluator, IntegerConstantsAndOneHot) {
  Module m(R"mlir(
    func.func @hot() -> tensor<2x3xf32> {
      %i = firn.constant dense<[2, 0]> : tensor<2xi64>
      %h = firn.one_hot %i : tensor<2xi64> -> tensor<2x3xf32>
      return %h : tensor<2x3xf32>
    }
  )mlir");
  ASSERT_LOADED(m);
  EXPECT_EQ(m.call("hot", {})[0].data, (std::vector<double>{0, 0, 1, 1, 0, 0}));
}

TEST(Evaluator, BatchNormTrainingWritesStatsBack) {
  // x = [[1], [3]]: batch mean 2, unbiased variance 2; momentum 0.5 moves
  // the running stats from (0, 1) to (1, 1.5).
  Module m(R"mlir(
    firn.buffer @bn.running_mean : tensor<1xf32> = dense<0.0> : tensor<1xf32>
    firn.buffer @bn.running_var : tensor<1xf32> = dense<1.0> : tensor<1xf32>
    func.func @step(%x: tensor<?x1xf32>) -> tensor<?x1xf32> {
      %rm = firn.read_buffer @bn.running_mean : tensor<1xf32>
      %rv = firn.read_buffer @bn.running_var : tensor<1xf32>
      %y, %m, %v, %bm, %bv = firn.batch_norm %x stats %rm, %rv eps 1.0e-05 momentum 0.5 training
          : (tensor<?x1xf32>, tensor<1xf32>, tensor<1xf32>)
          -> (tensor<?x1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>)
      firn.write_buffer %m to @bn.running_mean : tensor<1xf32>
      firn.write_buffer %v to @bn.running_var : tensor<1xf32>
      return %y : tensor<?x1xf32>
    }
  )mlir");
  ASSERT_LOADED(m);
  // Normalized with the biased variance 1: [-1, 1] / sqrt(1 + eps).
  std::vector<Tensor> y = m.call("step", {make({2, 1}, {1, 3})});
  EXPECT_NEAR(y[0].data[0], -1 / std::sqrt(1 + 1e-5), 1e-12);
  EXPECT_NEAR(y[0].data[1], 1 / std::sqrt(1 + 1e-5), 1e-12);
  EXPECT_EQ(m.evaluator->getState("bn.running_mean")->data,
            (std::vector<double>{1}));
  EXPECT_EQ(m.evaluator->getState("bn.running_var")->data,
            (std::vector<double>{1.5}));
}

TEST(Evaluator, DropoutMasksAreSeededCountedAndReproducible) {
  Module m(R"mlir(
    module attributes {firn.seed = 7 : i64} {
      firn.buffer @"rng/step" : tensor<i64> = dense<0> : tensor<i64>
      func.func @eval(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
        %y = firn.dropout %x p 0.5 : tensor<?x2xf32>
        return %y : tensor<?x2xf32>
      }
      func.func @train(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
        %k = firn.advance_counter @"rng/step" : tensor<i64>
        %y = firn.dropout %x key %k p 0.25 stream 3 training : tensor<?x2xf32>
        return %y : tensor<?x2xf32>
      }
    }
  )mlir");
  ASSERT_LOADED(m);
  Tensor x = make({1, 2}, {1, 2});
  EXPECT_EQ(m.call("eval", {x})[0].data, x.data);

  // 4000 ones: each element is 0 or 1/(1-p), about p of them 0, and the
  // counter moves on every call, so two steps draw different masks.
  Tensor ones = make({2000, 2}, std::vector<double>(4000, 1.0));
  std::vector<double> first = m.call("train", {ones})[0].data;
  std::vector<double> second = m.call("train", {ones})[0].data;
  int zeros = 0;
  for (double v : first) {
    EXPECT_TRUE(v == 0.0 || std::fabs(v - 1 / 0.75) < 1e-6) << v;
    zeros += v == 0.0;
  }
  EXPECT_NEAR(zeros / 4000.0, 0.25, 0.03);
  EXPECT_NE(first, second);
  EXPECT_EQ(m.evaluator->getState("rng/step")->data,
            (std::vector<double>{2}));
  // The mask is a function of (seed, key, stream, index) alone: back to key
  // 0, the first mask again.
  Tensor zero = *m.evaluator->getState("rng/step");
  zero.data[0] = 0;
  m.evaluator->setState("rng/step", zero);
  EXPECT_EQ(m.call("train", {ones})[0].data, first);
}

TEST(Evaluator, UnsupportedOpIsAnError) {
  Module m(R"mlir(
    func.func @f() -> tensor<f32> {
      %c = firn.constant dense<1.0> : tensor<f32>
      return %c : tensor<f32>
    }
    func.func @g() {
      %f = func.constant @f : () -> tensor<f32>
      return
    }
  )mlir");
  ASSERT_LOADED(m);
  EXPECT_EQ(m.callError("g", {}), "test.mlir:7:12: func.constant: not "
                                  "supported by the reference evaluator");
}

double dot(const Tensor &a, const Tensor &b) {
  EXPECT_EQ(a.shape, b.shape);
  double sum = 0;
  for (size_t i = 0; i < a.data.size(); ++i)
    sum += a.data[i] * b.data[i];
  return sum;
}

/// Deterministic values in [-1, 1).
Tensor ramp(std::vector<int64_t> shape) {
  Tensor t = make(shape, {});
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    t.data.push_back(std::sin(1.7 * static_cast<double>(i) + 0.3));
  return t;
}

TEST(Evaluator, ConvolutionGradientsTakeTheBatchFromTheirOperands) {
  // The shapes of ops.mlir: stride 2 leaves the input size ambiguous, so
  // conv2d_grad_input's result type fixes it and the batch comes from dy.
  // The adjoint identities hold for the batch of 2 supplied at run time.
  Module m(R"mlir(
    func.func @adjoint(%x: tensor<?x2x5x5xf32>, %k: tensor<4x2x3x3xf32>, %dy: tensor<?x4x3x3xf32>)
        -> (tensor<?x4x3x3xf32>, tensor<?x2x5x5xf32>, tensor<4x2x3x3xf32>) {
      %y = firn.conv2d %x, %k stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x2x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<?x4x3x3xf32>
      %dx = firn.conv2d_grad_input %dy, %k stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x4x3x3xf32>, tensor<4x2x3x3xf32>) -> tensor<?x2x5x5xf32>
      %dk = firn.conv2d_grad_weight %x, %dy stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x2x5x5xf32>, tensor<?x4x3x3xf32>) -> tensor<4x2x3x3xf32>
      return %y, %dx, %dk : tensor<?x4x3x3xf32>, tensor<?x2x5x5xf32>, tensor<4x2x3x3xf32>
    }
  )mlir");
  ASSERT_LOADED(m);
  Tensor x = ramp({2, 2, 5, 5}), k = ramp({4, 2, 3, 3}), dy = ramp({2, 4, 3, 3});
  std::vector<Tensor> r = m.call("adjoint", {x, k, dy});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[1].shape, x.shape);
  EXPECT_NEAR(dot(r[0], dy), dot(x, r[1]), 1e-12);
  EXPECT_NEAR(dot(r[0], dy), dot(k, r[2]), 1e-12);
}

TEST(Evaluator, BatchFlowsThroughShapeOps) {
  // reshape keeps the batch; matmul transpose_lhs contracts it away
  // (x^T x for x = [[1, 2], [3, 4]] is [[10, 14], [14, 20]]); broadcast_like
  // takes it from its second operand.
  Module m(R"mlir(
    func.func @f(%x: tensor<?x1x2xf32>) -> (tensor<2x2xf32>, tensor<?x2xf32>) {
      %r = firn.reshape %x : tensor<?x1x2xf32> -> tensor<?x2xf32>
      %g = firn.matmul %r, %r transpose_lhs : tensor<?x2xf32>, tensor<?x2xf32> -> tensor<2x2xf32>
      %one = firn.constant dense<1.0> : tensor<f32>
      %b = firn.broadcast_like %one, %r : tensor<f32>, tensor<?x2xf32> -> tensor<?x2xf32>
      return %g, %b : tensor<2x2xf32>, tensor<?x2xf32>
    }
  )mlir");
  ASSERT_LOADED(m);
  std::vector<Tensor> r = m.call("f", {make({2, 1, 2}, {1, 2, 3, 4})});
  EXPECT_EQ(r[0].data, (std::vector<double>{10, 14, 14, 20}));
  EXPECT_EQ(r[1].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(r[1].data, (std::vector<double>{1, 1, 1, 1}));
}

TEST(Evaluator, SeedThreeTrainStep) {
  // Seed 003's forward and loss (two 3x3 convolutions and a 3200x20 linear,
  // all weights 0.1, batch 8 of ones, every target class 1). All 20 logits
  // are equal, so the loss is log 20. It also keeps the evaluator fast
  // enough for the seeds' sizes.
  Module m(R"mlir(
    firn.param @conv1.weight : tensor<16x3x3x3xf32> frozen init constant = dense<1.000000e-01> : tensor<16x3x3x3xf32>
    firn.param @conv2.weight : tensor<32x16x3x3xf32> frozen init constant = dense<1.000000e-01> : tensor<32x16x3x3xf32>
    firn.param @linear.weight : tensor<20x3200xf32> frozen init constant = dense<1.000000e-01> : tensor<20x3200xf32>
    func.func @train_step(%arg0: tensor<?x3x10x10xf32>, %arg1: tensor<?xi64>) -> tensor<f32> {
      %0 = firn.read_param @conv1.weight : tensor<16x3x3x3xf32>
      %1 = firn.conv2d %arg0, %0 stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x3x10x10xf32>, tensor<16x3x3x3xf32>) -> tensor<?x16x10x10xf32>
      %2 = firn.read_param @conv2.weight : tensor<32x16x3x3xf32>
      %3 = firn.conv2d %1, %2 stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x16x10x10xf32>, tensor<32x16x3x3xf32>) -> tensor<?x32x10x10xf32>
      %4 = firn.reshape %3 : tensor<?x32x10x10xf32> -> tensor<?x3200xf32>
      %5 = firn.read_param @linear.weight : tensor<20x3200xf32>
      %6 = firn.linear %4, %5 : (tensor<?x3200xf32>, tensor<20x3200xf32>) -> tensor<?x20xf32>
      %7 = firn.one_hot %arg1 : tensor<?xi64> -> tensor<?x20xf32>
      %8 = firn.log_softmax %6 axis 1 : tensor<?x20xf32>
      %9 = firn.mul %7, %8 : tensor<?x20xf32>, tensor<?x20xf32> -> tensor<?x20xf32>
      %10 = firn.reduce_sum %9 axes [] : tensor<?x20xf32> -> tensor<f32>
      %11 = firn.neg %10 : tensor<f32>
      %12 = firn.reduce_sum %7 axes [] : tensor<?x20xf32> -> tensor<f32>
      %13 = firn.div %11, %12 : tensor<f32>, tensor<f32> -> tensor<f32>
      return %13 : tensor<f32>
    }
  )mlir");
  ASSERT_LOADED(m);
  Tensor images = make({8, 3, 10, 10}, std::vector<double>(8 * 300, 1.0));
  Tensor targets = make({8}, std::vector<double>(8, 1.0), /*isInteger=*/true);
  std::vector<Tensor> loss = m.call("train_step", {images, targets});
  ASSERT_EQ(loss.size(), 1u);
  EXPECT_NEAR(loss[0].data[0], std::log(20.0), 1e-12);
}

} // namespace
