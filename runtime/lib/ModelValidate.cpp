//===- ModelValidate.cpp - Check a compiled model's table
//------------------===//
//
// The runtime trusts the table firnc generates (ModelABI.h) for ranks,
// shapes and port references when it allocates and binds buffers. Checking
// the table once at start-up turns a code-generator bug into a message
// instead of an out-of-bounds access, and lets hand-written tables (tests,
// programs embedding a model) find their mistakes.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Model.h"

#include <cmath>
#include <set>

namespace firn::runtime {

namespace {

bool validShape(int rank, const int64_t *shape, bool allowBatch) {
  if (rank < 0 || rank > FIRN_MAX_RANK)
    return false;
  for (int i = 0; i < rank; ++i)
    if (shape[i] < 0 && !(allowBatch && shape[i] == -1))
      return false;
  return true;
}

bool validDType(int dtype) { return dtype == FIRN_F32 || dtype == FIRN_I64; }

bool validatePort(const firn_model_desc &desc, const firn_function_desc &fn,
                  const firn_port &port, const char *side, int position,
                  std::string &error) {
  std::string where = std::string("function '") + fn.name + "' " + side + " " +
                      std::to_string(position);
  if (!validDType(port.dtype) ||
      !validShape(port.rank, port.shape, /*allowBatch=*/port.state < 0)) {
    error = where + ": bad dtype, rank or shape";
    return false;
  }
  if (port.state < 0) {
    if (port.state != -1 || port.index < 0) {
      error = where + ": neither a state nor an argument/result index";
      return false;
    }
    return true;
  }
  if (port.state >= desc.num_states) {
    error =
        where + ": state index " + std::to_string(port.state) + " out of range";
    return false;
  }
  const firn_state_desc &state = desc.states[port.state];
  bool same = port.dtype == state.dtype && port.rank == state.rank;
  for (int i = 0; same && i < port.rank; ++i)
    same = port.shape[i] == state.shape[i];
  if (!same) {
    error = where + ": does not match state '" + state.name + "'";
    return false;
  }
  return true;
}

bool validateFunction(const firn_model_desc &desc, const firn_function_desc *fn,
                      std::string &error) {
  if (!fn)
    return true;
  if (!fn->name || !fn->call || fn->num_inputs < 0 || fn->num_outputs < 0 ||
      (fn->num_inputs > 0 && !fn->inputs) ||
      (fn->num_outputs > 0 && !fn->outputs)) {
    error = std::string("function '") + (fn->name ? fn->name : "?") +
            "': missing name, kernel or ports";
    return false;
  }
  for (int i = 0; i < fn->num_inputs; ++i)
    if (!validatePort(desc, *fn, fn->inputs[i], "input", i, error))
      return false;
  if (fn->num_temps < 0 || (fn->num_temps > 0 && !fn->temps)) {
    error = std::string("function '") + fn->name + "': bad temporaries";
    return false;
  }
  for (int i = 0; i < fn->num_temps; ++i) {
    if (!validatePort(desc, *fn, fn->temps[i], "temporary", i, error))
      return false;
    if (fn->temps[i].state != -1 || fn->temps[i].index != i) {
      error = std::string("function '") + fn->name + "': temporary " +
              std::to_string(i) + " is not numbered " + std::to_string(i);
      return false;
    }
  }
  // Each state is written at most once: the runtime swaps a written state
  // with its scratch tensor after the call, once per output port.
  std::set<int> written;
  for (int i = 0; i < fn->num_outputs; ++i) {
    if (!validatePort(desc, *fn, fn->outputs[i], "output", i, error))
      return false;
    int state = fn->outputs[i].state;
    if (state >= 0 && !written.insert(state).second) {
      error = std::string("function '") + fn->name + "' writes state '" +
              desc.states[state].name + "' twice";
      return false;
    }
  }
  return true;
}

} // namespace

bool validateModel(const firn_model_desc &desc, std::string &error) {
  if (!desc.name || desc.num_states < 0 ||
      (desc.num_states > 0 && !desc.states) || desc.num_inputs < 0 ||
      (desc.num_inputs > 0 && !desc.input_names) || desc.accumulate < 1) {
    error = "the model table is malformed (name, states, inputs or "
            "accumulate)";
    return false;
  }
  if (desc.target && std::string(desc.target) != "host" &&
      std::string(desc.target) != "cuda") {
    error = std::string("the model table names an unknown target '") +
            desc.target + "'";
    return false;
  }
  std::set<std::string> names;
  for (int s = 0; s < desc.num_states; ++s) {
    const firn_state_desc &state = desc.states[s];
    std::string where = "state " + std::to_string(s);
    if (!state.name || !names.insert(state.name).second) {
      error = where + ": missing or repeated name";
      return false;
    }
    where += " '" + std::string(state.name) + "'";
    if ((state.kind != FIRN_STATE_PARAM && state.kind != FIRN_STATE_BUFFER) ||
        !validDType(state.dtype) ||
        !validShape(state.rank, state.shape, /*allowBatch=*/false)) {
      error = where + ": bad kind, dtype, rank or shape";
      return false;
    }
    int64_t numel = 1;
    for (int i = 0; i < state.rank; ++i)
      numel *= state.shape[i];
    switch (state.init) {
    case FIRN_INIT_CONSTANT:
      if (state.data_count < 0 || (state.data_count > 0 && !state.data) ||
          (state.data_count > 1 && state.data_count != numel)) {
        error = where + ": constant data has " +
                std::to_string(state.data_count) + " elements for " +
                std::to_string(numel);
        return false;
      }
      break;
    case FIRN_INIT_UNIFORM:
      if (state.dtype != FIRN_F32 || !std::isfinite(state.bound) ||
          state.bound < 0) {
        error = where + ": uniform initialization needs float32 and a "
                        "finite, non-negative bound";
        return false;
      }
      break;
    case FIRN_INIT_NORMAL:
      if (state.dtype != FIRN_F32 || !std::isfinite(state.bound) ||
          state.bound < 0 || state.zero_row < -1 ||
          (state.zero_row >= 0 && (state.rank != 2 || state.zero_row >= state.shape[0]))) {
        error = where + ": normal initialization needs float32, a finite, "
                        "non-negative standard deviation and a zero row inside "
                        "the tensor";
        return false;
      }
      break;
    case FIRN_INIT_LOAD:
      break;
    default:
      error = where + ": unknown initialization";
      return false;
    }
  }
  for (int i = 0; i < desc.num_inputs; ++i)
    if (!desc.input_names[i]) {
      error = "input " + std::to_string(i) + " has no name";
      return false;
    }
  for (const firn_function_desc *fn :
       {desc.predict, desc.eval_loss, desc.train_step, desc.zero_grad_fn,
        desc.optimizer_step, desc.fused_step})
    if (!validateFunction(desc, fn, error))
      return false;
  return true;
}

} // namespace firn::runtime
