//===- Evaluator.cpp - Reference evaluator for firn IR --------------------===//
//
// The driver of the reference evaluator: the program state, calling
// functions (func.func, func.call, func.return) and mapping each firn op with
// its attributes onto a kernel from Kernels.h. It walks a function's single
// block op by op, keeping every SSA value as a double-precision Tensor, and
// checks each result against its op's result type, so that a kernel bug or
// an IR/type disagreement shows up at the op that caused it.
//
// Bad input (an unknown function, an unsupported op, a state symbol without a
// value, an argument that does not fit, a class index out of range) is
// reported as a message prefixed with the op's location; nothing asserts.
//
//===----------------------------------------------------------------------===//
#include "firn/Reference/Evaluator.h"

#include "Kernels.h"

#include <cmath>

#include "firn/Dialect/FirnOps.h"
#include "firn/Dialect/MathScalar.h"
#include "firn/Runtime/Random.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>

using namespace mlir;

namespace firn::reference {
namespace {

/// Deeper func.call chains than this are reported instead of overflowing the
/// stack (firn functions do not recurse; a module that does is a bug).
constexpr unsigned kMaxCallDepth = 64;

/// The values of one function activation.
using Frame = llvm::DenseMap<Value, Tensor>;

//===----------------------------------------------------------------------===//
// Messages
//===----------------------------------------------------------------------===//

/// "file:line:col: " for the op's location, or "" when it has none.
std::string locationPrefix(Operation *op) {
  auto loc = op->getLoc()->findInstanceOf<FileLineColLoc>();
  if (!loc)
    return "";
  return (loc.getFilename().getValue() + ":" + llvm::Twine(loc.getLine()) +
          ":" + llvm::Twine(loc.getColumn()) + ": ")
      .str();
}

/// "file:line:col: firn.add: message".
std::string opError(Operation *op, const std::string &message) {
  return locationPrefix(op) + op->getName().getStringRef().str() + ": " +
         message;
}

std::string typeStr(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return text;
}

//===----------------------------------------------------------------------===//
// Types and attributes
//===----------------------------------------------------------------------===//

bool isIntegerType(RankedTensorType type) {
  return isa<IntegerType>(type.getElementType());
}

/// Whether a tensor fits a type: same element kind and rank, and the same
/// size in every static dimension (a dynamic one takes any size).
bool fits(const Tensor &tensor, RankedTensorType type) {
  if (tensor.isInteger != isIntegerType(type) ||
      static_cast<int64_t>(tensor.shape.size()) != type.getRank())
    return false;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (!type.isDynamicDim(d) && type.getDimSize(d) != tensor.shape[d])
      return false;
  return true;
}

std::string misfit(const Tensor &tensor, Type type) {
  return std::string(tensor.isInteger ? "an integer" : "a float") +
         " tensor of shape " + shapeStr(tensor.shape) + " does not fit " +
         typeStr(type);
}

/// The shape of a type whose dynamic (batch) dimension has size `batch`.
Shape resolve(RankedTensorType type, int64_t batch) {
  Shape shape(type.getShape().begin(), type.getShape().end());
  for (int64_t &size : shape)
    if (ShapedType::isDynamic(size))
      size = batch;
  return shape;
}

/// A tensor from a constant's value: f32 (or f64) or i64, splat or full.
std::optional<Tensor> tensorFromAttr(ElementsAttr attr, std::string &error) {
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense) {
    error = "only dense elements attributes are supported";
    return std::nullopt;
  }
  Tensor tensor;
  ShapedType type = dense.getType();
  tensor.shape.assign(type.getShape().begin(), type.getShape().end());
  if (isa<FloatType>(type.getElementType())) {
    // f32 values widen exactly, so the oracle starts from the very numbers
    // the compiled code (and PyTorch) hold.
    for (const APFloat &value : dense.getValues<APFloat>())
      tensor.data.push_back(value.convertToDouble());
  } else if (isa<IntegerType>(type.getElementType())) {
    tensor.isInteger = true;
    for (const APInt &value : dense.getValues<APInt>())
      tensor.data.push_back(static_cast<double>(value.getSExtValue()));
  } else {
    error = "unsupported element type " + typeStr(type.getElementType());
    return std::nullopt;
  }
  return tensor;
}

/// max_pool2d's attributes (the verifier checked that each has 2 entries).
PoolGeometry poolGeometry(ArrayRef<int64_t> kernel, ArrayRef<int64_t> stride,
                          ArrayRef<int64_t> padding) {
  PoolGeometry g;
  g.kernel = {kernel[0], kernel[1]};
  g.stride = {stride[0], stride[1]};
  g.padding = {padding[0], padding[1]};
  return g;
}

Conv2dGeometry geometryOf(ArrayRef<int64_t> stride, ArrayRef<int64_t> padding,
                          ArrayRef<int64_t> dilation, std::string &error) {
  Conv2dGeometry geometry;
  if (stride.size() != 2 || padding.size() != 4 || dilation.size() != 2) {
    error = "stride, padding and dilation must have 2, 4 and 2 entries";
    return geometry;
  }
  llvm::copy(stride, geometry.stride.begin());
  llvm::copy(padding, geometry.padding.begin());
  llvm::copy(dilation, geometry.dilation.begin());
  return geometry;
}

//===----------------------------------------------------------------------===//
// Ops with one result
//===----------------------------------------------------------------------===//

/// firn.compare's predicate on two doubles (NaN: false but for `ne`).
bool (*holds(ComparisonPredicate predicate))(double, double) {
  switch (predicate) {
  case ComparisonPredicate::LT:
    return [](double a, double b) { return a < b; };
  case ComparisonPredicate::LE:
    return [](double a, double b) { return a <= b; };
  case ComparisonPredicate::GT:
    return [](double a, double b) { return a > b; };
  case ComparisonPredicate::GE:
    return [](double a, double b) { return a >= b; };
  case ComparisonPredicate::EQ:
    return [](double a, double b) { return a == b; };
  case ComparisonPredicate::NE:
    return [](double a, double b) { return a != b; };
  }
  llvm_unreachable("unknown comparison");
}

/// Computes the single result of a pure op from its operands' values.
class OpKernels {
public:
  explicit OpKernels(const Frame &frame) : frame(frame) {}

