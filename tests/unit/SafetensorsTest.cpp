//===- SafetensorsTest.cpp - The runtime's safetensors reader/writer ------===//
//
// Round trips, the committed PyTorch fixtures in tests/fixtures (written by
// tests/fixtures/make_fixtures.py; see its README for the key layout), and one
// test per kind of corrupt file.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Safetensors.h"
#include "firn/Runtime/Json.h"

#include "TestDir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FIRN_FIXTURES_DIR
#error "FIRN_FIXTURES_DIR must name tests/fixtures"
#endif

using namespace firn::runtime;

namespace {

/// A fresh path in the test temp directory, unique per test and process.
std::string tempPath(const std::string &suffix) {
  return firn::testing::tempPath("firn_st_", suffix);
}
using firn::testing::readBytes;
using firn::testing::writeBytes;

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i)
    s[i] = char(uint8_t(v >> (8 * i)));
  return s;
}

/// A file with `header` (unpadded) followed by `data`.
std::string fileWith(const std::string &header, const std::string &data) {
  return u64le(header.size()) + header + data;
}

std::string fixture(const std::string &stem) {
  return std::string(FIRN_FIXTURES_DIR) + "/" + stem + ".safetensors";
}

SafetensorsFile readOk(const std::string &path) {
  SafetensorsFile file;
  std::string error;
  EXPECT_TRUE(readSafetensors(path, file, error)) << error;
  EXPECT_EQ(error, "");
  return file;
}

const TensorData &at(const SafetensorsFile &file, const std::string &key) {
  auto it = file.tensors.find(key);
  static const TensorData empty;
  EXPECT_NE(it, file.tensors.end()) << "missing key " << key;
  return it == file.tensors.end() ? empty : it->second;
}

