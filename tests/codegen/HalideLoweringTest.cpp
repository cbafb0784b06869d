//===- HalideLoweringTest.cpp - Halide code against the reference evaluator ===//
//
// Every op lowered to Halide and JIT-compiled for the host must compute
// what the reference evaluator computes, on shapes with odd sizes that do
// not divide a vector width; and the whole training step of every seed
// (forward, backward, optimizer update) must reproduce the PyTorch fixtures.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/Build.h"
#include "firn/Codegen/HalideLowering.h"
#include "firn/Codegen/Scheduler.h"
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
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "CompileModel.h"
#include "FixtureTensors.h"

#include <gtest/gtest.h>

#include <tuple>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

using namespace firn;
using reference::Tensor;
using firn::testing::expectClose;
using firn::testing::toTensor;

namespace {

/// Row-major tensors as Halide sees them: its dimension 0 is the tensor's
/// last (contiguous) one.
std::vector<halide_dimension_t> rowMajor(const std::vector<int64_t> &shape) {
  std::vector<halide_dimension_t> dims;
  int32_t stride = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    dims.push_back(halide_dimension_t(0, static_cast<int32_t>(shape[i]), stride));
    stride *= static_cast<int32_t>(shape[i]);
  }
  return dims;
}

/// Storage for one buffer the pipeline reads or writes.
struct Storage {
  std::vector<float> f32;
  std::vector<int64_t> i64;
  Halide::Buffer<> buffer;
};

void allocate(Storage &s, const std::vector<int64_t> &shape, bool integer) {
  std::vector<halide_dimension_t> dims = rowMajor(shape);
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  if (integer) {
    s.i64.resize(n);
    s.buffer = Halide::Buffer<int64_t>(s.i64.data(), static_cast<int>(dims.size()),
                                       dims.data());
  } else {
    s.f32.resize(n);
    s.buffer = Halide::Buffer<float>(s.f32.data(), static_cast<int>(dims.size()),
                                     dims.data());
  }
}

/// Runs a lowered function by JIT: `values` maps input names (`arg0`, ...)
/// and state symbols to tensors; returns outputs by name and symbol.
std::map<std::string, Tensor> runHalide(codegen::LoweredFunction &lowered,
                                        const std::map<std::string, Tensor> &values) {
  std::vector<Storage> inputs(lowered.inputs.size());
  int64_t batch = 1;
  for (size_t i = 0; i < lowered.inputs.size(); ++i) {
    const codegen::Port &port = lowered.inputs[i];
    std::string key = port.symbol.empty() ? port.name : port.symbol;
    const Tensor &t = values.at(key);
    bool integer = port.type.getElementType().isInteger(64);
    allocate(inputs[i], t.shape, integer);
    for (size_t j = 0; j < t.data.size(); ++j) {
      if (integer)
        inputs[i].i64[j] = static_cast<int64_t>(t.data[j]);
      else
        inputs[i].f32[j] = static_cast<float>(t.data[j]);
    }
    if (port.type.getRank() > 0 && port.type.isDynamicDim(0))
      batch = t.shape[0];
    lowered.params[i].set(inputs[i].buffer);
  }
  std::vector<Storage> outputs(lowered.outputs.size());
  std::vector<Halide::Buffer<>> buffers;
  for (size_t i = 0; i < lowered.outputs.size(); ++i) {
    std::vector<int64_t> shape;
    for (int64_t d : lowered.outputs[i].type.getShape())
      shape.push_back(mlir::ShapedType::isDynamic(d) ? batch : d);
    allocate(outputs[i], shape,
         lowered.outputs[i].type.getElementType().isInteger(64));
    buffers.push_back(outputs[i].buffer);
  }
  lowered.pipeline().realize(Halide::Realization(buffers), codegen::hostTarget());
  std::map<std::string, Tensor> result;
  for (size_t i = 0; i < lowered.outputs.size(); ++i) {
    const codegen::Port &port = lowered.outputs[i];
    Tensor t;
    for (int64_t d : port.type.getShape())
      t.shape.push_back(mlir::ShapedType::isDynamic(d) ? batch : d);
    t.isInteger = !outputs[i].i64.empty();
    if (t.isInteger)
      t.data.assign(outputs[i].i64.begin(), outputs[i].i64.end());
    else
      t.data.assign(outputs[i].f32.begin(), outputs[i].f32.end());
    result[port.symbol.empty() ? port.name : port.symbol] = t;
  }
  return result;
}


Tensor random(std::vector<int64_t> shape, uint64_t &seed, double low = -1,
              double high = 1, bool integer = false) {
  Tensor t;
  t.shape = std::move(shape);
  t.isInteger = integer;
  for (int64_t i = 0, n = t.numel(); i < n; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = static_cast<double>(seed >> 11) / static_cast<double>(1ULL << 53);
    double v = low + (high - low) * u;
    t.data.push_back(integer ? std::floor(v) : v);
  }
  return t;
}

/// Lowers @f (shipped schedule) and runs it by JIT on `args`; its results by
/// name (`result0`, ...).
std::map<std::string, Tensor> runFunction(const std::string &body,
                                          const std::vector<Tensor> &args) {
  mlir::MLIRContext context;
  context.loadDialect<FirnDialect, mlir::func::FuncDialect>();
  auto parsed = mlir::parseSourceString<mlir::ModuleOp>(body, &context);
  EXPECT_TRUE(parsed);
  if (!parsed)
    return {};
  auto lowered = codegen::lowerFunction(parsed->lookupSymbol<mlir::func::FuncOp>("f"));
  EXPECT_TRUE(mlir::succeeded(lowered));
  if (mlir::failed(lowered))
    return {};
  std::string scheduleError;
  EXPECT_TRUE(mlir::succeeded(codegen::scheduleForTarget(
      *lowered, codegen::hostTarget(), scheduleError)))
      << scheduleError;
  std::map<std::string, Tensor> values;
  for (size_t i = 0; i < args.size(); ++i)
    values["arg" + std::to_string(i)] = args[i];
  return runHalide(*lowered, values);
}

/// One op in a function @f of its arguments; compares Halide and the
/// evaluator on every result and on the state the function writes.
void checkOp(const std::string &body, const std::vector<Tensor> &args,
             const std::string &module = "") {
  SCOPED_TRACE(body);
  mlir::MLIRContext context;
  context.loadDialect<FirnDialect, mlir::func::FuncDialect>();
  auto parsed = mlir::parseSourceString<mlir::ModuleOp>(module + body, &context);
  ASSERT_TRUE(parsed);
  auto func = parsed->lookupSymbol<mlir::func::FuncOp>("f");
  ASSERT_TRUE(func);
  auto lowered = codegen::lowerFunction(func);
  ASSERT_TRUE(mlir::succeeded(lowered));
  // The schedule that ships: fused, vectorized with guarded tails.
  std::string error;
  ASSERT_TRUE(mlir::succeeded(codegen::scheduleForTarget(
      *lowered, codegen::hostTarget(), error)))
      << error;

  reference::Evaluator eval(*parsed);
  ASSERT_TRUE(mlir::succeeded(eval.initialize(error))) << error;
  std::map<std::string, Tensor> values;
  for (size_t i = 0; i < args.size(); ++i)
    values["arg" + std::to_string(i)] = args[i];
  for (const codegen::Port &port : lowered->inputs)
    if (!port.symbol.empty())
      values[port.symbol] = *eval.getState(port.symbol);
  std::map<std::string, Tensor> halide = runHalide(*lowered, values);
  std::vector<Tensor> results;
  ASSERT_TRUE(mlir::succeeded(eval.call("f", args, results, error))) << error;
  for (size_t i = 0; i < results.size(); ++i)
    expectClose(halide.at("result" + std::to_string(i)), results[i],
                "result" + std::to_string(i));
  for (const codegen::Port &port : lowered->outputs)
    if (!port.symbol.empty())
      expectClose(halide.at(port.symbol), *eval.getState(port.symbol),
                  port.symbol);
}