  Result run(Operation *op) {
    return llvm::TypeSwitch<Operation *, Result>(op)
        .Case<ConstantOp>([&](ConstantOp c) { return constant(c); })
        .Case<NegOp>([&](NegOp o) { return neg(in(o.getInput())); })
        .Case<FIRN_MATH_OPS>([&](auto o) {
          using OpT = decltype(o);
          return mapElements(in(o.getInput()),
                             [](double x) { return OpT::apply(x); });
        })
        .Case<ReluOp>([&](ReluOp o) { return relu(in(o.getInput())); })
        .Case<ReluGradOp>([&](ReluGradOp o) {
          return reluGrad(in(o.getGrad()), in(o.getInput()));
        })
        .Case<AddOp>([&](AddOp o) { return add(lhs(o), rhs(o)); })
        .Case<SubOp>([&](SubOp o) { return sub(lhs(o), rhs(o)); })
        .Case<MulOp>([&](MulOp o) { return mul(lhs(o), rhs(o)); })
        .Case<DivOp>([&](DivOp o) { return div(lhs(o), rhs(o)); })
        .Case<MaxOp>([&](MaxOp o) { return maximum(lhs(o), rhs(o)); })
        .Case<PowOp>([&](PowOp o) { return pow(lhs(o), rhs(o)); })
        .Case<CompareOp>([&](CompareOp o) {
          return compare(lhs(o), rhs(o), holds(o.getPredicate()));
        })
        .Case<SelectOp>([&](SelectOp o) {
          return select(in(o.getCondition()), in(o.getLhs()), in(o.getRhs()));
        })
        .Case<LinearOp>([&](LinearOp o) {
          return linear(in(o.getInput()), in(o.getWeight()),
                        optional(o.getBias()));
        })
        .Case<Conv2dOp, Conv2dGradInputOp, Conv2dGradWeightOp>(
            [&](auto o) { return convolution(o); })
        .Case<MaxPool2dOp>([&](MaxPool2dOp o) {
          return maxPool2d(in(o.getInput()),
                           poolGeometry(o.getKernel(), o.getStride(), o.getPadding()));
        })
        .Case<LinearWeightGradOp>([&](LinearWeightGradOp o) {
          return linearWeightGrad(in(o.getGradOutput()), in(o.getInput()));
        })
        .Case<AvgPool2dOp>([&](AvgPool2dOp o) {
          return avgPool2d(in(o.getInput()),
                           poolGeometry(o.getKernel(), o.getStride(), o.getPadding()),
                           o.getCountIncludePad());
        })
        .Case<AvgPool2dGradOp>([&](AvgPool2dGradOp o) {
          const Tensor &dy = in(o.getGradOutput());
          return avgPool2dGrad(
              dy, resolve(o.getType(), batchOf(dy)),
              poolGeometry(o.getKernel(), o.getStride(), o.getPadding()),
              o.getCountIncludePad());
        })
        .Case<MaxPool2dGradOp>([&](MaxPool2dGradOp o) {
          return maxPool2dGrad(
              in(o.getGradOutput()), in(o.getInput()),
              poolGeometry(o.getKernel(), o.getStride(), o.getPadding()));
        })
        .Case<AttentionOp>([&](AttentionOp o) {
          return attention(in(o.getQuery()), in(o.getKey()), in(o.getValue()),
                           o.getScale().convertToDouble(), o.getCausal());
        })
        .Case<MatmulOp>([&](MatmulOp o) {
          return matmul(lhs(o), rhs(o), o.getTransposeLhs(),
                        o.getTransposeRhs());
        })
        .Case<TransposeOp>([&](TransposeOp o) {
          return transpose(in(o.getInput()), o.getPerm());
        })
        .Case<SliceOp>([&](SliceOp o) {
          return slice(in(o.getInput()), static_cast<int64_t>(o.getAxis()),
                       static_cast<int64_t>(o.getStart()),
                       o.getType().getDimSize(o.getAxis()));
        })
        .Case<SliceGradOp>([&](SliceGradOp o) {
          const Tensor &dy = in(o.getGradOutput());
          return sliceGrad(dy, resolve(o.getType(), batchOf(dy)),
                           static_cast<int64_t>(o.getAxis()),
                           static_cast<int64_t>(o.getStart()));
        })
        .Case<ConcatOp>([&](ConcatOp o) {
          std::vector<const Tensor *> parts;
          for (Value v : o.getInputs())
            parts.push_back(&in(v));
          return concat(parts, static_cast<int64_t>(o.getAxis()));
        })
        .Case<ReshapeOp>([&](ReshapeOp o) {
          // The result type fixes every size but the batch, which the input
          // carries in its first dimension.
          const Tensor &x = in(o.getInput());
          return reshape(x, resolve(o.getType(), batchOf(x)));
        })
        .Case<ReduceSumOp>([&](ReduceSumOp o) {
          return reduceSum(in(o.getInput()), o.getAxes(), o.getKeepdims());
        })
        .Case<ReduceMeanOp>([&](ReduceMeanOp o) {
          return reduceMean(in(o.getInput()), o.getAxes(), o.getKeepdims());
        })
        .Case<ReduceMaxOp>([&](ReduceMaxOp o) {
          return reduceMax(in(o.getInput()), o.getAxes(), o.getKeepdims());
        })
        .Case<NumelOp>([&](NumelOp o) {
          return numel(in(o.getInput()), o.getAxes());
        })
        .Case<BiasCorrectionOp>([&](BiasCorrectionOp o) {
          Tensor step = in(o.getStep());
          step.data[0] =
              1.0 - std::pow(o.getBeta().convertToDouble(), step.data[0]);
          return Result(step);
        })
        .Case<CrossReplicaSumOp>([&](CrossReplicaSumOp o) {
          return Result(in(o.getInput())); // One process: the sum is itself.
        })
        .Case<BroadcastLikeOp>([&](BroadcastLikeOp o) {
          return broadcastTo(in(o.getInput()), in(o.getLike()).shape);
        })
        .Case<SoftmaxOp>([&](SoftmaxOp o) {
          return softmax(in(o.getInput()), static_cast<int64_t>(o.getAxis()));
        })
        .Case<LogSoftmaxOp>([&](LogSoftmaxOp o) {
          return logSoftmax(in(o.getInput()),
                            static_cast<int64_t>(o.getAxis()));
        })
        .Case<OneHotOp>([&](OneHotOp o) {
          return oneHot(in(o.getIndices()), o.getType().getDimSize(1));
        })
        .Case<EmbeddingOp>([&](EmbeddingOp o) {
          return embedding(in(o.getWeight()), in(o.getIndices()));
        })
        .Case<EmbeddingGradOp>([&](EmbeddingGradOp o) {
          auto padding = o.getPaddingIdx();
          return embeddingGrad(in(o.getGradOutput()), in(o.getIndices()),
                               o.getType().getDimSize(0),
                               padding ? static_cast<int64_t>(*padding) : -1);
        })
        .Default([&](Operation *) {
          return Result::fail("not supported by the reference evaluator");
        });
  }

private:
  const Tensor &in(Value value) const { return frame.find(value)->second; }
  const Tensor *optional(Value value) const {
    return value ? &in(value) : nullptr;
  }
  template <typename OpT> const Tensor &lhs(OpT op) const {
    return in(op.getLhs());
  }
  template <typename OpT> const Tensor &rhs(OpT op) const {
    return in(op.getRhs());
  }
  static int64_t batchOf(const Tensor &x) {
    return x.shape.empty() ? 1 : x.shape[0];
  }

