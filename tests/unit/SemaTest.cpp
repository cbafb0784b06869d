//===- SemaTest.cpp - Semantic analysis: resolution and shape inference ---===//
//
// What analysis concludes about a program, checked against PyTorch's rules:
// parameter names, order and shapes, default initialization bounds, frozen
// sets, optimizer defaults and ownership, and the inferred type of each
// forward expression. Errors are covered by the lit tests in
// tests/lit/Frontend/errors, which check the full rendered diagnostic.
//
//===----------------------------------------------------------------------===//
#include "firn/Frontend/Diagnostics.h"
#include "firn/Frontend/Parser.h"
#include "firn/Frontend/Program.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

using namespace firn;

namespace {
constexpr int64_t N = shape::kBatch;

/// Parses and analyzes `source`; the AST must outlive the program, so both
/// live here.
struct Analyzed {
  explicit Analyzed(const std::string &source)
      : diags("test.firn", source), module(parseModule(diags)) {
    if (module)
      program = analyze(*module, diags);
  }
  DiagnosticEngine diags;
  std::optional<ast::Module> module;
  std::optional<Program> program;

  const Parameter &param(const std::string &name) const {
    for (const Parameter &p : program->params)
      if (p.name == name)
        return p;
    throw std::runtime_error("no parameter " + name);
  }
};

const char *kTinyNet = R"(model TinyNet {
  fc1 = Linear(2, 2)
  fc2 = Linear(2, 2)
  fc3 = Linear(2, 1, bias=false)
  freeze fc2
  forward(x: f32[N, 2]) -> f32[N, 1] {
    h = relu(fc1(x))
    h = relu(fc2(h))
    return fc3(h)
  }
}
train {
  target y: f32[N, 1]
  loss = mse(output, y)
  optimizer opt = SGD([fc1, fc2], lr=0.1, momentum=0.9)
}
)";

TEST(Sema, ParametersInPyTorchOrderWithShapes) {
  Analyzed a(kTinyNet);
  ASSERT_TRUE(a.program) << a.diags.text();
  std::vector<std::string> names;
  for (const Parameter &p : a.program->params)
    names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias",
                                             "fc2.weight", "fc2.bias",
                                             "fc3.weight"}));
  EXPECT_EQ(a.param("fc1.weight").shape, (shape::Shape{2, 2}));
  EXPECT_EQ(a.param("fc3.weight").shape, (shape::Shape{1, 2}));
}

TEST(Sema, DefaultInitIsPyTorchsUniformBound) {
  Analyzed a(kTinyNet);
  ASSERT_TRUE(a.program) << a.diags.text();
  const Parameter &w = a.param("fc1.weight");
  EXPECT_EQ(w.init, ParamInit::Uniform);
  EXPECT_DOUBLE_EQ(w.bound, 1.0 / std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(a.param("fc1.bias").bound, 1.0 / std::sqrt(2.0));
}

TEST(Sema, FreezeAndOwnership) {
  Analyzed a(kTinyNet);
  ASSERT_TRUE(a.program) << a.diags.text();
  EXPECT_TRUE(a.param("fc1.weight").trainable);
  EXPECT_FALSE(a.param("fc2.weight").trainable);
  EXPECT_FALSE(a.param("fc2.bias").trainable);
  // fc2 is frozen but selected: owned, never updated (seed 001's rule).
  EXPECT_EQ(a.param("fc2.bias").optimizer, std::optional<size_t>(0));
  // fc3 is trainable but owned by no optimizer.
  EXPECT_FALSE(a.param("fc3.weight").optimizer.has_value());
}

TEST(Sema, OptimizerDefaultsFilledIn) {
  Analyzed a(kTinyNet);
  ASSERT_TRUE(a.program) << a.diags.text();
  ASSERT_EQ(a.program->optimizers.size(), 1u);
  const HyperParams &g = a.program->optimizers[0].groups.at(0);
  EXPECT_EQ(std::get<double>(g.at("lr")), 0.1);
  EXPECT_EQ(std::get<double>(g.at("momentum")), 0.9);
  EXPECT_EQ(std::get<double>(g.at("dampening")), 0.0);
  EXPECT_EQ(std::get<bool>(g.at("nesterov")), false);
}

TEST(Sema, ExpressionTypes) {
  Analyzed a(kTinyNet);
  ASSERT_TRUE(a.program) << a.diags.text();
  const ast::ForwardDef &f = *a.program->forward;
  EXPECT_EQ(a.program->types.at(f.body[0].value.get()).shape,
            (shape::Shape{N, 2}));
  EXPECT_EQ(a.program->output.shape, (shape::Shape{N, 1}));
  EXPECT_EQ(a.program->types.at(a.program->loss).shape, shape::Shape{});
}

TEST(Sema, ConvSamePaddingAndFlatten) {
  Analyzed a(R"(model M {
  conv = Conv2d(1, 2, kernel_size=4, padding='same', bias=false)
  linear = Linear(18, 3)
  forward(x: f32[N, 1, 3, 3]) {
    return linear(flatten(conv(x)))
  }
}
)");
  ASSERT_TRUE(a.program) << a.diags.text();
  // Where the padding goes: tests/lit/Frontend/conv_same_padding.firn.
  EXPECT_EQ(a.program->output.shape, (shape::Shape{N, 3}));
  EXPECT_DOUBLE_EQ(a.param("conv.weight").bound, 1.0 / std::sqrt(16.0));
}

