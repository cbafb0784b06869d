// RUN: firn-opt %s --firn-lower-optimizers -verify-diagnostics
// The optimizers whose lowering comes later are a diagnostic, not a crash.
// expected-error @+1 {{RMSprop cannot be lowered yet (SGD, Adam and AdamW can)}}
firn.optimizer @opt RMSprop groups [{lr = 0.01 : f64}]
