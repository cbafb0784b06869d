// RUN: firn-opt %s | FileCheck %s
// RUN: firn-opt %s | firn-opt | FileCheck %s
// RUN: firn-opt %s --mlir-print-op-generic | firn-opt | FileCheck %s
//
// Every op of the firn dialect, printed in its custom form and parsed back.

// CHECK: module attributes {firn.accumulate = 2 : i64, firn.model = "Everything", firn.seed = 3 : i64, firn.zero_grad = "model"}
module attributes {firn.model = "Everything", firn.seed = 3 : i64, firn.accumulate = 2 : i64, firn.zero_grad = "model"} {
  // CHECK: firn.optimizer @adam Adam groups [{betas = [9.000000e-01, 0.99899999999999999], lr = 1.000000e-03 : f64}, {lr = 1.000000e-04 : f64}]
  firn.optimizer @adam Adam groups [{lr = 1.0e-3 : f64, betas = [0.9, 0.999]}, {lr = 1.0e-4 : f64}]
  // CHECK: firn.optimizer @sgd SGD groups [{lr = 1.000000e-01 : f64, nesterov = true}]
  firn.optimizer @sgd SGD groups [{lr = 0.1 : f64, nesterov = true}]
  // CHECK: firn.param @fc.weight : tensor<3x4xf32> trainable owner @adam group 1 init uniform bound 5.000000e-01
  firn.param @fc.weight : tensor<3x4xf32> trainable owner @adam group 1 init uniform bound 0.5
  // CHECK: firn.param @fc.bias : tensor<1xf32> frozen init constant = dense<3.000000e+00> : tensor<1xf32>
  firn.param @fc.bias : tensor<1xf32> frozen init constant = dense<3.0> : tensor<1xf32>
  // CHECK: firn.param @conv.weight : tensor<4x2x3x3xf32> trainable owner @sgd group 0 init load
  firn.param @conv.weight : tensor<4x2x3x3xf32> trainable owner @sgd group 0 init load
  // CHECK: firn.param @emb.weight : tensor<5x3xf32> frozen init normal bound 1.000000e+00 zero_row 2
  firn.param @emb.weight : tensor<5x3xf32> frozen init normal bound 1.0 zero_row 2
  // CHECK: firn.buffer @bn.running_mean : tensor<4xf32> = dense<0.000000e+00> : tensor<4xf32>
  firn.buffer @bn.running_mean : tensor<4xf32> = dense<0.0> : tensor<4xf32>
  // CHECK: firn.buffer @"rng/step" : tensor<i64> = dense<0> : tensor<i64>
  firn.buffer @"rng/step" : tensor<i64> = dense<0> : tensor<i64>
  // CHECK: firn.clip_grad_norm max_norm 1.000000e+00 norm_type 2.000000e+00
  firn.clip_grad_norm max_norm 1.0 norm_type 2.0
  // CHECK: firn.clip_grad_value 5.000000e-01
  firn.clip_grad_value 0.5
  // CHECK: firn.lr_schedule @sched "StepLR" for @adam {gamma = 1.000000e-01 : f64, step_size = 10 : i64}
  firn.lr_schedule @sched "StepLR" for @adam {step_size = 10 : i64, gamma = 0.1 : f64}

  // CHECK-LABEL: func.func @state
  func.func @state(%v: tensor<4xf32>) {
    // CHECK: firn.read_param @fc.weight : tensor<3x4xf32>
    %w = firn.read_param @fc.weight : tensor<3x4xf32>
    // CHECK: firn.write_param %{{.*}} to @fc.weight : tensor<3x4xf32>
    firn.write_param %w to @fc.weight : tensor<3x4xf32>
    // CHECK: firn.read_buffer @bn.running_mean : tensor<4xf32>
    %m = firn.read_buffer @bn.running_mean : tensor<4xf32>
    // CHECK: firn.write_buffer %{{.*}} to @bn.running_mean : tensor<4xf32>
    firn.write_buffer %v to @bn.running_mean : tensor<4xf32>
    return
  }

