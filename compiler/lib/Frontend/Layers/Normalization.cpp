//===- Normalization.cpp - LayerNorm, RMSNorm and the BatchNorms ----------===//
//
// LayerNorm and RMSNorm are composites, written out in primitive ops, so
// that their gradient, reference evaluation and lowering are those of the
// primitives. BatchNorm1d/2d are one fused op (firn.batch_norm: its
// training gradient comes from two batch sums, as PyTorch's
// batch_norm_backward). SyncBatchNorm trains in primitive ops with
// cross-replica sums and evaluates as BatchNorm.
//
//===----------------------------------------------------------------------===//
#include "LayerKind.h"

#include "firn/Dialect/FirnOps.h"

namespace firn {
namespace {

using mlir::Location;
using mlir::RankedTensorType;
using mlir::Value;

struct LayerNormOptions : LayerOptions {
  shape::Shape normalizedShape;
  double eps = 1e-5;
  bool affine = true;
  bool rms = false; ///< RMSNorm: no mean subtracted, no bias.
};

bool declareLayerNorm(LayerDeclaration &d, bool rms) {
  LayerNormOptions o;
  o.rms = rms;
  // normalized_shape: an integer or a tuple/list of them (the trailing
  // dimensions normalized over).
  const ast::Expr *shapeArg = d.get("normalized_shape");
  std::vector<const ast::Expr *> dims = oneOrMany(shapeArg);
  if (dims.empty())
    return d.error(shapeArg->loc, d.arg("normalized_shape") + " names no dimension");
  for (const ast::Expr *e : dims) {
    auto size = readIntAtLeast(e, 1, d.arg("normalized_shape"), d.diags);
    if (!size)
      return false;
    o.normalizedShape.push_back(*size);
  }
  if (!d.flag("elementwise_affine", o.affine))
    return false;
  if (rms) {
    // eps=None (the default): torch.finfo(float32).eps.
    o.eps = 1.1920928955078125e-07;
    if (const ast::Expr *eps = d.get("eps"); eps && !isNone(eps) &&
                                             !d.positiveNumber("eps", o.eps))
      return false;
  } else if (!d.positiveNumber("eps", o.eps)) {
    return false;
  }
  d.setOptions(o);
  if (o.affine)
    d.addParam("weight", o.normalizedShape);
  if (o.affine && !rms)
    d.addParam("bias", o.normalizedShape);
  return true;
}

shape::Inferred layerNormShape(const Layer &layer, const Program &,
                               const shape::Shape &input) {
  const auto &o = layer.optionsAs<LayerNormOptions>();
  const shape::Shape &norm = o.normalizedShape;
  bool fits = input.size() > norm.size() &&
              std::equal(norm.begin(), norm.end(), input.end() - norm.size());
  if (fits)
    return {input, ""};
  return shape::Inferred::fail(std::string(layer.kind->kind) + " over " +
                               shape::str(norm) + " needs an input whose last "
                               "dimensions are " + shape::str(norm) + ", got " +
                               shape::str(input));
}

/// F.layer_norm written in primitive ops: the mean and the biased variance
/// over the normalized (trailing) dimensions, as PyTorch computes them;
/// F.rms_norm the same without the mean.
Value emitLayerNorm(LayerEmitter &e, const Layer &layer, Value x, RankedTensorType type,
                    Location loc) {
  const auto &o = layer.optionsAs<LayerNormOptions>();
  mlir::OpBuilder &b = e.opBuilder();
  Value weight = e.readParam(layer, "weight", loc);
  Value bias = e.readParam(layer, "bias", loc);
  int64_t rank = type.getRank();
  int64_t normalized = static_cast<int64_t>(o.normalizedShape.size());
  llvm::SmallVector<int64_t> axes;
  shape::Shape kept = shapeOf(type);
  for (int64_t a = rank - normalized; a < rank; ++a) {
    axes.push_back(a);
    kept[a] = 1;
  }
  auto keptType = e.f32Tensor(kept);
  auto axesAttr = b.getDenseI64ArrayAttr(axes);
  // RMSNorm: x / sqrt(mean(x^2) + eps), no mean subtracted.
  Value centered = x;
  if (!o.rms) {
    Value mean = b.create<ReduceMeanOp>(loc, keptType, x, axesAttr, b.getUnitAttr());
    centered = b.create<SubOp>(loc, type, x, mean);
  }
  Value squares = b.create<MulOp>(loc, type, centered, centered);
  Value var = b.create<ReduceMeanOp>(loc, keptType, squares, axesAttr, b.getUnitAttr());
  Value eps = e.scalar(static_cast<float>(o.eps), loc);
  Value inv = b.create<RsqrtOp>(loc, b.create<AddOp>(loc, keptType, var, eps).getResult());
  Value y = b.create<MulOp>(loc, type, centered, inv);
  if (weight)
    y = b.create<MulOp>(loc, type, y, weight);
  if (bias)
    y = b.create<AddOp>(loc, type, y, bias);
  return y;
}

enum class BatchNormKind { OneD, TwoD, Sync };

struct BatchNormOptions : LayerOptions {
  BatchNormKind kind = BatchNormKind::TwoD;
  int64_t features = 0;
  double eps = 1e-5, momentum = 0.1;
  bool affine = true;
  /// momentum=None: running statistics are cumulative averages over
  /// num_batches_tracked batches.
  bool cumulativeAverage = false;
};

bool declareBatchNorm(LayerDeclaration &d, BatchNormKind kind) {
  BatchNormOptions o;
  o.kind = kind;
  if (!d.positive("num_features", o.features) || !d.flag("affine", o.affine) ||
      !d.positiveNumber("eps", o.eps))
    return false;
  if (const ast::Expr *momentum = d.get("momentum"); momentum && isNone(momentum)) {
    // PyTorch's momentum=None: a cumulative moving average.
    if (kind == BatchNormKind::Sync)
      return d.error(momentum->loc, "SyncBatchNorm(momentum=None) is not supported "
                                    "yet; give a momentum (PyTorch's default is 0.1)");
    o.cumulativeAverage = true;
  } else if (momentum) {
    if (!d.number("momentum", o.momentum))
      return false;
    if (o.momentum < 0 || o.momentum > 1)
      return d.error(momentum->loc, d.arg("momentum") + " must be in [0, 1]");
  }
  d.setOptions(o);
  if (o.affine) {
    d.addParam("weight", {o.features});
    d.addParam("bias", {o.features});
  }
  d.addBuffer("running_mean", {o.features}, 0.0);
  d.addBuffer("running_var", {o.features}, 1.0);
  // PyTorch's state_dict has it (load_state_dict(strict=True) wants it),
  // and momentum=None divides by it.
  d.addBuffer("num_batches_tracked", {}, 0.0, /*counter=*/true);
  return true;
}

shape::Inferred batchNormShape(const Layer &layer, const Program &,
                               const shape::Shape &input) {
  const auto &o = layer.optionsAs<BatchNormOptions>();
  const size_t rank = input.size();
  // PyTorch's SyncBatchNorm takes [N, C, *] (as BatchNorm1d, 2d and 3d do).
  const char *expects = nullptr;
  if (o.kind == BatchNormKind::TwoD && rank != 4)
    expects = "BatchNorm2d expects [N, C, H, W]";
  else if (o.kind == BatchNormKind::OneD && rank != 2 && rank != 3)
    expects = "BatchNorm1d expects [N, C] or [N, C, L]";
  else if (o.kind == BatchNormKind::Sync && rank < 2)
    expects = "SyncBatchNorm expects [N, C, ...]";
  if (expects)
    return shape::Inferred::fail(std::string(expects) + ", got " + shape::str(input));
  return shape::batchNorm(input, {o.features});
}

/// nn.SyncBatchNorm in training, in primitive ops: BatchNorm's batch
/// statistics over the global batch of a data-parallel job, each a
/// per-rank sum over the batch and the other non-channel dimensions made
/// a sum over the ranks (cross_replica_sum; in one process, BatchNorm
/// itself). As PyTorch's: the biased variance normalizes, the unbiased
/// one (global count) moves the running variance.
Value syncBatchNorm(LayerEmitter &e, const Layer &layer, Value x, RankedTensorType type,
                    Location loc, Value weight, Value bias) {
  const auto &o = layer.optionsAs<BatchNormOptions>();
  mlir::OpBuilder &b = e.opBuilder();
  int64_t rank = type.getRank();
  llvm::SmallVector<int64_t> axes;
  shape::Shape kept(rank, 1);
  kept[1] = o.features;
  for (int64_t a = 0; a < rank; ++a)
    if (a != 1)
      axes.push_back(a);
  auto keptType = e.f32Tensor(kept);
  auto axesAttr = b.getDenseI64ArrayAttr(axes);
  auto globalSum = [&](Value v) -> Value {
    Value local = b.create<ReduceSumOp>(loc, keptType, v, axesAttr, b.getUnitAttr());
    return b.create<CrossReplicaSumOp>(loc, local);
  };
  // The samples per channel over all ranks.
  Value count = globalSum(b.create<BroadcastLikeOp>(loc, type, e.scalar(1.0f, loc), x));
  Value mean = b.create<DivOp>(loc, keptType, globalSum(x), count).getResult();
  Value centered = b.create<SubOp>(loc, type, x, mean);
  Value var = b.create<DivOp>(loc, keptType,
                              globalSum(b.create<MulOp>(loc, type, centered, centered)),
                              count);
  Value inv = b.create<RsqrtOp>(
      loc, b.create<AddOp>(loc, keptType, var, e.scalar(static_cast<float>(o.eps), loc))
               .getResult());
  Value y = b.create<MulOp>(loc, type, centered, inv);
  if (weight)
    y = b.create<MulOp>(loc, type, y, b.create<ReshapeOp>(loc, keptType, weight));
  if (bias)
    y = b.create<AddOp>(loc, type, y, b.create<ReshapeOp>(loc, keptType, bias));

  // Running statistics: (1 - momentum) old + momentum new.
  Value runningMean = e.readBuffer(layer, "running_mean", loc);
  Value runningVar = e.readBuffer(layer, "running_var", loc);
  auto statType = mlir::cast<RankedTensorType>(runningMean.getType());
  Value unbiased = b.create<DivOp>(
      loc, keptType, b.create<MulOp>(loc, keptType, var, count),
      b.create<SubOp>(loc, keptType, count, e.scalar(1.0f, loc)));
  auto moved = [&](Value old, Value batch) -> Value {
    Value keep = b.create<MulOp>(loc, statType, old,
                                 e.scalar(static_cast<float>(1.0 - o.momentum), loc));
    Value add = b.create<MulOp>(loc, statType, b.create<ReshapeOp>(loc, statType, batch),
                                e.scalar(static_cast<float>(o.momentum), loc));
    return b.create<AddOp>(loc, statType, keep, add);
  };
  b.create<WriteBufferOp>(loc, moved(runningMean, mean), layer.name + ".running_mean");
  b.create<WriteBufferOp>(loc, moved(runningVar, unbiased), layer.name + ".running_var");
  b.create<AdvanceCounterOp>(loc, RankedTensorType::get({}, b.getIntegerType(64)),
                             layer.name + ".num_batches_tracked");
  return y;
}

Value emitBatchNorm(LayerEmitter &e, const Layer &layer, Value input, RankedTensorType type,
                    Location loc) {
  const auto &o = layer.optionsAs<BatchNormOptions>();
  mlir::OpBuilder &b = e.opBuilder();
  const bool training = e.isTraining();
  Value weight = e.readParam(layer, "weight", loc);
  Value bias = e.readParam(layer, "bias", loc);
  if (o.kind == BatchNormKind::Sync && training)
    return syncBatchNorm(e, layer, input, type, loc, weight, bias);
  Value mean = e.readBuffer(layer, "running_mean", loc);
  Value var = e.readBuffer(layer, "running_var", loc);
  // Training counts the batch (num_batches_tracked += 1), as PyTorch does
  // in train mode only; momentum=None averages over that count.
  Value count;
  if (training)
    count = b.create<AdvanceCounterOp>(loc, RankedTensorType::get({}, b.getIntegerType(64)),
                                       layer.name + ".num_batches_tracked");
  auto op = b.create<BatchNormOp>(
      loc, mlir::TypeRange{type, mean.getType(), var.getType(), mean.getType(), var.getType()},
      input, weight, bias, mean,
      var, o.cumulativeAverage ? count : Value(), b.getF64FloatAttr(o.eps),
      o.cumulativeAverage ? mlir::FloatAttr() : b.getF64FloatAttr(o.momentum),
      training ? b.getUnitAttr() : mlir::UnitAttr());
  if (training) {
    b.create<WriteBufferOp>(loc, op.getNewRunningMean(), layer.name + ".running_mean");
    b.create<WriteBufferOp>(loc, op.getNewRunningVar(), layer.name + ".running_var");
  }
  return op.getResult();
}

Signature layerNormSignature(const char *kind) {
  return {kind,
          {{"normalized_shape", true}, {"eps"}, {"elementwise_affine"}, {"requires_grad"}},
          3};
}

Signature batchNormSignature(const char *kind) {
  return {kind,
          {{"num_features", true}, {"eps"}, {"momentum"}, {"affine"}, {"requires_grad"}},
          4};
}

} // namespace

void addNormalizationLayers(std::vector<LayerKind> &table) {
  table.push_back({"LayerNorm", layerNormSignature("LayerNorm"),
                   [](LayerDeclaration &d) { return declareLayerNorm(d, false); },
                   onesAndZeros, layerNormShape, emitLayerNorm});
  table.push_back({"RMSNorm", layerNormSignature("RMSNorm"),
                   [](LayerDeclaration &d) { return declareLayerNorm(d, true); },
                   onesAndZeros, layerNormShape, emitLayerNorm});
  table.push_back({"BatchNorm1d", batchNormSignature("BatchNorm1d"),
                   [](LayerDeclaration &d) { return declareBatchNorm(d, BatchNormKind::OneD); },
                   onesAndZeros, batchNormShape, emitBatchNorm});
  table.push_back({"BatchNorm2d", batchNormSignature("BatchNorm2d"),
                   [](LayerDeclaration &d) { return declareBatchNorm(d, BatchNormKind::TwoD); },
                   onesAndZeros, batchNormShape, emitBatchNorm});
  table.push_back({"SyncBatchNorm", batchNormSignature("SyncBatchNorm"),
                   [](LayerDeclaration &d) { return declareBatchNorm(d, BatchNormKind::Sync); },
                   onesAndZeros, batchNormShape, emitBatchNorm});
}

} // namespace firn