TEST(HalideLowering, Elementwise) {
  uint64_t seed = 1;
  Tensor a = random({5, 17}, seed, 0.5, 2), b = random({17}, seed, 0.5, 2);
  for (const char *op : {"add", "sub", "mul", "div", "max", "pow"})
    checkOp(std::string("func.func @f(%a: tensor<?x17xf32>, %b: tensor<17xf32>) "
                        "-> tensor<?x17xf32> {\n  %y = firn.") +
                op + " %a, %b : tensor<?x17xf32>, tensor<17xf32> -> "
                     "tensor<?x17xf32>\n  return %y : tensor<?x17xf32>\n}",
            {a, b});
  Tensor x = random({3, 13}, seed);
  for (const char *op : {"relu", "neg", "exp", "abs", "sign", "tanh", "sigmoid",
                         "silu", "erf", "gelu", "gelu_tanh"})
    checkOp(std::string("func.func @f(%x: tensor<?x13xf32>) -> tensor<?x13xf32> "
                        "{\n  %y = firn.") +
                op + " %x : tensor<?x13xf32>\n  return %y : tensor<?x13xf32>\n}",
            {x});
  // i64 ids against ids and against fractional f32 thresholds (by value).
  Tensor ids = random({4, 7}, seed, 0, 5, /*integer=*/true),
         otherIds = random({7}, seed, 0, 5, /*integer=*/true),
         thresholds = random({7}, seed, -1, 5);
  for (const char *predicate : {"eq", "ge", "lt"}) {
    checkOp(std::string("func.func @f(%a: tensor<?x7xi64>, %b: tensor<7xi64>) -> "
                        "tensor<?x7xf32> {\n  %y = firn.compare ") +
                predicate + ", %a, %b : tensor<?x7xi64>, tensor<7xi64> -> tensor<?x7xf32>\n"
                            "  return %y : tensor<?x7xf32>\n}",
            {ids, otherIds});
    checkOp(std::string("func.func @f(%a: tensor<?x7xi64>, %b: tensor<7xf32>) -> "
                        "tensor<?x7xf32> {\n  %y = firn.compare ") +
                predicate + ", %a, %b : tensor<?x7xi64>, tensor<7xf32> -> tensor<?x7xf32>\n"
                            "  return %y : tensor<?x7xf32>\n}",
            {ids, thresholds});
  }
  Tensor positive = random({3, 13}, seed, 0.1, 3);
  for (const char *op : {"log", "sqrt", "rsqrt"})
    checkOp(std::string("func.func @f(%x: tensor<?x13xf32>) -> tensor<?x13xf32> "
                        "{\n  %y = firn.") +
                op + " %x : tensor<?x13xf32>\n  return %y : tensor<?x13xf32>\n}",
            {positive});
  checkOp("func.func @f(%g: tensor<?x13xf32>, %x: tensor<?x13xf32>) -> "
          "tensor<?x13xf32> {\n  %y = firn.relu_grad %g, %x : tensor<?x13xf32>\n"
          "  return %y : tensor<?x13xf32>\n}",
          {positive, x});
}

TEST(HalideLowering, ConstantsAndScalars) {
  uint64_t seed = 6;
  Tensor x = random({3, 5}, seed);
  // A full (not splat) constant: Halide's column-major storage of it must
  // not transpose it.
  checkOp("func.func @f(%x: tensor<?x5xf32>) -> tensor<?x5xf32> {\n"
          "  %c = firn.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0]]> : "
          "tensor<1x5xf32>\n"
          "  %y = firn.mul %x, %c : tensor<?x5xf32>, tensor<1x5xf32> -> "
          "tensor<?x5xf32>\n  return %y : tensor<?x5xf32>\n}",
          {x});
  checkOp("func.func @f(%s: tensor<f32>) -> tensor<f32> {\n"
          "  %y = firn.bias_correction %s beta 0.999 : tensor<f32>\n"
          "  return %y : tensor<f32>\n}",
          {random({}, seed, 1, 40)});
  checkOp("func.func @f(%x: tensor<?x5xf32>) -> tensor<?x5xf32> {\n"
          "  %y = firn.dropout %x p 0.5 : tensor<?x5xf32>\n"
          "  return %y : tensor<?x5xf32>\n}",
          {x});
}

TEST(HalideLowering, ShapesAndReductions) {
  uint64_t seed = 2;
  Tensor x = random({3, 2, 5, 7}, seed);
  checkOp("func.func @f(%x: tensor<?x2x5x7xf32>) -> tensor<?x70xf32> {\n"
          "  %y = firn.reshape %x : tensor<?x2x5x7xf32> -> tensor<?x70xf32>\n"
          "  return %y : tensor<?x70xf32>\n}",
          {x});
  Tensor m = random({5, 7, 3}, seed);
  checkOp("func.func @f(%x: tensor<5x7x3xf32>) -> tensor<3x5x7xf32> {\n"
          "  %y = firn.transpose %x perm [2, 0, 1] : tensor<5x7x3xf32> -> "
          "tensor<3x5x7xf32>\n  return %y : tensor<3x5x7xf32>\n}",
          {m});
  Tensor r = random({4, 9}, seed);
  for (const char *op : {"reduce_sum", "reduce_mean", "reduce_max"}) {
    checkOp(std::string("func.func @f(%x: tensor<?x9xf32>) -> tensor<9xf32> {\n"
                        "  %y = firn.") +
                op + " %x axes [0] : tensor<?x9xf32> -> tensor<9xf32>\n"
                     "  return %y : tensor<9xf32>\n}",
            {r});
    checkOp(std::string("func.func @f(%x: tensor<?x9xf32>) -> tensor<?x1xf32> {\n"
                        "  %y = firn.") +
                op + " %x axes [1] keepdims : tensor<?x9xf32> -> tensor<?x1xf32>\n"
                     "  return %y : tensor<?x1xf32>\n}",
            {r});
    checkOp(std::string("func.func @f(%x: tensor<?x9xf32>) -> tensor<f32> {\n"
                        "  %y = firn.") +
                op + " %x axes [] : tensor<?x9xf32> -> tensor<f32>\n"
                     "  return %y : tensor<f32>\n}",
            {r});
  }
  // Sums over contiguous trailing axes (a bias gradient over the batch and
  // the image: 5 x 7 = 35 elements per image, not a multiple of the 16
  // lanes; and a row of 40) take the vectorized path.
  Tensor image = random({3, 4, 5, 7}, seed);
  for (const char *op : {"reduce_sum", "reduce_mean"}) {
    checkOp(std::string("func.func @f(%x: tensor<?x4x5x7xf32>) -> tensor<4xf32> {\n"
                        "  %y = firn.") +
                op + " %x axes [0, 2, 3] : tensor<?x4x5x7xf32> -> tensor<4xf32>\n"
                     "  return %y : tensor<4xf32>\n}",
            {image});
    checkOp(std::string("func.func @f(%x: tensor<?x40xf32>) -> tensor<?xf32> {\n"
                        "  %y = firn.") +
                op + " %x axes [1] : tensor<?x40xf32> -> tensor<?xf32>\n"
                     "  return %y : tensor<?xf32>\n}",
            {random({3, 40}, seed)});
    // With keepdims (BatchNorm's gradient: [1, C, 1, 1]), the same path.
    checkOp(std::string("func.func @f(%x: tensor<?x4x5x7xf32>) -> tensor<1x4x1x1xf32> {\n"
                        "  %y = firn.") +
                op + " %x axes [0, 2, 3] keepdims : tensor<?x4x5x7xf32> -> tensor<1x4x1x1xf32>\n"
                     "  return %y : tensor<1x4x1x1xf32>\n}",
            {image});
  }
  checkOp("func.func @f(%x: tensor<?x9xf32>) -> tensor<f32> {\n"
          "  %y = firn.numel %x axes [0] : tensor<?x9xf32> -> tensor<f32>\n"
          "  return %y : tensor<f32>\n}",
          {r});
  Tensor row = random({1, 9}, seed);
  checkOp("func.func @f(%a: tensor<1x9xf32>, %x: tensor<?x9xf32>) -> "
          "tensor<?x9xf32> {\n  %y = firn.broadcast_like %a, %x : "
          "tensor<1x9xf32>, tensor<?x9xf32> -> tensor<?x9xf32>\n"
          "  return %y : tensor<?x9xf32>\n}",
          {row, r});
  for (const char *op : {"softmax", "log_softmax"})
    checkOp(std::string("func.func @f(%x: tensor<?x9xf32>) -> tensor<?x9xf32> {\n"
                        "  %y = firn.") +
                op + " %x axis 1 : tensor<?x9xf32>\n  return %y : tensor<?x9xf32>\n}",
            {r});
  // Rows along the last axis of 16 or more (37 and 40: a partial chunk and
  // whole ones) reduce in sixteen lanes (rowReduction): softmax, the
  // statistics of a LayerNorm, a softmax gradient's row sums.
  Tensor scores = random({3, 2, 37}, seed, -30, 30), wide = random({4, 40}, seed, -5, 5);
  for (const char *op : {"softmax", "log_softmax"}) {
    checkOp(std::string("func.func @f(%x: tensor<?x2x37xf32>) -> tensor<?x2x37xf32> {\n"
                        "  %y = firn.") +
                op + " %x axis 2 : tensor<?x2x37xf32>\n  return %y : tensor<?x2x37xf32>\n}",
            {scores});
    checkOp(std::string("func.func @f(%x: tensor<?x40xf32>) -> tensor<?x40xf32> {\n"
                        "  %y = firn.") +
                op + " %x axis 1 : tensor<?x40xf32>\n  return %y : tensor<?x40xf32>\n}",
            {wide});
  }
  for (const char *op : {"reduce_sum", "reduce_mean"}) {
    checkOp(std::string("func.func @f(%x: tensor<?x2x37xf32>) -> tensor<?x2x1xf32> {\n"
                        "  %y = firn.") +
                op + " %x axes [2] keepdims : tensor<?x2x37xf32> -> tensor<?x2x1xf32>\n"
                     "  return %y : tensor<?x2x1xf32>\n}",
            {scores});
    checkOp(std::string("func.func @f(%x: tensor<?x2x37xf32>) -> tensor<?x2xf32> {\n"
                        "  %y = firn.") +
                op + " %x axes [2] : tensor<?x2x37xf32> -> tensor<?x2xf32>\n"
                     "  return %y : tensor<?x2xf32>\n}",
            {scores});
  }
}