TEST(Sema, InitRetypesAndFills) {
  Analyzed a(R"(model M {
  a = Linear(1, 2)
  init * = fill(0.5)
  init a.weight = [[5.0], [7.0]]
  init a.bias: f32[1] = [3.0]
  forward(x: f32[N, 1]) { return a(x) }
}
)");
  ASSERT_TRUE(a.program) << a.diags.text();
  EXPECT_EQ(a.param("a.weight").values, (std::vector<double>{5.0, 7.0}));
  EXPECT_EQ(a.param("a.bias").shape, (shape::Shape{1}));
  EXPECT_EQ(a.param("a.bias").values, (std::vector<double>{3.0}));
  EXPECT_EQ(a.program->output.shape, (shape::Shape{N, 2}));
}

TEST(Sema, GroupsOverrideOptimizerDefaults) {
  Analyzed a(R"(model M {
  fc1 = Linear(2, 2)
  fc2 = Linear(2, 1)
  forward(x: f32[N, 2]) { return fc2(fc1(x)) }
}
train {
  loss = sum(output)
  optimizer adam = Adam(weight_decay=1e-4) {
    group([fc1], lr=1e-4)
    group([fc2.*])
  }
}
)");
  ASSERT_TRUE(a.program) << a.diags.text();
  const Optimizer &adam = a.program->optimizers[0];
  ASSERT_EQ(adam.groups.size(), 2u);
  EXPECT_EQ(std::get<double>(adam.groups[0].at("lr")), 1e-4);
  EXPECT_EQ(std::get<double>(adam.groups[1].at("lr")), 1e-3);
  EXPECT_EQ(std::get<double>(adam.groups[1].at("weight_decay")), 1e-4);
  auto betas = std::get<std::pair<double, double>>(adam.groups[1].at("betas"));
  EXPECT_EQ(betas, std::make_pair(0.9, 0.999));
  EXPECT_EQ(a.param("fc2.bias").group, std::optional<size_t>(1));
}

TEST(Sema, BatchNormHasBuffersAndConstantInit) {
  Analyzed a(R"(model M {
  bn = BatchNorm2d(3)
  forward(x: f32[N, 3, 4, 4]) { return bn(x) }
}
)");
  ASSERT_TRUE(a.program) << a.diags.text();
  EXPECT_EQ(a.param("bn.weight").values, (std::vector<double>{1.0}));
  EXPECT_EQ(a.param("bn.bias").values, (std::vector<double>{0.0}));
  ASSERT_EQ(a.program->buffers.size(), 3u);
  EXPECT_EQ(a.program->buffers[1].name, "bn.running_var");
  EXPECT_EQ(a.program->buffers[1].initialValue, 1.0);
  // PyTorch's state_dict has num_batches_tracked, an int64 count.
  EXPECT_EQ(a.program->buffers[2].name, "bn.num_batches_tracked");
  EXPECT_TRUE(a.program->buffers[2].counter);
  EXPECT_TRUE(a.program->buffers[2].shape.empty());
  // momentum's default and momentum=None: tests/lit/Frontend/batchnorm_momentum.firn.
}

TEST(Sema, ReportsFirstErrorOnly) {
  Analyzed a(R"(model M {
  fc = Linear(2, 3)
  forward(x: f32[N, 4]) { return fc(x) + undefined }
}
)");
  EXPECT_FALSE(a.program);
  EXPECT_NE(a.diags.text().find("test.firn:3:34: error: shape mismatch in "
                                "layer 'fc': linear input [N, 4] has 4 "
                                "features but the weight [3, 2] expects 2"),
            std::string::npos)
      << a.diags.text();
  EXPECT_EQ(a.diags.text().find("undefined"), a.diags.text().rfind("undefined"));
}

