//===- Readers.cpp - Which stages read which, to place them ---------------===//
//
// See Readers.h.
//
//===----------------------------------------------------------------------===//
#include "Readers.h"

#include "llvm/ADT/ArrayRef.h"

namespace firn::codegen {

/// Whether `consumer` reads `producer`, directly or through inlined Funcs.
bool reads(const Halide::Func &consumer, const Halide::Func &producer) {
  return Halide::Internal::find_transitive_calls(consumer.function())
      .count(producer.name());
}

namespace {
/// The pipeline output that alone reads `producer` (no root or product
/// other than itself does), when it is a tensor of images [N, C, H, W]
/// (of `shape` without N, if given).
std::optional<Halide::Func> readerOfImages(const LoweredFunction &function,
                                           const Halide::Func &producer,
                                           llvm::ArrayRef<int64_t> shape = {}) {
  std::optional<Halide::Func> reader;
  for (size_t i = 0; i < function.funcs.size(); ++i) {
    const Halide::Func &f = function.funcs[i];
    if (!reads(f, producer))
      continue;
    auto type = llvm::dyn_cast<mlir::RankedTensorType>(function.outputs[i].type);
    if ((reader && reader->name() != f.name()) || f.outputs() != 1 || !type ||
        type.getRank() != 4 ||
        (!shape.empty() && type.getShape().drop_front() != shape))
      return std::nullopt;
    reader = f;
  }
  for (const RootFunc &other : function.rootFuncs)
    if (other.func.name() != producer.name() && reads(other.func, producer))
      return std::nullopt;
  for (const Contraction &c : function.contractions)
    if (c.result.name() != producer.name() && reads(c.result, producer))
      return std::nullopt;
  return reader;
}
} // namespace

std::optional<Halide::Func> soleImageReader(const LoweredFunction &function,
                                            const RootFunc &root) {
  const RootFunc::WinogradParts &p = root.winograd;
  if (p.isOutput || p.weightGradient())
    return std::nullopt;
  const int64_t shape[] = {p.outChannels, p.outH, p.outW};
  return readerOfImages(function, root.func, shape);
}

std::optional<Halide::Func> soleImageReader(const LoweredFunction &function,
                                            const Contraction &c) {
  if (c.isOutput || !c.batchIsImages)
    return std::nullopt;
  return readerOfImages(function, c.result);
}

std::optional<Halide::Func>
imageOfReaders(const LoweredFunction &function, const Halide::Func &source,
               llvm::ArrayRef<std::optional<Halide::Func>> productImages) {
  std::optional<Halide::Func> image;
  for (size_t i = 0; i < function.contractions.size(); ++i) {
    if (!reads(function.contractions[i].result, source))
      continue;
    const std::optional<Halide::Func> &reader = productImages[i];
    if (!reader || (image && image->name() != reader->name()))
      return std::nullopt;
    image = reader;
  }
  for (const RootFunc &other : function.rootFuncs)
    if (other.func.name() != source.name() && reads(other.func, source))
      return std::nullopt;
  for (const Halide::Func &f : function.funcs)
    if (reads(f, source) && !(image && f.name() == image->name()))
      return std::nullopt;
  return image;
}

const Contraction *soleBatchedReader(const LoweredFunction &function,
                                     const Halide::Func &copy) {
  const Halide::Func &f = copy;
  const Contraction *reader = nullptr;
  for (const Contraction &c : function.contractions) {
    if (!reads(c.result, f))
      continue;
    // (A left operand without the batch coordinate is the same for every
    // batch index: copied per index, it would be copied again each time.)
    if (reader || c.batch.empty() || !c.lhsDirect || !c.lhsBatched || c.lhsTiles.defined())
      return nullptr;
    reader = &c;
  }
  if (!reader)
    return nullptr;
  // (Others may read it through the product, which computes it.)
  auto readsElsewhere = [&](const Halide::Func &g) {
    return g.name() != f.name() && g.name() != reader->result.name() && reads(g, f) &&
           !reads(g, reader->result);
  };
  for (const RootFunc &other : function.rootFuncs)
    if (readsElsewhere(other.func))
      return nullptr;
  for (const Halide::Func &out : function.funcs)
    if (readsElsewhere(out))
      return nullptr;
  return reader;
}

} // namespace firn::codegen
