//===- FirnOps.cpp - Verifiers and helpers of firn's ops ------------------===//
//
// Each verifier restates its op's contract through ShapeRules and reports a
// violation with the concrete shapes, never an assert: IR written by hand or
// produced by a buggy pass must fail with a diagnostic.
//
//===----------------------------------------------------------------------===//
#include "firn/Dialect/FirnOps.h"
#include "firn/Dialect/MathIR.h"
#include "firn/Dialect/OptimizerSchema.h"
#include "firn/Runtime/ScheduleSchema.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OpImplementation.h"

#include <limits>

using namespace mlir;
using namespace firn;

#include "firn/Dialect/FirnEnums.cpp.inc"
#include "firn/Dialect/FirnInterfaces.cpp.inc"

//===----------------------------------------------------------------------===//
// Type helpers
//===----------------------------------------------------------------------===//

bool firn::isFirnTensor(Type type, bool floatOnly) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || tensor.getEncoding())
    return false;
  Type element = tensor.getElementType();
  if (!element.isF32() && (floatOnly || !element.isInteger(64)))
    return false;
  for (auto [i, dim] : llvm::enumerate(tensor.getShape()))
    if (ShapedType::isDynamic(dim) ? i != 0 : dim <= 0)
      return false;
  return true;
}

bool firn::isFirnScalar(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 0 && tensor.getElementType().isF32();
}

bool firn::isFirnKey(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 0 &&
         tensor.getElementType().isInteger(64);
}

shape::Shape firn::shapeOf(Type type) {
  shape::Shape out;
  for (int64_t dim : cast<RankedTensorType>(type).getShape())
    out.push_back(ShapedType::isDynamic(dim) ? shape::kBatch : dim);
  return out;
}

RankedTensorType firn::tensorTypeOf(const shape::Shape &s, Type elementType) {
  SmallVector<int64_t> dims;
  for (int64_t d : s)
    dims.push_back(d == shape::kBatch ? ShapedType::kDynamic : d);
  return RankedTensorType::get(dims, elementType);
}

