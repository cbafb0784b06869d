//===- Schedules.h - Learning-rate schedules -------------------*- C++ -*-===//
//
// A model's `schedule` declarations reach the runtime as firn_schedule_desc
// (ModelABI.h): a kind, the optimizer it drives, per parameter group the
// state index of the group's lr buffer and its configured rate, and the
// arguments as "name=value;..." with PyTorch's names. The update kernels read
// the lr buffers, so a schedule only has to write new rates into them.
//
// Schedule computes the rates exactly as PyTorch 1.13's scheduler.step() does
// (not the `_get_closed_form_lr` variants, which step(epoch) uses and which
// round differently): the recursive formulas of get_lr(), in double, one step
// at a time, from the current rate of each group:
//   - StepLR(step_size, gamma=0.1), MultiStepLR(milestones, gamma=0.1),
//     ExponentialLR(gamma), CosineAnnealingLR(T_max, eta_min=0),
//     LinearLR(start_factor=1/3, end_factor=1, total_iters=5);
//   - OneCycleLR(max_lr, total_steps | epochs and steps_per_epoch,
//     pct_start=0.3, anneal_strategy=cos|linear, div_factor=25,
//     final_div_factor=1e4), two phases (three_phase=False). PyTorch's
//     default cycle_momentum=True also cycles the optimizer's momentum or
//     beta1, which firn cannot do yet: such a schedule is rejected, and
//     `cycle_momentum=false` must be written;
//   - ReduceLROnPlateau(mode=min|max, factor=0.1, patience=10,
//     threshold=1e-4, threshold_mode=rel|abs, cooldown=0, min_lr=0,
//     eps=1e-8), stepped with a metric.
// Constructing a PyTorch scheduler already takes one step (last_epoch -1 ->
// 0; LinearLR starts at start_factor, OneCycleLR at max_lr / div_factor):
// `start` is that step. ReduceLROnPlateau takes none.
//
// When the training loop (Trainer.cpp) steps them, as PyTorch's usual loop
// does:
//   - OneCycleLR after every optimizer step (its total_steps count optimizer
//     steps); a run that would take more optimizer steps than total_steps is
//     refused before it starts (PyTorch raises on the extra step);
//   - every other kind once per epoch, after the optimizer step that
//     finishes the epoch's last micro-batch. Epochs are counted by micro-batch
//     position in the data stream (Trainer.h), with --steps as with --epochs;
//     an optimizer step whose micro-batches straddle an epoch boundary
//     (accumulation that does not divide the batches per epoch) steps the
//     schedule once after it, for each boundary crossed;
//   - ReduceLROnPlateau, with PyTorch's usual `scheduler.step(val_loss)`,
//     on the loss over the evaluation data (`train --eval-x --eval-y`,
//     evaluated in eval mode after the optimizer step that ends the epoch,
//     as `eval` computes it) when there is evaluation data, and otherwise on
//     the mean training loss of the epoch's micro-batches. When one
//     optimizer step ends several epochs, each of them steps it with the
//     same evaluation loss.
// Schedules that drive the same optimizer step in declaration order on the
// group's shared current rate, as several PyTorch schedulers stepped one
// after the other do; every schedule's base rates are the configured rates
// (PyTorch would take OneCycleLR's max_lr / div_factor as the base of a
// schedule constructed after it).
//
// The rates are kept in double and written to the f32 lr buffers rounded
// (float(lr)). Their state is part of a checkpoint's metadata, strings
// written with 17 significant digits (exact round trips):
//   schedule/<name>/last_epoch        the scheduler's last_epoch;
//   schedule/<name>/lrs               the current rate of each group,
//                                     `,`-separated (the f32 buffers alone
//                                     would not continue the double
//                                     recursion exactly);
//   schedule/<name>/best, num_bad_epochs, cooldown_counter,
//   schedule/<name>/loss_sum, loss_count (ReduceLROnPlateau: the
//                                     plateau state, and the partial sum of
//                                     the current epoch's losses),
// so a resumed run continues exactly as one run would.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_SCHEDULES_H
#define FIRN_RUNTIME_SCHEDULES_H

#include "firn/Runtime/ModelABI.h"
#include "firn/Runtime/ScheduleSchema.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace firn::runtime {

class ModelState;

/// The checkpoint metadata: key -> value.
using Metadata = std::map<std::string, std::string>;

/// One schedule: its options and its state (last_epoch and, for
/// ReduceLROnPlateau, the plateau counters). It computes new rates from the
/// current ones; it holds no rates itself.
class Schedule {
public:
  /// Parses `desc` (kind and options). Fails with an error naming the
  /// schedule for an unknown kind, an unknown, repeated, missing or malformed
  /// option, or a value PyTorch rejects.
  static bool parse(const firn_schedule_desc &desc, Schedule &out,
                    std::string &error);

