//===- ParserTest.cpp - The .firn parser and AST dump ---------------------===//

#include "firn/Frontend/Parser.h"
#include "firn/Frontend/AST.h"
#include "firn/Frontend/Diagnostics.h"

#include <gtest/gtest.h>

using namespace firn;
using namespace firn::ast;

namespace {

/// Parses `source`, which must be valid.
Module parseOk(const std::string &source) {
  DiagnosticEngine diags("test.firn", source);
  std::optional<Module> module = parseModule(diags);
  EXPECT_TRUE(module.has_value()) << diags.text();
  EXPECT_EQ(diags.text(), "");
  if (!module)
    return Module();
  return std::move(*module);
}

std::string dumpOf(const std::string &source) {
  Module module = parseOk(source);
  std::string out;
  dump(module, out);
  return out;
}

/// Parses `source`, which must be invalid, and returns the diagnostic, which
/// must be exactly one error.
std::string parseError(const std::string &source) {
  DiagnosticEngine diags("test.firn", source);
  std::optional<Module> module = parseModule(diags);
  EXPECT_FALSE(module.has_value());
  EXPECT_EQ(diags.numErrors(), 1u) << diags.text();
  return diags.text();
}

/// Just the first line of the diagnostic: `file:line:col: error: message`.
std::string errorHeader(const std::string &source) {
  std::string text = parseError(source);
  return text.substr(0, text.find('\n'));
}

/// A model block around `body`, starting at line 1; `body` starts on line 2.
std::string inModel(const std::string &body) {
  return "model M {\n" + body + "\n}\n";
}

/// A minimal model then a train block; `body` starts on line 6.
std::string inTrain(const std::string &body) {
  return "model M {\n  fc1 = Linear(2, 1)\n  forward(x: f32[N, 2]) { return "
         "fc1(x) }\n}\ntrain {\n" +
         body + "\n}\n";
}

/// The layers' first argument value, the commonest thing to look at.
const Expr &firstArg(const Module &module) {
  return *module.model.layers.at(0).args.at(0).value;
}

const char *tinyNet = R"(# seed 002: TinyNet with its middle layer frozen
model TinyNet {
  fc1 = Linear(2, 2)
  fc2 = Linear(2, 2)
  fc3 = Linear(2, 1)

  freeze fc2                                  # for p in fc2.parameters(): p.requires_grad = False
  init fc1.weight = [[0.1295, 0.1109], [0.6487, 0.4996]]

  forward(x: f32[N, 2]) -> f32[N, 1] {
    h = relu(fc1(x))
    h = relu(fc2(h))
    return fc3(h)
  }
}

train {
  target y: f32[N, 1]
  loss = mse(output, y)
  optimizer opt = SGD(lr=0.1)                 # all parameters, like model.parameters()
}
)";

TEST(ParserTest, TinyNetFromTheSpec) {
  EXPECT_EQ(dumpOf(tinyNet), R"(Module 'test.firn'
  Model 'TinyNet' @2:1
    Layer fc1 = Linear @3:3
      Arg @3:16 Number 2
      Arg @3:19 Number 2
    Layer fc2 = Linear @4:3
      Arg @4:16 Number 2
      Arg @4:19 Number 2
    Layer fc3 = Linear @5:3
      Arg @5:16 Number 2
      Arg @5:19 Number 1
    Freeze @7:3
      Selector fc2 @7:10
    Init @8:3
      Selector fc1.weight @8:8
      List @8:21
        List @8:22
          Number 0.1295 @8:23
          Number 0.1109 @8:31
        List @8:40
          Number 0.6487 @8:41
          Number 0.4996 @8:49
    Forward @10:3 -> f32[N, 1] @10:28
      Param x: f32[N, 2] @10:11
      Assign h @11:5
        Call relu @11:9
          Arg @11:14
            Call fc1 @11:14
              Arg @11:18 Name x
      Assign h @12:5
        Call relu @12:9
          Arg @12:14
            Call fc2 @12:14
              Arg @12:18 Name h
      Return @13:5
        Call fc3 @13:12
          Arg @13:16 Name h
      End @14:3
  Train @17:1
    Target y: f32[N, 1] @18:10
    Loss @19:3
      Call mse @19:10
        Arg @19:14 Name output
        Arg @19:22 Name y
    Optimizer opt = SGD @20:13
      Arg lr @20:23 Number 0.1 @20:26
    ZeroGrad optimizer (default)
    Mode train (default)
)");
}

