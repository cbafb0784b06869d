// RUN: firn-opt %s --firn-autodiff --firn-prune-frozen --firn-lower-optimizers | FileCheck %s
//
// Adagrad, Adamax and RMSprop (centered, with momentum): their state under
// torch.optim's names, updated in their group's function.

// CHECK-DAG: firn.buffer @"optim/ada/a/sum" : tensor<2xf32> = dense<1.000000e-01>
// CHECK-DAG: firn.buffer @"optim/ada/a/step" : tensor<f32>
// CHECK-DAG: firn.buffer @"optim/max/b/exp_avg" : tensor<2xf32>
// CHECK-DAG: firn.buffer @"optim/max/b/exp_inf" : tensor<2xf32>
// CHECK-DAG: firn.buffer @"optim/rms/c/square_avg" : tensor<2xf32>
// CHECK-DAG: firn.buffer @"optim/rms/c/grad_avg" : tensor<2xf32>
// CHECK-DAG: firn.buffer @"optim/rms/c/momentum_buffer" : tensor<2xf32>

// CHECK-LABEL: func.func @"step/ada/0"()
// CHECK: %[[SUM:.*]] = firn.add %{{.*}}, %{{.*}} : tensor<2xf32>
// CHECK: firn.write_buffer %[[SUM]] to @"optim/ada/a/sum"
// CHECK: firn.sqrt %[[SUM]]
// CHECK: firn.write_param %{{.*}} to @a
// CHECK-LABEL: func.func @"step/max/0"()
// The infinity norm: max(beta2 u, |g| + eps), |g| as max(g, -g).
// CHECK: firn.neg
// CHECK: firn.max
// CHECK: %[[U:.*]] = firn.max
// CHECK: firn.write_buffer %[[U]] to @"optim/max/b/exp_inf"
// CHECK: firn.bias_correction %{{.*}} beta 8.000000e-01
// CHECK: firn.write_param %{{.*}} to @b
// CHECK-LABEL: func.func @"step/rms/0"()
// CHECK: firn.write_buffer %{{.*}} to @"optim/rms/c/square_avg"
// CHECK: firn.write_buffer %{{.*}} to @"optim/rms/c/grad_avg"
// CHECK: firn.write_buffer %{{.*}} to @"optim/rms/c/momentum_buffer"
// CHECK: firn.write_param %{{.*}} to @c
module attributes {firn.zero_grad = "optimizer"} {
  firn.optimizer @ada Adagrad groups [{lr = 0.1 : f64, lr_decay = 0.01 : f64, weight_decay = 0.0 : f64, initial_accumulator_value = 0.1 : f64, eps = 1.0e-10 : f64, maximize = false}]
  firn.optimizer @max Adamax groups [{lr = 0.002 : f64, betas = [0.8, 0.95], eps = 1.0e-8 : f64, weight_decay = 0.0 : f64, maximize = false}]
  firn.optimizer @rms RMSprop groups [{lr = 0.01 : f64, alpha = 0.9 : f64, eps = 1.0e-8 : f64, weight_decay = 0.0 : f64, momentum = 0.5 : f64, centered = true, maximize = false}]
  firn.param @a : tensor<2xf32> trainable owner @ada group 0 init load
  firn.param @b : tensor<2xf32> trainable owner @max group 0 init load
  firn.param @c : tensor<2xf32> trainable owner @rms group 0 init load
  func.func @train_step(%x: tensor<?x2xf32>) -> tensor<f32> {
    %a = firn.read_param @a : tensor<2xf32>
    %b = firn.read_param @b : tensor<2xf32>
    %c = firn.read_param @c : tensor<2xf32>
    %0 = firn.mul %x, %a : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %1 = firn.mul %0, %b : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %2 = firn.mul %1, %c : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %l = firn.reduce_sum %2 axes [] : tensor<?x2xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