namespace {
/// Compares an op's declared result type with the rule's answer.
LogicalResult checkResult(Operation *op, const shape::Inferred &inferred,
                          Type result) {
  if (!inferred.ok())
    return op->emitOpError() << inferred.error;
  if (shapeOf(result) != inferred.shape)
    return op->emitOpError()
           << "result shape " << shape::str(shapeOf(result))
           << " does not match the inferred shape "
           << shape::str(inferred.shape);
  return success();
}

std::optional<shape::Shape> optionalShape(Value v) {
  if (!v)
    return std::nullopt;
  return shapeOf(v.getType());
}

/// Reads stride, padding and dilation of the conv2d family.
FailureOr<shape::Conv2dGeometry> geometryOf(Operation *op,
                                            ArrayRef<int64_t> stride,
                                            ArrayRef<int64_t> padding,
                                            ArrayRef<int64_t> dilation) {
  if (stride.size() != 2 || padding.size() != 4 || dilation.size() != 2)
    return op->emitOpError()
           << "expects 2 strides, 4 paddings (top, left, bottom, right) and 2 "
              "dilations, got "
           << stride.size() << ", " << padding.size() << " and "
           << dilation.size();
  shape::Conv2dGeometry g;
  std::copy(stride.begin(), stride.end(), g.stride.begin());
  std::copy(padding.begin(), padding.end(), g.padding.begin());
  std::copy(dilation.begin(), dilation.end(), g.dilation.begin());
  return g;
}

/// A symbol reference must resolve to an op of the expected kind whose type
/// equals `type`.
template <typename TargetOp>
LogicalResult verifyStateUse(Operation *op, FlatSymbolRefAttr ref, Type type,
                             SymbolTableCollection &symbols, StringRef what) {
  auto target = symbols.lookupNearestSymbolFrom<TargetOp>(op, ref);
  if (!target)
    return op->emitOpError() << "'" << ref.getValue() << "' is not a " << what;
  if (target.getType() != type)
    return op->emitOpError()
           << "type " << type << " does not match " << what << " '"
           << ref.getValue() << "' of type " << target.getType();
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// Program state and training setup
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  if (getInit() == InitKind::Constant) {
    auto value = getValueAttr();
    if (!value)
      return emitOpError("a constant init needs a value");
    if (value.getType() != getType())
      return emitOpError() << "initial value of type " << value.getType()
                           << " does not match the parameter type "
                           << getType();
  } else if (getValueAttr()) {
    return emitOpError("only a constant init takes a value");
  }
  bool random = getInit() == InitKind::Uniform || getInit() == InitKind::Normal;
  if (random != static_cast<bool>(getBoundAttr()))
    return emitOpError("a uniform or normal init needs a bound (the normal's "
                       "standard deviation), and only they take one");
  if (getBoundAttr() && getBoundAttr().getValueAsDouble() < 0)
    return emitOpError("the bound must not be negative");
  if (auto row = getZeroRow()) {
    if (getInit() != InitKind::Normal)
      return emitOpError("only a normal init takes a zero_row");
    if (getTensorType().getRank() != 2 ||
        *row >= static_cast<uint64_t>(getTensorType().getDimSize(0)))
      return emitOpError() << "zero_row " << static_cast<int64_t>(*row)
                           << " is not a row of " << getType();
  }
  if (static_cast<bool>(getOwnerAttr()) != static_cast<bool>(getGroupAttr()))
    return emitOpError("an owner needs a group index");
  if (shape::hasBatch(shapeOf(getType())))
    return emitOpError("a parameter cannot have the batch dimension");
  return success();
}

LogicalResult ParamOp::verifySymbolUses(SymbolTableCollection &symbols) {
  if (!getOwnerAttr())
    return success();
  auto optimizer =
      symbols.lookupNearestSymbolFrom<OptimizerOp>(*this, getOwnerAttr());
  if (!optimizer)
    return emitOpError() << "owner '" << getOwnerAttr().getValue()
                         << "' is not an optimizer";
  int64_t group = static_cast<int64_t>(*getGroup());
  if (group < 0 || group >= static_cast<int64_t>(optimizer.getGroups().size()))
    return emitOpError() << "group " << group << " is out of range: '"
                         << getOwnerAttr().getValue() << "' has "
                         << optimizer.getGroups().size() << " groups";
  return success();
}

LogicalResult BufferOp::verify() {
  if (getValue().getType() != getType())
    return emitOpError() << "initial value of type " << getValue().getType()
                         << " does not match the buffer type " << getType();
  return success();
}

namespace {
bool hasHyperKind(Attribute value, HyperKind kind) {
  switch (kind) {
  case HyperKind::Float:
    return isa<FloatAttr>(value);
  case HyperKind::Bool:
    return isa<BoolAttr>(value);
  case HyperKind::Pair: {
    auto pair = dyn_cast<ArrayAttr>(value);
    return pair && pair.size() == 2 && isa<FloatAttr>(pair[0]) &&
           isa<FloatAttr>(pair[1]);
  }
  }
  return false;
}
} // namespace

LogicalResult OptimizerOp::verify() {
  if (getGroups().empty())
    return emitOpError("needs at least one parameter group");
  const OptimizerSchema &schema = optimizerSchema(getKind());
  for (auto [index, group] : llvm::enumerate(getGroups())) {
    for (NamedAttribute entry : cast<DictionaryAttr>(group)) {
      const HyperParameter *hyper = findHyperParameter(schema, entry.getName());
      if (!hyper)
        return emitOpError() << "group " << index << ": "
                             << stringifyOptimizerKind(getKind())
                             << " has no hyper-parameter '" << entry.getName().strref()
                             << "'";
      if (!hasHyperKind(entry.getValue(), hyper->kind))
        return emitOpError() << "group " << index << ": '"
                             << entry.getName().strref() << "' has the wrong kind of value";
      if (auto f = dyn_cast<FloatAttr>(entry.getValue());
          f && f.getValueAsDouble() < 0)
        return emitOpError() << "group " << index << ": '"
                             << entry.getName().strref() << "' must not be negative";
    }
    if (!cast<DictionaryAttr>(group).get("lr"))
      return emitOpError() << "group " << index << " has no 'lr'";
  }
  return success();
}

LogicalResult ClipGradNormOp::verify() {
  if (getMaxNorm().convertToDouble() <= 0)
    return emitOpError("max_norm must be positive");
  if (getNormType().convertToDouble() <= 0)
    return emitOpError("norm_type must be positive");
  return success();
}

LogicalResult ClipGradValueOp::verify() {
  if (getClipValue().convertToDouble() <= 0)
    return emitOpError("clip_value must be positive");
  return success();
}

namespace {
/// A clip's `for @opt` must name an optimizer.
LogicalResult verifyClipOwner(Operation *op, FlatSymbolRefAttr optimizer,
                              SymbolTableCollection &symbols) {
  if (optimizer && !symbols.lookupNearestSymbolFrom<OptimizerOp>(op, optimizer))
    return op->emitOpError() << "'" << optimizer.getValue()
                             << "' is not an optimizer";
  return success();
}
} // namespace

LogicalResult ClipGradNormOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyClipOwner(*this, getOptimizerAttr(), symbols);
}

