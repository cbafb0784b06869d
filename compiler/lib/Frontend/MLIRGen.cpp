//===- MLIRGen.cpp - From a checked program to firn IR --------------------===//
//
// A straight translation: semantic analysis has already checked every shape
// and name, so nothing here can fail on user input. The forward body is
// emitted twice, once per mode: `@predict` in eval mode (Dropout off,
// BatchNorm on running statistics) and `@train_step` in the train block's
// mode, where BatchNorm also writes its updated running statistics back.
//
//===----------------------------------------------------------------------===//
#include "firn/Frontend/MLIRGen.h"
#include "ElementwiseFunctions.h"
#include "Layers/Attention.h"
#include "Layers/LayerKind.h"

#include "firn/Dialect/FirnOps.h"
#include "firn/Frontend/Program.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <limits>
#include <numeric>
#include <map>

using namespace mlir;

namespace firn {
namespace {

/// A loss's reduction= ('none' and kl_div's 'batchmean' are flags beside it).
enum class Reduction { Mean, Sum };

class Generator : public LayerEmitter {
public:
  Generator(MLIRContext &context, const Program &program)
      : builder(&context), program(program) {}

  OwningOpRef<ModuleOp> run() {
    module = ModuleOp::create(locOf(program.modelLoc));
    builder.setInsertionPointToEnd(module->getBody());
    setModuleAttributes();
    for (const Optimizer &opt : program.optimizers)
      emitOptimizer(opt);
    for (const Parameter &param : program.params)
      emitParam(param);
    for (const Buffer &buffer : program.buffers)
      emitBuffer(buffer);
    for (const Clip &clip : program.clips)
      emitClip(clip);
    for (const Schedule &schedule : program.schedules)
      emitSchedule(schedule);
    emitPredict();
    if (program.hasTrain) {
      emitTrainStep();
      emitEvalLoss();
    }
    return std::move(module);
  }

private:
  Location locOf(SourceLocation loc) {
    return FileLineColLoc::get(builder.getStringAttr(program.filename),
                               loc.line, loc.column);
  }

  RankedTensorType typeOf(const ValueType &type) {
    // A mask (a comparison's bool) is an f32 tensor of 0 and 1 in the IR.
    Type element = type.dtype == ast::DType::I64
                       ? Type(builder.getIntegerType(64))
                       : Type(builder.getF32Type());
    return tensorTypeOf(type.shape, element);
  }

  void setModuleAttributes() {
    auto set = [&](StringRef name, Attribute value) {
      (*module)->setAttr(name, value);
    };
    set("firn.model", builder.getStringAttr(program.modelName));
    set("firn.seed", builder.getI64IntegerAttr(program.seed));
    if (program.hasTrain) {
      set("firn.accumulate", builder.getI64IntegerAttr(program.accumulate));
      set("firn.zero_grad", builder.getStringAttr(program.zeroGrad));
      // The target value the loss ignores: the data may hold it.
      if (program.targetIgnoreIndex)
        set("firn.ignore_index", builder.getI64IntegerAttr(*program.targetIgnoreIndex));
    }
  }

  //===--------------------------------------------------------------------===//
  // State and training setup
  //===--------------------------------------------------------------------===//

  Attribute hyperAttr(const HyperValue &value) {
    if (auto *f = std::get_if<double>(&value))
      return builder.getF64FloatAttr(*f);
    if (auto *b = std::get_if<bool>(&value))
      return builder.getBoolAttr(*b);
    auto pair = std::get<std::pair<double, double>>(value);
    return builder.getArrayAttr({builder.getF64FloatAttr(pair.first),
                                 builder.getF64FloatAttr(pair.second)});
  }

  void emitOptimizer(const Optimizer &opt) {
    SmallVector<Attribute> groups;
    for (const HyperParams &group : opt.groups) {
      SmallVector<NamedAttribute> entries;
      for (const auto &[name, value] : group)
        entries.push_back(builder.getNamedAttr(name, hyperAttr(value)));
      groups.push_back(builder.getDictionaryAttr(entries));
    }
    auto kind = symbolizeOptimizerKind(opt.kind);
    builder.create<OptimizerOp>(locOf(opt.loc),
                                builder.getStringAttr(opt.name),
                                OptimizerKindAttr::get(builder.getContext(),
                                                       *kind),
                                builder.getArrayAttr(groups));
  }

  void emitParam(const Parameter &param) {
    MLIRContext *ctx = builder.getContext();
    RankedTensorType type = f32Tensor(param.shape);
    FlatSymbolRefAttr owner;
    IntegerAttr group;
    if (param.optimizer) {
      owner = FlatSymbolRefAttr::get(
          ctx, program.optimizers[*param.optimizer].name);
      group = builder.getI64IntegerAttr(static_cast<int64_t>(*param.group));
    }
    FloatAttr bound;
    IntegerAttr zeroRow;
    ElementsAttr value;
    InitKind init = InitKind::Load;
    switch (param.init) {
    case ParamInit::Uniform:
      init = ::firn::InitKind::Uniform;
      bound = builder.getF64FloatAttr(param.bound);
      break;
    case ParamInit::Normal:
      init = ::firn::InitKind::Normal;
      bound = builder.getF64FloatAttr(param.bound);
      if (param.zeroRow)
        zeroRow = builder.getI64IntegerAttr(*param.zeroRow);
      break;
    case ParamInit::Constant: {
      init = ::firn::InitKind::Constant;
      SmallVector<float> values(param.values.begin(), param.values.end());
      value = DenseElementsAttr::get(type, ArrayRef<float>(values));
      break;
    }
    case ParamInit::Load:
      break;
    }
    const Layer &layer = program.layers[param.layer];
    builder.create<ParamOp>(
        locOf(layer.loc), builder.getStringAttr(param.name),
        TypeAttr::get(type),
        TrainabilityAttr::get(ctx, param.trainable ? Trainability::Trainable
                                                   : Trainability::Frozen),
        owner, group, InitKindAttr::get(ctx, init), bound, zeroRow, value);
  }

  void emitBuffer(const Buffer &buffer) {
    Location loc = locOf(program.layers[buffer.layer].loc);
    if (buffer.counter) {
      auto type = RankedTensorType::get({}, builder.getIntegerType(64));
      builder.create<BufferOp>(
          loc, builder.getStringAttr(buffer.name), TypeAttr::get(type),
          DenseElementsAttr::get(
              type, static_cast<int64_t>(buffer.initialValue)));
      return;
    }
    RankedTensorType type = f32Tensor(buffer.shape);
    float value = static_cast<float>(buffer.initialValue);
    builder.create<BufferOp>(loc, builder.getStringAttr(buffer.name),
                             TypeAttr::get(type),
                             DenseElementsAttr::get(type, ArrayRef<float>(value)));
  }

  void emitClip(const Clip &clip) {
    FlatSymbolRefAttr optimizer;
    if (!clip.optimizer.empty())
      optimizer = FlatSymbolRefAttr::get(builder.getContext(), clip.optimizer);
    if (clip.byNorm)
      builder.create<ClipGradNormOp>(
          locOf(clip.loc), builder.getF64FloatAttr(clip.maxNormOrValue),
          builder.getF64FloatAttr(clip.normType), optimizer);
    else
      builder.create<ClipGradValueOp>(
          locOf(clip.loc), builder.getF64FloatAttr(clip.maxNormOrValue),
          optimizer);
  }

