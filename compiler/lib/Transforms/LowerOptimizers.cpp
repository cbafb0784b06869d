//===- LowerOptimizers.cpp - torch.optim updates as IR --------------------===//
//
// Writes each optimizer group's update as one function of firn ops, with
// torch.optim's arithmetic (PyTorch 1.13, the single-tensor code paths):
//
//   SGD:  d = g (+ wd p);  buf = m buf + (1 - dampening) d   (buf = d at
//         the first step);  d = nesterov ? d + m buf : buf;  p -= lr d
//   Adam: step += 1;  g (+ wd p);  m1 = b1 m1 + (1 - b1) g;
//         m2 = b2 m2 + (1 - b2) g^2;  p -= lr / (1 - b1^step) * m1 /
//         (sqrt(m2) / sqrt(1 - b2^step) + eps)
//   AdamW: as Adam, with p *= 1 - lr wd first instead of g += wd p.
//   Adagrad, Adamax, RMSprop: see their functions below.
//
// Only parameters that have a gradient buffer are updated: after pruning a
// frozen parameter has none, so it never changes even if it is selected
// (seed 001), and a parameter no optimizer owns is never visited (seed 000).
//
// Clipping is its own function, @clip_grads, which @optimizer_step calls
// first: like clip_grad_norm_/clip_grad_value_ it overwrites the gradient
// buffers, so the saved grad/<P> is the clipped .grad and an uncleared
// gradient (zero_grad none, a parameter no optimizer owns, accumulation)
// goes on from the clipped value, as in PyTorch.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnOps.h"
#include "firn/Dialect/StateNames.h"
#include "firn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

#include <cmath>
#include <cstring>
#include <optional>

namespace firn {
#define GEN_PASS_DEF_FIRNLOWEROPTIMIZERS
#include "firn/Transforms/Passes.h.inc"
} // namespace firn

using namespace mlir;
using namespace firn;

namespace {

/// Builds elementwise arithmetic with broadcasting result types.
struct Arith {
  OpBuilder &b;
  Location loc;

  RankedTensorType resultType(Value l, Value r) {
    shape::Inferred s =
        shape::broadcast(shapeOf(l.getType()), shapeOf(r.getType()));
    return tensorTypeOf(s.shape, b.getF32Type());
  }
  Value scalar(double v) {
    return b.create<ConstantOp>(
        loc, DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                                    static_cast<float>(v)));
  }
  Value add(Value l, Value r) { return b.create<AddOp>(loc, resultType(l, r), l, r); }
  Value sub(Value l, Value r) { return b.create<SubOp>(loc, resultType(l, r), l, r); }
  Value mul(Value l, Value r) { return b.create<MulOp>(loc, resultType(l, r), l, r); }
  Value div(Value l, Value r) { return b.create<DivOp>(loc, resultType(l, r), l, r); }
  Value max(Value l, Value r) { return b.create<MaxOp>(loc, resultType(l, r), l, r); }
  Value sqrt(Value v) { return b.create<SqrtOp>(loc, v); }
  Value pow(Value l, Value r) { return b.create<PowOp>(loc, resultType(l, r), l, r); }
  Value neg(Value v) { return b.create<NegOp>(loc, v); }
};

double hyper(DictionaryAttr group, StringRef name) {
  return cast<FloatAttr>(group.get(name)).getValueAsDouble();
}
bool flag(DictionaryAttr group, StringRef name) {
  auto attr = group.getAs<BoolAttr>(name);
  return attr && attr.getValue();
}
std::pair<double, double> betas(DictionaryAttr group) {
  auto pair = cast<ArrayAttr>(group.get("betas"));
  return {cast<FloatAttr>(pair[0]).getValueAsDouble(),
          cast<FloatAttr>(pair[1]).getValueAsDouble()};
}

class Lowering {
public:
  Lowering(ModuleOp module) : module(module) {}

