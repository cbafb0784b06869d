//===- HalideLowering.cpp - firn functions as Halide pipelines ------------===//
//
// Walks one function (inlining the functions it calls) and keeps, for every
// SSA value, its Halide Func, and for every state symbol, its current
// value: an ImageParam the first time it is read, the written Func after a
// write. The pipeline's outputs are the results and the last write of each
// symbol. See HalideLowering.h.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

#include <map>

using namespace mlir;

namespace firn::codegen {
namespace {

Halide::Type halideType(RankedTensorType type) {
  return type.getElementType().isF32() ? Halide::Float(32) : Halide::Int(64);
}

class FunctionLowering {
public:
  FunctionLowering(func::FuncOp func, LoweredFunction &result)
      : module(func->getParentOfType<ModuleOp>()), result(result) {}

  LogicalResult run(func::FuncOp func) {
    // Arguments first, so that the batch size is known (from the first
    // argument with a dynamic first dimension) before any op needs it.
    std::vector<HTensor> args;
    for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
      auto type = cast<RankedTensorType>(arg.getType());
      args.push_back(input("arg" + std::to_string(i), "", type,
                           static_cast<int>(i)));
      // (A kernel of a partitioned function may get the batch only in a
      // temporary's later dimension: a transposed activation.)
      for (int d = 0; !batch.defined() && d < type.getRank(); ++d)
        if (type.isDynamicDim(d))
          batch = args.back().extents[d];
    }
    if (!batch.defined())
      batch = Halide::Expr(1); // No batch-dependent value in this function.
    auto seed = module->getAttrOfType<IntegerAttr>("firn.seed");
    ops.emplace(batch, seed ? static_cast<uint64_t>(seed.getInt()) : 0,
                !directConvolutions(module), result.rootFuncs, result.contractions,
                result.rowWidths);

    std::vector<HTensor> results;
    if (failed(body(func, args, results)))
      return failure();
    for (auto [i, value] : llvm::enumerate(results))
      output("result" + std::to_string(i), "", value,
             cast<RankedTensorType>(func.getResultTypes()[i]),
             static_cast<int>(i));
    writeStateOutputs();
    return success();
  }

private:
  /// Ports of state are named by their symbol; the others are the
  /// argument or result `index`.
  static Port port(const std::string &name, const std::string &symbol,
                   RankedTensorType type, int index, bool isResult) {
    Port p{name, symbol, type};
    p.kind = !symbol.empty() ? Port::Kind::State
             : isResult      ? Port::Kind::Result
                             : Port::Kind::Argument;
    p.index = index;
    return p;
  }

  HTensor input(const std::string &name, const std::string &symbol,
                RankedTensorType type, int index = 0) {
    Halide::ImageParam param(halideType(type),
                             static_cast<int>(type.getRank()), name);
    result.inputs.push_back(port(name, symbol, type, index, false));
    result.params.push_back(param);
    HTensor t;
    std::vector<Halide::Var> v = makeVars(type.getRank());
    t.func = Halide::Func("in_" + name);
    define(t.func, v, call(param, asExprs(v)));
    t.shape = shapeOf(type);
    t.type = halideType(type);
    t.stored = true;
    int rank = static_cast<int>(type.getRank());
    for (int i = 0; i < rank; ++i)
      t.extents.push_back(type.isDynamicDim(i)
                              ? param.dim(rank - 1 - i).extent()
                              : Halide::Expr(static_cast<int>(type.getDimSize(i))));
    return t;
  }

  /// Outputs are fresh Funcs: a pipeline's outputs must be distinct and
  /// cannot be its inputs.
  void output(const std::string &name, const std::string &symbol,
              const HTensor &value, RankedTensorType type, int index = 0) {
    // A matrix product whose tiles cover the output exactly (static rows,
    // a multiple of the row tile: a weight gradient) writes the output
    // buffer itself, without a copy.
    for (Contraction &c : result.contractions) {
      const int64_t *rows = Halide::Internal::as_const_int(c.rows);
      if (c.result.name() != value.func.name() || c.isOutput || !rows ||
          *rows % kContractionTileRows != 0)
        continue;
      c.isOutput = true;
      result.outputs.push_back(port(name, symbol, type, index, true));
      result.funcs.push_back(c.result);
      return;
    }
    // So does a Winograd convolution (its blocks cover the output).
    for (RootFunc &r : result.rootFuncs) {
      if (r.kind != RootFunc::Kind::Winograd || r.func.name() != value.func.name() ||
          r.winograd.isOutput)
        continue;
      r.winograd.isOutput = true;
      result.outputs.push_back(port(name, symbol, type, index, true));
      result.funcs.push_back(r.func);
      return;
    }
    std::vector<Halide::Var> v = makeVars(type.getRank());
    Halide::Func out("out_" + name);
    define(out, v, value.at(asExprs(v)));
    result.outputs.push_back(port(name, symbol, type, index, true));
    result.funcs.push_back(out);
    if (type.getRank() > 0 && !type.isDynamicDim(type.getRank() - 1))
      result.rowWidths[out.name()] = static_cast<int>(type.getDimSize(type.getRank() - 1));
  }

