// RUN: firn-opt %s --firn-autodiff --firn-prune-frozen --firn-lower-optimizers | FileCheck %s
//
// Gradient clipping in the update: each group's function computes
// clip_grad_norm_'s factor from every gradient buffer (sum of squares,
// sqrt, min(max_norm / (norm + 1e-6), 1)), scales its gradients by it, then
// clamps them by clip_grad_value_, in the order the module lists them.

// CHECK-LABEL: func.func @"step/opt/0"()
// CHECK-DAG: firn.read_buffer @"grad/a"
// CHECK-DAG: firn.read_buffer @"grad/b"
// CHECK: %[[NORM:.*]] = firn.sqrt
// CHECK: %[[C:.*]] = firn.constant dense<5.000000e-01>
// CHECK: firn.div %[[C]], %{{.*}}
// CHECK: firn.max
// CHECK: %[[SCALE:.*]] = firn.neg
// CHECK: %[[G:.*]] = firn.read_buffer @"grad/a"
// CHECK: %[[SCALED:.*]] = firn.mul %[[G]], %[[SCALE]]
// CHECK: firn.max
// CHECK: firn.write_param %{{.*}} to @a
// CHECK-NOT: firn.write_buffer %{{.*}} to @"grad/
module attributes {firn.zero_grad = "optimizer"} {
  firn.optimizer @opt SGD groups [{lr = 0.1 : f64, momentum = 0.0 : f64, dampening = 0.0 : f64, weight_decay = 0.0 : f64, nesterov = false, maximize = false}]
  firn.clip_grad_norm max_norm 0.5 norm_type 2.0
  firn.clip_grad_value 0.2
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
