//===- CAPI.cpp - The C API of a compiled model (firn.h) ------------------===//
//
// See firn.h. A session is a ModelState and a KernelRunner over it; every
// kernel call goes through the same pieces the binary's training loop uses
// (zeroGrad, trainMicroBatch, optimizerStep, predictBatch in Trainer.h), so
// the API and `model train` cannot drift apart. This file only checks the
// caller's arguments, copies the caller's arrays into the tensors the
// kernels take (and results back out), and turns failures into messages.
//
// Every entry point catches std::bad_alloc (when exceptions are enabled):
// no C++ exception may cross the C boundary.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/firn.h"

#include "firn/Runtime/Buffers.h"
#include "firn/Runtime/Model.h"
#include "firn/Runtime/Trainer.h"

#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

using namespace firn::runtime;

struct firn_session {
  const firn_model_desc *model = nullptr;
  /// Non-empty when the model cannot be used (NULL or malformed): every
  /// call fails with this message.
  std::string broken;
  std::unique_ptr<ModelState> state;
  std::unique_ptr<KernelRunner> runner;
  /// The last failed call's message ("" after a success).
  std::string error;
  /// Set when even the message could not be stored (out of memory).
  bool outOfMemory = false;
  /// The tensors the caller's inputs and target are copied into, reused
  /// from call to call (their storage keeps its capacity).
  std::vector<HostTensor> args;
};

