//===- NpyFuzzer.cpp - Bytes into the .npy reader -------------------------===//
//
// libFuzzer target: the input is a .npy file (training data). The reader
// must accept it or explain why not; an accepted array has as many bytes
// as its shape says, and the writer's bytes read back as the same array.
//
//===----------------------------------------------------------------------===//
#include "firn/Runtime/Npy.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace firn::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  TensorData tensor;
  std::string error;
  if (!parseNpy(bytes, "fuzz.npy", tensor, error)) {
    if (error.empty()) {
      std::fprintf(stderr, "rejected without a message\n");
      std::abort();
    }
    return 0;
  }
  if (tensor.bytes.size() !=
      static_cast<size_t>(tensor.numel()) * dtypeSize(tensor.dtype)) {
    std::fprintf(stderr, "byte count does not match the shape\n");
    std::abort();
  }
  std::vector<uint8_t> again;
  TensorData reread;
  if (!serializeNpy(tensor, again, error) ||
      !parseNpy(again, "again.npy", reread, error) ||
      reread.shape != tensor.shape || reread.dtype != tensor.dtype ||
      reread.bytes != tensor.bytes) {
    std::fprintf(stderr, "an accepted array does not round-trip: %s\n",
                 error.c_str());
    std::abort();
  }
  return 0;
}