  Attribute optionAttr(const OptionValue &value) {
    if (auto *f = std::get_if<double>(&value))
      return builder.getF64FloatAttr(*f);
    if (auto *i = std::get_if<int64_t>(&value))
      return builder.getI64IntegerAttr(*i);
    if (auto *b = std::get_if<bool>(&value))
      return builder.getBoolAttr(*b);
    if (auto *s = std::get_if<std::string>(&value))
      return builder.getStringAttr(*s);
    return builder.getI64ArrayAttr(std::get<std::vector<int64_t>>(value));
  }

  void emitSchedule(const Schedule &schedule) {
    SmallVector<NamedAttribute> options;
    for (const auto &[name, value] : schedule.options)
      options.push_back(builder.getNamedAttr(name, optionAttr(value)));
    builder.create<LRScheduleOp>(
        locOf(schedule.loc), builder.getStringAttr(schedule.name),
        builder.getStringAttr(schedule.kind),
        FlatSymbolRefAttr::get(builder.getContext(), schedule.optimizer),
        builder.getDictionaryAttr(options));
  }

  //===--------------------------------------------------------------------===//
  // Functions
  //===--------------------------------------------------------------------===//

  /// Creates `name(inputs...) -> results` and binds its arguments by name.
  func::FuncOp beginFunction(StringRef name, ArrayRef<NamedValue> args,
                             Type result, StringRef mode) {
    SmallVector<Type> argTypes;
    for (const NamedValue &arg : args)
      argTypes.push_back(typeOf(arg.type));
    auto func = builder.create<func::FuncOp>(
        locOf(program.forward->loc), name,
        builder.getFunctionType(argTypes, result));
    func->setAttr("firn.mode", builder.getStringAttr(mode));
    Block *entry = func.addEntryBlock();
    scope.clear();
    for (auto [i, arg] : llvm::enumerate(args)) {
      entry->getArgument(i).setLoc(locOf(arg.loc));
      // The DSL's name, for the runtime's messages and the C API.
      func.setArgAttr(i, "firn.name", builder.getStringAttr(arg.name));
      scope[arg.name] = entry->getArgument(i);
    }
    builder.setInsertionPointToStart(entry);
    return func;
  }

  /// Emits forward's statements; returns the value it returns.
  Value emitForwardBody() {
    for (const ast::Stmt &stmt : program.forward->body) {
      if (stmt.targets.size() > 1) {
        SmallVector<Value> values = emitPieces(*stmt.value);
        for (size_t i = 0; i < stmt.targets.size(); ++i)
          if (values[i]) // (not the None of need_weights=false)
            scope[stmt.targets[i]] = values[i];
        continue;
      }
      Value value = emit(*stmt.value);
      if (stmt.isReturn)
        return value;
      scope[stmt.targets[0]] = value;
    }
    llvm_unreachable("semantic analysis guarantees a return");
  }

  void emitPredict() {
    OpBuilder::InsertionGuard guard(builder);
    training = false;
    beginFunction("predict", program.inputs, typeOf(program.output), "eval");
    Value output = emitForwardBody();
    builder.create<func::ReturnOp>(output.getLoc(), output);
  }

  void emitTrainStep() {
    OpBuilder::InsertionGuard guard(builder);
    training = program.mode == "train";
    std::vector<NamedValue> args = program.inputs;
    if (program.target)
      args.push_back(*program.target);
    beginFunction("train_step", args, f32Tensor({}), program.mode);
    if (training && usesDropout())
      key = emitStepKey();
    Value loss = emitForwardAndLoss();
    builder.create<func::ReturnOp>(loss.getLoc(), loss);
  }

  /// @eval_loss: the loss in eval mode, with no backward (`model eval`).
  void emitEvalLoss() {
    OpBuilder::InsertionGuard guard(builder);
    training = false;
    std::vector<NamedValue> args = program.inputs;
    if (program.target)
      args.push_back(*program.target);
    beginFunction("eval_loss", args, f32Tensor({}), "eval");
    Value loss = emitForwardAndLoss();
    builder.create<func::ReturnOp>(loss.getLoc(), loss);
  }

  /// Forward, then the loss, which sees what Sema's loss scope has: the
  /// inputs, the target and `output`, not forward's locals (a local named
  /// like the target must not shadow it).
  Value emitForwardAndLoss() {
    auto arguments = scope;
    Value output = emitForwardBody();
    scope = std::move(arguments);
    scope["output"] = output;
    return emit(*program.loss);
  }

  bool usesDropout() const {
    return llvm::any_of(program.layers,
                        [](const Layer &layer) { return layer.kind && layer.kind->random; }) ||
           llvm::any_of(program.attentions, [](const auto &a) { return a.second.dropout > 0; });
  }

  /// The key of this step's random numbers: a counter buffer @"rng/step"
  /// that each call of @train_step advances.
  Value emitStepKey() {
    auto keyType = RankedTensorType::get({}, builder.getIntegerType(64));
    {
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPoint(builder.getInsertionBlock()->getParentOp());
      builder.create<BufferOp>(
          locOf(program.forward->loc), builder.getStringAttr("rng/step"),
          TypeAttr::get(keyType),
          DenseElementsAttr::get(keyType, static_cast<int64_t>(0)));
    }
    return builder.create<AdvanceCounterOp>(locOf(program.forward->loc),
                                            keyType, "rng/step");
  }

  //===--------------------------------------------------------------------===//
  // Expressions
  //===--------------------------------------------------------------------===//

  Value emit(const ast::Expr &expr) {
    Location loc = locOf(expr.loc);
    RankedTensorType type = typeOf(program.types.at(&expr));
    switch (expr.kind) {
    case ast::ExprKind::Name: {
      Value value;
      auto perm = program.permutations.find(&expr); // `w.T`
      if (auto ref = program.paramRefs.find(&expr); ref != program.paramRefs.end()) {
        const Parameter &param = program.params[ref->second];
        value = builder.create<ReadParamOp>(loc, f32Tensor(param.shape), param.name);
      } else {
        value = scope.at(perm == program.permutations.end()
                             ? expr.name
                             : expr.name.substr(0, expr.name.size() - 2));
      }
      if (perm == program.permutations.end())
        return value;
      return builder.create<TransposeOp>(loc, type, value,
                                         builder.getDenseI64ArrayAttr(perm->second));
    }
    case ast::ExprKind::Number:
      return builder.create<ConstantOp>(
          loc, DenseElementsAttr::get(type, static_cast<float>(expr.number)));
    case ast::ExprKind::Negate:
      return builder.create<NegOp>(loc, emit(*expr.elements[0]));
    case ast::ExprKind::Compare:
      return builder.create<CompareOp>(loc, type, predicateOf(expr.name),
                                       emit(*expr.elements[0]), emit(*expr.elements[1]));
    case ast::ExprKind::Not: // a mask is 0 or 1: 1 where it is 0
      return builder.create<CompareOp>(loc, type, ComparisonPredicate::EQ,
                                       emit(*expr.elements[0]), scalar(0.0f, loc));
    case ast::ExprKind::Binary: {
      Value lhs = emit(*expr.elements[0]);
      Value rhs = emit(*expr.elements[1]);
      if (expr.name == "+")
        return builder.create<AddOp>(loc, type, lhs, rhs);
      if (expr.name == "-")
        return builder.create<SubOp>(loc, type, lhs, rhs);
      if (expr.name == "/")
        return builder.create<DivOp>(loc, type, lhs, rhs);
      if (expr.name == "@")
        return matmul(lhs, rhs, type, loc);
      return builder.create<MulOp>(loc, type, lhs, rhs);
    }
    case ast::ExprKind::Call:
      if (auto it = program.layerCalls.find(&expr);
          it != program.layerCalls.end())
        return emitCall(program.layers[it->second], expr,
                        emit(*expr.args[0].value), type, loc);
      return emitBuiltin(expr, type, loc);
    case ast::ExprKind::Index:
      return emitIndex(expr, type, loc);
    default:
      llvm_unreachable("semantic analysis rejects other expressions");
    }
  }

