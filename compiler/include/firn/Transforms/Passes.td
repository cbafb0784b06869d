//===- Passes.td - firn's passes ---------------------------*- tablegen -*-===//
//
// The training pipeline, in order (see buildTrainingPipeline in Passes.h):
// autodiff, frozen-parameter pruning, optimizer lowering, optimizer fusion.
// Each runs alone in firn-opt under its flag, and its lit test is named
// after the flag.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_PASSES
#define FIRN_PASSES

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Training step
//===----------------------------------------------------------------------===//

def FirnAutodiff : Pass<"firn-autodiff", "mlir::ModuleOp"> {
  let summary = "Generates the backward pass of @train_step as IR";
  let description = [{
    Reverse-mode automatic differentiation: one walk over @train_step from
    its returned loss back to its inputs, asking each op for its gradient
    rule (DifferentiableOpInterface). Gradients of values used more than once
    are summed. The gradient of every parameter read, trainable or frozen, is
    added into a persistent buffer @"grad/<param>" so that calls without a
    zero_grad in between accumulate, as PyTorch's backward() does. Frozen
    parameters are differentiated too, on purpose: firn-prune-frozen removes
    that work as a separate, visible step. Also adds @zero_grad(), which
    clears the buffers the module's zero_grad policy names.
  }];
  let dependentDialects = ["firn::FirnDialect", "mlir::func::FuncDialect"];
}

def FirnPruneFrozen : Pass<"firn-prune-frozen", "mlir::ModuleOp"> {
  let summary = "Removes all work that frozen parameters make unnecessary";
  let description = [{
    A frozen parameter keeps no gradient: its gradient buffer and the ops
    accumulating into it go, and then every op whose result is no longer
    used (the weight-gradient computations of frozen layers, the input
    gradients of a frozen prefix of the network, the gradient of the data).
    Gradients that pass through a frozen layer to a trainable one before it
    stay, because they are still used.
  }];
}

def FirnLowerOptimizers : Pass<"firn-lower-optimizers", "mlir::ModuleOp"> {
  let summary = "Writes each optimizer's update as IR, one function per group";
  let description = [{
    For each parameter group of each firn.optimizer, a function
    @"step/<optimizer>/<group>" updates every parameter the group owns that
    has a gradient buffer (frozen parameters lost theirs to pruning), with
    torch.optim's exact arithmetic; @optimizer_step calls them in order. The
    learning rate and the per-parameter state (momentum buffers, Adam's
    moments and step counts) are buffers, so they persist across steps, go
    into checkpoints, and a schedule can change the rate without
    recompiling.
  }];
}

def FirnFuseOptimizer : Pass<"firn-fuse-optimizer", "mlir::ModuleOp"> {
  let summary = "Writes one training step without gradient buffers: @fused_step";
  let description = [{
    @fused_step is train_step followed by every optimizer group's update,
    each update reading its gradient as the value the backward pass
    computed instead of from grad/<param> when zero_grad clears that buffer
    (so it is neither read nor written); gradients the policy does not clear
    still accumulate in their buffers. Not built with `accumulate` above 1
    or gradient clipping. The runtime calls it when nothing asks for the
    gradients (no --save-grads, no --accumulate).
  }];
}

#endif // FIRN_PASSES