  /// State writes of the same shape become one Func with a Tuple value:
  /// one loop nest computes them all (a parameter, its moments and its
  /// step count are updated in one pass), and the compiled function still
  /// takes one buffer per written symbol, in port order.
  void writeStateOutputs() {
    std::vector<std::vector<std::string>> groups;
    for (const std::string &symbol : writeOrder) {
      auto same = llvm::find_if(groups, [&](const auto &group) {
        return stateTypes.at(group.front()).getShape() ==
               stateTypes.at(symbol).getShape();
      });
      if (same == groups.end())
        groups.push_back({symbol});
      else
        same->push_back(symbol);
    }
    for (const std::vector<std::string> &group : groups) {
      if (group.size() == 1) {
        output(identifierFor(group[0]), group[0], state.at(group[0]),
               stateTypes.at(group[0]));
        continue;
      }
      RankedTensorType type = stateTypes.at(group[0]);
      std::vector<Halide::Var> v = makeVars(type.getRank());
      std::vector<Halide::Expr> values;
      std::string name = "out";
      for (const std::string &symbol : group) {
        values.push_back(state.at(symbol).at(asExprs(v)));
        result.outputs.push_back(port(identifierFor(symbol), symbol,
                                      stateTypes.at(symbol), 0, true));
        name += "_" + identifierFor(symbol);
      }
      Halide::Func out(name);
      out(std::vector<Halide::Var>(v.rbegin(), v.rend())) = Halide::Tuple(values);
      result.funcs.push_back(out);
    }
  }

  HTensor read(StringRef symbol, RankedTensorType type) {
    auto it = state.find(symbol.str());
    if (it != state.end())
      return it->second;
    HTensor t = input(identifierFor(symbol), symbol.str(), type);
    state[symbol.str()] = t;
    stateTypes[symbol.str()] = type;
    return t;
  }

  void write(StringRef symbol, const HTensor &value, RankedTensorType type) {
    if (!state.count(symbol.str()) ||
        std::find(writeOrder.begin(), writeOrder.end(), symbol.str()) ==
            writeOrder.end())
      writeOrder.push_back(symbol.str());
    state[symbol.str()] = value;
    stateTypes[symbol.str()] = type;
  }

  LogicalResult body(func::FuncOp func, const std::vector<HTensor> &args,
                     std::vector<HTensor> &results) {
    llvm::DenseMap<Value, HTensor> values;
    for (auto [arg, t] : llvm::zip(func.getArguments(), args))
      values[arg] = t;
    for (Operation &op : func.getBody().front()) {
      std::vector<HTensor> operands;
      for (Value operand : op.getOperands())
        operands.push_back(values.lookup(operand));
      std::vector<HTensor> out;
      if (isa<func::ReturnOp>(op)) {
        results = operands;
        return success();
      }
      if (auto readParam = dyn_cast<ReadParamOp>(op)) {
        out.push_back(read(readParam.getParam(), readParam.getType()));
      } else if (auto readBuffer = dyn_cast<ReadBufferOp>(op)) {
        out.push_back(read(readBuffer.getBuffer(), readBuffer.getType()));
      } else if (auto writeParam = dyn_cast<WriteParamOp>(op)) {
        write(writeParam.getParam(), operands[0],
              cast<RankedTensorType>(writeParam.getValue().getType()));
      } else if (auto writeBuffer = dyn_cast<WriteBufferOp>(op)) {
        write(writeBuffer.getBuffer(), operands[0],
              cast<RankedTensorType>(writeBuffer.getValue().getType()));
      } else if (auto counter = dyn_cast<AdvanceCounterOp>(op)) {
        HTensor old = read(counter.getCounter(), counter.getType());
        HTensor next;
        next.func = Halide::Func("counter_next");
        next.func() = old.func() + Halide::cast<int64_t>(1);
        next.type = old.type;
        write(counter.getCounter(), next, counter.getType());
        out.push_back(old);
      } else if (auto call = dyn_cast<func::CallOp>(op)) {
        auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
            call, call.getCalleeAttr());
        if (!callee)
          return call.emitOpError("calls an unknown function");
        if (failed(body(callee, operands, out)))
          return failure();
      } else if (failed(ops->lower(&op, operands, out))) {
        return failure();
      }
      for (auto [value, t] : llvm::zip(op.getResults(), out))
        values[value] = t;
    }
    return func.emitOpError("has no return");
  }

  ModuleOp module;
  LoweredFunction &result;
  Halide::Expr batch;
  std::optional<OpLowering> ops;
  std::map<std::string, HTensor> state;
  std::map<std::string, RankedTensorType> stateTypes;
  std::vector<std::string> writeOrder;
};

} // namespace

std::string identifierFor(StringRef name) {
  std::string out;
  for (char ch : name)
    out += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return out;
}

Halide::Pipeline LoweredFunction::pipeline() const {
  Halide::Pipeline pipeline(funcs);
  dropContractChecks(pipeline);
  return pipeline;
}

FailureOr<LoweredFunction> lowerFunction(func::FuncOp func) {
  LoweredFunction result;
  result.name = func.getSymName().str();
  try {
    FunctionLowering lowering(func, result);
    if (failed(lowering.run(func)))
      return failure();
    constrainToDenseBuffers(result);
  } catch (const Halide::Error &error) {
    return func.emitError() << "Halide rejected the lowered pipeline: "
                            << error.what();
  }
  return result;
}

} // namespace firn::codegen
