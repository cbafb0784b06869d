//===- KernelRunner.cpp - Bind ports to tensors and call a kernel ---------===//
//
// See Trainer.h. The halide_buffer_t descriptions are rebuilt for every call:
// they are a few dozen bytes each, and the tensors behind state outputs move
// (the scratch tensor and the state swap storage after each call).
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Trainer.h"

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

} // namespace

KernelRunner::KernelRunner(ModelState &state) : model(state) {
  scratch.resize(state.size());
}

bool KernelRunner::call(const firn_function_desc &fn,
                        const std::vector<HostTensor *> &args, int64_t batch,
                        std::vector<HostTensor> &results, std::string &error) {
  const int numPorts = fn.num_inputs + fn.num_outputs;
  std::unique_ptr<HalideBuffer[]> buffers(new HalideBuffer[numPorts]);
  std::vector<void *> pointers(numPorts);

  for (int i = 0; i < fn.num_inputs; ++i) {
    const firn_port &port = fn.inputs[i];
    HostTensor *tensor;
    std::string name;
    if (port.state >= 0) {
      tensor = &model.tensor(port.state);
      name = model.stateDesc(port.state).name;
    } else {
      name = std::string(fn.name) + " argument " + std::to_string(port.index);
      if (port.index >= static_cast<int>(args.size()) || !args[port.index]) {
        error = "no value for " + name;
        return false;
      }
      tensor = args[port.index];
      std::vector<int64_t> expected = portShape(port, batch);
      if (tensor->dtype != port.dtype || tensor->shape != expected) {
        error = name + " must be " + dtypeString(port.dtype) + " " +
                shapeString(expected) + ", not " + dtypeString(tensor->dtype) +
                " " + shapeString(tensor->shape);
        return false;
      }
    }
    if (!describeBuffer(*tensor, buffers[i], name, error))
      return false;
    pointers[i] = &buffers[i].buffer;
  }

  int numResults = 0;
  for (int o = 0; o < fn.num_outputs; ++o)
    if (fn.outputs[o].state < 0)
      numResults = std::max(numResults, fn.outputs[o].index + 1);
  std::vector<HostTensor> outs(numResults);
  for (int o = 0; o < fn.num_outputs; ++o) {
    const firn_port &port = fn.outputs[o];
    HostTensor *tensor;
    std::string name;
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
      name = model.stateDesc(port.state).name;
    } else {
      tensor = &outs[port.index];
      *tensor = HostTensor::zeros(static_cast<firn_dtype>(port.dtype),
                                  portShape(port, batch));
      name = std::string(fn.name) + " result " + std::to_string(port.index);
    }
    int slot = fn.num_inputs + o;
    if (!describeBuffer(*tensor, buffers[slot], name, error))
      return false;
    pointers[slot] = &buffers[slot].buffer;
  }

  int status = fn.call(pointers.data());
  if (status != 0) {
    error = std::string("kernel ") + fn.name + " failed with Halide error " +
            std::to_string(status);
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
  results = std::move(outs);
  return true;
}

} // namespace firn::runtime
