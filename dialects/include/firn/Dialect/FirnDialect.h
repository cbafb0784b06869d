//===- FirnDialect.h - The firn dialect -------------------------*- C++ -*-===//
#ifndef FIRN_DIALECT_FIRNDIALECT_H
#define FIRN_DIALECT_FIRNDIALECT_H

#include "mlir/IR/Dialect.h"

#include "firn/Dialect/FirnOpsDialect.h.inc"

#endif // FIRN_DIALECT_FIRNDIALECT_H
