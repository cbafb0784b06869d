//===- OptimizerSchema.h - The hyper-parameters of each optimizer -*- C++ -*-===//
//
// Each torch.optim algorithm firn implements, with its hyper-parameters in
// PyTorch's order, the kind of value each takes and PyTorch's default:
// stated once, here. Sema takes the DSL's signatures and defaults from it,
// the firn.optimizer verifier the names and kinds it accepts.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_DIALECT_OPTIMIZERSCHEMA_H
#define FIRN_DIALECT_OPTIMIZERSCHEMA_H

#include "firn/Dialect/FirnOps.h"

#include "llvm/ADT/StringRef.h"

#include <utility>
#include <vector>

namespace firn {

/// A float, a flag, or a pair of floats (betas).
enum class HyperKind { Float, Bool, Pair };

struct HyperParameter {
  const char *name; ///< PyTorch's keyword: `weight_decay`.
  HyperKind kind;
  /// PyTorch's default: `value` (a flag: nonzero), a pair `(value,
  /// second)`. None where PyTorch has none (SGD's lr).
  bool hasDefault = true;
  double value = 0, second = 0;
};

struct OptimizerSchema {
  const char *name; ///< PyTorch's class, as the DSL writes it: `AdamW`.
  OptimizerKind kind;
  std::vector<HyperParameter> hyperParameters; ///< In PyTorch's order.
};

/// Every optimizer, in the order the documentation lists them.
const std::vector<OptimizerSchema> &optimizerSchemas();

/// The schema of `kind` (every kind has one).
const OptimizerSchema &optimizerSchema(OptimizerKind kind);

/// The hyper-parameter `name` of `schema`, or null.
const HyperParameter *findHyperParameter(const OptimizerSchema &schema,
                                         llvm::StringRef name);

} // namespace firn

#endif // FIRN_DIALECT_OPTIMIZERSCHEMA_H
