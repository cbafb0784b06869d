//===- FirnDialect.td - The firn dialect -------------------*- tablegen -*-===//
#ifndef FIRN_DIALECT
#define FIRN_DIALECT

include "mlir/IR/OpBase.td"

def Firn_Dialect : Dialect {
  let name = "firn";
  let summary = "Training programs: parameters, layers, losses, gradients and optimizers";
  let description = [{
    A firn module is one model and its training setup. Program state is
    module-level symbols: `firn.param` (learnable tensors, each carrying its
    trainability and the optimizer that owns it) and `firn.buffer` (other
    persistent tensors: BatchNorm running statistics, gradient accumulators,
    optimizer moments). Computation lives in `func.func`s (`@predict`,
    `@train_step`) over ranked tensors whose first dimension may be the
    symbolic batch dimension `?`. Layer-level ops (`firn.linear`,
    `firn.conv2d`, ...) sit beside the primitive ops their gradients are
    written in (`firn.matmul`, `firn.reduce_sum`, `firn.conv2d_grad_weight`, ...).
  }];
  let cppNamespace = "::firn";
  let hasOperationAttrVerify = 1;
}

class Firn_Op<string mnemonic, list<Trait> traits = []> :
    Op<Firn_Dialect, mnemonic, traits>;

#endif // FIRN_DIALECT
