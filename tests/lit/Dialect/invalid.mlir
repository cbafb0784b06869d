// RUN: firn-opt %s -split-input-file -verify-diagnostics
//
// Each verifier rule of the dialect, broken once.

func.func @linear_features(%x: tensor<?x3xf32>, %w: tensor<2x4xf32>) {
  // expected-error @+1 {{linear input [N, 3] has 3 features but the weight [2, 4] expects 4}}
  %0 = firn.linear %x, %w : (tensor<?x3xf32>, tensor<2x4xf32>) -> tensor<?x2xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<?x4xf32>, %w: tensor<2x4xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{linear bias [3] does not broadcast to [2]}}
  %0 = firn.linear %x, %w, %b : (tensor<?x4xf32>, tensor<2x4xf32>, tensor<3xf32>) -> tensor<?x2xf32>
  return
}

// -----

func.func @linear_result(%x: tensor<?x4xf32>, %w: tensor<2x4xf32>) {
  // expected-error @+1 {{result shape [N, 3] does not match the inferred shape [N, 2]}}
  %0 = firn.linear %x, %w : (tensor<?x4xf32>, tensor<2x4xf32>) -> tensor<?x3xf32>
  return
}

// -----

func.func @batch_not_first(%x: tensor<4x?xf32>) {
  // expected-error @+1 {{operand #0 must be ranked f32 tensor whose only dynamic dimension is the first}}
  %0 = firn.relu %x : tensor<4x?xf32>
  return
}

// -----

func.func @integer_data(%x: tensor<4xi64>) {
  // expected-error @+1 {{must be ranked f32 tensor}}
  %0 = firn.relu %x : tensor<4xi64>
  return
}

// -----

