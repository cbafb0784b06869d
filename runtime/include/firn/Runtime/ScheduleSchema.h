//===- ScheduleSchema.h - The options of each LR schedule -------*- C++ -*-===//
//
// Each torch.optim.lr_scheduler class firn implements, with its options in
// PyTorch's order (after the optimizer) and which of them PyTorch
// requires: stated once, here, in plain C++. The runtime parses a
// schedule's options against it (Schedules.cpp), Sema gives the DSL the
// same signatures, and the firn.lr_schedule verifier the same kinds; a
// new option is one entry here plus its meaning in Schedules.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_SCHEDULESCHEMA_H
#define FIRN_RUNTIME_SCHEDULESCHEMA_H

#include <string>
#include <vector>

namespace firn::runtime {

enum class ScheduleKind {
  StepLR,
  MultiStepLR,
  ExponentialLR,
  CosineAnnealingLR,
  LinearLR,
  OneCycleLR,
  ReduceLROnPlateau,
};

struct ScheduleOption {
  const char *name; ///< PyTorch's keyword: `step_size`.
  bool required = false;
};

struct ScheduleSchema {
  const char *kind; ///< PyTorch's class, as the DSL writes it: `StepLR`.
  ScheduleKind scheduleKind;
  std::vector<ScheduleOption> options;
};

inline const std::vector<ScheduleSchema> &scheduleSchemas() {
  static const std::vector<ScheduleSchema> schemas = {
      {"StepLR", ScheduleKind::StepLR, {{"step_size", true}, {"gamma"}}},
      {"MultiStepLR", ScheduleKind::MultiStepLR, {{"milestones", true}, {"gamma"}}},
      {"ExponentialLR", ScheduleKind::ExponentialLR, {{"gamma", true}}},
      {"CosineAnnealingLR", ScheduleKind::CosineAnnealingLR, {{"T_max", true}, {"eta_min"}}},
      {"ReduceLROnPlateau", ScheduleKind::ReduceLROnPlateau,
       {{"mode"}, {"factor"}, {"patience"}, {"threshold"}, {"threshold_mode"},
        {"cooldown"}, {"min_lr"}, {"eps"}}},
      {"OneCycleLR", ScheduleKind::OneCycleLR,
       {{"max_lr", true}, {"total_steps"}, {"epochs"}, {"steps_per_epoch"},
        {"pct_start"}, {"anneal_strategy"}, {"cycle_momentum"}, {"base_momentum"},
        {"max_momentum"}, {"div_factor"}, {"final_div_factor"}, {"three_phase"}}},
      {"LinearLR", ScheduleKind::LinearLR, {{"start_factor"}, {"end_factor"}, {"total_iters"}}},
  };
  return schemas;
}

/// The schema of `kind`, or null for a kind firn does not implement.
inline const ScheduleSchema *findScheduleSchema(const std::string &kind) {
  for (const ScheduleSchema &schema : scheduleSchemas())
    if (kind == schema.kind)
      return &schema;
  return nullptr;
}

} // namespace firn::runtime

#endif // FIRN_RUNTIME_SCHEDULESCHEMA_H