namespace {

/// The most elements one tensor may have: halide_buffer_t's extents and
/// strides are 32-bit (Buffers.h).
constexpr int64_t kMaxElements = std::numeric_limits<int32_t>::max();

/// Runs `body(error)` for the entry point `fn` of `session`: clears the
/// last error, and on failure stores "fn: error". Returns firn.h's status.
template <typename Body>
int guarded(firn_session *session, const char *fn, Body &&body) {
  if (!session)
    return -1;
  session->outOfMemory = false;
  session->error.clear();
  std::string error;
  bool ok = false;
#if defined(__cpp_exceptions)
  try {
    ok = body(error);
  } catch (const std::bad_alloc &) {
    error = "out of memory";
  }
  if (ok)
    return 0;
  try {
    session->error = std::string(fn) + ": " + error;
  } catch (const std::bad_alloc &) {
    session->outOfMemory = true;
  }
#else
  ok = body(error);
  if (ok)
    return 0;
  session->error = std::string(fn) + ": " + error;
#endif
  return 1;
}

/// Whether the session's model can be used at all.
bool usable(const firn_session &session, std::string &error) {
  if (session.broken.empty())
    return true;
  error = session.broken;
  return false;
}

/// Whether every FIRN_INIT_LOAD state has a value, naming the first that
/// has none.
bool complete(const ModelState &state, std::string &error) {
  for (int s = 0; s < state.size(); ++s) {
    if (state.isSet(s))
      continue;
    const firn_state_desc &desc = state.stateDesc(s);
    error =
        std::string(desc.kind == FIRN_STATE_PARAM ? "parameter" : "buffer") +
        " '" + desc.name +
        "' has no value yet: the model loads it from a checkpoint, so give "
        "it one with firn_load or firn_set_tensor first";
    return false;
  }
  return true;
}

/// The argument port `index` of `fn`, or null.
const firn_port *argPort(const firn_function_desc &fn, int index) {
  for (int i = 0; i < fn.num_inputs; ++i)
    if (fn.inputs[i].state < 0 && fn.inputs[i].index == index)
      return &fn.inputs[i];
  return nullptr;
}

/// The result port 0 of `fn` (predict's output), or null.
const firn_port *resultPort(const firn_function_desc &fn) {
  for (int o = 0; o < fn.num_outputs; ++o)
    if (fn.outputs[o].state < 0 && fn.outputs[o].index == 0)
      return &fn.outputs[o];
  return nullptr;
}

/// `port`'s shape with its batch dimension (-1) set to `batch`, and its
/// element count; fails when it has more elements than a kernel can take.
bool batchShape(const firn_port &port, int64_t batch, const std::string &what,
                std::vector<int64_t> &shape, int64_t &numel,
                std::string &error) {
  shape.assign(port.shape, port.shape + port.rank);
  numel = 1;
  for (int64_t &d : shape) {
    if (d == -1)
      d = batch;
    if (d != 0 && numel > kMaxElements / d) {
      error = "batch " + std::to_string(batch) + " is too large: " + what +
              " would have more than 2^31-1 elements";
      return false;
    }
    numel *= d;
  }
  return true;
}

/// The display name of input `i`: "inputs[0] ('x')".
std::string inputName(const firn_model_desc &desc, int i) {
  std::string name = "inputs[" + std::to_string(i) + "]";
  if (desc.input_names && desc.input_names[i])
    name += std::string(" ('") + desc.input_names[i] + "')";
  return name;
}

/// Copies the caller's inputs (and, when `withTarget`, target) into the
/// session's argument tensors, in the shapes `fn`'s ports give them for
/// `batch` samples, and points `args` (indexed like the ports) at them.
bool bindArguments(firn_session &session, const firn_function_desc &fn,
                   int64_t batch, const float *const *inputs, bool withTarget,
                   const void *target, std::vector<HostTensor *> &args,
                   std::string &error) {
  const firn_model_desc &desc = *session.model;
  if (batch <= 0) {
    error = "batch must be positive, not " + std::to_string(batch);
    return false;
  }
  const int n = desc.num_inputs;
  if (n > 0 && !inputs) {
    error = "inputs is NULL, but the model takes " + std::to_string(n) +
            " input(s)";
    return false;
  }
  for (int i = 0; i < n; ++i)
    if (!inputs[i]) {
      error = inputName(desc, i) + " is NULL";
      return false;
    }
  const firn_port *targetPort = withTarget ? argPort(fn, n) : nullptr;
  if (withTarget && !targetPort && target) {
    error = "target must be NULL: this model's loss takes no target";
    return false;
  }
  if (targetPort && !target) {
    error = std::string("target is NULL, but this model's loss needs its "
                        "target ('") +
            (desc.target_name ? desc.target_name : "target") + "')";
    return false;
  }

  session.args.resize(n + 1);
  args.assign(n + 1, nullptr);
  for (int i = 0; i <= n; ++i) {
    const firn_port *port = i < n ? argPort(fn, i) : targetPort;
    if (!port)
      continue; // This function does not read the argument.
    std::string what = i < n ? inputName(desc, i) : "the target";
    if (i < n && port->dtype != FIRN_F32) {
      error = what + " is " + dtypeString(port->dtype) +
              "; the C API passes float32 inputs only";
      return false;
    }
    HostTensor &tensor = session.args[i];
    int64_t numel;
    if (!batchShape(*port, batch, what, tensor.shape, numel, error))
      return false;
    tensor.dtype = static_cast<firn_dtype>(port->dtype);
    if (tensor.dtype == FIRN_F32) {
      const float *data =
          i < n ? inputs[i] : static_cast<const float *>(target);
      tensor.f32.assign(data, data + numel);
      tensor.i64.clear();
    } else {
      const auto *data = static_cast<const int64_t *>(target);
      tensor.i64.assign(data, data + numel);
      tensor.f32.clear();
    }
    args[i] = &tensor;
  }
  return true;
}

/// Checks everything firn_backward and firn_train_step need before a kernel
/// runs, and binds their arguments.
bool prepareTraining(firn_session &session, int64_t batch,
                     const float *const *inputs, const void *target,
                     std::vector<HostTensor *> &args, std::string &error) {
  return usable(session, error) && checkCanTrain(*session.model, error) &&
         complete(*session.state, error) &&
         bindArguments(session, *session.model->train_step, batch, inputs,
                       /*withTarget=*/true, target, args, error);
}

/// The state named `name`, with its size in bytes.
bool findTensor(firn_session &session, const char *name, int &index,
                int64_t &bytes, std::string &error) {
  if (!name) {
    error = "name is NULL";
    return false;
  }
  index = session.state->find(name);
  if (index < 0) {
    error = std::string("model '") + session.model->name +
            "' has no parameter or buffer named '" + name + "'";
    return false;
  }
  const HostTensor &t = std::as_const(*session.state).tensor(index);
  bytes = t.numel() * (t.dtype == FIRN_F32 ? 4 : 8);
  return true;
}

/// The message for a buffer size that does not match state `index`.
std::string sizeMismatch(const firn_session &session, int index, int64_t bytes,
                         const char *argument, int64_t given) {
  const HostTensor &t = std::as_const(*session.state).tensor(index);
  return std::string("'") + session.state->stateDesc(index).name + "' is " +
         dtypeString(t.dtype) + " " + shapeString(t.shape) + ", " +
         std::to_string(bytes) + " bytes, but " + argument + " is " +
         std::to_string(given);
}

/// Whether the introspection functions may read `model`.
bool modelOk(const firn_model_desc *model) {
  std::string error;
  return model && validateModel(*model, error);
}

/// Writes `port`'s shape for the introspection functions.
int writeShape(const firn_port *port, int64_t *shape, int *rank) {
  if (!port || !shape || !rank)
    return 1;
  *rank = port->rank;
  std::memcpy(shape, port->shape, sizeof(int64_t) * port->rank);
  return 0;
}

/// The target's argument port, or null when the loss takes none.
const firn_port *targetPort(const firn_model_desc &model) {
  return model.target_name ? findArgumentPort(model, model.num_inputs)
                           : nullptr;
}

} // namespace