  /// The pieces of a split or chunk, each a slice of its input.
  SmallVector<Value> emitPieces(const ast::Expr &call) {
    if (auto layer = program.layerCalls.find(&call); layer != program.layerCalls.end())
      return multiheadAttention(program.layers[layer->second], call);
    Location loc = locOf(call.loc);
    const Program::Split &split = program.splits.at(&call);
    const std::vector<ValueType> &types = program.tupleTypes.at(&call);
    Value input = emit(*argument(call, call.name == "split" ? "tensor" : "input", 0));
    SmallVector<Value> pieces;
    for (size_t i = 0; i < types.size(); ++i)
      pieces.push_back(builder.create<SliceOp>(
          loc, typeOf(types[i]), input, builder.getI64IntegerAttr(split.dim),
          builder.getI64IntegerAttr(split.pieces[i].first)));
    return pieces;
  }

  /// `x[...]`: a slice per narrowed dimension, then a reshape that removes
  /// the dimensions an integer index picked.
  Value emitIndex(const ast::Expr &expr, RankedTensorType type, Location loc) {
    Value v = emit(*expr.elements[0]);
    bool drops = false;
    for (const Program::IndexedDim &d : program.indexing.at(&expr)) {
      auto current = cast<RankedTensorType>(v.getType());
      SmallVector<int64_t> shape(current.getShape());
      shape[d.dim] = d.length;
      v = builder.create<SliceOp>(loc, RankedTensorType::get(shape, current.getElementType()),
                                  v, builder.getI64IntegerAttr(d.dim),
                                  builder.getI64IntegerAttr(d.start));
      drops |= d.drop;
    }
    if (drops)
      v = builder.create<ReshapeOp>(loc, type, v);
    return v;
  }

  static ComparisonPredicate predicateOf(const std::string &op) {
    if (op == "<")
      return ComparisonPredicate::LT;
    if (op == "<=")
      return ComparisonPredicate::LE;
    if (op == ">")
      return ComparisonPredicate::GT;
    if (op == ">=")
      return ComparisonPredicate::GE;
    if (op == "==")
      return ComparisonPredicate::EQ;
    return ComparisonPredicate::NE;
  }

  // LayerEmitter, for the layer table's entries.
  OpBuilder &opBuilder() override { return builder; }
  bool isTraining() const override { return training; }

  Value dropout(Value x, double p, Location loc) override {
    return builder.create<DropoutOp>(loc, x.getType(), x, training ? key : Value(),
                                     builder.getF64FloatAttr(p),
                                     builder.getI64IntegerAttr(training ? nextStream++ : 0),
                                     training ? builder.getUnitAttr() : UnitAttr());
  }

  Value readParam(const Layer &layer, const char *role, Location loc) override {
    auto it = layer.params.find(role);
    if (it == layer.params.end())
      return nullptr;
    const Parameter &param = program.params[it->second];
    return builder.create<ReadParamOp>(loc, f32Tensor(param.shape),
                                       param.name);
  }

  Value readBuffer(const Layer &layer, const char *role, Location loc) override {
    const Buffer &buffer = program.buffers[layer.buffers.at(role)];
    return builder.create<ReadBufferOp>(loc, f32Tensor(buffer.shape),
                                        buffer.name);
  }

  /// A layer call; a Sequential applies its layers in order.
  Value emitCall(const Layer &layer, const ast::Expr &call, Value input,
                 RankedTensorType type, Location loc) {
    if (!layer.isSequential())
      return layer.kind->emit(*this, layer, input, type, loc);
    const std::vector<ValueType> &types = program.sequenceTypes.at(&call);
    for (size_t i = 0; i < layer.children.size(); ++i) {
      const Layer &child = program.layers[layer.children[i]];
      input = child.kind->emit(*this, child, input, f32Tensor(types[i].shape), loc);
    }
    return input;
  }

  /// torch.matmul as Sema allows it. A vector operand becomes a matrix
  /// ([K] as [1, K] on the left, [K, 1] on the right) whose added dimension
  /// the result drops again.
  Value matmul(Value lhs, Value rhs, RankedTensorType type, Location loc) {
    auto aType = cast<RankedTensorType>(lhs.getType());
    auto bType = cast<RankedTensorType>(rhs.getType());
    if (aType.getRank() > 2 && bType.getRank() > 2)
      return matmulBroadcast(lhs, rhs, type, loc);
    if (aType.getRank() > 1 && bType.getRank() > 1)
      return matmulMatrices(lhs, rhs, type, loc);
    const int64_t k = aType.getShape().back();
    if (aType.getRank() == 1)
      lhs = builder.create<ReshapeOp>(loc, f32Tensor({1, k}), lhs).getResult();
    if (bType.getRank() == 1)
      rhs = builder.create<ReshapeOp>(loc, f32Tensor({k, 1}), rhs).getResult();
    aType = cast<RankedTensorType>(lhs.getType());
    bType = cast<RankedTensorType>(rhs.getType());
    // The product of the matrices: the longer batch, then [M, N].
    RankedTensorType longer = aType.getRank() >= bType.getRank() ? aType : bType;
    SmallVector<int64_t> shape(longer.getShape().begin(), longer.getShape().end() - 2);
    shape.push_back(aType.getDimSize(aType.getRank() - 2));
    shape.push_back(bType.getDimSize(bType.getRank() - 1));
    Value product = matmulMatrices(lhs, rhs, RankedTensorType::get(shape, builder.getF32Type()), loc);
    return builder.create<ReshapeOp>(loc, type, product);
  }

