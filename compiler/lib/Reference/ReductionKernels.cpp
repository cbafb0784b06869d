//===- ReductionKernels.cpp - Sums, means, maxima, softmax -----------------===//
//
// The reference kernels of the reductions: sums, means and maxima over
// given axes, element counts, softmax and log_softmax along one axis, and
// BatchNorm (its statistics are reductions over all but the channels).
//
// The kernels know nothing of MLIR; the last section maps the family's ops
// and their attributes onto them (KernelTable.h).
//
//===----------------------------------------------------------------------===//
#include "IndexArithmetic.h"
#include "KernelTable.h"

#include "firn/Dialect/FirnOps.h"

#include <cmath>
#include <limits>

namespace firn::reference {
using namespace detail;

namespace {

//===----------------------------------------------------------------------===//
// Reduction helpers
//===----------------------------------------------------------------------===//

/// Where a reduction sends each input element: `strides` map an input
/// multi-index to the flat offset of its result element (0 along reduced
/// axes), and `count` is how many inputs meet in one result.
struct ReductionPlan {
  Shape resultShape;
  Index strides;
  int64_t count = 1;
  std::string error;
};

ReductionPlan planReduction(const Shape &shape, const std::vector<int64_t> &axes,
                            bool keepDims) {
  ReductionPlan plan;
  std::vector<bool> reduced(shape.size(), axes.empty());
  for (int64_t axis : axes) {
    if (axis < 0 || axis >= static_cast<int64_t>(shape.size()) ||
        reduced[axis]) {
      plan.error = "reduction axis " + std::to_string(axis) +
                   " is out of range or repeated for " + shapeStr(shape);
      return plan;
    }
    reduced[axis] = true;
  }
  // Size-1 kept dimensions do not move any element, so the result's flat
  // layout is that of the kept dimensions alone, with or without keepDims.
  Shape kept;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (reduced[d])
      plan.count *= shape[d];
    else
      kept.push_back(shape[d]);
    if (!reduced[d] || keepDims)
      plan.resultShape.push_back(reduced[d] ? 1 : shape[d]);
  }
  Index keptStrides = stridesOf(kept);
  plan.strides.assign(shape.size(), 0);
  for (size_t d = 0, k = 0; d < shape.size(); ++d)
    if (!reduced[d])
      plan.strides[d] = keptStrides[k++];
  return plan;
}

/// Folds every element into its result element with `combine`, starting
/// from `initial`.
template <typename Fn>
Result reduce(const Tensor &x, const std::vector<int64_t> &axes, bool keepDims,
              double initial, Fn combine) {
  ReductionPlan plan = planReduction(x.shape, axes, keepDims);
  if (!plan.error.empty())
    return Result::fail(plan.error);
  Tensor out = filled(plan.resultShape, initial);
  int64_t flat = 0;
  forEachIndex(x.shape, [&](const Index &index) {
    double &slot = out.data[offsetOf(index, plan.strides)];
    slot = combine(slot, x.data[flat++]);
  });
  return out;
}

/// x viewed as [outer, size, inner] around `axis`, the layout softmax needs.
struct AxisView {
  int64_t outer = 1, size = 1, inner = 1;
};

bool viewAround(const Shape &shape, int64_t axis, AxisView &view) {
  if (axis < 0 || axis >= static_cast<int64_t>(shape.size()))
    return false;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis)
      view.outer *= shape[d];
    else if (d == axis)
      view.size = shape[d];
    else
      view.inner *= shape[d];
  }
  return true;
}

