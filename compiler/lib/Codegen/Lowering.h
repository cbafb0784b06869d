//===- Lowering.h - Shared state of the Halide lowering (internal) -*- C++ -*-===//
//
// HalideLowering.cpp walks functions and keeps the state; LowerOps.cpp
// and the family files beside it (LowerProducts.cpp, ...) define one
// Halide Func per op. A value is a Func with its extents (Exprs:
// the batch dimension's comes from an input buffer) and its static shape
// (for broadcasting, which is decided at compile time).
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_CODEGEN_LOWERING_H
#define FIRN_CODEGEN_LOWERING_H

#include "firn/Codegen/HalideLowering.h"
#include "firn/Dialect/FirnOps.h"

#include "llvm/ADT/DenseMap.h"

#include <functional>
#include <map>
#include <optional>

namespace firn::codegen {

// Shorthands for the lowering files (this header is theirs alone).
using namespace mlir;
using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Var;

/// Tensors are row-major (the last dimension contiguous, as in PyTorch)
/// while Halide's first dimension is its innermost: every Func takes its
/// coordinates in reverse. `at` and `define` do the reversal, so lowering
/// code indexes in the tensor's own (logical) order.
Halide::Expr call(const Halide::Func &f, std::vector<Halide::Expr> index);
void define(Halide::Func &f, const std::vector<Halide::Var> &vars,
            const Halide::Expr &value);

struct HTensor {
  Halide::Func func;
  std::vector<Halide::Expr> extents;
  shape::Shape shape; ///< Static sizes, shape::kBatch for the batch.
  Halide::Type type = Halide::Float(32);
  /// Its values are in memory (an input, or computed at root), so reading
  /// an element is one load; otherwise reading it recomputes the inlined
  /// ops that define it.
  bool stored = false;

  int rank() const { return static_cast<int>(shape.size()); }
  Halide::Expr at(const std::vector<Halide::Expr> &index) const {
    return call(func, index);
  }
};

/// States the runtime's buffer layout (BufferContract.cpp) on every input
/// and output of `function`: dense, row-major, from 0, static extents.
void constrainToDenseBuffers(LoweredFunction &function);
/// Adds the lowering pass that drops the entry checks restating that
/// layout (BufferContract.cpp).
void dropContractChecks(Halide::Pipeline &pipeline);

/// Fresh pure variables for a Func of `rank` dimensions.
std::vector<Halide::Var> makeVars(int rank);
std::vector<Halide::Expr> asExprs(const std::vector<Halide::Var> &vars);

/// The operand's index for a result coordinate under NumPy broadcasting:
/// size-1 dimensions read element 0, missing leading ones are dropped.
std::vector<Halide::Expr> broadcastIndex(const HTensor &operand,
                                         const std::vector<Halide::Expr> &index);
/// Row-major flat index of `index` in `extents`, and back.
Halide::Expr flatIndex(const std::vector<Halide::Expr> &index,
                       const std::vector<Halide::Expr> &extents);
std::vector<Halide::Expr> unflatten(Halide::Expr flat,
                                    const std::vector<Halide::Expr> &extents);
/// The number of elements over `axes` of `extents` (all of them if none).
Halide::Expr product(const std::vector<Halide::Expr> &extents,
                     llvm::ArrayRef<int64_t> axes);
/// max(a, b) as torch.maximum computes it: NaN if either is NaN.
Halide::Expr nanMax(Halide::Expr a, Halide::Expr b);
/// A float32 NaN.
Halide::Expr quietNaN();

/// Defines the Funcs of ops, given their operands' values.
class OpLowering {
public:
  /// `winograd`: whether convolutions may run by Winograd's algorithm
  /// (the module does not ask for direct ones).
  OpLowering(Halide::Expr batch, uint64_t seed, bool winograd,
             std::vector<RootFunc> &rootFuncs,
             std::vector<Contraction> &contractions,
             std::map<std::string, int> &rowWidths)
      : batch(std::move(batch)), seed(seed), winograd(winograd), rootFuncs(rootFuncs),
        contractions(contractions), rowWidths(rowWidths) {}

