//===- SeedGoldenTest.cpp - The seed experiments against PyTorch ----------===//
//
// Each seed experiment (examples/seeds/*.firn) and each model of
// tests/fixtures/models/*.firn (every optimizer and option, ten steps with a
// frozen layer and two parameter groups; BatchNorm in train and eval mode,
// three steps; clip_grad_norm and clip_grad_value, ten steps; four
// accumulated micro-batches per Adam step, three steps) is compiled through
// the whole pipeline (front end, autodiff, pruning, optimizer lowering) and
// run by the reference evaluator on the inputs of its PyTorch fixture
// (tests/fixtures/*.safetensors and tests/fixtures/models/*.safetensors,
// written by make_fixtures.py). Per phase of the fixture: gradients after K
// backward passes (each on the fixture's whole inputs, or, where
// `<p>/micro_batches_split` is "true", pass k on rows [k n/K, (k+1) n/K) of
// them), and which parameters have none (their gradient buffer must have
// been pruned), the last pass's loss, every parameter after the optimizer
// step, and every buffer the fixture records (`<p>/buffers/<name>`,
// `<p>/after/<name>`: BatchNorm's running statistics).
//
// Tolerance: 1e-5 relative to the larger of the value and the tensor's
// largest magnitude (PyTorch ran in float32, the evaluator in double). Seed
// 003 alone gets an absolute 1e-4 on top: its conv gradients are exactly
// zero mathematically (all logits are equal) and PyTorch's ~2e-5 there is
// float32 rounding noise (see tests/fixtures/README.md). Likewise the bias
// of the layer right before a train-mode BatchNorm has a gradient that is
// zero mathematically (the batch mean cancels it; PyTorch's is up to 4e-8 of
// noise): that one gradient alone is compared with an absolute 1e-6.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnOps.h"
#include "firn/Frontend/Diagnostics.h"
#include "firn/Frontend/MLIRGen.h"
#include "firn/Frontend/Parser.h"
#include "firn/Frontend/Program.h"
#include "firn/Reference/Evaluator.h"
#include "firn/Runtime/Safetensors.h"
#include "firn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "CompileModel.h"
#include "FixtureTensors.h"
#include "GoldenTolerances.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

using namespace firn;
using reference::Tensor;
using firn::testing::expectClose;
using firn::testing::toTensor;
using firn::testing::zeroGradientTolerance;

namespace {



/// A model and its fixture, relative to the repository root.
struct GoldenCase {
  const char *firn;
  const char *fixture;
};

void PrintTo(const GoldenCase &c, std::ostream *os) {
  *os << c.firn << " with " << c.fixture;
}

std::string stemOf(const std::string &path) {
  size_t slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return name.substr(0, name.rfind('.'));
}

std::string fromRoot(const char *relative) {
  return std::string(FIRN_EXAMPLES_DIR) + "/../" + relative;
}

/// Rows [k n/K, (k+1) n/K) of `t` along its first dimension (size n).
Tensor microBatch(const Tensor &t, int k, int passes) {
  Tensor part = t;
  int64_t rows = t.shape.at(0) / passes;
  int64_t row = t.numel() / t.shape.at(0);
  part.shape[0] = rows;
  part.data.assign(t.data.begin() + k * rows * row,
                   t.data.begin() + (k + 1) * rows * row);
  return part;
}

class SeedGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(SeedGolden, MatchesPyTorch) {
  std::string stem = stemOf(GetParam().firn);
  double absolute = stem == "s003_two_conv" ? 1e-4 : 0.0;

  // Compile the model to the optimized training step.
  std::string path = fromRoot(GetParam().firn);
  mlir::MLIRContext context;
  firn::testing::CompiledModel compiled;
  std::string failure =
      firn::testing::compileModelFile(path, context, Stage::Optimized, compiled);
  ASSERT_EQ(failure, "");
  const auto &program = compiled.program;
  auto &ir = compiled.ir;