/// The diagnostic for a model whose forward takes `input`, or "" if valid.
std::string inputError(const std::string &input) {
  Analyzed a("model M {\n  forward(x: " + input + ") { return relu(x) }\n}\n");
  return a.program ? "" : a.diags.text();
}

TEST(Sema, TensorsAreBoundedByHalidesTwoGigabytes) {
  // Halide without large_buffers indexes at most 2^31 - 1 bytes.
  EXPECT_EQ(inputError("f32[N, 536870911]"), ""); // 2147483644 bytes
  EXPECT_EQ(inputError("f32[4, 134217727]"), "");
  EXPECT_NE(inputError("f32[N, 536870912]").find(
                "is too large: 2147483648 bytes per sample"),
            std::string::npos);
  EXPECT_NE(inputError("f32[2, 268435456]").find(
                "is too large: 2147483648 bytes;"),
            std::string::npos);
  // 2^64 elements wrap to 0 in unchecked arithmetic.
  EXPECT_NE(inputError("f32[N, 4294967296, 4294967296]")
                .find("more than 9223372036854775807 bytes"),
            std::string::npos);
}

TEST(Sema, ManyLayersTakeLinearTime) {
  // A linear search per layer lookup made 50,000 layers take 10 s; 100,000
  // would take 40, and as many `freeze` statements longer still. Indexed, they take a fraction of a second (the bound is
  // loose enough for sanitized builds).
  std::string source = "model M {\n";
  for (int i = 0; i < 100000; ++i)
    source += "  l" + std::to_string(i) + " = Linear(2, 2)\n";
  for (int i = 1; i < 100000; i += 2) // `freeze name` scanned every parameter
    source += "  freeze l" + std::to_string(i) + "\n";
  source += "  forward(x: f32[N, 2]) { return l99999(l0(x)) }\n}\n";
  auto start = std::chrono::steady_clock::now();
  Analyzed a(source);
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  ASSERT_TRUE(a.program) << a.diags.text();
  EXPECT_EQ(a.program->params.size(), 200000u);
  EXPECT_EQ(a.program->findLayer("l99999"), &a.program->layers.back());
  EXPECT_TRUE(a.param("l99998.bias").trainable);
  EXPECT_FALSE(a.param("l99999.weight").trainable);
  EXPECT_FALSE(a.param("l99999.bias").trainable);
  EXPECT_LT(seconds, 8.0);
}

/// The parameters a `freeze` of `selector` freezes in a two-layer model.
std::vector<std::string> frozenBy(const std::string &selector) {
  Analyzed a("model M {\n  fc1 = Linear(2, 2)\n  conv2 = Linear(2, 2)\n"
             "  freeze " +
             selector + "\n  forward(x: f32[N, 2]) { return conv2(fc1(x)) }\n}\n");
  EXPECT_TRUE(a.program) << a.diags.text();
  std::vector<std::string> frozen;
  if (a.program)
    for (const Parameter &p : a.program->params)
      if (!p.trainable)
        frozen.push_back(p.name);
  return frozen;
}

TEST(Sema, GlobsMatchLikePythonsFnmatch) {
  // Expected sets from fnmatch.fnmatchcase over the four names.
  using Names = std::vector<std::string>;
  EXPECT_EQ(frozenBy("*.bias"), (Names{"fc1.bias", "conv2.bias"}));
  EXPECT_EQ(frozenBy("fc?.w*"), (Names{"fc1.weight"}));
  EXPECT_EQ(frozenBy("*on*t"), (Names{"conv2.weight"}));
  EXPECT_EQ(frozenBy("c*.*s"), (Names{"conv2.bias"}));
  EXPECT_EQ(frozenBy("**c**.**b*"), (Names{"fc1.bias", "conv2.bias"}));
  EXPECT_EQ(frozenBy("*"),
            (Names{"fc1.weight", "fc1.bias", "conv2.weight", "conv2.bias"}));
  // Issue 11: the recursive matcher overflowed the stack on long selectors.
  EXPECT_EQ(frozenBy(std::string(1000000, '*') + "bias"),
            (Names{"fc1.bias", "conv2.bias"}));
}
} // namespace