  /// The extents of a value of type `type`.
  std::vector<Halide::Expr> extentsOf(mlir::RankedTensorType type) const;

  /// Lowers one computational op (not state access, not calls): fills one
  /// HTensor per result. Fails with a diagnostic on the op.
  mlir::LogicalResult lower(mlir::Operation *op,
                            llvm::ArrayRef<HTensor> operands,
                            std::vector<HTensor> &results);

private:
  HTensor make(mlir::Value result, const std::string &name);
  /// Marks a Func that reduces (or is otherwise expensive to recompute) so
  /// it is computed once instead of inlined into every consumer; `kind`
  /// tells the scheduler what work it is.
  void root(const Halide::Func &f, RootFunc::Kind kind) {
    rootFuncs.push_back({f, kind, {}});
  }
  /// root(t.func), noting the width of t's rows when it is static.
  void root(const HTensor &t, RootFunc::Kind kind) {
    root(t.func, kind);
    if (!t.shape.empty() && t.shape.back() != shape::kBatch)
      rowWidths[t.func.name()] = static_cast<int>(t.shape.back());
  }

  /// One per op family, each in its own file (see LowerOps.cpp): lowers
  /// `op` into `results` (made by `lower`), or returns std::nullopt when
  /// `op` is not of the family.
  using FamilyResult = std::optional<mlir::LogicalResult>;
  FamilyResult lowerLayout(mlir::Operation *op, llvm::ArrayRef<HTensor> in,
                           std::vector<HTensor> &results);
  FamilyResult lowerElementwise(mlir::Operation *op, llvm::ArrayRef<HTensor> in,
                                std::vector<HTensor> &results);
  FamilyResult lowerProducts(mlir::Operation *op, llvm::ArrayRef<HTensor> in,
                             std::vector<HTensor> &results);
  FamilyResult lowerPooling(mlir::Operation *op, llvm::ArrayRef<HTensor> in,
                            std::vector<HTensor> &results);
  FamilyResult lowerReductions(mlir::Operation *op, llvm::ArrayRef<HTensor> in,
                               std::vector<HTensor> &results);
  FamilyResult lowerIndexing(mlir::Operation *op, llvm::ArrayRef<HTensor> in,
                             std::vector<HTensor> &results);
  FamilyResult lowerAttention(mlir::Operation *op, llvm::ArrayRef<HTensor> in,
                              std::vector<HTensor> &results);
  mlir::LogicalResult lowerAttentionGrad(AttentionGradOp op, llvm::ArrayRef<HTensor> in,
                                         std::vector<HTensor> &results);

  /// A matrix product (see Contraction): `rows` x `columns` for each
  /// batch index (extents `batch`, possibly none), summed over the
  /// reduction extents `depth` (innermost first). `lhs(row, k, b)` (the
  /// same for every batch index unless lhsBatched) and `rhs(k, column, b)`
  /// give the operands' elements.
  using Indices = std::vector<Halide::Expr>;
  using LhsElement =
      std::function<Halide::Expr(Halide::Expr, const Indices &, const Indices &)>;
  using RhsElement =
      std::function<Halide::Expr(const Indices &, Halide::Expr, const Indices &)>;
  struct ContractionSpec {
    std::string name;
    Halide::Expr rows;
    int columns = 0;
    std::vector<Halide::Expr> depth, batch;
    LhsElement lhs;
    RhsElement rhs;
    bool lhsTransposed = false, lhsStored = false;
    /// The left operand differs per batch index (is read with b).
    bool lhsBatched = false;
    /// The right operand's elements for consecutive columns are
    /// consecutive in memory: read in place, not packed.
    bool rhsDirect = false;
    /// See Contraction::rhsRun and batchIsImages.
    int rhsRun = 0;
    bool batchIsImages = false;
  };
  /// Returns the Func of the product: product(column, row, b...).
  Halide::Func contraction(const ContractionSpec &spec);
  /// A matrix product without batch and with one reduction coordinate.
  using Element = std::function<Halide::Expr(Halide::Expr, Halide::Expr)>;
  Halide::Func matrixProduct(const std::string &name, Halide::Expr rows,
                             Halide::Expr depth, int columns, Element lhs,
                             Element rhs, bool lhsTransposed, bool lhsStored);

