//===- LayerKind.h - One table entry per kind of layer ----------*- C++ -*-===//
//
// Every layer kind (Linear, Conv2d, BatchNorm2d, ReLU, ...) is one entry of
// the layer table, and the entry is all that knows the kind: its PyTorch
// signature; how its arguments become its settings, parameters and buffers
// (with PyTorch's defaults and reset_parameters); the shape it gives; and
// the firn ops it becomes. Sema and IR generation go through the entry.
//
// A new layer is one entry in its family's file (Layers/*.cpp): Dense,
// Convolution, Pooling, Normalization, Attention, Parameterless. A new
// family is a new file and one line in LayerKinds.cpp.
//
// Two constructs stay outside the table on purpose: Sequential, which is a
// container of layers rather than a kind, and MultiheadAttention's call,
// which takes three tensors and gives two (SemaAttention.cpp, MLIRGen.cpp);
// its declaration is an entry as every other.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_FRONTEND_LAYERS_LAYERKIND_H
#define FIRN_FRONTEND_LAYERS_LAYERKIND_H

#include "../SemaArgs.h"

#include "firn/Frontend/Program.h"

#include "mlir/IR/Builders.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace firn {

/// A layer being declared: its bound arguments, and the place its settings,
/// parameters and buffers go. The readers report a wrong argument and
/// return false; an absent optional argument leaves `out` as it is, so
/// that `out` holds PyTorch's default beforehand.
class LayerDeclaration {
public:
  LayerDeclaration(Program &program, DiagnosticEngine &diags, Layer &layer,
                   const BoundArgs &args, SourceLocation kindLoc)
      : args(args), diags(diags), kindLoc(kindLoc), layer(layer),
        program(program) {}

  const BoundArgs &args;
  DiagnosticEngine &diags;
  SourceLocation kindLoc; ///< Where the kind is written (`Linear` in `fc = Linear(...)`).
  Layer &layer;

  /// `'Conv2d' argument 'groups'`, as messages name an argument.
  std::string arg(const std::string &name) const;
  const ast::Expr *get(const std::string &name) const { return args.get(name); }
  bool has(const std::string &name) const { return args.has(name); }
  /// Reports `message` at `loc`; returns false.
  bool error(SourceLocation loc, const std::string &message);

  bool positive(const char *name, int64_t &out); ///< An integer >= 1.
  bool flag(const char *name, bool &out);
  bool number(const char *name, double &out);
  /// A positive number (a normalization's eps).
  bool positiveNumber(const char *name, double &out);
  /// An integer or a pair of them, each at least `min` (kernel_size, stride).
  bool pair(const char *name, int64_t min, std::array<int64_t, 2> &out);
  bool dropoutProbability(const char *name, double &out);
  /// A flag that firn does not implement: absent or False (`what` says so).
  bool refuseFlag(const char *name, const std::string &what);

  /// Sets the layer's settings; they come first, as parameters' default
  /// initialization may read them.
  template <class T> const T &setOptions(T options) {
    auto stored = std::make_shared<const T>(std::move(options));
    layer.options = stored;
    return *stored;
  }
  /// A parameter `<layer>.<role>`, in PyTorch's named_parameters() order,
  /// initialized as the kind's defaultInit says.
  void addParam(const std::string &role, shape::Shape shape);
  /// A buffer `<layer>.<role>` (`counter`: an int64 count, shape []).
  void addBuffer(const std::string &role, shape::Shape shape, double value,
                 bool counter = false);

private:
  Program &program;
};

/// What IR generation lends a layer's `emit`.
class LayerEmitter {
public:
  virtual ~LayerEmitter() = default;
  virtual mlir::OpBuilder &opBuilder() = 0;
  /// `@train_step` in train mode; `@predict` and eval mode are not.
  virtual bool isTraining() const = 0;
  /// The parameter `<layer>.<role>`, or null when the layer has none.
  virtual mlir::Value readParam(const Layer &layer, const char *role,
                                mlir::Location loc) = 0;
  virtual mlir::Value readBuffer(const Layer &layer, const char *role,
                                 mlir::Location loc) = 0;
  /// firn.dropout with probability `p`: in training with the step's key
  /// and the next stream of random numbers, else the identity.
  virtual mlir::Value dropout(mlir::Value x, double p, mlir::Location loc) = 0;

  /// A 0-d f32 constant.
  mlir::Value scalar(float value, mlir::Location loc);
  mlir::RankedTensorType f32Tensor(const shape::Shape &shape);
};

struct LayerKind {
  /// As the DSL and PyTorch write it: `Linear`.
  const char *kind;
  Signature signature;
  /// Reads the arguments into the layer's settings and declares its
  /// parameters and buffers; false after a diagnostic. (`requires_grad`,
  /// firn's addition on every layer, is read by the caller.)
  bool (*declare)(LayerDeclaration &);
  /// PyTorch's reset_parameters for the parameter `role` (also what
  /// `init p = default` restores).
  void (*defaultInit)(const Layer &layer, const std::string &role, Parameter &param);
  /// The result's shape for an input of `input`'s shape, or why not.
  shape::Inferred (*shape)(const Layer &layer, const Program &program,
                           const shape::Shape &input);
  /// The layer applied to `input`, giving `type`.
  mlir::Value (*emit)(LayerEmitter &emitter, const Layer &layer, mlir::Value input,
                      mlir::RankedTensorType type, mlir::Location loc);
  /// The element type of its input: i64 for an Embedding's indices.
  ast::DType takes = ast::DType::F32;
  /// Draws random numbers in training (the step then has a key).
  bool random = false;
  /// MultiheadAttention: called on query, key and value, gives two values;
  /// `shape` and `emit` are unused.
  bool attention = false;
};

/// Whether `layer` is a MultiheadAttention (its call takes query, key and
/// value and gives two values).
inline bool isAttentionLayer(const Layer &layer) {
  return layer.kind && layer.kind->attention;
}

/// Every layer kind, in the order "did you mean" suggestions consider them.
const std::vector<LayerKind> &layerKinds();

// The families' entries (one file each), in table order.
void addDenseLayers(std::vector<LayerKind> &table);
void addConvolutionLayers(std::vector<LayerKind> &table);
void addPoolingLayers(std::vector<LayerKind> &table);
void addNormalizationLayers(std::vector<LayerKind> &table);
void addAttentionLayers(std::vector<LayerKind> &table);
void addParameterlessLayers(std::vector<LayerKind> &table);

/// The shape of the parameter `<layer>.<role>` (after any retyping `init`),
/// or nothing when the layer has none.
std::optional<shape::Shape> paramShape(const Program &program, const Layer &layer,
                                       const char *role);

/// Default initializations several kinds share.
/// U(-1/sqrt(fanIn), 1/sqrt(fanIn)), Linear's and Conv2d's weight and bias.
void uniformFanIn(Parameter &param, double fanIn);
/// For kinds without parameters.
void noParameters(const Layer &layer, const std::string &role, Parameter &param);
/// Weight 1, bias 0: the normalization layers.
void onesAndZeros(const Layer &layer, const std::string &role, Parameter &param);

} // namespace firn

#endif // FIRN_FRONTEND_LAYERS_LAYERKIND_H
