//===- GradCheckTest.cpp - Gradient rules against finite differences ------===//
//
// For every differentiable op: a module whose parameters are the op's float
// operands and whose loss is sum(op(...)^2) (or %y itself when it is a scalar loss)
// goes through the firn-autodiff pass; the reference evaluator runs it in
// double precision, and each gradient it accumulates is compared with the
// central difference (f(p + h) - f(p - h)) / 2h of the same evaluator's
// loss. Independent of the rules' own code: only the forward semantics are
// shared.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnOps.h"
#include "firn/Reference/Evaluator.h"
#include "firn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

using namespace firn;
using reference::Tensor;

namespace {

/// A parameter of the test module: its shape and the range its random
/// values come from (away from kinks and singularities of the op).
struct Operand {
  std::string name;
  std::vector<int64_t> shape;
  double low = -1.0, high = 1.0;
};

struct GradCase {
  const char *name;
  std::vector<Operand> params;
  std::string body;               ///< Defines %y from the %<param> values.
  std::string args;               ///< Extra @train_step arguments.
  std::vector<Tensor> argValues;  ///< Their values.
  bool yIsLoss = false;           ///< %y is already the scalar loss.
};

std::string tensorType(const std::vector<int64_t> &shape) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + "f32>";
}

/// The module: parameters, @train_step reading them, loss = sum(y * y).
std::string moduleText(const GradCase &c, const std::string &yType) {
  std::string text;
  for (const Operand &p : c.params)
    text += "firn.param @" + p.name + " : " + tensorType(p.shape) +
            " trainable init load\n";
  text += "func.func @train_step(" + c.args + ") -> tensor<f32> {\n";
  for (const Operand &p : c.params)
    text += "  %" + p.name + " = firn.read_param @" + p.name + " : " +
            tensorType(p.shape) + "\n";
  text += c.body + "\n";
  if (c.yIsLoss) {
    text += "  return %y : tensor<f32>\n}\n";
    return text;
  }
  text += "  %sq = firn.mul %y, %y : " + yType + ", " + yType + " -> " +
          yType + "\n";
  text += "  %loss = firn.reduce_sum %sq axes [] : " + yType +
          " -> tensor<f32>\n  return %loss : tensor<f32>\n}\n";
  return text;
}

/// Deterministic values in [low, high] that stay away from zero when the
/// range straddles it (so relu's kink is not sampled).
Tensor randomTensor(const Operand &p, uint64_t &seed) {
  Tensor t;
  t.shape = p.shape;
  for (int64_t i = 0, n = t.numel(); i < n; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = static_cast<double>(seed >> 11) / static_cast<double>(1ULL << 53);
    double v = p.low + (p.high - p.low) * u;
    if (p.low < 0 && p.high > 0 && std::fabs(v) < 0.1)
      v += v < 0 ? -0.1 : 0.1;
    t.data.push_back(v);
  }
  return t;
}

void checkCase(const GradCase &c, const std::string &yType) {
  SCOPED_TRACE(c.name);
  mlir::MLIRContext context;
  context.loadDialect<FirnDialect, mlir::func::FuncDialect>();
  std::string text = moduleText(c, yType);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module) << text;
  mlir::PassManager pm(&context);
  pm.addPass(createFirnAutodiff());
  ASSERT_TRUE(mlir::succeeded(pm.run(*module))) << text;

  reference::Evaluator eval(*module);
  std::string error;
  ASSERT_TRUE(mlir::succeeded(eval.initialize(error))) << error;
  uint64_t seed = 42;
  std::map<std::string, Tensor> values;
  for (const Operand &p : c.params) {
    values[p.name] = randomTensor(p, seed);
    eval.setState(p.name, values[p.name]);
  }
  auto loss = [&]() {
    std::vector<Tensor> results;
    std::string err;
    EXPECT_TRUE(mlir::succeeded(eval.call("train_step", c.argValues, results, err)))
        << err;
    return results.empty() ? NAN : results[0].data[0];
  };
  loss(); // Accumulates each parameter's gradient once.
  // Take every gradient now: the finite-difference calls below accumulate
  // into the same buffers.
  std::map<std::string, Tensor> gradients;
  for (const Operand &p : c.params) {
    const Tensor *grad = eval.getState("grad/" + p.name);
    if (grad) {
      gradients[p.name] = *grad;
    } else {
      // No gradient buffer: the loss must not depend on p (a shape donor).
      gradients[p.name] = values[p.name];
      std::fill(gradients[p.name].data.begin(), gradients[p.name].data.end(),
                0.0);
    }
  }
  for (const Operand &p : c.params) {
    const Tensor &analytic = gradients[p.name];
    const double h = 1e-6;
    for (size_t i = 0; i < analytic.data.size(); ++i) {
      Tensor plus = values[p.name], minus = values[p.name];
      plus.data[i] += h;
      minus.data[i] -= h;
      eval.setState(p.name, plus);
      double fPlus = loss();
      eval.setState(p.name, minus);
      double fMinus = loss();
      double numeric = (fPlus - fMinus) / (2 * h);
      EXPECT_NEAR(analytic.data[i], numeric,
                  1e-6 + 1e-5 * std::fabs(numeric))
          << p.name << "[" << i << "]";
    }
    eval.setState(p.name, values[p.name]);
  }
}

