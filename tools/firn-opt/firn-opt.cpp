//===- firn-opt.cpp - mlir-opt for the firn dialect -----------------------===//
//
// Parses, verifies, transforms and prints firn IR: the firn dialect, the
// func dialect its programs live in, every firn pass and MLIR's generic
// passes (canonicalize, cse, ...). Lit tests drive each pass through it.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnDialect.h"
#include "firn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerTransformsPasses();
  firn::registerFirnPasses();
  mlir::DialectRegistry registry;
  registry.insert<firn::FirnDialect, mlir::func::FuncDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "firn optimizer driver\n", registry));
}
