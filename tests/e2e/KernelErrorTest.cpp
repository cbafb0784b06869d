//===- KernelErrorTest.cpp - A failing kernel is an error, not an abort ---===//
//
// Halide's runtime aborts the process on an error unless someone else
// defines halide_error (runtime/lib/HalideErrors.cpp). A batch whose
// activations outgrow Halide's 2^31 - 1 byte buffers must end the binary
// with its message, the batch size and exit status 1.
//
//===----------------------------------------------------------------------===//
#include "E2ESupport.h"
#include "firn/Runtime/Npy.h"
#include "firn/Runtime/Safetensors.h"

#include <gtest/gtest.h>

using namespace firn::runtime;
using namespace firn::e2e;

namespace {

TEST(KernelError, ABufferOverHalidesLimitIsAnErrorMessage) {
  std::string binary =
      compileModel(std::string(FIRN_E2E_MODELS) + "/wide.firn", "wide");
  std::string dir = tempDir() + "/wide-run";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  SafetensorsFile init;
  init.tensors["fc1.weight"] =
      TensorData::fromFloats({65536, 1}, std::vector<float>(65536, 0.01f));
  init.tensors["fc1.bias"] =
      TensorData::fromFloats({65536}, std::vector<float>(65536, 0.0f));
  init.tensors["fc2.weight"] =
      TensorData::fromFloats({1, 65536}, std::vector<float>(65536, 0.01f));
  init.tensors["fc2.bias"] = TensorData::fromFloats({1}, {0.0f});
  std::string error;
  ASSERT_TRUE(writeSafetensors(dir + "/init.safetensors", init, error)) << error;
  ASSERT_TRUE(writeNpy(dir + "/x.npy",
                       TensorData::fromFloats({8192, 1}, std::vector<float>(8192, 1.0f)),
                       error))
      << error;
  const std::string predict = binary + " predict --init " + dir +
                              "/init.safetensors --x " + dir + "/x.npy --out " +
                              dir + "/p.npy --batch-size ";
  std::string output;
  // 8192 x 65536 floats: 2^31 bytes, one too many.
  EXPECT_EQ(run(predict + "8192", output), 1) << output;
  EXPECT_NE(output.find("error: kernel predict failed with Halide error -5: "
                        "Total allocation for buffer"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("exceeds the maximum size of 2147483647 (batch size "
                        "8192; a smaller --batch-size may fit)"),
            std::string::npos)
      << output;
  // Half the batch fits.
  EXPECT_EQ(run(predict + "4096", output), 0) << output;
}

} // namespace