  runtime::SafetensorsFile fixture;
  std::string error;
  ASSERT_TRUE(
      runtime::readSafetensors(fromRoot(GetParam().fixture), fixture, error))
      << error;
  reference::Evaluator eval(*ir);
  ASSERT_TRUE(mlir::succeeded(eval.initialize(error))) << error;

  int phases = std::stoi(fixture.metadata.at("phases"));
  for (int phase = 1; phase <= phases; ++phase) {
    std::string p = std::to_string(phase) + "/";
    SCOPED_TRACE(stem + " phase " + std::to_string(phase));
    // Parameters at the start of the phase (seed 004 resets them in phase 2
    // while the optimizer keeps its state).
    for (const Parameter &param : program->params) {
      auto it = fixture.tensors.find(p + "init/" + param.name);
      if (it != fixture.tensors.end())
        eval.setState(param.name, toTensor(it->second));
    }
    // Clear every gradient, as model.zero_grad() does, or where the fixture
    // clears as the model's loop does (`zero_grad optimizer|none`), call the
    // model's own @zero_grad.
    const std::string clearing = fixture.metadata.at(p + "zero_grad_before");
    if (clearing == "all") {
      for (const std::string &name : eval.stateNames())
        if (name.rfind("grad/", 0) == 0) {
          Tensor zeros = *eval.getState(name);
          std::fill(zeros.data.begin(), zeros.data.end(), 0.0);
          eval.setState(name, zeros);
        }
    } else {
      ASSERT_EQ(clearing, program->zeroGrad) << "the fixture clears otherwise";
      std::vector<Tensor> none;
      ASSERT_TRUE(mlir::succeeded(eval.call("zero_grad", {}, none, error)))
          << error;
    }
    std::vector<Tensor> args;
    for (const NamedValue &input : program->inputs)
      args.push_back(toTensor(fixture.tensors.at(p + "input/" + input.name)));
    if (program->target)
      args.push_back(
          toTensor(fixture.tensors.at(p + "input/" + program->target->name)));

    int passes = std::stoi(fixture.metadata.at(p + "backward_passes"));
    // Split fixtures hold the K micro-batches concatenated along axis 0; the
    // others feed every pass the same inputs (seed 004's two passes).
    auto split = fixture.metadata.find(p + "micro_batches_split");
    bool micro = split != fixture.metadata.end() && split->second == "true";
    if (micro) {
      for (const Tensor &arg : args) {
        ASSERT_TRUE(!arg.shape.empty() && arg.shape[0] % passes == 0)
            << "an input of " << (arg.shape.empty() ? 0 : arg.shape[0])
            << " rows does not split into " << passes << " micro-batches";
      }
    }
    std::vector<Tensor> results;
    for (int k = 0; k < passes; ++k) {
      std::vector<Tensor> pass = args;
      if (micro)
        for (Tensor &arg : pass)
          arg = microBatch(arg, k, passes);
      ASSERT_TRUE(mlir::succeeded(
          eval.call("train_step", pass, results, error)))
          << error;
    }
    expectClose(results.at(0), toTensor(fixture.tensors.at(p + "loss")),
                "loss", absolute);

    // The numbers the seeds print, checked directly as well.
    auto near = [&](const std::string &symbol, std::vector<double> values) {
      const Tensor *t = eval.getState(symbol);
      ASSERT_NE(t, nullptr) << symbol;
      ASSERT_EQ(t->data.size(), values.size()) << symbol;
      for (size_t i = 0; i < values.size(); ++i)
        EXPECT_NEAR(t->data[i], values[i], 1e-5 * std::fabs(values[i]) + 1e-6)
            << symbol << "[" << i << "]";
    };
    if (stem == "s001_frozen_branches")
      near("grad/b_Linear.weight", {104, 136, 130, 170});
    if (stem == "s004_linear_adam")
      near("grad/mlp.weight", {0, phase == 1 ? 4.0 : 8.0});

    ASSERT_TRUE(mlir::succeeded(eval.call("optimizer_step", {}, results, error)))
        << error;
    // The gradients as the step left them: .grad after the clips, which
    // overwrite it (@optimizer_step clips first), as the fixture records it.
    for (const Parameter &param : program->params) {
      auto expected = fixture.tensors.find(p + "grad/" + param.name);
      const Tensor *grad = eval.getState("grad/" + param.name);
      if (expected == fixture.tensors.end()) {
        EXPECT_EQ(grad, nullptr)
            << param.name << " has no gradient in PyTorch but keeps one here";
        continue;
      }
      ASSERT_NE(grad, nullptr) << param.name << " lost its gradient";
      expectClose(*grad, toTensor(expected->second), "grad/" + param.name,
                  absolute + zeroGradientTolerance(stem, param.name));
    }
    if (stem == "s001_frozen_branches") {
      near("a_Linear.weight", {-17.0, -18.6});
      near("b_Linear.weight", {5, 6, 7, 8});
    }
    if (stem == "s004_linear_adam")
      near("mlp.weight", {1.0, phase == 1 ? 0.5 : 0.517409});
    for (const Parameter &param : program->params)
      expectClose(*eval.getState(param.name),
                  toTensor(fixture.tensors.at(p + "after/" + param.name)),
                  "after/" + param.name, absolute);

    // Buffers (BatchNorm's running statistics) after the phase: every
    // `<p>/buffers/<name>` key, and any `<p>/after/<name>` key that is not a
    // parameter, against the evaluator's state of that name.
    int buffers = 0;
    for (const auto &[key, value] : fixture.tensors) {
      std::string name;
      if (key.rfind(p + "buffers/", 0) == 0)
        name = key.substr(p.size() + 8);
      else if (key.rfind(p + "after/", 0) == 0 &&
               std::none_of(program->params.begin(), program->params.end(),
                            [&](const Parameter &param) {
                              return p + "after/" + param.name == key;
                            }))
        name = key.substr(p.size() + 6);
      else
        continue;
      const Tensor *state = eval.getState(name);
      ASSERT_NE(state, nullptr) << key << ": no state " << name;
      expectClose(*state, toTensor(value), key, absolute);
      ++buffers;
    }
    // Every buffer the model declares is checked when the fixture has any.
    // (Each buffer is recorded twice, under buffers/ and after/.)
    if (buffers > 0) {
      EXPECT_EQ(buffers, static_cast<int>(2 * program->buffers.size()))
          << "the fixture records " << buffers << " buffer tensors";
    }
  }
}

std::string caseName(const ::testing::TestParamInfo<GoldenCase> &info) {
  return stemOf(info.param.firn);
}

#define SEED(stem)                                                             \
  GoldenCase { "examples/seeds/" stem ".firn", "tests/fixtures/" stem ".safetensors" }
#define MODEL(stem)                                                            \
  GoldenCase {                                                                 \
    "tests/fixtures/models/" stem ".firn",                                     \
        "tests/fixtures/models/" stem ".safetensors"                           \
  }

INSTANTIATE_TEST_SUITE_P(Seeds, SeedGolden,
                         ::testing::Values(SEED("s000_conv_linear"),
                                           SEED("s001_frozen_branches"),
                                           SEED("s002_tinynet_frozen_fc2"),
                                           SEED("s003_two_conv"),
                                           SEED("s004_linear_adam")),
                         caseName);

// Every SGD/Adam/AdamW option firn lowers (and plain SGD and Adam, without
// weight decay), over ten steps with the parameters and the optimizer state
// carried over, each with a frozen layer and two parameter groups with
// different lr (make_fixtures.py, OPTIMIZER_MODELS).
INSTANTIATE_TEST_SUITE_P(OptimizerModels, SeedGolden,
                         ::testing::Values(MODEL("sgd_plain"),
                                           MODEL("adam_plain"),
                                           MODEL("sgd_momentum"),
                                           MODEL("sgd_nesterov"),
                                           MODEL("sgd_maximize"),
                                           MODEL("adam_weight_decay"),
                                           MODEL("adam_amsgrad"),
                                           MODEL("adam_maximize"),
                                           MODEL("adamw"),
                                           MODEL("two_optimizers")),
                         caseName);

// Adagrad, Adamax and RMSprop (plain and centered), ten steps each, with a
// frozen layer and two parameter groups with different lr
// (make_fixtures.py, OPTIMIZER_MODELS).
INSTANTIATE_TEST_SUITE_P(NewOptimizers, SeedGolden,
                         ::testing::Values(MODEL("adagrad"), MODEL("adamax"),
                                           MODEL("rmsprop"),
                                           MODEL("rmsprop_centered")),
                         caseName);

// BatchNorm1d in train mode (batch statistics, running statistics updated)
// and in eval mode (running statistics used, never updated), and BatchNorm2d
// after a convolution in train mode; three SGD steps, with the running
// statistics compared after every phase (make_fixtures.py, BATCHNORM_MODELS).
INSTANTIATE_TEST_SUITE_P(BatchNormModels, SeedGolden,
                         ::testing::Values(MODEL("batchnorm_train"),
                                           MODEL("batchnorm_cumulative"),
                                           MODEL("batchnorm_eval"),
                                           MODEL("batchnorm2d")),
                         caseName);

// Max pooling after conv and ReLU: 2x2 windows, and overlapping 3x3 windows
// with stride 2 and padding 1; three SGD steps (make_fixtures.py, POOL_MODELS).
INSTANTIATE_TEST_SUITE_P(PoolModels, SeedGolden,
                         ::testing::Values(MODEL("maxpool2d"),
                                           MODEL("maxpool2d_overlap")),
                         caseName);

// The elementwise functions of one tensor (layers Tanh, Sigmoid, GELU in both
// forms, SiLU; builtins tanh ... abs) between two Linear layers, and average
// pooling over overlapping, padded windows, and Linear on [N, 5, 4] with a
// mean over the positions, LayerNorm, and the composite losses; three SGD
// steps (layer_models.py).
INSTANTIATE_TEST_SUITE_P(LayerModels, SeedGolden,
                         ::testing::Values(MODEL("activations"), MODEL("avgpool2d"),
                                           MODEL("linear_seq"), MODEL("layernorm"),
                                           MODEL("loss_nll"), MODEL("loss_l1_bce"),
                                           MODEL("sequential"), MODEL("param_refs"),
                                           MODEL("embedding"), MODEL("attention"),
                                           MODEL("gpt_block"), MODEL("rmsnorm"),
                                           MODEL("narrow_cat"), MODEL("split_index"),
                                           MODEL("masks"), MODEL("multihead"),
                                           MODEL("ce_none"), MODEL("conv_groups"), MODEL("conv_strided"), MODEL("conv_chunks"),
                                           MODEL("matmul_vectors"), MODEL("matmul_broadcast"), MODEL("ce_probs"),
                                           MODEL("multihead_padding"), MODEL("ids_padding"),
                                           MODEL("attention_dropout")),
                         caseName);

// clip_grad_norm (2-norm; 1-norm followed by clip_grad_value) and
// clip_grad_value before ten SGD steps with momentum and two groups (the
// clips overwrite the gradient buffers, as PyTorch's .grad; with gradients
// never cleared, or a parameter no optimizer owns, the next backward adds to
// the clipped value), and Adam over four accumulated micro-batches per step
// (make_fixtures.py, CLIP_MODELS and ACCUMULATE_MODELS).
INSTANTIATE_TEST_SUITE_P(ClippingAndAccumulation, SeedGolden,
                         ::testing::Values(MODEL("clip_norm"),
                                           MODEL("clip_value"),
                                           MODEL("clip_both"),
                                           MODEL("clip_per_optimizer"),
                                           MODEL("clip_uncleared"),
                                           MODEL("clip_unowned"),
                                           MODEL("accumulate4")),
                         caseName);

#undef SEED
#undef MODEL

} // namespace