  Result constant(ConstantOp op) {
    std::string error;
    std::optional<Tensor> value = tensorFromAttr(op.getValue(), error);
    return value ? Result(std::move(*value)) : Result::fail(error);
  }

  Result convolution(Conv2dOp op) {
    std::string error;
    Conv2dGeometry g = geometryOf(op.getStride(), op.getPadding(),
                                  op.getDilation(), error);
    if (!error.empty())
      return Result::fail(error);
    return conv2d(in(op.getInput()), in(op.getWeight()),
                  optional(op.getBias()), g);
  }

  Result convolution(Conv2dGradInputOp op) {
    std::string error;
    Conv2dGeometry g = geometryOf(op.getStride(), op.getPadding(),
                                  op.getDilation(), error);
    if (!error.empty())
      return Result::fail(error);
    // Stride leaves the input size ambiguous, so the result type gives it;
    // the batch comes from the gradient.
    const Tensor &dy = in(op.getGradOutput());
    return conv2dGradInput(dy, in(op.getWeight()), g,
                           resolve(op.getType(), batchOf(dy)));
  }

  Result convolution(Conv2dGradWeightOp op) {
    std::string error;
    Conv2dGeometry g = geometryOf(op.getStride(), op.getPadding(),
                                  op.getDilation(), error);
    if (!error.empty())
      return Result::fail(error);
    // The kernel size is not recoverable from the shapes either.
    return conv2dGradWeight(in(op.getInput()), in(op.getGradOutput()), g,
                            resolve(op.getType(), 1));
  }