LogicalResult ClipGradValueOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyClipOwner(*this, getOptimizerAttr(), symbols);
}

LogicalResult LRScheduleOp::verify() {
  if (!runtime::findScheduleSchema(getKind().str()))
    return emitOpError() << "unknown schedule '" << getKind() << "'";
  return success();
}

LogicalResult LRScheduleOp::verifySymbolUses(SymbolTableCollection &symbols) {
  if (!symbols.lookupNearestSymbolFrom<OptimizerOp>(*this, getOptimizerAttr()))
    return emitOpError() << "'" << getOptimizer() << "' is not an optimizer";
  return success();
}

LogicalResult
AdvanceCounterOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyStateUse<BufferOp>(*this, getCounterAttr(), getType(), symbols,
                                  "buffer");
}

LogicalResult ReadParamOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyStateUse<ParamOp>(*this, getParamAttr(), getType(), symbols,
                                 "parameter");
}

LogicalResult WriteParamOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyStateUse<ParamOp>(*this, getParamAttr(), getValue().getType(),
                                 symbols, "parameter");
}

LogicalResult ReadBufferOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyStateUse<BufferOp>(*this, getBufferAttr(), getType(), symbols,
                                  "buffer");
}

LogicalResult WriteBufferOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyStateUse<BufferOp>(*this, getBufferAttr(),
                                  getValue().getType(), symbols, "buffer");
}

//===----------------------------------------------------------------------===//
// Layer-level ops
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  return checkResult(*this,
                     shape::linear(shapeOf(getInput().getType()),
                                   shapeOf(getWeight().getType()),
                                   optionalShape(getBias())),
                     getType());
}

LogicalResult Conv2dOp::verify() {
  auto g = geometryOf(*this, getStride(), getPadding(), getDilation());
  if (failed(g))
    return failure();
  return checkResult(*this,
                     shape::conv2d(shapeOf(getInput().getType()),
                                   shapeOf(getWeight().getType()),
                                   optionalShape(getBias()), *g),
                     getType());
}

namespace {
/// Reads kernel, stride and padding of max_pool2d and its gradient and
/// infers the pooled shape of `input`.
shape::Inferred pooledShape(Operation *op, RankedTensorType input,
                            ArrayRef<int64_t> kernel, ArrayRef<int64_t> stride,
                            ArrayRef<int64_t> padding) {
  if (kernel.size() != 2 || stride.size() != 2 || padding.size() != 2)
    return shape::Inferred::fail(
        "expects 2 kernel sizes, 2 strides and 2 paddings (rows, columns)");
  auto rule = isa<AvgPool2dOp, AvgPool2dGradOp>(op) ? shape::avgPool2d
                                                    : shape::maxPool2d;
  return rule(shapeOf(input), {kernel[0], kernel[1]}, {stride[0], stride[1]},
              {padding[0], padding[1]});
}
} // namespace

