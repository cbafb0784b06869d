// RUN: firn-opt %s --split-input-file --firn-autodiff --firn-prune-frozen --firn-lower-optimizers --firn-fuse-optimizer | FileCheck %s
//
// No @fused_step where the gradient buffers are needed between backward
// and step: four backward passes per step (accumulate 4), and clipping by
// the global norm of all gradients before any update.

// CHECK-LABEL: module attributes {firn.accumulate = 4
// CHECK: func.func @optimizer_step()
// CHECK-NOT: @fused_step
module attributes {firn.accumulate = 4 : i64, firn.zero_grad = "optimizer"} {
  firn.optimizer @sgd SGD groups [{lr = 0.1 : f64, momentum = 0.0 : f64, dampening = 0.0 : f64, weight_decay = 0.0 : f64, nesterov = false, maximize = false}]
  firn.param @a : tensor<2xf32> trainable owner @sgd group 0 init load
  func.func @train_step(%x: tensor<?x2xf32>) -> tensor<f32> {
    %a = firn.read_param @a : tensor<2xf32>
    %0 = firn.mul %x, %a : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %l = firn.reduce_sum %0 axes [] : tensor<?x2xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// CHECK-LABEL: module attributes {firn.accumulate = 1
// CHECK: firn.clip_grad_norm
// CHECK: func.func @optimizer_step()
// CHECK-NOT: @fused_step
module attributes {firn.accumulate = 1 : i64, firn.zero_grad = "optimizer"} {
  firn.optimizer @sgd SGD groups [{lr = 0.1 : f64, momentum = 0.0 : f64, dampening = 0.0 : f64, weight_decay = 0.0 : f64, nesterov = false, maximize = false}]
  firn.clip_grad_norm max_norm 1.0 norm_type 2.0
  firn.param @a : tensor<2xf32> trainable owner @sgd group 0 init load
  func.func @train_step(%x: tensor<?x2xf32>) -> tensor<f32> {
    %a = firn.read_param @a : tensor<2xf32>
    %0 = firn.mul %x, %a : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %l = firn.reduce_sum %0 axes [] : tensor<?x2xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
