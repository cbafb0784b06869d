// RUN: firn-opt %s --firn-autodiff --firn-prune-frozen --firn-lower-optimizers | FileCheck %s
//
// A clip `for @opt` (clip_grad_norm_(opt_params, ...)) reads and overwrites
// only the gradients of the parameters @opt owns: @b's buffer, which no
// optimizer owns, is neither part of the norm nor written.

// CHECK-LABEL: func.func @clip_grads()
// CHECK-NEXT: %[[A:.*]] = firn.read_buffer @"grad/a"
// CHECK-NEXT: firn.mul %[[A]], %[[A]]
// CHECK-NEXT: firn.reduce_sum
// CHECK-NEXT: firn.sqrt
// CHECK-NOT: @"grad/b"
// CHECK: firn.write_buffer %{{.*}} to @"grad/a"
// CHECK-NEXT: return
module attributes {firn.zero_grad = "optimizer"} {
  firn.optimizer @opt SGD groups [{lr = 0.1 : f64, momentum = 0.0 : f64, dampening = 0.0 : f64, weight_decay = 0.0 : f64, nesterov = false, maximize = false}]
  firn.clip_grad_norm max_norm 0.5 norm_type 2.0 for @opt
  firn.param @a : tensor<2xf32> trainable owner @opt group 0 init load
  firn.param @b : tensor<2xf32> trainable init load
  func.func @train_step(%x: tensor<?x2xf32>) -> tensor<f32> {
    %a = firn.read_param @a : tensor<2xf32>
    %b = firn.read_param @b : tensor<2xf32>
    %0 = firn.mul %x, %a : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %1 = firn.mul %0, %b : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %l = firn.reduce_sum %1 axes [] : tensor<?x2xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