void expectFloats(const TensorData &t, std::vector<int64_t> shape,
                  std::vector<float> values, float tol) {
  EXPECT_EQ(t.dtype, DType::F32);
  EXPECT_EQ(t.shape, shape);
  std::vector<float> got = t.asFloats();
  ASSERT_EQ(got.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_NEAR(got[i], values[i], tol) << "element " << i;
}

/// Runs the reader on `bytes` written to a temp file; expects failure with a
/// message that names the file and contains `what`.
void expectCorrupt(const std::string &bytes, const std::string &what) {
  std::string path = tempPath(".safetensors");
  writeBytes(path, bytes);
  SafetensorsFile file;
  file.metadata["untouched"] = "yes";
  std::string error;
  EXPECT_FALSE(readSafetensors(path, file, error));
  EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << error;
  EXPECT_NE(error.find(what), std::string::npos)
      << "error: " << error << "\nexpected to contain: " << what;
  // The output is replaced only on success.
  EXPECT_EQ(file.metadata.size(), 1u);
  std::remove(path.c_str());
}

/// A valid one-tensor header around `entry` (the value of tensor "w"), plus
/// `data`.
std::string oneTensor(const std::string &entry, const std::string &data) {
  return fileWith("{\"w\":" + entry + "}", data);
}

const std::string k8Bytes(8, '\x01');

//===----------------------------------------------------------------------===//
// Round trips
//===----------------------------------------------------------------------===//

TEST(SafetensorsTest, RoundTripEveryDType) {
  SafetensorsFile file;
  file.tensors["fc1.weight"] = TensorData::fromFloats(
      {2, 3}, {1.5f, -2.25f, 0.0f, 1e-30f, 3.4e38f, -0.0f});
  file.tensors["fc1.bias"] = TensorData::fromDoubles({2}, {0.1, -1e300});
  file.tensors["step"] = TensorData::fromInt64s({}, {1234567890123LL});
  file.tensors["targets"] = TensorData::fromInt32s({3}, {-1, 0, 2147483647});
  file.tensors["empty"] = TensorData::fromFloats({0, 4}, {});
  file.metadata["format"] = "pt";
  file.metadata["quote\"back\\slash"] = "line\nbreak\ttab \x01 caf\xc3\xa9";

  std::string path = tempPath(".safetensors");
  std::string error;
  ASSERT_TRUE(writeSafetensors(path, file, error)) << error;

  SafetensorsFile back = readOk(path);
  EXPECT_EQ(back.metadata, file.metadata);
  ASSERT_EQ(back.tensors.size(), file.tensors.size());
  for (const auto &entry : file.tensors) {
    const TensorData &t = at(back, entry.first);
    EXPECT_EQ(t.dtype, entry.second.dtype) << entry.first;
    EXPECT_EQ(t.shape, entry.second.shape) << entry.first;
    EXPECT_EQ(t.bytes, entry.second.bytes) << entry.first;
  }
  EXPECT_EQ(at(back, "step").numel(), 1);
  EXPECT_EQ(at(back, "step").asInt64s(), std::vector<int64_t>{1234567890123LL});
  EXPECT_EQ(at(back, "targets").asInt64s(),
            (std::vector<int64_t>{-1, 0, 2147483647}));
  EXPECT_EQ(at(back, "fc1.bias").asDoubles(),
            (std::vector<double>{0.1, -1e300}));
  EXPECT_EQ(at(back, "fc1.weight").asFloats()[1], -2.25f);
  EXPECT_EQ(at(back, "empty").numel(), 0);
  std::remove(path.c_str());
}

TEST(SafetensorsTest, WrittenLayoutFollowsTheSpec) {
  SafetensorsFile file;
  file.tensors["b"] = TensorData::fromFloats({1}, {2.0f});
  file.tensors["a"] = TensorData::fromInt64s({2}, {7, 8});
  file.metadata["k"] = "v";
  std::vector<uint8_t> bytes;
  std::string error;
  ASSERT_TRUE(serializeSafetensors(file, bytes, error)) << error;
  std::string s(bytes.begin(), bytes.end());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = n << 8 | uint8_t(s[i]);
  EXPECT_EQ(n % 8, 0u);
  std::string header = s.substr(8, n);
  // Keys sorted, offsets relative to the data section, padded with spaces.
  EXPECT_EQ(
      header.substr(0, header.find_last_not_of(' ') + 1),
      "{\"__metadata__\":{\"k\":\"v\"},"
      "\"a\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}");
  EXPECT_EQ(s.size(), 8 + n + 20);
  EXPECT_EQ(uint8_t(s[8 + n]), 7u); // a[0], little-endian
  EXPECT_EQ(s.substr(8 + n + 16), std::string("\x00\x00\x00\x40", 4)); // 2.0f
}

TEST(SafetensorsTest, EmptyFileRoundTrips) {
  std::string path = tempPath(".safetensors");
  std::string error;
  ASSERT_TRUE(writeSafetensors(path, SafetensorsFile(), error)) << error;
  EXPECT_EQ(readBytes(path), u64le(8) + "{}      ");
  SafetensorsFile back = readOk(path);
  EXPECT_TRUE(back.tensors.empty());
  EXPECT_TRUE(back.metadata.empty());
  std::remove(path.c_str());
}

TEST(SafetensorsTest, OverwriteIsAtomicAndLeavesNoTemporaryFile) {
  std::string dir = tempPath("_dir");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  std::string path = dir + "/ckpt.safetensors";
  std::string error;
  SafetensorsFile first;
  first.tensors["w"] = TensorData::fromFloats({1}, {1.0f});
  ASSERT_TRUE(writeSafetensors(path, first, error)) << error;
  SafetensorsFile second;
  second.tensors["w"] = TensorData::fromFloats({2}, {2.0f, 3.0f});
  ASSERT_TRUE(writeSafetensors(path, second, error)) << error;
  expectFloats(at(readOk(path), "w"), {2}, {2.0f, 3.0f}, 0);

  std::vector<std::string> names;
  DIR *d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  while (dirent *e = readdir(d))
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
      names.push_back(e->d_name);
  closedir(d);
  EXPECT_EQ(names, std::vector<std::string>{"ckpt.safetensors"});

  // A failed write leaves the old file as it was.
  SafetensorsFile bad;
  bad.tensors["w"] = TensorData::fromFloats({3}, {1.0f}); // 1 value for 3
  EXPECT_FALSE(writeSafetensors(path, bad, error));
  expectFloats(at(readOk(path), "w"), {2}, {2.0f, 3.0f}, 0);
  std::remove(path.c_str());
  rmdir(dir.c_str());
}

TEST(SafetensorsTest, WriteErrors) {
  SafetensorsFile file;
  std::string error;
  std::string path = tempPath("_missing_dir/x.safetensors");
  EXPECT_FALSE(writeSafetensors(path, file, error));
  EXPECT_EQ(error.rfind(path + ": cannot create temporary file", 0), 0u)
      << error;

  file.tensors["w"] = TensorData::fromFloats({2, 2}, {1, 2, 3});
  path = tempPath(".safetensors");
  EXPECT_FALSE(writeSafetensors(path, file, error));
  EXPECT_NE(error.find("tensor \"w\": shape [2, 2] of F32 needs 16 bytes but "
                       "it holds 12"),
            std::string::npos)
      << error;
  EXPECT_EQ(readBytes(path), ""); // nothing written

  file.tensors.clear();
  file.tensors["__metadata__"] = TensorData::fromFloats({1}, {1});
  EXPECT_FALSE(writeSafetensors(path, file, error));
  EXPECT_NE(error.find("__metadata__"), std::string::npos) << error;

  file.tensors.clear();
  file.tensors["w"] = TensorData::fromFloats({-1}, {});
  EXPECT_FALSE(writeSafetensors(path, file, error));
  EXPECT_NE(error.find("invalid shape [-1]"), std::string::npos) << error;
}

TEST(SafetensorsTest, ConversionHelpers) {
  TensorData f = TensorData::fromFloats({2}, {1.5f, -2.0f});
  EXPECT_EQ(f.asDoubles(), (std::vector<double>{1.5, -2.0}));
  EXPECT_TRUE(f.asInt64s().empty()); // floats are not silently truncated
  TensorData d = TensorData::fromDoubles({1}, {0.25});
  EXPECT_EQ(d.asFloats(), std::vector<float>{0.25f});
  TensorData i = TensorData::fromInt64s({2}, {3, -4});
  EXPECT_EQ(i.asFloats(), (std::vector<float>{3.0f, -4.0f}));
  EXPECT_EQ(dtypeSize(DType::F64), 8u);
  DType t;
  EXPECT_TRUE(parseDType("I32", t));
  EXPECT_EQ(t, DType::I32);
  EXPECT_FALSE(parseDType("BF16", t));
}

//===----------------------------------------------------------------------===//
// The PyTorch fixtures
//===----------------------------------------------------------------------===//

TEST(SafetensorsTest, EveryFixtureReadsAndIsComplete) {
  const char *stems[] = {"s000_conv_linear", "s001_frozen_branches",
                         "s002_tinynet_frozen_fc2", "s003_two_conv",
                         "s004_linear_adam"};
  for (const char *stem : stems) {
    SCOPED_TRACE(stem);
    SafetensorsFile file = readOk(fixture(stem));
    EXPECT_EQ(file.metadata["source"], "tests/fixtures/make_fixtures.py");
    EXPECT_EQ(file.metadata["firn"],
              std::string("examples/seeds/") + stem + ".firn");
    int phases = std::stoi(file.metadata["phases"]);
    ASSERT_GE(phases, 1);
    // Every parameter named in 1/init has an after value in every phase and a
    // loss; a grad, when present, has the parameter's shape.
    const std::string initPrefix = "1/init/";
    int params = 0;
    for (const auto &entry : file.tensors) {
      if (entry.first.rfind(initPrefix, 0) != 0)
        continue;
      ++params;
      std::string name = entry.first.substr(initPrefix.size());
      for (int p = 1; p <= phases; ++p) {
        std::string ps = std::to_string(p);
        EXPECT_EQ(at(file, ps + "/after/" + name).shape, entry.second.shape);
        auto grad = file.tensors.find(ps + "/grad/" + name);
        if (grad != file.tensors.end()) {
          EXPECT_EQ(grad->second.shape, entry.second.shape);
        }
      }
    }
    EXPECT_GT(params, 0);
    for (int p = 1; p <= phases; ++p) {
      std::string ps = std::to_string(p);
      const TensorData &loss = at(file, ps + "/loss");
      EXPECT_EQ(loss.dtype, DType::F32);
      EXPECT_TRUE(loss.shape.empty());
      EXPECT_EQ(file.metadata[ps + "/zero_grad_before"], "all");
      EXPECT_FALSE(file.metadata[ps + "/backward_passes"].empty());
    }
  }
}

TEST(SafetensorsTest, FixtureS000ConvLinear) {
  SafetensorsFile file = readOk(fixture("s000_conv_linear"));
  EXPECT_EQ(at(file, "1/input/x").shape, (std::vector<int64_t>{4, 1, 2, 2}));
  EXPECT_EQ(at(file, "1/input/y").shape, (std::vector<int64_t>{4, 4}));
  expectFloats(at(file, "1/init/conv.weight"), {1, 1, 3, 3},
               {0.0248f, 0.1663f, 0.0988f, 0.1486f, 0.2089f, 0.2992f, -0.0483f,
                -0.0198f, 0.2775f},
               0);
  // Both parameters get a gradient; only conv.weight (optimizer1's) changes.
  EXPECT_TRUE(file.tensors.count("1/grad/conv.weight"));
  EXPECT_TRUE(file.tensors.count("1/grad/linear.weight"));
  EXPECT_EQ(at(file, "1/after/linear.weight").bytes,
            at(file, "1/init/linear.weight").bytes);
  std::vector<float> before = at(file, "1/init/conv.weight").asFloats();
  std::vector<float> after = at(file, "1/after/conv.weight").asFloats();
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_NEAR(std::fabs(after[i] - before[i]), 1e-3f, 1e-6f);
}

TEST(SafetensorsTest, FixtureS001FrozenBranches) {
  SafetensorsFile file = readOk(fixture("s001_frozen_branches"));
  EXPECT_EQ(file.metadata["phases"], "1");
  EXPECT_EQ(file.metadata["1/backward_passes"], "1");
  expectFloats(at(file, "1/input/x"), {1, 1}, {2.0f}, 0);
  expectFloats(at(file, "1/init/a_Linear.bias"), {1}, {3.0f}, 0);
  expectFloats(at(file, "1/after/a_Linear.weight"), {2, 1}, {-17.0f, -18.6f},
               1e-5f);
  expectFloats(at(file, "1/after/a_Linear.bias"), {1}, {-20.8f}, 1e-5f);
  expectFloats(at(file, "1/grad/a_Linear.weight"), {2, 1}, {220, 256}, 0);
  expectFloats(at(file, "1/grad/b_Linear.weight"), {2, 2}, {104, 136, 130, 170},
               0);
  expectFloats(at(file, "1/after/b_Linear.weight"), {2, 2}, {5, 6, 7, 8}, 0);
  // Frozen parameters have no gradient (None), registered (d) or not (c).
  for (const char *name : {"c_Linear.weight", "c_Linear.bias",
                           "d_Linear.weight", "d_Linear.bias"}) {
    EXPECT_FALSE(file.tensors.count(std::string("1/grad/") + name)) << name;
    EXPECT_TRUE(file.tensors.count(std::string("1/after/") + name)) << name;
  }
  expectFloats(at(file, "1/after/d_Linear.weight"), {1, 2}, {7, 8}, 0);
}

TEST(SafetensorsTest, FixtureS002TinyNetFrozenFc2) {
  SafetensorsFile file = readOk(fixture("s002_tinynet_frozen_fc2"));
  expectFloats(at(file, "1/grad/fc1.weight"), {2, 2},
               {-0.0760f, -0.1521f, -0.2768f, -0.5536f}, 5e-4f);
  expectFloats(at(file, "1/grad/fc3.weight"), {1, 2}, {0.0f, -3.2985f}, 5e-4f);
  EXPECT_FALSE(file.tensors.count("1/grad/fc2.weight"));
  EXPECT_FALSE(file.tensors.count("1/grad/fc2.bias"));
  EXPECT_EQ(at(file, "1/after/fc2.weight").bytes,
            at(file, "1/init/fc2.weight").bytes);
}

TEST(SafetensorsTest, FixtureS003TwoConv) {
  SafetensorsFile file = readOk(fixture("s003_two_conv"));
  const TensorData &y = at(file, "1/input/y");
  EXPECT_EQ(y.dtype, DType::I64);
  EXPECT_EQ(y.asInt64s(), std::vector<int64_t>(8, 1));
  EXPECT_EQ(at(file, "1/input/x").shape, (std::vector<int64_t>{8, 3, 10, 10}));
  EXPECT_EQ(at(file, "1/init/linear.weight").shape,
            (std::vector<int64_t>{20, 3200}));
  // All logits equal: the loss is log(20) and the conv gradients are rounding
  // noise (the blog post's printed numbers are not reproducible).
  EXPECT_NEAR(at(file, "1/loss").asFloats()[0], std::log(20.0f), 1e-5f);
  for (float g : at(file, "1/grad/conv1.weight").asFloats())
    EXPECT_LT(std::fabs(g), 1e-4f);
}

TEST(SafetensorsTest, FixtureS004LinearAdamTwoPhases) {
  SafetensorsFile file = readOk(fixture("s004_linear_adam"));
  EXPECT_EQ(file.metadata["phases"], "2");
  EXPECT_EQ(file.metadata["1/backward_passes"], "1");
  EXPECT_EQ(file.metadata["2/backward_passes"], "2");
  EXPECT_EQ(file.metadata["1/reset_params"], "false");
  EXPECT_EQ(file.metadata["2/reset_params"], "true");
  EXPECT_EQ(file.metadata["2/mode"], "eval");
  expectFloats(at(file, "1/input/X"), {1, 2}, {0, 2}, 0);
  expectFloats(at(file, "2/input/Y"), {1, 1}, {1}, 0);
  expectFloats(at(file, "1/grad/mlp.weight"), {1, 2}, {0, 4}, 0);
  expectFloats(at(file, "1/after/mlp.weight"), {1, 2}, {1.0f, 0.5f}, 1e-6f);
  expectFloats(at(file, "2/init/mlp.weight"), {1, 2}, {1, 1}, 0);
  expectFloats(at(file, "2/grad/mlp.weight"), {1, 2}, {0, 8}, 0);
  expectFloats(at(file, "2/after/mlp.weight"), {1, 2}, {1.0f, 0.517409f},
               1e-5f);
  EXPECT_FALSE(file.tensors.count("3/after/mlp.weight"));
  EXPECT_FALSE(file.tensors.count("2/grad/mlp.missing"));
}

//===----------------------------------------------------------------------===//
// Corrupt files
//===----------------------------------------------------------------------===//

TEST(SafetensorsTest, MissingFile) {
  std::string path = tempPath("_does_not_exist.safetensors");
  SafetensorsFile file;
  std::string error;
  EXPECT_FALSE(readSafetensors(path, file, error));
  EXPECT_EQ(error, path + ": cannot open: No such file or directory");
}

TEST(SafetensorsTest, DirectoryIsNotAFile) {
  SafetensorsFile file;
  std::string error;
  EXPECT_FALSE(readSafetensors(FIRN_FIXTURES_DIR, file, error));
  EXPECT_NE(error.find(FIRN_FIXTURES_DIR), std::string::npos) << error;
}

TEST(SafetensorsTest, CorruptTruncatedSizeField) {
  expectCorrupt("", "truncated: the file has 0 bytes");
  expectCorrupt(std::string("\x10\x00\x00", 3),
                "truncated: the file has 3 bytes, fewer than "
                "the 8-byte header size");
}

TEST(SafetensorsTest, CorruptTruncatedHeader) {
  std::string full = fileWith("{\"__metadata__\":{\"a\":\"b\"}}", "");
  expectCorrupt(full.substr(0, full.size() - 5),
                "truncated header: the header size is 26 bytes but only 21 "
                "bytes follow");
  expectCorrupt(u64le(~uint64_t(0)), "truncated header");
}

TEST(SafetensorsTest, CorruptHeaderNotJson) {
  expectCorrupt(fileWith("not json", ""),
                "header is not valid JSON: at byte 0: expected a value");
  expectCorrupt(fileWith("{\"w\":{\"dtype\":\"F32\",}", ""),
                "header is not valid JSON: at byte 20: expected a string key");
  expectCorrupt(fileWith("{} x", ""), "unexpected 'x' after the JSON value");
  expectCorrupt(fileWith("{\"a\":1,\"a\":2}", ""), "duplicate key \"a\"");
  expectCorrupt(fileWith("{\"a\\q\":1}", ""), "invalid escape 'q'");
  expectCorrupt(fileWith("{\"a\":\"\xff\"}", ""), "invalid UTF-8");
  expectCorrupt(fileWith("", ""), "header is not valid JSON");
  expectCorrupt(fileWith("[]", ""),
                "header is not a JSON object (it is an array)");
}

TEST(SafetensorsTest, CorruptMetadata) {
  expectCorrupt(fileWith("{\"__metadata__\":[]}", ""),
                "__metadata__ is not an object");
  expectCorrupt(fileWith("{\"__metadata__\":{\"k\":1}}", ""),
                "__metadata__ value of \"k\" is not a string");
}

TEST(SafetensorsTest, CorruptOffsetsOutOfRange) {
  expectCorrupt(
      oneTensor("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}",
                k8Bytes),
      "tensor \"w\": data_offsets [0, 16] out of range (the data section has "
      "8 bytes)");
  expectCorrupt(
      oneTensor("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}",
                k8Bytes),
      "data_offsets [8, 4] end before they begin");
  expectCorrupt(
      oneTensor("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}",
                k8Bytes),
      "\"data_offsets\" must hold non-negative integers");
  expectCorrupt(
      oneTensor("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}",
                k8Bytes),
      "\"data_offsets\" must be an array of two integers");
}

TEST(SafetensorsTest, CorruptOverlappingOffsets) {
  expectCorrupt(
      fileWith(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
          k8Bytes),
      "tensors \"a\" and \"b\" overlap");
}

TEST(SafetensorsTest, CorruptGapAndTrailingBytes) {
  expectCorrupt(
      fileWith(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
          k8Bytes),
      "bytes [0, 4) of the data section belong to no tensor");
  expectCorrupt(
      fileWith(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
          k8Bytes),
      "4 trailing bytes after the last tensor's data");
}

TEST(SafetensorsTest, CorruptUnknownDType) {
  expectCorrupt(
      oneTensor("{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}",
                k8Bytes),
      "tensor \"w\": unsupported dtype \"BF16\"");
  expectCorrupt(
      oneTensor("{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}", k8Bytes),
      "\"dtype\" is not a string");
}

TEST(SafetensorsTest, CorruptShapeByteCountMismatch) {
  expectCorrupt(
      oneTensor("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}",
                k8Bytes),
      "tensor \"w\": shape [3] of F32 needs 12 bytes but data_offsets [0, 8] "
      "span 8");
  expectCorrupt(
      oneTensor("{\"dtype\":\"F64\",\"shape\":[2,1],\"data_offsets\":[0,8]}",
                k8Bytes),
      "shape [2, 1] of F64 needs 16 bytes");
  expectCorrupt(
      oneTensor("{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}",
                k8Bytes),
      "\"shape\" must hold non-negative integers");
  expectCorrupt(
      oneTensor("{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}",
                k8Bytes),
      "only integers are supported");
  expectCorrupt(
      oneTensor("{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                "\"data_offsets\":[0,8]}",
                k8Bytes),
      "shape [4294967296, 4294967296] is too large");
}

TEST(SafetensorsTest, CorruptTensorEntry) {
  expectCorrupt(oneTensor("[]", ""), "tensor \"w\": entry is not an object");
  expectCorrupt(oneTensor("{\"shape\":[2],\"data_offsets\":[0,8]}", k8Bytes),
                "tensor \"w\": missing \"dtype\"");
  expectCorrupt(
      oneTensor("{\"dtype\":\"F32\",\"data_offsets\":[0,8]}", k8Bytes),
      "missing \"shape\"");
  expectCorrupt(oneTensor("{\"dtype\":\"F32\",\"shape\":[2]}", k8Bytes),
                "missing \"data_offsets\"");
  expectCorrupt(oneTensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"
                          "[0,8],\"extra\":1}",
                          k8Bytes),
                "unexpected field \"extra\"");
}