const char *fullTraining = R"(model Net {
  seed 1
  a_Linear = Linear(1, 2)
  conv1 = Conv2d(1, 4, kernel_size=(3, 3), padding='same', bias=false)
  drop = Dropout(p=0.25, requires_grad=True)
  init * = fill(0.1)
  init a_Linear.weight = [[5.0], [7.0]]
  init a_Linear.bias: f32[1] = [3.0]
  init conv1.* = load
  init conv1.bias = default
  init drop.weight = -0.5
  forward(x: f32[N, 1], m: f32[N, 2],) {
    y = a_Linear(x) * m - -1
    return reshape(y, [N, -1])
  }
}
train {
  target t: i64[N]
  loss = cross_entropy(output, t, reduction='sum')
  optimizer adam = Adam([a_Linear, conv1.*], lr=1e-3, betas=(0.9, 0.999)) {
    group([a_Linear.weight], lr=1e-4)
    group([conv?.bias, *])
  }
  optimizer sgd = SGD(lr=1.0)
  clip_grad_norm(max_norm=1.0, norm_type=2.0)
  clip_grad_value(clip_value=0.5)
  schedule s = StepLR(adam, step_size=10, gamma=0.1)
  accumulate 4
  zero_grad model
  mode eval
}
)";

TEST(ParserTest, FullTrainingFile) {
  EXPECT_EQ(dumpOf(fullTraining), R"(Module 'test.firn'
  Model 'Net' @1:1
    Seed 1 @2:3
    Layer a_Linear = Linear @3:3
      Arg @3:21 Number 1
      Arg @3:24 Number 2
    Layer conv1 = Conv2d @4:3
      Arg @4:18 Number 1
      Arg @4:21 Number 4
      Arg kernel_size @4:24
        Tuple @4:36
          Number 3 @4:37
          Number 3 @4:40
      Arg padding @4:44 String 'same' @4:52
      Arg bias @4:60 Bool false @4:65
    Layer drop = Dropout @5:3
      Arg p @5:18 Number 0.25 @5:20
      Arg requires_grad @5:26 Bool true @5:40
    Init @6:3
      Selector * @6:8
      Call fill @6:12
        Arg @6:17 Number 0.1
    Init @7:3
      Selector a_Linear.weight @7:8
      List @7:26
        List @7:27
          Number 5.0 @7:28
        List @7:34
          Number 7.0 @7:35
    Init @8:3
      Selector a_Linear.bias @8:8
      Retype f32[1] @8:23
      List @8:32
        Number 3.0 @8:33
    Init @9:3
      Selector conv1.* @9:8
      Name load @9:18
    Init @10:3
      Selector conv1.bias @10:8
      Name default @10:21
    Init @11:3
      Selector drop.weight @11:8
      Number -0.5 @11:22
    Forward @12:3
      Param x: f32[N, 1] @12:11
      Param m: f32[N, 2] @12:25
      Assign y @13:5
        Binary '-' @13:9
          Binary '*' @13:9
            Call a_Linear @13:9
              Arg @13:18 Name x
            Name m @13:23
          Number -1 @13:27
      Return @14:5
        Call reshape @14:12
          Arg @14:20 Name y
          Arg @14:23
            List @14:23
              Name N @14:24
              Number -1 @14:27
      End @15:3
  Train @17:1
    Target t: i64[N] @18:10
    Loss @19:3
      Call cross_entropy @19:10
        Arg @19:24 Name output
        Arg @19:32 Name t
        Arg reduction @19:35 String 'sum' @19:45
    Optimizer adam = Adam @20:13
      Arg @20:25
        List @20:25
          Selector a_Linear @20:26
          Selector conv1.* @20:36
      Arg lr @20:46 Number 0.001 @20:49
      Arg betas @20:55
        Tuple @20:61
          Number 0.9 @20:62
          Number 0.999 @20:67
      Group @21:5
        Arg @21:11
          List @21:11
            Selector a_Linear.weight @21:12
        Arg lr @21:30 Number 0.0001 @21:33
      Group @22:5
        Arg @22:11
          List @22:11
            Selector conv?.bias @22:12
            Selector * @22:24
    Optimizer sgd = SGD @24:13
      Arg lr @24:23 Number 1.0 @24:26
    ClipGradNorm @25:3
      Arg max_norm @25:18 Number 1.0 @25:27
      Arg norm_type @25:32 Number 2.0 @25:42
    ClipGradValue @26:3
      Arg clip_value @26:19 Number 0.5 @26:30
    Schedule s = StepLR @27:12
      Arg @27:23 Name adam
      Arg step_size @27:29 Number 10 @27:39
      Arg gamma @27:43 Number 0.1 @27:49
    Accumulate 4 @28:3
    ZeroGrad model @29:3
    Mode eval @30:3
)");
}