TEST(HalideLowering, Contractions) {
  uint64_t seed = 3;
  Tensor x = random({5, 11}, seed), w = random({3, 11}, seed),
         b = random({3}, seed), m = random({11, 3}, seed);
  checkOp("func.func @f(%x: tensor<?x11xf32>, %w: tensor<3x11xf32>, %b: "
          "tensor<3xf32>) -> tensor<?x3xf32> {\n  %y = firn.linear %x, %w, %b : "
          "(tensor<?x11xf32>, tensor<3x11xf32>, tensor<3xf32>) -> "
          "tensor<?x3xf32>\n  return %y : tensor<?x3xf32>\n}",
          {x, w, b});
  // On a sequence: the positions are the product's rows; the weight's
  // gradient sums over them.
  Tensor seq = random({3, 7, 11}, seed), dseq = random({3, 7, 19}, seed);
  checkOp("func.func @f(%x: tensor<?x7x11xf32>, %w: tensor<3x11xf32>, %b: "
          "tensor<3xf32>) -> tensor<?x7x3xf32> {\n  %y = firn.linear %x, %w, %b : "
          "(tensor<?x7x11xf32>, tensor<3x11xf32>, tensor<3xf32>) -> "
          "tensor<?x7x3xf32>\n  return %y : tensor<?x7x3xf32>\n}",
          {seq, w, b});
  checkOp("func.func @f(%dy: tensor<?x7x19xf32>, %x: tensor<?x7x11xf32>) -> "
          "tensor<19x11xf32> {\n  %y = firn.linear_weight_grad %dy, %x : "
          "(tensor<?x7x19xf32>, tensor<?x7x11xf32>) -> tensor<19x11xf32>\n"
          "  return %y : tensor<19x11xf32>\n}",
          {dseq, seq});
  checkOp("func.func @f(%x: tensor<?x11xf32>, %m: tensor<11x3xf32>) -> "
          "tensor<?x3xf32> {\n  %y = firn.matmul %x, %m : tensor<?x11xf32>, "
          "tensor<11x3xf32> -> tensor<?x3xf32>\n  return %y : tensor<?x3xf32>\n}",
          {x, m});
  checkOp("func.func @f(%x: tensor<?x11xf32>, %y0: tensor<?x3xf32>) -> "
          "tensor<11x3xf32> {\n  %y = firn.matmul %x, %y0 transpose_lhs : "
          "tensor<?x11xf32>, tensor<?x3xf32> -> tensor<11x3xf32>\n"
          "  return %y : tensor<11x3xf32>\n}",
          {x, random({5, 3}, seed)});
  checkOp("func.func @f(%x: tensor<?x11xf32>, %w: tensor<3x11xf32>) -> "
          "tensor<?x3xf32> {\n  %y = firn.matmul %x, %w transpose_rhs : "
          "tensor<?x11xf32>, tensor<3x11xf32> -> tensor<?x3xf32>\n"
          "  return %y : tensor<?x3xf32>\n}",
          {x, w});
}

/// The tiled matrix-product schedule on shapes that do not divide its
/// tiles: rows (the batch, dynamic) not a multiple of the 8-row tile,
/// columns narrower than a vector, one vector, past a 2-vector tile (the
/// last tile shifts inwards), 3-vector tiles (widths they divide, and wide
/// products) and 4-vector x 6-row tiles (rows not a multiple of 6),
/// reductions shorter than a vector.
TEST(HalideLowering, ContractionTiles) {
  uint64_t seed = 9;
  struct Shape { int64_t m, k, n; };
  for (Shape s : {Shape{1, 7, 16}, Shape{13, 33, 37}, Shape{19, 5, 70},
                  Shape{8, 16, 32}, Shape{21, 40, 9}, Shape{9, 20, 96},
                  Shape{3, 5, 1040}, Shape{13, 20, 64}, Shape{7, 9, 128}}) {
    std::string m = "?", k = std::to_string(s.k), n = std::to_string(s.n);
    auto type = [](const std::string &rows, const std::string &cols) {
      return "tensor<" + rows + "x" + cols + "xf32>";
    };
    Tensor x = random({s.m, s.k}, seed), w = random({s.n, s.k}, seed),
           b = random({s.n}, seed), kn = random({s.k, s.n}, seed),
           mn = random({s.m, s.n}, seed);
    // linear: x·Wᵀ + b
    checkOp("func.func @f(%x: " + type(m, k) + ", %w: " + type(n, k) +
                ", %b: tensor<" + n + "xf32>) -> " + type(m, n) +
                " {\n  %y = firn.linear %x, %w, %b : (" + type(m, k) + ", " +
                type(n, k) + ", tensor<" + n + "xf32>) -> " + type(m, n) +
                "\n  return %y : " + type(m, n) + "\n}",
            {x, w, b});
    // dy·W (no transpose), x·Wᵀ (transpose_rhs), dyᵀ·x (transpose_lhs).
    checkOp("func.func @f(%x: " + type(m, k) + ", %b: " + type(k, n) + ") -> " +
                type(m, n) + " {\n  %y = firn.matmul %x, %b : " + type(m, k) +
                ", " + type(k, n) + " -> " + type(m, n) + "\n  return %y : " +
                type(m, n) + "\n}",
            {x, kn});
    checkOp("func.func @f(%x: " + type(m, k) + ", %w: " + type(n, k) + ") -> " +
                type(m, n) + " {\n  %y = firn.matmul %x, %w transpose_rhs : " +
                type(m, k) + ", " + type(n, k) + " -> " + type(m, n) +
                "\n  return %y : " + type(m, n) + "\n}",
            {x, w});
    checkOp("func.func @f(%x: " + type(m, k) + ", %d: " + type(m, n) + ") -> " +
                type(k, n) + " {\n  %y = firn.matmul %x, %d transpose_lhs : " +
                type(m, k) + ", " + type(m, n) + " -> " + type(k, n) +
                "\n  return %y : " + type(k, n) + "\n}",
            {x, mn});
  }
}

TEST(HalideLowering, Convolutions) {
  uint64_t seed = 4;
  Tensor x = random({2, 3, 7, 6}, seed), k = random({4, 3, 3, 2}, seed),
         kb = random({4}, seed);
  const char *geometry = "stride [2, 1] padding [1, 0, 2, 1] dilation [1, 2]";
  // Output: H (7 + 1 + 2 - 3) / 2 + 1 = 4, W (6 + 0 + 1 - 3) / 1 + 1 = 5.
  checkOp(std::string("func.func @f(%x: tensor<?x3x7x6xf32>, %k: "
                      "tensor<4x3x3x2xf32>, %b: tensor<4xf32>) -> "
                      "tensor<?x4x4x5xf32> {\n  %y = firn.conv2d %x, %k, %b ") +
              geometry +
              " : (tensor<?x3x7x6xf32>, tensor<4x3x3x2xf32>, tensor<4xf32>) -> "
              "tensor<?x4x4x5xf32>\n  return %y : tensor<?x4x4x5xf32>\n}",
          {x, k, kb});
  Tensor dy = random({2, 4, 4, 5}, seed);
  checkOp(std::string("func.func @f(%dy: tensor<?x4x4x5xf32>, %k: "
                      "tensor<4x3x3x2xf32>) -> tensor<?x3x7x6xf32> {\n"
                      "  %y = firn.conv2d_grad_input %dy, %k ") +
              geometry +
              " : (tensor<?x4x4x5xf32>, tensor<4x3x3x2xf32>) -> "
              "tensor<?x3x7x6xf32>\n  return %y : tensor<?x3x7x6xf32>\n}",
          {dy, k});
  checkOp(std::string("func.func @f(%x: tensor<?x3x7x6xf32>, %dy: "
                      "tensor<?x4x4x5xf32>) -> tensor<4x3x3x2xf32> {\n"
                      "  %y = firn.conv2d_grad_weight %x, %dy ") +
              geometry +
              " : (tensor<?x3x7x6xf32>, tensor<?x4x4x5xf32>) -> "
              "tensor<4x3x3x2xf32>\n  return %y : tensor<4x3x3x2xf32>\n}",
          {x, dy});
}