extern "C" {

firn_session *firn_create(const firn_model_desc *model, uint64_t seed) {
  auto *session = new (std::nothrow) firn_session;
  if (!session)
    return nullptr;
#if defined(__cpp_exceptions)
  try {
#endif
    session->model = model;
    std::string error;
    if (!model) {
      session->broken = "the session has no model (firn_create was given "
                        "NULL)";
    } else if (!validateModel(*model, error)) {
      session->broken = "the compiled model table is malformed: " + error;
    } else if (usesDevice(*model) && !loadCudaDriver(error)) {
      session->broken = error;
    } else {
      session->state = std::make_unique<ModelState>(*model);
      session->state->initialize(seed);
      session->runner = std::make_unique<KernelRunner>(*session->state);
    }
    if (!session->broken.empty())
      session->error = "firn_create: " + session->broken;
#if defined(__cpp_exceptions)
  } catch (const std::bad_alloc &) {
    delete session;
    return nullptr;
  }
#endif
  return session;
}

void firn_destroy(firn_session *session) { delete session; }

const char *firn_last_error(const firn_session *session) {
  if (!session)
    return "no session (NULL): firn_create returns NULL only when it runs "
           "out of memory";
  if (session->outOfMemory)
    return "out of memory";
  return session->error.c_str();
}

int firn_load(firn_session *session, const char *checkpoint_path) {
  return guarded(session, "firn_load", [&](std::string &error) {
    if (!usable(*session, error))
      return false;
    if (!checkpoint_path) {
      error = "checkpoint_path is NULL";
      return false;
    }
    // Keys the model does not have are ignored silently: a library prints
    // nothing, and a misspelled parameter shows up as a missing one.
    return session->state->load(checkpoint_path, error, /*warnings=*/nullptr);
  });
}

int firn_save(firn_session *session, const char *path, int save_grads) {
  return guarded(session, "firn_save", [&](std::string &error) {
    if (!usable(*session, error))
      return false;
    if (!path) {
      error = "path is NULL";
      return false;
    }
    return session->state->save(path, save_grads != 0, error);
  });
}

int firn_zero_grad(firn_session *session) {
  return guarded(session, "firn_zero_grad", [&](std::string &error) {
    return usable(*session, error) && checkCanTrain(*session->model, error) &&
           zeroGrad(*session->runner, error);
  });
}

int firn_backward(firn_session *session, int64_t batch,
                  const float *const *inputs, const void *target,
                  float *loss_out) {
  return guarded(session, "firn_backward", [&](std::string &error) {
    std::vector<HostTensor *> args;
    double loss = 0;
    if (!prepareTraining(*session, batch, inputs, target, args, error) ||
        !trainMicroBatch(*session->runner, args, batch, loss, error))
      return false;
    if (loss_out)
      *loss_out = static_cast<float>(loss);
    return true;
  });
}

int firn_optimizer_step(firn_session *session) {
  return guarded(session, "firn_optimizer_step", [&](std::string &error) {
    return usable(*session, error) && checkCanTrain(*session->model, error) &&
           complete(*session->state, error) &&
           optimizerStep(*session->runner, error);
  });
}

int firn_train_step(firn_session *session, int64_t batch,
                    const float *const *inputs, const void *target,
                    float *loss_out) {
  return guarded(session, "firn_train_step", [&](std::string &error) {
    // Every argument is checked before the gradients are cleared.
    std::vector<HostTensor *> args;
    double loss = 0;
    if (!prepareTraining(*session, batch, inputs, target, args, error) ||
        !zeroGrad(*session->runner, error) ||
        !trainMicroBatch(*session->runner, args, batch, loss, error) ||
        !optimizerStep(*session->runner, error))
      return false;
    if (loss_out)
      *loss_out = static_cast<float>(loss);
    return true;
  });
}

int firn_predict(firn_session *session, int64_t batch,
                 const float *const *inputs, float *output) {
  return guarded(session, "firn_predict", [&](std::string &error) {
    if (!usable(*session, error))
      return false;
    const firn_model_desc &desc = *session->model;
    if (!desc.predict) {
      error = "this model was compiled without a predict function";
      return false;
    }
    const firn_port *out = resultPort(*desc.predict);
    if (!out || out->dtype != FIRN_F32) {
      error = "this model's predict does not return a float32 output";
      return false;
    }
    if (!output) {
      error = "output is NULL";
      return false;
    }
    std::vector<HostTensor *> args;
    HostTensor result;
    if (!complete(*session->state, error) ||
        !bindArguments(*session, *desc.predict, batch, inputs,
                       /*withTarget=*/false, nullptr, args, error) ||
        !predictBatch(*session->runner, args, batch, result, error))
      return false;
    std::memcpy(output, result.f32.data(), sizeof(float) * result.f32.size());
    return true;
  });
}

int firn_get_tensor(firn_session *session, const char *name, void *dst,
                    int64_t dst_bytes) {
  return guarded(session, "firn_get_tensor", [&](std::string &error) {
    int index;
    int64_t bytes;
    if (!usable(*session, error) ||
        !findTensor(*session, name, index, bytes, error))
      return false;
    if (dst_bytes != bytes) {
      error = sizeMismatch(*session, index, bytes, "dst_bytes", dst_bytes);
      return false;
    }
    if (!dst && bytes) {
      error = "dst is NULL";
      return false;
    }
    if (bytes)
      std::memcpy(dst, std::as_const(*session->state).tensor(index).data(), bytes);
    return true;
  });
}

int firn_set_tensor(firn_session *session, const char *name, const void *src,
                    int64_t src_bytes) {
  return guarded(session, "firn_set_tensor", [&](std::string &error) {
    int index;
    int64_t bytes;
    if (!usable(*session, error) ||
        !findTensor(*session, name, index, bytes, error))
      return false;
    if (src_bytes != bytes) {
      error = sizeMismatch(*session, index, bytes, "src_bytes", src_bytes);
      return false;
    }
    if (!src && bytes) {
      error = "src is NULL";
      return false;
    }
    if (bytes)
      std::memcpy(session->state->tensor(index).data(), src, bytes);
    session->state->markSet(index);
    return true;
  });
}

int firn_num_inputs(const firn_model_desc *model) {
  return modelOk(model) ? model->num_inputs : -1;
}

int firn_input_shape(const firn_model_desc *model, int i, int64_t *shape,
                     int *rank) {
  if (!modelOk(model) || i < 0 || i >= model->num_inputs)
    return 1;
  return writeShape(findArgumentPort(*model, i), shape, rank);
}

int firn_output_shape(const firn_model_desc *model, int64_t *shape, int *rank) {
  if (!modelOk(model) || !model->predict)
    return 1;
  return writeShape(resultPort(*model->predict), shape, rank);
}

int firn_target_dtype(const firn_model_desc *model) {
  if (!modelOk(model))
    return -1;
  const firn_port *port = targetPort(*model);
  return port ? port->dtype : -1;
}

int firn_target_shape(const firn_model_desc *model, int64_t *shape, int *rank) {
  if (!modelOk(model))
    return 1;
  return writeShape(targetPort(*model), shape, rank);
}

int firn_tensor_shape(const firn_model_desc *model, const char *name,
                      int *dtype, int64_t *shape, int *rank) {
  if (!modelOk(model) || !name || !shape || !rank)
    return 1;
  for (int s = 0; s < model->num_states; ++s) {
    const firn_state_desc &state = model->states[s];
    if (std::strcmp(state.name, name) != 0)
      continue;
    if (dtype)
      *dtype = state.dtype;
    *rank = state.rank;
    std::memcpy(shape, state.shape, sizeof(int64_t) * state.rank);
    return 0;
  }
  return 1;
}

} // extern "C"