  LogicalResult run() {
    SmallVector<std::string> steps;
    if (std::optional<std::string> clip = lowerClips())
      steps.push_back(*clip);
    for (OptimizerOp opt : module.getOps<OptimizerOp>()) {
      for (auto [index, group] : llvm::enumerate(opt.getGroups()))
        steps.push_back(
            lowerGroup(opt, index, cast<DictionaryAttr>(group)));
    }
    if (steps.empty())
      return success(); // No optimizer: nothing is ever updated.
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    auto all = b.create<func::FuncOp>(module.getLoc(), "optimizer_step",
                                      b.getFunctionType({}, {}));
    b.setInsertionPointToStart(all.addEntryBlock());
    for (const std::string &step : steps)
      b.create<func::CallOp>(module.getLoc(), step, TypeRange{});
    b.create<func::ReturnOp>(module.getLoc());
    return success();
  }

private:
  /// A buffer of the optimizer's state, created on first use.
  std::string stateBuffer(OptimizerOp opt, const std::string &name,
                          RankedTensorType type, float initial) {
    std::string symbol = optimizerStateName(opt.getSymName(), name);
    if (!module.lookupSymbol(symbol)) {
      OpBuilder b(opt->getNextNode());
      b.create<BufferOp>(opt.getLoc(), b.getStringAttr(symbol),
                         TypeAttr::get(type),
                         DenseElementsAttr::get(type, initial));
    }
    return symbol;
  }

  std::string lowerGroup(OptimizerOp opt, size_t index, DictionaryAttr group) {
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    std::string name =
        ("step/" + opt.getSymName() + "/" + std::to_string(index)).str();
    auto func = b.create<func::FuncOp>(opt.getLoc(), name,
                                       b.getFunctionType({}, {}));
    b.setInsertionPointToStart(func.addEntryBlock());
    auto scalarType = RankedTensorType::get({}, b.getF32Type());
    std::string lrName = stateBuffer(opt, std::to_string(index) + "/lr",
                                     scalarType, hyper(group, "lr"));
    b.setInsertionPointToEnd(&func.getBody().front());
    Value lr = b.create<ReadBufferOp>(opt.getLoc(), scalarType, lrName);
    for (ParamOp param : module.getOps<ParamOp>()) {
      if (param.getOwnerAttr() != FlatSymbolRefAttr::get(opt.getSymNameAttr()) ||
          *param.getGroup() != index)
        continue;
      std::string gradName = gradientBufferName(param.getSymName());
      if (!module.lookupSymbol(gradName))
        continue; // Frozen: pruned, never updated.
      Arith a{b, param.getLoc()};
      RankedTensorType type = param.getTensorType();
      Value p = b.create<ReadParamOp>(a.loc, type, param.getSymName());
      Value g = b.create<ReadBufferOp>(a.loc, type, gradName);
      if (flag(group, "maximize"))
        g = a.neg(g);
      std::string prefix = param.getSymName().str() + "/";
      Value updated;
      switch (opt.getKind()) {
      case OptimizerKind::SGD:
        updated = sgd(opt, group, a, p, g, lr, prefix);
        break;
      case OptimizerKind::Adam:
      case OptimizerKind::AdamW:
        updated = adam(opt, group, a, p, g, lr, prefix,
                       opt.getKind() == OptimizerKind::AdamW);
        break;
      case OptimizerKind::Adagrad:
        updated = adagrad(opt, group, a, p, g, lr, prefix);
        break;
      case OptimizerKind::Adamax:
        updated = adamax(opt, group, a, p, g, lr, prefix);
        break;
      case OptimizerKind::RMSprop:
        updated = rmsprop(opt, group, a, p, g, lr, prefix);
        break;
      }
      b.create<WriteParamOp>(a.loc, updated, param.getSymName());
    }
    b.create<func::ReturnOp>(opt.getLoc());
    return name;
  }

  Value sgd(OptimizerOp opt, DictionaryAttr group, Arith &a, Value p, Value d,
            Value lr, const std::string &prefix) {
    double wd = hyper(group, "weight_decay"), m = hyper(group, "momentum");
    double dampening = hyper(group, "dampening");
    if (wd != 0)
      d = a.add(d, a.mul(a.scalar(wd), p));
    if (m != 0) {
      auto type = cast<RankedTensorType>(p.getType());
      std::string bufName =
          stateBuffer(opt, prefix + "momentum_buffer", type, 0.0f);
      Value buf = a.b.create<ReadBufferOp>(a.loc, type, bufName);
      Value next = a.add(a.mul(a.scalar(m), buf),
                         a.mul(a.scalar(1 - dampening), d));
      if (dampening != 0) {
        // PyTorch starts the buffer at d itself, undamped: add the missing
        // dampening * d on the first step only.
        auto scalarType = RankedTensorType::get({}, a.b.getF32Type());
        std::string firstName =
            stateBuffer(opt, prefix + "momentum_first", scalarType, 1.0f);
        Value first = a.b.create<ReadBufferOp>(a.loc, scalarType, firstName);
        next = a.add(next, a.mul(first, a.mul(a.scalar(dampening), d)));
        a.b.create<WriteBufferOp>(a.loc, a.scalar(0.0), firstName);
      }
      a.b.create<WriteBufferOp>(a.loc, next, bufName);
      d = flag(group, "nesterov") ? a.add(d, a.mul(a.scalar(m), next)) : next;
    }
    return a.sub(p, a.mul(lr, d));
  }

