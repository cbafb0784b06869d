//===- LayerTableTest.cpp - Every layer kind is a complete table entry ----===//
//
// A layer kind is all in its entry (compiler/lib/Frontend/Layers/): these
// fail when one lacks a part Sema or IR generation would call, or when
// docs/language.md does not document it.
//
//===----------------------------------------------------------------------===//
#include "Frontend/Layers/LayerKind.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

using namespace firn;

namespace {

TEST(LayerTable, EveryEntryIsComplete) {
  std::set<std::string> names;
  ASSERT_FALSE(layerKinds().empty());
  for (const LayerKind &kind : layerKinds()) {
    SCOPED_TRACE(kind.kind);
    EXPECT_TRUE(names.insert(kind.kind).second) << "two entries named " << kind.kind;
    EXPECT_EQ(kind.signature.callee, kind.kind);
    EXPECT_NE(kind.declare, nullptr);
    EXPECT_NE(kind.defaultInit, nullptr);
    // MultiheadAttention's call is typed and emitted outside the table.
    EXPECT_EQ(kind.shape == nullptr, kind.attention);
    EXPECT_EQ(kind.emit == nullptr, kind.attention);
    // firn's requires_grad: on every layer, keyword-only.
    ASSERT_FALSE(kind.signature.params.empty());
    EXPECT_EQ(kind.signature.params.back().name, "requires_grad");
    EXPECT_LT(kind.signature.positional, kind.signature.params.size());
  }
}

TEST(LayerTable, EveryKindIsDocumented) {
  std::ifstream in(FIRN_DOCS_DIR "/language.md");
  ASSERT_TRUE(in) << "cannot read " FIRN_DOCS_DIR "/language.md";
  std::stringstream text;
  text << in.rdbuf();
  for (const LayerKind &kind : layerKinds())
    EXPECT_NE(text.str().find("`" + std::string(kind.kind) + "`"), std::string::npos)
        << kind.kind << " is not in docs/language.md";
}

} // namespace
