//===- DataParallel.cpp - Averaging gradients across the ranks ------------===//
//
// See DataParallel.h.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/DataParallel.h"

#include <algorithm>
#include <utility>

namespace firn::runtime {

std::vector<int> communicatedGradients(const firn_model_desc &desc) {
  std::vector<int> out;
  if (!desc.train_step)
    return out;
  const firn_function_desc &fn = *desc.train_step;
  for (int o = 0; o < fn.num_outputs; ++o) {
    const int s = fn.outputs[o].state;
    if (s >= 0 && desc.states[s].dtype == FIRN_F32 &&
        isGradientName(desc.states[s].name) &&
        std::find(out.begin(), out.end(), s) == out.end())
      out.push_back(s);
  }
  // Last parameter first, as backward computes them.
  std::sort(out.begin(), out.end(), std::greater<int>());
  return out;
}

GradientAverager::GradientAverager(ModelState &state, Communicator &comm,
                                   int64_t bucketBytes)
    : state(state), comm(comm) {
  Bucket current;
  int64_t currentBytes = 0;
  for (int s : communicatedGradients(state.desc())) {
    int64_t n = 1;
    const firn_state_desc &d = state.stateDesc(s);
    for (int i = 0; i < d.rank; ++i)
      n *= d.shape[i];
    if (!current.states.empty() && currentBytes + 4 * n > bucketBytes) {
      current.flat.resize(size_t(currentBytes / 4));
      plan.push_back(std::move(current));
      current = Bucket();
      currentBytes = 0;
    }
    current.states.push_back(s);
    currentBytes += 4 * n;
    bytes += 4 * n;
  }
  if (!current.states.empty()) {
    current.flat.resize(size_t(currentBytes / 4));
    plan.push_back(std::move(current));
  }
}

bool GradientAverager::average(std::string &error) {
  if (!comm.distributed())
    return true;
  for (Bucket &bucket : plan) {
    float *out = bucket.flat.data();
    for (int s : bucket.states) {
      const std::vector<float> &g = std::as_const(state).tensor(s).f32;
      out = std::copy(g.begin(), g.end(), out);
    }
    if (!comm.startSum(bucket.flat.data(), int64_t(bucket.flat.size()), error))
      return false;
    comm.progress();
  }
  if (!comm.finish(error))
    return false;
  const float ranks = float(comm.ranks());
  for (Bucket &bucket : plan) {
    const float *in = bucket.flat.data();
    for (int s : bucket.states) {
      std::vector<float> &g = state.tensor(s).f32;
      for (float &v : g)
        v = *in++ / ranks;
    }
  }
  return true;
}

} // namespace firn::runtime
