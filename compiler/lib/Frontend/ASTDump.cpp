//===- ASTDump.cpp - Readable listing of the syntax tree ------------------===//
//
// `firnc --emit=ast` output and the parser tests' view of the tree: one node
// per line, indented two spaces per level, each with its `@line:column`.
// Fields that were not written (no seed, default zero_grad) are shown as
// defaults without a location, so a reader can tell the two apart.
//
//===----------------------------------------------------------------------===//

#include "firn/Frontend/AST.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace firn;
using namespace firn::ast;

static std::string formatLoc(SourceLocation loc) {
  return "@" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
}

/// Formats a float literal the way Python's repr() does: the fewest digits
/// that read back to the same double, fixed notation for exponents in
/// [-4, 16), and a ".0" on integral values so that `3.0` and `3` differ.
static std::string formatFloat(double value) {
  if (std::isnan(value))
    return "nan";
  if (std::isinf(value))
    return value < 0 ? "-inf" : "inf";
  char buf[64];
  int precision = 1;
  for (; precision < 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*e", precision - 1, value);
    if (std::strtod(buf, nullptr) == value)
      break;
  }
  std::snprintf(buf, sizeof(buf), "%.*e", precision - 1, value);
  int exponent = std::atoi(std::strchr(buf, 'e') + 1);
  if (exponent < -4 || exponent >= 16)
    return buf;
  int decimals = precision - 1 - exponent;
  std::snprintf(buf, sizeof(buf), "%.*f", decimals > 0 ? decimals : 0, value);
  std::string text = buf;
  if (text.find('.') == std::string::npos)
    text += ".0";
  return text;
}

static std::string formatNumber(const Expr &expr) {
  if (expr.isInteger)
    return std::to_string(static_cast<long long>(expr.number));
  return formatFloat(expr.number);
}

static std::string formatType(const TensorTypeNode &type) {
  std::string text = type.dtype == DType::F32 ? "f32[" : "i64[";
  for (size_t i = 0; i != type.dims.size(); ++i) {
    if (i != 0)
      text += ", ";
    const Dim &dim = type.dims[i];
    text += dim.size ? std::to_string(*dim.size) : dim.batchName;
  }
  return text + "]";
}

/// Quotes with ' unless the text holds one (strings have no escapes).
static std::string quote(const std::string &text) {
  char q = text.find('\'') == std::string::npos ? '\'' : '"';
  return q + text + q;
}

namespace {
class Dumper {
public:
  explicit Dumper(std::string &out) : out(out) {}

  void module(const Module &module);

private:
  void line(unsigned depth, const std::string &text) {
    out.append(2 * depth, ' ');
    out += text;
    out += '\n';
  }

  void model(const ModelBlock &model, unsigned depth);
  void forward(const ForwardDef &forward, unsigned depth);
  void train(const TrainBlock &train, unsigned depth);
  void args(const std::vector<Arg> &args, unsigned depth);
  void expr(const Expr &expr, unsigned depth);
  static bool isLeaf(const Expr &expr);
  static std::string leafText(const Expr &expr);

  std::string &out;
};
} // namespace

void Dumper::module(const Module &module) {
  line(0, "Module " + quote(module.filename));
  model(module.model, 1);
  if (module.train)
    train(*module.train, 1);
}

void Dumper::model(const ModelBlock &model, unsigned depth) {
  line(depth, "Model " + quote(model.name) + " " + formatLoc(model.loc));
  ++depth;
  if (model.seed)
    line(depth, "Seed " + std::to_string(*model.seed) + " " +
                    formatLoc(model.seedLoc));
  for (const LayerDecl &layer : model.layers) {
    line(depth, "Layer " + layer.name + " = " + layer.kind + " " +
                    formatLoc(layer.loc));
    args(layer.args, depth + 1);
  }
  for (const FreezeStmt &freeze : model.freezes) {
    line(depth, "Freeze " + formatLoc(freeze.loc));
    for (const ExprPtr &selector : freeze.selectors)
      expr(*selector, depth + 1);
  }
  for (const InitStmt &init : model.inits) {
    line(depth, "Init " + formatLoc(init.loc));
    expr(*init.selector, depth + 1);
    if (init.retype)
      line(depth + 1, "Retype " + formatType(*init.retype) + " " +
                          formatLoc(init.retype->loc));
    expr(*init.value, depth + 1);
  }
  if (model.forward)
    forward(*model.forward, depth);
}

void Dumper::forward(const ForwardDef &forward, unsigned depth) {
  std::string header = "Forward " + formatLoc(forward.loc);
  if (forward.resultType)
    header += " -> " + formatType(*forward.resultType) + " " +
              formatLoc(forward.resultType->loc);
  line(depth, header);
  ++depth;
  for (const Param &param : forward.params)
    line(depth, "Param " + param.name + ": " + formatType(param.type) + " " +
                    formatLoc(param.loc));
  for (const Stmt &stmt : forward.body) {
    std::string names;
    for (const std::string &name : stmt.targets)
      names += (names.empty() ? "" : ", ") + name;
    line(depth, stmt.isReturn ? "Return " + formatLoc(stmt.loc)
                              : "Assign " + names + " " + formatLoc(stmt.loc));
    expr(*stmt.value, depth + 1);
  }
  line(depth, "End " + formatLoc(forward.endLoc));
}

