//===- OptimizerSchema.cpp - The hyper-parameters of each optimizer -------===//
//
// PyTorch 1.13's torch.optim signatures (see OptimizerSchema.h). Adding an
// optimizer's hyper-parameter is one line here, plus its meaning in
// LowerOptimizers.cpp.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/OptimizerSchema.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/ErrorHandling.h"

namespace firn {

namespace {
HyperParameter real(const char *name, double value) {
  return {name, HyperKind::Float, true, value, 0};
}
HyperParameter flag(const char *name) { return {name, HyperKind::Bool, true, 0, 0}; }
HyperParameter pair(const char *name, double first, double second) {
  return {name, HyperKind::Pair, true, first, second};
}
HyperParameter required(const char *name) { return {name, HyperKind::Float, false, 0, 0}; }
} // namespace

const std::vector<OptimizerSchema> &optimizerSchemas() {
  static const std::vector<OptimizerSchema> schemas = {
      {"SGD",
       OptimizerKind::SGD,
       {required("lr"), real("momentum", 0), real("dampening", 0), real("weight_decay", 0),
        flag("nesterov"), flag("maximize")}},
      {"Adam",
       OptimizerKind::Adam,
       {real("lr", 1e-3), pair("betas", 0.9, 0.999), real("eps", 1e-8),
        real("weight_decay", 0), flag("amsgrad"), flag("maximize")}},
      {"AdamW",
       OptimizerKind::AdamW,
       {real("lr", 1e-3), pair("betas", 0.9, 0.999), real("eps", 1e-8),
        real("weight_decay", 1e-2), flag("amsgrad"), flag("maximize")}},
      {"Adagrad",
       OptimizerKind::Adagrad,
       {real("lr", 1e-2), real("lr_decay", 0), real("weight_decay", 0),
        real("initial_accumulator_value", 0), real("eps", 1e-10), flag("maximize")}},
      {"Adamax",
       OptimizerKind::Adamax,
       {real("lr", 2e-3), pair("betas", 0.9, 0.999), real("eps", 1e-8),
        real("weight_decay", 0), flag("maximize")}},
      {"RMSprop",
       OptimizerKind::RMSprop,
       {real("lr", 1e-2), real("alpha", 0.99), real("eps", 1e-8), real("weight_decay", 0),
        real("momentum", 0), flag("centered"), flag("maximize")}},
  };
  return schemas;
}

const OptimizerSchema &optimizerSchema(OptimizerKind kind) {
  for (const OptimizerSchema &schema : optimizerSchemas())
    if (schema.kind == kind)
      return schema;
  llvm_unreachable("every optimizer kind has a schema");
}

const HyperParameter *findHyperParameter(const OptimizerSchema &schema,
                                         llvm::StringRef name) {
  auto it = llvm::find_if(schema.hyperParameters,
                          [&](const HyperParameter &h) { return name == h.name; });
  return it == schema.hyperParameters.end() ? nullptr : &*it;
}

} // namespace firn