  /// Batches of matrices whose leading dimensions broadcast. An operand
  /// whose leading dimensions are all 1 is one matrix ([N, 2, 3, 4] @
  /// [1, 4, 4] is a Linear of the squeezed [4, 4]), so nothing is copied;
  /// otherwise each operand is multiplied by ones of the broadcast batch
  /// (exact: x * 1 is x, NaN and inf included), and mul's gradient sums the
  /// copies back, as PyTorch's expand does.
  Value matmulBroadcast(Value lhs, Value rhs, RankedTensorType type, Location loc) {
    const shape::Shape out = shapeOf(type);
    const size_t batchRank = out.size() - 2;
    auto asMatrix = [&](Value v, Value other) -> Value {
      const shape::Shape s = shapeOf(v.getType());
      if (shapeOf(other.getType()).size() != out.size() ||
          !std::all_of(s.begin(), s.end() - 2, [](int64_t d) { return d == 1; }))
        return nullptr;
      return builder.create<ReshapeOp>(loc, f32Tensor({s[s.size() - 2], s.back()}), v).getResult();
    };
    if (Value b = asMatrix(rhs, lhs))
      return matmulMatrices(lhs, b, type, loc);
    if (Value a = asMatrix(lhs, rhs))
      return matmulMatrices(a, rhs, type, loc);
    auto expand = [&](Value v, Value other) -> Value {
      const shape::Shape given = shapeOf(v.getType());
      shape::Shape s(batchRank + 2 - given.size(), 1);
      s.insert(s.end(), given.begin(), given.end());
      if (s.size() != given.size())
        v = builder.create<ReshapeOp>(loc, f32Tensor(s), v).getResult();
      shape::Shape ones(s.size(), 1);
      bool copies = false;
      for (size_t i = 0; i < batchRank; ++i)
        if (s[i] != out[i] && out[i] != shape::kBatch) {
          ones[i] = s[i] = out[i];
          copies = true;
        }
      if (copies) {
        Value constant = builder.create<ConstantOp>(loc, DenseElementsAttr::get(f32Tensor(ones), 1.0f));
        v = builder.create<MulOp>(loc, f32Tensor(s), v, constant).getResult();
      }
      if (s[0] == 1 && out[0] == shape::kBatch) {
        // Ones of shape [N, 1, ...]: the batch comes from the other
        // operand, through slices of size 1 of its other dimensions.
        Value like = other;
        shape::Shape sliced = shapeOf(other.getType());
        for (size_t i = 1; i < sliced.size(); ++i) {
          if (sliced[i] == 1)
            continue;
          sliced[i] = 1;
          like = builder.create<SliceOp>(loc, f32Tensor(sliced), like, i, 0).getResult();
        }
        Value n = builder.create<BroadcastLikeOp>(loc, f32Tensor(sliced), scalar(1.0f, loc), like);
        s[0] = shape::kBatch;
        v = builder.create<MulOp>(loc, f32Tensor(s), v, n).getResult();
      }
      return v;
    };
    return matmulMatrices(expand(lhs, rhs), expand(rhs, lhs), type, loc);
  }

  /// torch.matmul on matrices: batches of matrices of the same rank; a
  /// batch of matrices times one matrix: a Linear (without bias) whose
  /// weight is that matrix transposed; one matrix times a batch of them:
  /// (bᵀ aᵀ)ᵀ, a Linear of bᵀ whose weight is the matrix itself.
  /// An operand written as a transpose of its last two dimensions
  /// (`k.transpose(-2, -1)`, `w.T`) is read through the product's transpose
  /// flag, or as a Linear's weight, instead of being transposed first.
  Value matmulMatrices(Value lhs, Value rhs, RankedTensorType type, Location loc) {
    auto untransposed = [](Value v) -> Value {
      auto t = v.getDefiningOp<TransposeOp>();
      if (!t)
        return nullptr;
      ArrayRef<int64_t> perm = t.getPerm();
      const int64_t r = static_cast<int64_t>(perm.size());
      for (int64_t i = 0; i < r - 2; ++i)
        if (perm[i] != i)
          return nullptr;
      return perm[r - 2] == r - 1 && perm[r - 1] == r - 2 ? t.getInput() : nullptr;
    };
    auto b = cast<RankedTensorType>(rhs.getType());
    Value a0 = untransposed(lhs), b0 = untransposed(rhs);
    const int64_t aRank = cast<RankedTensorType>(lhs.getType()).getRank();
    if (aRank == b.getRank())
      return builder.create<MatmulOp>(loc, type, a0 ? a0 : lhs, b0 ? b0 : rhs,
                                      static_cast<bool>(a0), static_cast<bool>(b0));
    if (aRank == 2) {
      const int64_t r = b.getRank();
      auto swapLast = [&](ArrayRef<int64_t> shape) {
        SmallVector<int64_t> swapped(shape);
        std::swap(swapped[r - 2], swapped[r - 1]);
        return swapped;
      };
      SmallVector<int64_t> perm(r);
      std::iota(perm.begin(), perm.end(), 0);
      std::swap(perm[r - 2], perm[r - 1]);
      Value bt = b0 ? b0
                    : builder.create<TransposeOp>(loc, RankedTensorType::get(swapLast(b.getShape()), builder.getF32Type()),
                                                  rhs, builder.getDenseI64ArrayAttr(perm))
                          .getResult();
      Value product = builder.create<LinearOp>(
          loc, RankedTensorType::get(swapLast(type.getShape()), builder.getF32Type()), bt, lhs, Value());
      return builder.create<TransposeOp>(loc, type, product, builder.getDenseI64ArrayAttr(perm));
    }
    Value weight = b0;
    if (!weight)
      weight = builder.create<TransposeOp>(
          loc, RankedTensorType::get({b.getDimSize(1), b.getDimSize(0)}, b.getElementType()),
          rhs, builder.getDenseI64ArrayAttr({1, 0}));
    return builder.create<LinearOp>(loc, type, lhs, weight, Value());
  }

  /// F.scaled_dot_product_attention: softmax(q kᵀ · scale + mask) v, the
  /// causal mask 0 on and below the diagonal and -inf above it (PyTorch's
  /// is_causal=True, a constant added before the softmax, which gives the
  /// masked scores weight 0 and gradient 0). Without a mask, and without
  /// dropout on the weights in training, the fused firn.attention (its
  /// gradient the fused firn.attention_grad), which never stores a head's
  /// [L, S] weights whole; otherwise in primitive ops, the weights
  /// materialized.
  Value attention(const Program::Attention &options, Value q, Value k, Value v,
                  Value mask, RankedTensorType type, Location loc) {
    const shape::Shape qs = shapeOf(q.getType()), ks = shapeOf(k.getType()),
                       vs = shapeOf(v.getType());
    const size_t r = qs.size();
    const bool sameBatch = ks.size() == r && vs.size() == r &&
                           std::equal(qs.begin(), qs.end() - 2, ks.begin()) &&
                           std::equal(qs.begin(), qs.end() - 2, vs.begin());
    const bool staticPositions = qs[r - 2] != shape::kBatch && ks[r - 2] != shape::kBatch;
    if ((!training || options.dropout == 0) && options.mask == Program::Attention::Mask::None &&
        sameBatch && (!options.causal || staticPositions))
      return builder.create<AttentionOp>(loc, type, q, k, v,
                                         builder.getF64FloatAttr(options.scale),
                                         options.causal ? builder.getUnitAttr() : UnitAttr());
    return builder.create<MatmulOp>(loc, type, attentionWeights(options, q, k, mask, loc),
                                    v, false, false);
  }

