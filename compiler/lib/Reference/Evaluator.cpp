//===- Evaluator.cpp - Reference evaluator for firn IR --------------------===//
//
// The driver of the reference evaluator: the program state (parameters,
// buffers, counters), constants, and calling functions (func.func,
// func.call, func.return); every other firn op runs the kernel its family
// registered in the kernel table (KernelTable.h). It walks a function's single
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

#include "KernelTable.h"

#include "firn/Dialect/FirnDialect.h"
#include "firn/Dialect/FirnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

#include "llvm/Support/raw_ostream.h"

#include <optional>

using namespace mlir;

namespace firn::reference {
namespace {

/// Deeper func.call chains than this are reported instead of overflowing the
/// stack (firn functions do not recurse; a module that does is a bug).
constexpr unsigned kMaxCallDepth = 64;

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
  if (auto constant = dyn_cast<ConstantOp>(op)) {
    std::string attrError;
    std::optional<Tensor> value = tensorFromAttr(constant.getValue(), attrError);
    if (!value) {
      error = opError(op, attrError);
      return failure();
    }
    return bindResult(op, 0, std::move(*value), frame, error);
  }

  const OpKernel *kernel = kernelTable().find(op);
  if (!kernel) {
    bool firnOp = op->getDialect() && isa<FirnDialect>(op->getDialect());
    error = opError(op, firnOp ? "has no reference kernel (its family "
                                 "registers its kernels in the kernel table: "
                                 "KernelTable.h)"
                               : "not supported by the reference evaluator");
    return failure();
  }
  Results results = (*kernel)(op, In(frame));
  if (!results.ok()) {
    error = opError(op, results.error);
    return failure();
  }
  if (results.values.size() != op->getNumResults()) {
    error = opError(op, "the kernel gives " +
                            std::to_string(results.values.size()) +
                            " results for the op's " +
                            std::to_string(op->getNumResults()));
    return failure();
  }
  for (auto [index, value] : llvm::enumerate(results.values))
    if (failed(bindResult(op, index, std::move(value), frame, error)))
      return failure();
  return success();
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
