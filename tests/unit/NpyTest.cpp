//===- NpyTest.cpp - The runtime's .npy reader and writer -----------------===//
//
// Files written by NumPy itself (tests/fixtures/npy, made by
// make_npy_fixtures.py), round trips, byte-for-byte agreement with numpy.save,
// the header parser, and one test per kind of bad file and its message.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Npy.h"

#include "TestDir.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#ifndef FIRN_FIXTURES_DIR
#error "FIRN_FIXTURES_DIR must name tests/fixtures"
#endif

using namespace firn::runtime;

namespace {

std::string fixture(const std::string &name) {
  return std::string(FIRN_FIXTURES_DIR) + "/npy/" + name;
}

/// A fresh path in the test temp directory, unique per test and process.
std::string tempPath(const std::string &suffix = ".npy") {
  return firn::testing::tempPath("firn_npy_", suffix);
}
using firn::testing::readBytes;
using firn::testing::writeBytes;

TensorData readOk(const std::string &path) {
  TensorData t;
  std::string error;
  EXPECT_TRUE(readNpy(path, t, error)) << error;
  EXPECT_EQ(error, "");
  return t;
}

/// A version 1.0 file with header `dict` (padded as NumPy does) and `data`.
std::string npyWith(const std::string &dict, const std::string &data,
                    int major = 1) {
  const size_t lengthBytes = major == 1 ? 2 : 4;
  std::string header = dict;
  const size_t used = 8 + lengthBytes + header.size() + 1;
  header.append((64 - used % 64) % 64, ' ');
  header += '\n';
  std::string s = "\x93NUMPY";
  s += char(major);
  s += '\0';
  for (size_t i = 0; i < lengthBytes; ++i)
    s += char(uint8_t(header.size() >> (8 * i)));
  return s + header + data;
}

std::string dictFor(const std::string &descr, const std::string &shape,
                    const std::string &order = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + order +
         ", 'shape': " + shape + ", }";
}

/// Expects reading `bytes` (from a temp file) to fail with a message that
/// starts with the path and contains `what`; the output stays untouched.
void expectBad(const std::string &bytes, const std::string &what) {
  const std::string path = tempPath();
  writeBytes(path, bytes);
  TensorData t = TensorData::fromInt64s({1}, {42});
  std::string error;
  EXPECT_FALSE(readNpy(path, t, error));
  EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << error;
  EXPECT_NE(error.find(what), std::string::npos)
      << "error: " << error << "\nexpected to contain: " << what;
  EXPECT_EQ(t.asInt64s(), std::vector<int64_t>{42});

  // The in-memory parser agrees.
  TensorData u;
  std::string error2;
  std::vector<uint8_t> raw(bytes.begin(), bytes.end());
  EXPECT_FALSE(parseNpy(raw, path, u, error2));
  EXPECT_EQ(error2, error);
  std::remove(path.c_str());
}

std::string floatBytes(const std::vector<float> &values) {
  TensorData t = TensorData::fromFloats({int64_t(values.size())}, values);
  return std::string(t.bytes.begin(), t.bytes.end());
}

//===----------------------------------------------------------------------===//
// Files written by NumPy
//===----------------------------------------------------------------------===//

TEST(NpyTest, NumpyScalarFloat32) {
  TensorData t = readOk(fixture("f4_scalar.npy"));
  EXPECT_EQ(t.dtype, DType::F32);
  EXPECT_TRUE(t.shape.empty());
  EXPECT_EQ(t.asFloats(), std::vector<float>{1.5f});
}

TEST(NpyTest, NumpyMatrixFloat32) {
  TensorData t = readOk(fixture("f4_2x3.npy"));
  EXPECT_EQ(t.dtype, DType::F32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.asFloats(),
            (std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f}));
}

TEST(NpyTest, NumpyInt64Vector) {
  TensorData t = readOk(fixture("i8_vector.npy"));
  EXPECT_EQ(t.dtype, DType::I64);
  EXPECT_EQ(t.shape, std::vector<int64_t>{5});
  EXPECT_EQ(t.asInt64s(),
            (std::vector<int64_t>{3, -1, 0, 9, int64_t(1) << 40}));
}

TEST(NpyTest, NumpyFloat64) {
  TensorData t = readOk(fixture("f8_2x2.npy"));
  EXPECT_EQ(t.dtype, DType::F64);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t.asDoubles(), (std::vector<double>{0.1, -2.5, 1e300, 3.0}));
}