Tensor indices(std::vector<int64_t> shape, std::vector<double> values) {
  Tensor t;
  t.shape = std::move(shape);
  t.data = std::move(values);
  t.isInteger = true;
  return t;
}

TEST(GradCheck, LinearWithBroadcastBias) {
  // Seed 001's shape: a [1] bias on a layer with 4 outputs.
  checkCase({"linear", {{"x", {3, 2}}, {"w", {4, 2}}, {"b", {1}}},
             "  %y = firn.linear %x, %w, %b : (tensor<3x2xf32>, "
             "tensor<4x2xf32>, tensor<1xf32>) -> tensor<3x4xf32>"},
            "tensor<3x4xf32>");
  checkCase({"linear-full-bias", {{"x", {3, 2}}, {"w", {4, 2}}, {"b", {4}}},
             "  %y = firn.linear %x, %w, %b : (tensor<3x2xf32>, "
             "tensor<4x2xf32>, tensor<4xf32>) -> tensor<3x4xf32>"},
            "tensor<3x4xf32>");
  // On a sequence [N, L, in] and on [N, A, B, in]: the same layer at every
  // position (linear_weight_grad sums the weight's gradient over them).
  checkCase({"linear-sequence", {{"x", {2, 3, 2}}, {"w", {4, 2}}, {"b", {4}}},
             "  %y = firn.linear %x, %w, %b : (tensor<2x3x2xf32>, "
             "tensor<4x2xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>"},
            "tensor<2x3x4xf32>");
  checkCase({"linear-rank4", {{"x", {2, 2, 3, 5}}, {"w", {3, 5}}},
             "  %y = firn.linear %x, %w : (tensor<2x2x3x5xf32>, "
             "tensor<3x5xf32>) -> tensor<2x2x3x3xf32>"},
            "tensor<2x2x3x3xf32>");
}

TEST(GradCheck, Conv2dStrideAndPadding) {
  checkCase({"conv-stride2-asymmetric",
             {{"x", {2, 2, 5, 5}}, {"w", {3, 2, 3, 3}}, {"b", {3}}},
             "  %y = firn.conv2d %x, %w, %b stride [2, 2] padding [1, 0, 0, 1] "
             "dilation [1, 1] : (tensor<2x2x5x5xf32>, tensor<3x2x3x3xf32>, "
             "tensor<3xf32>) -> tensor<2x3x2x2xf32>"},
            "tensor<2x3x2x2xf32>");
  checkCase({"conv-dilated-same",
             {{"x", {1, 1, 4, 4}}, {"w", {2, 1, 2, 2}}},
             "  %y = firn.conv2d %x, %w stride [1, 1] padding [1, 1, 0, 0] "
             "dilation [1, 1] : (tensor<1x1x4x4xf32>, tensor<2x1x2x2xf32>) "
             "-> tensor<1x2x4x4xf32>"},
            "tensor<1x2x4x4xf32>");
  checkCase({"conv-dilation2",
             {{"x", {1, 2, 6, 6}}, {"w", {1, 2, 3, 3}}},
             "  %y = firn.conv2d %x, %w stride [1, 1] padding [2, 2, 2, 2] "
             "dilation [2, 2] : (tensor<1x2x6x6xf32>, tensor<1x2x3x3xf32>) "
             "-> tensor<1x1x6x6xf32>"},
            "tensor<1x1x6x6xf32>");
}