TEST(ParserTest, ModuleFields) {
  Module module = parseOk(fullTraining);
  EXPECT_EQ(module.filename, "test.firn");
  const ModelBlock &model = module.model;
  EXPECT_EQ(model.name, "Net");
  ASSERT_TRUE(model.seed.has_value());
  EXPECT_EQ(*model.seed, 1);
  ASSERT_EQ(model.layers.size(), 3u);
  EXPECT_EQ(model.layers[1].kind, "Conv2d");
  EXPECT_EQ(model.layers[1].kindLoc.column, 11u);
  ASSERT_EQ(model.inits.size(), 6u);
  const InitStmt &retyped = model.inits[2];
  ASSERT_TRUE(retyped.retype.has_value());
  EXPECT_EQ(retyped.retype->dtype, DType::F32);
  ASSERT_EQ(retyped.retype->dims.size(), 1u);
  EXPECT_EQ(*retyped.retype->dims[0].size, 1);
  EXPECT_EQ(model.inits[3].value->kind, ExprKind::Name);
  EXPECT_EQ(model.inits[3].value->name, "load");
  ASSERT_TRUE(model.forward.has_value());
  EXPECT_FALSE(model.forward->resultType.has_value());
  const Dim &batch = model.forward->params[0].type.dims[0];
  EXPECT_FALSE(batch.size.has_value());
  EXPECT_EQ(batch.batchName, "N");
  EXPECT_EQ(model.forward->endLoc.line, 15u);

  ASSERT_TRUE(module.train.has_value());
  const TrainBlock &train = *module.train;
  EXPECT_EQ(train.target->type.dtype, DType::I64);
  EXPECT_EQ(train.lossLoc.line, 19u);
  ASSERT_EQ(train.optimizers.size(), 2u);
  EXPECT_EQ(train.optimizers[0].groups.size(), 2u);
  EXPECT_EQ(train.optimizers[0].kindLoc.column, 20u);
  ASSERT_EQ(train.clips.size(), 2u);
  EXPECT_TRUE(train.clips[0].byNorm);
  EXPECT_FALSE(train.clips[1].byNorm);
  EXPECT_EQ(*train.accumulate, 4);
  EXPECT_EQ(train.zeroGrad, "model");
  EXPECT_EQ(train.mode, "eval");
}

TEST(ParserTest, TrainBlockIsOptionalAndDefaultsStay) {
  Module module = parseOk("\n# leading comment\n\nmodel M { }\n\n");
  EXPECT_EQ(module.model.name, "M");
  EXPECT_FALSE(module.train.has_value());
  EXPECT_FALSE(module.model.forward.has_value());

  module = parseOk(inTrain("zero_grad none\nmode train"));
  EXPECT_EQ(module.train->zeroGrad, "none");
  EXPECT_EQ(module.train->mode, "train");
  EXPECT_EQ(module.train->modeLoc.line, 7u);
  module = parseOk(inTrain("zero_grad optimizer"));
  EXPECT_EQ(module.train->zeroGrad, "optimizer");
  EXPECT_EQ(module.train->zeroGradLoc.line, 6u);
  EXPECT_FALSE(module.train->accumulate.has_value());
}

TEST(ParserTest, SelectorsAreJoinedFromTouchingTokens) {
  Module module =
      parseOk(inModel("  freeze fc1.*, conv*, fc3.bias, *, a_Linear.weight, "
                      "*.bias, fc?"));
  ASSERT_EQ(module.model.freezes.size(), 1u);
  const FreezeStmt &freeze = module.model.freezes[0];
  std::vector<std::string> names;
  for (const ExprPtr &selector : freeze.selectors) {
    EXPECT_EQ(selector->kind, ExprKind::Selector);
    names.push_back(selector->name);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"fc1.*", "conv*", "fc3.bias", "*",
                                      "a_Linear.weight", "*.bias", "fc?"}));
  EXPECT_EQ(freeze.loc.column, 3u);
  EXPECT_EQ(freeze.selectors[0]->loc.column, 10u);
  EXPECT_EQ(freeze.selectors[1]->loc.column, 17u);
}

TEST(ParserTest, SelectorsWithSpacesAreNotJoined) {
  EXPECT_EQ(parseError(inModel("  freeze fc1 .weight")),
            "test.firn:2:14: error: expected end of line after 'freeze' "
            "statement\n"
            "  freeze fc1 .weight\n"
            "             ^\n");
  EXPECT_EQ(errorHeader(inModel("  freeze fc1. weight")),
            "test.firn:2:10: error: malformed selector 'fc1.'");
  EXPECT_EQ(errorHeader(inModel("  init fc1..weight = 0")),
            "test.firn:2:8: error: malformed selector 'fc1..weight'");
}

