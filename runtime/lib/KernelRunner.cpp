//===- KernelRunner.cpp - Bind ports to tensors and call a kernel ---------===//
//
// See Trainer.h. The halide_buffer_t descriptions are refilled for every
// call (the tensors behind state outputs move: the scratch tensor and the
// state swap storage after each call), in storage that each function keeps
// across calls, and results reuse the caller's tensors when their shapes
// match: once every function has run, a call allocates nothing. Messages
// are built only on failure.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Trainer.h"

#include "firn/Runtime/HalideErrors.h"

#include <algorithm>
#include <memory>

namespace firn::runtime {

namespace {

/// The shape of `port` with its batch dimensions (-1) set to `batch`.
std::vector<int64_t> portShape(const firn_port &port, int64_t batch) {
  std::vector<int64_t> shape(port.shape, port.shape + port.rank);
  for (int64_t &d : shape)
    if (d == -1)
      d = batch;
  return shape;
}

/// Whether `tensor` has the dtype, the shape and the storage of `port` at
/// batch size `batch` (without building the shape).
bool matchesPort(const HostTensor &tensor, const firn_port &port, int64_t batch) {
  if (tensor.dtype != port.dtype ||
      tensor.shape.size() != static_cast<size_t>(port.rank))
    return false;
  for (int d = 0; d < port.rank; ++d)
    if (tensor.shape[d] != (port.shape[d] == -1 ? batch : port.shape[d]))
      return false;
  size_t stored = tensor.dtype == FIRN_F32 ? tensor.f32.size() : tensor.i64.size();
  return stored == static_cast<size_t>(tensor.numel());
}

/// The name of `port` in messages.
std::string portName(const ModelState &model, const firn_function_desc &fn,
                     const firn_port &port, bool input) {
  if (port.state >= 0)
    return model.stateDesc(port.state).name;
  return std::string(fn.name) + (input ? " argument " : " result ") +
         std::to_string(port.index);
}

} // namespace

KernelRunner::KernelRunner(ModelState &state) : model(state) {
  scratch.resize(state.size());
}

KernelRunner::Workspace &KernelRunner::workspace(const firn_function_desc &fn) {
  Workspace &ws = workspaces[&fn];
  if (!ws.buffers) {
    const int numPorts = fn.num_inputs + fn.num_outputs + fn.num_temps;
    ws.temps.resize(fn.num_temps);
    ws.buffers.reset(new HalideBuffer[numPorts]);
    ws.pointers.resize(numPorts);
  }
  return ws;
}

bool KernelRunner::call(const firn_function_desc &fn,
                        const std::vector<HostTensor *> &args, int64_t batch,
                        std::vector<HostTensor> &results, std::string &error) {
  Workspace &ws = workspace(fn);
  HalideBuffer *buffers = ws.buffers.get();
  auto describe = [&](HostTensor &tensor, int slot, const firn_port &port,
                      bool input) {
    if (firn_describe_buffer(tensor.dtype, static_cast<int>(tensor.shape.size()),
                             tensor.shape.data(), tensor.data(),
                             &buffers[slot].buffer, buffers[slot].dims) == 0) {
      ws.pointers[slot] = &buffers[slot].buffer;
      return true;
    }
    // For the message.
    return describeBuffer(tensor, buffers[slot], portName(model, fn, port, input),
                          error);
  };

  for (int i = 0; i < fn.num_inputs; ++i) {
    const firn_port &port = fn.inputs[i];
    HostTensor *tensor;
    if (port.state >= 0) {
      tensor = &model.tensor(port.state);
    } else {
      if (port.index >= static_cast<int>(args.size()) || !args[port.index]) {
        error = "no value for " + portName(model, fn, port, true);
        return false;
      }
      tensor = args[port.index];
      if (!matchesPort(*tensor, port, batch)) {
        error = portName(model, fn, port, true) + " must be " +
                dtypeString(port.dtype) + " " +
                shapeString(portShape(port, batch)) + ", not " +
                dtypeString(tensor->dtype) + " " + shapeString(tensor->shape);
        return false;
      }
    }
    if (!describe(*tensor, i, port, true))
      return false;
  }

  int numResults = 0;
  for (int o = 0; o < fn.num_outputs; ++o)
    if (fn.outputs[o].state < 0)
      numResults = std::max(numResults, fn.outputs[o].index + 1);
  results.resize(numResults);
  for (int o = 0; o < fn.num_outputs; ++o) {
    const firn_port &port = fn.outputs[o];
    HostTensor *tensor;
    if (port.state >= 0) {
      tensor = &scratch[port.state];
      const HostTensor &current = model.tensor(port.state);
      // (A default scratch tensor has the shape of a scalar but no storage:
      // compare the storage too.)
      size_t stored = tensor->dtype == FIRN_F32 ? tensor->f32.size()
                                                : tensor->i64.size();
      if (tensor->shape != current.shape || tensor->dtype != current.dtype ||
          stored != static_cast<size_t>(current.numel()))
        *tensor = HostTensor::zeros(current.dtype, current.shape);
    } else {
      // The kernel writes every element: a tensor of the right shape from
      // an earlier call is reused as it is.
      tensor = &results[port.index];
      if (!matchesPort(*tensor, port, batch))
        *tensor = HostTensor::zeros(static_cast<firn_dtype>(port.dtype),
                                    portShape(port, batch));
    }
    if (!describe(*tensor, fn.num_inputs + o, port, false))
      return false;
  }

  // Temporaries: allocated at the first call and when the batch size
  // changes, otherwise reused (a kernel writes all of one before any
  // kernel reads it).
  for (int t = 0; t < fn.num_temps; ++t) {
    const firn_port &port = fn.temps[t];
    HostTensor &tensor = ws.temps[t];
    if (!matchesPort(tensor, port, batch))
      tensor = HostTensor::zeros(static_cast<firn_dtype>(port.dtype),
                                 portShape(port, batch));
    if (!describe(tensor, fn.num_inputs + fn.num_outputs + t, port, false))
      return false;
  }

  int status = fn.call(ws.pointers.data());
  if (status != 0) {
    const std::string said = takeHalideErrors();
    error = std::string("kernel ") + fn.name + " failed with Halide error " +
            std::to_string(status) + (said.empty() ? "" : ": " + said);
    // What grows with the batch: Halide's buffers hold at most 2^31 - 1
    // bytes, and memory is finite.
    if (status == halide_error_code_buffer_allocation_too_large ||
        status == halide_error_code_buffer_extents_too_large ||
        status == halide_error_code_out_of_memory)
      error += " (batch size " + std::to_string(batch) +
               "; a smaller --batch-size may fit)";
    return false;
  }

  // The kernel wrote every state output in full: swap it in, and keep the
  // old storage as next call's scratch.
  for (int o = 0; o < fn.num_outputs; ++o) {
    const firn_port &port = fn.outputs[o];
    if (port.state < 0)
      continue;
    HostTensor &current = model.tensor(port.state);
    current.f32.swap(scratch[port.state].f32);
    current.i64.swap(scratch[port.state].i64);
  }
  return true;
}

} // namespace firn::runtime