  /// softmax(q kᵀ · scale + mask), over the last dimension; `padding`, a
  /// key_padding_mask as [N, 1, 1, S], masks (or is added) after attn_mask,
  /// as PyTorch merges the two.
  Value attentionWeights(const Program::Attention &options, Value q, Value k, Value mask,
                         Location loc, Value padding = Value()) {
    auto qType = cast<RankedTensorType>(q.getType());
    const int64_t r = qType.getRank(), l = qType.getDimSize(r - 2);
    const int64_t s = cast<RankedTensorType>(k.getType()).getDimSize(r - 2);
    SmallVector<int64_t> scoreShape(qType.getShape().begin(), qType.getShape().end() - 1);
    scoreShape.push_back(s);
    auto scoreType = RankedTensorType::get(scoreShape, builder.getF32Type());
    Value scores = builder.create<MatmulOp>(loc, scoreType, q, k, false, true);
    scores = builder.create<MulOp>(loc, scoreType, scores,
                                   scalar(static_cast<float>(options.scale), loc));
    if (options.causal)
      scores = builder.create<AddOp>(loc, scoreType, scores, buildCausalMask(builder, loc, l, s));
    // attn_mask: a mask keeps the scores where it holds and puts -inf
    // elsewhere; f32 scores are added.
    // (MultiheadAttention's mask blocks where it holds.)
    Value minusInf = scalar(-std::numeric_limits<float>::infinity(), loc);
    if (options.mask == Program::Attention::Mask::Bool)
      scores = builder.create<SelectOp>(loc, scoreType, mask, scores, minusInf);
    else if (options.mask == Program::Attention::Mask::Blocked)
      scores = builder.create<SelectOp>(loc, scoreType, mask, minusInf, scores);
    else if (options.mask == Program::Attention::Mask::Added)
      scores = builder.create<AddOp>(loc, scoreType, scores, mask);
    if (options.paddingMask == Program::Attention::Mask::Blocked)
      scores = builder.create<SelectOp>(loc, scoreType, padding, minusInf, scores);
    else if (options.paddingMask == Program::Attention::Mask::Added)
      scores = builder.create<AddOp>(loc, scoreType, scores, padding);
    Value weights = builder.create<SoftmaxOp>(loc, scores, r - 1);
    if (!training || options.dropout == 0)
      return weights;
    // Dropout on the weights, in training only (PyTorch's MultiheadAttention;
    // for the function, as models pass dropout_p only while training), with
    // its own stream of random numbers as every dropout call site.
    return dropout(weights, options.dropout, loc);
  }

  /// nn.MultiheadAttention(E, H, batch_first=True) on [N, L, E] queries and
  /// [N, S, E] keys and values, as F.multi_head_attention_forward computes
  /// it: each of q, k, v its own rows of in_proj_weight (and in_proj_bias),
  /// split into H heads of E / H, attention per head scaled by
  /// 1/sqrt(E / H), the heads joined and out_proj applied. Gives the output
  /// and the weights, averaged over the heads unless asked otherwise.
  SmallVector<Value> multiheadAttention(const Layer &layer, const ast::Expr &call) {
    Location loc = locOf(call.loc);
    const Program::Attention &options = program.attentions.at(&call);
    const auto &o = layer.optionsAs<MultiheadAttentionOptions>();
    const int64_t e = o.embedDim, h = o.heads, d = e / h, n = shape::kBatch;
    Value weight = readParam(layer, "in_proj_weight", loc);
    Value bias = readParam(layer, "in_proj_bias", loc);
    auto project = [&](const ast::Expr *input, int64_t part) -> Value {
      Value x = emit(*input);
      const int64_t len = cast<RankedTensorType>(x.getType()).getDimSize(1);
      Value w = builder.create<SliceOp>(loc, f32Tensor({e, e}), weight,
                                        builder.getI64IntegerAttr(0),
                                        builder.getI64IntegerAttr(part * e));
      Value b = bias ? builder.create<SliceOp>(loc, f32Tensor({e}), bias,
                                               builder.getI64IntegerAttr(0),
                                               builder.getI64IntegerAttr(part * e))
                                 .getResult()
                     : Value();
      Value y = builder.create<LinearOp>(loc, f32Tensor({n, len, e}), x, w, b);
      Value split = builder.create<ReshapeOp>(loc, f32Tensor({n, len, h, d}), y);
      return builder.create<TransposeOp>(loc, f32Tensor({n, h, len, d}), split,
                                         builder.getDenseI64ArrayAttr({0, 2, 1, 3}));
    };
    Value q = project(argument(call, "query", 0), 0);
    Value k = project(argument(call, "key", 1), 1);
    Value v = project(argument(call, "value", 2), 2);
    const int64_t l = cast<RankedTensorType>(q.getType()).getDimSize(2);
    const int64_t s = cast<RankedTensorType>(k.getType()).getDimSize(2);
    Value mask = options.mask == Program::Attention::Mask::None
                     ? Value()
                     : emit(*argument(call, "attn_mask", 5));
    Value padding;
    if (options.paddingMask != Program::Attention::Mask::None)
      padding = builder.create<ReshapeOp>(loc, f32Tensor({n, 1, 1, s}),
                                          emit(*argument(call, "key_padding_mask", 3)));
    // Without the weights, masks and (in training) dropout: the fused
    // firn.attention, as scaled_dot_product_attention (see attention()).
    Value weights, heads;
    if ((!training || options.dropout == 0) && !options.needWeights &&
        options.mask == Program::Attention::Mask::None &&
        options.paddingMask == Program::Attention::Mask::None) {
      heads = builder.create<AttentionOp>(loc, f32Tensor({n, h, l, d}), q, k, v,
                                          builder.getF64FloatAttr(options.scale), UnitAttr());
    } else {
      weights = attentionWeights(options, q, k, mask, loc, padding); // [N, H, L, S]
      heads = builder.create<MatmulOp>(loc, f32Tensor({n, h, l, d}), weights, v, false, false);
    }
    Value joined = builder.create<ReshapeOp>(
        loc, f32Tensor({n, l, e}),
        builder.create<TransposeOp>(loc, f32Tensor({n, l, h, d}), heads,
                                    builder.getDenseI64ArrayAttr({0, 2, 1, 3}))
            .getResult());
    Value out = builder.create<LinearOp>(loc, f32Tensor({n, l, e}), joined,
                                         readParam(layer, "out_proj.weight", loc),
                                         readParam(layer, "out_proj.bias", loc));
    if (!options.needWeights)
      return {out, Value()};
    if (!options.averageWeights)
      return {out, weights};
    return {out, builder.create<ReduceMeanOp>(loc, f32Tensor({n, l, s}), weights,
                                              builder.getDenseI64ArrayAttr({1}), UnitAttr())};
  }

  /// The argument for parameter `param` of a call: by keyword, or the
  /// positional one at `position`; null when it is not given.
  static const ast::Expr *argument(const ast::Expr &call, const char *param,
                                   size_t position) {
    for (const ast::Arg &arg : call.args)
      if (arg.name == param)
        return arg.value.get();
    return position < call.args.size() && call.args[position].name.empty()
               ? call.args[position].value.get()
               : nullptr;
  }