TEST(ParserTest, ListsInOptimizerCallsHoldSelectors) {
  Module module = parseOk(
      inTrain("optimizer o = SGD([fc1, fc1.weight,], lr=0.1, betas=[1, 2])"));
  const OptimizerDecl &opt = module.train->optimizers[0];
  ASSERT_EQ(opt.args.size(), 3u);
  const Expr &selection = *opt.args[0].value;
  ASSERT_EQ(selection.kind, ExprKind::List);
  ASSERT_EQ(selection.elements.size(), 2u);
  EXPECT_EQ(selection.elements[0]->kind, ExprKind::Selector);
  EXPECT_EQ(selection.elements[0]->name, "fc1");
  EXPECT_EQ(selection.elements[1]->name, "fc1.weight");
  // Only the first positional argument is a selection.
  const Expr &betas = *opt.args[2].value;
  ASSERT_EQ(betas.kind, ExprKind::List);
  EXPECT_EQ(betas.elements[0]->kind, ExprKind::Number);

  // Elsewhere a list of names is a list of Name expressions.
  module = parseOk(inModel("  a = Foo([fc1, x])"));
  EXPECT_EQ(firstArg(module).elements[0]->kind, ExprKind::Name);
}

TEST(ParserTest, KeywordArguments) {
  Module module = parseOk(inModel(
      "  conv = Conv2d(1, 1, kernel_size=3, padding='same', bias=false,)"));
  const LayerDecl &conv = module.model.layers[0];
  ASSERT_EQ(conv.args.size(), 5u);
  EXPECT_EQ(conv.args[0].name, "");
  EXPECT_EQ(conv.args[2].name, "kernel_size");
  EXPECT_EQ(conv.args[2].loc.column, 23u);
  EXPECT_EQ(conv.args[2].value->loc.column, 35u);
  EXPECT_TRUE(conv.args[2].value->isInteger);
  EXPECT_EQ(conv.args[3].value->kind, ExprKind::String);
  EXPECT_EQ(conv.args[3].value->name, "same");
  EXPECT_EQ(conv.args[4].value->kind, ExprKind::Bool);
  EXPECT_FALSE(conv.args[4].value->boolean);
  EXPECT_TRUE(parseOk(inModel("  r = ReLU()")).model.layers[0].args.empty());
}

TEST(ParserTest, TuplesAndParentheses) {
  Module module = parseOk(inModel("  a = F((0.9, 0.999), (x), (3,), (1, 2,))"));
  const std::vector<Arg> &args = module.model.layers[0].args;
  ASSERT_EQ(args.size(), 4u);
  EXPECT_EQ(args[0].value->kind, ExprKind::Tuple);
  EXPECT_EQ(args[0].value->elements.size(), 2u);
  EXPECT_EQ(args[0].value->loc.column, 9u);
  EXPECT_EQ(args[1].value->kind, ExprKind::Name); // grouping only
  EXPECT_EQ(args[1].value->loc.column, 24u);
  EXPECT_EQ(args[2].value->kind, ExprKind::Tuple);
  EXPECT_EQ(args[2].value->elements.size(), 1u);
  EXPECT_EQ(args[3].value->elements.size(), 2u);
}

TEST(ParserTest, PrecedenceAndGrouping) {
  std::string body = "  forward(x: f32[N]) {\n    return (a + b) * c - d * "
                     "-e + f\n  }";
  EXPECT_EQ(dumpOf(inModel(body)), R"(Module 'test.firn'
  Model 'M' @1:1
    Forward @2:3
      Param x: f32[N] @2:11
      Return @3:5
        Binary '+' @3:13
          Binary '-' @3:13
            Binary '*' @3:13
              Binary '+' @3:13
                Name a @3:13
                Name b @3:17
              Name c @3:22
            Binary '*' @3:26
              Name d @3:26
              Negate @3:30
                Name e @3:31
          Name f @3:35
      End @4:3
)");
}

TEST(ParserTest, MinusIsFoldedIntoNumberLiterals) {
  Module module = parseOk(inModel("  a = F(-1, - 2.5, --1, -(1), 3 - 1)"));
  const std::vector<Arg> &args = module.model.layers[0].args;
  EXPECT_EQ(args[0].value->kind, ExprKind::Number);
  EXPECT_EQ(args[0].value->number, -1.0);
  EXPECT_TRUE(args[0].value->isInteger);
  EXPECT_EQ(args[0].value->loc.column, 9u);
  EXPECT_EQ(args[1].value->number, -2.5);
  EXPECT_FALSE(args[1].value->isInteger);
  EXPECT_EQ(args[2].value->kind, ExprKind::Negate);
  EXPECT_EQ(args[2].value->elements[0]->number, -1.0);
  EXPECT_EQ(args[3].value->kind, ExprKind::Negate);
  EXPECT_EQ(args[4].value->kind, ExprKind::Binary);
  EXPECT_EQ(args[4].value->name, "-");
}