/// Softmax or its log along `axis`, subtracting each slice's maximum first so
/// that exp never overflows (what PyTorch does).
Result softmaxImpl(const Tensor &x, int64_t axis, bool takeLog) {
  AxisView view;
  if (!viewAround(x.shape, axis, view))
    return Result::fail("axis " + std::to_string(axis) +
                        " is out of range for " + shapeStr(x.shape));
  Tensor out = filled(x.shape, 0.0);
  for (int64_t o = 0; o < view.outer; ++o) {
    for (int64_t i = 0; i < view.inner; ++i) {
      auto at = [&](int64_t k) { return (o * view.size + k) * view.inner + i; };
      double maxValue = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < view.size; ++k)
        maxValue = std::max(maxValue, x.data[at(k)]);
      double sum = 0.0;
      for (int64_t k = 0; k < view.size; ++k)
        sum += std::exp(x.data[at(k)] - maxValue);
      for (int64_t k = 0; k < view.size; ++k) {
        double shifted = x.data[at(k)] - maxValue;
        out.data[at(k)] =
            takeLog ? shifted - std::log(sum) : std::exp(shifted) / sum;
      }
    }
  }
  return out;
}

} // namespace

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

Result reduceSum(const Tensor &x, const std::vector<int64_t> &axes,
                 bool keepDims) {
  return reduce(x, axes, keepDims, 0.0,
                [](double acc, double v) { return acc + v; });
}

Result reduceMean(const Tensor &x, const std::vector<int64_t> &axes,
                  bool keepDims) {
  Result sum = reduceSum(x, axes, keepDims);
  if (!sum.ok())
    return sum;
  // Dividing by 0 for an empty reduction gives NaN, as torch.mean does.
  double count = static_cast<double>(planReduction(x.shape, axes, keepDims).count);
  for (double &v : sum.value.data)
    v /= count;
  return sum;
}

Result reduceMax(const Tensor &x, const std::vector<int64_t> &axes,
                 bool keepDims) {
  ReductionPlan plan = planReduction(x.shape, axes, keepDims);
  if (plan.error.empty() && plan.count == 0)
    return Result::fail("max over no elements of " + shapeStr(x.shape));
  // torch.amax propagates NaN: once a slot is NaN, no comparison replaces it.
  return reduce(x, axes, keepDims, -std::numeric_limits<double>::infinity(),
                [](double acc, double v) {
                  return std::isnan(v) || v > acc ? v : acc;
                });
}

Result numel(const Tensor &x, const std::vector<int64_t> &axes) {
  ReductionPlan plan = planReduction(x.shape, axes, /*keepDims=*/false);
  if (!plan.error.empty())
    return Result::fail(plan.error);
  return scalar(static_cast<double>(plan.count));
}

Result softmax(const Tensor &x, int64_t axis) {
  return softmaxImpl(x, axis, /*takeLog=*/false);
}

Result logSoftmax(const Tensor &x, int64_t axis) {
  return softmaxImpl(x, axis, /*takeLog=*/true);
}

//===----------------------------------------------------------------------===//
// Batch norm
//===----------------------------------------------------------------------===//