func.func @conv_channels(%x: tensor<?x3x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  // expected-error @+1 {{conv2d input [N, 3, 8, 8] has 3 channels but the weight [4, 2, 3, 3] expects 2}}
  %0 = firn.conv2d %x, %w stride [1, 1] padding [0, 0, 0, 0] dilation [1, 1] : (tensor<?x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_geometry(%x: tensor<?x2x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  // expected-error @+1 {{expects 2 strides, 4 paddings (top, left, bottom, right) and 2 dilations, got 2, 2 and 2}}
  %0 = firn.conv2d %x, %w stride [1, 1] padding [1, 1] dilation [1, 1] : (tensor<?x2x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @conv_result(%x: tensor<?x2x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  // expected-error @+1 {{result shape [N, 4, 8, 8] does not match the inferred shape [N, 4, 4, 4]}}
  %0 = firn.conv2d %x, %w stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : (tensor<?x2x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @dropout_p(%a: tensor<?x2xf32>) {
  // expected-error @+1 {{p must be in [0, 1), got 1}}
  %0 = firn.dropout %a p 1.0 : tensor<?x2xf32>
  return
}

// -----

func.func @dropout_key(%a: tensor<?x2xf32>) {
  // expected-error @+1 {{in training mode needs a random-number key}}
  %0 = firn.dropout %a p 0.5 training : tensor<?x2xf32>
  return
}

// -----

firn.buffer @c : tensor<f32> = dense<0.0> : tensor<f32>
func.func @counter_type() {
  // expected-error @+1 {{type 'tensor<i64>' does not match buffer 'c' of type 'tensor<f32>'}}
  %0 = firn.advance_counter @c : tensor<i64>
  return
}

// -----

func.func @batch_norm_channels(%x: tensor<?x4x2x2xf32>, %s: tensor<3xf32>) {
  // expected-error @+1 {{batch_norm statistics [3] must be [4] for input [N, 4, 2, 2]}}
  %0:5 = firn.batch_norm %x stats %s, %s eps 1.0e-5 momentum 0.1 : (tensor<?x4x2x2xf32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<?x4x2x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>)
  return
}

// -----

func.func @batch_norm_cumulative_count(%x: tensor<?x4xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{without momentum (a cumulative average) needs the count of batches tracked in training mode}}
  %0:5 = firn.batch_norm %x stats %s, %s eps 1.0e-5 training : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @broadcast(%a: tensor<?x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{shapes [N, 3] and [4] do not broadcast}}
  %0 = firn.add %a, %b : tensor<?x3xf32>, tensor<4xf32> -> tensor<?x3xf32>
  return
}

// -----

func.func @broadcast_batch(%a: tensor<?x3xf32>, %b: tensor<5x3xf32>) {
  // expected-error @+1 {{shapes [N, 3] and [5, 3] do not broadcast}}
  %0 = firn.mul %a, %b : tensor<?x3xf32>, tensor<5x3xf32> -> tensor<5x3xf32>
  return
}

// -----

func.func @reshape_count(%a: tensor<?x2x3xf32>) {
  // expected-error @+1 {{cannot reshape [N, 2, 3] (6 elements) to [N, 5] (5 elements)}}
  %0 = firn.reshape %a : tensor<?x2x3xf32> -> tensor<?x5xf32>
  return
}

// -----

func.func @reshape_batch(%a: tensor<?x2x3xf32>) {
  // expected-error @+1 {{must keep the batch dimension first}}
  %0 = firn.reshape %a : tensor<?x2x3xf32> -> tensor<6xf32>
  return
}

// -----

func.func @matmul_inner(%a: tensor<?x4xf32>, %b: tensor<3x2xf32>) {
  // expected-error @+1 {{matmul inner dimensions differ: [N, 4] and [3, 2]}}
  %0 = firn.matmul %a, %b : tensor<?x4xf32>, tensor<3x2xf32> -> tensor<?x2xf32>
  return
}

// -----

func.func @transpose_perm(%a: tensor<4x3xf32>) {
  // expected-error @+1 {{transpose permutation is not a permutation of 2 dimensions}}
  %0 = firn.transpose %a perm [0, 0] : tensor<4x3xf32> -> tensor<4x4xf32>
  return
}

// -----

func.func @reduce_axis(%a: tensor<?x4xf32>) {
  // expected-error @+1 {{reduction axis 2 is out of range or repeated for [N, 4]}}
  %0 = firn.reduce_sum %a axes [2] : tensor<?x4xf32> -> tensor<?x4xf32>
  return
}

// -----

func.func @broadcast_like(%a: tensor<3xf32>, %b: tensor<?x4xf32>) {
  // expected-error @+1 {{[3] does not broadcast to [N, 4]}}
  %0 = firn.broadcast_like %a, %b : tensor<3xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
  return
}

// -----

func.func @softmax_axis(%a: tensor<?x4xf32>) {
  // expected-error @+1 {{axis 2 is out of range}}
  %0 = firn.softmax %a axis 2 : tensor<?x4xf32>
  return
}

// -----

func.func @one_hot(%a: tensor<?xf32>) {
  // expected-error @+1 {{indices must be an i64 tensor [N, d...], got 'tensor<?xf32>'}}
  %0 = firn.one_hot %a : tensor<?xf32> -> tensor<?x4xf32>
  return
}

// -----

func.func @one_hot_dtype(%a: tensor<?x2xi64>) {
  // expected-error @+1 {{result must be the indices' shape [N, 2] with the classes at dimension 1, got 'tensor<?x4xf32>'}}
  %0 = firn.one_hot %a : tensor<?x2xi64> -> tensor<?x4xf32>
  return
}

// -----

func.func @pool_padding(%x: tensor<?x2x8x8xf32>) {
  // expected-error @+1 {{max_pool2d padding must be between 0 and half the kernel size, got padding 2 for kernel 3}}
  %0 = firn.max_pool2d %x kernel [3, 3] stride [1, 1] padding [2, 2] : tensor<?x2x8x8xf32> -> tensor<?x2x10x10xf32>
  return
}

// -----

func.func @pool_shape(%x: tensor<?x2x7x7xf32>) {
  // expected-error @+1 {{result shape [N, 2, 4, 4] does not match the inferred shape [N, 2, 3, 3]}}
  %0 = firn.max_pool2d %x kernel [2, 2] stride [2, 2] padding [0, 0] : tensor<?x2x7x7xf32> -> tensor<?x2x4x4xf32>
  return
}

// -----

func.func @pool_attrs(%x: tensor<?x2x8x8xf32>) {
  // expected-error @+1 {{expects 2 kernel sizes, 2 strides and 2 paddings (rows, columns)}}
  %0 = firn.max_pool2d %x kernel [2] stride [2, 2] padding [0, 0] : tensor<?x2x8x8xf32> -> tensor<?x2x4x4xf32>
  return
}

// -----

func.func @pool_grad(%dy: tensor<?x2x3x3xf32>, %x: tensor<?x2x8x8xf32>) {
  // expected-error @+1 {{max_pool2d of the input gives [N, 2, 4, 4], not the grad_output shape [N, 2, 3, 3]}}
  %0 = firn.max_pool2d_grad %dy, %x kernel [2, 2] stride [2, 2] padding [0, 0] : (tensor<?x2x3x3xf32>, tensor<?x2x8x8xf32>) -> tensor<?x2x8x8xf32>
  return
}

// -----

func.func @grad_input(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x2x3x3xf32>) {
  // expected-error @+1 {{conv2d of the result shape [N, 2, 7, 7] gives [N, 4, 5, 5], not the grad_output shape [N, 4, 6, 6]}}
  %0 = firn.conv2d_grad_input %dy, %w stride [1, 1] padding [0, 0, 0, 0] dilation [1, 1] : (tensor<?x4x6x6xf32>, tensor<4x2x3x3xf32>) -> tensor<?x2x7x7xf32>
  return
}

// -----

func.func @grad_weight(%x: tensor<?x2x8x8xf32>, %dy: tensor<?x4x6x6xf32>) {
  // expected-error @+1 {{conv2d with a weight of the result shape [4, 2, 2, 2] gives [N, 4, 7, 7], not the grad_output shape [N, 4, 6, 6]}}
  %0 = firn.conv2d_grad_weight %x, %dy stride [1, 1] padding [0, 0, 0, 0] dilation [1, 1] : (tensor<?x2x8x8xf32>, tensor<?x4x6x6xf32>) -> tensor<4x2x2x2xf32>
  return
}

// -----

func.func @constant_type() {
  // expected-error @+1 {{a constant cannot have the batch dimension}}
  %0 = "firn.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<?xf32>
  return
}

// -----

// expected-error @+1 {{initial value of type 'tensor<3xf32>' does not match the parameter type 'tensor<2xf32>'}}
firn.param @p : tensor<2xf32> trainable init constant = dense<1.0> : tensor<3xf32>

// -----

// expected-error @+1 {{a constant init needs a value}}
firn.param @p : tensor<2xf32> trainable init constant

// -----

// expected-error @+1 {{a uniform or normal init needs a bound}}
firn.param @p : tensor<2xf32> trainable init uniform

// -----

// expected-error @+1 {{zero_row 4 is not a row of 'tensor<4x3xf32>'}}
firn.param @p : tensor<4x3xf32> trainable init normal bound 1.0 zero_row 4

// -----

// expected-error @+1 {{only a normal init takes a zero_row}}
firn.param @p : tensor<4x3xf32> trainable init uniform bound 1.0 zero_row 0

// -----

// expected-error @+1 {{a parameter cannot have the batch dimension}}
firn.param @p : tensor<?x2xf32> trainable init load

// -----

// expected-error @+1 {{owner 'nothing' is not an optimizer}}
firn.param @p : tensor<2xf32> trainable owner @nothing group 0 init load

// -----

firn.optimizer @opt SGD groups [{lr = 0.1 : f64}]
// expected-error @+1 {{group 1 is out of range: 'opt' has 1 groups}}
firn.param @p : tensor<2xf32> trainable owner @opt group 1 init load

// -----

// expected-error @+1 {{group 0: SGD has no hyper-parameter 'betas'}}
firn.optimizer @opt SGD groups [{lr = 0.1 : f64, betas = [0.9, 0.99]}]

// -----

// expected-error @+1 {{group 0: 'nesterov' has the wrong kind of value}}
firn.optimizer @opt SGD groups [{lr = 0.1 : f64, nesterov = 1.0}]

// -----

// expected-error @+1 {{group 0: 'lr' must not be negative}}
firn.optimizer @opt Adam groups [{lr = -0.1 : f64}]

// -----

// expected-error @+1 {{group 0 has no 'lr'}}
firn.optimizer @opt Adam groups [{eps = 1.0e-8 : f64}]

// -----

// expected-error @+1 {{needs at least one parameter group}}
firn.optimizer @opt Adam groups []

// -----

// expected-error @+1 {{max_norm must be positive}}
firn.clip_grad_norm max_norm 0.0 norm_type 2.0

// -----

// expected-error @+1 {{clip_value must be positive}}
firn.clip_grad_value -1.0

// -----

firn.optimizer @opt SGD groups [{lr = 0.1 : f64}]
// expected-error @+1 {{unknown schedule 'SlowLR'}}
firn.lr_schedule @s "SlowLR" for @opt {}

// -----

// expected-error @+1 {{'sgd' is not an optimizer}}
firn.lr_schedule @s "StepLR" for @sgd {}

// -----

firn.param @p : tensor<2xf32> trainable init load
func.func @read_type() {
  // expected-error @+1 {{type 'tensor<3xf32>' does not match parameter 'p' of type 'tensor<2xf32>'}}
  %0 = firn.read_param @p : tensor<3xf32>
  return
}

// -----

firn.buffer @b : tensor<2xf32> = dense<0.0> : tensor<2xf32>
func.func @read_kind() {
  // expected-error @+1 {{'b' is not a parameter}}
  %0 = firn.read_param @b : tensor<2xf32>
  return
}

// -----

firn.param @p : tensor<2xf32> trainable init load
func.func @write_kind(%v: tensor<2xf32>) {
  // expected-error @+1 {{'p' is not a buffer}}
  firn.write_buffer %v to @p : tensor<2xf32>
  return
}

// -----

// expected-error @+1 {{initial value of type 'tensor<3xf32>' does not match the buffer type 'tensor<2xf32>'}}
firn.buffer @b : tensor<2xf32> = dense<0.0> : tensor<3xf32>

// -----

// expected-error @+1 {{'firn.zero_grad' must be one of 'optimizer', 'model', 'none'}}
module attributes {firn.zero_grad = "sometimes"} {}

// -----

// expected-error @+1 {{'firn.accumulate' must be an i64 >= 1}}
module attributes {firn.accumulate = 0 : i64} {}

// -----

// expected-error @+1 {{unknown firn attribute 'firn.colour'}}
module attributes {firn.colour = "blue"} {}

// -----

func.func @numel_axis(%a: tensor<?x4xf32>) {
  // expected-error @+1 {{reduction axis 3 is out of range or repeated for [N, 4]}}
  %0 = firn.numel %a axes [3] : tensor<?x4xf32> -> tensor<f32>
  return
}

// -----

func.func @embedding_float_indices(%w: tensor<5x3xf32>, %i: tensor<?x4xf32>) {
  // expected-error @+1 {{indices must be i64, got 'tensor<?x4xf32>'}}
  %0 = firn.embedding %w[%i] : (tensor<5x3xf32>, tensor<?x4xf32>) -> tensor<?x4x3xf32>
  return
}

// -----

func.func @embedding_shape(%w: tensor<5x3xf32>, %i: tensor<?x4xi64>) {
  // expected-error @+1 {{values must be [N, 4, 3] (the indices' shape and the table's width), got [N, 3]}}
  %0 = firn.embedding %w[%i] : (tensor<5x3xf32>, tensor<?x4xi64>) -> tensor<?x3xf32>
  return
}

// -----

func.func @embedding_padding_idx(%w: tensor<5x3xf32>, %i: tensor<?xi64>) {
  // expected-error @+1 {{padding_idx 5 is not a row of the table (5 rows)}}
  %0 = firn.embedding %w[%i] padding_idx 5 : (tensor<5x3xf32>, tensor<?xi64>) -> tensor<?x3xf32>
  return
}

// -----

func.func @embedding_grad_table(%dy: tensor<?x3xf32>, %i: tensor<?xi64>) {
  // expected-error @+1 {{the table must be a static [rows, dim] tensor, got 'tensor<?x3xf32>'}}
  %0 = firn.embedding_grad %dy[%i] : (tensor<?x3xf32>, tensor<?xi64>) -> tensor<?x3xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<?x4x2x3xf32>, %b: tensor<?x5x3x2xf32>) {
  // expected-error @+1 {{matmul batch dimensions differ: [N, 4, 2, 3] and [N, 5, 3, 2]}}
  %0 = firn.matmul %a, %b : tensor<?x4x2x3xf32>, tensor<?x5x3x2xf32> -> tensor<?x4x2x2xf32>
  return
}

// -----

func.func @matmul_rank(%a: tensor<?x4x2x3xf32>, %b: tensor<3x2xf32>) {
  // expected-error @+1 {{matmul operands must be matrices or batches of them of the same rank, got [N, 4, 2, 3] and [3, 2]}}
  %0 = firn.matmul %a, %b : tensor<?x4x2x3xf32>, tensor<3x2xf32> -> tensor<?x4x2x2xf32>
  return
}

// -----

func.func @slice_outside(%a: tensor<?x4xf32>) {
  // expected-error @+1 {{elements [3, 5) along axis 1 are not inside [N, 4]}}
  %0 = firn.slice %a axis 1 start 3 : tensor<?x4xf32> -> tensor<?x2xf32>
  return
}

// -----

func.func @concat_sizes(%a: tensor<?x4xf32>) {
  // expected-error @+1 {{the operands' sizes along axis 1 add up to 8, not 9}}
  %0 = firn.concat %a, %a axis 1 : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x9xf32>
  return
}

// -----

func.func @attention_key_features(%q: tensor<2x5x4xf32>, %k: tensor<2x6x3xf32>, %v: tensor<2x6x4xf32>) {
  // expected-error @+1 {{query and key must have the same last dimension}}
  %0 = firn.attention %q, %k, %v scale 0.5 : (tensor<2x5x4xf32>, tensor<2x6x3xf32>, tensor<2x6x4xf32>) -> tensor<2x5x4xf32>
  return
}

// -----

func.func @attention_causal_dynamic(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{a causal mask needs static positions}}
  %0 = firn.attention %x, %x, %x scale 0.5 causal : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @attention_grad_leading(%q: tensor<2x5x4xf32>, %k: tensor<3x6x4xf32>, %y: tensor<2x5x4xf32>) {
  // expected-error @+1 {{query, key and value must share their leading dimensions}}
  %0:3 = firn.attention_grad %q, %k, %k, %y, %y scale 0.5 : (tensor<2x5x4xf32>, tensor<3x6x4xf32>, tensor<3x6x4xf32>, tensor<2x5x4xf32>, tensor<2x5x4xf32>) -> (tensor<2x5x4xf32>, tensor<3x6x4xf32>, tensor<3x6x4xf32>)
  return
}

// -----

func.func @attention_grad_result(%q: tensor<2x5x4xf32>, %k: tensor<2x6x4xf32>, %v: tensor<2x6x3xf32>, %y: tensor<2x5x4xf32>) {
  // expected-error @+1 {{the forward's result and its gradient must have the shape [2, 5, 3]}}
  %0:3 = firn.attention_grad %q, %k, %v, %y, %y scale 0.5 : (tensor<2x5x4xf32>, tensor<2x6x4xf32>, tensor<2x6x3xf32>, tensor<2x5x4xf32>, tensor<2x5x4xf32>) -> (tensor<2x5x4xf32>, tensor<2x6x4xf32>, tensor<2x6x3xf32>)
  return
}

// -----

func.func @attention_grad_types(%q: tensor<2x5x4xf32>, %k: tensor<2x6x4xf32>, %y: tensor<2x5x4xf32>) {
  // expected-error @+1 {{result shape [2, 6, 4] does not match the inferred shape [2, 5, 4]}}
  %0:3 = firn.attention_grad %q, %k, %k, %y, %y scale 0.5 : (tensor<2x5x4xf32>, tensor<2x6x4xf32>, tensor<2x6x4xf32>, tensor<2x5x4xf32>, tensor<2x5x4xf32>) -> (tensor<2x6x4xf32>, tensor<2x6x4xf32>, tensor<2x6x4xf32>)
  return
}
