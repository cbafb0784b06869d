//===- SemaTrain.cpp - The train block ------------------------------------===//
//
// Checks the training setup against PyTorch's rules: each optimizer gets
// every hyper-parameter with torch.optim's default filled in and validated
// as torch.optim validates it; each parameter belongs to at most one
// optimizer group (PyTorch raises "some parameters appear in more than one
// parameter group"); a frozen parameter may be selected and is then simply
// never updated (seed 001).
//
//===----------------------------------------------------------------------===//
#include "Sema.h"

#include "firn/Dialect/OptimizerSchema.h"
#include "firn/Runtime/ScheduleSchema.h"

namespace firn {

namespace {
struct OptimizerInfo {
  const char *kind;
  HyperParams defaults; ///< Without `lr` when PyTorch has no default.
};

/// The DSL's optimizers: PyTorch's names and defaults, from the one schema
/// the optimizer op's verifier reads too (firn/Dialect/OptimizerSchema.h).
const std::vector<OptimizerInfo> &optimizerTable() {
  static const std::vector<OptimizerInfo> table = [] {
    std::vector<OptimizerInfo> entries;
    for (const OptimizerSchema &schema : optimizerSchemas()) {
      OptimizerInfo info{schema.name, {}};
      for (const HyperParameter &h : schema.hyperParameters) {
        if (!h.hasDefault)
          continue;
        if (h.kind == HyperKind::Bool)
          info.defaults[h.name] = h.value != 0;
        else if (h.kind == HyperKind::Pair)
          info.defaults[h.name] = std::make_pair(h.value, h.second);
        else
          info.defaults[h.name] = h.value;
      }
      entries.push_back(std::move(info));
    }
    return entries;
  }();
  return table;
}

/// The signature of an optimizer or group call: a selection, then
/// hyper-parameters by keyword.
Signature hyperSignature(const std::string &callee, const HyperParams &known,
                         bool selectionRequired) {
  Signature sig{callee, {{"params", selectionRequired}}, 1};
  sig.params.push_back({"lr"});
  for (const auto &[name, value] : known)
    if (name != "lr")
      sig.params.push_back({name});
  return sig;
}

struct ScheduleInfo {
  const char *kind;
  std::vector<ArgSpec> options; ///< After the optimizer.
};

/// The DSL's schedules: the options the runtime parses, from their one
/// schema (firn/Runtime/ScheduleSchema.h).
const std::vector<ScheduleInfo> &scheduleTable() {
  static const std::vector<ScheduleInfo> table = [] {
    std::vector<ScheduleInfo> entries;
    for (const runtime::ScheduleSchema &schema : runtime::scheduleSchemas()) {
      ScheduleInfo info{schema.kind, {}};
      for (const runtime::ScheduleOption &option : schema.options)
        info.options.push_back({option.name, option.required});
      entries.push_back(std::move(info));
    }
    return entries;
  }();
  return table;
}
} // namespace

std::optional<HyperParams> Sema::readHyperParams(const std::string &kind,
                                                 const BoundArgs &bound,
                                                 const HyperParams &defaults,
                                                 const std::string &callee) {
  HyperParams result = defaults;
  for (const auto &[name, expr] : bound.values) {
    if (name == "params")
      continue;
    std::string what = "'" + callee + "' argument '" + name + "'";
    // The kind of value follows the default (lr has none for SGD: a float).
    auto known = defaults.find(name);
    if (known != defaults.end() && std::holds_alternative<bool>(known->second)) {
      auto v = readBool(expr, what, diags);
      if (!v)
        return std::nullopt;
      result[name] = *v;
    } else if (known != defaults.end() &&
               std::holds_alternative<std::pair<double, double>>(
                   known->second)) {
      auto v = readNumberPair(expr, what, diags);
      if (!v)
        return std::nullopt;
      for (double beta : {v->first, v->second})
        if (beta < 0 || beta >= 1) {
          diags.error(expr->loc, what + " must lie in [0, 1)");
          return std::nullopt;
        }
      result[name] = *v;
    } else {
      auto v = readNumber(expr, what, diags);
      if (!v)
        return std::nullopt;
      if (*v < 0 && name != "dampening") {
        diags.error(expr->loc, what + " must not be negative");
        return std::nullopt;
      }
      result[name] = *v;
    }
  }
  return result;
}

bool Sema::claimParams(const ast::Expr *selection, size_t optimizer,
                       size_t group, SourceLocation fallbackLoc) {
  std::vector<std::pair<size_t, const ast::Expr *>> claims;
  if (!selection) {
    for (size_t i = 0; i < program.params.size(); ++i)
      claims.push_back({i, nullptr});
    if (claims.empty()) {
      diags.error(fallbackLoc, "optimizer selects no parameter: the model has "
                               "none");
      return false;
    }
  } else {
    std::vector<const ast::Expr *> selectors;
    if (selection->kind == ast::ExprKind::List) {
      for (const ast::ExprPtr &element : selection->elements)
        selectors.push_back(element.get());
    } else {
      selectors.push_back(selection);
    }
    if (selectors.empty()) {
      diags.error(selection->loc, "optimizer selects no parameter: the list "
                                  "is empty");
      return false;
    }
    for (const ast::Expr *selector : selectors) {
      if (selector->kind != ast::ExprKind::Selector &&
          selector->kind != ast::ExprKind::Name) {
        diags.error(selector->loc, "expected a parameter selector such as "
                                   "'fc1' or 'conv.*', got " +
                                       describe(selector));
        return false;
      }
      auto matched = matchSelector(*selector);
      if (!matched)
        return false;
      for (size_t index : *matched)
        claims.push_back({index, selector});
    }
  }
  const Optimizer &opt = program.optimizers[optimizer];
  std::string here = "optimizer '" + opt.name + "'" +
                     (opt.groups.size() > 1 || group > 0
                          ? " (group " + std::to_string(group) + ")"
                          : std::string());
  for (auto [index, selector] : claims) {
    Parameter &param = program.params[index];
    if (param.optimizer == optimizer && param.group == group)
      continue; // Selected twice in one group: harmless, as in PyTorch.
    if (param.optimizer) {
      diags.error(selector ? selector->loc : fallbackLoc,
                  "parameter '" + param.name + "' is claimed by " + here +
                      " but already belongs to " + claimedBy[index] +
                      "; a parameter may belong to one optimizer group only");
      return false;
    }
    param.optimizer = optimizer;
    param.group = group;
    claimedBy[index] = here;
  }
  return true;
}

bool Sema::declareOptimizer(const ast::OptimizerDecl &decl) {
  for (const Optimizer &other : program.optimizers)
    if (other.name == decl.name) {
      diags.error(decl.loc, "duplicate optimizer name '" + decl.name + "'");
      return false;
    }
  const OptimizerInfo *info =
      lookupKind(optimizerTable(), decl.kind, "optimizer", decl.kindLoc);
  if (!info)
    return false;
  auto bound = bindArgs(hyperSignature(decl.kind, info->defaults, false),
                        decl.args, decl.kindLoc, diags);
  if (!bound)
    return false;
  auto defaults = readHyperParams(decl.kind, *bound, info->defaults, decl.kind);
  if (!defaults)
    return false;
  if (!decl.groups.empty() && bound->has("params")) {
    diags.error(bound->get("params")->loc,
                "give the parameters either in the optimizer call or in its "
                "groups, not both");
    return false;
  }

  size_t index = program.optimizers.size();
  program.optimizers.push_back({decl.name, decl.kind, decl.loc, {}});
  auto addGroup = [&](const HyperParams &hyper, const ast::Expr *selection,
                      SourceLocation loc) {
    if (!hyper.count("lr")) {
      diags.error(loc, "'" + decl.kind + "' needs 'lr': PyTorch has no "
                                         "default for it");
      return false;
    }
    auto momentum = hyper.find("momentum"), dampening = hyper.find("dampening"),
         nesterov = hyper.find("nesterov");
    if (nesterov != hyper.end() && std::get<bool>(nesterov->second) &&
        (std::get<double>(momentum->second) <= 0 ||
         std::get<double>(dampening->second) != 0)) {
      diags.error(loc, "nesterov momentum needs a momentum and zero "
                       "dampening, as in PyTorch");
      return false;
    }
    size_t group = program.optimizers[index].groups.size();
    program.optimizers[index].groups.push_back(hyper);
    return claimParams(selection, index, group, loc);
  };
  if (decl.groups.empty())
    return addGroup(*defaults, bound->get("params"), decl.kindLoc);
  for (const ast::GroupDecl &groupDecl : decl.groups) {
    auto groupBound = bindArgs(hyperSignature("group", info->defaults, true),
                               groupDecl.args, groupDecl.loc, diags);
    if (!groupBound)
      return false;
    auto hyper =
        readHyperParams(decl.kind, *groupBound, *defaults, "group");
    if (!hyper || !addGroup(*hyper, groupBound->get("params"), groupDecl.loc))
      return false;
  }
  return true;
}

std::optional<std::string> Sema::optimizerNamed(const ast::Expr *expr,
                                                const std::string &what) {
  for (const Optimizer &opt : program.optimizers)
    if (expr->kind == ast::ExprKind::Name && opt.name == expr->name)
      return opt.name;
  diags.error(expr->loc, what + " must name an optimizer declared before it, "
                                "got " +
                             describe(expr));
  return std::nullopt;
}

bool Sema::declareClip(const ast::ClipDecl &decl) {
  std::string callee = decl.byNorm ? "clip_grad_norm" : "clip_grad_value";
  Signature sig = decl.byNorm
                      ? Signature{callee,
                                  {{"max_norm", true}, {"norm_type"}, {"optimizer"}},
                                  2}
                      : Signature{callee, {{"clip_value", true}, {"optimizer"}}, 1};
  auto bound = bindArgs(sig, decl.args, decl.loc, diags);
  if (!bound)
    return false;
  Clip clip;
  clip.byNorm = decl.byNorm;
  clip.loc = decl.loc;
  for (const auto &[name, expr] : bound->values) {
    std::string what = "'" + callee + "' argument '" + name + "'";
    if (name == "optimizer") {
      // Like clip_grad_norm_(optimizer's parameters, ...): one optimizer's.
      auto optimizer = optimizerNamed(expr, what);
      if (!optimizer)
        return false;
      clip.optimizer = *optimizer;
      continue;
    }
    auto v = readNumber(expr, what, diags);
    if (!v)
      return false;
    if (*v <= 0) {
      diags.error(expr->loc, "'" + name + "' must be positive");
      return false;
    }
    (name == "norm_type" ? clip.normType : clip.maxNormOrValue) = *v;
  }
  for (const Clip &other : program.clips)
    if (other.byNorm == clip.byNorm && other.optimizer == clip.optimizer) {
      diags.error(decl.loc, "duplicate '" + callee + "'" +
                                (clip.optimizer.empty()
                                     ? std::string()
                                     : " for optimizer '" + clip.optimizer + "'"));
      return false;
    }
  program.clips.push_back(clip);
  return true;
}

bool Sema::declareSchedule(const ast::ScheduleDecl &decl) {
  for (const Schedule &other : program.schedules)
    if (other.name == decl.name) {
      diags.error(decl.loc, "duplicate schedule name '" + decl.name + "'");
      return false;
    }
  const ScheduleInfo *info =
      lookupKind(scheduleTable(), decl.kind, "schedule", decl.kindLoc);
  if (!info)
    return false;
  Signature sig{decl.kind, {{"optimizer", true}}};
  for (const ArgSpec &option : info->options)
    sig.params.push_back(option);
  auto bound = bindArgs(sig, decl.args, decl.kindLoc, diags);
  if (!bound)
    return false;
  Schedule schedule{decl.name, decl.kind, "", {}, decl.loc};
  for (const auto &[name, expr] : bound->values) {
    std::string what = "'" + decl.kind + "' argument '" + name + "'";
    if (name == "optimizer") {
      auto optimizer = optimizerNamed(expr, what);
      if (!optimizer)
        return false;
      schedule.optimizer = *optimizer;
    } else if (expr->kind == ast::ExprKind::String) {
      schedule.options[name] = expr->name;
    } else if (expr->kind == ast::ExprKind::List) {
      auto list = readIntList(expr, what, diags);
      if (!list)
        return false;
      schedule.options[name] = *list;
    } else if (expr->kind == ast::ExprKind::Bool) {
      schedule.options[name] = expr->boolean;
    } else {
      auto v = readNumber(expr, what, diags);
      if (!v)
        return false;
      if (expr->isInteger)
        schedule.options[name] = static_cast<int64_t>(*v);
      else
        schedule.options[name] = *v;
    }
  }
  program.schedules.push_back(std::move(schedule));
  return true;
}

bool Sema::checkTrain(const ast::TrainBlock &train) {
  program.hasTrain = true;
  Scope scope;
  for (const NamedValue &input : program.inputs)
    scope[input.name] = input.type;
  scope["output"] = program.output;
  if (train.target) {
    const ast::Param &target = *train.target;
    if (scope.count(target.name)) {
      diags.error(target.loc, "target name '" + target.name +
                                  "' is already used by " +
                                  (target.name == "output"
                                       ? std::string("the model's output")
                                       : "a forward input"));
      return false;
    }
    auto type = checkType(target.type);
    if (!type)
      return false;
    scope[target.name] = *type;
    program.target = NamedValue{target.name, *type, target.loc};
  }
  if (!train.loss) {
    diags.error(train.loc, "the train block has no 'loss'");
    return false;
  }
  auto lossType = typeOf(*train.loss, scope, /*inLoss=*/true);
  if (!lossType)
    return false;
  if (!lossType->shape.empty()) {
    diags.error(train.loss->loc,
                "the loss must be a scalar, got " + str(*lossType) +
                    "; reduce it with mean(...) or sum(...)");
    return false;
  }
  program.loss = train.loss.get();
  if (!checkIgnoreIndex())
    return false;
  for (const ast::OptimizerDecl &decl : train.optimizers)
    if (!declareOptimizer(decl))
      return false;
  for (const ast::ClipDecl &decl : train.clips)
    if (!declareClip(decl))
      return false;
  for (const ast::ScheduleDecl &decl : train.schedules)
    if (!declareSchedule(decl))
      return false;
  if (train.accumulate) {
    if (*train.accumulate < 1) {
      diags.error(train.accumulateLoc, "'accumulate' must be at least 1");
      return false;
    }
    // The model table holds it as a C int.
    if (*train.accumulate > kMaxIntArgument) {
      diags.error(train.accumulateLoc, "'accumulate' must be at most " +
                                           std::to_string(kMaxIntArgument) +
                                           ", got " +
                                           std::to_string(*train.accumulate));
      return false;
    }
    program.accumulate = *train.accumulate;
  }
  program.zeroGrad = train.zeroGrad;
  program.mode = train.mode;
  return !training || checkTrainable(train);
}

bool Sema::requiresGrad(const ast::Expr &expr,
                        const std::map<std::string, bool> &scope) const {
  // Recursion is bounded by the parser's nesting limit.
  switch (expr.kind) {
  case ast::ExprKind::Name: {
    if (auto ref = program.paramRefs.find(&expr); ref != program.paramRefs.end())
      return program.params[ref->second].trainable;
    auto it = scope.find(expr.name);
    return it != scope.end() && it->second;
  }
  case ast::ExprKind::Call: {
    auto layer = program.layerCalls.find(&expr);
    if (layer != program.layerCalls.end())
      for (const auto &[role, index] : program.layers[layer->second].params)
        if (program.params[index].trainable)
          return true;
    for (const ast::Arg &arg : expr.args)
      if (requiresGrad(*arg.value, scope))
        return true;
    return false;
  }
  default:
    for (const ast::ExprPtr &element : expr.elements)
      if (requiresGrad(*element, scope))
        return true;
    return false;
  }
}

bool Sema::checkTrainable(const ast::TrainBlock &train) {
  bool anyTrainable = false;
  for (const Parameter &param : program.params)
    anyTrainable |= param.trainable;
  if (!anyTrainable) {
    // PyTorch: "optimizer got an empty parameter list", or backward() on a
    // loss that does not require grad.
    diags.error(train.loc,
                "nothing to train: " +
                    (program.params.empty()
                         ? "model '" + program.modelName + "' has no parameters"
                         : "every parameter of model '" + program.modelName +
                               "' is frozen") +
                    " (build with --no-grad for inference only)");
    return false;
  }
  std::map<std::string, bool> scope;
  for (const ast::Stmt &stmt : program.forward->body) {
    bool flag = requiresGrad(*stmt.value, scope);
    if (stmt.isReturn) {
      scope["output"] = flag;
      break;
    }
    for (const std::string &name : stmt.targets)
      scope[name] = flag;
  }
  // Forward inputs and the target are data: they never require grad. The
  // loss sees forward's names only through `output`.
  std::map<std::string, bool> lossScope = {{"output", scope["output"]}};
  if (requiresGrad(*train.loss, lossScope))
    return true;
  std::string why;
  if (train.loss->kind == ast::ExprKind::Number)
    why = " (it is a constant)";
  else if (!lossScope["output"])
    why = " (the model's output does not depend on one either)";
  diags.error(train.loss->loc, "the loss has no gradient: it does not depend "
                               "on any trainable parameter" +
                                   why);
  return false;
}

bool Sema::checkIgnoreIndex() {
  // The data may hold the ignore_index one cross_entropy gives; the others
  // ignore PyTorch's default, -100, and take every other value as a class.
  if (!program.targetIgnoreIndex)
    return true;
  const int64_t v = *program.targetIgnoreIndex;
  for (auto [call, classes] : program.plainCrossEntropies) {
    if (v == -100) {
      program.crossEntropyOptions[call].ignoreIndex = -100;
    } else if (v < 0 || v >= classes) {
      diags.error(call->loc, "this cross_entropy would see the targets " +
                                 std::to_string(v) +
                                 " that another one ignores, and they are no "
                                 "class; give it ignore_index=" +
                                 std::to_string(v) + " too");
      return false;
    }
  }
  return true;
}

} // namespace firn