TEST(ParserTest, NestedTensorLiteralsMaySpanLines) {
  Module module =
      parseOk(inModel("  init w = [\n    [[1, -2.0],\n     [3, "
                      "4]],   # first\n    [[5, 6], [7, 8]],\n  ]"));
  const Expr &literal = *module.model.inits[0].value;
  ASSERT_EQ(literal.kind, ExprKind::List);
  ASSERT_EQ(literal.elements.size(), 2u);
  const Expr &inner = *literal.elements[0]->elements[0];
  ASSERT_EQ(inner.elements.size(), 2u);
  EXPECT_EQ(inner.elements[1]->number, -2.0);
  EXPECT_EQ(inner.elements[1]->loc.line, 3u);
  EXPECT_EQ(inner.elements[1]->loc.column, 10u);
  EXPECT_EQ(literal.elements[1]->loc.line, 5u);
  EXPECT_TRUE(
      parseOk(inModel("  init w = []")).model.inits[0].value->elements.empty());
}

TEST(ParserTest, InitValues) {
  Module module = parseOk(inModel("  init a = 2\n  init b = zeros()\n"
                                  "  init c = default\n  init d = load"));
  const std::vector<InitStmt> &inits = module.model.inits;
  ASSERT_EQ(inits.size(), 4u);
  EXPECT_EQ(inits[0].value->kind, ExprKind::Number);
  EXPECT_EQ(inits[1].value->kind, ExprKind::Call);
  EXPECT_EQ(inits[2].value->kind, ExprKind::Name);
  EXPECT_EQ(inits[2].value->name, "default");
  EXPECT_EQ(inits[3].value->name, "load");
  EXPECT_EQ(inits[3].value->loc.column, 12u);
}

TEST(ParserTest, KeywordsAsSelectorValuesOfModeAndZeroGrad) {
  // `train` and `model` are keywords but are also values here.
  Module module = parseOk(inTrain("mode train\nzero_grad model"));
  EXPECT_EQ(module.train->mode, "train");
  EXPECT_EQ(module.train->zeroGrad, "model");
}

//===----------------------------------------------------------------------===//
// Errors: one diagnostic, specific, at the offending token.
//===----------------------------------------------------------------------===//

TEST(ParserErrorTest, MissingCloseParen) {
  EXPECT_EQ(parseError(inModel("  fc1 = Linear(2, 2\n  fc2 = Linear(2, 2)")),
            "test.firn:3:3: error: expected ')' after arguments\n"
            "  fc2 = Linear(2, 2)\n"
            "  ^\n");
  EXPECT_EQ(errorHeader(inModel("  fc1 = Linear(2 2)")),
            "test.firn:2:18: error: expected ')' after arguments");
}

TEST(ParserErrorTest, UnterminatedBlocks) {
  EXPECT_EQ(parseError("# c\n\nmodel Tiny {\n  fc1 = Linear(2, 2)\n"),
            "test.firn:4:21: error: unterminated block: expected '}' to "
            "close 'model' opened at 3:12\n"
            "  fc1 = Linear(2, 2)\n"
            "                    ^\n");
  EXPECT_EQ(errorHeader("model M {\n  forward(x: f32[N]) {\n    return x"),
            "test.firn:3:13: error: unterminated block: expected '}' to "
            "close 'forward' opened at 2:22");
  EXPECT_EQ(errorHeader("model M {}\ntrain {\n"),
            "test.firn:2:8: error: unterminated block: expected '}' to close "
            "'train' opened at 2:7");
  EXPECT_EQ(errorHeader("model M {}\ntrain {\n  optimizer o = SGD(lr=1) {\n"
                        "    group([fc1])\n"),
            "test.firn:4:17: error: unterminated block: expected '}' to close "
            "'optimizer' opened at 3:27");
}

TEST(ParserErrorTest, Duplicates) {
  EXPECT_EQ(errorHeader(inModel("  forward(x: f32[N]) { return x }\n"
                                "  forward(x: f32[N]) { return x }")),
            "test.firn:3:3: error: duplicate 'forward' in model 'M'");
  EXPECT_EQ(errorHeader(inModel("  seed 1\n  seed 2")),
            "test.firn:3:3: error: duplicate 'seed' in model 'M'");
  EXPECT_EQ(errorHeader(inTrain("accumulate 2\naccumulate 3")),
            "test.firn:7:1: error: duplicate 'accumulate' in train block");
  EXPECT_EQ(errorHeader(inTrain("loss = sum(output)\nloss = sum(output)")),
            "test.firn:7:1: error: duplicate 'loss' in train block");
  EXPECT_EQ(errorHeader(inTrain("target y: f32[N]\ntarget z: f32[N]")),
            "test.firn:7:1: error: duplicate 'target' in train block");
  EXPECT_EQ(errorHeader(inTrain("mode eval\nmode train")),
            "test.firn:7:1: error: duplicate 'mode' in train block");
  EXPECT_EQ(errorHeader(inTrain("zero_grad none\nzero_grad model")),
            "test.firn:7:1: error: duplicate 'zero_grad' in train block");
  EXPECT_EQ(errorHeader("model A {}\nmodel B {}"),
            "test.firn:2:1: error: duplicate 'model' block; a file describes "
            "one model");
  EXPECT_EQ(errorHeader("model A {}\ntrain {}\ntrain {}"),
            "test.firn:3:1: error: duplicate 'train' block");
  EXPECT_EQ(errorHeader(inModel("  a = F(lr=1, lr=2)")),
            "test.firn:2:15: error: duplicate keyword argument 'lr'");
}

