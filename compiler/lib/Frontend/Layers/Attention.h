//===- Attention.h - MultiheadAttention's settings --------------*- C++ -*-===//
//
// Its call (query, key, value in; output and weights out) is typed by
// SemaAttention.cpp and emitted by MLIRGen.cpp, which read these.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_LAYERS_ATTENTION_H
#define FIRN_FRONTEND_LAYERS_ATTENTION_H

#include "firn/Frontend/Program.h"

namespace firn {

struct MultiheadAttentionOptions : LayerOptions {
  int64_t embedDim = 0, heads = 1;
  bool bias = true;
  double dropout = 0; ///< On the weights, in training.
};

} // namespace firn

#endif // FIRN_FRONTEND_LAYERS_ATTENTION_H
