//===- CostRulesTest.cpp - The ops' FLOP counts, counted by hand ----------===//
//
// Each op states its FLOPs beside its verifier (CostOpInterface); these
// check the rules --explain-pruning adds up against counts made by hand,
// for the shapes the end-to-end reports do not reach (batched and
// transposed products, windows, data movement).
//
//===----------------------------------------------------------------------===//
#include "firn/Analysis/Cost.h"
#include "firn/Dialect/FirnDialect.h"
#include "firn/Dialect/FirnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <map>

using namespace firn;

namespace {

/// One op per line of @f, each with a name (`firn.name`) the test looks up.
constexpr const char *kOps = R"mlir(
func.func @f(%a: tensor<?x3x4xf32>, %at: tensor<?x4x3xf32>, %b: tensor<?x4x5xf32>,
             %x: tensor<?x4xf32>, %y: tensor<?x3xf32>, %img: tensor<?x2x5x5xf32>,
             %k: tensor<4x2x3x3xf32>, %pooled: tensor<?x2x3x3xf32>) {
  %0 = firn.matmul %a, %b {name = "batched"} : tensor<?x3x4xf32>, tensor<?x4x5xf32> -> tensor<?x3x5xf32>
  %1 = firn.matmul %at, %b transpose_lhs {name = "batched_t"} : tensor<?x4x3xf32>, tensor<?x4x5xf32> -> tensor<?x3x5xf32>
  %2 = firn.matmul %x, %y transpose_lhs {name = "over_batch"} : tensor<?x4xf32>, tensor<?x3xf32> -> tensor<4x3xf32>
  %3 = firn.conv2d %img, %k stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] {name = "conv"} : (tensor<?x2x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<?x4x3x3xf32>
  %4 = firn.max_pool2d_grad %pooled, %img kernel [3, 3] stride [2, 2] padding [1, 1] {name = "pool_grad"} : (tensor<?x2x3x3xf32>, tensor<?x2x5x5xf32>) -> tensor<?x2x5x5xf32>
  %5 = firn.transpose %a perm [0, 2, 1] {name = "transpose"} : tensor<?x3x4xf32> -> tensor<?x4x3xf32>
  %6 = firn.add %at, %5 {name = "add"} : tensor<?x4x3xf32>, tensor<?x4x3xf32> -> tensor<?x4x3xf32>
  return
}
)mlir";

TEST(CostRules, CountTheProductsWindowsAndCopiesByHand) {
  mlir::MLIRContext context;
  context.loadDialect<FirnDialect, mlir::func::FuncDialect>();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kOps, &context);
  ASSERT_TRUE(module);
  std::map<std::string, int64_t> flops;
  module->walk([&](mlir::Operation *op) {
    if (auto name = op->getAttrOfType<mlir::StringAttr>("name")) {
      Cost cost = estimateCost(op, /*batchSize=*/2);
      EXPECT_TRUE(cost.stated) << name.str();
      flops[name.str()] = cost.flops;
    }
  });
  // [2, 3, 4] @ [2, 4, 5]: 2 * 30 outputs * 4 products each. The summed
  // dimension is the lhs's last, whatever the batch dimensions before it
  // (it was read as dimension 1, 3 here, until 2026-12-05).
  EXPECT_EQ(flops["batched"], 2 * 30 * 4);
  // [2, 4, 3]^T @ [2, 4, 5]: the same product.
  EXPECT_EQ(flops["batched_t"], 2 * 30 * 4);
  // [2, 4]^T @ [2, 3] sums over the batch: 12 outputs of 2 products.
  EXPECT_EQ(flops["over_batch"], 2 * 12 * 2);
  // [2, 4, 3, 3] outputs, each 2 * 3 * 3 products.
  EXPECT_EQ(flops["conv"], 2 * (2 * 4 * 3 * 3) * (2 * 3 * 3));
  // The windows are the pooled side's 2 * 2 * 3 * 3, of 9 taps each.
  EXPECT_EQ(flops["pool_grad"], (2 * 2 * 3 * 3) * 9);
  EXPECT_EQ(flops["transpose"], 0);
  EXPECT_EQ(flops["add"], 2 * 4 * 3);
  EXPECT_EQ(flops.size(), 7u);
}

} // namespace