/// A pooling op's result type is its input pooled.
template <class PoolOp> static LogicalResult verifyPool(PoolOp op) {
  return checkResult(op,
                     pooledShape(op, op.getInput().getType(), op.getKernel(),
                                 op.getStride(), op.getPadding()),
                     op.getType());
}

LogicalResult MaxPool2dOp::verify() { return verifyPool(*this); }

LogicalResult AvgPool2dOp::verify() { return verifyPool(*this); }

LogicalResult AvgPool2dGradOp::verify() {
  shape::Inferred pooled =
      pooledShape(*this, getType(), getKernel(), getStride(), getPadding());
  if (!pooled.ok())
    return emitOpError() << pooled.error;
  if (pooled.shape != shapeOf(getGradOutput().getType()))
    return emitOpError() << "avg_pool2d of the result type gives "
                         << shape::str(pooled.shape)
                         << ", not the grad_output shape "
                         << shape::str(shapeOf(getGradOutput().getType()));
  return success();
}

LogicalResult MaxPool2dGradOp::verify() {
  if (getType() != getInput().getType())
    return emitOpError() << "result type " << getType()
                         << " must be the input type " << getInput().getType();
  shape::Inferred pooled = pooledShape(*this, getInput().getType(), getKernel(),
                                       getStride(), getPadding());
  if (!pooled.ok())
    return emitOpError() << pooled.error;
  if (pooled.shape != shapeOf(getGradOutput().getType()))
    return emitOpError() << "max_pool2d of the input gives "
                         << shape::str(pooled.shape)
                         << ", not the grad_output shape "
                         << shape::str(shapeOf(getGradOutput().getType()));
  return success();
}

LogicalResult DropoutOp::verify() {
  double p = getP().convertToDouble();
  if (p < 0 || p >= 1)
    return emitOpError() << "p must be in [0, 1), got " << p;
  if (getTraining() && !getKey())
    return emitOpError("in training mode needs a random-number key");
  if (getStream() < 0)
    return emitOpError("stream must not be negative");
  return success();
}