  /// One dimension of a convolution's window as a product over shifted
  /// views reads it: output o at tap k reads source position
  /// s*o + d*k - p = s*(o + t) + a, the tap's phase a = (d*k - p) mod s (the
  /// source positions s*i + a; stride 1 has one) at shift t = floor((d*k -
  /// p) / s) within it.
  struct WindowAxis {
    int stride = 1, dilation = 1, padding = 0, taps = 1;
    int shift(int k) const;
    int first() const { return shift(0); }
    int last() const { return shift(taps - 1); }
    Halide::Expr phase(Halide::Expr k) const;
    Halide::Expr shift(Halide::Expr k) const;
    /// The source column (row) tap k reads for output 0: k*dilation - padding.
    Halide::Expr offset(Halide::Expr k) const;
  };
  /// A convolution's source copied for products that read it in place:
  /// flat(q, c, u, ph, n) is channel c of image n, zero-padded and `width`
  /// columns wide, whose row q / width holds source row s*(q/width +
  /// firstH) + ph, for `rows` rows; column q % width holds source column
  /// s*(q%width) + u + first where `dense` (a plane per column offset u
  /// of the taps), else s*(q%width + first) + u (a plane per column phase
  /// u; see LowerProducts.cpp).
  struct ShiftedSource {
    Halide::Func flat;
    int width = 0, firstH = 0, first = 0;
    bool dense = false;
    Halide::Expr channels, images;
  };
  ShiftedSource shiftedSource(const std::string &name, const HTensor &src, int strideH,
                              int strideW, int firstH, int first, int width, int rows,
                              bool dense);
  /// Whether dense planes `width` wide take fewer column tiles than padded
  /// ones `paddedWidth` wide, over products of `productRows` output rows.
  static bool denseFewerTiles(llvm::ArrayRef<int> productRows, int width, int paddedWidth);
  /// A convolution as a product over shifted views of `source` (see
  /// LowerProducts.cpp): y[n, o, oh, ow] = sum over (c, kh, kw) of the
  /// source at the window positions of h and w times kernel(o, c, kh,
  /// kw), zero outside the source. Returns y's value at `idx`.
  using KernelElement =
      std::function<Halide::Expr(Halide::Expr, Halide::Expr, Halide::Expr, Halide::Expr)>;
  Halide::Expr shiftedConvolution(const std::string &name, const ShiftedSource &source,
                                  Halide::Expr outChannels, int outH, const WindowAxis &h,
                                  const WindowAxis &w,
                                  KernelElement kernel, const std::vector<Halide::Expr> &idx);
  /// The same with a source of its own, for an output of outH x outW.
  Halide::Expr shiftedConvolution(const std::string &name, const HTensor &src,
                                  Halide::Expr outChannels, int outH, int outW,
                                  const WindowAxis &h, const WindowAxis &w,
                                  KernelElement kernel, const std::vector<Halide::Expr> &idx);

  /// Whether a stride-1, undilated convolution of `src` with kh x kw taps
  /// into `outChannels` x outH x outW runs by Winograd's algorithm.
  bool winogradApplies(const HTensor &src, int outChannels, int outH, int outW, int kh,
                       int kw) const;
  /// The same correlation as shiftedConvolution (3x3 taps, dilation 1) by
  /// Winograd's F(2x2, 3x3) (LowerWinograd.cpp), plus bias(o) if given:
  /// returns its output, out(w, h, o, n), a Winograd root.
  Halide::Func winogradConvolution(const std::string &name, const HTensor &src,
                                   int outChannels, int outH, int outW, int offH,
                                   int offW, KernelElement kernel,
                                   const std::function<Halide::Expr(Halide::Expr)> &bias);