/// Convolutions wide enough for the tiled implicit-GEMM schedule: output
/// channels past one vector (the weight gradient's columns) and past two
/// (the last tile shifts inwards), rows (channels x taps) not a multiple of
/// the row tile, strides, dilation and asymmetric padding (stride 1 reads
/// shifted views of the padded input, larger strides pack im2col panels,
/// and their input gradients without dilation run by phases),
/// batches that run images in parallel (4 or more) and that do not, and 64
/// output channels (the weight gradient's 4-vector x 6-row tiles).
TEST(HalideLowering, ConvolutionTiles) {
  uint64_t seed = 8;
  struct Case {
    std::vector<int64_t> x, k, y;
    const char *geometry;
  };
  for (const Case &c :
       {Case{{5, 5, 9, 8}, {20, 5, 3, 3}, {5, 20, 9, 8},
             "stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1]"},
        Case{{3, 3, 11, 10}, {33, 3, 3, 2}, {3, 33, 4, 5},
             "stride [2, 2] padding [1, 0, 0, 1] dilation [2, 1]"},
        Case{{2, 4, 10, 9}, {17, 4, 3, 2}, {2, 17, 9, 9},
             "stride [1, 1] padding [2, 0, 1, 1] dilation [2, 1]"},
        Case{{2, 3, 6, 5}, {64, 3, 3, 3}, {2, 64, 6, 5},
             "stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1]"},
        // Strided without dilation: the input gradient by phases of the
        // stride (a ResNet's downsampling 3x3 on odd sizes; a 1x1 whose odd
        // phases no tap reaches; strides 2 and 3 with padding 2, whose
        // phases read dy at negative offsets).
        Case{{3, 5, 11, 10}, {20, 5, 3, 3}, {3, 20, 6, 5},
             "stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1]"},
        Case{{2, 6, 9, 8}, {17, 6, 1, 1}, {2, 17, 5, 4},
             "stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1]"},
        Case{{2, 4, 10, 11}, {9, 4, 3, 2}, {2, 9, 6, 4},
             "stride [2, 3] padding [2, 0, 1, 1] dilation [1, 1]"}}) {
    auto type = [](const std::vector<int64_t> &shape, bool batch) {
      std::string t = "tensor<";
      for (size_t i = 0; i < shape.size(); ++i)
        t += (i == 0 && batch ? std::string("?") : std::to_string(shape[i])) + "x";
      return t + "f32>";
    };
    std::string xt = type(c.x, true), kt = type(c.k, false), yt = type(c.y, true);
    Tensor x = random(c.x, seed), k = random(c.k, seed), dy = random(c.y, seed),
           b = random({c.k[0]}, seed);
    std::string bt = "tensor<" + std::to_string(c.k[0]) + "xf32>";
    checkOp("func.func @f(%x: " + xt + ", %k: " + kt + ", %b: " + bt + ") -> " + yt +
                " {\n  %y = firn.conv2d %x, %k, %b " + c.geometry + " : (" + xt +
                ", " + kt + ", " + bt + ") -> " + yt + "\n  return %y : " + yt + "\n}",
            {x, k, b});
    checkOp("func.func @f(%dy: " + yt + ", %k: " + kt + ") -> " + xt +
                " {\n  %y = firn.conv2d_grad_input %dy, %k " + c.geometry + " : (" +
                yt + ", " + kt + ") -> " + xt + "\n  return %y : " + xt + "\n}",
            {dy, k});
    checkOp("func.func @f(%x: " + xt + ", %dy: " + yt + ") -> " + kt +
                " {\n  %y = firn.conv2d_grad_weight %x, %dy " + c.geometry + " : (" +
                xt + ", " + yt + ") -> " + kt + "\n  return %y : " + kt + "\n}",
            {x, dy});
  }
}

/// The number of Winograd convolutions lowering makes of `body`.
int winogradConvolutions(const std::string &body) {
  mlir::MLIRContext context;
  context.loadDialect<FirnDialect, mlir::func::FuncDialect>();
  auto parsed = mlir::parseSourceString<mlir::ModuleOp>(body, &context);
  auto lowered = codegen::lowerFunction(parsed->lookupSymbol<mlir::func::FuncOp>("f"));
  int count = 0;
  for (const codegen::RootFunc &root : lowered->rootFuncs)
    count += root.kind == codegen::RootFunc::Kind::Winograd;
  return count;
}

/// Stride-1 3x3 convolutions and both their gradients by Winograd's
/// F(2x2, 3x3): odd output sizes (a last tile half outside), rows of
/// tiles that are not a multiple of the vector (the last vector shifts
/// inwards) or shorter than one, padding 0, 1 and 2 (the input gradient's
/// offsets 2, 1 and 0), a bias, blocks of tile rows with a partial last
/// one (64 channels of 40 x 36), a single image, weight gradients over
/// rows of 8 and 12 tiles; and the shapes that stay direct (too few
/// channels, output channels not a multiple of 4, rows narrower than 15,
/// rows of tiles not a multiple of 4 for the weight gradient, dilation,
/// 3x2 taps).
TEST(HalideLowering, WinogradConvolutions) {
  uint64_t seed = 12;
  struct Case {
    std::vector<int64_t> x, k;
    int padding;
    bool forward, gradInput, gradWeight; // Whether each is expected by Winograd.
    const char *dilation = "[1, 1]";
  };
  for (const Case &c :
       {Case{{3, 8, 9, 18}, {12, 8, 3, 3}, 1, true, true, false},
        Case{{2, 16, 16, 16}, {16, 16, 3, 3}, 1, true, true, true},
        Case{{4, 12, 7, 19}, {8, 12, 3, 3}, 0, true, true, false},
        Case{{2, 8, 6, 14}, {8, 8, 3, 3}, 2, true, false, true},
        Case{{2, 64, 40, 36}, {8, 64, 3, 3}, 1, true, true, false},
        Case{{1, 8, 12, 22}, {16, 8, 3, 3}, 1, true, true, false},
        Case{{3, 8, 9, 24}, {12, 8, 3, 3}, 1, true, true, true},
        Case{{2, 8, 7, 15}, {8, 8, 3, 3}, 1, true, true, true},
        Case{{2, 12, 10, 18}, {8, 12, 3, 3}, 0, true, true, true},
        Case{{1, 8, 5, 14}, {4, 8, 3, 3}, 2, true, false, true},
        Case{{2, 4, 9, 17}, {8, 4, 3, 3}, 1, false, true, false},
        Case{{2, 8, 9, 13}, {8, 8, 3, 3}, 1, false, false, false},
        Case{{2, 8, 9, 9}, {6, 8, 3, 3}, 1, false, false, false},
        Case{{2, 8, 9, 6}, {8, 8, 3, 3}, 1, false, false, false},
        Case{{2, 8, 9, 9}, {8, 8, 3, 3}, 2, false, false, false, "[2, 2]"},
        Case{{2, 8, 9, 9}, {8, 8, 3, 2}, 1, false, false, false}}) {
    const int64_t dilation = c.dilation[1] - '0';
    std::vector<int64_t> y = {c.x[0], c.k[0],
                              c.x[2] + 2 * c.padding - dilation * (c.k[2] - 1),
                              c.x[3] + 2 * c.padding - dilation * (c.k[3] - 1)};
    auto type = [](const std::vector<int64_t> &shape, bool batch) {
      std::string t = "tensor<" + (batch ? std::string("?") : std::to_string(shape[0]));
      for (size_t i = 1; i < shape.size(); ++i)
        t += "x" + std::to_string(shape[i]);
      return t + "xf32>";
    };
    std::string xt = type(c.x, true), yt = type(y, true), kt = type(c.k, false);
    const std::string p = std::to_string(c.padding);
    const std::string geometry = "stride [1, 1] padding [" + p + ", " + p + ", " + p +
                                 ", " + p + "] dilation " + c.dilation;
    std::string bt = "tensor<" + std::to_string(c.k[0]) + "xf32>";
    Tensor x = random(c.x, seed), k = random(c.k, seed), dy = random(y, seed),
           b = random({c.k[0]}, seed);
    // func.func @f(%a: A, %b: B[, %c: C]) -> R { %y = firn.OP ... }
    auto function = [&](const std::string &op, std::vector<std::string> types,
                        const std::string &result) {
      std::string args, operands, operandTypes;
      for (size_t i = 0; i < types.size(); ++i) {
        const std::string name = std::string("%") + static_cast<char>('a' + i);
        args += (i ? ", " : "") + name + ": " + types[i];
        operands += (i ? ", " : "") + name;
        operandTypes += (i ? ", " : "") + types[i];
      }
      return "func.func @f(" + args + ") -> " + result + " {\n  %y = firn." + op + " " +
             operands + " " + geometry + " : (" + operandTypes + ") -> " + result +
             "\n  return %y : " + result + "\n}";
    };
    std::string forward = function("conv2d", {xt, kt, bt}, yt);
    std::string gradInput = function("conv2d_grad_input", {yt, kt}, xt);
    std::string gradWeight = function("conv2d_grad_weight", {xt, yt}, kt);
    EXPECT_EQ(winogradConvolutions(forward), c.forward ? 1 : 0) << forward;
    EXPECT_EQ(winogradConvolutions(gradInput), c.gradInput ? 1 : 0) << gradInput;
    EXPECT_EQ(winogradConvolutions(gradWeight), c.gradWeight ? 1 : 0) << gradWeight;
    checkOp(forward, {x, k, b});
    checkOp(gradInput, {dy, k});
    checkOp(gradWeight, {x, dy});
  }
}

