//===- SemaIndexing.cpp - Subscripts and unpacking ------------------------===//
//
// The two ways of taking parts of a tensor by position, as Python writes
// them: subscripts (`x[:, 0:4]`, `x[:, -1]`, `x[..., :T]`) and unpacking the
// pieces of torch.split / torch.chunk (`q, k, v = split(x, 64, dim=-1)`).
// Both resolve to static ranges of static dimensions (Program::indexing,
// Program::splits), which IR generation turns into slices.
//
//===----------------------------------------------------------------------===//
#include "Layers/LayerKind.h"
#include "Sema.h"

#include <algorithm>

namespace firn {

std::optional<ValueType> Sema::indexType(const ast::Expr &expr, Scope &scope,
                                         bool inLoss) {
  auto base = typeOf(*expr.elements[0], scope, inLoss);
  if (!base)
    return std::nullopt;
  const int64_t rank = static_cast<int64_t>(base->shape.size());
  // `...` stands for as many full slices as the other indices leave.
  int64_t written = 0, ellipses = 0;
  for (size_t i = 1; i < expr.elements.size(); ++i) {
    const ast::Expr &item = *expr.elements[i];
    if (item.kind == ast::ExprKind::Name && item.name == "...")
      ++ellipses;
    else
      ++written;
  }
  if (ellipses > 1) {
    diags.error(expr.loc, "an index can have only one '...'");
    return std::nullopt;
  }
  if (written > rank) {
    diags.error(expr.loc, "too many indices for " + str(*base) + ": " +
                              std::to_string(written) + " given");
    return std::nullopt;
  }
  std::vector<Program::IndexedDim> dims;
  shape::Shape out;
  int64_t dim = 0;
  for (size_t i = 1; i < expr.elements.size(); ++i) {
    const ast::Expr &item = *expr.elements[i];
    if (item.kind == ast::ExprKind::Name && item.name == "...") {
      for (int64_t skip = rank - written; skip > 0; --skip, ++dim)
        out.push_back(base->shape[dim]);
      continue;
    }
    const int64_t size = base->shape[dim];
    const bool batch = size == shape::kBatch;
    if (item.kind != ast::ExprKind::Slice) {
      // An integer index picks one element and removes the dimension.
      if (isNone(&item)) {
        diags.error(item.loc, "None (a new axis) in an index is not supported; "
                              "use unsqueeze(x, dim)");
        return std::nullopt;
      }
      if (item.kind != ast::ExprKind::Number) {
        diags.error(item.loc, "an index must be an integer or a slice such as "
                              "0:4, got " + describe(&item));
        return std::nullopt;
      }
      auto index = readInt(&item, "an index", diags);
      if (!index)
        return std::nullopt;
      if (batch) {
        diags.error(item.loc, "cannot index the batch dimension of " + str(*base));
        return std::nullopt;
      }
      if (*index < -size || *index >= size) {
        diags.error(item.loc, "index " + std::to_string(*index) +
                                  " is out of range for dimension " +
                                  std::to_string(dim) + " of " + str(*base));
        return std::nullopt;
      }
      dims.push_back({dim, *index < 0 ? *index + size : *index, 1, true});
      ++dim;
      continue;
    }
    // start:stop:step, Python's rules: negative counts from the end, bounds
    // outside the dimension are clamped to it.
    std::optional<int64_t> bounds[2];
    for (int part = 0; part < 3; ++part) {
      const ast::Expr &value = *item.elements[part];
      if (isNone(&value))
        continue;
      auto n = readInt(&value, part == 2 ? "a slice's step" : "a slice bound", diags);
      if (!n)
        return std::nullopt;
      if (part == 2) {
        if (*n != 1) {
          diags.error(value.loc, "a slice's step must be 1, got " +
                                     std::to_string(*n) + " (strided slices are "
                                     "not supported)");
          return std::nullopt;
        }
        continue;
      }
      bounds[part] = n;
    }
    if (batch) {
      if ((bounds[0] && *bounds[0] != 0) || bounds[1]) {
        diags.error(item.loc, "cannot slice the batch dimension of " + str(*base) +
                                  "; write ':' for it");
        return std::nullopt;
      }
      out.push_back(size);
      ++dim;
      continue;
    }
    auto clamp = [&](int64_t v) {
      return std::clamp<int64_t>(v < 0 ? v + size : v, 0, size);
    };
    const int64_t start = bounds[0] ? clamp(*bounds[0]) : 0;
    const int64_t stop = bounds[1] ? clamp(*bounds[1]) : size;
    if (stop <= start) {
      diags.error(item.loc, "the slice keeps no element of dimension " +
                                std::to_string(dim) + " of " + str(*base) +
                                " (empty tensors are not supported)");
      return std::nullopt;
    }
    if (start != 0 || stop != size)
      dims.push_back({dim, start, stop - start, false});
    out.push_back(stop - start);
    ++dim;
  }
  for (; dim < rank; ++dim)
    out.push_back(base->shape[dim]);
  program.indexing[&expr] = dims;
  return ValueType{base->dtype, out};
}

std::optional<std::vector<ValueType>> Sema::unpackTypes(const ast::Stmt &stmt,
                                                        Scope &scope) {
  const ast::Expr &call = *stmt.value;
  const size_t names = stmt.targets.size();
  if (const Layer *layer = call.kind == ast::ExprKind::Call ? program.findLayer(call.name)
                                                            : nullptr;
      layer && isAttentionLayer(*layer))
    return multiheadAttentionTypes(stmt, *layer, scope);
  if (call.kind != ast::ExprKind::Call ||
      (call.name != "split" && call.name != "chunk")) {
    diags.error(call.loc, std::to_string(names) +
                              " names are assigned, but only split(...), chunk(...) "
                              "and a MultiheadAttention layer give several values");
    return std::nullopt;
  }
  const bool isSplit = call.name == "split";
  // torch.split(tensor, split_size_or_sections, dim=0),
  // torch.chunk(input, chunks, dim=0).
  Signature sig = isSplit ? Signature{"split",
                                      {{"tensor", true},
                                       {"split_size_or_sections", true},
                                       {"dim"}}}
                          : Signature{"chunk", {{"input", true}, {"chunks", true}, {"dim"}}};
  auto bound = bindArgs(sig, call.args, call.loc, diags);
  if (!bound)
    return std::nullopt;
  const ast::Expr *input = bound->get(isSplit ? "tensor" : "input");
  auto x = typeOf(*input, scope, /*inLoss=*/false);
  if (!x)
    return std::nullopt;
  int64_t dim = 0;
  if (const ast::Expr *d = bound->get("dim")) {
    auto value = readDim(d, *x, "'" + call.name + "' dim");
    if (!value)
      return std::nullopt;
    dim = *value;
  }
  const int64_t size = x->shape.empty() ? 0 : x->shape[dim];
  if (x->shape.empty() || size == shape::kBatch) {
    diags.error(call.loc, "'" + call.name + "' cannot split " +
                              (x->shape.empty() ? "a scalar"
                                                : "the batch dimension of " + str(*x)));
    return std::nullopt;
  }
  std::vector<int64_t> lengths;
  const ast::Expr *how = bound->get(isSplit ? "split_size_or_sections" : "chunks");
  if (isSplit && (how->kind == ast::ExprKind::List || how->kind == ast::ExprKind::Tuple)) {
    // Sections: their sizes, which must add up to the dimension.
    int64_t total = 0;
    for (const ast::ExprPtr &element : how->elements) {
      auto n = readIntAtLeast(element.get(), 1, "a section of 'split'", diags);
      if (!n)
        return std::nullopt;
      lengths.push_back(*n);
      total += *n;
    }
    if (total != size) {
      diags.error(how->loc, "the sections of 'split' add up to " + std::to_string(total) +
                                ", but dimension " + std::to_string(dim) + " of " +
                                str(*x) + " has " + std::to_string(size));
      return std::nullopt;
    }
  } else {
    auto n = readIntAtLeast(how, 1,
                            isSplit ? "'split' split_size_or_sections" : "'chunk' chunks",
                            diags);
    if (!n)
      return std::nullopt;
    // split: pieces of n, the last one smaller; chunk: pieces of
    // ceil(size / n) (so possibly fewer than n of them), as PyTorch's.
    const int64_t piece = isSplit ? *n : (size + *n - 1) / *n;
    for (int64_t start = 0; start < size; start += piece)
      lengths.push_back(std::min(piece, size - start));
  }
  if (lengths.size() != names) {
    diags.error(stmt.targetLocs[0],
                "'" + call.name + "' gives " + std::to_string(lengths.size()) +
                    " tensors here, but " + std::to_string(names) +
                    (names == 1 ? " name is" : " names are") + " assigned");
    return std::nullopt;
  }
  Program::Split split{dim, {}};
  std::vector<ValueType> types;
  int64_t start = 0;
  for (int64_t length : lengths) {
    split.pieces.push_back({start, length});
    start += length;
    ValueType piece = *x;
    piece.shape[dim] = length;
    types.push_back(piece);
  }
  program.splits[&call] = split;
  program.tupleTypes[&call] = types;
  return types;
}

} // namespace firn