//===----------------------------------------------------------------------===//
// The JSON parser
//===----------------------------------------------------------------------===//

TEST(SafetensorsJsonTest, ParsesWhatHeadersUse) {
  using namespace firn::runtime::json;
  Value v;
  std::string error;
  ASSERT_TRUE(
      parse(" {\"a\": [1, -2, 9223372036854775807, -9223372036854775808],"
            " \"s\": \"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
            " \"t\": true, \"f\": false, \"n\": null, \"o\": {}} \n",
            v, error))
      << error;
  ASSERT_TRUE(v.isObject());
  const Value *a = v.find("a");
  ASSERT_TRUE(a && a->isArray());
  ASSERT_EQ(a->array.size(), 4u);
  EXPECT_EQ(a->array[1].integer, -2);
  EXPECT_EQ(a->array[2].integer, INT64_MAX);
  EXPECT_EQ(a->array[3].integer, INT64_MIN);
  EXPECT_EQ(v.find("s")->string, "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(v.find("t")->boolean);
  EXPECT_TRUE(v.find("n")->isNull());
  EXPECT_EQ(v.find("missing"), nullptr);
  // quote() output parses back to the same string.
  std::string tricky = "x\"\\\n\x01\x1f caf\xc3\xa9";
  ASSERT_TRUE(parse(quote(tricky), v, error)) << error;
  EXPECT_EQ(v.string, tricky);
}

TEST(SafetensorsJsonTest, RejectsWhatIsNotStrictJson) {
  using namespace firn::runtime::json;
  const std::pair<const char *, const char *> cases[] = {
      {"[1,]", "expected a value"},
      {"{\"a\":1,}", "expected a string key"},
      {"01", "leading zeros"},
      {"1.5", "only integers"},
      {"1e3", "only integers"},
      {"9223372036854775808", "does not fit in 64 bits"},
      {"-", "expected a digit"},
      {"\"abc", "unterminated string"},
      {"\"a\nb\"", "unescaped control character"},
      {"\"\\ud800\"", "unpaired surrogate"},
      {"\"\\udc00\"", "unpaired surrogate"},
      {"\"\\u12g4\"", "invalid hex digit 'g'"},
      {"nul", "expected a value"},
      {"truex", "expected a value"},
      {"// comment\n{}", "expected a value"},
      {"{} {}", "after the JSON value"},
      {"\"\xc0\xaf\"", "invalid UTF-8"},
  };
  for (const auto &c : cases) {
    Value v;
    std::string error;
    EXPECT_FALSE(parse(c.first, v, error)) << c.first;
    EXPECT_NE(error.find(c.second), std::string::npos)
        << c.first << " -> " << error;
    EXPECT_EQ(error.rfind("at byte ", 0), 0u) << error;
  }
  std::string deep(100, '[');
  Value v;
  std::string error;
  EXPECT_FALSE(parse(deep, v, error));
  EXPECT_NE(error.find("nesting deeper"), std::string::npos) << error;
}

} // namespace
