// RUN: firn-opt %s --firn-autodiff --firn-prune-frozen | FileCheck %s
// RUN: firn-opt %s --firn-autodiff --firn-prune-frozen | FileCheck %s --check-prefix=GONE
// RUN: firn-opt %s --firn-autodiff | FileCheck %s --check-prefix=BEFORE
//
// x -> l1 (trainable) -> l2 (frozen) -> l3 (frozen) -> loss. After pruning:
// no gradient buffer, accumulation or weight gradient for l2 and l3; the
// gradient still flows through l3 and l2 back to l1 (seed 002); the
// gradient of the data x (the first layer's input) is gone.

// CHECK: firn.param @l1 : tensor<3x2xf32> trainable
// CHECK-NEXT: firn.buffer @"grad/l1"
// CHECK-NEXT: firn.param @l2 : tensor<3x3xf32> frozen
// CHECK-NEXT: firn.param @l3 : tensor<1x3xf32> frozen
// CHECK-NOT: firn.buffer
// CHECK-LABEL: func.func @train_step
// CHECK: %[[W1:.*]] = firn.read_param @l1
// CHECK: %[[H1:.*]] = firn.linear %arg0, %[[W1]]
// CHECK: %[[W2:.*]] = firn.read_param @l2
// CHECK: %[[H2:.*]] = firn.linear %[[H1]], %[[W2]]
// CHECK: %[[W3:.*]] = firn.read_param @l3
// CHECK: %[[Y:.*]] = firn.linear %[[H2]], %[[W3]]
// Through l3 and l2 (input gradients only), to l1's weight gradient:
// CHECK: %[[D2:.*]] = firn.matmul %{{.*}}, %[[W3]] : tensor<?x1xf32>, tensor<1x3xf32> -> tensor<?x3xf32>
// CHECK-NEXT: %[[D1:.*]] = firn.matmul %[[D2]], %[[W2]] : tensor<?x3xf32>, tensor<3x3xf32> -> tensor<?x3xf32>
// CHECK-NEXT: %[[G1:.*]] = firn.matmul %[[D1]], %arg0 transpose_lhs : tensor<?x3xf32>, tensor<?x2xf32> -> tensor<3x2xf32>
// CHECK-NEXT: firn.read_buffer @"grad/l1"
// CHECK-NEXT: firn.add %{{.*}}, %[[G1]]
// CHECK-NEXT: firn.write_buffer %{{.*}} to @"grad/l1"
// CHECK-NEXT: return
// No weight gradient of a frozen layer, no gradient of the data; autodiff
// alone does produce them (BEFORE), so these checks can fail.
// GONE-LABEL: func.func @train_step
// GONE-NOT: -> tensor<3x3xf32>
// GONE-NOT: -> tensor<1x3xf32>
// GONE-NOT: -> tensor<?x2xf32>
// GONE-NOT: @"grad/l2"
// GONE-NOT: @"grad/l3"
// GONE: return
// BEFORE-LABEL: func.func @train_step
// BEFORE-DAG: -> tensor<1x3xf32>
// BEFORE-DAG: -> tensor<3x3xf32>
// BEFORE-DAG: firn.matmul %{{.*}}, %{{.*}} : tensor<?x3xf32>, tensor<3x2xf32> -> tensor<?x2xf32>
// BEFORE-DAG: firn.write_buffer %{{.*}} to @"grad/l2"
// BEFORE-DAG: firn.write_buffer %{{.*}} to @"grad/l3"
// BEFORE: return
// CHECK-LABEL: func.func @zero_grad()
// CHECK-NEXT: firn.constant
// CHECK-NEXT: firn.write_buffer %{{.*}} to @"grad/l1"
// CHECK-NEXT: return
module attributes {firn.zero_grad = "model"} {
  firn.param @l1 : tensor<3x2xf32> trainable init load
  firn.param @l2 : tensor<3x3xf32> frozen init load
  firn.param @l3 : tensor<1x3xf32> frozen init load
  func.func @train_step(%x: tensor<?x2xf32>) -> tensor<f32> {
    %w1 = firn.read_param @l1 : tensor<3x2xf32>
    %h1 = firn.linear %x, %w1 : (tensor<?x2xf32>, tensor<3x2xf32>) -> tensor<?x3xf32>
    %w2 = firn.read_param @l2 : tensor<3x3xf32>
    %h2 = firn.linear %h1, %w2 : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
    %w3 = firn.read_param @l3 : tensor<1x3xf32>
    %y = firn.linear %h2, %w3 : (tensor<?x3xf32>, tensor<1x3xf32>) -> tensor<?x1xf32>
    %l = firn.reduce_sum %y axes [] : tensor<?x1xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