TEST(ParserErrorTest, BadStatementStarts) {
  EXPECT_EQ(parseError(inModel("  return x")),
            "test.firn:2:3: error: expected a layer declaration, 'freeze', "
            "'init', 'seed' or 'forward' in model block\n"
            "  return x\n"
            "  ^\n");
  EXPECT_EQ(errorHeader(inModel("  train = Linear(1, 1)")),
            "test.firn:2:3: error: 'train' is a keyword and cannot be used as "
            "a name");
  EXPECT_EQ(errorHeader(inTrain("fc1 = Linear(1, 1)")),
            "test.firn:6:1: error: expected 'target', 'loss', 'optimizer', "
            "'clip_grad_norm', 'clip_grad_value', 'schedule', 'accumulate', "
            "'zero_grad' or 'mode' in train block");
  EXPECT_EQ(errorHeader(inModel("  forward(x: f32[N]) {\n    freeze x\n  }")),
            "test.firn:3:5: error: expected an assignment or 'return' in "
            "'forward'");
  EXPECT_EQ(errorHeader(inModel("  forward(x: f32[N]) {\n    loss = x\n  }")),
            "test.firn:3:5: error: 'loss' is a keyword and cannot be used as "
            "a name");
  EXPECT_EQ(errorHeader(inTrain("optimizer o = SGD(lr=1) {\n  lr = 2\n}")),
            "test.firn:7:3: error: expected 'group' in optimizer block");
}

TEST(ParserErrorTest, TopLevel) {
  EXPECT_EQ(errorHeader(""), "test.firn:1:1: error: expected a 'model' block");
  EXPECT_EQ(errorHeader("train {}\nmodel M {}"),
            "test.firn:1:1: error: expected a 'model' block before the "
            "'train' block");
  EXPECT_EQ(errorHeader("model M {}\nfc1 = Linear(1, 1)"),
            "test.firn:2:1: error: expected a 'train' block or end of file "
            "after the 'model' block");
  EXPECT_EQ(errorHeader("model M {}\ntrain {}\nx"),
            "test.firn:3:1: error: expected end of file after the 'train' "
            "block");
  EXPECT_EQ(errorHeader("model {}"),
            "test.firn:1:7: error: expected a model name after 'model'");
  EXPECT_EQ(errorHeader("model M\n{}"),
            "test.firn:1:8: error: expected '{' after model name 'M'");
  EXPECT_EQ(errorHeader("model M {}\ntrain\n{}"),
            "test.firn:2:6: error: expected '{' after 'train'");
}

TEST(ParserErrorTest, LayerDeclarations) {
  EXPECT_EQ(errorHeader(inModel("  fc1 Linear(2, 2)")),
            "test.firn:2:7: error: expected '=' after layer name 'fc1'");
  EXPECT_EQ(errorHeader(inModel("  fc1 = 3")),
            "test.firn:2:9: error: expected a layer kind such as 'Linear' "
            "after '='");
  EXPECT_EQ(errorHeader(inModel("  fc1 = Linear")),
            "test.firn:2:15: error: expected '(' after layer kind 'Linear'");
  EXPECT_EQ(errorHeader(inModel("  fc1 = Linear(2, 2) fc2")),
            "test.firn:2:22: error: expected end of line after layer "
            "declaration");
  EXPECT_EQ(errorHeader(inModel("  fc1 = Linear(bias=false, 2)")),
            "test.firn:2:28: error: positional argument follows keyword "
            "argument");
  EXPECT_EQ(errorHeader(inModel("  fc1 = Linear(2,, 2)")),
            "test.firn:2:18: error: expected an expression");
  EXPECT_EQ(errorHeader(inModel("  fc1 = Linear(2, model)")),
            "test.firn:2:19: error: expected an expression; 'model' is a "
            "keyword");
}

// A keyword may name a keyword argument: PyTorch's `mode='min'`.
TEST(ParserTest, KeywordNamedArguments) {
  DiagnosticEngine diags("test.firn", inModel("  s = Thing(mode='min', optimizer=opt)"));
  auto module = parseModule(diags);
  ASSERT_TRUE(module) << diags.text();
  const auto &args = module->model.layers.at(0).args;
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0].name, "mode");
  EXPECT_EQ(args[1].name, "optimizer");
}