  /// torch.tril / triu: x where column - row is at most (tril) or at least
  /// (triu) `diagonal` in the last two dimensions, else 0; a select by a
  /// constant mask, so that inf outside the triangle does not make NaN.
  Value triangle(bool lower, int64_t diagonal, Value x, RankedTensorType type,
                 Location loc) {
    const int64_t rows = type.getDimSize(type.getRank() - 2);
    const int64_t cols = type.getDimSize(type.getRank() - 1);
    SmallVector<float> keep(static_cast<size_t>(rows * cols));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        keep[static_cast<size_t>(i * cols + j)] =
            (lower ? j - i <= diagonal : j - i >= diagonal) ? 1.0f : 0.0f;
    Value mask = builder.create<ConstantOp>(
        loc, DenseElementsAttr::get(f32Tensor({rows, cols}), ArrayRef<float>(keep)));
    return builder.create<SelectOp>(loc, type, mask, x, scalar(0.0f, loc));
  }

  Value emitBuiltin(const ast::Expr &call, RankedTensorType type,
                    Location loc) {
    const std::string &name = call.name;
    // Operands are the tensor arguments in signature order: input, target.
    auto operand = [&](const char *param, size_t position) {
      return argument(call, param, position);
    };
    if (name == "ones" || name == "zeros")
      return builder.create<ConstantOp>(
          loc, DenseElementsAttr::get(type, name == "ones" ? 1.0f : 0.0f));
    if (name == "where")
      return builder.create<SelectOp>(loc, type, emit(*operand("condition", 0)),
                                      emit(*operand("input", 1)),
                                      emit(*operand("other", 2)));
    if (name == "masked_fill")
      return builder.create<SelectOp>(
          loc, type, emit(*operand("mask", 1)),
          scalar(static_cast<float>(program.functionParameters.at(&call)), loc),
          emit(*operand("input", 0)));
    if (name == "logical_not")
      return builder.create<CompareOp>(loc, type, ComparisonPredicate::EQ,
                                       emit(*operand("input", 0)), scalar(0.0f, loc));
    if (name == "tril" || name == "triu")
      return triangle(name == "tril", program.dimArgs.at(&call)[0],
                      emit(*operand("input", 0)), type, loc);
    if (name == "cat") {
      SmallVector<Value> parts;
      for (const ast::ExprPtr &element : operand("tensors", 0)->elements)
        parts.push_back(emit(*element));
      return builder.create<ConcatOp>(
          loc, type, parts, builder.getI64IntegerAttr(program.dimArgs.at(&call)[0]));
    }
    Value input = emit(*operand("input", 0));
    const ast::Expr *approximate = operand("approximate", 1);
    if (const ElementwiseFunction *f = findElementwiseBuiltin(
            name, approximate ? approximate->name : std::string())) {
      auto parameter = program.functionParameters.find(&call);
      return f->emit(builder, loc, input,
                     parameter == program.functionParameters.end() ? 0.0
                                                                   : parameter->second);
    }
    if (name == "flatten" || name == "reshape" || name == "unsqueeze" || name == "squeeze")
      return builder.create<ReshapeOp>(loc, type, input);
    if (name == "matmul")
      return matmul(input, emit(*operand("other", 1)), type, loc);
    if (name == "narrow") {
      const std::vector<int64_t> &args = program.dimArgs.at(&call);
      return builder.create<SliceOp>(loc, type, input, builder.getI64IntegerAttr(args[0]),
                                     builder.getI64IntegerAttr(args[1]));
    }
    if (name == "scaled_dot_product_attention") {
      const Program::Attention &options = program.attentions.at(&call);
      Value q = emit(*operand("query", 0)), k = emit(*operand("key", 1)),
            v = emit(*operand("value", 2));
      Value mask = options.mask == Program::Attention::Mask::None
                       ? Value()
                       : emit(*operand("attn_mask", 3));
      return attention(options, q, k, v, mask, type, loc);
    }
    if (name == "clamp") {
      // min(max(x, lo), hi) as -max(-max(x, lo), -hi); NaN stays NaN, and
      // with lo > hi every element is hi, as in PyTorch.
      auto [lo, hi] = program.clampBounds.at(&call);
      Value v = input;
      if (lo)
        v = builder.create<MaxOp>(loc, type, v, scalar(static_cast<float>(*lo), loc));
      if (hi)
        v = builder.create<NegOp>(
            loc, builder.create<MaxOp>(loc, type, builder.create<NegOp>(loc, v).getResult(),
                                       scalar(static_cast<float>(-*hi), loc))
                     .getResult());
      return v;
    }
    if (name == "transpose" || name == "permute")
      return builder.create<TransposeOp>(
          loc, type, input, builder.getDenseI64ArrayAttr(program.permutations.at(&call)));
    if (name == "sum" || name == "mean") {
      auto it = program.reductions.find(&call);
      Program::Reduction all;
      const Program::Reduction &r = it == program.reductions.end() ? all : it->second;
      auto axes = builder.getDenseI64ArrayAttr(r.axes);
      UnitAttr keep = r.keepdim ? builder.getUnitAttr() : UnitAttr();
      if (name == "sum")
        return builder.create<ReduceSumOp>(loc, type, input, axes, keep);
      return builder.create<ReduceMeanOp>(loc, type, input, axes, keep);
    }
    if (name == "softmax" || name == "log_softmax") {
      int64_t dim = program.dimArgs.at(&call)[0];
      if (name == "softmax")
        return builder.create<SoftmaxOp>(loc, input, dim);
      return builder.create<LogSoftmaxOp>(loc, input, dim);
    }
    Value target = emit(*operand("target", 1));
    Reduction reduction = Reduction::Mean;
    bool batchmean = false, none = false;
    if (const ast::Expr *r = operand("reduction", 2); r && r->name == "sum")
      reduction = Reduction::Sum;
    else if (r && r->name == "batchmean")
      batchmean = true;
    else if (r && r->name == "none")
      none = true;
    if (name == "cross_entropy") {
      auto found = program.crossEntropyOptions.find(&call);
      const Program::CrossEntropyOptions options =
          found == program.crossEntropyOptions.end() ? Program::CrossEntropyOptions()
                                                     : found->second;
      if (none)
        return crossEntropyPerPosition(options, input, target, type, loc);
      return crossEntropy(options, input, target, reduction, loc);
    }
    auto parameter = program.functionParameters.find(&call);
    std::optional<double> own;
    if (parameter != program.functionParameters.end())
      own = parameter->second;
    return compositeLoss(name, input, target, reduction, batchmean, none, own, loc);
  }