TEST(NpyTest, NumpyUint8IsWidenedToInt32) {
  TensorData t = readOk(fixture("u1_labels.npy"));
  EXPECT_EQ(t.dtype, DType::I32);
  EXPECT_EQ(t.shape, std::vector<int64_t>{4});
  EXPECT_EQ(t.bytes.size(), 16u);
  EXPECT_EQ(t.asInt64s(), (std::vector<int64_t>{0, 7, 255, 1}));
}

TEST(NpyTest, NumpyVersion2Header) {
  TensorData t = readOk(fixture("f4_v2.npy"));
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t.asFloats(), (std::vector<float>{0, 1, 2, 3}));
}

TEST(NpyTest, NumpyVersion3Header) {
  TensorData t = readOk(fixture("i4_v3.npy"));
  EXPECT_EQ(t.dtype, DType::I32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(t.asInt64s(), (std::vector<int64_t>{1, -2, 3}));
}

TEST(NpyTest, NumpyFortranOrderIsAnError) {
  const std::string path = fixture("f4_fortran.npy");
  TensorData t;
  std::string error;
  EXPECT_FALSE(readNpy(path, t, error));
  EXPECT_EQ(error, path + ": the array is in Fortran order (fortran_order: "
                          "True); firn reads C-order arrays only: save "
                          "np.ascontiguousarray(a) instead");
}

TEST(NpyTest, NumpyBigEndianIsAnError) {
  const std::string path = fixture("f4_big_endian.npy");
  TensorData t;
  std::string error;
  EXPECT_FALSE(readNpy(path, t, error));
  EXPECT_EQ(error, path + ": unsupported dtype '>f4': the data is "
                          "big-endian; save it little-endian, e.g. "
                          "a.astype(a.dtype.newbyteorder('<'))");
}

/// writeNpy writes exactly what numpy.save wrote for the same array.
TEST(NpyTest, WriterMatchesNumpyByteForByte) {
  for (const char *name :
       {"f4_scalar.npy", "f4_2x3.npy", "i8_vector.npy", "f8_2x2.npy"}) {
    const TensorData t = readOk(fixture(name));
    const std::string path = tempPath();
    std::string error;
    ASSERT_TRUE(writeNpy(path, t, error)) << error;
    EXPECT_EQ(readBytes(path), readBytes(fixture(name))) << name;
    std::remove(path.c_str());
  }
}

//===----------------------------------------------------------------------===//
// Round trips and the writer
//===----------------------------------------------------------------------===//

TEST(NpyTest, RoundTripEveryDTypeAndRank) {
  const std::vector<TensorData> tensors = {
      TensorData::fromFloats({}, {-0.25f}),
      TensorData::fromFloats({2, 1, 3}, {1, 2, 3, 4, 5, 6}),
      TensorData::fromDoubles({3}, {0.1, -1e-300, 7}),
      TensorData::fromInt64s({2, 2}, {INT64_MIN, -1, 0, INT64_MAX}),
      TensorData::fromInt32s({1}, {-7}),
      TensorData::fromFloats({0, 4}, {}),
      TensorData::fromFloats({1, 1, 1, 1, 1, 1, 1, 1}, {9}),
  };
  for (const TensorData &t : tensors) {
    const std::string path = tempPath();
    std::string error;
    ASSERT_TRUE(writeNpy(path, t, error)) << error;
    TensorData back = readOk(path);
    EXPECT_EQ(back.dtype, t.dtype);
    EXPECT_EQ(back.shape, t.shape);
    EXPECT_EQ(back.bytes, t.bytes);
    std::remove(path.c_str());
  }
}

TEST(NpyTest, HeaderIsPaddedTo64BytesWithANewline) {
  std::vector<uint8_t> bytes;
  std::string error;
  ASSERT_TRUE(
      serializeNpy(TensorData::fromFloats({3}, {1, 2, 3}), bytes, error));
  ASSERT_EQ(bytes.size(), 128u + 12u);
  EXPECT_EQ(bytes[6], 1); // version 1.0
  EXPECT_EQ(bytes[7], 0);
  EXPECT_EQ(bytes[8] | bytes[9] << 8, 118);
  EXPECT_EQ(bytes[127], '\n');
  const std::string text(bytes.begin() + 10, bytes.begin() + 128);
  EXPECT_EQ(text.rfind("{'descr': '<f4', 'fortran_order': False, "
                       "'shape': (3,), }",
                       0),
            0u);
}

TEST(NpyTest, WriteReplacesAnExistingFile) {
  const std::string path = tempPath();
  writeBytes(path, "old contents");
  std::string error;
  ASSERT_TRUE(writeNpy(path, TensorData::fromInt64s({1}, {5}), error));
  EXPECT_EQ(readOk(path).asInt64s(), std::vector<int64_t>{5});
  std::remove(path.c_str());
}

TEST(NpyTest, WriteErrors) {
  const std::string path = tempPath();
  TensorData bad = TensorData::fromFloats({2, 2}, {1, 2, 3});
  std::string error;
  EXPECT_FALSE(writeNpy(path, bad, error));
  EXPECT_EQ(error, path + ": cannot write: shape [2, 2] of F32 needs 16 "
                          "bytes but the tensor holds 12");
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "nothing must be written";

  bad = TensorData::fromFloats({-1}, {});
  EXPECT_FALSE(writeNpy(path, bad, error));
  EXPECT_EQ(error, path + ": cannot write: invalid shape [-1]");

  const std::string noDir = tempPath("_missing_dir/out.npy");
  EXPECT_FALSE(writeNpy(noDir, TensorData::fromFloats({}, {1}), error));
  EXPECT_EQ(error.rfind(noDir + ": cannot create temporary file", 0), 0u)
      << error;
}

//===----------------------------------------------------------------------===//
// The header parser
//===----------------------------------------------------------------------===//

TEST(NpyTest, HeaderParserAcceptsWhatNumpyMayWrite) {
  struct Case {
    const char *text;
    const char *descr;
    bool fortran;
    std::vector<int64_t> shape;
  };
  const Case cases[] = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }  \n",
       "<f4",
       false,
       {2, 3}},
      {"{'shape': (), 'descr': \"<i8\", 'fortran_order': True}",
       "<i8",
       true,
       {}},
      {"{ 'descr' : '|u1' , 'fortran_order' : False , 'shape' : ( 7 , ) }",
       "|u1",
       false,
       {7}},
      {"{'descr':'<f8','fortran_order':False,'shape':(1,2,3,)}",
       "<f8",
       false,
       {1, 2, 3}},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 10), }\n",
       "<f4",
       false,
       {0, 10}},
  };
  for (const Case &c : cases) {
    NpyHeader header;
    std::string error;
    ASSERT_TRUE(parseNpyHeader(c.text, header, error)) << c.text << error;
    EXPECT_EQ(header.descr, c.descr);
    EXPECT_EQ(header.fortranOrder, c.fortran);
    EXPECT_EQ(header.shape, c.shape);
  }
}

