//===- LexerTest.cpp - Tokens and diagnostics of the front end ------------===//

#include "firn/Frontend/Lexer.h"
#include "firn/Frontend/Diagnostics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cstdint>

using namespace firn;

namespace {

std::vector<Token> lex(const std::string &source,
                       std::string *errors = nullptr) {
  DiagnosticEngine diags("test.firn", source);
  std::vector<Token> tokens = tokenize(diags);
  if (errors)
    *errors = diags.text();
  else
    EXPECT_EQ(diags.text(), "");
  return tokens;
}

std::vector<TokenKind> kinds(const std::vector<Token> &tokens) {
  std::vector<TokenKind> result;
  for (const Token &tok : tokens)
    result.push_back(tok.kind);
  return result;
}

/// The single error reported while lexing `source`.
std::string lexError(const std::string &source) {
  std::string errors;
  std::vector<Token> tokens = lex(source, &errors);
  EXPECT_TRUE(tokens.back().is(TokenKind::Error));
  return errors;
}

using K = TokenKind;

TEST(DiagnosticsTest, ErrorQuotesLineAndPointsAtColumn) {
  DiagnosticEngine diags("bad.firn",
                         "model M {\n\n\n  fc1 = Linaer(2, 2)\n}\n");
  EXPECT_FALSE(diags.hadError());
  diags.error({4, 9}, "unknown layer 'Linaer'; did you mean 'Linear'?");
  EXPECT_TRUE(diags.hadError());
  EXPECT_EQ(diags.text(),
            "bad.firn:4:9: error: unknown layer 'Linaer'; did you mean "
            "'Linear'?\n"
            "  fc1 = Linaer(2, 2)\n"
            "        ^\n");
}

TEST(DiagnosticsTest, TabsAreCopiedIntoTheCaretLine) {
  DiagnosticEngine diags("t.firn", "\tfc1 =\t$\n");
  diags.error({1, 8}, "unexpected character '$'");
  EXPECT_EQ(diags.text(), "t.firn:1:8: error: unexpected character '$'\n"
                          "\tfc1 =\t$\n"
                          "\t     \t^\n");
}

TEST(DiagnosticsTest, NotesAccumulateButAreNotErrors) {
  DiagnosticEngine diags("t.firn", "a\r\nbc\r\n");
  diags.note({2, 2}, "here");
  EXPECT_FALSE(diags.hadError());
  diags.error({1, 1}, "first");
  EXPECT_EQ(diags.numErrors(), 1u);
  // The CR of a CRLF line is not quoted.
  EXPECT_EQ(diags.text(), "t.firn:2:2: note: here\nbc\n ^\n"
                          "t.firn:1:1: error: first\na\n^\n");
  EXPECT_EQ(diags.filename(), "t.firn");
  EXPECT_EQ(diags.source(), "a\r\nbc\r\n");
}

TEST(DiagnosticsTest, UnknownLocationPrintsHeaderOnly) {
  DiagnosticEngine diags("t.firn", "x\n");
  diags.error({}, "no location");
  EXPECT_EQ(diags.text(), "t.firn: error: no location\n");
}

TEST(DiagnosticsTest, MultiByteCharactersTakeOneCaretCell) {
  DiagnosticEngine diags("t.firn", "# \xC3\xA9t\xC3\xA9\nx \xE2\x86\x92 y\n");
  diags.error({2, 7}, "here"); // byte column of 'y'
  EXPECT_EQ(diags.text(), "t.firn:2:7: error: here\nx \xE2\x86\x92 y\n    ^\n");
}

TEST(DiagnosticsTest, SuggestFindsCloseCandidates) {
  std::vector<std::string> layers = {"Linear",      "Conv2d",  "BatchNorm1d",
                                     "BatchNorm2d", "Dropout", "ReLU"};
  EXPECT_EQ(suggest("Linaer", layers), "Linear");
  EXPECT_EQ(suggest("linear", layers), "Linear");
  EXPECT_EQ(suggest("Conv3d", layers), "Conv2d");
  EXPECT_EQ(suggest("BatchNorm3d", layers), "BatchNorm1d"); // first of a tie
  EXPECT_EQ(suggest("Transformer", layers), "");
  EXPECT_EQ(suggest("x", {"y"}), "");
  EXPECT_EQ(suggest("fc", {"fc1", "fc2"}), "fc1");
  EXPECT_EQ(suggest("SDG", {"SGD", "Adam"}), "SGD");
  EXPECT_EQ(suggest("anything", {}), "");
  EXPECT_EQ(editDistance("Linaer", "Linear"), 1u);
  EXPECT_EQ(editDistance("", "abc"), 3u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}

/// The textbook optimal-string-alignment table, unbanded: the oracle for
/// the bounded version.
unsigned fullTableDistance(const std::string &a, const std::string &b) {
  std::vector<std::vector<unsigned>> d(a.size() + 1,
                                       std::vector<unsigned>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

TEST(DiagnosticsTest, BoundedEditDistanceAgreesWithTheFullTable) {
  // Short words over a three-letter alphabet hit every case: swaps, equal
  // letters, lengths far apart, distances on either side of the bound.
  unsigned state = 12345;
  auto word = [&] {
    state = state * 1103515245u + 12345u;
    std::string w((state >> 16) % 9, 'a');
    for (char &c : w) {
      state = state * 1103515245u + 12345u;
      c = static_cast<char>('a' + (state >> 16) % 3);
    }
    return w;
  };
  for (int trial = 0; trial < 3000; ++trial) {
    std::string a = word(), b = word();
    unsigned exact = fullTableDistance(a, b);
    EXPECT_EQ(editDistance(a, b), exact) << a << " " << b;
    for (unsigned bound = 0; bound <= 4; ++bound) {
      unsigned bounded = editDistance(a, b, bound);
      if (exact <= bound)
        EXPECT_EQ(bounded, exact) << a << " " << b << " bound " << bound;
      else
        EXPECT_GT(bounded, bound) << a << " " << b << " bound " << bound;
    }
  }
}

TEST(DiagnosticsTest, SuggestIsLinearInTheWordsLength) {
  // Issue 11: a 65,000-character name took 77 s; the full table for two such
  // words would be 17 GB. With the bound it is a few hundred thousand cells.
  std::string name(65000, 'a');
  EXPECT_EQ(suggest(name.substr(1) + "b", {"x", name}), name);
  EXPECT_EQ(suggest(name.substr(3) + "bcd", {name}), ""); // 3 edits
  std::string pairs;
  for (int i = 0; i < 32500; ++i)
    pairs += "ab";
  std::string swapped = pairs;
  std::swap(swapped[100], swapped[101]);
  EXPECT_EQ(editDistance(pairs, swapped, 2), 1u);
  EXPECT_GT(editDistance(name, std::string(64000, 'a'), 2), 2u);
}

TEST(LexerTest, KeywordsIdentifiersAndBooleans) {
  std::vector<Token> tokens =
      lex("model train forward return freeze init seed target loss "
          "optimizer group clip_grad_norm clip_grad_value schedule accumulate "
          "zero_grad mode load default eval none models _x f32 true False");
  std::vector<K> expected = {K::KwModel,
                             K::KwTrain,
                             K::KwForward,
                             K::KwReturn,
                             K::KwFreeze,
                             K::KwInit,
                             K::KwSeed,
                             K::KwTarget,
                             K::KwLoss,
                             K::KwOptimizer,
                             K::KwGroup,
                             K::KwClipGradNorm,
                             K::KwClipGradValue,
                             K::KwSchedule,
                             K::KwAccumulate,
                             K::KwZeroGrad,
                             K::KwMode,
                             K::KwLoad,
                             K::Identifier,
                             K::Identifier,
                             K::Identifier,
                             K::Identifier,
                             K::Identifier,
                             K::Identifier,
                             K::Bool,
                             K::Bool,
                             K::Eof};
  EXPECT_EQ(kinds(tokens), expected);
  EXPECT_EQ(tokens[18].text, "default");
  EXPECT_EQ(tokens[21].text, "models");
  EXPECT_TRUE(tokens[24].boolean);
  EXPECT_FALSE(tokens[25].boolean);
  EXPECT_TRUE(isKeyword(K::KwLoad));
  EXPECT_FALSE(isKeyword(K::Identifier));
}

TEST(LexerTest, LocationsAreOneBasedLineAndColumn) {
  std::vector<Token> tokens = lex("model Net {\n  fc1 = Linear(2, 2)\n}\n");
  ASSERT_EQ(tokens.size(), 16u);
  EXPECT_EQ(tokens[0].loc.line, 1u);
  EXPECT_EQ(tokens[0].loc.column, 1u);
  EXPECT_EQ(tokens[2].kind, K::LBrace);
  EXPECT_EQ(tokens[2].loc.column, 11u);
  EXPECT_EQ(tokens[3].kind, K::Newline);
  EXPECT_EQ(tokens[3].loc.column, 12u);
  EXPECT_EQ(tokens[4].text, "fc1");
  EXPECT_EQ(tokens[4].loc.line, 2u);
  EXPECT_EQ(tokens[4].loc.column, 3u);
  EXPECT_EQ(tokens[4].offset, 14u);
  EXPECT_EQ(tokens[6].text, "Linear");
  EXPECT_EQ(tokens[6].loc.column, 9u);
  EXPECT_EQ(tokens[10].kind, K::Integer);
  EXPECT_EQ(tokens[10].loc.column, 19u);
  EXPECT_EQ(tokens[13].kind, K::RBrace);
  EXPECT_EQ(tokens[13].loc.line, 3u);
  // End of file points at the end of the last line, not past the last newline.
  EXPECT_EQ(tokens[15].kind, K::Eof);
  EXPECT_EQ(tokens[15].loc.line, 3u);
  EXPECT_EQ(tokens[15].loc.column, 2u);
}

TEST(LexerTest, EndOfFileWithoutTrailingNewline) {
  std::vector<Token> tokens = lex("a\nbc");
  EXPECT_EQ(tokens.back().kind, K::Eof);
  EXPECT_EQ(tokens.back().loc.line, 2u);
  EXPECT_EQ(tokens.back().loc.column, 3u);
  tokens = lex("");
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].loc.line, 1u);
  EXPECT_EQ(tokens[0].loc.column, 1u);
}

TEST(LexerTest, Numbers) {
  std::vector<Token> tokens = lex("3 0.1 1e-3 2.5E+2 .5 1. 007 1.e2 -1");
  std::vector<K> expected = {K::Integer, K::Float,   K::Float,   K::Float,
                             K::Float,   K::Float,   K::Integer, K::Float,
                             K::Minus,   K::Integer, K::Eof};
  ASSERT_EQ(kinds(tokens), expected);
  EXPECT_EQ(tokens[0].integer, 3);
  EXPECT_EQ(tokens[0].number, 3.0);
  EXPECT_EQ(tokens[1].number, 0.1);
  EXPECT_EQ(tokens[2].number, 1e-3);
  EXPECT_EQ(tokens[3].number, 250.0);
  EXPECT_EQ(tokens[4].number, 0.5);
  EXPECT_EQ(tokens[4].text, ".5");
  EXPECT_EQ(tokens[5].number, 1.0);
  EXPECT_EQ(tokens[6].integer, 7);
  EXPECT_EQ(tokens[7].number, 100.0);
  EXPECT_EQ(tokens[9].integer, 1);
}

TEST(LexerTest, StringsKeepContentsAndSpelling) {
  std::vector<Token> tokens = lex("'same' \"valid\" 'it\"s' ''");
  ASSERT_EQ(tokens.size(), 5u);
  EXPECT_EQ(tokens[0].kind, K::String);
  EXPECT_EQ(tokens[0].stringValue, "same");
  EXPECT_EQ(tokens[0].text, "'same'");
  EXPECT_EQ(tokens[1].stringValue, "valid");
  EXPECT_EQ(tokens[2].stringValue, "it\"s");
  EXPECT_EQ(tokens[3].stringValue, "");
}

TEST(LexerTest, Punctuation) {
  std::vector<Token> tokens = lex("{ } ( ) [ ] , : = -> . * ? + - ->-");
  std::vector<K> expected = {
      K::LBrace,   K::RBrace, K::LParen, K::RParen, K::LBracket, K::RBracket,
      K::Comma,    K::Colon,  K::Equal,  K::Arrow,  K::Dot,      K::Star,
      K::Question, K::Plus,   K::Minus,  K::Arrow,  K::Minus,    K::Eof};
  EXPECT_EQ(kinds(tokens), expected);
  EXPECT_STREQ(tokenKindName(K::Arrow), "'->'");
  EXPECT_STREQ(tokenKindName(K::KwZeroGrad), "zero_grad");
  EXPECT_STREQ(tokenKindName(K::Eof), "end of file");
}

TEST(LexerTest, CommentsRunToEndOfLineAndKeepTheNewline) {
  std::vector<Token> tokens = lex("a # comment (\nb#x\n# only\n");
  std::vector<K> expected = {K::Identifier, K::Newline, K::Identifier,
                             K::Newline,    K::Newline, K::Eof};
  EXPECT_EQ(kinds(tokens), expected);
  EXPECT_EQ(tokens[2].loc.line, 2u);
}

TEST(LexerTest, NewlinesInsideParensAndBracketsAreDropped) {
  std::vector<Token> tokens = lex("f(1,\n  2) [[1],\n # c\n [2]]\n{\n}");
  std::vector<K> expected = {
      K::Identifier, K::LParen,   K::Integer,  K::Comma,    K::Integer,
      K::RParen,     K::LBracket, K::LBracket, K::Integer,  K::RBracket,
      K::Comma,      K::LBracket, K::Integer,  K::RBracket, K::RBracket,
      K::Newline,    K::LBrace,   K::Newline,  K::RBrace,   K::Eof};
  EXPECT_EQ(kinds(tokens), expected);
  EXPECT_EQ(tokens[4].loc.line, 2u);
  EXPECT_EQ(tokens[4].loc.column, 3u);
}

TEST(LexerTest, UnbalancedClosersDoNotHideNewlines) {
  std::vector<Token> tokens = lex(")\na");
  std::vector<K> expected = {K::RParen, K::Newline, K::Identifier, K::Eof};
  EXPECT_EQ(kinds(tokens), expected);
}

TEST(LexerTest, SelectorPiecesTouch) {
  std::vector<Token> tokens = lex("fc1.* conv* a_Linear.weight");
  std::vector<K> expected = {K::Identifier, K::Dot,        K::Star,
                             K::Identifier, K::Star,       K::Identifier,
                             K::Dot,        K::Identifier, K::Eof};
  ASSERT_EQ(kinds(tokens), expected);
  EXPECT_EQ(tokens[0].end(), tokens[1].offset);
  EXPECT_EQ(tokens[1].end(), tokens[2].offset);
  EXPECT_NE(tokens[2].end(), tokens[3].offset);
}

TEST(LexerTest, BadCharacter) {
  EXPECT_EQ(lexError("model M {\n  x = a $ b\n}"),
            "test.firn:2:9: error: unexpected character '$'\n"
            "  x = a $ b\n"
            "        ^\n");
  EXPECT_EQ(lexError("a\x01"), "test.firn:1:2: error: unexpected character "
                               "'\\x01'\na\x01\n ^\n");
  EXPECT_EQ(lexError("x = \xE2\x86\x92"),
            "test.firn:1:5: error: unexpected character '\xE2\x86\x92'\n"
            "x = \xE2\x86\x92\n    ^\n");
}

TEST(LexerTest, UnterminatedString) {
  EXPECT_EQ(lexError("p = 'same\nx"),
            "test.firn:1:5: error: unterminated string literal\n"
            "p = 'same\n"
            "    ^\n");
  EXPECT_EQ(lexError("p = \"same'"),
            "test.firn:1:5: error: unterminated string literal\n"
            "p = \"same'\n"
            "    ^\n");
}

TEST(LexerTest, MalformedNumbers) {
  EXPECT_EQ(lexError("lr = 1e"), "test.firn:1:6: error: malformed number "
                                 "'1e'\nlr = 1e\n     ^\n");
  EXPECT_EQ(lexError("x 1e+"), "test.firn:1:3: error: malformed number "
                               "'1e+'\nx 1e+\n  ^\n");
  EXPECT_EQ(lexError("  1.2.3"), "test.firn:1:3: error: malformed number "
                                 "'1.2.3'\n  1.2.3\n  ^\n");
  EXPECT_EQ(lexError("[0x1]"), "test.firn:1:2: error: malformed number "
                               "'0x1'\n[0x1]\n ^\n");
  EXPECT_EQ(lexError("2x"),
            "test.firn:1:1: error: malformed number '2x'\n2x\n^\n");
  EXPECT_EQ(lexError("9223372036854775808"),
            "test.firn:1:1: error: integer literal '9223372036854775808' does "
            "not fit in 64 bits (the largest is 9223372036854775807)\n"
            "9223372036854775808\n^\n");
  EXPECT_EQ(lexError("1e999"), "test.firn:1:1: error: floating-point literal "
                               "'1e999' is out of range for f32 (the largest "
                               "finite value is about 3.4028235e38)\n1e999\n"
                               "^\n");
}

TEST(LexerTest, NumbersAreBoundedByInt64AndFloat32) {
  // Issue 11: finite doubles beyond f32 reached the generated code as inf.
  // The bounds are numpy's: np.float32(3.4028235e38) is finite,
  // np.float32(3.4028236e38) and np.float32(3.5e38) are inf.
  EXPECT_EQ(lex("9223372036854775807")[0].integer, INT64_MAX);
  EXPECT_EQ(static_cast<float>(lex("3.4028235e38")[0].number), FLT_MAX);
  EXPECT_EQ(lex("1e-300")[0].number, 1e-300); // underflow is harmless
  for (const char *text : {"3.4028236e38", "3.5e38", "1e39"}) {
    std::string errors = lexError(text);
    EXPECT_NE(errors.find("is out of range for f32"), std::string::npos)
        << errors;
  }
}

TEST(LexerTest, LexingStopsAtTheFirstError) {
  std::string errors;
  std::vector<Token> tokens = lex("a $ # and\n@", &errors);
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[1].kind, K::Error);
  EXPECT_EQ(tokens[1].text, "$");
  EXPECT_EQ(tokens[1].message, "unexpected character '$'");
  // One diagnostic only, for '$'.
  EXPECT_EQ(errors.find("'@'"), std::string::npos);

  // The lexer itself keeps returning the error.
  std::string source = "$ a";
  Lexer lexer(source);
  EXPECT_EQ(lexer.next().kind, K::Error);
  EXPECT_EQ(lexer.next().kind, K::Error);
}

} // namespace
