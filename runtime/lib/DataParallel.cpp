//===- DataParallel.cpp - Averaging gradients across the ranks ------------===//
//
// See DataParallel.h.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/DataParallel.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace firn::runtime {

std::vector<CommunicatedGradient>
communicatedGradients(const firn_model_desc &desc) {
  std::vector<CommunicatedGradient> out;
  if (!desc.train_step)
    return out;
  const firn_function_desc &fn = *desc.train_step;
  for (int o = 0; o < fn.num_outputs; ++o) {
    const int s = fn.outputs[o].state;
    if (s < 0 || desc.states[s].dtype != FIRN_F32 ||
        !isGradientName(desc.states[s].name))
      continue;
    auto seen = std::find_if(out.begin(), out.end(),
                             [&](const auto &g) { return g.state == s; });
    if (seen != out.end())
      out.erase(seen); // Written again: complete only now.
    out.push_back({s, o});
  }
  return out;
}

namespace {
double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
} // namespace

int64_t defaultBucketBytes(int64_t gradientBytes) {
  return std::clamp(gradientBytes / 4, kFirstBucketBytes, kMaxDefaultBucketBytes);
}

GradientAverager::GradientAverager(ModelState &state, Communicator &comm,
                                   int64_t bucketBytes, bool overlap,
                                   const std::vector<int> *owners)
    : state(state), comm(comm), owners(owners), overlap(overlap) {
  const std::vector<CommunicatedGradient> grads =
      communicatedGradients(state.desc());
  auto bytesOf = [&](const CommunicatedGradient &g) {
    return stateBytes(state.stateDesc(g.state)); // (float32: gradients)
  };
  if (bucketBytes <= 0) {
    int64_t all = 0;
    for (const CommunicatedGradient &g : grads)
      all += bytesOf(g);
    bucketBytes = defaultBucketBytes(all);
  }
  // (MPI counts are ints.)
  bucketBytes = std::min<int64_t>(bucketBytes, int64_t(1) << 32);
  Bucket current;
  int64_t currentBytes = 0;
  auto close = [&] {
    current.flat.resize(size_t(currentBytes / 4));
    if (owners) {
      // Packed in rank order, as reduce-scatter deals out the sums.
      std::stable_sort(current.grads.begin(), current.grads.end(),
                       [&](const auto &a, const auto &b) {
                         return (*owners)[a.state] < (*owners)[b.state];
                       });
      current.counts.assign(size_t(comm.ranks()), 0);
      for (const CommunicatedGradient &g : current.grads)
        current.counts[size_t((*owners)[g.state])] += int(bytesOf(g) / 4);
      current.mine.resize(size_t(current.counts[size_t(comm.rank())]));
    }
    plan.push_back(std::move(current));
    current = Bucket();
    currentBytes = 0;
  };
  for (const CommunicatedGradient &g : grads) {
    const int64_t n = bytesOf(g) / 4;
    const int64_t cap = plan.empty() ? std::min(kFirstBucketBytes, bucketBytes)
                                     : bucketBytes;
    if (!current.grads.empty() && currentBytes + 4 * n > cap)
      close();
    current.grads.push_back(g);
    current.lastOutput = std::max(current.lastOutput, g.output);
    currentBytes += 4 * n;
    bytes += 4 * n;
  }
  if (!current.grads.empty())
    close();
}

template <typename TensorOf> bool GradientAverager::startNext(TensorOf tensorOf) {
  Bucket &bucket = plan[started++];
  float *out = bucket.flat.data();
  for (const CommunicatedGradient &g : bucket.grads) {
    const std::vector<float> &values = tensorOf(g).f32;
    out = std::copy(values.begin(), values.end(), out);
  }
  if (owners)
    return comm.startReduceScatter(bucket.flat.data(), bucket.mine.data(),
                                   bucket.counts.data(), failure);
  return comm.startSum(bucket.flat.data(), int64_t(bucket.flat.size()),
                       failure);
}

void GradientAverager::beginLastMicroBatch() {
  armed = overlap && comm.distributed();
  started = 0;
  failed = false;
}

void GradientAverager::written(int count, HostTensor *const *outputs) {
  // After the last kernel, average() starts what is left: only what starts
  // before it overlaps the backward pass.
  if (!armed || failed || count >= state.desc().train_step->num_outputs)
    return;
  const size_t before = started;
  while (started < plan.size() && plan[started].lastOutput < count)
    if (!startNext([&](const CommunicatedGradient &g) -> const HostTensor & {
          return *outputs[g.output];
        })) {
      failed = true;
      return;
    }
  overlapStats.startedEarly += int64_t(started - before);
  if (started > 0)
    comm.progress();
}

bool GradientAverager::average(std::string &error) {
  if (!comm.distributed())
    return true;
  const double begin = now();
  armed = false; // (beginLastMicroBatch reset `started`.)
  if (failed) {
    error = failure;
    return false;
  }
  while (started < plan.size()) {
    if (!startNext([&](const CommunicatedGradient &g) -> const HostTensor & {
          return std::as_const(state).tensor(g.state);
        })) {
      error = failure;
      return false;
    }
    comm.progress();
  }
  if (!comm.finish(error))
    return false;
  const float ranks = float(comm.ranks());
  for (Bucket &bucket : plan) {
    const float *in = owners ? bucket.mine.data() : bucket.flat.data();
    for (const CommunicatedGradient &g : bucket.grads)
      if (!owners || (*owners)[g.state] == comm.rank())
        for (float &v : state.tensor(g.state).f32)
          v = *in++ / ranks;
  }
  overlapStats.steps += 1;
  overlapStats.buckets += int64_t(plan.size());
  overlapStats.waitSeconds += now() - begin;
  return true;
}

} // namespace firn::runtime