  /// Every loss is a composite of primitive ops (its gradient is theirs),
  /// each as PyTorch defines it, reduced to a scalar; no loss has a fused op
  /// of its own. The part of cross_entropy that pays for a fused kernel is
  /// its log_softmax (firn.log_softmax's); the rest is elementwise work and
  /// sums, which kernel partitioning fuses into the kernels around them.
  ///
  /// F.cross_entropy, with or without class weights, ignore_index and label
  /// smoothing, as PyTorch computes it (aten's cross_entropy_loss_label_smoothing;
  /// ignored positions count for nothing, also in sum w[t]): on
  /// logp = log_softmax(x, 1), the weighted NLL -sum w[t] logp[t], divided
  /// for 'mean' by sum w[t]; plus, with smoothing e, the smoothing term
  /// -sum_c w[c] logp[c] per position, divided for 'mean' by sum w[t] too
  /// (the counted positions without weights): (1 - e) nll + e / C smoothing.
  Value crossEntropy(const Program::CrossEntropyOptions &options, Value x,
                     Value target, Reduction reduction, Location loc) {
    auto xType = cast<RankedTensorType>(x.getType());
    const int64_t classes = xType.getDimSize(1);
    if (!isa<IntegerType>(cast<RankedTensorType>(target.getType()).getElementType())) {
      // Class probabilities: each position's loss, summed or averaged over
      // the positions (PyTorch's 'mean' divides by N d..., not by weights).
      shape::Shape positions(xType.getShape().begin(), xType.getShape().end());
      positions.erase(positions.begin() + 1);
      Value perPosition =
          crossEntropyPerPosition(options, x, target, f32Tensor(positions), loc);
      auto all = builder.getDenseI64ArrayAttr({});
      if (reduction == Reduction::Sum)
        return builder.create<ReduceSumOp>(loc, f32Tensor({}), perPosition, all, UnitAttr());
      return builder.create<ReduceMeanOp>(loc, f32Tensor({}), perPosition, all, UnitAttr());
    }
    Value w = classWeights(options, xType, loc);
    auto all = builder.getDenseI64ArrayAttr({});
    auto sumAll = [&](Value v) -> Value {
      return builder.create<ReduceSumOp>(loc, f32Tensor({}), v, all, UnitAttr());
    };
    auto div = [&](Value a, Value b) -> Value {
      return builder.create<DivOp>(loc, f32Tensor({}), a, b);
    };
    Value onehot = targetRows(options, xType, target, loc);
    Value logp = builder.create<LogSoftmaxOp>(loc, x, 1);
    Value weighted = weighBy(w, onehot, loc);
    // Each position's term first (its one class: an exact sum), then the
    // positions, in the order nll_loss adds them.
    shape::Shape positions(xType.getShape().begin(), xType.getShape().end());
    positions.erase(positions.begin() + 1);
    auto sumPositions = [&](Value v) -> Value {
      return sumAll(builder.create<ReduceSumOp>(loc, f32Tensor(positions), v,
                                                builder.getDenseI64ArrayAttr({1}),
                                                UnitAttr()));
    };
    Value nll = builder.create<NegOp>(
        loc, sumPositions(builder.create<MulOp>(loc, xType, weighted, logp)));
    Value totalWeight = sumPositions(weighted);
    if (reduction == Reduction::Mean)
      nll = div(nll, totalWeight);
    const double e = options.labelSmoothing;
    if (e == 0)
      return nll;
    SmallVector<int64_t> perPosition(xType.getRank());
    for (int64_t i = 0; i < xType.getRank(); ++i)
      perPosition[i] = i == 1 ? 1 : xType.getDimSize(i);
    auto positionType = RankedTensorType::get(perPosition, builder.getF32Type());
    auto classSum = [&](Value v) -> Value {
      return builder.create<ReduceSumOp>(loc, positionType, v,
                                         builder.getDenseI64ArrayAttr({1}),
                                         builder.getUnitAttr());
    };
    // 0 at the ignored positions (their one-hot row is empty), else 1.
    Value counted = classSum(onehot);
    Value smooth = builder.create<MulOp>(
        loc, positionType,
        builder.create<NegOp>(loc, classSum(weighBy(w, logp, loc)))
            .getResult(),
        counted);
    // 'mean': over sum w[t], the positions counted when there are no
    // weights (PyTorch 1.13's; measured against it by ce_ignore).
    Value smoothing = reduction == Reduction::Sum ? sumAll(smooth)
                                                  : div(sumAll(smooth), totalWeight);
    auto scaled = [&](Value v, double factor) -> Value {
      return builder.create<MulOp>(loc, f32Tensor({}), v,
                                   scalar(static_cast<float>(factor), loc));
    };
    return builder.create<AddOp>(loc, f32Tensor({}), scaled(nll, 1.0 - e),
                                 scaled(smoothing, e / double(classes)));
  }

  /// cross_entropy's class weights as a constant [1, C, 1...], to broadcast
  /// over the scores `xType` [N, C, d...]; none without `weight`.
  Value classWeights(const Program::CrossEntropyOptions &options, RankedTensorType xType,
                     Location loc) {
    if (options.weight.empty())
      return Value();
    const int64_t classes = xType.getDimSize(1);
    std::vector<float> weights(classes, 1.0f);
    for (int64_t c = 0; c < static_cast<int64_t>(options.weight.size()); ++c)
      weights[c] = static_cast<float>(options.weight[c]);
    return perClass(weights, xType, loc);
  }

  /// `v` [N, C, d...] times the class weights `w`; `v` itself without them.
  Value weighBy(Value w, Value v, Location loc) {
    return w ? builder.create<MulOp>(loc, v.getType(), v, w).getResult() : v;
  }

  /// A constant [1, C, 1...] of one value per class.
  Value perClass(const std::vector<float> &values, RankedTensorType xType, Location loc) {
    SmallVector<int64_t> classShape(xType.getRank(), 1);
    classShape[1] = xType.getDimSize(1);
    return builder.create<ConstantOp>(
        loc, DenseElementsAttr::get(RankedTensorType::get(classShape, builder.getF32Type()),
                                    llvm::ArrayRef<float>(values)));
  }

  /// The one-hot rows of class-index targets: none for a target outside
  /// [0, C) (one_hot's), and none for an ignore_index that is a class.
  Value targetRows(const Program::CrossEntropyOptions &options, RankedTensorType xType,
                   Value target, Location loc) {
    const int64_t classes = xType.getDimSize(1);
    Value onehot = builder.create<OneHotOp>(loc, xType, target);
    if (!options.ignoreIndex || *options.ignoreIndex < 0 || *options.ignoreIndex >= classes)
      return onehot;
    std::vector<float> keep(classes, 1.0f);
    keep[*options.ignoreIndex] = 0.0f;
    return builder.create<MulOp>(loc, xType, onehot, perClass(keep, xType, loc));
  }

  /// F.cross_entropy(..., reduction='none'): each position's loss [N, d...],
  /// -sum_c w[c] t[c] logp[c] over the classes, t the one-hot row of the
  /// class index (empty for an ignored target: loss 0) or the target
  /// probabilities; with label smoothing e, (1 - e) of it plus e / C of
  /// -sum_c w[c] logp[c] (0 at ignored positions), as PyTorch 1.13's.
  Value crossEntropyPerPosition(const Program::CrossEntropyOptions &options, Value x,
                                Value target, RankedTensorType type, Location loc) {
    auto xType = cast<RankedTensorType>(x.getType());
    const int64_t classes = xType.getDimSize(1);
    Value w = classWeights(options, xType, loc);
    const bool indices = isa<IntegerType>(
        cast<RankedTensorType>(target.getType()).getElementType());
    Value rows = indices ? targetRows(options, xType, target, loc) : target;
    auto classSum = [&](Value v) -> Value {
      return builder.create<NegOp>(
          loc, builder.create<ReduceSumOp>(loc, type, v, builder.getDenseI64ArrayAttr({1}),
                                           UnitAttr())
                   .getResult());
    };
    Value logp = builder.create<LogSoftmaxOp>(loc, x, 1);
    Value weightedLogp = weighBy(w, logp, loc);
    Value nll = classSum(builder.create<MulOp>(loc, xType, rows, weightedLogp));
    const double e = options.labelSmoothing;
    if (e == 0)
      return nll;
    // Class indices: the smoothing term counts where the one-hot row is not
    // empty. Probabilities: the target is t (1 - e) + e / C everywhere.
    Value smooth = classSum(weightedLogp);
    if (indices) {
      Value counted = builder.create<ReduceSumOp>(loc, type, rows,
                                                  builder.getDenseI64ArrayAttr({1}), UnitAttr());
      smooth = builder.create<MulOp>(loc, type, smooth, counted);
    }
    auto scaled = [&](Value v, double factor) -> Value {
      return builder.create<MulOp>(loc, type, v, scalar(static_cast<float>(factor), loc));
    };
    return builder.create<AddOp>(loc, type, scaled(nll, 1.0 - e),
                                 scaled(smooth, e / double(classes)));
  }