  // CHECK-LABEL: func.func @layers
  func.func @layers(%x: tensor<?x4xf32>, %w: tensor<3x4xf32>, %b: tensor<1xf32>,
                    %img: tensor<?x2x5x5xf32>, %k: tensor<4x2x3x3xf32>, %kb: tensor<4xf32>,
                    %c: tensor<4xf32>)
      attributes {firn.mode = "train"} {
    // CHECK: firn.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<1xf32>) -> tensor<?x3xf32>
    %0 = firn.linear %x, %w, %b : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<1xf32>) -> tensor<?x3xf32>
    // CHECK: firn.linear %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
    %1 = firn.linear %x, %w : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
    // CHECK: firn.conv2d %{{.*}}, %{{.*}}, %{{.*}} stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x2x5x5xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<?x4x3x3xf32>
    %2 = firn.conv2d %img, %k, %kb stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x2x5x5xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<?x4x3x3xf32>
    // CHECK: firn.advance_counter @"rng/step" : tensor<i64>
    %key = firn.advance_counter @"rng/step" : tensor<i64>
    // CHECK: firn.dropout %{{.*}} key %{{.*}} p 2.500000e-01 stream 4 training : tensor<?x3xf32>
    %6 = firn.dropout %0 key %key p 0.25 stream 4 training : tensor<?x3xf32>
    // CHECK: firn.dropout %{{.*}} p 2.500000e-01 : tensor<?x3xf32>
    %7 = firn.dropout %0 p 0.25 : tensor<?x3xf32>
    // CHECK: firn.batch_norm %{{.*}} weight %{{.*}} bias %{{.*}} stats %{{.*}}, %{{.*}} eps 1.000000e-05 momentum 1.000000e-01 training
    %8:5 = firn.batch_norm %2 weight %c bias %c stats %c, %c eps 1.0e-5 momentum 0.1 training : (tensor<?x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
    // CHECK: firn.batch_norm %{{.*}} stats %{{.*}}, %{{.*}} eps
    %9:5 = firn.batch_norm %2 stats %c, %c eps 1.0e-5 momentum 0.1 : (tensor<?x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
    // momentum=None: a cumulative average over the count of batches.
    // CHECK: firn.batch_norm %{{.*}} stats %{{.*}}, %{{.*}} count %{{.*}} eps 1.000000e-05 training :
    %10:5 = firn.batch_norm %2 stats %c, %c count %key eps 1.0e-5 training : (tensor<?x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<i64>) -> (tensor<?x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
    return
  }

  // CHECK-LABEL: func.func @primitives
  func.func @primitives(%x: tensor<?x4xf32>, %y: tensor<4xf32>, %m: tensor<4x3xf32>,
                        %idx: tensor<?xi64>, %img: tensor<?x2x5x5xf32>, %dy: tensor<?x4x3x3xf32>,
                        %k: tensor<4x2x3x3xf32>) {
    // CHECK: firn.constant dense<1.000000e+00> : tensor<f32>
    %one = firn.constant dense<1.0> : tensor<f32>
    // CHECK: firn.relu %{{.*}} : tensor<?x4xf32>
    %0 = firn.relu %x : tensor<?x4xf32>
    // CHECK: firn.neg
    %1 = firn.neg %x : tensor<?x4xf32>
    // CHECK: firn.exp
    %2 = firn.exp %x : tensor<?x4xf32>
    // CHECK: firn.log
    %3 = firn.log %x : tensor<?x4xf32>
    // CHECK: firn.sqrt
    %4 = firn.sqrt %x : tensor<?x4xf32>
    // CHECK: firn.rsqrt
    // CHECK: firn.abs
    // CHECK: firn.sign
    // CHECK: firn.tanh
    // CHECK: firn.sigmoid
    // CHECK: firn.silu
    // CHECK: firn.erf
    // CHECK: firn.gelu %
    // CHECK: firn.gelu_tanh
    %m0 = firn.rsqrt %x : tensor<?x4xf32>
    %m1 = firn.abs %x : tensor<?x4xf32>
    %m2 = firn.sign %x : tensor<?x4xf32>
    %m3 = firn.tanh %x : tensor<?x4xf32>
    %m4 = firn.sigmoid %x : tensor<?x4xf32>
    %m5 = firn.silu %x : tensor<?x4xf32>
    %m6 = firn.erf %x : tensor<?x4xf32>
    %m7 = firn.gelu %x : tensor<?x4xf32>
    %m8 = firn.gelu_tanh %x : tensor<?x4xf32>
    // CHECK: firn.add %{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x4xf32>
    %5 = firn.add %x, %y : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x4xf32>
    // CHECK: firn.sub
    %6 = firn.sub %x, %one : tensor<?x4xf32>, tensor<f32> -> tensor<?x4xf32>
    // CHECK: firn.mul
    %7 = firn.mul %one, %x : tensor<f32>, tensor<?x4xf32> -> tensor<?x4xf32>
    // CHECK: firn.div
    %8 = firn.div %x, %x : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
    // CHECK: firn.max
    %9 = firn.max %x, %one : tensor<?x4xf32>, tensor<f32> -> tensor<?x4xf32>
    // CHECK: firn.pow %{{.*}}, %{{.*}} : tensor<f32>, tensor<f32> -> tensor<f32>
    %pw = firn.pow %one, %one : tensor<f32>, tensor<f32> -> tensor<f32>
    // CHECK: firn.compare gt, %{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<f32> -> tensor<?x4xf32>
    %cmp = firn.compare gt, %x, %one : tensor<?x4xf32>, tensor<f32> -> tensor<?x4xf32>
    // CHECK: firn.compare ne, %{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x4xf32>
    %cne = firn.compare ne, %x, %y : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x4xf32>
    // CHECK: firn.compare eq, %{{.*}}, %{{.*}} : tensor<?xi64>, tensor<f32> -> tensor<?xf32>
    %cid = firn.compare eq, %idx, %one : tensor<?xi64>, tensor<f32> -> tensor<?xf32>
    // CHECK: firn.select %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<4xf32>, tensor<f32> -> tensor<?x4xf32>
    %sel = firn.select %cmp, %y, %one : tensor<?x4xf32>, tensor<4xf32>, tensor<f32> -> tensor<?x4xf32>
    // CHECK: firn.bias_correction %{{.*}} beta 0.99899999999999999 : tensor<f32>
    %bc = firn.bias_correction %one beta 0.999 : tensor<f32>
    // CHECK: firn.numel %{{.*}} axes [0] : tensor<?x4xf32> -> tensor<f32>
    %nm = firn.numel %x axes [0] : tensor<?x4xf32> -> tensor<f32>
    // CHECK: firn.relu_grad %{{.*}}, %{{.*}} : tensor<?x4xf32>
    %10 = firn.relu_grad %x, %x : tensor<?x4xf32>
    // CHECK: firn.reshape %{{.*}} : tensor<?x2x5x5xf32> -> tensor<?x50xf32>
    %11 = firn.reshape %img : tensor<?x2x5x5xf32> -> tensor<?x50xf32>
    // CHECK: firn.transpose %{{.*}} perm [1, 0] : tensor<4x3xf32> -> tensor<3x4xf32>
    %12 = firn.transpose %m perm [1, 0] : tensor<4x3xf32> -> tensor<3x4xf32>
    // CHECK: firn.matmul %{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<4x3xf32> -> tensor<?x3xf32>
    %13 = firn.matmul %x, %m : tensor<?x4xf32>, tensor<4x3xf32> -> tensor<?x3xf32>
    // CHECK: firn.matmul %{{.*}}, %{{.*}} transpose_lhs : tensor<?x4xf32>, tensor<?x3xf32> -> tensor<4x3xf32>
    %14 = firn.matmul %x, %13 transpose_lhs : tensor<?x4xf32>, tensor<?x3xf32> -> tensor<4x3xf32>
    // CHECK: firn.matmul %{{.*}}, %{{.*}} transpose_rhs : tensor<?x3xf32>, tensor<4x3xf32> -> tensor<?x4xf32>
    %15 = firn.matmul %13, %m transpose_rhs : tensor<?x3xf32>, tensor<4x3xf32> -> tensor<?x4xf32>
    // CHECK: firn.attention %{{.*}}, %{{.*}}, %{{.*}} scale 5.000000e-01 causal : (tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>) -> tensor<?x2x5x5xf32>
    %att = firn.attention %img, %img, %img scale 0.5 causal : (tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>) -> tensor<?x2x5x5xf32>
    // CHECK: firn.attention %{{.*}}, %{{.*}}, %{{.*}} scale 1.000000e+00 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
    %attx = firn.attention %x, %x, %x scale 1.0 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
    // CHECK: firn.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} scale 5.000000e-01 causal : (tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>) -> (tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>)
    %dq, %dk, %dv = firn.attention_grad %img, %img, %img, %att, %img scale 0.5 causal : (tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>) -> (tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>)
    // CHECK: firn.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} scale 1.000000e+00 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>)
    %dqx, %dkx, %dvx = firn.attention_grad %x, %x, %x, %attx, %x scale 1.0 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>)
    // CHECK: firn.reduce_sum %{{.*}} axes [0] : tensor<?x4xf32> -> tensor<4xf32>
    %16 = firn.reduce_sum %x axes [0] : tensor<?x4xf32> -> tensor<4xf32>
    // CHECK: firn.reduce_mean %{{.*}} axes [] : tensor<?x4xf32> -> tensor<f32>
    %17 = firn.reduce_mean %x axes [] : tensor<?x4xf32> -> tensor<f32>
    // CHECK: firn.reduce_max %{{.*}} axes [1] keepdims : tensor<?x4xf32> -> tensor<?x1xf32>
    %18 = firn.reduce_max %x axes [1] keepdims : tensor<?x4xf32> -> tensor<?x1xf32>
    // CHECK: firn.broadcast_like %{{.*}}, %{{.*}} : tensor<f32>, tensor<?x4xf32> -> tensor<?x4xf32>
    %19 = firn.broadcast_like %one, %x : tensor<f32>, tensor<?x4xf32> -> tensor<?x4xf32>
    // CHECK: firn.cross_replica_sum %{{.*}} : tensor<4x3xf32>
    %crs = firn.cross_replica_sum %m : tensor<4x3xf32>
    // CHECK: firn.softmax %{{.*}} axis 1 : tensor<?x4xf32>
    %20 = firn.softmax %x axis 1 : tensor<?x4xf32>
    // CHECK: firn.log_softmax %{{.*}} axis 1 : tensor<?x4xf32>
    %21 = firn.log_softmax %x axis 1 : tensor<?x4xf32>
    // CHECK: firn.one_hot %{{.*}} : tensor<?xi64> -> tensor<?x4xf32>
    %22 = firn.one_hot %idx : tensor<?xi64> -> tensor<?x4xf32>
    // CHECK: firn.conv2d_grad_input %{{.*}}, %{{.*}} stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x4x3x3xf32>, tensor<4x2x3x3xf32>) -> tensor<?x2x5x5xf32>
    %23 = firn.conv2d_grad_input %dy, %k stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x4x3x3xf32>, tensor<4x2x3x3xf32>) -> tensor<?x2x5x5xf32>
    // CHECK: firn.conv2d_grad_weight %{{.*}}, %{{.*}} stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x2x5x5xf32>, tensor<?x4x3x3xf32>) -> tensor<4x2x3x3xf32>
    %24 = firn.conv2d_grad_weight %img, %dy stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x2x5x5xf32>, tensor<?x4x3x3xf32>) -> tensor<4x2x3x3xf32>
    // CHECK: firn.max_pool2d %{{.*}} kernel [3, 3] stride [2, 2] padding [1, 1] : tensor<?x2x5x5xf32> -> tensor<?x2x3x3xf32>
    %25 = firn.max_pool2d %img kernel [3, 3] stride [2, 2] padding [1, 1] : tensor<?x2x5x5xf32> -> tensor<?x2x3x3xf32>
    // CHECK: firn.max_pool2d_grad %{{.*}}, %{{.*}} kernel [3, 3] stride [2, 2] padding [1, 1] : (tensor<?x2x3x3xf32>, tensor<?x2x5x5xf32>) -> tensor<?x2x5x5xf32>
    %26 = firn.max_pool2d_grad %25, %img kernel [3, 3] stride [2, 2] padding [1, 1] : (tensor<?x2x3x3xf32>, tensor<?x2x5x5xf32>) -> tensor<?x2x5x5xf32>
    // CHECK: firn.linear_weight_grad %{{.*}}, %{{.*}} : (tensor<?x4x3x3xf32>, tensor<?x4x3x3xf32>) -> tensor<3x3xf32>
    %lw = firn.linear_weight_grad %dy, %dy : (tensor<?x4x3x3xf32>, tensor<?x4x3x3xf32>) -> tensor<3x3xf32>
    // CHECK: firn.avg_pool2d %{{.*}} kernel [3, 3] stride [2, 2] padding [1, 1] count_include_pad : tensor<?x2x5x5xf32> -> tensor<?x2x3x3xf32>
    %a25 = firn.avg_pool2d %img kernel [3, 3] stride [2, 2] padding [1, 1] count_include_pad : tensor<?x2x5x5xf32> -> tensor<?x2x3x3xf32>
    // CHECK: firn.avg_pool2d_grad %{{.*}} kernel [3, 3] stride [2, 2] padding [1, 1] : tensor<?x2x3x3xf32> -> tensor<?x2x5x5xf32>
    %a26 = firn.avg_pool2d_grad %a25 kernel [3, 3] stride [2, 2] padding [1, 1] : tensor<?x2x3x3xf32> -> tensor<?x2x5x5xf32>
    // CHECK: firn.matmul %{{.*}}, %{{.*}} transpose_rhs : tensor<?x4x3x3xf32>, tensor<?x4x3x3xf32> -> tensor<?x4x3x3xf32>
    %bm = firn.matmul %dy, %dy transpose_rhs : tensor<?x4x3x3xf32>, tensor<?x4x3x3xf32> -> tensor<?x4x3x3xf32>
    // CHECK: firn.slice %{{.*}} axis 1 start 1 : tensor<?x4xf32> -> tensor<?x2xf32>
    %sl = firn.slice %x axis 1 start 1 : tensor<?x4xf32> -> tensor<?x2xf32>
    // CHECK: firn.slice_grad %{{.*}} axis 1 start 2 : tensor<?x2xf32> -> tensor<?x4xf32>
    %sg = firn.slice_grad %sl axis 1 start 2 : tensor<?x2xf32> -> tensor<?x4xf32>
    // CHECK: firn.concat %{{.*}}, %{{.*}} axis 1 : tensor<?x2xf32>, tensor<?x4xf32> -> tensor<?x6xf32>
    %cc = firn.concat %sl, %x axis 1 : tensor<?x2xf32>, tensor<?x4xf32> -> tensor<?x6xf32>
    // CHECK: firn.embedding %{{.*}}[%{{.*}}] padding_idx 1 : (tensor<4x3xf32>, tensor<?xi64>) -> tensor<?x3xf32>
    %e = firn.embedding %m[%idx] padding_idx 1 : (tensor<4x3xf32>, tensor<?xi64>) -> tensor<?x3xf32>
    // CHECK: firn.embedding_grad %{{.*}}[%{{.*}}] : (tensor<?x3xf32>, tensor<?xi64>) -> tensor<4x3xf32>
    %eg = firn.embedding_grad %e[%idx] : (tensor<?x3xf32>, tensor<?xi64>) -> tensor<4x3xf32>
    return
  }
}
