// RUN: firn-opt %s --firn-autodiff -split-input-file | FileCheck %s
// RUN: firn-opt %s --firn-autodiff -split-input-file | firn-opt -split-input-file > /dev/null
//
// The backward pass as IR: fan-out sums, broadcasting reduces back to the
// operand's shape, gradients accumulate into persistent buffers (frozen
// parameters included: pruning removes them later), and @zero_grad clears
// what the module's policy says.

// A [1]-shaped bias broadcast over [N, 2] (seed 001) gets the sum of its
// gradient; y feeds two ops, so its gradient is the sum of two.
// CHECK-LABEL: module attributes {firn.zero_grad = "optimizer"}
// CHECK: firn.param @w : tensor<2x1xf32> trainable owner @opt group 0
// CHECK-NEXT: firn.buffer @"grad/w" : tensor<2x1xf32> = dense<0.000000e+00>
// CHECK: firn.param @b : tensor<1xf32> frozen
// CHECK-NEXT: firn.buffer @"grad/b" : tensor<1xf32> = dense<0.000000e+00>
// CHECK-LABEL: func.func @train_step
// CHECK: %[[Y:.*]] = firn.linear %arg0, %[[W:.*]], %[[B:.*]] :
// CHECK: %[[S:.*]] = firn.add %[[Y]], %[[Y]]
// CHECK: %[[L:.*]] = firn.reduce_sum %[[S]] axes []
// CHECK: %[[ONE:.*]] = firn.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[DS:.*]] = firn.broadcast_like %[[ONE]], %[[S]]
// CHECK: %[[DY:.*]] = firn.add %[[DS]], %[[DS]] : tensor<?x2xf32>
// CHECK: firn.matmul %[[DY]], %arg0 transpose_lhs : tensor<?x2xf32>, tensor<?x1xf32> -> tensor<2x1xf32>
// CHECK: %[[DB:.*]] = firn.reduce_sum %[[DY]] axes [0, 1] keepdims : tensor<?x2xf32> -> tensor<1x1xf32>
// CHECK: firn.reshape %[[DB]] : tensor<1x1xf32> -> tensor<1xf32>
// CHECK: %[[OLD:.*]] = firn.read_buffer @"grad/w"
// CHECK: %[[NEW:.*]] = firn.add %[[OLD]], %{{.*}} : tensor<2x1xf32>
// CHECK: firn.write_buffer %[[NEW]] to @"grad/w"
// CHECK: firn.write_buffer %{{.*}} to @"grad/b"
// CHECK: return %[[L]]
// CHECK-LABEL: func.func @zero_grad()
// CHECK: firn.write_buffer %{{.*}} to @"grad/w"
// CHECK-NOT: @"grad/b"
// CHECK: return
module attributes {firn.zero_grad = "optimizer"} {
  firn.optimizer @opt SGD groups [{lr = 0.1 : f64}]
  firn.param @w : tensor<2x1xf32> trainable owner @opt group 0 init load
  firn.param @b : tensor<1xf32> frozen init load
  func.func @train_step(%x: tensor<?x1xf32>) -> tensor<f32> {
    %w = firn.read_param @w : tensor<2x1xf32>
    %b = firn.read_param @b : tensor<1xf32>
    %y = firn.linear %x, %w, %b : (tensor<?x1xf32>, tensor<2x1xf32>, tensor<1xf32>) -> tensor<?x2xf32>
    %s = firn.add %y, %y : tensor<?x2xf32>, tensor<?x2xf32> -> tensor<?x2xf32>
    %l = firn.reduce_sum %s axes [] : tensor<?x2xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// A layer applied twice shares its weight: one accumulation of the summed
// gradient. Reshape (view) passes the gradient back in the input's shape,
// and conv2d gets its two transposed convolutions. zero_grad "model" clears
// every gradient, owned or not.
// CHECK-LABEL: module attributes {firn.zero_grad = "model"}
// CHECK-LABEL: func.func @train_step
// CHECK: %[[C:.*]] = firn.conv2d %arg0, %[[K:.*]] stride [1, 1] padding [1, 1, 1, 1]
// CHECK: %[[R:.*]] = firn.reshape %[[C]] : tensor<?x1x2x2xf32> -> tensor<?x4xf32>
// CHECK: %[[A:.*]] = firn.linear %[[R]], %[[W:.*]] :
// CHECK: %[[B:.*]] = firn.linear %[[A]], %[[W2:.*]] :
// CHECK: %[[SQ:.*]] = firn.mul %[[B]], %[[B]]
// CHECK: firn.reduce_mean %[[SQ]] axes []
// CHECK: firn.numel %[[SQ]] axes []
// CHECK: %[[GW2:.*]] = firn.matmul %{{.*}}, %[[A]] transpose_lhs
// CHECK: %[[GW1:.*]] = firn.matmul %{{.*}}, %[[R]] transpose_lhs
// CHECK: %[[GR:.*]] = firn.reshape %{{.*}} : tensor<?x4xf32> -> tensor<?x1x2x2xf32>
// CHECK: firn.conv2d_grad_input %[[GR]], %[[K]] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x1x2x2xf32>, tensor<1x1x3x3xf32>) -> tensor<?x1x2x2xf32>
// CHECK: %[[GK:.*]] = firn.conv2d_grad_weight %arg0, %[[GR]]
// CHECK: %[[SUM:.*]] = firn.add %[[GW1]], %[[GW2]] : tensor<4x4xf32>
// CHECK: firn.read_buffer @"grad/k"
// CHECK: firn.add %{{.*}}, %[[GK]]
// CHECK: firn.read_buffer @"grad/w"
// CHECK: firn.add %{{.*}}, %[[SUM]]
// CHECK-LABEL: func.func @zero_grad()
// CHECK: firn.write_buffer %{{.*}} to @"grad/k"
// CHECK: firn.write_buffer %{{.*}} to @"grad/w"
module attributes {firn.zero_grad = "model"} {
  firn.param @k : tensor<1x1x3x3xf32> trainable init load
  firn.param @w : tensor<4x4xf32> trainable init load
  func.func @train_step(%x: tensor<?x1x2x2xf32>, %t: tensor<?x4xf32>) -> tensor<f32> {
    %k = firn.read_param @k : tensor<1x1x3x3xf32>
    %c = firn.conv2d %x, %k stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x1x2x2xf32>, tensor<1x1x3x3xf32>) -> tensor<?x1x2x2xf32>
    %r = firn.reshape %c : tensor<?x1x2x2xf32> -> tensor<?x4xf32>
    %w = firn.read_param @w : tensor<4x4xf32>
    %a = firn.linear %r, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
    %w2 = firn.read_param @w : tensor<4x4xf32>
    %b = firn.linear %a, %w2 : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
    %sq = firn.mul %b, %b : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
    %l = firn.reduce_mean %sq axes [] : tensor<?x4xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// Cross-entropy as IR generation decomposes it: log_softmax of the logits
// times the one-hot targets. The gradient reaches the logits through
// log_softmax's rule, dz = g - exp(log_softmax(z)) sum(g, 1) (the softmax
// from the result, as PyTorch's backward takes it), with g the one-hot
// rows times the upstream gradient; the one-hot rows (of i64 targets) get
// none.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[OH:.*]] = firn.one_hot %arg1 : tensor<?xi64> -> tensor<?x3xf32>
// CHECK: %[[LP:.*]] = firn.log_softmax %arg0 axis 1
// CHECK: %[[G:.*]] = firn.mul %{{.*}}, %[[OH]] : tensor<?x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
// CHECK: %[[ROW:.*]] = firn.reduce_sum %[[G]] axes [1] keepdims : tensor<?x3xf32> -> tensor<?x1xf32>
// CHECK: %[[SM:.*]] = firn.exp %[[LP]]
// CHECK: %[[SCALED:.*]] = firn.mul %[[SM]], %[[ROW]] : tensor<?x3xf32>, tensor<?x1xf32> -> tensor<?x3xf32>
// CHECK: firn.sub %[[G]], %[[SCALED]]
module {
  func.func @train_step(%z: tensor<?x3xf32>, %t: tensor<?xi64>) -> tensor<f32> {
    %h = firn.one_hot %t : tensor<?xi64> -> tensor<?x3xf32>
    %lp = firn.log_softmax %z axis 1 : tensor<?x3xf32>
    %m = firn.mul %h, %lp : tensor<?x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
    %s = firn.reduce_sum %m axes [] : tensor<?x3xf32> -> tensor<f32>
    %l = firn.neg %s : tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// Dropout's gradient draws the same mask again: the same key and stream.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[K:.*]] = firn.advance_counter @"rng/step"
// CHECK: firn.dropout %{{.*}} key %[[K]] p 5.000000e-01 stream 3 training
// CHECK: firn.dropout %{{.*}} key %[[K]] p 5.000000e-01 stream 3 training
module {
  firn.buffer @"rng/step" : tensor<i64> = dense<0> : tensor<i64>
  firn.param @w : tensor<2xf32> trainable init load
  func.func @train_step(%x: tensor<?x2xf32>) -> tensor<f32> {
    %k = firn.advance_counter @"rng/step" : tensor<i64>
    %w = firn.read_param @w : tensor<2xf32>
    %h = firn.mul %x, %w : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %d = firn.dropout %h key %k p 0.5 stream 3 training : tensor<?x2xf32>
    %l = firn.reduce_sum %d axes [] : tensor<?x2xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// A number in the model (`h * 2.0`, `loss + 1.0`) is a constant: a leaf with
// nothing to learn. The gradient flows past it: d/dw of sum(2 x w) + 1 is
// the column sum of 2 x, the constant times the incoming gradient.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[TWO:.*]] = firn.constant dense<2.000000e+00> : tensor<f32>
// CHECK: %[[DH:.*]] = firn.broadcast_like
// CHECK: %[[DY:.*]] = firn.mul %[[DH]], %[[TWO]]
// CHECK: %[[DW:.*]] = firn.mul %[[DY]], %arg0
// CHECK: %[[SUM:.*]] = firn.reduce_sum %[[DW]] axes [0] keepdims
// CHECK: %[[G:.*]] = firn.reshape %[[SUM]]
// CHECK: %[[ACC:.*]] = firn.add %{{.*}}, %[[G]]
// CHECK: firn.write_buffer %[[ACC]] to @"grad/w"
module {
  firn.param @w : tensor<2xf32> trainable init load
  func.func @train_step(%x: tensor<?x2xf32>) -> tensor<f32> {
    %w = firn.read_param @w : tensor<2xf32>
    %two = firn.constant dense<2.0> : tensor<f32>
    %one = firn.constant dense<1.0> : tensor<f32>
    %h = firn.mul %x, %w : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %y = firn.mul %h, %two : tensor<?x2xf32>, tensor<f32> -> tensor<?x2xf32>
    %s = firn.reduce_sum %y axes [] : tensor<?x2xf32> -> tensor<f32>
    %l = firn.add %s, %one : tensor<f32>, tensor<f32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