  Value adam(OptimizerOp opt, DictionaryAttr group, Arith &a, Value p, Value g,
             Value lr, const std::string &prefix, bool decoupled) {
    auto type = cast<RankedTensorType>(p.getType());
    auto scalarType = RankedTensorType::get({}, a.b.getF32Type());
    auto [beta1, beta2] = betas(group);
    double wd = hyper(group, "weight_decay"), eps = hyper(group, "eps");

    std::string stepName = stateBuffer(opt, prefix + "step", scalarType, 0.0f);
    Value step = a.add(a.b.create<ReadBufferOp>(a.loc, scalarType, stepName),
                       a.scalar(1.0));
    a.b.create<WriteBufferOp>(a.loc, step, stepName);
    if (wd != 0) {
      if (decoupled)
        p = a.mul(p, a.sub(a.scalar(1.0), a.mul(lr, a.scalar(wd))));
      else
        g = a.add(g, a.mul(a.scalar(wd), p));
    }
    std::string m1Name = stateBuffer(opt, prefix + "exp_avg", type, 0.0f);
    std::string m2Name = stateBuffer(opt, prefix + "exp_avg_sq", type, 0.0f);
    Value m1 = a.add(
        a.mul(a.scalar(beta1), a.b.create<ReadBufferOp>(a.loc, type, m1Name)),
        a.mul(a.scalar(1 - beta1), g));
    Value m2 = a.add(
        a.mul(a.scalar(beta2), a.b.create<ReadBufferOp>(a.loc, type, m2Name)),
        a.mul(a.scalar(1 - beta2), a.mul(g, g)));
    a.b.create<WriteBufferOp>(a.loc, m1, m1Name);
    a.b.create<WriteBufferOp>(a.loc, m2, m2Name);
    if (flag(group, "amsgrad")) {
      std::string maxName =
          stateBuffer(opt, prefix + "max_exp_avg_sq", type, 0.0f);
      m2 = a.max(a.b.create<ReadBufferOp>(a.loc, type, maxName), m2);
      a.b.create<WriteBufferOp>(a.loc, m2, maxName);
    }
    Value correction1 = a.b.create<BiasCorrectionOp>(
        a.loc, step.getType(), step, a.b.getF64FloatAttr(beta1));
    Value correction2 = a.b.create<BiasCorrectionOp>(
        a.loc, step.getType(), step, a.b.getF64FloatAttr(beta2));
    Value stepSize = a.div(lr, correction1);
    Value denom =
        a.add(a.div(a.sqrt(m2), a.sqrt(correction2)), a.scalar(eps));
    return a.sub(p, a.mul(stepSize, a.div(m1, denom)));
  }

  /// Builds @clip_grads: every clip of the module in the order the file
  /// gives them, each reading what the clips before it left, then one write
  /// per gradient buffer a clip touched. None when the module has no clips.
  std::optional<std::string> lowerClips() {
    SmallVector<Operation *> clips;
    for (Operation &op : module.getBody()->getOperations())
      if (isa<ClipGradNormOp, ClipGradValueOp>(op))
        clips.push_back(&op);
    if (clips.empty())
      return std::nullopt;
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    const char *name = "clip_grads";
    auto func = b.create<func::FuncOp>(clips.front()->getLoc(), name,
                                       b.getFunctionType({}, {}));
    b.setInsertionPointToStart(func.addEntryBlock());
    // The current value of each gradient buffer, in module order, read when
    // a clip first touches it (null until then: untouched, neither read nor
    // written).
    SmallVector<std::pair<BufferOp, Value>> grads;
    for (BufferOp buffer : module.getOps<BufferOp>())
      if (isGradientBuffer(buffer.getSymName()))
        grads.push_back({buffer, Value()});
    for (Operation *op : clips) {
      Arith a{b, op->getLoc()};
      auto owner = op->getAttrOfType<FlatSymbolRefAttr>("optimizer");
      SmallVector<size_t> selected;
      for (size_t i = 0; i < grads.size(); ++i)
        if (clipTouches(owner, grads[i].first))
          selected.push_back(i);
      for (size_t i : selected)
        if (!grads[i].second)
          grads[i].second = b.create<ReadBufferOp>(
              grads[i].first.getLoc(), grads[i].first.getType(),
              grads[i].first.getSymName());
      if (selected.empty())
        continue;
      if (auto byNorm = dyn_cast<ClipGradNormOp>(op)) {
        SmallVector<Value> values;
        for (size_t i : selected)
          values.push_back(grads[i].second);
        Value scale = clipScale(a, byNorm, values);
        for (size_t i : selected)
          grads[i].second = a.mul(grads[i].second, scale);
      } else {
        double v = cast<ClipGradValueOp>(op).getClipValue().convertToDouble();
        // clamp(g, -v, v) = max(min(g, v), -v), min(x, y) = -max(-x, -y).
        Value bound = a.scalar(-v);
        for (size_t i : selected)
          grads[i].second =
              a.max(a.neg(a.max(a.neg(grads[i].second), bound)), bound);
      }
    }
    for (size_t i = 0; i < grads.size(); ++i)
      if (grads[i].second)
        b.create<WriteBufferOp>(grads[i].first.getLoc(), grads[i].second,
                                grads[i].first.getSymName());
    b.create<func::ReturnOp>(func.getLoc());
    return std::string(name);
  }

