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
// the gradient buffers train_step writes, in the order its kernels write
// them (backward: last layer first), packed into flat buckets (the first
// of 1 MB, as DDP's, the others of about `bucketBytes`; by default a
// quarter of the gradients, between 1 MB and DDP's 25 MB, so that a small
// model's gradients do not all wait in one bucket for the last kernel:
// bench/distributed measured the MLP's exposed wait fall from 1.0 to 0.3 ms
// per step with 1 MB buckets instead of 25). During the
// step's last micro-batch a bucket's sum (MPI_Iallreduce) starts as soon
// as the kernel that writes its last gradient returns, so it travels while
// the rest of the backward pass runs (KernelProgress); what is left starts
// when train_step returns. Frozen parameters have no gradient buffer once
// pruned (PruneFrozen.cpp), so they communicate nothing. Gradient
// accumulation communicates once per optimizer step, after the step's
// last micro-batch (DDP's no_sync for the others).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_DATAPARALLEL_H
#define FIRN_RUNTIME_DATAPARALLEL_H

#include "firn/Runtime/Communicator.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/Trainer.h"

#include <string>
#include <vector>

namespace firn::runtime {

/// DDP's bucket sizes (bucket_cap_mb = 25; the first bucket 1 MB, so that
/// communication starts early): the largest default and the first.
constexpr int64_t kMaxDefaultBucketBytes = int64_t(25) << 20;
constexpr int64_t kFirstBucketBytes = int64_t(1) << 20;

/// The bucket size for `gradientBytes` of gradients when none is given.
int64_t defaultBucketBytes(int64_t gradientBytes);

/// A gradient buffer train_step writes, and the index of the output port
/// that writes it last.
struct CommunicatedGradient {
  int state;
  int output;
};

/// What a data-parallel step communicates: the gradient buffers train_step
/// writes, in the order it writes them.
std::vector<CommunicatedGradient>
communicatedGradients(const firn_model_desc &desc);

/// How much of the communication the backward pass hid, over the steps so
/// far.
struct OverlapStats {
  int64_t steps = 0;
  int64_t buckets = 0;      ///< Buckets sent, all steps together.
  int64_t startedEarly = 0; ///< Of those, started before train_step returned.
  double waitSeconds = 0;   ///< Spent after train_step returned: packing what
                            ///< was left, waiting, unpacking.
};

class GradientAverager : public KernelProgress {
public:
  /// With `owners` (per state: the rank that updates its parameter, as
  /// ZeroSharding.h plans it) each rank receives only the mean of the
  /// gradients it owns (MPI_Ireduce_scatter, half an allreduce's traffic);
  /// the others keep this rank's own values, which nothing may read.
  GradientAverager(ModelState &state, Communicator &comm,
                   int64_t bucketBytes = 0, // 0: defaultBucketBytes
                   bool overlap = true,
                   const std::vector<int> *owners = nullptr);

  /// Call before the train_step of an optimizer step's last micro-batch,
  /// and pass this averager to it as its KernelProgress: buckets start
  /// while it runs.
  void beginLastMicroBatch();
  /// After that train_step: sends what has not started, waits for every
  /// bucket and replaces each communicated gradient with its mean over the
  /// ranks.
  bool average(std::string &error);

  /// The bytes each rank contributes per optimizer step.
  int64_t bytesPerStep() const { return bytes; }
  size_t buckets() const { return plan.size(); }
  const OverlapStats &stats() const { return overlapStats; }

  void written(int count, HostTensor *const *outputs) override;
  /// SyncBatchNorm's statistics: summed at once (blocking), while the
  /// gradient buckets already sent travel.
  bool sumOverRanks(float *data, int64_t count, std::string &error) override {
    return comm.sum(data, count, error);
  }

private:
  struct Bucket {
    std::vector<CommunicatedGradient> grads; ///< By owner when scattered.
    int lastOutput = -1; ///< The bucket is complete once this is written.
    std::vector<float> flat;
    /// Scattered: the elements each rank owns, and this rank's sums.
    std::vector<int> counts;
    std::vector<float> mine;
  };
  /// Packs the next bucket from `tensorOf(gradient)` and starts its sum.
  template <typename TensorOf> bool startNext(TensorOf tensorOf);

  ModelState &state;
  Communicator &comm;
  const std::vector<int> *owners;
  std::vector<Bucket> plan;
  int64_t bytes = 0;
  bool overlap;
  bool armed = false;
  size_t started = 0; ///< Buckets of this step started so far.
  bool failed = false;
  std::string failure;
  OverlapStats overlapStats;
};

} // namespace firn::runtime

#endif // FIRN_RUNTIME_DATAPARALLEL_H