TEST(NpyTest, HeaderParserErrors) {
  const std::pair<const char *, const char *> cases[] = {
      {"", "at byte 0: expected '{'"},
      {"['descr']", "at byte 0: expected '{'"},
      {"{descr: '<f4'}", "at byte 1: expected a string"},
      {"{'descr' '<f4'}", "at byte 9: expected ':'"},
      {"{'descr': '<f4' 'shape': ()}", "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
       "unexpected key 'x' (an .npy header has 'descr', 'fortran_order' and "
       "'shape')"},
      {"{'descr': '<f4', 'descr': '<f4'}", "duplicate key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': ()}",
       "'fortran_order' must be True or False"},
      {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': ()}",
       "'fortran_order' must be True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}",
       "'shape' must be a tuple of integers"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (3)}",
       "'shape' must be a tuple: write (N,) for one dimension"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}",
       "'shape' has a negative dimension"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}",
       "expected ',' or ')' in 'shape'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (03,)}",
       "integers cannot have leading zeros"},
      {"{'descr': '<f4', 'fortran_order': False, "
       "'shape': (99999999999999999999,)}",
       "dimension too large"},
      {"{'descr': '<f4\\n', 'fortran_order': False, 'shape': ()}",
       "escape sequences are not supported in strings"},
      {"{'descr': '<f4", "unterminated string"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': ()} x",
       "unexpected text after the closing '}'"},
      {"{'descr': '<f4', 'fortran_order': False", "expected ',' or '}'"},
  };
  for (const auto &c : cases) {
    NpyHeader header;
    std::string error;
    EXPECT_FALSE(parseNpyHeader(c.first, header, error)) << c.first;
    EXPECT_EQ(error.rfind("header is not a valid Python dict literal: ", 0), 0u)
        << error;
    EXPECT_NE(error.find(c.second), std::string::npos)
        << "header: " << c.first << "\nerror: " << error
        << "\nexpected to contain: " << c.second;
  }
}

