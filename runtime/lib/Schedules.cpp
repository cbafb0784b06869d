//===- Schedules.cpp - Learning-rate schedules ----------------------------===//
//
// See Schedules.h. Every formula is written in the order of operations of
// PyTorch 1.13's lr_scheduler.py (get_lr()), so that the doubles come out
// bit for bit the same; this file is compiled with -ffp-contract=off (no
// fused multiply-add, which Python never uses).
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Schedules.h"

#include "firn/Runtime/Model.h"
#include "firn/Runtime/ScheduleSchema.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <utility>

namespace firn::runtime {

namespace {

constexpr double kPi = 3.141592653589793; // math.pi

/// "%.17g": 17 significant digits read back as the same double.
std::string exact(double v) {
  char text[40];
  std::snprintf(text, sizeof(text), "%.17g", v);
  return text;
}

bool parseDouble(const std::string &text, double &out) {
  if (text.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  out = std::strtod(text.c_str(), &end);
  return !errno && end && !*end;
}

bool parseInt(const std::string &text, int64_t &out) {
  if (text.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  out = v;
  return !errno && end && !*end;
}

/// Python's `a % b` for b > 0 (the result has b's sign).
double pyMod(double a, double b) {
  double r = std::fmod(a, b);
  return r < 0 ? r + b : r;
}

} // namespace

//===----------------------------------------------------------------------===//
// Schedule: options
//===----------------------------------------------------------------------===//

bool Schedule::parse(const firn_schedule_desc &desc, Schedule &out,
                     std::string &error) {
  Schedule s;
  s.scheduleName = desc.name ? desc.name : "";
  const std::string kindName = desc.kind ? desc.kind : "";
  const std::string options = desc.options ? desc.options : "";
  const std::string where =
      "schedule '" + s.scheduleName + "' (" + kindName + ")";
  const ScheduleSchema *schema = findScheduleSchema(kindName);
  if (!schema) {
    error = where + ": unknown schedule kind";
    return false;
  }
  s.scheduleKind = schema->scheduleKind;
  if (desc.num_groups < 0 || (desc.num_groups > 0 && !desc.base_lrs)) {
    error = where + ": malformed parameter groups";
    return false;
  }
  s.baseLrs.assign(desc.base_lrs, desc.base_lrs + desc.num_groups);

  // "name=value;name=value"; an empty string has no options.
  std::map<std::string, std::string> values;
  size_t pos = 0;
  while (pos < options.size()) {
    size_t semi = options.find(';', pos);
    if (semi == std::string::npos)
      semi = options.size();
    std::string item = options.substr(pos, semi - pos);
    pos = semi + 1;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      error = where + ": malformed options '" + options +
              "' (expected "
              "name=value;...)";
      return false;
    }
    std::string name = item.substr(0, eq);
    if (std::none_of(schema->options.begin(), schema->options.end(),
                     [&](const ScheduleOption &o) { return name == o.name; })) {
      error = where + ": unknown option '" + name + "'";
      return false;
    }
    if (!values.emplace(name, item.substr(eq + 1)).second) {
      error = where + ": option '" + name + "' given twice";
      return false;
    }
  }
  for (const ScheduleOption &option : schema->options)
    if (option.required && !values.count(option.name)) {
      error = where + ": missing option '" + option.name + "'";
      return false;
    }

  auto bad = [&](const std::string &name, const std::string &what) {
    error = where + ": option '" + name + "=" + values[name] + "' " + what;
    return false;
  };
  auto number = [&](const char *name, double &v) {
    auto it = values.find(name);
    return it == values.end() || parseDouble(it->second, v) ||
           bad(name, "is not a number");
  };
  auto integer = [&](const char *name, int64_t &v) {
    auto it = values.find(name);
    return it == values.end() || parseInt(it->second, v) ||
           bad(name, "is not an integer");
  };
  auto boolean = [&](const char *name, bool &v) {
    auto it = values.find(name);
    if (it == values.end())
      return true;
    if (it->second == "true" || it->second == "false") {
      v = it->second == "true";
      return true;
    }
    return bad(name, "is not true or false");
  };
  auto choice = [&](const char *name, const char *a, const char *b, bool &isB) {
    auto it = values.find(name);
    if (it == values.end())
      return true;
    if (it->second == a || it->second == b) {
      isB = it->second == b;
      return true;
    }
    return bad(name, std::string("must be '") + a + "' or '" + b + "'");
  };

  switch (s.scheduleKind) {
  case ScheduleKind::StepLR:
    if (!integer("step_size", s.stepSize) || !number("gamma", s.gamma))
      return false;
    if (s.stepSize <= 0)
      return bad("step_size", "must be positive");
    break;
  case ScheduleKind::MultiStepLR: {
    if (!number("gamma", s.gamma))
      return false;
    const std::string &list = values["milestones"];
    size_t p = 0;
    while (p <= list.size()) {
      size_t comma = list.find(',', p);
      if (comma == std::string::npos)
        comma = list.size();
      int64_t m;
      if (!parseInt(list.substr(p, comma - p), m))
        return bad("milestones", "is not a list of integers");
      s.milestones.push_back(m);
      p = comma + 1;
    }
    break;
  }
  case ScheduleKind::ExponentialLR:
    if (!number("gamma", s.gamma))
      return false;
    break;
  case ScheduleKind::CosineAnnealingLR:
    if (!number("T_max", s.tMax) || !number("eta_min", s.etaMin))
      return false;
    if (!(s.tMax > 0))
      return bad("T_max", "must be positive");
    break;
  case ScheduleKind::LinearLR:
    if (!number("start_factor", s.startFactor) ||
        !number("end_factor", s.endFactor) ||
        !integer("total_iters", s.totalIters))
      return false;
    // PyTorch's checks (a start factor of 0 would divide by zero).
    if (!(s.startFactor > 0 && s.startFactor <= 1))
      return bad("start_factor", "must be in (0, 1]");
    if (!(s.endFactor >= 0 && s.endFactor <= 1))
      return bad("end_factor", "must be in [0, 1]");
    if (s.totalIters <= 0)
      return bad("total_iters", "must be positive");
    break;
  case ScheduleKind::OneCycleLR: {
    bool cycleMomentum = true, threePhase = false, linear = false;
    int64_t total = 0, epochs = 0, perEpoch = 0;
    if (!number("max_lr", s.maxLr) || !integer("total_steps", total) ||
        !integer("epochs", epochs) || !integer("steps_per_epoch", perEpoch) ||
        !number("pct_start", s.pctStart) ||
        !choice("anneal_strategy", "cos", "linear", linear) ||
        !number("div_factor", s.divFactor) ||
        !number("final_div_factor", s.finalDivFactor) ||
        !boolean("cycle_momentum", cycleMomentum) ||
        !boolean("three_phase", threePhase))
      return false;
    // Momentum bounds: numbers, unused (cycle_momentum must be false below).
    double momentumBound = 0;
    if (!number("base_momentum", momentumBound) || !number("max_momentum", momentumBound))
      return false;
    s.cosAnneal = !linear;
    if (cycleMomentum) {
      error = where + ": OneCycleLR with cycle_momentum (PyTorch's default) "
                      "is not supported yet; pass cycle_momentum=false";
      return false;
    }
    if (threePhase)
      return bad("three_phase", "is not supported yet");
    if (values.count("total_steps")) {
      if (total <= 0)
        return bad("total_steps", "must be positive");
      s.oneCycleTotal = total;
    } else if (values.count("epochs") && values.count("steps_per_epoch")) {
      if (epochs <= 0)
        return bad("epochs", "must be positive");
      if (perEpoch <= 0)
        return bad("steps_per_epoch", "must be positive");
      if (__builtin_mul_overflow(epochs, perEpoch, &s.oneCycleTotal))
        return bad("epochs", "times steps_per_epoch is too large");
    } else {
      error = where + ": give total_steps, or epochs and steps_per_epoch";
      return false;
    }
    if (!(s.pctStart >= 0 && s.pctStart <= 1))
      return bad("pct_start", "must be in [0, 1]");
    break;
  }
  case ScheduleKind::ReduceLROnPlateau:
    if (!choice("mode", "min", "max", s.modeMax) ||
        !number("factor", s.factor) || !integer("patience", s.patience) ||
        !number("threshold", s.threshold) ||
        !choice("threshold_mode", "rel", "abs", s.thresholdAbs) ||
        !integer("cooldown", s.cooldown) || !number("min_lr", s.minLr) ||
        !number("eps", s.eps))
      return false;
    if (!(s.factor < 1))
      return bad("factor", "must be < 1");
    s.last = 0;
    s.best = s.modeMax ? -std::numeric_limits<double>::infinity()
                       : std::numeric_limits<double>::infinity();
    break;
  }
  out = std::move(s);
  return true;
}

//===----------------------------------------------------------------------===//
// Schedule: stepping
//===----------------------------------------------------------------------===//

void Schedule::computeLrs(std::vector<double> &lrs) const {
  const int64_t e = last;
  switch (scheduleKind) {
  case ScheduleKind::StepLR:
    if (e == 0 || e % stepSize != 0)
      return;
    for (double &lr : lrs)
      lr = lr * gamma;
    return;
  case ScheduleKind::MultiStepLR: {
    // gamma ** Counter(milestones)[e]: repeated milestones count.
    int64_t count = std::count(milestones.begin(), milestones.end(), e);
    if (!count)
      return;
    double f = std::pow(gamma, double(count));
    for (double &lr : lrs)
      lr = lr * f;
    return;
  }
  case ScheduleKind::ExponentialLR:
    if (e == 0)
      return;
    for (double &lr : lrs)
      lr = lr * gamma;
    return;
  case ScheduleKind::CosineAnnealingLR:
    // (The `_step_count == 1 and last_epoch > 0` branch is for a scheduler
    // constructed with a last_epoch, which firn never does.)
    if (e == 0)
      return;
    if (pyMod(double(e - 1) - tMax, 2 * tMax) == 0) {
      for (size_t g = 0; g < lrs.size(); ++g)
        lrs[g] =
            lrs[g] + (baseLrs[g] - etaMin) * (1 - std::cos(kPi / tMax)) / 2;
      return;
    }
    for (double &lr : lrs)
      lr = (1 + std::cos(kPi * double(e) / tMax)) /
               (1 + std::cos(kPi * double(e - 1) / tMax)) * (lr - etaMin) +
           etaMin;
    return;
  case ScheduleKind::LinearLR:
    if (e == 0) {
      for (double &lr : lrs)
        lr = lr * startFactor;
      return;
    }
    if (e > totalIters)
      return;
    for (double &lr : lrs)
      lr = lr * (1. + (endFactor - startFactor) /
                          (double(totalIters) * startFactor +
                           double(e - 1) * (endFactor - startFactor)));
    return;
  case ScheduleKind::OneCycleLR: {
    const double initial = maxLr / divFactor;
    const double minimum = initial / finalDivFactor;
    // Two phases: initial -> max until pct_start, then max -> min.
    const double end1 = double(pctStart * double(oneCycleTotal)) - 1;
    const double end2 = double(oneCycleTotal - 1);
    double start, end, pct;
    if (double(e) <= end1) {
      start = initial;
      end = maxLr;
      pct = (double(e) - 0) / (end1 - 0);
    } else {
      start = maxLr;
      end = minimum;
      pct = (double(e) - end1) / (end2 - end1);
    }
    double lr;
    if (cosAnneal) {
      double cosOut = std::cos(kPi * pct) + 1;
      lr = end + (start - end) / 2.0 * cosOut;
    } else {
      lr = (end - start) * pct + start;
    }
    for (double &l : lrs)
      l = lr;
    return;
  }
  case ScheduleKind::ReduceLROnPlateau:
    return; // Stepped by step() with its metric.
  }
}

void Schedule::start(std::vector<double> &lrs) {
  if (scheduleKind == ScheduleKind::ReduceLROnPlateau)
    return; // Its constructor takes no step.
  last = 0;
  computeLrs(lrs);
}

bool Schedule::step(std::vector<double> &lrs, double metric,
                    std::string &error) {
  if (scheduleKind != ScheduleKind::ReduceLROnPlateau) {
    if (scheduleKind == ScheduleKind::OneCycleLR && last + 1 > oneCycleTotal) {
      error = "schedule '" + scheduleName + "' (OneCycleLR) is set up for " +
              std::to_string(oneCycleTotal) +
              " optimizer steps (total_steps); it cannot step past them";
      return false;
    }
    ++last;
    computeLrs(lrs);
    return true;
  }
  ++last;
  bool better;
  if (!modeMax && !thresholdAbs)
    better = metric < best * (1. - threshold);
  else if (!modeMax)
    better = metric < best - threshold;
  else if (!thresholdAbs)
    better = metric > best * (threshold + 1.);
  else
    better = metric > best + threshold;
  if (better) {
    best = metric;
    numBadEpochs = 0;
  } else {
    ++numBadEpochs;
  }
  if (cooldownCounter > 0) {
    --cooldownCounter;
    numBadEpochs = 0; // Bad epochs in cooldown do not count.
  }
  if (numBadEpochs > patience) {
    for (double &lr : lrs) {
      double newLr = std::max(lr * factor, minLr);
      if (lr - newLr > eps)
        lr = newLr;
    }
    cooldownCounter = cooldown;
    numBadEpochs = 0;
  }
  return true;
}

void Schedule::saveState(Metadata &meta) const {
  const std::string p = "schedule/" + scheduleName + "/";
  meta[p + "last_epoch"] = std::to_string(last);
  if (scheduleKind != ScheduleKind::ReduceLROnPlateau)
    return;
  meta[p + "best"] = exact(best);
  meta[p + "num_bad_epochs"] = std::to_string(numBadEpochs);
  meta[p + "cooldown_counter"] = std::to_string(cooldownCounter);
}

bool Schedule::loadState(const Metadata &meta, bool &found,
                         std::string &error) {
  const std::string p = "schedule/" + scheduleName + "/";
  found = false;
  auto it = meta.find(p + "last_epoch");
  if (it == meta.end())
    return true;
  auto get = [&](const std::string &key, const std::string *&value) {
    auto i = meta.find(p + key);
    if (i == meta.end()) {
      error = "the checkpoint has schedule/" + scheduleName +
              "/last_epoch but no " + p + key;
      return false;
    }
    value = &i->second;
    return true;
  };
  auto malformed = [&](const std::string &key, const std::string &value) {
    error = "the checkpoint's metadata '" + p + key + "' is '" + value +
            "', not a valid value";
    return false;
  };
  // Counters beyond 2^62 are damage (no run takes that many steps), and
  // counting on from them would overflow.
  constexpr int64_t kMaxCount = int64_t(1) << 62;
  int64_t lastEpoch;
  if (!parseInt(it->second, lastEpoch) || lastEpoch < -1 ||
      lastEpoch > kMaxCount)
    return malformed("last_epoch", it->second);
  double b = best;
  int64_t bad = numBadEpochs, cool = cooldownCounter;
  if (scheduleKind == ScheduleKind::ReduceLROnPlateau) {
    const std::string *v;
    if (!get("best", v))
      return false;
    if (!parseDouble(*v, b))
      return malformed("best", *v);
    if (!get("num_bad_epochs", v))
      return false;
    if (!parseInt(*v, bad) || bad < 0 || bad > kMaxCount)
      return malformed("num_bad_epochs", *v);
    if (!get("cooldown_counter", v))
      return false;
    if (!parseInt(*v, cool) || cool < 0 || cool > kMaxCount)
      return malformed("cooldown_counter", *v);
  }
  last = lastEpoch;
  best = b;
  numBadEpochs = bad;
  cooldownCounter = cool;
  found = true;
  return true;
}

//===----------------------------------------------------------------------===//
// ScheduleRunner
//===----------------------------------------------------------------------===//

bool ScheduleRunner::init(ModelState &state, std::string &error) {
  const firn_model_desc &desc = state.desc();
  schedules.clear();
  lrStates.clear();
  current.clear();
  endedEpochs.clear();
  lossSum = 0;
  lossCount = 0;
  const Metadata &meta = state.metadata();
  std::set<std::string> names;
  for (int i = 0; i < desc.num_schedules; ++i) {
    const firn_schedule_desc &d = desc.schedules[i];
    Schedule s;
    if (!Schedule::parse(d, s, error))
      return false;
    if (!names.insert(s.name()).second) {
      error = "two schedules are named '" + s.name() + "'";
      return false;
    }
    std::vector<int> lr;
    for (int g = 0; g < d.num_groups; ++g) {
      int index = d.lr_states ? d.lr_states[g] : -1;
      if (index < 0 || index >= state.size() ||
          state.stateDesc(index).dtype != FIRN_F32 ||
          std::as_const(state).tensor(index).numel() != 1) {
        error = "schedule '" + s.name() + "': group " + std::to_string(g) +
                " has no scalar float32 lr buffer";
        return false;
      }
      lr.push_back(index);
    }
    bool found = false;
    if (!s.loadState(meta, found, error))
      return false;
    const std::string p = "schedule/" + s.name() + "/";
    if (found) {
      // The exact rates (the f32 buffers are rounded).
      auto it = meta.find(p + "lrs");
      std::vector<double> rates;
      if (it != meta.end()) {
        size_t pos = 0;
        const std::string &text = it->second;
        while (pos <= text.size() && !text.empty()) {
          size_t comma = text.find(',', pos);
          if (comma == std::string::npos)
            comma = text.size();
          double v;
          if (!parseDouble(text.substr(pos, comma - pos), v)) {
            rates.clear();
            break;
          }
          rates.push_back(v);
          pos = comma + 1;
        }
      }
      if (rates.size() != lr.size()) {
        error = "the checkpoint's metadata '" + p +
                "lrs' is missing or does not hold one rate per group";
        return false;
      }
      for (size_t g = 0; g < lr.size(); ++g)
        current[lr[g]] = rates[g];
      if (s.needsMetric()) {
        auto sum = meta.find(p + "loss_sum"),
             count = meta.find(p + "loss_count");
        if (sum != meta.end() && count != meta.end() &&
            (!parseDouble(sum->second, lossSum) ||
             !parseInt(count->second, lossCount) || lossCount < 0)) {
          error = "the checkpoint's metadata '" + p +
                  "loss_sum' or 'loss_count' is malformed";
          return false;
        }
      }
    } else {
      // A fresh schedule: start from the configured rates, or from the
      // rates an earlier schedule of the same optimizer set.
      std::vector<double> rates;
      for (int g = 0; g < d.num_groups; ++g) {
        auto it = current.find(lr[g]);
        rates.push_back(it != current.end() ? it->second : d.base_lrs[g]);
      }
      s.start(rates);
      for (size_t g = 0; g < lr.size(); ++g)
        current[lr[g]] = rates[g];
    }
    schedules.push_back(std::move(s));
    lrStates.push_back(std::move(lr));
  }
  publish(state);
  return true;
}

bool ScheduleRunner::checkRun(int64_t optimizerSteps,
                              std::string &error) const {
  for (const Schedule &s : schedules) {
    int64_t end = 0; // (Checked: last_epoch comes from a checkpoint.)
    if (s.perOptimizerStep() &&
        (__builtin_add_overflow(s.lastEpoch(), optimizerSteps, &end) ||
         end > s.totalSteps())) {
      error = "schedule '" + s.name() + "' (OneCycleLR) is set up for " +
              std::to_string(s.totalSteps()) +
              " optimizer steps (total_steps), but this run would take " +
              std::to_string(optimizerSteps) + " more after step " +
              std::to_string(s.lastEpoch());
      return false;
    }
  }
  return true;
}

void ScheduleRunner::addLoss(double loss, bool endsEpoch) {
  lossSum += loss;
  ++lossCount;
  if (!endsEpoch)
    return;
  endedEpochs.push_back(lossSum / double(lossCount));
  lossSum = 0;
  lossCount = 0;
}

bool ScheduleRunner::stepOne(size_t s, double metric, std::string &error) {
  std::vector<double> &rates = rateScratch; // Reused: no allocation per step.
  rates.clear();
  for (int index : lrStates[s])
    rates.push_back(current[index]);
  if (!schedules[s].step(rates, metric, error))
    return false;
  for (size_t g = 0; g < rates.size(); ++g)
    current[lrStates[s][g]] = rates[g];
  return true;
}

bool ScheduleRunner::afterOptimizerStep(ModelState &state, std::string &error,
                                        const double *evalLoss) {
  if (schedules.empty()) {
    endedEpochs.clear();
    return true;
  }
  for (size_t s = 0; s < schedules.size(); ++s)
    if (schedules[s].perOptimizerStep() && !stepOne(s, 0, error))
      return false;
  for (double trainLoss : endedEpochs) {
    const double metric = evalLoss ? *evalLoss : trainLoss;
    for (size_t s = 0; s < schedules.size(); ++s)
      if (!schedules[s].perOptimizerStep() && !stepOne(s, metric, error))
        return false;
  }
  endedEpochs.clear();
  publish(state);
  return true;
}

void ScheduleRunner::publish(ModelState &state) const {
  Metadata &meta = state.metadata();
  for (size_t s = 0; s < schedules.size(); ++s) {
    const Schedule &sched = schedules[s];
    sched.saveState(meta);
    const std::string p = "schedule/" + sched.name() + "/";
    std::string rates;
    for (int index : lrStates[s])
      rates += (rates.empty() ? "" : ",") + exact(current.at(index));
    meta[p + "lrs"] = rates;
    if (sched.needsMetric()) {
      meta[p + "loss_sum"] = exact(lossSum);
      meta[p + "loss_count"] = std::to_string(lossCount);
    }
  }
  for (const auto &[index, rate] : current)
    state.tensor(index).f32[0] = static_cast<float>(rate);
}

} // namespace firn::runtime