  const std::string &name() const { return scheduleName; }
  ScheduleKind kind() const { return scheduleKind; }
  /// OneCycleLR: steps after every optimizer step, not once per epoch.
  bool perOptimizerStep() const {
    return scheduleKind == ScheduleKind::OneCycleLR;
  }
  /// ReduceLROnPlateau: step() needs a metric.
  bool needsMetric() const {
    return scheduleKind == ScheduleKind::ReduceLROnPlateau;
  }
  /// OneCycleLR's total_steps; 0 for the other kinds.
  int64_t totalSteps() const { return oneCycleTotal; }
  int64_t lastEpoch() const { return last; }

  /// The step a PyTorch scheduler takes when it is constructed; `lrs` holds
  /// each group's rate (the configured ones) and receives the new ones.
  void start(std::vector<double> &lrs);
  /// scheduler.step(), or scheduler.step(metric) for ReduceLROnPlateau.
  /// Fails (nothing changed) for a OneCycleLR stepped past total_steps.
  bool step(std::vector<double> &lrs, double metric, std::string &error);

  /// Writes this schedule's state (not the rates) under
  /// "schedule/<name>/...".
  void saveState(Metadata &meta) const;
  /// Reads it back; `found` is false (nothing changed) when `meta` has no
  /// state for this schedule. Fails on a malformed value.
  bool loadState(const Metadata &meta, bool &found, std::string &error);

  // Options (PyTorch's defaults).
  int64_t stepSize = 0;
  std::vector<int64_t> milestones;
  double gamma = 0.1;
  double tMax = 0, etaMin = 0;
  double startFactor = 1.0 / 3, endFactor = 1.0;
  int64_t totalIters = 5;
  double maxLr = 0, pctStart = 0.3, divFactor = 25, finalDivFactor = 1e4;
  bool cosAnneal = true;
  bool modeMax = false, thresholdAbs = false;
  double factor = 0.1, threshold = 1e-4, minLr = 0, eps = 1e-8;
  int64_t patience = 10, cooldown = 0;

  // ReduceLROnPlateau's state.
  double best = 0;
  int64_t numBadEpochs = 0, cooldownCounter = 0;

private:
  std::string scheduleName;
  ScheduleKind scheduleKind = ScheduleKind::StepLR;
  std::vector<double> baseLrs;
  int64_t oneCycleTotal = 0;
  /// PyTorch's last_epoch: -1 before start (0 for ReduceLROnPlateau).
  int64_t last = -1;

  /// get_lr() at `last` from the current rates.
  void computeLrs(std::vector<double> &lrs) const;
};

/// The model's schedules bound to its state: the shared current rate of each
/// lr buffer, the epoch-loss sum for ReduceLROnPlateau, the checkpoint
/// metadata. The training loop's side of the header comment.
class ScheduleRunner {
public:
  /// Parses the model's schedules and takes their state from `state`'s
  /// metadata (a resumed run), or starts them (a fresh one) and writes the
  /// first rates into the lr buffers.
  bool init(ModelState &state, std::string &error);
  bool empty() const { return schedules.empty(); }

  /// Fails when a run of `optimizerSteps` more steps would step a OneCycleLR
  /// past its total_steps.
  bool checkRun(int64_t optimizerSteps, std::string &error) const;

  /// Each micro-batch's loss, in stream order; `endsEpoch` for the last
  /// micro-batch of an epoch (its mean becomes ReduceLROnPlateau's metric).
  void addLoss(double loss, bool endsEpoch);
  /// The number of epochs that ended in the micro-batches added since the
  /// last afterOptimizerStep (the training loop evaluates when it is > 0).
  size_t endedEpochCount() const { return endedEpochs.size(); }
  /// After each optimizer step: steps OneCycleLR, then, once per epoch that
  /// ended in the step's micro-batches, the per-epoch schedules; writes the
  /// lr buffers and the metadata. ReduceLROnPlateau's metric is `evalLoss`
  /// when it is given (the loss on the evaluation data after this step) and
  /// the epoch's mean training loss otherwise.
  bool afterOptimizerStep(ModelState &state, std::string &error,
                          const double *evalLoss = nullptr);

  const std::vector<Schedule> &all() const { return schedules; }

private:
  std::vector<Schedule> schedules;
  /// Per schedule, per group: the lr buffer's state index.
  std::vector<std::vector<int>> lrStates;
  /// The current rate of each lr buffer (state index -> rate).
  std::map<int, double> current;
  /// The current epoch's losses so far; the means of epochs that ended
  /// since the last optimizer step.
  double lossSum = 0;
  int64_t lossCount = 0;
  std::vector<double> endedEpochs;
  /// The rates stepOne passes to a schedule (kept to reuse its storage).
  std::vector<double> rateScratch;

  bool stepOne(size_t s, double metric, std::string &error);
  void publish(ModelState &state) const;
};

} // namespace firn::runtime

#endif // FIRN_RUNTIME_SCHEDULES_H
