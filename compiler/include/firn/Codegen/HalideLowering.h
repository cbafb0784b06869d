//===- HalideLowering.h - firn functions as Halide pipelines ----*- C++ -*-===//
//
// Code generation's first half: one func.func of firn IR becomes one
// Halide pipeline. Its inputs are the function's arguments followed by the
// state it reads (one ImageParam per parameter or buffer symbol); its
// outputs are the function's results followed by the state it writes (the
// last value written to each symbol). The runtime binds state buffers to
// both sides, which is how a training step updates parameters in place.
//
// Elementwise ops become Halide Funcs that are inlined into their consumers
// (fused: no buffer in between); contractions, convolutions and reductions
// are computed once each, in the way the target's scheduler decides
// (Scheduler.h). Compilation (JIT for tests, AOT for binaries) is the
// caller's business.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_CODEGEN_HALIDELOWERING_H
#define FIRN_CODEGEN_HALIDELOWERING_H

#include "Halide.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <map>
#include <string>
#include <vector>

namespace firn::codegen {

/// One input or output of a lowered kernel: an argument or result of the
/// model function, a piece of state (`symbol` its name), or a temporary: a
/// value one kernel of a function computes and a later kernel of the same
/// function reads (see KernelPartition.h).
struct Port {
  enum class Kind { Argument, Result, State, Temporary };
  std::string name;   ///< The kernel's parameter: `arg0`, `result0`, a symbol.
  std::string symbol; ///< The state symbol; empty for the other kinds.
  mlir::RankedTensorType type;
  Kind kind = Kind::Argument;
  /// The argument's or result's position in the model function, or the
  /// temporary's number within it.
  int index = 0;
};

/// A matrix product result[i, j] = sum_k lhs[i, k] * rhs[k, j]: a linear
/// layer or a matmul in any of its transpose variants (x·Wᵀ, dy·W, dyᵀ·x),
/// and a convolution as an implicit GEMM (its forward and input gradient
/// one product per image, its weight gradient one product summed over the
/// images). Lowering defines each in this one canonical form so that one
/// hand-written schedule (scheduleContraction in HostScheduler.cpp) serves
/// them all. Halide coordinates are reversed: `result(j, i, b...)` is row
/// i, column j of the product for batch index b (convolutions: the image).
/// The reduction may run over several coordinates (k...: a convolution's
/// weight gradient sums over images, rows and columns).
struct Contraction {
  Halide::Func result; ///< result(j, i, b...) = acc(j, i, b...).
  Halide::Func acc;    ///< acc(j, i, b...) += lhs(k..., i) * rhs(j, k..., b...).
  Halide::Func lhs;    ///< Row i of the left operand at reduction index k...
  Halide::Func rhs;    ///< Column j of the right operand at reduction index k...
  /// For a transposed left operand: its rows copied in tiles of 8,
  /// lhsTiles(ii, k..., io) = row io*8 + ii (lhs reads it).
  Halide::Func lhsTiles;
  Halide::Var j, i;
  std::vector<Halide::Var> k;     ///< One per reduction coordinate, innermost first.
  std::vector<Halide::Var> batch; ///< The pure batch coordinates, innermost first.
  std::vector<Halide::Expr> batchExtents; ///< Their extents.
  Halide::RDom r;      ///< Over the reduction extents; r[d] runs with k[d].
  Halide::Expr rows;   ///< M (dynamic when it is the batch).
  int columns = 0;     ///< N (always static).
  /// Whether the left operand can be read in place: stored, row-major.
  /// Otherwise it is materialized once (computing an inlined producer such
  /// as a ReLU once, not once per column tile).
  bool lhsDirect = false;
  /// Whether the right operand is read in place (consecutive columns are
  /// consecutive in memory) instead of packed per column panel.
  bool rhsDirect = false;
  /// Whether the left operand differs per batch index (is read with it).
  bool lhsBatched = false;
  /// Where the right operand is stored with k[0] contiguous instead of the
  /// columns (a weight gradient's dy): the static length of those runs
  /// (the packing transposes blocks), else 0.
  int rhsRun = 0;
  /// Whether the batch is a convolution's images, each read by its own
  /// image of the consumer (so a consumer may compute one at a time).
  bool batchIsImages = false;
  /// Whether `result` is itself an output of the pipeline (its rows are
  /// then exactly the output's, a multiple of kContractionTileRows).
  bool isOutput = false;
};

/// Rows per register tile of a contraction's schedule.
constexpr int kContractionTileRows = 8;

/// A Func that lowering computes once (not inlined into its consumers),
/// and what kind of work each of its elements is: the target's scheduler
/// (Scheduler.h) decides how to run each kind. Lowering itself makes no
/// scheduling decision.
struct RootFunc {
  enum class Kind {
    /// A stored copy: an operand that a product or reduction reads many
    /// times (computing an inlined producer once), a zero-padded source.
    Copy,
    /// Each element an inline reduction over a few axes: a softmax's row
    /// maximum and sum, BatchNorm's statistics, a pooling window's sum, a
    /// pooling gradient's taps, a sum over some axes.
    Reduction,
    /// A vector of long sums (a bias gradient over a batch of images),
    /// each the sum of the lanes of `partial`: partial(lane, c) adds lane
    /// `lane` of every chunk of the run that sum c reduces.
    LaneSum,
    /// A max-pooling window's first maximum: a Tuple (column, row, value)
    /// per output element.
    WindowArgmax,
    /// Rows added into by position (an embedding's gradient): a zero pure
    /// definition and an update over the positions that must run in
    /// position order; each column (the pure dimension 0) is independent.
    Scatter,
    /// Fused attention (LowerAttention.cpp): func(f, i, b...) zero, then
    /// added to over the keys (`keyRange`) from parts that a tile of
    /// query rows i needs: `scores` (q·k, zero, then added to over the
    /// features, `featureRange`), `rowMax` and `rowSum` per row, `weights`
    /// (the softmax). The keys' transposed copy is a Copy root of its own.
    /// Rows past `rows` (when static) repeat the last query row and are
    /// never read, so that tiles of rows may round up. The gradient's
    /// kernels (firn.attention_grad) are of this kind too, over tiles of
    /// query rows (dq) or of key rows (dk, dv): they read the row
    /// statistics from an AttentionStats root (rowMax and rowSum
    /// undefined) and may compute more dot-product tiles (`dots`).
    Attention,
    /// Each query row's maximum score and sum of exponentials, a Tuple
    /// func(i, b...) computed a tile of rows at a time from `scores`
    /// (computed at the tile, as Attention's), `rowMax` and `rowSum`.
    AttentionStats,
    /// A 3x3 convolution by Winograd's F(2x2, 3x3) (LowerWinograd.cpp):
    /// func(w, h, o, n) its output, from the parts in `winograd`, which
    /// are computed a block of output rows of an image at a time.
    Winograd,
  };
  Halide::Func func;
  Kind kind = Kind::Reduction;
  Halide::Func partial; ///< LaneSum only.
  /// LaneSum of a vector only: partial(lane, c, g) sums groups g of
  /// images, all of c in each (else g has extent 1 and c is the task).
  bool imageGroups = false;
  /// Attention and AttentionStats only.
  Halide::Func scores, rowMax, rowSum, weights;
  Halide::RDom keyRange, featureRange;
  /// More dot-product tiles computed at the task like `scores`, each with
  /// the range it sums over.
  std::vector<std::pair<Halide::Func, Halide::RDom>> dots;
  int rows = 0; ///< The tiles' rows (0: not static).
  /// Copy only, for a convolution's shifted source (LowerProducts.cpp):
  /// func(q, ...) holds planes of `planeRows` rows of `planeWidth` values
  /// along q (0: not such a copy).
  int planeWidth = 0, planeRows = 0;
  /// Winograd only. The forward (and input gradient): for a block of
  /// `blockRows` rows of 2x2 output tiles, the zero-padded source
  /// padded(x, y, c, n), its transformed tiles input(tw, th, c, e, n) (e:
  /// the 16 positions of a 4x4 tile), and their products with the
  /// transformed kernels, products(tw, th, o, e, n) = acc, acc summed
  /// over the channels (`sum`). The weight gradient: func(o, c, e) sums
  /// products(o, c, e, k) over chunks k of images; per chunk, `gradients`
  /// (dy's tiles transformed, (tw, th, o, e, n)) times `input` summed over
  /// the tiles (`sum`: vectors of them along the tile rows, the rows, the
  /// chunk's images) into acc(lane, o, c, e, k), whose lanes products adds.
  struct WinogradParts {
    /// (inputRows and gradientRows: the first half of input's and
    /// gradients' transforms, applied along the rows.)
    Halide::Func padded, inputRows, input, acc, products, gradientRows, gradients;
    Halide::RDom sum;
    int blockRows = 1, outChannels = 0, outH = 0, outW = 0;
    /// Whether func is itself an output of the pipeline.
    bool isOutput = false;
    bool weightGradient() const { return gradients.defined(); }
  } winograd;
};

struct LoweredFunction {
  /// The kernel's name (firn_k_<name>): the model function's, or for one
  /// kernel of a partitioned function a digest of what it computes, which
  /// kernels computing the same thing (the blocks of a deep model) share.
  std::string name;
  /// Whether an earlier LoweredFunction of the same build has this name:
  /// this one only binds its ports, and has no pipeline of its own.
  bool duplicate = false;
  /// The model function this kernel is a part of, if it is one of several
  /// (each optimizer group is its own kernel of `optimizer_step`).
  std::string partOf;
  /// What the kernel is compiled from (the function's IR and the module
  /// attributes lowering reads): the kernel cache's key.
  std::string source;
  std::vector<Port> inputs;
  std::vector<Halide::ImageParam> params; ///< One per input, same order.
  std::vector<Port> outputs;
  std::vector<Halide::Func> funcs; ///< One per output, same order.
  /// The temporaries (their function-wide indices) that the runtime sums
  /// over the ranks before this kernel runs (its cross-replica sums).
  std::vector<int> summedTemporaries;
  /// The Funcs lowering computes once, for the schedule (see RootFunc).
  std::vector<RootFunc> rootFuncs;
  /// The matrix products, scheduled apart from rootFuncs.
  std::vector<Contraction> contractions;
  /// The static extent of the contiguous dimension of root Funcs and
  /// outputs, by Func name, where lowering knows it: the schedule sizes
  /// their vectors to it (an image row of 14 is no 16-lane vector).
  std::map<std::string, int> rowWidths;

  Halide::Pipeline pipeline() const;
};

/// The module attribute that chooses how stride-1 3x3 convolutions compute
/// (firnc --conv-algorithm): "winograd" where the shapes suit it (also
/// without the attribute) or "direct".
inline constexpr const char *kConvAlgorithmAttr = "firn.conv_algorithm";
/// Whether `module` asks for direct convolutions.
inline bool directConvolutions(mlir::Operation *module) {
  auto algorithm = module->getAttrOfType<mlir::StringAttr>(kConvAlgorithmAttr);
  return algorithm && algorithm.getValue() == "direct";
}

/// `name` with every character but letters and digits replaced by '_': a
/// C and Halide identifier for a symbol (`step/adam/0` -> `step_adam_0`).
std::string identifierFor(llvm::StringRef name);

/// Lowers `func` (calls to other functions of the module are inlined).
/// Fails with a diagnostic on the op that cannot be lowered.
mlir::FailureOr<LoweredFunction> lowerFunction(mlir::func::FuncOp func);

} // namespace firn::codegen

#endif // FIRN_CODEGEN_HALIDELOWERING_H