LogicalResult BatchNormOp::verify() {
  shape::Shape x = shapeOf(getInput().getType());
  for (Value channel : {getWeight(), getBias(), getRunningMean(),
                        getRunningVar(), getNewRunningMean(),
                        getNewRunningVar(), getBatchMean(), getBatchVar()}) {
    if (!channel)
      continue;
    shape::Inferred rule = shape::batchNorm(x, shapeOf(channel.getType()));
    if (!rule.ok())
      return emitOpError() << rule.error;
  }
  if (getResult().getType() != getInput().getType())
    return emitOpError("result type must equal the input type");
  if (getEps().convertToDouble() <= 0)
    return emitOpError("eps must be positive");
  if (std::optional<APFloat> momentum = getMomentum()) {
    double m = momentum->convertToDouble();
    if (m < 0 || m > 1)
      return emitOpError("momentum must be in [0, 1]");
  } else if (getTraining() && !getCount()) {
    return emitOpError("without momentum (a cumulative average) needs the "
                       "count of batches tracked in training mode");
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Primitive tensor ops
//===----------------------------------------------------------------------===//

ParseResult ConstantOp::parse(OpAsmParser &parser, OperationState &result) {
  ElementsAttr value;
  if (parser.parseOptionalAttrDict(result.attributes) ||
      parser.parseAttribute(value, "value", result.attributes))
    return failure();
  result.addTypes(value.getType());
  return success();
}

void ConstantOp::print(OpAsmPrinter &printer) {
  printer.printOptionalAttrDict((*this)->getAttrs(), {"value"});
  printer << ' ';
  printer.printAttribute(getValue());
}

LogicalResult ConstantOp::verify() {
  if (shape::hasBatch(shapeOf(getType())))
    return emitOpError("a constant cannot have the batch dimension");
  if (getValue().getType() != getType())
    return emitOpError() << "value of type " << getValue().getType()
                         << " does not match the result type " << getType();
  return success();
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

namespace {
LogicalResult verifyBroadcastBinary(Operation *op) {
  return checkResult(op,
                     shape::broadcast(shapeOf(op->getOperand(0).getType()),
                                      shapeOf(op->getOperand(1).getType())),
                     op->getResult(0).getType());
}
} // namespace

LogicalResult AddOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult SubOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult MulOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult DivOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult MaxOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult PowOp::verify() { return verifyBroadcastBinary(*this); }
LogicalResult CompareOp::verify() { return verifyBroadcastBinary(*this); }

LogicalResult SelectOp::verify() {
  shape::Inferred values = shape::broadcast(shapeOf(getLhs().getType()),
                                            shapeOf(getRhs().getType()));
  if (!values.ok())
    return emitOpError() << values.error;
  return checkResult(*this,
                     shape::broadcast(shapeOf(getCondition().getType()), values.shape),
                     getType());
}

LogicalResult NumelOp::verify() {
  shape::Inferred reduced =
      shape::reduce(shapeOf(getInput().getType()),
                    std::vector<int64_t>(getAxes().begin(), getAxes().end()),
                    /*keepDims=*/false);
  if (!reduced.ok())
    return emitOpError() << reduced.error;
  return success();
}

LogicalResult ReshapeOp::verify() {
  if (getInput().getType().getElementType() != getType().getElementType())
    return emitOpError("reshape cannot change the element type");
  return checkResult(*this,
                     shape::reshape(shapeOf(getInput().getType()),
                                    shapeOf(getType())),
                     getType());
}

LogicalResult TransposeOp::verify() {
  return checkResult(*this,
                     shape::transpose(shapeOf(getInput().getType()),
                                      std::vector<int64_t>(getPerm().begin(),
                                                           getPerm().end())),
                     getType());
}

namespace {
/// slice and slice_grad: `part` is `whole` with `part`'s size at `axis`,
/// which lies in it from `start`.
LogicalResult verifySlice(Operation *op, RankedTensorType whole,
                          RankedTensorType part, uint64_t axis, uint64_t start) {
  if (axis >= static_cast<uint64_t>(whole.getRank()) || whole.getRank() != part.getRank())
    return op->emitOpError() << "axis " << static_cast<int64_t>(axis)
                             << " is out of range for " << whole << " and " << part;
  const int a = static_cast<int>(axis);
  if (whole.isDynamicDim(a) || part.isDynamicDim(a))
    return op->emitOpError() << "the sliced axis " << a << " must be static";
  for (int d = 0; d < whole.getRank(); ++d)
    if (d != a && whole.getDimSize(d) != part.getDimSize(d))
      return op->emitOpError() << shape::str(shapeOf(part)) << " is not a slice of "
                               << shape::str(shapeOf(whole)) << " along axis " << a;
  if (start + static_cast<uint64_t>(part.getDimSize(a)) >
      static_cast<uint64_t>(whole.getDimSize(a)))
    return op->emitOpError() << "elements [" << start << ", "
                             << start + part.getDimSize(a) << ") along axis " << a
                             << " are not inside " << shape::str(shapeOf(whole));
  return success();
}
} // namespace

LogicalResult SliceOp::verify() {
  return verifySlice(*this, getInput().getType(), getType(), getAxis(), getStart());
}

LogicalResult SliceGradOp::verify() {
  return verifySlice(*this, getType(), getGradOutput().getType(), getAxis(), getStart());
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one operand");
  RankedTensorType result = getType();
  uint64_t offset = 0;
  for (Value input : getInputs()) {
    if (failed(verifySlice(*this, result, cast<RankedTensorType>(input.getType()),
                           getAxis(), offset)))
      return failure();
    offset += cast<RankedTensorType>(input.getType()).getDimSize(getAxis());
  }
  if (offset != static_cast<uint64_t>(result.getDimSize(getAxis())))
    return emitOpError() << "the operands' sizes along axis " << getAxis() << " add up to "
                         << offset << ", not " << result.getDimSize(getAxis());
  return success();
}

LogicalResult LinearWeightGradOp::verify() {
  shape::Shape dy = shapeOf(getGradOutput().getType());
  shape::Shape x = shapeOf(getInput().getType());
  shape::Shape w = shapeOf(getType());
  if (dy.size() < 2 || dy.size() != x.size() ||
      !std::equal(dy.begin(), dy.end() - 1, x.begin()))
    return emitOpError() << "grad_output " << shape::str(dy) << " and input "
                         << shape::str(x)
                         << " must have the same leading dimensions";
  if (w != shape::Shape{dy.back(), x.back()})
    return emitOpError() << "result " << shape::str(w) << " must be ["
                         << dy.back() << ", " << x.back() << "]";
  return success();
}

LogicalResult MatmulOp::verify() {
  return checkResult(*this,
                     shape::matmul(shapeOf(getLhs().getType()),
                                   shapeOf(getRhs().getType()),
                                   getTransposeLhs(), getTransposeRhs()),
                     getType());
}

Value firn::buildCausalMask(OpBuilder &b, Location loc, int64_t l, int64_t s) {
  std::vector<float> mask(static_cast<size_t>(l * s), 0.0f);
  for (int64_t i = 0; i < l; ++i)
    for (int64_t j = i + 1; j < s; ++j)
      mask[static_cast<size_t>(i * s + j)] = -std::numeric_limits<float>::infinity();
  auto type = RankedTensorType::get({l, s}, b.getF32Type());
  return b.create<ConstantOp>(loc, DenseElementsAttr::get(type, ArrayRef<float>(mask)));
}

LogicalResult AttentionOp::verify() {
  const shape::Shape q = shapeOf(getQuery().getType()), k = shapeOf(getKey().getType()),
                     v = shapeOf(getValue().getType());
  const size_t r = q.size();
  if (r < 2 || k.size() != r || v.size() != r)
    return emitOpError("takes query, key and value of the same rank, at least 2");
  if (!std::equal(q.begin(), q.end() - 2, k.begin()) ||
      !std::equal(q.begin(), q.end() - 2, v.begin()))
    return emitOpError("query, key and value must share their leading dimensions");
  if (q[r - 1] != k[r - 1])
    return emitOpError("query and key must have the same last dimension");
  if (k[r - 2] != v[r - 2])
    return emitOpError("key and value must have as many positions");
  if (getCausal() && (q[r - 2] == shape::kBatch || k[r - 2] == shape::kBatch))
    return emitOpError("a causal mask needs static positions");
  shape::Shape out = q;
  out[r - 1] = v[r - 1];
  return checkResult(*this, shape::Inferred{out, ""}, getType());
}

namespace {
template <typename ReduceOp>
LogicalResult verifyReduce(ReduceOp op) {
  return checkResult(op,
                     shape::reduce(shapeOf(op.getInput().getType()),
                                   std::vector<int64_t>(op.getAxes().begin(),
                                                        op.getAxes().end()),
                                   op.getKeepdims()),
                     op.getType());
}
} // namespace

LogicalResult ReduceSumOp::verify() { return verifyReduce(*this); }
LogicalResult ReduceMeanOp::verify() { return verifyReduce(*this); }
LogicalResult ReduceMaxOp::verify() { return verifyReduce(*this); }

LogicalResult BroadcastLikeOp::verify() {
  shape::Shape from = shapeOf(getInput().getType());
  shape::Shape to = shapeOf(getLike().getType());
  if (!shape::broadcastsTo(from, to))
    return emitOpError() << shape::str(from) << " does not broadcast to "
                         << shape::str(to);
  if (shapeOf(getType()) != to)
    return emitOpError() << "result shape " << shape::str(shapeOf(getType()))
                         << " must be the shape of 'like', " << shape::str(to);
  return success();
}

namespace {
LogicalResult verifyAxis(Operation *op, int64_t axis, RankedTensorType type) {
  if (axis < 0 || axis >= type.getRank())
    return op->emitOpError() << "axis " << axis << " is out of range for "
                             << type;
  return success();
}
} // namespace

LogicalResult SoftmaxOp::verify() {
  return verifyAxis(*this, getAxis(), getType());
}
LogicalResult LogSoftmaxOp::verify() {
  return verifyAxis(*this, getAxis(), getType());
}

LogicalResult OneHotOp::verify() {
  RankedTensorType indices = getIndices().getType();
  if (!indices.getElementType().isInteger(64) || indices.getRank() < 1)
    return emitOpError() << "indices must be an i64 tensor [N, d...], got "
                         << indices;
  // [N, d...] -> [N, C, d...].
  shape::Shape result = shapeOf(getType());
  if (result.size() == static_cast<size_t>(indices.getRank()) + 1)
    result.erase(result.begin() + 1);
  if (result != shapeOf(indices))
    return emitOpError() << "result must be the indices' shape "
                         << shape::str(shapeOf(indices))
                         << " with the classes at dimension 1, got " << getType();
  return success();
}

namespace {
/// embedding and embedding_grad: i64 indices, a [rows, dim] table, values
/// of the indices' shape + [dim], and a padding row inside the table.
LogicalResult verifyEmbedding(Operation *op, RankedTensorType table,
                              RankedTensorType indices, RankedTensorType values,
                              std::optional<uint64_t> paddingIdx) {
  if (!indices.getElementType().isInteger(64))
    return op->emitOpError() << "indices must be i64, got " << indices;
  if (table.getRank() != 2 || table.isDynamicDim(0) || table.isDynamicDim(1))
    return op->emitOpError() << "the table must be a static [rows, dim] tensor, got "
                             << table;
  shape::Shape expected = shapeOf(indices);
  expected.push_back(table.getDimSize(1));
  if (shapeOf(values) != expected)
    return op->emitOpError() << "values must be " << shape::str(expected)
                             << " (the indices' shape and the table's width), got "
                             << shape::str(shapeOf(values));
  if (paddingIdx && *paddingIdx >= static_cast<uint64_t>(table.getDimSize(0)))
    return op->emitOpError() << "padding_idx " << static_cast<int64_t>(*paddingIdx)
                             << " is not a row of the table (" << table.getDimSize(0)
                             << " rows)";
  return success();
}
} // namespace

LogicalResult EmbeddingOp::verify() {
  return verifyEmbedding(*this, getWeight().getType(), getIndices().getType(),
                         getType(), getPaddingIdx());
}

LogicalResult EmbeddingGradOp::verify() {
  return verifyEmbedding(*this, getType(), getIndices().getType(),
                         getGradOutput().getType(), getPaddingIdx());
}

LogicalResult Conv2dGradInputOp::verify() {
  auto g = geometryOf(*this, getStride(), getPadding(), getDilation());
  if (failed(g))
    return failure();
  // The input shape is right when convolving it reproduces grad_output.
  shape::Inferred forward = shape::conv2d(
      shapeOf(getType()), shapeOf(getWeight().getType()), std::nullopt, *g);
  if (!forward.ok())
    return emitOpError() << forward.error;
  shape::Shape dy = shapeOf(getGradOutput().getType());
  if (forward.shape != dy)
    return emitOpError() << "conv2d of the result shape "
                         << shape::str(shapeOf(getType())) << " gives "
                         << shape::str(forward.shape)
                         << ", not the grad_output shape " << shape::str(dy);
  return success();
}

LogicalResult Conv2dGradWeightOp::verify() {
  auto g = geometryOf(*this, getStride(), getPadding(), getDilation());
  if (failed(g))
    return failure();
  shape::Inferred forward =
      shape::conv2d(shapeOf(getInput().getType()), shapeOf(getType()),
                    std::nullopt, *g);
  if (!forward.ok())
    return emitOpError() << forward.error;
  shape::Shape dy = shapeOf(getGradOutput().getType());
  if (forward.shape != dy)
    return emitOpError() << "conv2d with a weight of the result shape "
                         << shape::str(shapeOf(getType())) << " gives "
                         << shape::str(forward.shape)
                         << ", not the grad_output shape " << shape::str(dy);
  return success();
}

#define GET_OP_CLASSES
#include "firn/Dialect/FirnOps.cpp.inc"
