//===- NormalizationKernels.cpp - batch norm -------------------------------===//
//
// BatchNorm's training and evaluation forward (its gradient is the
// primitives').
//
// The kernels know nothing of MLIR; the last section maps the family's ops
// and their attributes onto them (KernelTable.h).
//
//===----------------------------------------------------------------------===//
#include "KernelTable.h"

#include "firn/Dialect/FirnOps.h"

#include <cmath>
#include <limits>

namespace firn::reference {

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

void registerNormalizationKernels(KernelTable &table) {
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