TEST(ParserErrorTest, Expressions) {
  std::string prefix = "  forward(x: f32[N]) {\n    ";
  EXPECT_EQ(errorHeader(inModel(prefix + "h = relu(x\n  }")),
            "test.firn:4:3: error: expected ')' after arguments");
  EXPECT_EQ(errorHeader(inModel(prefix + "h = (x + 1\n  }")),
            "test.firn:4:3: error: expected ')' after expression");
  EXPECT_EQ(errorHeader(inModel(prefix + "h = (x, 1\n  }")),
            "test.firn:4:3: error: expected ')' after tuple elements");
  EXPECT_EQ(errorHeader(inModel(prefix + "h = [1, 2\n  }")),
            "test.firn:4:3: error: expected ']' after list elements");
  EXPECT_EQ(errorHeader(inModel(prefix + "h = \n  }")),
            "test.firn:3:9: error: expected an expression");
  EXPECT_EQ(errorHeader(inModel(prefix + "h x\n  }")),
            "test.firn:3:7: error: expected '=' after 'h'");
  EXPECT_EQ(errorHeader(inModel(prefix + "h = x y\n  }")),
            "test.firn:3:11: error: expected end of line after assignment");
  // A parameter's name is written without spaces (`fc1.weight` is one
  // name: tests/fixtures/models/param_refs.firn).
  EXPECT_EQ(errorHeader(inModel(prefix + "h = fc1 .weight\n  }")),
            "test.firn:3:13: error: expected end of line after assignment");
}

TEST(ParserErrorTest, ForwardSignature) {
  EXPECT_EQ(errorHeader(inModel("  forward x")),
            "test.firn:2:11: error: expected '(' after 'forward'");
  EXPECT_EQ(errorHeader(inModel("  forward() {}")),
            "test.firn:2:11: error: expected a name such as 'x'");
  EXPECT_EQ(errorHeader(inModel("  forward(x) {}")),
            "test.firn:2:12: error: expected ':' and a type after 'x'");
  EXPECT_EQ(errorHeader(inModel("  forward(x: f32[N] y: f32[N]) {}")),
            "test.firn:2:21: error: expected ')' after parameters");
  EXPECT_EQ(errorHeader(inModel("  forward(x: f32[N]) -> {}")),
            "test.firn:2:25: error: expected a tensor type such as "
            "'f32[N, 2]'");
  EXPECT_EQ(errorHeader(inModel("  forward(x: f32[N])\n  {}")),
            "test.firn:2:21: error: expected '{' to begin the body of "
            "'forward'");
}

TEST(ParserErrorTest, TensorTypes) {
  EXPECT_EQ(errorHeader(inTrain("target y: f64[N]")),
            "test.firn:6:11: error: unknown element type 'f64'; expected "
            "'f32' or 'i64'");
  EXPECT_EQ(errorHeader(inTrain("target y: float[N]")),
            "test.firn:6:11: error: unknown element type 'float'; expected "
            "'f32' or 'i64'");
  EXPECT_EQ(errorHeader(inTrain("target y: f32(N)")),
            "test.firn:6:14: error: expected '[' after element type 'f32'");
  EXPECT_EQ(errorHeader(inTrain("target y: f32[N, -1]")),
            "test.firn:6:18: error: expected a dimension: an integer, or a "
            "name such as 'N' for the batch dimension");
  EXPECT_EQ(errorHeader(inTrain("target y: f32[N 2]")),
            "test.firn:6:17: error: expected ']' after dimensions");
  EXPECT_EQ(errorHeader(inTrain("target y f32[N]")),
            "test.firn:6:10: error: expected ':' and a type after 'y'");
  Module module = parseOk(inTrain("target y: f32[]"));
  EXPECT_TRUE(module.train->target->type.dims.empty());
}

TEST(ParserErrorTest, FreezeAndInit) {
  EXPECT_EQ(errorHeader(inModel("  freeze")),
            "test.firn:2:9: error: expected a parameter selector such as "
            "'fc1', 'fc1.weight' or 'fc1.*' after 'freeze'");
  EXPECT_EQ(errorHeader(inModel("  freeze fc1,")),
            "test.firn:2:14: error: expected a parameter selector such as "
            "'fc1', 'fc1.weight' or 'fc1.*' after 'freeze'");
  EXPECT_EQ(errorHeader(inModel("  init fc1 0.5")),
            "test.firn:2:12: error: expected '=' or ':' after the selector in "
            "'init'");
  EXPECT_EQ(errorHeader(inModel("  init fc1: f32[1] 0.5")),
            "test.firn:2:20: error: expected '=' after the type in 'init'");
  EXPECT_EQ(errorHeader(inModel("  init fc1 = zeros")),
            "test.firn:2:14: error: expected an initial value: 'load', "
            "'default', a call such as 'fill(0.1)', a tensor literal or a "
            "number");
  EXPECT_EQ(errorHeader(inModel("  init fc1 = 'x'")),
            "test.firn:2:14: error: expected an initial value: 'load', "
            "'default', a call such as 'fill(0.1)', a tensor literal or a "
            "number");
  EXPECT_EQ(errorHeader(inModel("  seed -1")),
            "test.firn:2:8: error: expected a non-negative integer after "
            "'seed'");
  EXPECT_EQ(errorHeader(inModel("  seed 1.5")),
            "test.firn:2:8: error: expected a non-negative integer after "
            "'seed'");
}

