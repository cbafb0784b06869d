//===- DataParallel.h - Averaging gradients across the ranks ----*- C++ -*-===//
//
// Data-parallel training as PyTorch's DistributedDataParallel does it: each
// rank computes the gradients of its share of the global batch
// (Dataset::batch with a rank), and before clipping and the optimizer step
// every gradient becomes the mean of the ranks' gradients. Since each
// rank's loss is the mean over its equal share, that mean is the gradient
// of the global batch's mean loss: K ranks take the steps one process
// takes on the whole batch, up to float32 rounding.
//
// GradientAverager does the communication in buckets, as DDP's reducer:
// the gradient buffers train_step writes, last parameter first (the order
// backward produces them), packed into flat buckets of about `bucketBytes`;
// each bucket's sum (MPI_Iallreduce) starts as soon as it is packed, so the
// packing of the next overlaps it. Frozen parameters have no gradient
// buffer once pruned (PruneFrozen.cpp), so they communicate nothing.
// Gradient accumulation communicates once per optimizer step, after the
// step's last micro-batch (DDP's no_sync for the others).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_DATAPARALLEL_H
#define FIRN_RUNTIME_DATAPARALLEL_H

#include "firn/Runtime/Communicator.h"
#include "firn/Runtime/Model.h"

#include <string>
#include <vector>

namespace firn::runtime {

/// DDP's default bucket size (bucket_cap_mb = 25).
constexpr int64_t kDefaultBucketBytes = int64_t(25) << 20;

/// The gradient buffers train_step writes, last first: what a data-parallel
/// step communicates.
std::vector<int> communicatedGradients(const firn_model_desc &desc);

class GradientAverager {
public:
  GradientAverager(ModelState &state, Communicator &comm,
                   int64_t bucketBytes = kDefaultBucketBytes);
  /// Replaces every communicated gradient with its mean over the ranks.
  bool average(std::string &error);
  /// The bytes each rank contributes per optimizer step.
  int64_t bytesPerStep() const { return bytes; }
  size_t buckets() const { return plan.size(); }

private:
  struct Bucket {
    std::vector<int> states;
    std::vector<float> flat;
  };
  ModelState &state;
  Communicator &comm;
  std::vector<Bucket> plan;
  int64_t bytes = 0;
};

} // namespace firn::runtime

#endif // FIRN_RUNTIME_DATAPARALLEL_H
