// RUN: firn-opt %s --firn-autodiff --firn-prune-frozen --firn-lower-optimizers | FileCheck %s
//
// One function per optimizer group; only owned parameters that kept a
// gradient buffer are updated: @frozen (selected but frozen, seed 001) and
// @free (trainable, no owner, seed 000) never change. The learning rate and
// the optimizer state are buffers.

// CHECK-DAG: firn.buffer @"optim/sgd/0/lr" : tensor<f32> = dense<1.000000e-01>
// CHECK-DAG: firn.buffer @"optim/sgd/a/momentum_buffer" : tensor<2xf32> = dense<0.000000e+00>
// CHECK-DAG: firn.buffer @"optim/adam/0/lr" : tensor<f32> = dense<5.000000e-01>
// CHECK-DAG: firn.buffer @"optim/adam/c/step" : tensor<f32> = dense<0.000000e+00>
// CHECK-DAG: firn.buffer @"optim/adam/c/exp_avg" : tensor<2xf32>
// CHECK-DAG: firn.buffer @"optim/adam/c/exp_avg_sq" : tensor<2xf32>
// CHECK-NOT: @"optim/sgd/frozen
// CHECK-NOT: @"optim/{{.*}}/free

// SGD with momentum 0.9 and nesterov: buf = 0.9 buf + d; d = d + 0.9 buf.
// CHECK-LABEL: func.func @"step/sgd/0"()
// CHECK: %[[LR:.*]] = firn.read_buffer @"optim/sgd/0/lr"
// CHECK: %[[P:.*]] = firn.read_param @a
// CHECK: %[[G:.*]] = firn.read_buffer @"grad/a"
// CHECK: %[[BUF:.*]] = firn.read_buffer @"optim/sgd/a/momentum_buffer"
// CHECK: %[[MB:.*]] = firn.mul %{{.*}}, %[[BUF]]
// CHECK: %[[NEXT:.*]] = firn.add %[[MB]], %{{.*}}
// CHECK: firn.write_buffer %[[NEXT]] to @"optim/sgd/a/momentum_buffer"
// CHECK: %[[NB:.*]] = firn.mul %{{.*}}, %[[NEXT]]
// CHECK: %[[D:.*]] = firn.add %[[G]], %[[NB]]
// CHECK: %[[STEP:.*]] = firn.mul %[[LR]], %[[D]]
// CHECK: %[[NEW:.*]] = firn.sub %[[P]], %[[STEP]]
// CHECK: firn.write_param %[[NEW]] to @a
// CHECK-NOT: @frozen
// CHECK: return

// Adam: step count, both moments, bias corrections from the step count.
// CHECK-LABEL: func.func @"step/adam/0"()
// CHECK: firn.read_buffer @"optim/adam/c/step"
// CHECK: firn.write_buffer %{{.*}} to @"optim/adam/c/step"
// CHECK: firn.write_buffer %{{.*}} to @"optim/adam/c/exp_avg"
// CHECK: firn.write_buffer %{{.*}} to @"optim/adam/c/exp_avg_sq"
// CHECK: firn.bias_correction %{{.*}} beta 9.000000e-01
// CHECK: firn.bias_correction %{{.*}} beta 0.99899999999999999
// CHECK: firn.sqrt
// CHECK: firn.write_param %{{.*}} to @c
// CHECK-LABEL: func.func @optimizer_step()
// CHECK-NEXT: call @"step/sgd/0"() : () -> ()
// CHECK-NEXT: call @"step/adam/0"() : () -> ()
// CHECK-NEXT: return
// CHECK-NOT: write_param %{{.*}} to @free
module attributes {firn.zero_grad = "optimizer"} {
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