BatchNormResult batchNorm(const Tensor &x, const Tensor *weight,
                          const Tensor *bias, const Tensor &runningMean,
                          const Tensor &runningVar, double eps,
                          double momentum, bool training) {
  BatchNormResult out;
  if (x.shape.size() < 2) {
    out.error = "batch_norm input must be [N, C, ...], got " + shapeStr(x.shape);
    return out;
  }
  int64_t n = x.shape[0], channels = x.shape[1];
  Shape channelShape = {channels};
  for (const Tensor *t : {weight, bias, &runningMean, &runningVar})
    if (t && t->shape != channelShape) {
      out.error = "batch_norm per-channel tensor " + shapeStr(t->shape) +
                  " does not fit input " + shapeStr(x.shape);
      return out;
    }
  // x viewed as [n, channels, inner]: statistics run over n and inner.
  int64_t inner = numelOf(Shape(x.shape.begin() + 2, x.shape.end()));
  int64_t count = n * inner;
  auto at = [&](int64_t s, int64_t c, int64_t k) {
    return (s * channels + c) * inner + k;
  };
  if (training && count <= 1) {
    out.error = "expected more than 1 value per channel when training, got "
                "input " + shapeStr(x.shape);
    return out;
  }

  std::vector<double> mean = runningMean.data, var = runningVar.data;
  out.runningMean = runningMean;
  out.runningVar = runningVar;
  if (training) {
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0.0;
      for (int64_t s = 0; s < n; ++s)
        for (int64_t k = 0; k < inner; ++k)
          sum += x.data[at(s, c, k)];
      mean[c] = sum / static_cast<double>(count);
      double squares = 0.0;
      for (int64_t s = 0; s < n; ++s)
        for (int64_t k = 0; k < inner; ++k) {
          double diff = x.data[at(s, c, k)] - mean[c];
          squares += diff * diff;
        }
      // Normalization uses the biased variance, the running estimate the
      // unbiased one (PyTorch's documented behaviour).
      var[c] = squares / static_cast<double>(count);
      double unbiased = squares / static_cast<double>(count - 1);
      out.runningMean.data[c] =
          (1 - momentum) * runningMean.data[c] + momentum * mean[c];
      out.runningVar.data[c] =
          (1 - momentum) * runningVar.data[c] + momentum * unbiased;
    }
  }

  out.mean = Tensor{channelShape, mean};
  out.var = Tensor{channelShape, var};
  out.result = filled(x.shape, 0.0);
  for (int64_t s = 0; s < n; ++s)
    for (int64_t c = 0; c < channels; ++c) {
      double scale = 1.0 / std::sqrt(var[c] + eps);
      double gamma = weight ? weight->data[c] : 1.0;
      double beta = bias ? bias->data[c] : 0.0;
      for (int64_t k = 0; k < inner; ++k)
        out.result.data[at(s, c, k)] =
            (x.data[at(s, c, k)] - mean[c]) * scale * gamma + beta;
    }
  return out;
}

//===----------------------------------------------------------------------===//
// Op kernels
//===----------------------------------------------------------------------===//

void registerReductionKernels(KernelTable &table) {
  table.add<ReduceSumOp>([](ReduceSumOp o, const In &in) {
    return reduceSum(in(o.getInput()), o.getAxes(), o.getKeepdims());
  });
  table.add<ReduceMeanOp>([](ReduceMeanOp o, const In &in) {
    return reduceMean(in(o.getInput()), o.getAxes(), o.getKeepdims());
  });
  table.add<ReduceMaxOp>([](ReduceMaxOp o, const In &in) {
    return reduceMax(in(o.getInput()), o.getAxes(), o.getKeepdims());
  });
  table.add<NumelOp>([](NumelOp o, const In &in) {
    return numel(in(o.getInput()), o.getAxes());
  });
  table.add<SoftmaxOp>([](SoftmaxOp o, const In &in) {
    return softmax(in(o.getInput()), static_cast<int64_t>(o.getAxis()));
  });
  table.add<LogSoftmaxOp>([](LogSoftmaxOp o, const In &in) {
    return logSoftmax(in(o.getInput()), static_cast<int64_t>(o.getAxis()));
  });
  table.add<BatchNormOp>([](BatchNormOp o, const In &in) {
    // momentum=None: the cumulative average, 1 / num_batches_tracked after
    // this batch (training only, where the verifier asks for the count; eval
    // mode never moves the statistics, whatever the momentum).
    double momentum = 0.0;
    if (o.getMomentum())
      momentum = o.getMomentum()->convertToDouble();
    else if (o.getCount())
      momentum = 1.0 / (in(o.getCount()).data.at(0) + 1);
    BatchNormResult out =
        batchNorm(in(o.getInput()), in.optional(o.getWeight()),
                  in.optional(o.getBias()), in(o.getRunningMean()),
                  in(o.getRunningVar()), o.getEps().convertToDouble(), momentum,
                  o.getTraining());
    if (!out.ok())
      return Results::fail(out.error);
    return Results({std::move(out.result), std::move(out.runningMean),
                    std::move(out.runningVar), std::move(out.mean),
                    std::move(out.var)});
  });
}

} // namespace firn::reference