TEST(HalideLowering, MaxPooling) {
  uint64_t seed = 6;
  // Non-overlapping windows that leave a row over; overlapping windows
  // with padding; rectangular ones; rows of pooled outputs wide enough for
  // vectors (18 and 10 wide: the last vector of a row shifts inwards).
  struct Geometry {
    const char *attrs;
    std::vector<int64_t> in, out;
  };
  auto type = [](const std::vector<int64_t> &shape) {
    std::string t = "tensor<?";
    for (size_t i = 1; i < shape.size(); ++i)
      t += "x" + std::to_string(shape[i]);
    return t + "xf32>";
  };
  for (const Geometry &g :
       {Geometry{"kernel [2, 2] stride [2, 2] padding [0, 0]", {2, 3, 7, 6}, {2, 3, 3, 3}},
        Geometry{"kernel [3, 3] stride [2, 2] padding [1, 1]", {2, 3, 7, 6}, {2, 3, 4, 3}},
        Geometry{"kernel [2, 3] stride [1, 2] padding [1, 0]", {2, 3, 7, 6}, {2, 3, 8, 2}},
        Geometry{"kernel [2, 2] stride [2, 2] padding [0, 0]", {2, 3, 5, 37}, {2, 3, 2, 18}},
        Geometry{"kernel [3, 3] stride [2, 2] padding [1, 1]", {2, 2, 4, 20}, {2, 2, 2, 10}}}) {
    std::string in = type(g.in), out = type(g.out);
    Tensor x = random(g.in, seed);
    checkOp("func.func @f(%x: " + in + ") -> " + out + " {\n  %y = firn.max_pool2d %x " +
                g.attrs + " : " + in + " -> " + out + "\n  return %y : " + out + "\n}",
            {x});
    Tensor dy = random(g.out, seed);
    checkOp("func.func @f(%dy: " + out + ", %x: " + in + ") -> " + in +
                " {\n  %y = firn.max_pool2d_grad %dy, %x " + g.attrs + " : (" + out +
                ", " + in + ") -> " + in + "\n  return %y : " + in + "\n}",
            {dy, x});
    // Average pooling on the same windows, with and without the padding in
    // the divisor, and its gradient.
    for (const char *count : {" count_include_pad", ""}) {
      std::string attrs = g.attrs + std::string(count);
      checkOp("func.func @f(%x: " + in + ") -> " + out + " {\n  %y = firn.avg_pool2d %x " +
                  attrs + " : " + in + " -> " + out + "\n  return %y : " + out + "\n}",
              {x});
      checkOp("func.func @f(%dy: " + out + ") -> " + in +
                  " {\n  %y = firn.avg_pool2d_grad %dy " + attrs + " : " + out + " -> " +
                  in + "\n  return %y : " + in + "\n}",
              {dy});
    }
  }
}

/// NaN where `expected` is NaN, `expected` (exactly) elsewhere.
void expectNaNsAt(const Tensor &actual, const std::vector<double> &expected,
                  const std::string &what) {
  ASSERT_EQ(actual.data.size(), expected.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i]))
      EXPECT_TRUE(std::isnan(actual.data[i])) << what << "[" << i << "] is "
                                              << actual.data[i] << ", not NaN";
    else
      EXPECT_EQ(actual.data[i], expected[i]) << what << "[" << i << "]";
  }
}

// NaN propagates as in PyTorch (the expected values are torch's, worked out
// by its definitions): relu(NaN), torch.maximum, amax and max_pool2d are NaN
// where an input is, and 0 * x is NaN where x is NaN or infinite (Halide's
// max and simplifier would give 0). Rows of 17 make the vector loops and
// their tails both see NaNs.
TEST(HalideLowering, NaNPropagatesAsInPyTorch) {
  const double nan = std::nan(""), inf = INFINITY;
  Tensor x;
  x.shape = {2, 17};
  for (int i = 0; i < 34; ++i)
    x.data.push_back(i % 5 == 0 ? nan : i % 5 == 1 ? -1.5 : i % 5 == 2 ? inf : 0.25 * i);
  auto unary = [](const char *op) {
    return std::string("func.func @f(%x: tensor<?x17xf32>) -> tensor<?x17xf32> {\n"
                       "  %y = firn.") + op + "\n  return %y : tensor<?x17xf32>\n}";
  };
  std::vector<double> relu, zero;
  for (double v : x.data) {
    relu.push_back(std::isnan(v) ? nan : std::max(v, 0.0));
    zero.push_back(std::isnan(v) || std::isinf(v) ? nan : 0.0);
  }
  expectNaNsAt(runFunction(unary("relu %x : tensor<?x17xf32>"), {x})["result0"], relu,
               "relu");
  expectNaNsAt(runFunction("func.func @f(%x: tensor<?x17xf32>) -> tensor<?x17xf32> {\n"
                           "  %c = firn.constant dense<0.0> : tensor<f32>\n"
                           "  %y = firn.mul %c, %x : tensor<f32>, tensor<?x17xf32> -> "
                           "tensor<?x17xf32>\n  return %y : tensor<?x17xf32>\n}",
                           {x})["result0"],
               zero, "0 * x");
  // torch.maximum(x, flip(x)): NaN where either is.
  Tensor flipped = x;
  std::reverse(flipped.data.begin(), flipped.data.end());
  std::vector<double> maximum;
  for (size_t i = 0; i < x.data.size(); ++i)
    maximum.push_back(std::isnan(x.data[i]) || std::isnan(flipped.data[i])
                          ? nan
                          : std::max(x.data[i], flipped.data[i]));
  expectNaNsAt(runFunction("func.func @f(%a: tensor<?x17xf32>, %b: tensor<?x17xf32>) -> "
                           "tensor<?x17xf32> {\n  %y = firn.max %a, %b : tensor<?x17xf32>, "
                           "tensor<?x17xf32> -> tensor<?x17xf32>\n  return %y : "
                           "tensor<?x17xf32>\n}",
                           {x, flipped})["result0"],
               maximum, "max");
  // amax over rows: the first row has a NaN, the second none but +inf.
  Tensor rows = x;
  for (int i = 17; i < 34; ++i)
    rows.data[i] = i == 30 ? inf : -0.5 * i;
  expectNaNsAt(runFunction("func.func @f(%x: tensor<?x17xf32>) -> tensor<?xf32> {\n"
                           "  %y = firn.reduce_max %x axes [1] : tensor<?x17xf32> -> "
                           "tensor<?xf32>\n  return %y : tensor<?xf32>\n}",
                           {rows})["result0"],
               {nan, inf}, "reduce_max");
  // 2x2 max pooling of a 4x4 image: one NaN in the top-left window.
  Tensor image;
  image.shape = {1, 1, 4, 4};
  for (int i = 0; i < 16; ++i)
    image.data.push_back(i == 5 ? nan : 0.25 * i);
  expectNaNsAt(runFunction("func.func @f(%x: tensor<?x1x4x4xf32>) -> tensor<?x1x2x2xf32> {\n"
                           "  %y = firn.max_pool2d %x kernel [2, 2] stride [2, 2] padding "
                           "[0, 0] : tensor<?x1x4x4xf32> -> tensor<?x1x2x2xf32>\n  return %y "
                           ": tensor<?x1x2x2xf32>\n}",
                           {image})["result0"],
               {nan, 0.25 * 7, 0.25 * 13, 0.25 * 15}, "max_pool2d");
  // The gradients route as PyTorch's: through relu where the input is NaN
  // (it is not <= 0), to the NaN of a pooling window (the reference
  // evaluator's kernels follow PyTorch's CPU code).
  Tensor dy;
  dy.shape = {1, 1, 2, 2};
  dy.data = {1, 2, 3, 4};
  checkOp("func.func @f(%dy: tensor<?x1x2x2xf32>, %x: tensor<?x1x4x4xf32>) -> "
          "tensor<?x1x4x4xf32> {\n  %y = firn.max_pool2d_grad %dy, %x kernel [2, 2] "
          "stride [2, 2] padding [0, 0] : (tensor<?x1x2x2xf32>, tensor<?x1x4x4xf32>) -> "
          "tensor<?x1x4x4xf32>\n  return %y : tensor<?x1x4x4xf32>\n}",
          {dy, image});
  Tensor ones = x;
  std::fill(ones.data.begin(), ones.data.end(), 1.0);
  std::vector<double> passed;
  for (double v : x.data)
    passed.push_back(std::isnan(v) || v > 0 ? 1.0 : 0.0);
  expectNaNsAt(runFunction("func.func @f(%g: tensor<?x17xf32>, %x: tensor<?x17xf32>) -> "
                           "tensor<?x17xf32> {\n  %y = firn.relu_grad %g, %x : "
                           "tensor<?x17xf32>\n  return %y : tensor<?x17xf32>\n}",
                           {ones, x})["result0"],
               passed, "relu_grad");
}

