// RUN: firn-opt %s --firn-autodiff -split-input-file -verify-diagnostics
//
// What autodiff cannot differentiate is a diagnostic at the op, not a crash.

func.func @train_step(%x: tensor<?x2xf32>) -> tensor<f32> {
  // expected-error @+1 {{'firn.sign' op has no gradient rule}}
  %m = firn.sign %x : tensor<?x2xf32>
  %l = firn.reduce_sum %m axes [] : tensor<?x2xf32> -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// expected-error @+1 {{@train_step must return the scalar loss}}
func.func @train_step(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  return %x : tensor<?x2xf32>
}
