// RUN: firn-opt %s --firn-autodiff --firn-prune-frozen --firn-lower-optimizers | FileCheck %s
//
// Gradient clipping overwrites the gradients, as clip_grad_norm_ and
// clip_grad_value_ overwrite .grad: @clip_grads computes clip_grad_norm_'s
// factor from every gradient buffer (sum of squares, sqrt,
// min(max_norm / (norm + 1e-6), 1)) -- @b's too, which no optimizer owns --
// scales them by it, clamps what that left by clip_grad_value_ (the order the
// module lists them), and writes both buffers back. @optimizer_step calls it
// before the group, which reads the clipped gradient and clips nothing.

// CHECK-LABEL: func.func @clip_grads()
// CHECK-DAG: %[[A:.*]] = firn.read_buffer @"grad/a"
// CHECK-DAG: %[[B:.*]] = firn.read_buffer @"grad/b"
// CHECK: firn.sqrt
// CHECK: %[[C:.*]] = firn.constant dense<5.000000e-01>
// CHECK: firn.div %[[C]], %{{.*}}
// CHECK: firn.max
// CHECK: %[[SCALE:.*]] = firn.neg
// CHECK: %[[SA:.*]] = firn.mul %[[A]], %[[SCALE]]
// CHECK: %[[SB:.*]] = firn.mul %[[B]], %[[SCALE]]
// CHECK: %[[V:.*]] = firn.constant dense<-2.000000e-01>
// CHECK-NEXT: %[[NA:.*]] = firn.neg %[[SA]]
// CHECK-NEXT: %[[MA:.*]] = firn.max %[[NA]], %[[V]]
// CHECK-NEXT: %[[LA:.*]] = firn.neg %[[MA]]
// CHECK-NEXT: %[[VA:.*]] = firn.max %[[LA]], %[[V]]
// CHECK-NEXT: %[[NB:.*]] = firn.neg %[[SB]]
// CHECK-NEXT: %[[MB:.*]] = firn.max %[[NB]], %[[V]]
// CHECK-NEXT: %[[LB:.*]] = firn.neg %[[MB]]
// CHECK-NEXT: %[[VB:.*]] = firn.max %[[LB]], %[[V]]
// CHECK: firn.write_buffer %[[VA]] to @"grad/a"
// CHECK-NEXT: firn.write_buffer %[[VB]] to @"grad/b"
// CHECK-NEXT: return

// CHECK-LABEL: func.func @"step/opt/0"()
// CHECK-NOT: firn.max
// CHECK: %[[G:.*]] = firn.read_buffer @"grad/a"
// CHECK-NOT: firn.max
// CHECK: firn.mul %{{.*}}, %[[G]]
// CHECK-NOT: firn.write_buffer
// CHECK: firn.write_param %{{.*}} to @a
// CHECK-NEXT: return

// CHECK-LABEL: func.func @optimizer_step()
// CHECK-NEXT: call @clip_grads()
// CHECK-NEXT: call @"step/opt/0"()
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
