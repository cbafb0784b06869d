//===- ZeroSharding.cpp - The optimizer state split across ranks ----------===//
//
// See ZeroSharding.h.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/ZeroSharding.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <utility>

namespace firn::runtime {

namespace {

bool isOptimizerState(const firn_state_desc &d) {
  return isOptimizerStateName(d.name);
}

/// The states one kernel of `fn` reads and writes. A slot among the
/// outputs is a write when the kernel is the one that makes it final
/// (outputs_done grows past it), else a read of an earlier kernel's output.
struct KernelUse {
  std::vector<int> reads, writes;
};
std::vector<KernelUse> kernelUses(const firn_function_desc &fn) {
  std::vector<KernelUse> uses(fn.num_kernels);
  int doneBefore = 0;
  for (int k = 0; k < fn.num_kernels; ++k) {
    const firn_kernel_desc &kernel = fn.kernels[k];
    for (int i = 0; i < kernel.num_slots; ++i) {
      const int slot = kernel.slots[i];
      if (slot < fn.num_inputs) {
        if (fn.inputs[slot].state >= 0)
          uses[k].reads.push_back(fn.inputs[slot].state);
      } else if (slot < fn.num_inputs + fn.num_outputs) {
        const int o = slot - fn.num_inputs;
        const int s = fn.outputs[o].state;
        if (s < 0)
          continue;
        if (o >= doneBefore && o < kernel.outputs_done)
          uses[k].writes.push_back(s);
        else
          uses[k].reads.push_back(s);
      }
    }
    doneBefore = kernel.outputs_done;
  }
  return uses;
}

int findRoot(std::vector<int> &parent, int k) {
  while (parent[k] != k)
    k = parent[k] = parent[parent[k]];
  return k;
}

} // namespace

bool planShards(const firn_model_desc &desc, int ranks, ShardPlan &plan,
                std::string &error) {
  const firn_function_desc *fn = desc.optimizer_step;
  if (!fn || !fn->kernels || fn->num_kernels == 0) {
    error = fn ? "this binary's table does not list its optimizer kernels; "
                 "rebuild it with this firnc to shard the optimizer state"
               : "this model has no optimizer: there is no optimizer state "
                 "to shard";
    return false;
  }
  const int numStates = desc.num_states;
  const std::vector<KernelUse> uses = kernelUses(*fn);
  const int numKernels = fn->num_kernels;

  // States the other functions touch: never private. (Not fused_step,
  // which updates the parameters too: data-parallel training never runs
  // it, since the gradients must be averaged between backward and step.)
  std::vector<bool> elsewhere(numStates, false);
  for (const firn_function_desc *other :
       {desc.predict, desc.eval_loss, desc.train_step, desc.zero_grad_fn}) {
    if (!other)
      continue;
    for (int i = 0; i < other->num_inputs; ++i)
      if (other->inputs[i].state >= 0)
        elsewhere[other->inputs[i].state] = true;
    for (int o = 0; o < other->num_outputs; ++o)
      if (other->outputs[o].state >= 0)
        elsewhere[other->outputs[o].state] = true;
  }

  // Updates write parameters and optimizer state only.
  std::vector<bool> update(numKernels, false);
  std::vector<std::vector<int>> writers(numStates);
  for (int k = 0; k < numKernels; ++k) {
    update[k] = !uses[k].writes.empty();
    for (int s : uses[k].writes)
      update[k] = update[k] && (desc.states[s].kind == FIRN_STATE_PARAM ||
                                isOptimizerState(desc.states[s]));
    if (update[k])
      for (int s : uses[k].writes)
        writers[s].push_back(k);
  }
  // A kernel every rank runs must not come after an update and touch what
  // updates write: on the ranks that skipped the update it would see the
  // old value.
  bool seenUpdate = false;
  for (int k = 0; k < numKernels; ++k) {
    seenUpdate = seenUpdate || update[k];
    if (update[k] || !seenUpdate)
      continue;
    for (const std::vector<int> *list : {&uses[k].reads, &uses[k].writes})
      for (int s : *list)
        if (!writers[s].empty()) {
          error = std::string("the optimizer step cannot be sharded: a "
                              "kernel that every rank runs reads '") +
                  desc.states[s].name + "' after its update";
          return false;
        }
  }

  // Groups: updates that write, or read, what another update writes.
  std::vector<int> parent(numKernels);
  std::iota(parent.begin(), parent.end(), 0);
  auto unite = [&](int a, int b) {
    parent[findRoot(parent, a)] = findRoot(parent, b);
  };
  for (int k = 0; k < numKernels; ++k) {
    if (!update[k])
      continue;
    for (const std::vector<int> *list : {&uses[k].reads, &uses[k].writes})
      for (int s : *list)
        for (int w : writers[s])
          unite(k, w);
  }

  // A state's group, when only one group's kernels touch it.
  constexpr int kNone = -1, kShared = -2;
  std::vector<int> toucher(numStates, kNone);
  for (int k = 0; k < numKernels; ++k)
    for (const std::vector<int> *list : {&uses[k].reads, &uses[k].writes})
      for (int s : *list) {
        const int group = update[k] ? findRoot(parent, k) : kShared;
        toucher[s] = toucher[s] == kNone || toucher[s] == group ? group : kShared;
      }
  std::vector<bool> isPrivate(numStates, false);
  std::vector<int64_t> groupBytes(numKernels, 0);
  for (int s = 0; s < numStates; ++s) {
    isPrivate[s] = toucher[s] >= 0 && !elsewhere[s] &&
                   desc.states[s].kind == FIRN_STATE_BUFFER;
    if (isPrivate[s])
      groupBytes[toucher[s]] += stateBytes(desc.states[s]);
  }

  // Largest group first, each to the least loaded rank.
  std::vector<int> groups;
  for (int k = 0; k < numKernels; ++k)
    if (update[k] && findRoot(parent, k) == k)
      groups.push_back(k);
  std::stable_sort(groups.begin(), groups.end(), [&](int a, int b) {
    return groupBytes[a] > groupBytes[b];
  });
  std::vector<int64_t> load(ranks, 0);
  std::vector<int> groupOwner(numKernels, -1);
  for (int g : groups) {
    const int r = int(std::min_element(load.begin(), load.end()) - load.begin());
    groupOwner[g] = r;
    load[r] += std::max<int64_t>(groupBytes[g], 1);
  }

  plan = ShardPlan();
  plan.ranks = ranks;
  plan.kernelOwner.assign(numKernels, -1);
  for (int k = 0; k < numKernels; ++k)
    if (update[k])
      plan.kernelOwner[k] = groupOwner[findRoot(parent, k)];
  plan.stateOwner.assign(numStates, -1);
  plan.sent.assign(ranks, {});
  for (int s = 0; s < numStates; ++s) {
    if (isPrivate[s])
      plan.stateOwner[s] = groupOwner[toucher[s]];
    else if (!writers[s].empty())
      plan.sent[plan.kernelOwner[writers[s].front()]].push_back(s);
  }
  // A gradient's owner: the rank whose updates alone read it.
  plan.gradientOwner.assign(numStates, -1);
  std::vector<int> reader(numStates, kNone);
  for (int k = 0; k < numKernels; ++k)
    for (int s : uses[k].reads) {
      const int owner = update[k] ? plan.kernelOwner[k] : kShared;
      reader[s] = reader[s] == kNone || reader[s] == owner ? owner : kShared;
    }
  plan.scatterGradients = true;
  if (desc.train_step)
    for (int o = 0; o < desc.train_step->num_outputs; ++o) {
      const int s = desc.train_step->outputs[o].state;
      if (s < 0 || !isGradientName(desc.states[s].name))
        continue;
      // Read by no update (a parameter no optimizer owns): nobody needs its
      // mean; rank 0 takes it.
      plan.gradientOwner[s] = reader[s] == kNone ? 0 : std::max(reader[s], -1);
      if (plan.gradientOwner[s] < 0 && plan.scatterGradients) {
        plan.scatterGradients = false;
        plan.whyNotScattered = std::string("'") + desc.states[s].name +
                               "' is read by every rank (clipping)";
      }
    }
  plan.rankOptimizerBytes.assign(ranks, 0);
  for (int s = 0; s < numStates; ++s) {
    if (!isOptimizerState(desc.states[s]))
      continue;
    const int64_t bytes = stateBytes(desc.states[s]);
    plan.optimizerBytes += bytes;
    for (int r = 0; r < ranks; ++r)
      if (plan.stateOwner[s] < 0 || plan.stateOwner[s] == r)
        plan.rankOptimizerBytes[r] += bytes;
  }
  return true;
}

bool scattersGradients(const ShardPlan &plan, bool readElsewhere,
                       std::string &note) {
  const bool scatter = plan.scatterGradients && !readElsewhere;
  note = scatter ? "gradients reduce-scattered"
         : !plan.scatterGradients
             ? "gradients allreduced: " + plan.whyNotScattered
             : "gradients allreduced: zero_grad none, --save-grads or "
               "--on-nonfinite=skip reads them all";
  return scatter;
}

int64_t ShardedOptimizer::heldOptimizerBytes() const {
  int64_t bytes = 0;
  for (int s = 0; s < state.size(); ++s)
    if (isOptimizerState(state.stateDesc(s)) && state.held(s)) {
      const HostTensor &t = std::as_const(state).tensor(s);
      bytes += int64_t(t.f32.size() * 4 + t.i64.size() * 8);
    }
  return bytes;
}

ShardedOptimizer::ShardedOptimizer(ModelState &state, Communicator &comm,
                                   ShardPlan plan)
    : state(state), comm(comm), shards(std::move(plan)) {}

void ShardedOptimizer::releaseOthers() {
  for (int s = 0; s < state.size(); ++s)
    if (shards.stateOwner[s] >= 0 && shards.stateOwner[s] != comm.rank())
      state.release(s);
}

bool ShardedOptimizer::runs(int kernel) {
  const int owner = shards.kernelOwner[kernel];
  return owner < 0 || owner == comm.rank();
}

namespace {
/// State `s`'s bytes, as stored.
char *bytesOf(HostTensor &tensor) {
  return tensor.dtype == FIRN_F32 ? reinterpret_cast<char *>(tensor.f32.data())
                                  : reinterpret_cast<char *>(tensor.i64.data());
}
} // namespace

bool ShardedOptimizer::step(KernelRunner &runner, std::string &error) {
  const firn_function_desc &fn = *state.desc().optimizer_step;
  if (!runner.call(fn, {}, 0, runner.resultsOf(fn), error, this))
    return false;
  // Each rank in turn sends what it updated, packed in one message.
  std::vector<char> packed;
  for (int r = 0; r < shards.ranks; ++r) {
    int64_t bytes = 0;
    for (int s : shards.sent[r])
      bytes += stateBytes(state.stateDesc(s));
    packed.resize(size_t(bytes));
    char *at = packed.data();
    if (r == comm.rank())
      for (int s : shards.sent[r]) {
        const int64_t n = stateBytes(state.stateDesc(s));
        std::memcpy(at, bytesOf(state.tensor(s)), size_t(n));
        at += n;
      }
    if (!comm.broadcast(packed.data(), bytes, r, error))
      return false;
    at = packed.data();
    if (r != comm.rank())
      for (int s : shards.sent[r]) {
        const int64_t n = stateBytes(state.stateDesc(s));
        std::memcpy(bytesOf(state.tensor(s)), at, size_t(n));
        at += n;
      }
  }
  return true;
}

bool ShardedOptimizer::gatherToLeader(std::string &error) {
  for (int s = 0; s < state.size(); ++s) {
    const int owner = shards.stateOwner[s];
    if (owner <= 0)
      continue;
    const int64_t bytes = stateBytes(state.stateDesc(s));
    if (comm.rank() == 0) {
      state.hold(s);
      if (!comm.receive(bytesOf(state.tensor(s)), bytes, owner, error))
        return false;
    } else if (comm.rank() == owner) {
      if (!comm.send(bytesOf(state.tensor(s)), bytes, 0, error))
        return false;
    }
  }
  return true;
}

} // namespace firn::runtime