  /// `own` is the loss's own argument when given (beta, delta, log_target).
  /// `none`: reduction='none', the losses unreduced.
  Value compositeLoss(const std::string &name, Value x, Value target,
                      Reduction reduction, bool batchmean, bool none,
                      std::optional<double> own, Location loc) {
    auto xType = cast<RankedTensorType>(x.getType());
    auto reduceAll = [&](Value v) -> Value {
      if (none)
        return v;
      auto all = builder.getDenseI64ArrayAttr({});
      if (batchmean) {
        // kl_div's 'batchmean': the sum divided by the batch size, as the
        // mean over the batch of each sample's sum.
        SmallVector<int64_t> rest;
        for (int64_t a = 1; a < xType.getRank(); ++a)
          rest.push_back(a);
        Value perSample = builder.create<ReduceSumOp>(
            loc, f32Tensor({shape::kBatch}), v, builder.getDenseI64ArrayAttr(rest),
            UnitAttr());
        return builder.create<ReduceMeanOp>(loc, f32Tensor({}), perSample, all,
                                            UnitAttr());
      }
      if (reduction == Reduction::Sum)
        return builder.create<ReduceSumOp>(loc, f32Tensor({}), v, all, UnitAttr());
      return builder.create<ReduceMeanOp>(loc, f32Tensor({}), v, all, UnitAttr());
    };
    auto sub = [&](Value a, Value b) -> Value {
      return builder.create<SubOp>(loc, xType, a, b);
    };
    auto mul = [&](Value a, Value b) -> Value {
      return builder.create<MulOp>(loc, xType, a, b);
    };
    if (name == "mse") { // (x - y)^2
      Value d = sub(x, target);
      return reduceAll(mul(d, d));
    }
    if (name == "l1_loss" ||
        (name == "smooth_l1_loss" && own.value_or(1.0) == 0.0)) // |x - y|
      return reduceAll(builder.create<AbsOp>(loc, sub(x, target)));
    if (name == "smooth_l1_loss" || name == "huber_loss") {
      // With a = |x - y| and m = min(a, beta) = a - relu(a - beta):
      // smooth_l1 = 0.5 m^2 / beta + (a - m) (0.5 a^2 / beta below beta,
      // a - 0.5 beta above), huber = 0.5 m^2 + delta (a - m), with no
      // select: the gradient is PyTorch's on both sides.
      const float limit = static_cast<float>(own.value_or(1.0));
      Value a = builder.create<AbsOp>(loc, sub(x, target));
      Value m = sub(a, builder.create<ReluOp>(loc, sub(a, scalar(limit, loc))));
      Value square = mul(scalar(0.5f, loc), mul(m, m));
      Value linear = sub(a, m);
      if (name == "smooth_l1_loss")
        return reduceAll(builder.create<AddOp>(
            loc, xType, builder.create<DivOp>(loc, xType, square, scalar(limit, loc)),
            linear));
      return reduceAll(builder.create<AddOp>(loc, xType, square,
                                             mul(scalar(limit, loc), linear)));
    }
    if (name == "binary_cross_entropy") {
      // -(y log x + (1 - y) log(1 - x)), each log at least -100 (PyTorch's
      // clamp, so that x = 0 or 1 gives a finite loss).
      auto clampedLog = [&](Value v) -> Value {
        return builder.create<MaxOp>(loc, xType, builder.create<LogOp>(loc, v),
                                     scalar(-100.0f, loc));
      };
      Value oneMinusY = sub(scalar(1.0f, loc), target);
      Value perElement = builder.create<AddOp>(
          loc, xType, mul(target, clampedLog(x)),
          mul(oneMinusY, clampedLog(sub(scalar(1.0f, loc), x))));
      return builder.create<NegOp>(loc, reduceAll(perElement));
    }
    if (name == "kl_div") {
      // The input is log-probabilities; the target probabilities, or their
      // logarithms with log_target: y (log y - x), 0 where y = 0 (PyTorch's
      // xlogy: y log y with log y at least log(FLT_MIN) is 0 there), or
      // exp(y) (y - x).
      if (own.value_or(0.0) != 0.0)
        return reduceAll(mul(builder.create<ExpOp>(loc, target), sub(target, x)));
      Value logY = builder.create<LogOp>(
          loc, builder.create<MaxOp>(loc, xType, target,
                                     scalar(std::numeric_limits<float>::min(), loc))
                   .getResult());
      return reduceAll(mul(target, sub(logY, x)));
    }
    if (name == "nll_loss") {
      // -x[n, t_n]: the one-hot row of t_n picks it.
      Value onehot = builder.create<OneHotOp>(loc, xType, target);
      Value picked = builder.create<ReduceSumOp>(
          loc, f32Tensor({shape::kBatch}), builder.create<MulOp>(loc, xType, onehot, x),
          builder.getDenseI64ArrayAttr({1}), UnitAttr());
      return builder.create<NegOp>(loc, reduceAll(picked));
    }
    // binary_cross_entropy_with_logits, stable as PyTorch computes it:
    // (1 - y) x + m + log(exp(-m) + exp(-x - m)), m = max(-x, 0).
    Value negX = builder.create<NegOp>(loc, x);
    Value m = builder.create<ReluOp>(loc, negX);
    Value oneMinusY = builder.create<SubOp>(loc, xType, scalar(1.0f, loc), target);
    Value linear = builder.create<MulOp>(loc, xType, oneMinusY, x);
    Value a = builder.create<ExpOp>(loc, builder.create<NegOp>(loc, m).getResult());
    Value b = builder.create<ExpOp>(
        loc, builder.create<SubOp>(loc, xType, negX, m).getResult());
    Value logSum = builder.create<LogOp>(
        loc, builder.create<AddOp>(loc, xType, a, b).getResult());
    Value perElement = builder.create<AddOp>(
        loc, xType, builder.create<AddOp>(loc, xType, linear, m).getResult(), logSum);
    return reduceAll(perElement);
  }

  OpBuilder builder;
  const Program &program;
  OwningOpRef<ModuleOp> module;
  std::map<std::string, Value> scope;
  bool training = false;
  Value key;              ///< The step's random-number key (training only).
  int64_t nextStream = 0; ///< The next dropout call site's stream.
};

} // namespace

OwningOpRef<ModuleOp> mlirGen(MLIRContext &context, const Program &program) {
  return Generator(context, program).run();
}

} // namespace firn
