//===- FirnInterfaces.td - Interfaces of firn ops ----------*- tablegen -*-===//
#ifndef FIRN_INTERFACES
#define FIRN_INTERFACES

include "mlir/IR/OpBase.td"

// An op whose lowering computes at root (a product, a window, a reduction):
// each starts a kernel, which the elementwise ops after it join
// (compiler/lib/Codegen/KernelPartition.cpp). Stated on the op, so that a
// new op of this kind changes nothing in the partitioner.
def Firn_KernelAnchor : NativeOpTrait<"KernelAnchor"> {
  let cppNamespace = "::firn::OpTrait";
}

def Firn_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let description = [{
    An op that knows its own gradient rule. Reverse-mode autodiff is one
    generic walk over a function that asks each op, given the gradients of
    its results, for the gradients of its operands; adding an op to the
    differentiable set means adding its rule next to it
    (dialects/lib/FirnGradients.cpp), nothing in the pass.
  }];
  let cppNamespace = "::firn";
  let methods = [
    InterfaceMethod<[{
        Builds, at the builder's insertion point, the gradient of the loss
        with respect to each operand, given `resultGrads` (one per result;
        a null Value means that result's gradient is zero). Fills
        `operandGrads` with one Value per operand, null where the operand
        takes no gradient (an integer target, a shape donor). Fails, with a
        diagnostic on the op, if the rule does not support this case.
      }], "::mlir::LogicalResult", "buildGradients",
      (ins "::mlir::OpBuilder &":$builder,
           "::mlir::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>
  ];
}

#endif // FIRN_INTERFACES