TEST(GradCheck, MaxPool2d) {
  // 5 rows do not divide into 2x2 windows: the last row and column are
  // never read, and their gradient is 0.
  checkCase({"maxpool-2x2", {{"x", {2, 2, 5, 5}}},
             "  %y = firn.max_pool2d %x kernel [2, 2] stride [2, 2] padding [0, 0] "
             ": tensor<2x2x5x5xf32> -> tensor<2x2x2x2xf32>"},
            "tensor<2x2x2x2xf32>");
  // Overlapping windows with padding: inputs shared by windows collect
  // the gradient of each window whose maximum they are.
  checkCase({"maxpool-3x3-stride2-pad1", {{"x", {1, 2, 6, 6}}},
             "  %y = firn.max_pool2d %x kernel [3, 3] stride [2, 2] padding [1, 1] "
             ": tensor<1x2x6x6xf32> -> tensor<1x2x3x3xf32>"},
            "tensor<1x2x3x3xf32>");
  checkCase({"maxpool-rect", {{"x", {1, 1, 4, 7}}},
             "  %y = firn.max_pool2d %x kernel [2, 3] stride [1, 2] padding [1, 0] "
             ": tensor<1x1x4x7xf32> -> tensor<1x1x5x3xf32>"},
            "tensor<1x1x5x3xf32>");
}

TEST(GradCheck, AvgPool2d) {
  // A row and column left over; overlapping windows with zero padding,
  // counted in the divisor or not (count_include_pad); rectangular ones.
  checkCase({"avgpool-2x2", {{"x", {2, 2, 5, 5}}},
             "  %y = firn.avg_pool2d %x kernel [2, 2] stride [2, 2] padding [0, 0] "
             "count_include_pad : tensor<2x2x5x5xf32> -> tensor<2x2x2x2xf32>"},
            "tensor<2x2x2x2xf32>");
  for (const char *count : {"count_include_pad ", ""})
    checkCase({"avgpool-3x3-stride2-pad1", {{"x", {1, 2, 6, 6}}},
               std::string("  %y = firn.avg_pool2d %x kernel [3, 3] stride [2, 2] "
                           "padding [1, 1] ") +
                   count + ": tensor<1x2x6x6xf32> -> tensor<1x2x3x3xf32>"},
              "tensor<1x2x3x3xf32>");
  checkCase({"avgpool-rect", {{"x", {1, 1, 4, 7}}},
             "  %y = firn.avg_pool2d %x kernel [2, 3] stride [1, 2] padding [1, 0] "
             ": tensor<1x1x4x7xf32> -> tensor<1x1x5x3xf32>"},
            "tensor<1x1x5x3xf32>");
}

TEST(GradCheck, BroadcastingElementwise) {
  std::vector<Operand> ops = {{"a", {3, 1}, 0.5, 1.5}, {"c", {4}, 0.5, 1.5}};
  const char *type = "tensor<3x1xf32>, tensor<4xf32> -> tensor<3x4xf32>";
  for (const char *op : {"add", "sub", "mul", "div"})
    checkCase({op, ops,
               std::string("  %y = firn.") + op + " %a, %c : " + type},
              "tensor<3x4xf32>");
  // max: each operand larger somewhere (no ties: a tie's gradient is split,
  // and finite differences see a kink there).
  checkCase({"max", {{"a", {3, 1}, 0.5, 1.5}, {"c", {4}, 0.9, 1.1}},
             std::string("  %y = firn.max %a, %c : ") + type},
            "tensor<3x4xf32>");
  // pow: a positive base, so that both gradients are defined.
  checkCase({"pow", ops, std::string("  %y = firn.pow %a, %c : ") + type},
            "tensor<3x4xf32>");
}

TEST(GradCheck, SelectByMask) {
  // where(a > c, a, c * c), broadcast: the mask is piecewise constant (no
  // gradient through firn.compare), each branch gets dy where it is chosen.
  // a and c differ by more than the finite-difference step everywhere.
  checkCase({"select", {{"a", {3, 1}, 0.5, 1.5}, {"c", {4}, 0.9, 1.1}},
             "  %m = firn.compare gt, %a, %c : tensor<3x1xf32>, tensor<4xf32> -> "
             "tensor<3x4xf32>\n"
             "  %s = firn.mul %c, %c : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>\n"
             "  %y = firn.select %m, %a, %s : tensor<3x4xf32>, tensor<3x1xf32>, "
             "tensor<4xf32> -> tensor<3x4xf32>"},
            "tensor<3x4xf32>");
}