TEST(NpyTest, HeaderParserMissingKeys) {
  NpyHeader header;
  std::string error;
  EXPECT_FALSE(
      parseNpyHeader("{'fortran_order': False, 'shape': ()}", header, error));
  EXPECT_EQ(error, "the header has no 'descr' key");
  EXPECT_FALSE(parseNpyHeader("{'descr': '<f4', 'shape': ()}", header, error));
  EXPECT_EQ(error, "the header has no 'fortran_order' key");
  EXPECT_FALSE(parseNpyHeader("{'descr': '<f4', 'fortran_order': False}",
                              header, error));
  EXPECT_EQ(error, "the header has no 'shape' key");
}

TEST(NpyTest, DescrNames) {
  DType dtype;
  std::string error;
  ASSERT_TRUE(npyDescrToDType("<f4", dtype, error));
  EXPECT_EQ(dtype, DType::F32);
  ASSERT_TRUE(npyDescrToDType("<i4", dtype, error));
  EXPECT_EQ(dtype, DType::I32);
  ASSERT_TRUE(npyDescrToDType("|u1", dtype, error));
  EXPECT_EQ(dtype, DType::I32);
  EXPECT_STREQ(npyDescr(DType::F32), "<f4");
  EXPECT_STREQ(npyDescr(DType::F64), "<f8");
  EXPECT_STREQ(npyDescr(DType::I64), "<i8");
  EXPECT_STREQ(npyDescr(DType::I32), "<i4");
}

//===----------------------------------------------------------------------===//
// Bad files
//===----------------------------------------------------------------------===//

// Found by tests/fuzz/NpyFuzzer.cpp (tests/fuzz/regressions/npy/).
TEST(NpyTest, AHugeItemSizeIsRejectedWithoutOverflow) {
  // NumPy's name for the type was computed as atoi(size) * 8 in int.
  expectBad(npyWith(dictFor("<f536870912", "()"), ""), "unsupported dtype '<f536870912'");
}

TEST(NpyTest, EmptyArraysWithHugeDimensionsAreRejected) {
  // (2^62, 0) holds no bytes, but one row of it as int32 (uint8 widens)
  // would be 2^64 bytes: the reader refuses what the writer could not write.
  expectBad(npyWith(dictFor("|u1", "(4611686018427387904, 0)"), ""), "too large");
  expectBad(npyWith(dictFor("<f4", "(0, 4611686018427387904)"), ""), "too large");
  // An ordinary empty array reads and writes back.
  const std::string path = tempPath();
  writeBytes(path, npyWith(dictFor("<f4", "(0, 3)"), ""));
  TensorData t = readOk(path);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{0, 3}));
  std::vector<uint8_t> out;
  std::string error;
  EXPECT_TRUE(serializeNpy(t, out, error)) << error;
  std::remove(path.c_str());
}

TEST(NpyTest, MissingFile) {
  const std::string path = tempPath("_does_not_exist.npy");
  TensorData t;
  std::string error;
  EXPECT_FALSE(readNpy(path, t, error));
  EXPECT_EQ(error, path + ": cannot open: No such file or directory");
}

TEST(NpyTest, DirectoryIsNotAFile) {
  const std::string path = ::testing::TempDir();
  TensorData t;
  std::string error;
  EXPECT_FALSE(readNpy(path, t, error));
  EXPECT_NE(error.find(path + ": "), std::string::npos) << error;
}

TEST(NpyTest, BadMagic) {
  expectBad("", "not an .npy file (it does not start with the magic string "
                "\"\\x93NUMPY\")");
  expectBad("PK\x03\x04 a zip file", "not an .npy file");
  expectBad(std::string("\x93NUMPX\x01\x00", 8), "not an .npy file");
}

