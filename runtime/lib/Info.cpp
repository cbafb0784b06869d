//===- Info.cpp - `model info`
//---------------------------------------------===//
//
// See Info.h. Columns are padded to the longest name so the listing reads
// as a table; the text is plain (no colours), for logs and diffs.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Info.h"

#include "firn/Runtime/Buffers.h"
#include "firn/Runtime/Trainer.h"
#include "firn/Runtime/ZeroSharding.h"

#include <algorithm>
#include <cstdio>

namespace firn::runtime {

namespace {

std::string pad(std::string s, size_t width) {
  if (s.size() < width)
    s.append(width - s.size(), ' ');
  return s;
}

std::string stateShape(const firn_state_desc &s) {
  return shapeString(std::vector<int64_t>(s.shape, s.shape + s.rank));
}

/// A port's shape with the batch dimension written N.
std::string portShape(const firn_port &port) {
  std::string text = "[";
  for (int i = 0; i < port.rank; ++i) {
    if (i)
      text += ", ";
    text += port.shape[i] == -1 ? "N" : std::to_string(port.shape[i]);
  }
  return text + "]";
}

/// "840 bytes", "12.5 KB", "3.10 MB", "1.20 GB" (powers of 1000).
std::string byteSize(int64_t bytes) {
  char text[32];
  if (bytes < 10000)
    std::snprintf(text, sizeof text, "%lld bytes", (long long)bytes);
  else if (bytes < 10000000)
    std::snprintf(text, sizeof text, "%.1f KB", double(bytes) / 1e3);
  else if (bytes < 10000000000)
    std::snprintf(text, sizeof text, "%.2f MB", double(bytes) / 1e6);
  else
    std::snprintf(text, sizeof text, "%.2f GB", double(bytes) / 1e9);
  return text;
}

/// What --zero1 leaves each rank of the optimizer state (the largest
/// share, for K ranks).
std::string optimizerMemory(const firn_model_desc &d) {
  ShardPlan plan;
  std::string why;
  if (!d.optimizer_step || !planShards(d, 1, plan, why))
    return "";
  std::string line = "optimizer state: " + byteSize(plan.optimizerBytes) +
                     " per process; with --zero1, per rank (the largest "
                     "share):";
  for (int ranks : {2, 4, 8, 16}) {
    if (!planShards(d, ranks, plan, why))
      return line + " none (" + why + ")\n";
    line += std::string(ranks > 2 ? "," : "") + " " + std::to_string(ranks) +
            " ranks " +
            byteSize(*std::max_element(plan.rankOptimizerBytes.begin(),
                                       plan.rankOptimizerBytes.end()));
  }
  return line + "\n";
}

std::string argLine(const char *role, const char *name, const firn_port *p) {
  std::string line = std::string("  ") + role + " " + name;
  if (p)
    line += std::string(" ") + portShape(*p) + " " + dtypeString(p->dtype);
  return line + "\n";
}

} // namespace

std::string modelInfo(const firn_model_desc &d) {
  std::string out = std::string("model ") + d.name + "\n";
  out += std::string("target ") + (d.target ? d.target : "host") + "\n";
  size_t width = 0, shapeWidth = 0;
  for (int s = 0; s < d.num_states; ++s) {
    width = std::max(width, std::string(d.states[s].name).size());
    shapeWidth = std::max(shapeWidth, stateShape(d.states[s]).size());
  }

  out += "parameters:\n";
  int params = 0;
  for (int s = 0; s < d.num_states; ++s) {
    const firn_state_desc &st = d.states[s];
    if (st.kind != FIRN_STATE_PARAM)
      continue;
    ++params;
    std::string owner = st.optimizer
                            ? std::string("optimizer ") + st.optimizer +
                                  " group " + std::to_string(st.group)
                            : "not optimized";
    // A frozen parameter is never updated, even when an optimizer holds it
    // (PyTorch skips parameters without a gradient).
    if (st.optimizer && !st.trainable)
      owner += " (never updated: frozen)";
    out += "  " + pad(st.name, width) + "  " + pad(stateShape(st), shapeWidth) +
           "  " + pad(st.trainable ? "trainable" : "frozen", 9) + "  " + owner +
           "\n";
  }
  if (!params)
    out += "  (none)\n";

  out += "buffers:\n";
  int buffers = 0;
  for (int s = 0; s < d.num_states; ++s) {
    const firn_state_desc &st = d.states[s];
    if (st.kind != FIRN_STATE_BUFFER)
      continue;
    ++buffers;
    out += "  " + pad(st.name, width) + "  " + stateShape(st) +
           (st.dtype == FIRN_I64 ? " int64" : "") + "\n";
  }
  if (!buffers)
    out += "  (none)\n";

  // Inputs, targets and outputs are batched along their first dimension.
  out += "data (N is the batch size, --batch-size):\n";
  for (int i = 0; i < d.num_inputs; ++i)
    out += argLine("input", d.input_names[i], findArgumentPort(d, i));
  if (d.target_name)
    out += argLine("target", d.target_name, findArgumentPort(d, d.num_inputs));
  if (d.predict)
    for (int o = 0; o < d.predict->num_outputs; ++o)
      if (d.predict->outputs[o].state < 0)
        out += std::string("  output ") + portShape(d.predict->outputs[o]) +
               " " + dtypeString(d.predict->outputs[o].dtype) + "\n";

  out += "functions:";
  bool any = false;
  for (const firn_function_desc *fn :
       {d.predict, d.eval_loss, d.train_step, d.zero_grad_fn, d.optimizer_step,
        d.fused_step})
    if (fn) {
      out += std::string(" ") + fn->name;
      any = true;
    }
  out += any ? "\n" : " (none)\n";
  if (d.train_step)
    out += "training: accumulate " + std::to_string(d.accumulate) +
           ", zero_grad " + (d.zero_grad ? d.zero_grad : "optimizer") +
           ", seed " + std::to_string(d.seed) + "\n";
  else
    out += "training: none (inference only)\n";
  out += optimizerMemory(d);
  return out;
}

} // namespace firn::runtime
