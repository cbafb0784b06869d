//===- Program.h - A checked, resolved .firn program ------------*- C++ -*-===//
//
// What semantic analysis hands to IR generation: every layer with its
// arguments bound and defaulted, every parameter under its PyTorch name with
// its final shape, trainability, initial value and owner, every optimizer
// group with all hyper-parameters filled in, and the type of every
// expression in `forward` and `loss`. IR generation only translates; all
// user errors are found before it runs.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_PROGRAM_H
#define FIRN_FRONTEND_PROGRAM_H

#include "firn/Dialect/ShapeRules.h"
#include "firn/Frontend/AST.h"

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace firn {

class DiagnosticEngine;

/// The type of a value in forward or loss.
struct ValueType {
  ast::DType dtype = ast::DType::F32;
  shape::Shape shape;
};

/// `f32[N, 2]`, as the DSL writes it.
std::string str(const ValueType &type);

struct LayerKind; // Layers/LayerKind.h: one table entry per kind.

/// A kind's own settings (Conv2d's stride, Dropout's p), defined beside the
/// kind in Layers/*.
struct LayerOptions {
  virtual ~LayerOptions() = default;
};

struct Layer {
  std::string name;
  /// Its kind's table entry; null for a Sequential.
  const LayerKind *kind = nullptr;
  SourceLocation loc;
  /// The kind's settings, or null for a kind that has none.
  std::shared_ptr<const LayerOptions> options;
  std::vector<size_t> children;          ///< Sequential: layer indices
  std::map<std::string, size_t> params;  ///< "weight" -> index into params
  std::map<std::string, size_t> buffers; ///< "running_mean" -> index

  /// Sequential(...): its layers, named `<name>.0`, `<name>.1`, ... as
  /// nn.Sequential names them, applied in order (`children`).
  bool isSequential() const { return kind == nullptr; }
  /// The settings, as the struct its kind keeps them in.
  template <class T> const T &optionsAs() const {
    return static_cast<const T &>(*options);
  }
};

enum class ParamInit { Uniform, Normal, Constant, Load };

struct Parameter {
  std::string name; ///< PyTorch name: `fc1.weight`.
  size_t layer;
  shape::Shape shape; ///< After any `init name: type = ...` retyping.
  bool trainable = true;
  ParamInit init = ParamInit::Uniform;
  double bound = 0;            ///< Uniform: U(-bound, bound). Normal: the std.
  /// Normal: a row set to zero after drawing (an Embedding's padding_idx).
  std::optional<int64_t> zeroRow;
  std::vector<double> values;  ///< Constant: one value (a fill) or all.
  std::optional<size_t> optimizer, group;
};

/// Non-learnable persistent state (BatchNorm running statistics).
struct Buffer {
  std::string name;
  size_t layer;
  shape::Shape shape;
  double initialValue = 0;
  /// An int64 count (BatchNorm's num_batches_tracked, shape []), not f32.
  bool counter = false;
};

using HyperValue = std::variant<double, bool, std::pair<double, double>>;
using HyperParams = std::map<std::string, HyperValue>;

struct Optimizer {
  std::string name;
  std::string kind; ///< `SGD`, `Adam`, ... as PyTorch spells it.
  SourceLocation loc;
  std::vector<HyperParams> groups;
};

/// A value of a schedule's or clip's option: a number, a string, a list.
using OptionValue =
    std::variant<double, int64_t, bool, std::string, std::vector<int64_t>>;

struct Schedule {
  std::string name;
  std::string kind;
  std::string optimizer;
  std::map<std::string, OptionValue> options;
  SourceLocation loc;
};

struct Clip {
  bool byNorm = true;
  std::string optimizer; ///< Only this optimizer's parameters; empty: all.
  double maxNormOrValue = 0;
  double normType = 2.0;
  SourceLocation loc;
};

struct NamedValue {
  std::string name;
  ValueType type;
  SourceLocation loc;
};

struct Program {
  std::string filename;
  std::string modelName;
  SourceLocation modelLoc;
  int64_t seed = 0;
  std::vector<Layer> layers;
  std::vector<Parameter> params; ///< In PyTorch's named_parameters() order.
  std::vector<Buffer> buffers;
  std::vector<NamedValue> inputs; ///< forward's parameters.
  ValueType output;
  const ast::ForwardDef *forward = nullptr;

  bool hasTrain = false;
  std::optional<NamedValue> target;
  const ast::Expr *loss = nullptr;
  std::vector<Optimizer> optimizers;
  std::vector<Clip> clips;
  std::vector<Schedule> schedules;
  int64_t accumulate = 1;
  std::string zeroGrad = "optimizer";
  std::string mode = "train";

  /// The type of every expression in forward and loss.
  std::unordered_map<const ast::Expr *, ValueType> types;
  /// For each call of a layer in forward/loss: the layer's index.
  std::unordered_map<const ast::Expr *, size_t> layerCalls;
  /// For each `sum`/`mean` call with `dim`: the axes (sorted, nonnegative)
  /// and whether they are kept (`keepdim`). Calls without `dim` reduce all.
  struct Reduction {
    std::vector<int64_t> axes;
    bool keepdim = false;
  };
  std::unordered_map<const ast::Expr *, Reduction> reductions;
  /// For each scaled_dot_product_attention call: its options.
  struct Attention {
    bool causal = false;
    /// attn_mask: none, a mask (false: -inf before the softmax), or scores
    /// added to q kᵀ · scale.
    enum class Mask {
      None,
      Bool,    ///< true: takes part (F.scaled_dot_product_attention's)
      Blocked, ///< true: takes no part (nn.MultiheadAttention's)
      Added
    } mask = Mask::None;
    /// MultiheadAttention's key_padding_mask [N, S]: none, a mask (true:
    /// the key takes no part) or scores added, for every head and query.
    Mask paddingMask = Mask::None;
    /// MultiheadAttention: whether it gives the weights (else None), and
    /// averaged over the heads.
    bool needWeights = true, averageWeights = true;
    double scale = 1.0; ///< Resolved: 1 / sqrt(E) unless `scale=` is given.
    /// The weights' dropout probability (dropout_p, MultiheadAttention's
    /// dropout), applied in training only.
    double dropout = 0;
  };
  std::unordered_map<const ast::Expr *, Attention> attentions;
  /// For each call of an elementwise function with a parameter
  /// (`leaky_relu(x, 0.2)`), or of a loss with its own argument given
  /// (smooth_l1_loss's beta, huber_loss's delta, kl_div's log_target as 1):
  /// its value.
  std::unordered_map<const ast::Expr *, double> functionParameters;
  /// For each cross_entropy call with class weights or label smoothing.
  struct CrossEntropyOptions {
    std::vector<double> weight; ///< Empty: every class weighs 1.
    double labelSmoothing = 0;
    /// Targets equal to it count for nothing (PyTorch's ignore_index).
    std::optional<int64_t> ignoreIndex;
  };
  std::unordered_map<const ast::Expr *, CrossEntropyOptions> crossEntropyOptions;
  /// The ignore_index the loss gives (one for the model: the target data
  /// may hold it, the runtime's class-range check lets it through).
  std::optional<int64_t> targetIgnoreIndex;
  /// The cross_entropy calls on class indices without an ignore_index, with
  /// their number of classes: each ignores PyTorch's default, -100.
  std::vector<std::pair<const ast::Expr *, int64_t>> plainCrossEntropies;
  /// For each clamp(x, min, max): its bounds (either may be absent).
  std::unordered_map<const ast::Expr *,
                     std::pair<std::optional<double>, std::optional<double>>>
      clampBounds;
  /// For each name in forward that is a parameter (`fc1.weight`): its index
  /// into params.
  std::unordered_map<const ast::Expr *, size_t> paramRefs;
  /// For each `transpose(x, d0, d1)` and `name.T`: the permutation (the
  /// name's value itself is found by the name without `.T`).
  std::unordered_map<const ast::Expr *, std::vector<int64_t>> permutations;
  /// The integer arguments of calls whose dimensions Sema resolves (dims
  /// nonnegative): `narrow(x, dim, start, length)`: {dim, start, length};
  /// `cat([...], dim)`, `softmax(x, dim)`, `log_softmax(x, dim)`: {dim}.
  std::unordered_map<const ast::Expr *, std::vector<int64_t>> dimArgs;
  /// For each split/chunk call (unpacked: `q, k, v = split(x, 4, dim=-1)`):
  /// the dimension and each piece's [start, start + length).
  struct Split {
    int64_t dim = 0;
    std::vector<std::pair<int64_t, int64_t>> pieces;
  };
  std::unordered_map<const ast::Expr *, Split> splits;
  /// For each expression with several results (split, chunk): their types.
  std::unordered_map<const ast::Expr *, std::vector<ValueType>> tupleTypes;
  /// For each subscript `x[:, 0:4]`, `x[:, -1]`: each dimension it narrows,
  /// with the elements kept, and whether an integer index removes it.
  struct IndexedDim {
    int64_t dim = 0, start = 0, length = 0;
    bool drop = false;
  };
  std::unordered_map<const ast::Expr *, std::vector<IndexedDim>> indexing;
  /// For each call of a Sequential: the type after each of its layers.
  std::unordered_map<const ast::Expr *, std::vector<ValueType>> sequenceTypes;

  /// Appends a layer; findLayer finds it by name in constant time (a model
  /// with 50,000 layers took 10 s with a linear search per lookup).
  void addLayer(Layer layer);
  const Layer *findLayer(const std::string &name) const;

private:
  std::unordered_map<std::string, size_t> layerIndex;
};

struct AnalyzeOptions {
  /// With a train block, also check what training needs: a trainable
  /// parameter, a loss that depends on one (else it has no gradient, as
  /// PyTorch's backward() refuses), layers used as autodiff supports them.
  /// `firnc --no-grad` builds for inference only and turns this off.
  bool training = true;
};

/// Checks a parsed module and resolves it. Reports the first error through
/// `diags` and returns nothing then.
std::optional<Program> analyze(const ast::Module &module,
                               DiagnosticEngine &diags,
                               const AnalyzeOptions &options = {});

} // namespace firn

#endif // FIRN_FRONTEND_PROGRAM_H