// Comparisons with NaN and infinities, as IEEE 754 and PyTorch have them: a
// NaN compares false but under `ne`; and a select passes only the chosen
// operand, so -inf or NaN on the other side does not reach the result.
TEST(HalideLowering, ComparisonsAndSelectAtNaN) {
  const double nan = std::nan(""), inf = INFINITY;
  Tensor a, b;
  a.shape = b.shape = {1, 17};
  for (int i = 0; i < 17; ++i) {
    a.data.push_back(i % 4 == 0 ? nan : i % 4 == 1 ? -inf : 0.5 * (i % 3));
    b.data.push_back(i % 5 == 0 ? nan : i % 5 == 1 ? inf : 0.5 * (i % 2));
  }
  const std::pair<const char *, bool (*)(double, double)> predicates[] = {
      {"lt", [](double x, double y) { return x < y; }},
      {"le", [](double x, double y) { return x <= y; }},
      {"gt", [](double x, double y) { return x > y; }},
      {"ge", [](double x, double y) { return x >= y; }},
      {"eq", [](double x, double y) { return x == y; }},
      {"ne", [](double x, double y) { return x != y; }}};
  for (const auto &[name, holds] : predicates) {
    std::vector<double> expected;
    for (int i = 0; i < 17; ++i)
      expected.push_back(holds(a.data[i], b.data[i]) ? 1.0 : 0.0);
    expectNaNsAt(runFunction(std::string("func.func @f(%a: tensor<?x17xf32>, %b: "
                                         "tensor<?x17xf32>) -> tensor<?x17xf32> {\n"
                                         "  %y = firn.compare ") +
                                 name + ", %a, %b : tensor<?x17xf32>, tensor<?x17xf32> -> "
                                        "tensor<?x17xf32>\n  return %y : tensor<?x17xf32>\n}",
                             {a, b})["result0"],
                 expected, name);
  }
  std::vector<double> chosen;
  for (int i = 0; i < 17; ++i)
    chosen.push_back(a.data[i] < b.data[i] ? a.data[i] : b.data[i]);
  expectNaNsAt(runFunction("func.func @f(%a: tensor<?x17xf32>, %b: tensor<?x17xf32>) -> "
                           "tensor<?x17xf32> {\n  %m = firn.compare lt, %a, %b : "
                           "tensor<?x17xf32>, tensor<?x17xf32> -> tensor<?x17xf32>\n"
                           "  %y = firn.select %m, %a, %b : tensor<?x17xf32>, "
                           "tensor<?x17xf32>, tensor<?x17xf32> -> tensor<?x17xf32>\n"
                           "  return %y : tensor<?x17xf32>\n}",
                           {a, b})["result0"],
               chosen, "select");
}

// tanh is computed by firn (a series near 0, exp farther out: Halide's own
// is a scalar libm call per lane); on a dense sweep of [-12, 12] and tiny
// values it must be as accurate as float32 allows against double: a few
// units in the last place (measured: at most 2.4e-7 relative). The GELU of
// approximate='tanh' inherits it.
TEST(HalideLowering, TanhSweepIsFloat32Accurate) {
  Tensor x;
  for (int i = -24000; i <= 24000; ++i)
    x.data.push_back(static_cast<float>(i * 5e-4));
  for (double tiny : {1e-30, 1e-20, 1e-10, 3e-5, 0.4999999, 0.5, 0.5000001})
    for (double sign : {-1.0, 1.0})
      x.data.push_back(static_cast<float>(sign * tiny));
  x.shape = {1, static_cast<int64_t>(x.data.size())};
  std::string type = "tensor<?x" + std::to_string(x.numel()) + "xf32>";
  Tensor y = runFunction("func.func @f(%x: " + type + ") -> " + type + " {\n  %y = firn.tanh %x : " +
                             type + "\n  return %y : " + type + "\n}",
                         {x})["result0"];
  ASSERT_EQ(y.data.size(), x.data.size());
  double worst = 0;
  for (size_t i = 0; i < x.data.size(); ++i) {
    double exact = std::tanh(static_cast<double>(static_cast<float>(x.data[i])));
    double error = std::fabs(y.data[i] - exact) / std::max(std::fabs(exact), 1e-38);
    worst = std::max(worst, error);
    EXPECT_LE(error, 3.6e-7) << "tanh(" << x.data[i] << ") = " << y.data[i]
                             << ", exact " << exact;
  }
  std::printf("tanh: worst relative error %.3g\n", worst);
}

// Every elementwise math op on NaN, +-inf, huge, tiny and ordinary values,
// compiled and in the reference evaluator (double), against PyTorch's float32
// results (tests/fixtures/math_extremes.safetensors, from layer_models.py):
// NaN and infinities where PyTorch has them, else within 1e-5 relative plus
// 2.5e-7 absolute: PyTorch's own float32 gelu(-3) = 0.5 x (1 + erf(x/sqrt 2))
// cancels and is 1.7e-7 off the exact value. Against the evaluator's double,
// the compiled kernels must be float32-accurate: 1e-5 relative plus 1e-8.
TEST(HalideLowering, MathOpsAtExtremes) {
  runtime::SafetensorsFile fixture;
  std::string error;
  ASSERT_TRUE(runtime::readSafetensors(std::string(FIRN_FIXTURES_DIR) +
                                           "/math_extremes.safetensors",
                                       fixture, error))
      << error;
  Tensor x = toTensor(fixture.tensors.at("x"));
  x.shape = {1, x.numel()};
  auto expectLike = [&](const Tensor &actual, const Tensor &expected,
                        double absolute, const std::string &what) {
    ASSERT_EQ(actual.data.size(), expected.data.size()) << what;
    for (size_t i = 0; i < expected.data.size(); ++i) {
      double a = actual.data[i], e = expected.data[i];
      std::string at = what + " at x = " + std::to_string(x.data[i]);
      if (std::isnan(e) || std::isinf(e))
        EXPECT_TRUE(std::isnan(e) ? std::isnan(a) : a == e)
            << at << ": " << a << ", expected " << e;
      else
        EXPECT_NEAR(a, e, 1e-5 * std::fabs(e) + absolute) << at;
    }
  };
  std::string type = "tensor<?x" + std::to_string(x.numel()) + "xf32>";
  int checked = 0;
  for (const auto &[name, tensor] : fixture.tensors) {
    if (name == "x")
      continue;
    std::string body = "func.func @f(%x: " + type + ") -> " + type +
                       " {\n  %y = firn." + name + " %x : " + type +
                       "\n  return %y : " + type + "\n}";
    Tensor torch = toTensor(tensor);
    Tensor halide = runFunction(body, {x})["result0"];
    expectLike(halide, torch, 2.5e-7, name + " (compiled, against PyTorch)");
    mlir::MLIRContext context;
    context.loadDialect<FirnDialect, mlir::func::FuncDialect>();
    auto parsed = mlir::parseSourceString<mlir::ModuleOp>(body, &context);
    ASSERT_TRUE(parsed);
    reference::Evaluator eval(*parsed);
    std::vector<Tensor> results;
    ASSERT_TRUE(mlir::succeeded(eval.initialize(error)) &&
                mlir::succeeded(eval.call("f", {x}, results, error)))
        << error;
    // In double, what overflows float32 (exp(100)) stays finite.
    Tensor exact = results[0];
    for (size_t i = 0; i < exact.data.size(); ++i)
      if (std::isinf(torch.data[i]) && std::isfinite(x.data[i]))
        exact.data[i] = torch.data[i];
    expectLike(exact, torch, 2.5e-7, name + " (reference, against PyTorch)");
    expectLike(halide, exact, 1e-8, name + " (compiled, against double)");
    ++checked;
  }
  // Every op of FIRN_MATH_OPS has its PyTorch values in the fixture.
  EXPECT_EQ(checked, static_cast<int>(std::tuple_size_v<std::tuple<FIRN_MATH_OPS>>));
}

TEST(HalideLowering, BatchedMatmul) {
  // Attention's shapes: [N, heads, T, d] products in every transposition,
  // with T = 19 (a row tail) and d = 24 (a column tail); the forward of
  // scores (q k^T, T x T) and of the output (p v, T x d); the backward's
  // p^T dy with rows that do not fill the last 8-row tile.
  uint64_t seed = 13;
  auto type = [](int64_t a, int64_t b) {
    return "tensor<?x3x" + std::to_string(a) + "x" + std::to_string(b) + "xf32>";
  };
  struct Variant {
    const char *flags;
    int64_t a0, a1, b0, b1, m, n;
  };
  for (const Variant &c : {Variant{"", 19, 24, 24, 19, 19, 19},
                           Variant{"transpose_rhs", 19, 24, 19, 24, 19, 19},
                           Variant{"transpose_lhs", 19, 24, 19, 24, 24, 24},
                           Variant{"transpose_lhs transpose_rhs", 19, 24, 24, 19, 24, 24},
                           // The transposed operand's 8-row tiles with a
                           // partial last one (21 rows).
                           Variant{"transpose_lhs", 19, 21, 19, 24, 21, 24}}) {
    Tensor a = random({2, 3, c.a0, c.a1}, seed), b = random({2, 3, c.b0, c.b1}, seed);
    checkOp("func.func @f(%a: " + type(c.a0, c.a1) + ", %b: " + type(c.b0, c.b1) + ") -> " +
                type(c.m, c.n) + " {\n  %y = firn.matmul %a, %b " + c.flags + " : " +
                type(c.a0, c.a1) + ", " + type(c.b0, c.b1) + " -> " + type(c.m, c.n) +
                "\n  return %y : " + type(c.m, c.n) + "\n}",
            {a, b});
  }
}

