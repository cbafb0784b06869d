//===- BufferContract.cpp - What every kernel may assume of its buffers ---===//
//
// The runtime describes every buffer it passes to a kernel the same way
// (firn_describe_buffer, ModelABI.h): dense, row-major, each dimension from
// 0, the extents its type states, host memory allocated, the element type
// and rank of the port. Halide, told nothing, assumes any strides and
// checks each of those facts on entry to each kernel. Stating them lets it
// fold the index arithmetic into constants; dropping the checks that only
// restate them (about half of a CNN's kernel compile time went to them)
// leaves the ones that can fail: a region read past a buffer's end (a
// lowering bug) and an allocation too large for the batch.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"

#include <set>

namespace firn::codegen {
namespace {

/// The contract for one buffer. The buffers of a Tuple's later elements
/// take their mins and extents from the first one's (Halide refuses
/// constraints on them), so only their strides are stated.
void constrainToDense(Halide::OutputImageParam buffer, RankedTensorType type,
                      bool stridesOnly) {
  const int rank = static_cast<int>(type.getRank());
  Halide::Expr stride = 1;
  for (int k = 0; k < rank; ++k) {
    Halide::Internal::Dimension dim = buffer.dim(k);
    dim.set_stride(stride);
    const int d = rank - 1 - k; // Halide's dimension 0 is the last one.
    Halide::Expr extent = dim.extent();
    if (!type.isDynamicDim(d))
      extent = static_cast<int>(type.getDimSize(d));
    if (!stridesOnly) {
      dim.set_min(0);
      if (!type.isDynamicDim(d))
        dim.set_extent(extent);
    }
    stride = Halide::Internal::simplify(stride * extent);
  }
}

/// Removes the entry checks that restate the contract. Each is an
/// AssertStmt whose message is a call of the named error function; every
/// other check stays (those on reads past a buffer, allocation sizes,
/// device copies).
class DropContractChecks : public Halide::Internal::IRMutator {
  using IRMutator::visit;

  Halide::Internal::Stmt visit(const Halide::Internal::AssertStmt *op) override {
    static const std::set<std::string> restated = {
        "halide_error_bad_type",
        "halide_error_bad_dimensions",
        "halide_error_buffer_argument_is_null",
        "halide_error_host_is_null",
        "halide_error_device_dirty_with_no_device_support",
        "halide_error_buffer_extents_negative",
        "halide_error_constraint_violated",
    };
    const auto *call = op->message.as<Halide::Internal::Call>();
    if (call && restated.count(call->name))
      return Halide::Internal::Evaluate::make(0);
    return op;
  }
};

} // namespace

void constrainToDenseBuffers(LoweredFunction &function) {
  for (auto [param, port] : llvm::zip(function.params, function.inputs))
    constrainToDense(param, port.type, /*stridesOnly=*/false);
  size_t port = 0;
  for (Halide::Func &func : function.funcs) {
    bool first = true;
    for (Halide::OutputImageParam buffer : func.output_buffers()) {
      constrainToDense(buffer, function.outputs[port++].type, !first);
      first = false;
    }
  }
}

void dropContractChecks(Halide::Pipeline &pipeline) {
  pipeline.add_custom_lowering_pass(new DropContractChecks);
}

} // namespace firn::codegen
