//===- Random.h - firn's counter-based random numbers -----------*- C++ -*-===//
//
// Random numbers in firn are a pure function of (seed, key, stream, index):
// the module's seed, a per-step key (the counter that firn.advance_counter
// bumps), the id of the op that draws them, and the element's row-major
// index. Nothing is stored between the forward pass and the backward pass:
// the backward of dropout draws the same mask again. Every backend (the
// reference evaluator, the Halide kernels on CPU and GPU) computes the same
// bits, since the hash uses only 32-bit integer multiply, xor and shift.
//
// The stream is not PyTorch's (which depends on its generator's internal
// state and the device), so dropout masks match PyTorch's statistically,
// not bit for bit.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_RANDOM_H
#define FIRN_RUNTIME_RANDOM_H

#include <cstdint>

namespace firn::random {

/// A 32-bit integer hash with good avalanche (Wellons' "lowbias32").
constexpr uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

/// The 32 random bits of element `index` of stream `stream` at `key`.
constexpr uint32_t bits(uint64_t seed, uint64_t key, uint32_t stream,
                        uint32_t index) {
  uint32_t h = hash32(static_cast<uint32_t>(seed) ^
                      hash32(static_cast<uint32_t>(seed >> 32)));
  h = hash32(h ^ static_cast<uint32_t>(key));
  h = hash32(h ^ static_cast<uint32_t>(key >> 32));
  h = hash32(h ^ stream);
  return hash32(h ^ index);
}

/// A uniform number in [0, 1) with 24 random bits (exact in float32).
constexpr float uniform(uint64_t seed, uint64_t key, uint32_t stream,
                        uint32_t index) {
  return static_cast<float>(bits(seed, key, stream, index) >> 8) *
         (1.0f / 16777216.0f);
}

/// Dropout's multiplier for one element: 0 with probability p, else
/// 1 / (1 - p) (inverted dropout, as nn.Dropout).
constexpr float dropoutScale(uint64_t seed, uint64_t key, uint32_t stream,
                             uint32_t index, float p) {
  return uniform(seed, key, stream, index) < p ? 0.0f : 1.0f / (1.0f - p);
}

} // namespace firn::random

#endif // FIRN_RUNTIME_RANDOM_H