  const Frame &frame;
};

//===----------------------------------------------------------------------===//
// Running one op
//===----------------------------------------------------------------------===//

/// Binds `value` to the op's result `index` after checking it against the
/// result type.
LogicalResult bindResult(Operation *op, unsigned index, Tensor value,
                         Frame &frame, std::string &error) {
  auto type = cast<RankedTensorType>(op->getResult(index).getType());
  if (!fits(value, type)) {
    error = opError(op, "result " + std::to_string(index) + ": " +
                            misfit(value, type));
    return failure();
  }
  frame[op->getResult(index)] = std::move(value);
  return success();
}

/// read_param/read_buffer: the state's current value, which must exist and
/// fit the op's type.
LogicalResult readState(Operation *op, StringRef symbol, const char *kind,
                        const std::map<std::string, Tensor> &state,
                        Frame &frame, std::string &error) {
  auto it = state.find(symbol.str());
  if (it == state.end()) {
    error = opError(op, std::string(kind) + " @" + symbol.str() +
                            " has no value (init uniform or load: set it "
                            "with setState first)");
    return failure();
  }
  return bindResult(op, 0, it->second, frame, error);
}

LogicalResult runBatchNorm(BatchNormOp op, Frame &frame, std::string &error) {
  auto optional = [&](Value value) -> const Tensor * {
    return value ? &frame.find(value)->second : nullptr;
  };
  // momentum=None: the cumulative average, 1 / num_batches_tracked after
  // this batch (training only, where the verifier asks for the count; eval
  // mode never moves the statistics, whatever the momentum).
  double momentum = 0.0;
  if (op.getMomentum())
    momentum = op.getMomentum()->convertToDouble();
  else if (op.getCount())
    momentum = 1.0 / (optional(op.getCount())->data.at(0) + 1);
  BatchNormResult out = batchNorm(
      frame.find(op.getInput())->second, optional(op.getWeight()),
      optional(op.getBias()), frame.find(op.getRunningMean())->second,
      frame.find(op.getRunningVar())->second, op.getEps().convertToDouble(),
      momentum, op.getTraining());
  if (!out.ok()) {
    error = opError(op, out.error);
    return failure();
  }
  if (failed(bindResult(op, 0, std::move(out.result), frame, error)) ||
      failed(bindResult(op, 1, std::move(out.runningMean), frame, error)) ||
      failed(bindResult(op, 2, std::move(out.runningVar), frame, error)) ||
      failed(bindResult(op, 3, std::move(out.mean), frame, error)))
    return failure();
  return bindResult(op, 4, std::move(out.var), frame, error);
}

/// Eval mode: the identity. Training: firn's counter-based mask
/// (firn/Runtime/Random.h), the same function the compiled kernels use.
LogicalResult runDropout(DropoutOp op, Frame &frame, std::string &error) {
  Tensor out = frame[op.getInput()];
  if (op.getTraining()) {
    auto module = op->getParentOfType<ModuleOp>();
    auto seedAttr =
        module ? module->getAttrOfType<IntegerAttr>("firn.seed") : nullptr;
    uint64_t seed = seedAttr ? static_cast<uint64_t>(seedAttr.getInt()) : 0;
    uint64_t key = static_cast<uint64_t>(frame[op.getKey()].data.at(0));
    auto stream = static_cast<uint32_t>(op.getStream());
    auto p = static_cast<float>(op.getP().convertToDouble());
    for (size_t i = 0; i < out.data.size(); ++i)
      out.data[i] *= random::dropoutScale(seed, key, stream,
                                          static_cast<uint32_t>(i), p);
  }
  return bindResult(op, 0, std::move(out), frame, error);
}

/// Runs every op except func.call and func.return, which need the module.
LogicalResult runOp(Operation *op, std::map<std::string, Tensor> &state,
                    Frame &frame, std::string &error) {
  for (Value operand : op->getOperands())
    if (!frame.count(operand)) {
      error = opError(op, "an operand has no value (not in this block?)");
      return failure();
    }

  if (auto read = dyn_cast<ReadParamOp>(op))
    return readState(op, read.getParam(), "parameter", state, frame, error);
  if (auto read = dyn_cast<ReadBufferOp>(op))
    return readState(op, read.getBuffer(), "buffer", state, frame, error);
  if (auto write = dyn_cast<WriteParamOp>(op)) {
    state[write.getParam().str()] = frame[write.getValue()];
    return success();
  }
  if (auto write = dyn_cast<WriteBufferOp>(op)) {
    state[write.getBuffer().str()] = frame[write.getValue()];
    return success();
  }
  if (auto counter = dyn_cast<AdvanceCounterOp>(op)) {
    auto it = state.find(counter.getCounter().str());
    if (it == state.end() || it->second.data.size() != 1) {
      error = opError(op, "counter @" + counter.getCounter().str() +
                              " has no value");
      return failure();
    }
    Tensor old = it->second;
    it->second.data[0] += 1;
    return bindResult(op, 0, std::move(old), frame, error);
  }
  if (auto dropout = dyn_cast<DropoutOp>(op))
    return runDropout(dropout, frame, error);
  if (auto batchNorm = dyn_cast<BatchNormOp>(op))
    return runBatchNorm(batchNorm, frame, error);

  if (op->getNumResults() != 1) {
    error = opError(op, "not supported by the reference evaluator");
    return failure();
  }
  Result result = OpKernels(frame).run(op);
  if (!result.ok()) {
    error = opError(op, result.error);
    return failure();
  }
  return bindResult(op, 0, std::move(result.value), frame, error);
}

/// Checks the arguments of a call against the function type: each must fit
/// its type, and all batch (dynamic) dimensions must agree, since they are
/// the one batch size N.
LogicalResult checkArguments(func::FuncOp func, ArrayRef<Tensor> args,
                             std::string &error) {
  std::string prefix = locationPrefix(func) + "@" + func.getSymName().str();
  FunctionType type = func.getFunctionType();
  if (args.size() != type.getNumInputs()) {
    error = prefix + ": expects " + std::to_string(type.getNumInputs()) +
            " arguments, got " + std::to_string(args.size());
    return failure();
  }
  std::optional<int64_t> batch;
  for (unsigned i = 0; i < args.size(); ++i) {
    auto argType = dyn_cast<RankedTensorType>(type.getInput(i));
    if (!argType || !fits(args[i], argType)) {
      error = prefix + ": argument " + std::to_string(i) + ": " +
              misfit(args[i], type.getInput(i));
      return failure();
    }
    if (argType.getRank() > 0 && argType.isDynamicDim(0)) {
      if (batch && *batch != args[i].shape[0]) {
        error = prefix + ": argument " + std::to_string(i) +
                " has batch size " + std::to_string(args[i].shape[0]) +
                " but an earlier argument has " + std::to_string(*batch);
        return failure();
      }
      batch = args[i].shape[0];
    }
  }
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Evaluator
//===----------------------------------------------------------------------===//

Evaluator::Evaluator(ModuleOp module) : module(module) {}

LogicalResult Evaluator::initialize(std::string &error) {
  // A module that does not verify would send the kernels shapes they do not
  // expect; report the verifier's first message instead.
  {
    std::string firstDiagnostic;
    ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
      if (firstDiagnostic.empty() && d.getSeverity() == DiagnosticSeverity::Error)
        firstDiagnostic = d.str();
      return success();
    });
    if (failed(verify(module))) {
      error = "the module does not verify: " + firstDiagnostic;
      return failure();
    }
  }

