//===- SafetensorsFuzzer.cpp - Bytes into the safetensors reader ----------===//
//
// libFuzzer target: the input is a safetensors file (checkpoints, --init
// files). The reader must accept it or explain why not; whatever it accepts
// is a consistent set of tensors that the writer serializes again.
//
//===----------------------------------------------------------------------===//
#include "firn/Runtime/Safetensors.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace firn::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  SafetensorsFile file;
  std::string error;
  if (!parseSafetensors(bytes, "fuzz.safetensors", file, error)) {
    if (error.empty()) {
      std::fprintf(stderr, "rejected without a message\n");
      std::abort();
    }
    return 0;
  }
  // The reader's guarantees (Safetensors.h): byte counts match the shapes.
  for (const auto &[name, tensor] : file.tensors)
    if (tensor.bytes.size() !=
        static_cast<size_t>(tensor.numel()) * dtypeSize(tensor.dtype)) {
      std::fprintf(stderr, "tensor '%s': byte count does not match its shape\n",
                   name.c_str());
      std::abort();
    }
  // What was read can be written, and reads back the same.
  std::vector<uint8_t> again;
  if (!serializeSafetensors(file, again, error)) {
    std::fprintf(stderr, "an accepted file does not serialize: %s\n",
                 error.c_str());
    std::abort();
  }
  SafetensorsFile reread;
  if (!parseSafetensors(again, "again.safetensors", reread, error) ||
      reread.tensors.size() != file.tensors.size() ||
      reread.metadata != file.metadata) {
    std::fprintf(stderr, "a serialized file does not read back: %s\n",
                 error.c_str());
    std::abort();
  }
  return 0;
}
