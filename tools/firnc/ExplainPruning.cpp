//===- ExplainPruning.cpp - firnc --explain-pruning -----------------------===//
//
// Answers "what did freezing save me?": runs the same pruning as the
// firn-prune-frozen pass, records each operation it removes, and prints them
// in source order with what each would have cost per training step.
//
//===----------------------------------------------------------------------===//
#include "ExplainPruning.h"

#include "firn/Analysis/Cost.h"
#include "firn/Dialect/FirnOps.h"
#include "firn/Dialect/StateNames.h"
#include "firn/Transforms/Pruning.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/Support/Format.h"

#include <algorithm>

using namespace mlir;

namespace {
struct Removed {
  std::string location; ///< file:line:col
  unsigned line = 0, column = 0;
  std::string what;     ///< op name, and the symbol for state
  firn::Cost cost;
};

/// The cost of one forward + backward pass: the ops of @train_step (the
/// optimizer is not lowered at this point).
firn::Cost totalCost(ModuleOp module, int64_t batch) {
  firn::Cost total;
  if (auto step = module.lookupSymbol<func::FuncOp>("train_step"))
    step.walk([&](Operation *op) {
      if (op != step)
        total += firn::estimateCost(op, batch);
    });
  return total;
}

/// The bytes of the gradient buffers (@"grad/P"): what data-parallel
/// training sums across the ranks at every optimizer step
/// (runtime/include/firn/Runtime/DataParallel.h).
int64_t gradientBytes(ModuleOp module) {
  int64_t bytes = 0;
  module.walk([&](firn::BufferOp buffer) {
    if (!firn::isGradientBuffer(buffer.getSymName()))
      return;
    auto type = cast<ShapedType>(buffer.getType());
    if (type.hasStaticShape())
      bytes += type.getNumElements() *
               (type.getElementType().getIntOrFloatBitWidth() / 8);
  });
  return bytes;
}

std::string describe(Operation *op) {
  std::string what = op->getName().getStringRef().str();
  if (auto sym = op->getAttrOfType<StringAttr>("sym_name"))
    what += " @" + sym.getValue().str();
  else if (auto buffer = dyn_cast<firn::WriteBufferOp>(op))
    what += " @" + buffer.getBuffer().str();
  else if (auto read = dyn_cast<firn::ReadParamOp>(op))
    what += " @" + read.getParam().str();
  else if (auto read = dyn_cast<firn::ReadBufferOp>(op))
    what += " @" + read.getBuffer().str();
  return what;
}

std::string human(int64_t n) {
  char buffer[32];
  if (n == firn::kCostSaturated)
    return ">9.2e18"; // Saturated: the exact count does not fit 64 bits.
  if (n >= 10'000'000'000)
    snprintf(buffer, sizeof buffer, "%.1fG", n / 1e9);
  else if (n >= 10'000'000)
    snprintf(buffer, sizeof buffer, "%.1fM", n / 1e6);
  else if (n >= 10'000)
    snprintf(buffer, sizeof buffer, "%.1fk", n / 1e3);
  else
    snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(n));
  return buffer;
}
} // namespace

void firn::explainPruning(ModuleOp module, int64_t batch,
                          llvm::raw_ostream &os) {
  Cost before = totalCost(module, batch);
  const int64_t sentBefore = gradientBytes(module);
  std::vector<Removed> removed;
  pruneFrozen(module, [&](Operation *op) {
    Removed r;
    if (auto loc = dyn_cast<FileLineColLoc>(op->getLoc())) {
      r.line = loc.getLine();
      r.column = loc.getColumn();
      r.location = (loc.getFilename().getValue() + ":" + Twine(r.line) + ":" +
                    Twine(r.column))
                       .str();
    }
    r.what = describe(op);
    r.cost = estimateCost(op, batch);
    removed.push_back(std::move(r));
  });
  Cost after = totalCost(module, batch);
  const int64_t sentAfter = gradientBytes(module);
  std::stable_sort(removed.begin(), removed.end(),
                   [](const Removed &a, const Removed &b) {
                     return std::tie(a.line, a.column) <
                            std::tie(b.line, b.column);
                   });

  auto model = module->getAttrOfType<StringAttr>("firn.model");
  os << "Pruning report for model '" << (model ? model.getValue() : "?")
     << "' at batch size " << batch << ": " << removed.size()
     << " operations removed\n\n";
  size_t width = 8;
  for (const Removed &r : removed)
    width = std::max(width, r.location.size());
  const char *headings[] = {"location", "removed", "FLOPs", "bytes"};
  os << llvm::format("%-*s  %-48s %10s %10s\n", static_cast<int>(width),
                     headings[0], headings[1], headings[2], headings[3]);
  for (const Removed &r : removed)
    os << llvm::format("%-*s  %-48s %10s %10s\n", static_cast<int>(width),
                       r.location.c_str(), r.what.c_str(),
                       human(r.cost.flops).c_str(),
                       human(r.cost.bytes).c_str());
  auto line = [&](const char *what, int64_t before, int64_t after) {
    os << "  " << what << ": " << human(before) << " before, " << human(after)
       << " after";
    if (before == kCostSaturated) // The saving of a saturated total is unknown.
      os << "\n";
    else
      os << llvm::format(" (%.1f%% saved)\n",
                         before ? 100.0 * (before - after) / before : 0.0);
  };
  os << "\n@train_step (forward + backward, without the optimizer):\n";
  line("FLOPs", before.flops, after.flops);
  line("bytes", before.bytes, after.bytes);
  os << "\nData-parallel communication per optimizer step (mpirun -np K: the "
        "gradients summed\nacross the ranks; a ring allreduce sends "
        "2(K-1)/K of it per rank):\n";
  line("gradient bytes", sentBefore, sentAfter);
}