  state.clear();
  for (Operation &op : module.getBody()->getOperations()) {
    std::string symbol;
    ElementsAttr value;
    if (auto param = dyn_cast<ParamOp>(op)) {
      // uniform and load values come from the caller (setState).
      if (param.getInit() != InitKind::Constant)
        continue;
      symbol = param.getSymName().str();
      value = param.getValueAttr();
    } else if (auto buffer = dyn_cast<BufferOp>(op)) {
      symbol = buffer.getSymName().str();
      value = buffer.getValueAttr();
    } else {
      continue;
    }
    if (!value) {
      error = opError(&op, "@" + symbol + " has no initial value");
      return failure();
    }
    std::string attrError;
    std::optional<Tensor> tensor = tensorFromAttr(value, attrError);
    if (!tensor) {
      error = opError(&op, attrError);
      return failure();
    }
    state[symbol] = std::move(*tensor);
  }
  return success();
}

void Evaluator::setState(const std::string &symbol, Tensor value) {
  state[symbol] = std::move(value);
}

const Tensor *Evaluator::getState(const std::string &symbol) const {
  auto it = state.find(symbol);
  return it == state.end() ? nullptr : &it->second;
}

std::vector<std::string> Evaluator::stateNames() const {
  std::vector<std::string> names;
  for (const auto &entry : state)
    names.push_back(entry.first);
  return names;
}