TEST(NpyTest, TruncatedPreamble) {
  expectBad("\x93NUMPY\x01",
            "truncated: the file ends inside the format version");
  expectBad(std::string("\x93NUMPY\x01\x00\x10", 9),
            "truncated: the file ends inside the header length");
  expectBad(std::string("\x93NUMPY\x02\x00\x10\x00\x00", 11),
            "truncated: the file ends inside the header length");
}

TEST(NpyTest, UnsupportedVersion) {
  expectBad(std::string("\x93NUMPY\x04\x00\x10\x00", 10),
            "unsupported .npy format version 4.0 (firn reads 1.0, 2.0 and "
            "3.0)");
  expectBad(std::string("\x93NUMPY\x01\x01\x10\x00", 10),
            "unsupported .npy format version 1.1");
}

TEST(NpyTest, TruncatedHeader) {
  expectBad(std::string("\x93NUMPY\x01\x00\x76\x00{'descr'", 17),
            "truncated header: the header length is 118 bytes but only 7 "
            "bytes follow");
}

TEST(NpyTest, HeaderNotADict) {
  expectBad(npyWith("('descr', '<f4')", ""),
            "header is not a valid Python dict literal: at byte 0: expected "
            "'{'");
}

TEST(NpyTest, NonAsciiHeaderBeforeVersion3) {
  expectBad(npyWith(dictFor("<f4", "()") + "\xc3\xa9", floatBytes({1})),
            "the header of a version 1.0 file must be ASCII (only version "
            "3.0 headers are UTF-8)");
}

TEST(NpyTest, UnsupportedDTypeIsNamed) {
  expectBad(npyWith(dictFor("<f2", "(2,)"), "abcd"),
            "unsupported dtype '<f2' (float16) (firn reads float32 '<f4', "
            "float64 '<f8', int64 '<i8', int32 '<i4' and uint8 '|u1')");
  expectBad(npyWith(dictFor("|b1", "(2,)"), "ab"),
            "unsupported dtype '|b1' (bool)");
  expectBad(npyWith(dictFor("<c8", "(1,)"), "abcdabcd"),
            "unsupported dtype '<c8' (complex64)");
  expectBad(npyWith(dictFor("|O", "(1,)"), "abcdabcd"),
            "unsupported dtype '|O' (firn reads");
  expectBad(npyWith(dictFor(">i8", "(1,)"), "abcdabcd"),
            "unsupported dtype '>i8': the data is big-endian");
}

TEST(NpyTest, FortranOrderInAHandWrittenHeader) {
  expectBad(npyWith(dictFor("<f4", "(2, 2)", "True"), std::string(16, '\0')),
            "the array is in Fortran order");
}

TEST(NpyTest, TruncatedData) {
  expectBad(npyWith(dictFor("<f4", "(2, 3)"), std::string(20, '\0')),
            "truncated data: expected 24 bytes of data (shape [2, 3] of "
            "'<f4'), found 20");
  expectBad(npyWith(dictFor("|u1", "(5,)"), "abc"),
            "truncated data: expected 5 bytes of data (shape [5] of '|u1'), "
            "found 3");
}

TEST(NpyTest, TrailingBytes) {
  expectBad(npyWith(dictFor("<i8", "(1,)"), std::string(11, '\0')),
            "3 trailing bytes after the data: expected 8 bytes of data "
            "(shape [1] of '<i8'), found 11");
}

TEST(NpyTest, ShapeTooLarge) {
  expectBad(npyWith(dictFor("<f8", "(4611686018427387904, 4)"), ""),
            "shape [4611686018427387904, 4] is too large");
}

TEST(NpyTest, HandWrittenVersion2And3Files) {
  for (int major : {2, 3}) {
    const std::string path = tempPath();
    writeBytes(path,
               npyWith(dictFor("<f4", "(2,)"), floatBytes({4, -4}), major));
    TensorData t = readOk(path);
    EXPECT_EQ(t.asFloats(), (std::vector<float>{4, -4}));
    std::remove(path.c_str());
  }
}

TEST(NpyTest, ParseFromMemory) {
  const std::string bytes = npyWith(
      dictFor("<i4", "(2,)"), std::string("\x01\0\0\0\xff\xff\xff\xff", 8));
  TensorData t;
  std::string error;
  ASSERT_TRUE(parseNpy(std::vector<uint8_t>(bytes.begin(), bytes.end()), "mem",
                       t, error))
      << error;
  EXPECT_EQ(t.asInt64s(), (std::vector<int64_t>{1, -1}));
}

} // namespace