TEST(ParserErrorTest, TrainStatements) {
  EXPECT_EQ(errorHeader(inTrain("optimizer = SGD(lr=1)")),
            "test.firn:6:11: error: expected an optimizer name after "
            "'optimizer'");
  EXPECT_EQ(errorHeader(inTrain("optimizer o SGD(lr=1)")),
            "test.firn:6:13: error: expected '=' after optimizer name 'o'");
  EXPECT_EQ(errorHeader(inTrain("optimizer o = SGD")),
            "test.firn:6:18: error: expected '(' after optimizer kind 'SGD'");
  EXPECT_EQ(errorHeader(inTrain("optimizer o = SGD([fc1 fc2], lr=1)")),
            "test.firn:6:24: error: expected ']' after parameter list");
  EXPECT_EQ(errorHeader(inTrain("optimizer o = SGD([], lr=1)")),
            "test.firn:6:20: error: expected a parameter selector such as "
            "'fc1', 'fc1.weight' or 'fc1.*' in the parameter list");
  EXPECT_EQ(errorHeader(inTrain("optimizer o = SGD([1], lr=1)")),
            "test.firn:6:20: error: expected a parameter selector such as "
            "'fc1', 'fc1.weight' or 'fc1.*' in the parameter list");
  EXPECT_EQ(errorHeader(inTrain("optimizer o = SGD(lr=1) {\n  group()\n}")),
            "test.firn:7:9: error: expected a parameter list such as '[fc1]' "
            "in 'group'");
  EXPECT_EQ(errorHeader(inTrain("optimizer o = SGD(lr=1) {\n  group [fc1]\n}")),
            "test.firn:7:9: error: expected '(' after 'group'");
  EXPECT_EQ(errorHeader(inTrain("loss mse(output, y)")),
            "test.firn:6:6: error: expected '=' after 'loss'");
  EXPECT_EQ(errorHeader(inTrain("clip_grad_norm max_norm=1")),
            "test.firn:6:16: error: expected '(' after 'clip_grad_norm'");
  EXPECT_EQ(errorHeader(inTrain("schedule s StepLR(o)")),
            "test.firn:6:12: error: expected '=' after schedule name 's'");
  EXPECT_EQ(errorHeader(inTrain("accumulate x")),
            "test.firn:6:12: error: expected an integer after 'accumulate'");
  EXPECT_EQ(errorHeader(inTrain("zero_grad all")),
            "test.firn:6:11: error: expected 'optimizer', 'model' or 'none' "
            "after 'zero_grad'");
  EXPECT_EQ(errorHeader(inTrain("mode test")),
            "test.firn:6:6: error: expected 'train' or 'eval' after 'mode'");
}

TEST(ParserErrorTest, LexicalErrorsAreReportedOnceWhenReached) {
  // The lexical error is the first error.
  EXPECT_EQ(parseError(inModel("  fc1 = Linear(2, $)")),
            "test.firn:2:19: error: unexpected character '$'\n"
            "  fc1 = Linear(2, $)\n"
            "                  ^\n");
  EXPECT_EQ(errorHeader(inModel("  init w = [1.2.3]")),
            "test.firn:2:13: error: malformed number '1.2.3'");
  EXPECT_EQ(errorHeader(inModel("  c = Conv2d(1, 1, padding='same)")),
            "test.firn:2:28: error: unterminated string literal");
  // A syntax error before a bad character wins over it.
  EXPECT_EQ(errorHeader(inModel("  fc1 Linear(2, 2) $")),
            "test.firn:2:7: error: expected '=' after layer name 'fc1'");
}

//===----------------------------------------------------------------------===//
// Dump formatting
//===----------------------------------------------------------------------===//

TEST(ASTDumpTest, NumbersPrintLikePython) {
  std::string out = dumpOf(
      inModel("  a = F(0.1, 1e-3, 1e-5, 3.0, 100.0, 2.5e20, 7, -0.0, 1e16, "
              "123456.789)"));
  for (const char *expected :
       {"Number 0.1\n", "Number 0.001\n", "Number 1e-05\n", "Number 3.0\n",
        "Number 100.0\n", "Number 2.5e+20\n", "Number 7\n", "Number -0.0\n",
        "Number 1e+16\n", "Number 123456.789\n"})
    EXPECT_NE(out.find(expected), std::string::npos) << expected << out;
}

TEST(ASTDumpTest, StringsWithSingleQuotesUseDoubleQuotes) {
  std::string out = dumpOf(inModel("  a = F(\"it's\")"));
  EXPECT_NE(out.find("String \"it's\""), std::string::npos) << out;
}

} // namespace