LogicalResult Evaluator::call(StringRef name, ArrayRef<Tensor> args,
                              std::vector<Tensor> &results,
                              std::string &error) {
  auto func = module.lookupSymbol<func::FuncOp>(name);
  if (!func) {
    error = "no function @" + name.str() + " in the module";
    return failure();
  }
  return callFunction(func, args, results, error, /*depth=*/0);
}

LogicalResult Evaluator::callFunction(func::FuncOp func, ArrayRef<Tensor> args,
                                      std::vector<Tensor> &results,
                                      std::string &error, unsigned depth) {
  std::string name = "@" + func.getSymName().str();
  if (depth > kMaxCallDepth) {
    error = locationPrefix(func) + name + ": calls nest deeper than " +
            std::to_string(kMaxCallDepth) + " (recursion?)";
    return failure();
  }
  if (func.isExternal() || !func.getBody().hasOneBlock()) {
    error = locationPrefix(func) + name +
            ": only functions with one block are supported";
    return failure();
  }
  if (failed(checkArguments(func, args, error)))
    return failure();

  Block &body = func.getBody().front();
  Frame frame;
  for (auto [arg, value] : llvm::zip(body.getArguments(), args))
    frame[arg] = value;

  for (Operation &op : body) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      results.clear();
      for (Value operand : ret.getOperands())
        results.push_back(frame[operand]);
      return success();
    }
    if (auto callOp = dyn_cast<func::CallOp>(op)) {
      auto callee = module.lookupSymbol<func::FuncOp>(callOp.getCallee());
      if (!callee) {
        error = opError(&op, "no function @" + callOp.getCallee().str());
        return failure();
      }
      std::vector<Tensor> callArgs, callResults;
      for (Value operand : callOp.getOperands())
        callArgs.push_back(frame[operand]);
      if (failed(callFunction(callee, callArgs, callResults, error, depth + 1)))
        return failure();
      for (unsigned i = 0; i < callResults.size(); ++i)
        if (failed(bindResult(&op, i, std::move(callResults[i]), frame, error)))
          return failure();
      continue;
    }
    if (failed(runOp(&op, state, frame, error)))
      return failure();
  }
  error = locationPrefix(func) + name + ": has no func.return";
  return failure();
}

} // namespace firn::reference