void Dumper::train(const TrainBlock &train, unsigned depth) {
  line(depth, "Train " + formatLoc(train.loc));
  ++depth;
  if (train.target)
    line(depth, "Target " + train.target->name + ": " +
                    formatType(train.target->type) + " " +
                    formatLoc(train.target->loc));
  if (train.loss) {
    line(depth, "Loss " + formatLoc(train.lossLoc));
    expr(*train.loss, depth + 1);
  }
  for (const OptimizerDecl &opt : train.optimizers) {
    line(depth,
         "Optimizer " + opt.name + " = " + opt.kind + " " + formatLoc(opt.loc));
    args(opt.args, depth + 1);
    for (const GroupDecl &group : opt.groups) {
      line(depth + 1, "Group " + formatLoc(group.loc));
      args(group.args, depth + 2);
    }
  }
  for (const ClipDecl &clip : train.clips) {
    line(depth, std::string(clip.byNorm ? "ClipGradNorm " : "ClipGradValue ") +
                    formatLoc(clip.loc));
    args(clip.args, depth + 1);
  }
  for (const ScheduleDecl &schedule : train.schedules) {
    line(depth, "Schedule " + schedule.name + " = " + schedule.kind + " " +
                    formatLoc(schedule.loc));
    args(schedule.args, depth + 1);
  }
  if (train.accumulate)
    line(depth, "Accumulate " + std::to_string(*train.accumulate) + " " +
                    formatLoc(train.accumulateLoc));
  line(depth, "ZeroGrad " + train.zeroGrad + " " +
                  (train.zeroGradLoc.line ? formatLoc(train.zeroGradLoc)
                                          : std::string("(default)")));
  line(depth, "Mode " + train.mode + " " +
                  (train.modeLoc.line ? formatLoc(train.modeLoc)
                                      : std::string("(default)")));
}

/// `Arg @2:16 Number 2` for a positional leaf (its location is the arg's);
/// `Arg lr @3:20 Number 0.1 @3:23` for a keyword one; a compound value goes
/// on the lines below.
void Dumper::args(const std::vector<Arg> &args, unsigned depth) {
  for (const Arg &arg : args) {
    std::string text = "Arg ";
    if (!arg.name.empty())
      text += arg.name + " ";
    text += formatLoc(arg.loc);
    const Expr &value = *arg.value;
    if (!isLeaf(value)) {
      line(depth, text);
      expr(value, depth + 1);
      continue;
    }
    text += " " + leafText(value);
    if (value.loc.line != arg.loc.line || value.loc.column != arg.loc.column)
      text += " " + formatLoc(value.loc);
    line(depth, text);
  }
}

bool Dumper::isLeaf(const Expr &expr) {
  switch (expr.kind) {
  case ExprKind::Name:
  case ExprKind::Number:
  case ExprKind::String:
  case ExprKind::Bool:
  case ExprKind::Selector:
    return true;
  default:
    return false;
  }
}

std::string Dumper::leafText(const Expr &expr) {
  switch (expr.kind) {
  case ExprKind::Name:
    return "Name " + expr.name;
  case ExprKind::Number:
    return "Number " + formatNumber(expr);
  case ExprKind::String:
    return "String " + quote(expr.name);
  case ExprKind::Bool:
    return std::string("Bool ") + (expr.boolean ? "true" : "false");
  case ExprKind::Selector:
    return "Selector " + expr.name;
  default:
    return "?";
  }
}

void Dumper::expr(const Expr &expr, unsigned depth) {
  if (isLeaf(expr)) {
    line(depth, leafText(expr) + " " + formatLoc(expr.loc));
    return;
  }
  std::string loc = formatLoc(expr.loc);
  switch (expr.kind) {
  case ExprKind::Call:
    line(depth, "Call " + expr.name + " " + loc);
    args(expr.args, depth + 1);
    return;
  case ExprKind::Binary:
    line(depth, "Binary " + quote(expr.name) + " " + loc);
    break;
  case ExprKind::Negate:
    line(depth, "Negate " + loc);
    break;
  case ExprKind::List:
    line(depth, "List " + loc);
    break;
  case ExprKind::Tuple:
    line(depth, "Tuple " + loc);
    break;
  case ExprKind::Compare:
    line(depth, "Compare " + quote(expr.name) + " " + loc);
    break;
  case ExprKind::Not:
    line(depth, "Not " + loc);
    break;
  case ExprKind::Index:
    line(depth, "Index " + loc);
    break;
  case ExprKind::Slice:
    line(depth, "Slice " + loc);
    break;
  default:
    line(depth, "? " + loc);
    break;
  }
  for (const ExprPtr &element : expr.elements)
    this->expr(*element, depth + 1);
}

void firn::ast::dump(const Module &module, std::string &out) {
  Dumper(out).module(module);
}