TEST(GradCheck, Unary) {
  for (const char *op : {"neg", "exp", "log", "sqrt", "relu", "rsqrt", "abs",
                         "tanh", "sigmoid", "silu", "erf", "gelu", "gelu_tanh"}) {
    bool positive = std::string(op) == "log" || std::string(op) == "sqrt" ||
                    std::string(op) == "rsqrt";
    Operand x{"x", {2, 3}, positive ? 0.5 : -1.0, positive ? 2.0 : 1.0};
    checkCase({op, {x},
               std::string("  %y = firn.") + op + " %x : tensor<2x3xf32>"},
              "tensor<2x3xf32>");
  }
  // One process: the sum over the ranks is the input (its gradient, a sum
  // over the ranks again, the gradient itself).
  checkCase({"cross_replica_sum", {{"x", {2, 3}}},
             "  %y = firn.cross_replica_sum %x : tensor<2x3xf32>"},
            "tensor<2x3xf32>");
  checkCase({"dropout-eval", {{"x", {2, 3}}},
             "  %y = firn.dropout %x p 0.5 : tensor<2x3xf32>"},
            "tensor<2x3xf32>");
  // With a fixed key the mask is fixed, so the loss is differentiable in x.
  checkCase({"dropout-training", {{"x", {4, 5}}},
             "  %y = firn.dropout %x key %k p 0.4 stream 2 training : "
             "tensor<4x5xf32>",
             "%k: tensor<i64>", {indices({}, {5})}},
            "tensor<4x5xf32>");
}

TEST(GradCheck, BatchNorm) {
  // Training mode (batch statistics; y does not depend on the running
  // statistics) and eval mode (running statistics, which y depends on).
  std::vector<Operand> ops = {{"x", {3, 2, 2, 2}}, {"w", {2}, 0.5, 1.5},
                              {"b", {2}}, {"rm", {2}}, {"rv", {2}, 0.5, 1.5}};
  const char *types = " : (tensor<3x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>, "
                      "tensor<2xf32>, tensor<2xf32>) -> (tensor<3x2x2x2xf32>, "
                      "tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>)";
  for (const char *mode : {"training", ""})
    checkCase({"batch_norm", ops,
               std::string("  %y, %m, %v, %bm, %bv = firn.batch_norm %x weight %w bias "
                           "%b stats %rm, %rv eps 1.0e-05 momentum 0.1 ") +
                   mode + types},
              "tensor<3x2x2x2xf32>");
  checkCase({"batch_norm-1d-no-affine", {{"x", {4, 3}}, {"rm", {3}}, {"rv", {3}, 0.5, 1.5}},
             "  %y, %m, %v, %bm, %bv = firn.batch_norm %x stats %rm, %rv eps 1.0e-05 "
             "momentum 0.1 training : (tensor<4x3xf32>, tensor<3xf32>, "
             "tensor<3xf32>) -> (tensor<4x3xf32>, tensor<3xf32>, tensor<3xf32>, "
             "tensor<3xf32>, tensor<3xf32>)"},
            "tensor<4x3xf32>");
}

TEST(GradCheck, ReshapeAndTranspose) {
  checkCase({"reshape", {{"x", {2, 6}}},
             "  %y = firn.reshape %x : tensor<2x6xf32> -> tensor<3x4xf32>"},
            "tensor<3x4xf32>");
  checkCase({"transpose-3d", {{"x", {2, 3, 4}}},
             "  %y = firn.transpose %x perm [2, 0, 1] : tensor<2x3x4xf32> -> "
             "tensor<4x2x3xf32>"},
            "tensor<4x2x3xf32>");
}

TEST(GradCheck, MatmulAllTranspositions) {
  struct Variant {
    const char *flags;
    std::vector<int64_t> a, b;
  };
  for (const Variant &v : {Variant{"", {2, 3}, {3, 4}},
                           Variant{"transpose_lhs", {3, 2}, {3, 4}},
                           Variant{"transpose_rhs", {2, 3}, {4, 3}},
                           Variant{"transpose_lhs transpose_rhs", {3, 2}, {4, 3}}})
    checkCase({v.flags, {{"a", v.a}, {"c", v.b}},
               std::string("  %y = firn.matmul %a, %c ") + v.flags + " : " +
                   tensorType(v.a) + ", " + tensorType(v.b) +
                   " -> tensor<2x4xf32>"},
              "tensor<2x4xf32>");
}

