//===- ZeroSharding.h - The optimizer state split across ranks --*- C++ -*-===//
//
// ZeRO stage 1 (Rajbhandari et al., 2020; PyTorch's ZeroRedundancyOptimizer
// shards the same way, a parameter at a time): in data-parallel training
// every rank would hold the whole optimizer state (Adam's two moments:
// twice the parameters) and do the whole update. With --zero1 each rank
// updates only the parameters it owns and holds only their optimizer
// state; after the step the owners send the updated parameters to every
// rank. The gradients are averaged as without it (DataParallel.h), so the
// parameters are those of plain data parallelism.
//
// The plan comes from the model table alone, so every rank computes the
// same one: optimizer_step's kernels (firn_function_desc.kernels) that
// write only parameters and `optim/` buffers are updates; kernels that
// share a state they write belong together (a parameter's update is one
// group); every other kernel (clipping, which writes gradients) runs on
// every rank. A state only one group touches, and no other function, is
// that group's private state (the moments, a parameter's step count): only
// its owner holds it. Groups go to the least loaded rank, largest first
// (the bytes of their private state), as ZeroRedundancyOptimizer does.
//
// When only its owner's updates read a gradient (no clipping) and nothing
// else will (the trainer checks: zero_grad clears every step, no
// --save-grads, no --on-nonfinite=skip), the gradients are reduce-scattered
// instead of allreduced: each rank receives the mean of its own parameters'
// gradients only, so gradients and parameters together travel as much as
// one allreduce, as in the ZeRO paper.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_ZEROSHARDING_H
#define FIRN_RUNTIME_ZEROSHARDING_H

#include "firn/Runtime/Communicator.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/Trainer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace firn::runtime {

struct ShardPlan {
  int ranks = 1;
  /// Per optimizer_step kernel: the rank that runs it, or -1 for every rank.
  std::vector<int> kernelOwner;
  /// Per state: the only rank that holds it, or -1 for every rank.
  std::vector<int> stateOwner;
  /// Per rank: the states it updates that every rank needs (parameters),
  /// sent to every rank after the step.
  std::vector<std::vector<int>> sent;
  /// Per state: for a gradient buffer only one rank's updates read, that
  /// rank; else -1.
  std::vector<int> gradientOwner;
  /// Whether every gradient train_step writes has an owner (no kernel every
  /// rank runs, such as clipping, reads one): then each rank needs only the
  /// mean of its own (a reduce-scatter), else every mean everywhere; and
  /// why not, for the report.
  bool scatterGradients = false;
  std::string whyNotScattered;
  /// The optimizer state (`optim/` buffers) one process holds, and what
  /// each rank holds with the plan.
  int64_t optimizerBytes = 0;
  std::vector<int64_t> rankOptimizerBytes;
};

/// The plan for `ranks` ranks; false with `error` when the model's
/// optimizer step cannot be split (no optimizer, or a table that does not
/// list its kernels).
bool planShards(const firn_model_desc &desc, int ranks, ShardPlan &plan,
                std::string &error);

/// Whether the gradients travel as a reduce-scatter with `plan`, given
/// whether anything outside the optimizer step reads them all
/// (`readElsewhere`: zero_grad none, --save-grads, --on-nonfinite=skip);
/// `note` says which and why, for the end-of-training report.
bool scattersGradients(const ShardPlan &plan, bool readElsewhere,
                       std::string &note);

/// Runs a sharded optimizer step: the kernels the plan gives this rank.
class ShardedOptimizer : public KernelProgress {
public:
  ShardedOptimizer(ModelState &state, Communicator &comm, ShardPlan plan);

  /// Frees the private state of the other ranks' parameters.
  void releaseOthers();
  /// This rank's updates, then every rank's updated parameters everywhere.
  bool step(KernelRunner &runner, std::string &error);
  /// Brings every private state to rank 0 (for a checkpoint); rank 0
  /// holds it all afterwards, until releaseOthers.
  bool gatherToLeader(std::string &error);

  bool runs(int kernel) override;
  const ShardPlan &plan() const { return shards; }
  /// The optimizer state (`optim/` buffers) this rank holds now, counted
  /// from its tensors.
  int64_t heldOptimizerBytes() const;

private:
  ModelState &state;
  Communicator &comm;
  ShardPlan shards;
};

} // namespace firn::runtime

#endif // FIRN_RUNTIME_ZEROSHARDING_H
