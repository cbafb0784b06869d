//===- KernelTable.cpp - The table of reference kernels by op -------------===//
//
// Builds the table from every family's registration, once, and the small
// helpers the registrations share.
//
//===----------------------------------------------------------------------===//
#include "KernelTable.h"

namespace firn::reference {

Results::Results(Result result) {
  if (result.ok())
    values.push_back(std::move(result.value));
  else
    error = std::move(result.error);
}

Results Results::fail(std::string message) {
  return Results(Result::fail(std::move(message)));
}

const OpKernel *KernelTable::find(mlir::Operation *op) const {
  std::optional<mlir::RegisteredOperationName> name = op->getRegisteredInfo();
  if (!name)
    return nullptr;
  auto it = kernels.find(name->getTypeID());
  return it == kernels.end() ? nullptr : &it->second;
}

const KernelTable &kernelTable() {
  static const KernelTable table = [] {
    KernelTable t;
    registerElementwiseKernels(t);
    registerLayoutKernels(t);
    registerReductionKernels(t);
    registerProductKernels(t);
    registerPoolingKernels(t);
    registerIndexingKernels(t);
    registerAttentionKernels(t);
    return t;
  }();
  return table;
}

Shape resolve(mlir::RankedTensorType type, int64_t batch) {
  Shape shape(type.getShape().begin(), type.getShape().end());
  for (int64_t &size : shape)
    if (mlir::ShapedType::isDynamic(size))
      size = batch;
  return shape;
}

} // namespace firn::reference