  /// Whether a clip (of every gradient, or `for @owner`: of the parameters
  /// that optimizer owns) touches `grad`.
  bool clipTouches(FlatSymbolRefAttr owner, BufferOp grad) {
    if (!owner)
      return true;
    auto param = module.lookupSymbol<ParamOp>(
        gradientParam(grad.getSymName()));
    return param && param.getOwnerAttr() == owner;
  }

  /// min(max_norm / (total_norm + 1e-6), 1), as clip_grad_norm_ computes it,
  /// with total_norm the norm_type-norm of `grads` together.
  Value clipScale(Arith &a, ClipGradNormOp clip, ArrayRef<Value> grads) {
    OpBuilder &b = a.b;
    double p = clip.getNormType().convertToDouble();
    bool infinity = std::isinf(p);
    auto scalarType = RankedTensorType::get({}, b.getF32Type());
    auto reduceAll = [&](Value v) -> Value {
      if (infinity)
        return b.create<ReduceMaxOp>(a.loc, scalarType, v,
                                     b.getDenseI64ArrayAttr({}), UnitAttr());
      return b.create<ReduceSumOp>(a.loc, scalarType, v,
                                   b.getDenseI64ArrayAttr({}), UnitAttr());
    };
    Value total;
    for (Value g : grads) {
      Value part;
      if (p == 2) {
        part = reduceAll(a.mul(g, g));
      } else {
        Value magnitude = a.max(g, a.neg(g));
        part = reduceAll(infinity || p == 1 ? magnitude
                                            : a.pow(magnitude, a.scalar(p)));
      }
      total = !total ? part : infinity ? a.max(total, part) : a.add(total, part);
    }
    Value norm = infinity || p == 1 ? total
                 : p == 2          ? a.sqrt(total)
                                   : a.pow(total, a.scalar(1.0 / p));
    Value coef = a.div(a.scalar(clip.getMaxNorm().convertToDouble()),
                       a.add(norm, a.scalar(1e-6)));
    return a.neg(a.max(a.neg(coef), a.scalar(-1.0))); // min(coef, 1)
  }

  /// The step counter of a parameter, incremented; returns the new count.
  Value nextStep(OptimizerOp opt, Arith &a, const std::string &prefix) {
    auto scalarType = RankedTensorType::get({}, a.b.getF32Type());
    std::string name = stateBuffer(opt, prefix + "step", scalarType, 0.0f);
    Value step = a.add(a.b.create<ReadBufferOp>(a.loc, scalarType, name),
                       a.scalar(1.0));
    a.b.create<WriteBufferOp>(a.loc, step, name);
    return step;
  }

  /// Reads a state buffer, and arranges for `next` to be written back.
  Value readState(OptimizerOp opt, Arith &a, const std::string &name,
                  RankedTensorType type, float initial) {
    return a.b.create<ReadBufferOp>(a.loc, type,
                                    stateBuffer(opt, name, type, initial));
  }

  void writeState(OptimizerOp opt, Arith &a, const std::string &name,
                  Value value) {
    a.b.create<WriteBufferOp>(a.loc, value, optimizerStateName(opt.getSymName(), name));
  }

