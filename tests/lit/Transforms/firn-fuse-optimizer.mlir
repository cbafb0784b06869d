// RUN: firn-opt %s --firn-autodiff --firn-prune-frozen --firn-lower-optimizers --firn-fuse-optimizer | FileCheck %s
//
// @fused_step is the backward pass followed by both optimizers' updates,
// which read the gradients of @a and @c as the values the backward pass
// computed: their buffers, which zero_grad clears every step, are neither
// read nor written, so no gradient buffer exists for them in the kernel.
// @free (trainable, no optimizer: zero_grad never clears it) still
// accumulates into its buffer; @frozen has none. The three functions the
// fused one replaces stay.

// CHECK-LABEL: func.func @train_step(
// CHECK: firn.write_buffer %{{.*}} to @"grad/a"
// CHECK-LABEL: func.func @zero_grad()
// CHECK-LABEL: func.func @optimizer_step()

// CHECK-LABEL: func.func @fused_step(%{{.*}}: tensor<?x2xf32>) -> tensor<f32>
// CHECK-NOT: @"grad/a"
// CHECK-NOT: @"grad/c"
// The backward pass: d(loss)/d(a) sums x times the upstream gradient over
// the batch.
// CHECK: %[[XA:.*]] = firn.mul %{{.*}}, %arg0 : tensor<?x2xf32>, tensor<?x2xf32>
// CHECK: %[[SA:.*]] = firn.reduce_sum %[[XA]] axes [0] keepdims
// CHECK: %[[GA:.*]] = firn.reshape %[[SA]] : tensor<1x2xf32> -> tensor<2xf32>
// CHECK-NOT: @"grad/a"
// CHECK: %[[FREE:.*]] = firn.read_buffer @"grad/free"
// CHECK: %[[ACC:.*]] = firn.add %[[FREE]], %{{.*}}
// CHECK: firn.write_buffer %[[ACC]] to @"grad/free"
// SGD with nesterov reads the gradient value %[[GA]] directly.
// CHECK: firn.read_buffer @"optim/sgd/0/lr"
// CHECK: firn.read_param @a
// CHECK: firn.read_buffer @"optim/sgd/a/momentum_buffer"
// CHECK: firn.mul %{{.*}}, %[[GA]]
// CHECK: firn.write_param %{{.*}} to @a
// CHECK: firn.write_param %{{.*}} to @c
// CHECK-NOT: @"grad/a"
// CHECK-NOT: @"grad/c"
// CHECK-NOT: @frozen
// CHECK: return
module attributes {firn.zero_grad = "optimizer", firn.accumulate = 1 : i64} {
  firn.optimizer @sgd SGD groups [{lr = 0.1 : f64, momentum = 0.9 : f64, dampening = 0.0 : f64, weight_decay = 0.0 : f64, nesterov = true, maximize = false}]
  firn.optimizer @adam Adam groups [{lr = 0.5 : f64, betas = [0.9, 0.999], eps = 1.0e-8 : f64, weight_decay = 0.0 : f64, amsgrad = false, maximize = false}]
  firn.param @a : tensor<2xf32> trainable owner @sgd group 0 init load
  firn.param @frozen : tensor<2xf32> frozen owner @sgd group 0 init load
  firn.param @c : tensor<2xf32> trainable owner @adam group 0 init load
  firn.param @free : tensor<2xf32> trainable init load
  func.func @train_step(%x: tensor<?x2xf32>) -> tensor<f32> {
    %a = firn.read_param @a : tensor<2xf32>
    %f = firn.read_param @frozen : tensor<2xf32>
    %c = firn.read_param @c : tensor<2xf32>
    %u = firn.read_param @free : tensor<2xf32>
    %0 = firn.mul %x, %a : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %1 = firn.mul %0, %f : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %2 = firn.mul %1, %c : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %3 = firn.mul %2, %u : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %l = firn.reduce_sum %3 axes [] : tensor<?x2xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