  /// Whether the weight gradient of a stride-1, undilated convolution of
  /// x with kh x kw taps into dy runs by Winograd's algorithm.
  bool winogradWeightGradientApplies(const HTensor &x, const HTensor &dy, int kh,
                                     int kw) const;
  /// That weight gradient (LowerWinograd.cpp) at `idx` of dW.
  Halide::Expr winogradWeightGradient(const HTensor &x, const HTensor &dy,
                                      llvm::ArrayRef<int64_t> padding,
                                      const std::vector<Halide::Expr> &idx);

  /// conv2d_grad_input of a strided convolution (dilation 1) at `idx` of
  /// dx, as one stride-1 product per phase of the stride (see
  /// LowerProducts.cpp).
  Halide::Expr stridedGradInput(const HTensor &dy, const HTensor &w, const HTensor &dx,
                                llvm::ArrayRef<int64_t> stride,
                                llvm::ArrayRef<int64_t> padding,
                                const std::vector<Halide::Expr> &idx);

  /// max_pool2d's windows over `x`: a root Func of (column, row, value) of
  /// each window's first maximum, one per input and geometry (the forward
  /// and the gradient of a training step share it).
  Halide::Func poolArgmax(const HTensor &x, llvm::ArrayRef<int64_t> kernel,
                          llvm::ArrayRef<int64_t> stride,
                          llvm::ArrayRef<int64_t> padding);

  /// `t` itself when it is stored, else a root copy of it (one per value):
  /// an operand that a convolution reads many times (each element once per
  /// kernel tap) is computed once.
  HTensor materialize(const HTensor &t);

  /// sums(c) = the sum over `reduced` (every axis of `in` but c's) of
  /// value(index), divided by `divisor` if it is defined, with sixteen
  /// accumulators (lanes) per sum, in double; a LaneSum root. False (and
  /// nothing defined) unless the trailing reduced axes are contiguous and
  /// hold a vector at least.
  using ElementAt = std::function<Halide::Expr(const std::vector<Halide::Expr> &)>;
  bool laneSums(Halide::Func sums, const HTensor &in, llvm::ArrayRef<int64_t> reduced,
                const ElementAt &value, Halide::Expr divisor = Halide::Expr());
  /// reduce_sum/reduce_mean to a vector with sixteen accumulators per sum
  /// when the sum runs over contiguous trailing axes; fails (lowering
  /// nothing) when the reduction is not of that form.
  mlir::LogicalResult vectorSum(mlir::Operation *op, const HTensor &in,
                                llvm::ArrayRef<int64_t> reduced, HTensor &out);
  /// Each row along the contiguous last axis of a value of `extents`
  /// (rank >= 2), reduced with sixteen lanes: partial(rows..., lane) reduces
  /// lane `lane` of every 16-wide chunk of the row, then the row's Func
  /// (over the other axes, in tensor order) reduces the lanes; a LaneSum
  /// root. `value(index)` is the element at a full index. Sums add in
  /// double (see laneSums); `maximum` ignores NaN (as Halide's does).
  Halide::Func rowReduction(const std::string &name,
                            const std::vector<Halide::Expr> &extents, bool maximum,
                            const ElementAt &value);
  /// Whether rowReduction serves rows of `t`'s last axis: static, a vector
  /// long at least, and other axes to run over.
  static bool reducesByLanes(const HTensor &t);
  mlir::LogicalResult reduce(mlir::Operation *op, const HTensor &in,
                             llvm::ArrayRef<int64_t> axes, bool keepdims,
                             HTensor &out);

  Halide::Expr batch;
  uint64_t seed;
  bool winograd;
  std::vector<RootFunc> &rootFuncs;
  std::vector<Contraction> &contractions;
  std::map<std::string, int> &rowWidths;
  std::map<std::string, HTensor> materialized; ///< By the inlined Func's name.
  std::map<std::string, Halide::Func> poolArgmaxes; ///< By input and geometry.
  int counter = 0;
};

} // namespace firn::codegen

#endif // FIRN_CODEGEN_LOWERING_H