/// The shapes the fused attention tests run: `causal` (as the op's flag),
/// l query rows, s keys, e features, f value features; an [N, 3, rows,
/// columns] type.
struct AttentionShape {
  const char *causal;
  int64_t l, s, e, f;
};
const AttentionShape kAttentionShapes[] = {
    {" causal", 19, 19, 24, 24}, {"", 19, 13, 24, 9}, {" causal", 5, 5, 8, 8}};
std::string attentionType(int64_t rows, int64_t columns) {
  return "tensor<?x3x" + std::to_string(rows) + "x" + std::to_string(columns) + "xf32>";
}

/// Fused attention against the evaluator: a GPT head (causal, 19 query
/// rows: a partial last tile of 8, 24 features: a vector tail, keys of
/// another length without the mask), and rows that are the batch
/// (dynamic: tiles guarded instead of rounded up).
TEST(HalideLowering, FusedAttention) {
  uint64_t seed = 29;
  for (const AttentionShape &c : kAttentionShapes) {
    Tensor q = random({2, 3, c.l, c.e}, seed), k = random({2, 3, c.s, c.e}, seed),
           v = random({2, 3, c.s, c.f}, seed);
    const std::string q_t = attentionType(c.l, c.e), k_t = attentionType(c.s, c.e), v_t = attentionType(c.s, c.f),
                      y_t = attentionType(c.l, c.f);
    checkOp("func.func @f(%q: " + q_t + ", %k: " + k_t + ", %v: " + v_t + ") -> " + y_t +
                " {\n  %y = firn.attention %q, %k, %v scale 0.3" + c.causal + " : (" + q_t +
                ", " + k_t + ", " + v_t + ") -> " + y_t + "\n  return %y : " + y_t + "\n}",
            {q, k, v});
  }
  Tensor x = random({11, 20}, seed);
  checkOp("func.func @f(%x: tensor<?x20xf32>) -> tensor<?x20xf32> {\n"
          "  %y = firn.attention %x, %x, %x scale 0.2 : (tensor<?x20xf32>, tensor<?x20xf32>, "
          "tensor<?x20xf32>) -> tensor<?x20xf32>\n  return %y : tensor<?x20xf32>\n}",
          {x});
}

/// The fused attention gradient against the evaluator, on the forward's
/// own result: the shapes of FusedAttention (partial tiles of query rows
/// and of key rows, vector tails, keys of another length, values of another
/// width), and rows that are the batch.
TEST(HalideLowering, FusedAttentionGradient) {
  uint64_t seed = 31;
  auto body = [](const std::string &q_t, const std::string &k_t, const std::string &v_t,
                 const std::string &y_t, const std::string &flags) {
    return "func.func @f(%q: " + q_t + ", %k: " + k_t + ", %v: " + v_t + ", %dy: " + y_t +
           ") -> (" + q_t + ", " + k_t + ", " + v_t + ") {\n  %y = firn.attention %q, %k, %v " +
           flags + " : (" + q_t + ", " + k_t + ", " + v_t + ") -> " + y_t +
           "\n  %dq, %dk, %dv = firn.attention_grad %q, %k, %v, %y, %dy " + flags + " : (" +
           q_t + ", " + k_t + ", " + v_t + ", " + y_t + ", " + y_t + ") -> (" + q_t + ", " +
           k_t + ", " + v_t + ")\n  return %dq, %dk, %dv : " + q_t + ", " + k_t + ", " + v_t +
           "\n}";
  };
  for (const AttentionShape &c : kAttentionShapes) {
    Tensor q = random({2, 3, c.l, c.e}, seed), k = random({2, 3, c.s, c.e}, seed),
           v = random({2, 3, c.s, c.f}, seed), dy = random({2, 3, c.l, c.f}, seed);
    checkOp(body(attentionType(c.l, c.e), attentionType(c.s, c.e), attentionType(c.s, c.f), attentionType(c.l, c.f),
                 std::string("scale 0.3") + c.causal),
            {q, k, v, dy});
  }
  Tensor x = random({11, 20}, seed), dx = random({11, 20}, seed);
  const std::string t = "tensor<?x20xf32>";
  checkOp(body(t, t, t, t, "scale 0.2"), {x, x, x, dx});
}

TEST(HalideLowering, SliceAndConcat) {
  uint64_t seed = 17;
  Tensor a = random({3, 24, 5}, seed), b = random({3, 7, 5}, seed);
  checkOp("func.func @f(%a: tensor<?x24x5xf32>) -> tensor<?x8x5xf32> {\n"
          "  %y = firn.slice %a axis 1 start 8 : tensor<?x24x5xf32> -> tensor<?x8x5xf32>\n"
          "  return %y : tensor<?x8x5xf32>\n}",
          {a});
  checkOp("func.func @f(%b: tensor<?x7x5xf32>) -> tensor<?x24x5xf32> {\n"
          "  %y = firn.slice_grad %b axis 1 start 9 : tensor<?x7x5xf32> -> tensor<?x24x5xf32>\n"
          "  return %y : tensor<?x24x5xf32>\n}",
          {b});
  checkOp("func.func @f(%a: tensor<?x24x5xf32>, %b: tensor<?x7x5xf32>) -> tensor<?x38x5xf32> {\n"
          "  %y = firn.concat %b, %a, %b axis 1 : tensor<?x7x5xf32>, tensor<?x24x5xf32>, "
          "tensor<?x7x5xf32> -> tensor<?x38x5xf32>\n"
          "  return %y : tensor<?x38x5xf32>\n}",
          {a, b});
}

TEST(HalideLowering, EmbeddingGathersAndScattersRows) {
  // 37 columns: a vector tail; 45 positions over 7 rows: every row is hit
  // several times, so the gradient adds into rows.
  uint64_t seed = 11;
  Tensor table = random({7, 37}, seed), ids = random({5, 9}, seed, 0, 6.999, true),
         dy = random({5, 9, 37}, seed);
  for (const char *padding : {"", " padding_idx 2"}) {
    checkOp(std::string("func.func @f(%w: tensor<7x37xf32>, %i: tensor<?x9xi64>) -> "
                        "tensor<?x9x37xf32> {\n  %y = firn.embedding %w[%i]") +
                padding +
                " : (tensor<7x37xf32>, tensor<?x9xi64>) -> tensor<?x9x37xf32>\n"
                "  return %y : tensor<?x9x37xf32>\n}",
            {table, ids});
    checkOp(std::string("func.func @f(%dy: tensor<?x9x37xf32>, %i: tensor<?x9xi64>) -> "
                        "tensor<7x37xf32> {\n  %y = firn.embedding_grad %dy[%i]") +
                padding +
                " : (tensor<?x9x37xf32>, tensor<?x9xi64>) -> tensor<7x37xf32>\n"
                "  return %y : tensor<7x37xf32>\n}",
            {dy, ids});
  }
}

TEST(HalideLowering, FusedArithmeticRoundsLikePyTorch) {
  // PyTorch runs each op on its own and rounds every result to float32;
  // the fused kernel must too. Reassociated, (x - m) - l would become
  // x - (m + l) and (x + m) - m would fold to x. The oracle is the same
  // float32 arithmetic in C++, one rounding per op (volatile keeps the C++
  // compiler from folding it).
  Tensor x, m, l;
  x.shape = m.shape = l.shape = {1, 4};
  x.data = {9830.513f, 1e-3f, -7.25e3f, 3.0f};
  m.data = {9830.513f, 1e4f, 1.5e-3f, 1e8f};
  l.data = {2.9957323f, 2.5f, 1e4f, 0.1f};
  std::map<std::string, Tensor> out = runFunction(
      "func.func @f(%x: tensor<1x4xf32>, %m: tensor<1x4xf32>, %l: tensor<1x4xf32>) -> "
      "(tensor<1x4xf32>, tensor<1x4xf32>) {\n"
      "  %a = firn.sub %x, %m : tensor<1x4xf32>, tensor<1x4xf32> -> tensor<1x4xf32>\n"
      "  %b = firn.sub %a, %l : tensor<1x4xf32>, tensor<1x4xf32> -> tensor<1x4xf32>\n"
      "  %c = firn.add %x, %m : tensor<1x4xf32>, tensor<1x4xf32> -> tensor<1x4xf32>\n"
      "  %d = firn.sub %c, %m : tensor<1x4xf32>, tensor<1x4xf32> -> tensor<1x4xf32>\n"
      "  return %b, %d : tensor<1x4xf32>, tensor<1x4xf32>\n}",
      {x, m, l});
  ASSERT_TRUE(out.count("result0") && out.count("result1"));
  for (int i = 0; i < 4; ++i) {
    volatile float xi = static_cast<float>(x.data[i]), mi = static_cast<float>(m.data[i]),
                   li = static_cast<float>(l.data[i]);
    volatile float a = xi - mi, b = a - li, c = xi + mi, d = c - mi;
    EXPECT_EQ(static_cast<float>(out.at("result0").data[i]), static_cast<float>(b)) << i;
    EXPECT_EQ(static_cast<float>(out.at("result1").data[i]), static_cast<float>(d)) << i;
  }
}

