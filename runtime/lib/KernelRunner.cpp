//===- KernelRunner.cpp - Bind ports to tensors and call a kernel ---------===//
//
// See Trainer.h. The halide_buffer_t descriptions are refilled for every
// call (the tensors behind state outputs move: the scratch tensor and the
// state swap storage after each call), in storage that each function keeps
// across calls, and results reuse the caller's tensors when their shapes
// match: once every function has run, a call allocates nothing. Messages
// are built only on failure.
//
// On a GPU binary every tensor a kernel takes keeps the device copy Halide
// made for it (Buffers.h): the descriptions are refilled from the tensors'
// DeviceCopy before a call and read back after it. Arguments come from the
// host (a batch) and are uploaded at every call; outputs and temporaries
// are overwritten, so their old contents are never uploaded; results are
// copied down after the call (a loss, predictions: the caller reads them);
// state stays on the device.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Trainer.h"

#include "firn/Runtime/HalideErrors.h"

#include <algorithm>
#include <dlfcn.h>
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

KernelRunner::KernelRunner(ModelState &state)
    : model(state), device(usesDevice(state.desc())) {
  scratch.resize(state.size());
}

void KernelRunner::keepDeviceCopies(Workspace &ws, int numPorts) {
  for (int slot = 0; slot < numPorts; ++slot) {
    HostTensor *tensor = ws.tensors[slot];
    if (!tensor)
      continue; // A state this rank does not hold.
    const halide_buffer_t &buffer = ws.buffers[slot].buffer;
    // A tensor passed twice (the same batch as two arguments) keeps the
    // copy of its first port; a second one made for it is freed.
    bool repeated = false;
    for (int earlier = 0; earlier < slot && !repeated; ++earlier)
      repeated = ws.tensors[earlier] == tensor;
    if (!repeated) {
      takeDevice(*tensor, buffer);
    } else if (buffer.device && buffer.device != tensor->device.handle) {
      halide_buffer_t stray = buffer;
      buffer.device_interface->device_free(nullptr, &stray);
    }
  }
}

bool loadCudaDriver(std::string &error) {
  // Loaded with its symbols global: Halide's CUDA runtime looks for cuInit
  // among the loaded symbols before it tries to open "libcuda.so" itself
  // (which only a development package provides).
  for (const char *name : {"libcuda.so.1", "libcuda.so"})
    if (dlopen(name, RTLD_NOW | RTLD_GLOBAL))
      return true;
  const char *why = dlerror();
  error = std::string("this binary runs its kernels on an NVIDIA GPU (firnc "
                      "--target=cuda), and no CUDA driver was found (") +
          (why ? why : "libcuda.so.1") +
          "); run it where one is installed, or build it with --target=host";
  return false;
}

KernelRunner::Workspace &KernelRunner::workspace(const firn_function_desc &fn) {
  Workspace &ws = workspaces[&fn];
  if (!ws.buffers) {
    const int numPorts = fn.num_inputs + fn.num_outputs + fn.num_temps;
    ws.temps.resize(fn.num_temps);
    ws.buffers.reset(new HalideBuffer[numPorts]);
    ws.pointers.resize(numPorts);
    ws.tensors.resize(numPorts);
  }
  return ws;
}

bool KernelRunner::call(const firn_function_desc &fn,
                        const std::vector<HostTensor *> &args, int64_t batch,
                        std::vector<HostTensor> &results, std::string &error,
                        KernelProgress *progress) {
  Workspace &ws = workspace(fn);
  HalideBuffer *buffers = ws.buffers.get();
  auto describe = [&](HostTensor &tensor, int slot, const firn_port &port,
                      bool input) {
    if (firn_describe_buffer(tensor.dtype, static_cast<int>(tensor.shape.size()),
                             tensor.shape.data(), tensor.data(),
                             &buffers[slot].buffer, buffers[slot].dims) == 0) {
      halide_buffer_t &buffer = buffers[slot].buffer;
      ws.pointers[slot] = &buffer;
      ws.tensors[slot] = &tensor;
      if (device) {
        if (input && port.state < 0)
          tensor.syncToHost(); // (A result passed back in.)
        attachDevice(tensor, buffer);
        if (!input)
          buffer.flags = 0; // Overwritten: nothing to upload.
        else if (port.state < 0 || !tensor.device.handle)
          buffer.flags = halide_buffer_flag_host_dirty; // The host's value.
      }
      return true;
    }
    // For the message.
    return describeBuffer(tensor, buffers[slot], portName(model, fn, port, input),
                          error);
  };

  for (int i = 0; i < fn.num_inputs; ++i) {
    const firn_port &port = fn.inputs[i];
    HostTensor *tensor;
    if (port.state >= 0 && !model.held(port.state)) {
      ws.pointers[i] = nullptr; // No kernel that runs takes it.
      ws.tensors[i] = nullptr;
      continue;
    }
    if (port.state >= 0) {
      tensor = &model.kernelTensor(port.state);
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
    if (port.state >= 0 && !model.held(port.state)) {
      ws.pointers[fn.num_inputs + o] = nullptr;
      ws.tensors[fn.num_inputs + o] = nullptr;
      continue;
    }
    if (port.state >= 0) {
      tensor = &scratch[port.state];
      const HostTensor &current = model.kernelTensor(port.state);
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

  int status = 0;
  if (progress && fn.kernels) {
    HostTensor *const *outputs = ws.tensors.data() + fn.num_inputs;
    for (int k = 0; k < fn.num_kernels && status == 0; ++k) {
      const firn_kernel_desc &kernel = fn.kernels[k];
      if (!progress->runs(k))
        continue;
      for (int i = 0; i < kernel.num_slots; ++i)
        if (!ws.pointers[kernel.slots[i]]) {
          error = std::string("kernel ") + std::to_string(k) + " of " +
                  fn.name + " takes a state this process does not hold "
                  "(internal error)";
          return false;
        }
      for (int i = 0; i < kernel.num_sums; ++i) {
        HostTensor *summed = ws.tensors[kernel.sum_slots[i]];
        if (device) {
          error = std::string(fn.name) + " sums over the ranks between its "
                  "kernels (SyncBatchNorm), which GPU binaries do not do yet";
          return false;
        }
        if (!progress->sumOverRanks(summed->f32.data(),
                                    int64_t(summed->f32.size()), error))
          return false;
      }
      status = kernel.call(ws.pointers.data());
      if (status == 0 && !device)
        progress->written(kernel.outputs_done, outputs);
    }
  } else {
    status = fn.call(ws.pointers.data());
  }
  if (device)
    keepDeviceCopies(ws, fn.num_inputs + fn.num_outputs + fn.num_temps);
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
    if (port.state < 0 || !model.held(port.state))
      continue;
    HostTensor &current = model.kernelTensor(port.state);
    current.f32.swap(scratch[port.state].f32);
    current.i64.swap(scratch[port.state].i64);
    std::swap(current.device, scratch[port.state].device);
  }
  if (device)
    for (HostTensor &result : results)
      result.syncToHost();
  return true;
}

} // namespace firn::runtime