TEST(GradCheck, BatchedMatmulAllTranspositions) {
  // [2, 3] batches of products, as attention's heads run them.
  struct Variant {
    const char *flags;
    std::vector<int64_t> a, b;
  };
  for (const Variant &v : {Variant{"", {2, 3, 2, 3}, {2, 3, 3, 4}},
                           Variant{"transpose_lhs", {2, 3, 3, 2}, {2, 3, 3, 4}},
                           Variant{"transpose_rhs", {2, 3, 2, 3}, {2, 3, 4, 3}},
                           Variant{"transpose_lhs transpose_rhs", {2, 3, 3, 2}, {2, 3, 4, 3}}})
    checkCase({v.flags, {{"a", v.a}, {"c", v.b}},
               std::string("  %y = firn.matmul %a, %c ") + v.flags + " : " +
                   tensorType(v.a) + ", " + tensorType(v.b) +
                   " -> tensor<2x3x2x4xf32>"},
              "tensor<2x3x2x4xf32>");
}

TEST(GradCheck, FusedAttention) {
  // Its gradient is firn.attention_grad (here its reference kernel); causal or not,
  // keys of another length than the queries, values of another width.
  for (const char *causal : {"", " causal"}) {
    const bool masked = *causal != 0;
    std::vector<int64_t> q = {2, 3, 4}, k = {2, masked ? 4 : 5, 4},
                         v = {2, masked ? 4 : 5, 3};
    checkCase({causal, {{"q", q}, {"k", k}, {"v", v}},
               std::string("  %y = firn.attention %q, %k, %v scale 0.5") + causal + " : (" +
                   tensorType(q) + ", " + tensorType(k) + ", " + tensorType(v) +
                   ") -> tensor<2x3x3xf32>"},
              "tensor<2x3x3xf32>");
  }
}

TEST(GradCheck, SliceAndConcat) {
  checkCase({"slice", {{"a", {2, 5, 3}}},
             "  %y = firn.slice %a axis 1 start 1 : tensor<2x5x3xf32> -> tensor<2x3x3xf32>"},
            "tensor<2x3x3xf32>");
  checkCase({"concat", {{"a", {2, 2, 3}}, {"c", {2, 1, 3}}},
             "  %y = firn.concat %a, %c, %a axis 1 : tensor<2x2x3xf32>, tensor<2x1x3xf32>, "
             "tensor<2x2x3xf32> -> tensor<2x5x3xf32>"},
            "tensor<2x5x3xf32>");
}

TEST(GradCheck, Reductions) {
  checkCase({"reduce_sum-keepdims", {{"x", {3, 4}}},
             "  %y = firn.reduce_sum %x axes [1] keepdims : tensor<3x4xf32> -> "
             "tensor<3x1xf32>"},
            "tensor<3x1xf32>");
  checkCase({"reduce_sum", {{"x", {3, 4}}},
             "  %y = firn.reduce_sum %x axes [0] : tensor<3x4xf32> -> "
             "tensor<4xf32>"},
            "tensor<4xf32>");
  checkCase({"reduce_mean", {{"x", {2, 3, 4}}},
             "  %y = firn.reduce_mean %x axes [0, 2] : tensor<2x3x4xf32> -> "
             "tensor<3xf32>"},
            "tensor<3xf32>");
  checkCase({"broadcast_like", {{"x", {1, 4}}, {"l", {3, 4}}},
             "  %y = firn.broadcast_like %x, %l : tensor<1x4xf32>, "
             "tensor<3x4xf32> -> tensor<3x4xf32>"},
            "tensor<3x4xf32>");
}

TEST(GradCheck, Softmax) {
  checkCase({"softmax", {{"x", {2, 4}}},
             "  %y = firn.softmax %x axis 1 : tensor<2x4xf32>"},
            "tensor<2x4xf32>");
  checkCase({"log_softmax", {{"x", {3, 2}}},
             "  %y = firn.log_softmax %x axis 0 : tensor<3x2xf32>"},
            "tensor<3x2xf32>");
}

TEST(GradCheck, Embedding) {
  // Ids [2, 3] over 4 rows, row 1 picked three times (its gradient adds up),
  // row 3 never. (padding_idx masks a row's gradient, which is not the
  // derivative: the PyTorch golden model embedding.firn checks it.)
  Tensor ids = indices({2, 3}, {1, 0, 1, 2, 1, 0});
  checkCase({"embedding", {{"w", {4, 5}}},
             "  %y = firn.embedding %w[%i] : (tensor<4x5xf32>, tensor<2x3xi64>) -> "
             "tensor<2x3x5xf32>",
             "%i: tensor<2x3xi64>", {ids}},
            "tensor<2x3x5xf32>");
}

// The losses are composites of the ops above; CompositeLossTest.cpp checks
// their gradients, from DSL source, the same way.

} // namespace