TEST(HalideLowering, LogSoftmaxOfLargeLogitsKeepsItsOrder) {
  // Twenty equal logits near 1e4 (seed 003's): log_softmax is -log 20 each,
  // computed as (x - max) - log(sum). Reassociated into x - (max + log(sum)),
  // the sum rounds at max's magnitude and every value is 2^-10 off.
  Tensor x;
  x.shape = {2, 20};
  x.data.assign(40, 9830.513f);
  for (int c = 0; c < 20; ++c)
    x.data[20 + c] = -12000.25f + c;
  for (const char *axis : {"1", "0"}) {
    SCOPED_TRACE(axis);
    std::map<std::string, Tensor> out = runFunction(
        std::string("func.func @f(%x: tensor<2x20xf32>) -> tensor<2x20xf32> {\n"
                    "  %y = firn.log_softmax %x axis ") +
            axis + " : tensor<2x20xf32>\n  return %y : tensor<2x20xf32>\n}",
        {x});
    ASSERT_TRUE(out.count("result0"));
    const std::vector<double> &y = out.at("result0").data;
    if (std::string(axis) == "1") {
      double lse = 0; // of 0, 1, ..., 19 after the shift by the maximum
      for (int c = 0; c < 20; ++c)
        lse += std::exp(c - 19.0);
      for (int c = 0; c < 20; ++c) {
        EXPECT_NEAR(y[c], -std::log(20.0), 1e-6) << c;
        EXPECT_NEAR(y[20 + c], (c - 19.0) - std::log(lse), 1e-6) << c;
      }
    } else {
      // Down the columns: 9830.513 against about -12000, so 0 and the
      // difference itself (exact in float32 at this magnitude: 2^-10 steps).
      for (int c = 0; c < 20; ++c) {
        EXPECT_EQ(y[c], 0.0) << c;
        EXPECT_NEAR(y[20 + c], double(x.data[20 + c]) - double(x.data[c]), 2e-3) << c;
      }
    }
  }
}

TEST(HalideLowering, OneHotAndLayers) {
  uint64_t seed = 5;
  Tensor idx = random({6}, seed, 0, 4.999, true);
  checkOp("func.func @f(%t: tensor<?xi64>) -> tensor<?x5xf32> {\n"
          "  %y = firn.one_hot %t : tensor<?xi64> -> tensor<?x5xf32>\n"
          "  return %y : tensor<?x5xf32>\n}",
          {idx});
  // A class per position: targets [N, T] for logits [N, C, T].
  Tensor it = random({3, 7}, seed, 0, 4.999, true);
  checkOp("func.func @f(%t: tensor<?x7xi64>) -> tensor<?x5x7xf32> {\n"
          "  %y = firn.one_hot %t : tensor<?x7xi64> -> tensor<?x5x7xf32>\n"
          "  return %y : tensor<?x5x7xf32>\n}",
          {it});
  Tensor w = random({3}, seed);
  // Planes of 10 (statistics in one chain) and of 35 (in sixteen lanes,
  // with a partial last chunk: laneSums).
  for (const auto &[x, plane] : {std::pair(random({4, 3, 2, 5}, seed), "2x5"),
                                 std::pair(random({3, 3, 5, 7}, seed, -2, 3), "5x7")}) {
    const std::string t = std::string("tensor<?x3x") + plane + "xf32>";
    for (const char *mode : {"training", ""})
      checkOp(std::string("firn.buffer @rm : tensor<3xf32> = dense<0.5> : "
                          "tensor<3xf32>\nfirn.buffer @rv : tensor<3xf32> = "
                          "dense<2.0> : tensor<3xf32>\n"
                          "func.func @f(%x: ") +
                  t + ", %w: tensor<3xf32>) -> " + t + " {\n"
                  "  %rm = firn.read_buffer @rm : tensor<3xf32>\n"
                  "  %rv = firn.read_buffer @rv : tensor<3xf32>\n"
                  "  %y, %m, %v, %bm, %bv = firn.batch_norm %x weight %w bias %w "
                  "stats %rm, %rv eps 1.0e-05 momentum 0.1 " +
                  mode + " : (" + t + ", tensor<3xf32>, tensor<3xf32>, "
                  "tensor<3xf32>, tensor<3xf32>) -> (" + t + ", "
                  "tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>)\n"
                  "  firn.write_buffer %m to @rm : tensor<3xf32>\n"
                  "  firn.write_buffer %v to @rv : tensor<3xf32>\n"
                  "  return %y : " + t + "\n}",
              {x, w});
  }
  // Dropout: the same counter-based mask bits as the evaluator.
  checkOp("module attributes {firn.seed = 11 : i64} {\n"
          "firn.buffer @\"rng/step\" : tensor<i64> = dense<5> : tensor<i64>\n"
          "func.func @f(%x: tensor<?x13xf32>) -> tensor<?x13xf32> {\n"
          "  %k = firn.advance_counter @\"rng/step\" : tensor<i64>\n"
          "  %y = firn.dropout %x key %k p 0.3 stream 2 training : tensor<?x13xf32>\n"
          "  return %y : tensor<?x13xf32>\n}\n}",
          {random({7, 13}, seed)});
}

//===----------------------------------------------------------------------===//
// The seeds' training steps against PyTorch
//===----------------------------------------------------------------------===//


class SeedHalide : public ::testing::TestWithParam<const char *> {};

TEST_P(SeedHalide, TrainingStepMatchesPyTorch) {
  std::string stem = GetParam();
  double absolute = stem == "s003_two_conv" ? 1e-4 : 0.0; // See SeedGoldenTest.
  std::string path = std::string(FIRN_EXAMPLES_DIR) + "/seeds/" + stem + ".firn";
  mlir::MLIRContext context;
  firn::testing::CompiledModel compiled;
  std::string failure =
      firn::testing::compileModelFile(path, context, Stage::Optimized, compiled);
  ASSERT_EQ(failure, "");
  const auto &program = compiled.program;
  auto &ir = compiled.ir;

  auto step = codegen::lowerFunction(ir->lookupSymbol<mlir::func::FuncOp>("train_step"));
  auto update = codegen::lowerFunction(ir->lookupSymbol<mlir::func::FuncOp>("optimizer_step"));
  ASSERT_TRUE(mlir::succeeded(step) && mlir::succeeded(update));
  std::string error;
  for (codegen::LoweredFunction *fn : {&*step, &*update})
    ASSERT_TRUE(mlir::succeeded(codegen::scheduleForTarget(
        *fn, codegen::hostTarget(), error)))
        << error;

  runtime::SafetensorsFile fixture;
  ASSERT_TRUE(runtime::readSafetensors(std::string(FIRN_FIXTURES_DIR) + "/" +
                                           stem + ".safetensors",
                                       fixture, error))
      << error;
  // The state starts as the evaluator's initial state (constants, zeros).
  reference::Evaluator initial(*ir);
  ASSERT_TRUE(mlir::succeeded(initial.initialize(error))) << error;
  std::map<std::string, Tensor> state;
  for (const std::string &name : initial.stateNames())
    state[name] = *initial.getState(name);

  int phases = std::stoi(fixture.metadata.at("phases"));
  for (int phase = 1; phase <= phases; ++phase) {
    std::string p = std::to_string(phase) + "/";
    for (const Parameter &param : program->params)
      if (fixture.tensors.count(p + "init/" + param.name))
        state[param.name] = toTensor(fixture.tensors.at(p + "init/" + param.name));
    for (auto &[name, value] : state)
      if (name.rfind("grad/", 0) == 0)
        std::fill(value.data.begin(), value.data.end(), 0.0);
    std::map<std::string, Tensor> values = state;
    size_t arg = 0;
    for (const NamedValue &input : program->inputs)
      values["arg" + std::to_string(arg++)] =
          toTensor(fixture.tensors.at(p + "input/" + input.name));
    if (program->target)
      values["arg" + std::to_string(arg++)] =
          toTensor(fixture.tensors.at(p + "input/" + program->target->name));
    int passes = std::stoi(fixture.metadata.at(p + "backward_passes"));
    std::map<std::string, Tensor> out;
    for (int k = 0; k < passes; ++k) {
      for (const auto &[name, value] : state)
        values[name] = value;
      out = runHalide(*step, values);
      for (const auto &[name, value] : out)
        if (state.count(name))
          state[name] = value;
    }
    expectClose(out.at("result0"), toTensor(fixture.tensors.at(p + "loss")),
                stem + " loss", absolute);
    for (const Parameter &param : program->params) {
      auto expected = fixture.tensors.find(p + "grad/" + param.name);
      if (expected == fixture.tensors.end()) {
        EXPECT_EQ(state.count("grad/" + param.name), 0u) << param.name;
        continue;
      }
      expectClose(state.at("grad/" + param.name), toTensor(expected->second),
                  stem + " grad/" + param.name, absolute);
    }
    for (const auto &[name, value] : runHalide(*update, state))
      state[name] = value;
    for (const Parameter &param : program->params)
      expectClose(state.at(param.name),
                  toTensor(fixture.tensors.at(p + "after/" + param.name)),
                  stem + " after/" + param.name, absolute);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, SeedHalide,
                         ::testing::Values("s000_conv_linear",
                                           "s001_frozen_branches",
                                           "s002_tinynet_frozen_fc2",
                                           "s003_two_conv", "s004_linear_adam"));

} // namespace
