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
    differentiable set means adding its rule next to it (the "Gradient
    rules" section of its family's file, dialects/lib/Ops/<Family>.cpp),
    nothing in the pass.
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

def Firn_CostOpInterface : OpInterface<"CostOpInterface"> {
  let description = [{
    What one execution of the op computes, in floating-point operations,
    for `--explain-pruning` (compiler/lib/Analysis/Cost.cpp adds the bytes
    its operands and results move). Every op of a function states it, in
    its ODS entry: Firn_ElementwiseCost (one per element of the result),
    Firn_DataMovementCost (none: copies, gathers, state access) or
    Firn_OwnCost, whose `getFlops` is written beside the op's verifier in
    its family's file (dialects/lib/Ops/). An op that states none fails
    the op-completeness test instead of being counted as elementwise, as
    pooling once silently was.
  }];
  let cppNamespace = "::firn";
  let methods = [
    InterfaceMethod<[{
        The FLOPs of one execution when the batch (the dynamic dimension)
        has size `batch`; saturates at kCostSaturated (CostRules.h).
      }], "int64_t", "getFlops", (ins "int64_t":$batch)>
  ];
}

def Firn_ElementwiseCostTrait : NativeOpTrait<"ElementwiseCost"> {
  let cppNamespace = "::firn::OpTrait";
}
def Firn_NoFlopsTrait : NativeOpTrait<"NoFlops"> {
  let cppNamespace = "::firn::OpTrait";
}
// One FLOP per element of the op's first result.
def Firn_ElementwiseCost : TraitList<[Firn_ElementwiseCostTrait, Firn_CostOpInterface]>;
// No FLOPs: the op moves or reads data.
def Firn_DataMovementCost : TraitList<[Firn_NoFlopsTrait, Firn_CostOpInterface]>;
// The op's own rule: `getFlops` in its family's file.
def Firn_OwnCost : DeclareOpInterfaceMethods<Firn_CostOpInterface>;

#endif // FIRN_INTERFACES