  /// Adagrad: sum += g^2;  p -= lr / (1 + (step - 1) lr_decay) g /
  /// (sqrt(sum) + eps).
  Value adagrad(OptimizerOp opt, DictionaryAttr group, Arith &a, Value p,
                Value g, Value lr, const std::string &prefix) {
    auto type = cast<RankedTensorType>(p.getType());
    double wd = hyper(group, "weight_decay");
    Value step = nextStep(opt, a, prefix);
    if (wd != 0)
      g = a.add(g, a.mul(a.scalar(wd), p));
    Value clr = a.div(lr, a.add(a.scalar(1.0),
                                a.mul(a.sub(step, a.scalar(1.0)),
                                      a.scalar(hyper(group, "lr_decay")))));
    float initial = static_cast<float>(hyper(group, "initial_accumulator_value"));
    Value sum = a.add(readState(opt, a, prefix + "sum", type, initial),
                      a.mul(g, g));
    writeState(opt, a, prefix + "sum", sum);
    Value std = a.add(a.sqrt(sum), a.scalar(hyper(group, "eps")));
    return a.sub(p, a.mul(clr, a.div(g, std)));
  }

  /// Adamax: m = b1 m + (1 - b1) g;  u = max(b2 u, |g| + eps);
  /// p -= lr / (1 - b1^step) m / u.
  Value adamax(OptimizerOp opt, DictionaryAttr group, Arith &a, Value p,
               Value g, Value lr, const std::string &prefix) {
    auto type = cast<RankedTensorType>(p.getType());
    auto [beta1, beta2] = betas(group);
    double wd = hyper(group, "weight_decay");
    Value step = nextStep(opt, a, prefix);
    if (wd != 0)
      g = a.add(g, a.mul(a.scalar(wd), p));
    Value m = a.add(a.mul(a.scalar(beta1),
                          readState(opt, a, prefix + "exp_avg", type, 0.0f)),
                    a.mul(a.scalar(1 - beta1), g));
    Value magnitude = a.add(a.max(g, a.neg(g)), a.scalar(hyper(group, "eps")));
    Value u = a.max(a.mul(a.scalar(beta2),
                          readState(opt, a, prefix + "exp_inf", type, 0.0f)),
                    magnitude);
    writeState(opt, a, prefix + "exp_avg", m);
    writeState(opt, a, prefix + "exp_inf", u);
    Value correction = a.b.create<BiasCorrectionOp>(
        a.loc, step.getType(), step, a.b.getF64FloatAttr(beta1));
    return a.sub(p, a.mul(a.div(lr, correction), a.div(m, u)));
  }

  /// RMSprop: v = alpha v + (1 - alpha) g^2;  centered: c = alpha c +
  /// (1 - alpha) g, avg = sqrt(v - c^2) + eps, else sqrt(v) + eps; with
  /// momentum: b = momentum b + g / avg, p -= lr b; else p -= lr g / avg.
  Value rmsprop(OptimizerOp opt, DictionaryAttr group, Arith &a, Value p,
                Value g, Value lr, const std::string &prefix) {
    auto type = cast<RankedTensorType>(p.getType());
    double alpha = hyper(group, "alpha"), wd = hyper(group, "weight_decay");
    double momentum = hyper(group, "momentum");
    nextStep(opt, a, prefix);
    if (wd != 0)
      g = a.add(g, a.mul(a.scalar(wd), p));
    Value v = a.add(a.mul(a.scalar(alpha),
                          readState(opt, a, prefix + "square_avg", type, 0.0f)),
                    a.mul(a.scalar(1 - alpha), a.mul(g, g)));
    writeState(opt, a, prefix + "square_avg", v);
    Value avg;
    if (flag(group, "centered")) {
      Value c = a.add(a.mul(a.scalar(alpha),
                            readState(opt, a, prefix + "grad_avg", type, 0.0f)),
                      a.mul(a.scalar(1 - alpha), g));
      writeState(opt, a, prefix + "grad_avg", c);
      avg = a.sqrt(a.sub(v, a.mul(c, c)));
    } else {
      avg = a.sqrt(v);
    }
    avg = a.add(avg, a.scalar(hyper(group, "eps")));
    if (momentum > 0) {
      Value b = a.add(
          a.mul(a.scalar(momentum),
                readState(opt, a, prefix + "momentum_buffer", type, 0.0f)),
          a.div(g, avg));
      writeState(opt, a, prefix + "momentum_buffer", b);
      return a.sub(p, a.mul(lr, b));
    }
    return a.sub(p, a.mul(lr, a.div(g, avg)));
  }

  ModuleOp module;
};

class LowerOptimizersPass
    : public firn::impl::FirnLowerOptimizersBase<LowerOptimizersPass> {
public:
  void runOnOperation() override {
    if (failed(Lowering(getOperation()).run()))
      signalPassFailure();
  }
};

} // namespace
