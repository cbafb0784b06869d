//===- FirnOps.td - Operations of the firn dialect ---------*- tablegen -*-===//
//
// Three groups, under banners below:
//   1. program state and training setup (module-level symbols),
//   2. layer-level ops, one per PyTorch layer or loss,
//   3. primitive tensor ops, which gradients and optimizer updates are
//      written in.
// Every op with a shape rule checks it in its verifier through
// firn/Dialect/ShapeRules.h, the same rules the front end applies.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_OPS
#define FIRN_OPS

include "firn/Dialect/FirnDialect.td"
include "firn/Dialect/FirnInterfaces.td"
include "mlir/IR/EnumAttr.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Types and enums
//===----------------------------------------------------------------------===//

def Firn_Tensor : Type<CPred<"::firn::isFirnTensor($_self)">,
    "ranked f32 or i64 tensor whose only dynamic dimension is the first (the batch)",
    "::mlir::RankedTensorType">;
def Firn_FloatTensor : Type<CPred<"::firn::isFirnTensor($_self, /*floatOnly=*/true)">,
    "ranked f32 tensor whose only dynamic dimension is the first (the batch)",
    "::mlir::RankedTensorType">;
def Firn_Scalar : Type<CPred<"::firn::isFirnScalar($_self)">,
    "0-d f32 tensor", "::mlir::RankedTensorType"> {
  let builderCall = "::mlir::RankedTensorType::get({}, $_builder.getF32Type())";
}
def Firn_Key : Type<CPred<"::firn::isFirnKey($_self)">,
    "0-d i64 tensor (a random-number key)", "::mlir::RankedTensorType"> {
  let builderCall = "::mlir::RankedTensorType::get({}, $_builder.getIntegerType(64))";
}

def Firn_Trainability : I32EnumAttr<"Trainability", "whether a parameter learns", [
    I32EnumAttrCase<"Trainable", 0, "trainable">,
    I32EnumAttrCase<"Frozen", 1, "frozen">]> {
  let cppNamespace = "::firn";
}

def Firn_InitKind : I32EnumAttr<"InitKind", "where a parameter's first value comes from", [
    I32EnumAttrCase<"Uniform", 0, "uniform">,   // PyTorch default: U(-bound, bound)
    I32EnumAttrCase<"Constant", 1, "constant">,
    I32EnumAttrCase<"Load", 2, "load">,          // from a checkpoint at run time
    I32EnumAttrCase<"Normal", 3, "normal">]> {   // N(0, bound^2): bound is the std
  let cppNamespace = "::firn";
}

def Firn_OptimizerKind : I32EnumAttr<"OptimizerKind", "a torch.optim algorithm", [
    I32EnumAttrCase<"SGD", 0>, I32EnumAttrCase<"Adam", 1>,
    I32EnumAttrCase<"AdamW", 2>, I32EnumAttrCase<"Adagrad", 3>,
    I32EnumAttrCase<"Adamax", 4>, I32EnumAttrCase<"RMSprop", 5>]> {
  let cppNamespace = "::firn";
}

def Firn_ComparisonPredicate : I32EnumAttr<"ComparisonPredicate",
    "how firn.compare relates its operands", [
    I32EnumAttrCase<"LT", 0, "lt">, I32EnumAttrCase<"LE", 1, "le">,
    I32EnumAttrCase<"GT", 2, "gt">, I32EnumAttrCase<"GE", 3, "ge">,
    I32EnumAttrCase<"EQ", 4, "eq">, I32EnumAttrCase<"NE", 5, "ne">]> {
  let cppNamespace = "::firn";
}

//===----------------------------------------------------------------------===//
// 1. Program state and training setup
//===----------------------------------------------------------------------===//

def Firn_ParamOp : Firn_Op<"param", [Symbol,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "a learnable parameter, with its trainability and owner";
  let description = [{
    A named parameter of the model, under its PyTorch name. Trainability
    (`requires_grad`) and registration with an optimizer are facts of the IR,
    so autodiff, pruning and optimizer lowering read them here. `init` says
    where the first value comes from: `uniform` is PyTorch's default
    initialization U(-bound, bound) drawn in module order from the seeded
    generator, `normal` N(0, bound^2) from the same generator (an
    Embedding's default, with bound 1; `zero_row`, its padding_idx, is set
    to zero after drawing), `constant` a given tensor, `load` a checkpoint
    at run time.

    ```mlir
    firn.param @fc1.weight : tensor<2x2xf32> trainable owner @opt group 0 init uniform bound 0.7071
    firn.param @fc2.bias : tensor<2xf32> frozen init constant = dense<[-0.5581, 0.3771]> : tensor<2xf32>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<Firn_FloatTensor>:$type,
                       Firn_Trainability:$trainability,
                       OptionalAttr<FlatSymbolRefAttr>:$owner,
                       OptionalAttr<I64Attr>:$group,
                       Firn_InitKind:$init,
                       OptionalAttr<F64Attr>:$bound,
                       OptionalAttr<I64Attr>:$zero_row,
                       OptionalAttr<ElementsAttr>:$value);
  let assemblyFormat = [{
    $sym_name `:` $type $trainability (`owner` $owner^ `group` $group)?
    `init` $init (`bound` $bound^)? (`zero_row` $zero_row^)? (`=` $value^)? attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    bool isTrainable() { return getTrainability() == ::firn::Trainability::Trainable; }
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
  }];
}

def Firn_BufferOp : Firn_Op<"buffer", [Symbol]> {
  let summary = "persistent non-learnable state";
  let description = [{
    A tensor that lives across training steps without being learned:
    BatchNorm running statistics, gradient accumulators, optimizer moments and
    step counters. `value` is its first value.

    ```mlir
    firn.buffer @bn.running_var : tensor<16xf32> = dense<1.0> : tensor<16xf32>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttrOf<Firn_Tensor>:$type,
                       ElementsAttr:$value);
  let assemblyFormat = "$sym_name `:` $type `=` $value attr-dict";
  let hasVerifier = 1;
}

def Firn_OptimizerOp : Firn_Op<"optimizer", [Symbol]> {
  let summary = "an optimizer and the hyper-parameters of its groups";
  let description = [{
    One `torch.optim` optimizer. `groups` holds one dictionary of
    hyper-parameters per parameter group (PyTorch's `param_groups`), with the
    optimizer's defaults already filled in; parameters name their group with
    `owner @opt group i`.

    ```mlir
    firn.optimizer @opt SGD groups [ {lr = 0.1, momentum = 0.9, ...} ]
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, Firn_OptimizerKind:$kind,
                       TypedArrayAttrBase<DictionaryAttr, "hyper-parameter groups">:$groups);
  let assemblyFormat = "$sym_name $kind `groups` $groups attr-dict";
  let hasVerifier = 1;
}

def Firn_ClipGradNormOp : Firn_Op<"clip_grad_norm", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "torch.nn.utils.clip_grad_norm_ between backward and step";
  let description = [{
    Over every gradient, or with `for @opt` over the parameters that
    optimizer owns.
  }];
  let arguments = (ins F64Attr:$max_norm, F64Attr:$norm_type,
                       OptionalAttr<FlatSymbolRefAttr>:$optimizer);
  let assemblyFormat = [{
    `max_norm` $max_norm `norm_type` $norm_type (`for` $optimizer^)? attr-dict
  }];
  let hasVerifier = 1;
}

def Firn_ClipGradValueOp : Firn_Op<"clip_grad_value", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "torch.nn.utils.clip_grad_value_ between backward and step";
  let arguments = (ins F64Attr:$clip_value,
                       OptionalAttr<FlatSymbolRefAttr>:$optimizer);
  let assemblyFormat = "$clip_value (`for` $optimizer^)? attr-dict";
  let hasVerifier = 1;
}

def Firn_LRScheduleOp : Firn_Op<"lr_schedule", [Symbol,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "a torch.optim.lr_scheduler attached to an optimizer";
  let description = [{
    ```mlir
    firn.lr_schedule @sched "StepLR" for @opt {gamma = 0.1, step_size = 10}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, StrAttr:$kind,
                       FlatSymbolRefAttr:$optimizer, DictionaryAttr:$options);
  let assemblyFormat = "$sym_name $kind `for` $optimizer $options attr-dict";
  let hasVerifier = 1;
}

def Firn_ReadParamOp : Firn_Op<"read_param", [Firn_DataMovementCost, 
    DeclareOpInterfaceMethods<SymbolUserOpInterface>, MemoryEffects<[MemRead]>]> {
  let summary = "the current value of a parameter";
  let description = [{
    Autodiff treats each `read_param` of a trainable parameter as a leaf
    whose gradient it accumulates.

    ```mlir
    %w = firn.read_param @fc1.weight : tensor<2x2xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$param);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = "$param attr-dict `:` type($result)";
}

def Firn_WriteParamOp : Firn_Op<"write_param", [Firn_DataMovementCost, 
    DeclareOpInterfaceMethods<SymbolUserOpInterface>, MemoryEffects<[MemWrite]>]> {
  let summary = "replaces a parameter's value (the optimizer step)";
  let arguments = (ins Firn_FloatTensor:$value, FlatSymbolRefAttr:$param);
  let assemblyFormat = "$value `to` $param attr-dict `:` type($value)";
}

def Firn_ReadBufferOp : Firn_Op<"read_buffer", [Firn_DataMovementCost, 
    DeclareOpInterfaceMethods<SymbolUserOpInterface>, MemoryEffects<[MemRead]>]> {
  let summary = "the current value of a buffer";
  let arguments = (ins FlatSymbolRefAttr:$buffer);
  let results = (outs Firn_Tensor:$result);
  let assemblyFormat = "$buffer attr-dict `:` type($result)";
}

def Firn_WriteBufferOp : Firn_Op<"write_buffer", [Firn_DataMovementCost, 
    DeclareOpInterfaceMethods<SymbolUserOpInterface>, MemoryEffects<[MemWrite]>]> {
  let summary = "replaces a buffer's value";
  let arguments = (ins Firn_Tensor:$value, FlatSymbolRefAttr:$buffer);
  let assemblyFormat = "$value `to` $buffer attr-dict `:` type($value)";
}

//===----------------------------------------------------------------------===//
// 2. Layer-level ops
//===----------------------------------------------------------------------===//

def Firn_LinearOp : Firn_Op<"linear", [Firn_OwnCost, Firn_KernelAnchor, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "F.linear: x @ weight^T + bias";
  let description = [{
    `input` is [..., in], `weight` [out, in], the optional `bias` broadcasts
    to [out]; the result is [..., out].

    ```mlir
    %y = firn.linear %x, %w, %b : (tensor<?x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<?x1xf32>
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$input, Firn_FloatTensor:$weight,
                       Optional<Firn_FloatTensor>:$bias);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Firn_Conv2dOp : Firn_Op<"conv2d", [Firn_OwnCost, Firn_KernelAnchor, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "F.conv2d on NCHW input";
  let description = [{
    `padding` is (top, left, bottom, right); PyTorch's `padding='same'` with
    an even kernel pads one more row and column at the end.

    ```mlir
    %y = firn.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1]
        : (tensor<?x3x10x10xf32>, tensor<16x3x3x3xf32>) -> tensor<?x16x10x10xf32>
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$input, Firn_FloatTensor:$weight,
                       Optional<Firn_FloatTensor>:$bias,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       DenseI64ArrayAttr:$dilation);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? `stride` $stride `padding` $padding
    `dilation` $dilation attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Firn_MaxPool2dOp : Firn_Op<"max_pool2d", [Firn_OwnCost, Firn_KernelAnchor, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "F.max_pool2d on NCHW input";
  let description = [{
    The maximum of each `kernel` window, windows `stride` apart, over the
    input padded by `padding` (rows, columns) on both sides with -inf (no
    dilation, no ceil mode). Its gradient goes to the first maximum of each
    window in row-major order, as PyTorch's does.

    ```mlir
    %y = firn.max_pool2d %x kernel [2, 2] stride [2, 2] padding [0, 0]
        : tensor<?x32x28x28xf32> -> tensor<?x32x14x14xf32>
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `kernel` $kernel `stride` $stride `padding` $padding attr-dict `:`
    type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_AvgPool2dOp : Firn_Op<"avg_pool2d", [Firn_OwnCost, Firn_KernelAnchor, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "F.avg_pool2d on NCHW input";
  let description = [{
    The mean of each `kernel` window, windows `stride` apart, over the input
    padded by `padding` (rows, columns) on both sides with zeros (no ceil
    mode, no divisor_override). With `count_include_pad` (PyTorch's
    default) each window divides by its area, else by the number of its
    taps inside the input. A fused op rather than a composite: one pass
    over each window, its gradient a spread of each window's share.

    ```mlir
    %y = firn.avg_pool2d %x kernel [2, 2] stride [2, 2] padding [0, 0] count_include_pad
        : tensor<?x6x28x28xf32> -> tensor<?x6x14x14xf32>
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       UnitAttr:$count_include_pad);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `kernel` $kernel `stride` $stride `padding` $padding
    (`count_include_pad` $count_include_pad^)? attr-dict `:`
    type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_DropoutOp : Firn_Op<"dropout", [Firn_ElementwiseCost, Pure,
    AllTypesMatch<["input", "result"]>,
    DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "nn.Dropout: zeroes elements with probability p and scales by 1/(1-p) in training";
  let description = [{
    Without `training` it is the identity (eval mode). With `training` each
    element is kept or zeroed by firn's counter-based random numbers
    (firn/Runtime/Random.h), a pure function of the module's `firn.seed`,
    the per-step `key`, the op's `stream` and the element's index: the
    backward pass draws the same mask again instead of storing it.

    ```mlir
    %k = firn.advance_counter @"rng/step" : tensor<i64>
    %y = firn.dropout %x key %k p 2.500000e-01 stream 0 training : tensor<?x16xf32>
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$input, Optional<Firn_Key>:$key,
                       F64Attr:$p, DefaultValuedAttr<I64Attr, "0">:$stream,
                       UnitAttr:$training);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`key` $key^)? `p` $p (`stream` $stream^)? (`training` $training^)?
    attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_AdvanceCounterOp : Firn_Op<"advance_counter", [Firn_DataMovementCost, 
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "returns a counter buffer's value and increments it";
  let description = [{
    The key of one training step's random numbers: each call of @train_step
    (each micro-batch) reads a new key, so dropout masks differ from step to
    step and are reproducible from the seed and the step count, which a
    checkpoint keeps.

    ```mlir
    %k = firn.advance_counter @"rng/step" : tensor<i64>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$counter);
  let results = (outs Firn_Key:$result);
  let assemblyFormat = "$counter attr-dict `:` type($result)";
}

def Firn_BatchNormOp : Firn_Op<"batch_norm", [Firn_OwnCost, Firn_KernelAnchor, Pure, AttrSizedOperandSegments, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "nn.BatchNorm1d/2d, returning the updated running statistics too";
  let description = [{
    In training mode the result uses batch statistics and the running
    statistics move by `momentum`; otherwise the running statistics are used
    and returned unchanged. The caller writes them back to their buffers.
    Without `momentum` (PyTorch's `momentum=None`) the running statistics
    are cumulative averages: they move by 1 / (count + 1), `count` being
    num_batches_tracked before this batch (the caller advances it).
    The last two results are the statistics that normalized (the batch's
    mean and biased variance in training, the running ones otherwise): the
    gradient reads them instead of two more passes over the batch.

    ```mlir
    %y, %m, %v, %bm, %bv = firn.batch_norm %x weight %g bias %b stats %rm, %rv eps 1.0e-05 momentum 0.1 training
        : (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
        -> (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
    %n = firn.advance_counter @bn.num_batches_tracked : tensor<i64>
    %y2:5 = firn.batch_norm %x stats %rm, %rv count %n eps 1.0e-05 training
        : (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>, tensor<i64>)
        -> (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$input, Optional<Firn_FloatTensor>:$weight,
                       Optional<Firn_FloatTensor>:$bias, Firn_FloatTensor:$running_mean,
                       Firn_FloatTensor:$running_var, Optional<Firn_Key>:$count,
                       F64Attr:$eps, OptionalAttr<F64Attr>:$momentum,
                       UnitAttr:$training);
  let results = (outs Firn_FloatTensor:$result, Firn_FloatTensor:$new_running_mean,
                      Firn_FloatTensor:$new_running_var, Firn_FloatTensor:$batch_mean,
                      Firn_FloatTensor:$batch_var);
  let assemblyFormat = [{
    $input (`weight` $weight^)? (`bias` $bias^)? `stats` $running_mean `,` $running_var
    (`count` $count^)? `eps` $eps (`momentum` $momentum^)? (`training` $training^)?
    attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// 3. Primitive tensor ops
//===----------------------------------------------------------------------===//

def Firn_ConstantOp : Firn_Op<"constant", [Firn_DataMovementCost, ConstantLike, Pure]> {
  let summary = "a constant tensor";
  let description = [{
    ```mlir
    %one = firn.constant dense<1.0> : tensor<f32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Firn_Tensor:$result);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasFolder = 1;
  let builders = [OpBuilder<(ins "::mlir::ElementsAttr":$value), [{
    build($_builder, $_state, ::llvm::cast<::mlir::RankedTensorType>(value.getType()), value);
  }]>];
}

class Firn_UnaryOp<string mnemonic, string summaryText> :
    Firn_Op<mnemonic, [Pure, SameOperandsAndResultType, Firn_ElementwiseCost, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = summaryText;
  let arguments = (ins Firn_FloatTensor:$input);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Firn_ReluOp : Firn_UnaryOp<"relu", "max(x, 0)">;
def Firn_NegOp : Firn_UnaryOp<"neg", "-x">;

// Elementwise math: an op of one tensor whose meaning is one scalar formula,
// `apply`, written once for every scalar kind T that firn::math::Math<T>
// knows (double in the reference evaluator, Halide::Expr in code
// generation). A differentiable one also states `gradient` (dL/dx from dy =
// dL/dy, the input x and the result y), which autodiff builds in IR through
// Math<IRValue>. The reference evaluator,
// the Halide lowering and autodiff take every op of FIRN_MATH_OPS
// (FirnOps.h) this way; an op added here and to that list needs nothing
// else below the front end.
class Firn_MathOp<string mnemonic, string summaryText, code formula,
                  list<Trait> traits = []> :
    Firn_Op<mnemonic, !listconcat([Pure, SameOperandsAndResultType, Firn_ElementwiseCost], traits)> {
  let summary = summaryText;
  let arguments = (ins Firn_FloatTensor:$input);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  code applyDeclaration = !strconcat(
      "/// The op at one element x (see Firn_MathOp in FirnOps.td).\n"
      "template <class T> static T apply(const T &x) {\n"
      "  using M = ::firn::math::Math<T>; (void)sizeof(M);\n  ", formula, "\n}\n");
  let extraClassDeclaration = applyDeclaration;
}

class Firn_DifferentiableMathOp<string mnemonic, string summaryText,
                                code formula, code derivativeFormula> :
    Firn_MathOp<mnemonic, summaryText, formula,
                [DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let extraClassDeclaration = !strconcat(applyDeclaration,
      "/// dL/dx from dy = dL/dy, x and y = apply(x), as PyTorch computes it.\n"
      "template <class T> static T gradient(const T &dy, const T &x, const T &y) {\n"
      "  using M = ::firn::math::Math<T>; (void)sizeof(M);\n  ",
      derivativeFormula, "\n}\n");
  let extraClassDefinition = [{
    ::mlir::LogicalResult $cppClass::buildGradients(
        ::mlir::OpBuilder &builder, ::mlir::ArrayRef<::mlir::Value> resultGrads,
        ::llvm::SmallVectorImpl<::mlir::Value> &operandGrads) {
      return ::firn::math::buildMathGradient(*this, builder, resultGrads,
                                             operandGrads);
    }
  }];
}

def Firn_ExpOp : Firn_DifferentiableMathOp<"exp", "e^x",
    [{ return M::exp(x); }], [{ return dy * y; }]>;
def Firn_LogOp : Firn_DifferentiableMathOp<"log", "natural logarithm",
    [{ return M::log(x); }], [{ return dy / x; }]>;
def Firn_SqrtOp : Firn_DifferentiableMathOp<"sqrt", "square root",
    [{ return M::sqrt(x); }], [{ return dy / (2.0 * y); }]>;
def Firn_RsqrtOp : Firn_DifferentiableMathOp<"rsqrt", "1 / sqrt(x)",
    [{ return 1.0 / M::sqrt(x); }], [{ return -0.5 * dy * (y * y * y); }]>;
def Firn_AbsOp : Firn_DifferentiableMathOp<"abs", "|x|",
    [{ return M::abs(x); }], [{ return dy * M::sign(x); }]>;
// Not differentiable: only gradients (of abs) use it. sign(0) = 0 and
// sign(NaN) = 0, as torch.sign (so abs passes no gradient to a NaN).
def Firn_SignOp : Firn_MathOp<"sign", "-1, 0 or 1 by the sign of x",
    [{ auto zero = M::constant(x, 0.0);
       return M::select(x > zero, M::constant(x, 1.0),
                        M::select(x < zero, M::constant(x, -1.0), zero)); }]>;
def Firn_TanhOp : Firn_DifferentiableMathOp<"tanh", "hyperbolic tangent",
    [{ return M::tanh(x); }], [{ return dy * (1.0 - y * y); }]>;
def Firn_SigmoidOp : Firn_DifferentiableMathOp<"sigmoid", "1 / (1 + e^-x)",
    [{ return M::sigmoid(x); }], [{ return dy * (1.0 - y) * y; }]>;
def Firn_SiluOp : Firn_DifferentiableMathOp<"silu", "x * sigmoid(x)",
    [{ return x * M::sigmoid(x); }],
    [{ auto s = M::sigmoid(x); return dy * s * (1.0 + x * (1.0 - s)); }]>;
def Firn_ErfOp : Firn_DifferentiableMathOp<"erf", "the error function",
    [{ return M::erf(x); }],
    [{ return dy * (1.1283791670955126 * M::exp(-(x * x))); }]>; // 2 / sqrt(pi)
// GELU as torch.nn.functional.gelu(approximate='none'): x * Phi(x).
def Firn_GeluOp : Firn_DifferentiableMathOp<"gelu", "x * Phi(x), Phi the normal CDF",
    [{ return 0.5 * x * (1.0 + M::erf(x * 0.7071067811865476)); }],
    [{ auto cdf = 0.5 * (1.0 + M::erf(x * 0.7071067811865476));
       auto pdf = 0.3989422804014327 * M::exp(-0.5 * (x * x));
       return dy * (cdf + x * pdf); }]>;
// GELU with approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
def Firn_GeluTanhOp : Firn_DifferentiableMathOp<"gelu_tanh",
    "GELU, tanh approximation",
    [{ return 0.5 * x * (1.0 + M::tanh(0.7978845608028654 *
                                      (x + 0.044715 * (x * x * x)))); }],
    [{ auto t = M::tanh(0.7978845608028654 * (x + 0.044715 * (x * x * x)));
       auto left = 0.5 * (1.0 + t);
       auto right = 0.5 * x * (1.0 - t * t) *
                    (0.7978845608028654 * (1.0 + 0.134145 * (x * x)));
       return dy * (left + right); }]>;

class Firn_BinaryOp<string mnemonic, string summaryText, list<Trait> traits = []> :
    Firn_Op<mnemonic, !listconcat([Pure, Firn_ElementwiseCost], traits)> {
  let summary = summaryText;
  let description = [{
    Elementwise with NumPy/PyTorch broadcasting; the result has the
    broadcast shape. Autodiff reduces each operand's gradient back to the
    operand's shape.
  }];
  let arguments = (ins Firn_FloatTensor:$lhs, Firn_FloatTensor:$rhs);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_AddOp : Firn_BinaryOp<"add", "lhs + rhs", [DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]>;
def Firn_SubOp : Firn_BinaryOp<"sub", "lhs - rhs", [DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]>;
def Firn_MulOp : Firn_BinaryOp<"mul", "lhs * rhs", [DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]>;
def Firn_DivOp : Firn_BinaryOp<"div", "lhs / rhs", [DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]>;
def Firn_MaxOp : Firn_BinaryOp<"max", "max(lhs, rhs) (torch.maximum: NaN if either is)", [DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]>;
def Firn_PowOp : Firn_BinaryOp<"pow", "lhs ** rhs (torch.pow; Adam's bias corrections)", [DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]>;

// Masks. firn has no boolean element type: a mask is an f32 tensor of 0 and
// 1, which firn.compare makes and firn.select reads, so that every kernel,
// buffer and reference tensor stays float.
def Firn_CompareOp : Firn_Op<"compare", [Firn_ElementwiseCost, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "1 where `lhs predicate rhs` holds, else 0 (a mask)";
  let description = [{
    torch.lt, le, gt, ge, eq and ne with NumPy/PyTorch broadcasting, as a
    mask of 0 and 1. A NaN operand compares false, except under `ne`, where
    it compares true (IEEE 754, as PyTorch). An i64 operand (token ids)
    compares by value with the other, both in double (exact for ids below
    2^53). The result is piecewise constant: no gradient flows through it.

    ```mlir
    %m = firn.compare gt, %x, %zero : tensor<?x4xf32>, tensor<f32> -> tensor<?x4xf32>
    %pad = firn.compare eq, %ids, %zero : tensor<?x4xi64>, tensor<f32> -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins Firn_ComparisonPredicate:$predicate, Firn_Tensor:$lhs,
                       Firn_Tensor:$rhs);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $predicate `,` $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_SelectOp : Firn_Op<"select", [Firn_ElementwiseCost, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "torch.where: lhs where the mask is nonzero, else rhs";
  let description = [{
    The three operands broadcast together (NumPy/PyTorch rules) to the
    result's shape. Only the chosen operand's value is read, so a NaN or inf
    in the other one does not reach the result (masked_fill's -inf is
    rhs here, the scores lhs), and its gradient is the result's gradient
    where it was chosen and 0 elsewhere; the mask gets none.
  }];
  let arguments = (ins Firn_FloatTensor:$condition, Firn_FloatTensor:$lhs,
                       Firn_FloatTensor:$rhs);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $condition `,` $lhs `,` $rhs attr-dict `:` type($condition) `,` type($lhs) `,`
    type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_ReluGradOp : Firn_Op<"relu_grad", [Firn_ElementwiseCost, Pure, SameOperandsAndResultType]> {
  let summary = "grad where input > 0, else 0 (the gradient of relu)";
  let arguments = (ins Firn_FloatTensor:$grad, Firn_FloatTensor:$input);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` type($result)";
}

def Firn_ReshapeOp : Firn_Op<"reshape", [Firn_DataMovementCost, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "view with another shape; the batch dimension stays first";
  let arguments = (ins Firn_Tensor:$input);
  let results = (outs Firn_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Firn_TransposeOp : Firn_Op<"transpose", [Firn_DataMovementCost, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "permutes dimensions: result dim i is input dim perm[i]";
  let arguments = (ins Firn_FloatTensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = "$input `perm` $perm attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Firn_SliceOp : Firn_Op<"slice", [Firn_DataMovementCost, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "elements [start, start + size) along one static dimension (torch.narrow)";
  let description = [{
    The result has the input's shape with `size` at `axis`. What split,
    chunk and narrow do; the axis must have a static size (not the batch).

    ```mlir
    %q = firn.slice %qkv axis 2 start 0 : tensor<?x8x24xf32> -> tensor<?x8x8xf32>
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$input, I64Attr:$axis, I64Attr:$start);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `axis` $axis `start` $start attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_SliceGradOp : Firn_Op<"slice_grad", [Firn_DataMovementCost, Pure]> {
  let summary = "gradient of slice: grad_output placed at `start` along `axis` in zeros";
  let arguments = (ins Firn_FloatTensor:$grad_output, I64Attr:$axis, I64Attr:$start);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_output `axis` $axis `start` $start attr-dict `:` type($grad_output) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_ConcatOp : Firn_Op<"concat", [Firn_DataMovementCost, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "operands joined along one static dimension (torch.cat)";
  let description = [{
    The operands' shapes agree except at `axis`, which must be static in
    each; the result's size there is their sum.
  }];
  let arguments = (ins Variadic<Firn_FloatTensor>:$inputs, I64Attr:$axis);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $inputs `axis` $axis attr-dict `:` type($inputs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_MatmulOp : Firn_Op<"matmul", [Firn_OwnCost, Firn_KernelAnchor, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "matrix product, optionally of transposed operands, batched";
  let description = [{
    The product of the last two dimensions of each operand (each transposed
    first when its flag says so), for every index of the leading (batch)
    dimensions, which both operands share exactly (the frontend broadcasts
    before): `[B..., M, K]` times `[B..., K, N]` is `[B..., M, N]`, as
    torch.matmul computes it. Attention's `q @ k.transpose(-2, -1)` is one
    op with `transpose_rhs`.

    ```mlir
    %dw = firn.matmul %dy, %x transpose_lhs : tensor<?x1xf32>, tensor<?x2xf32> -> tensor<1x2xf32>
    %s = firn.matmul %q, %k transpose_rhs : tensor<?x4x8x16xf32>, tensor<?x4x8x16xf32> -> tensor<?x4x8x8xf32>
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$lhs, Firn_FloatTensor:$rhs,
                       UnitAttr:$transpose_lhs, UnitAttr:$transpose_rhs);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`transpose_lhs` $transpose_lhs^)? (`transpose_rhs` $transpose_rhs^)?
    attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_AttentionOp : Firn_Op<"attention", [Firn_OwnCost, Firn_KernelAnchor, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "scaled dot-product attention, fused: softmax(q kᵀ · scale) v";
  let description = [{
    `result[b..., i, :] = sum_j p[b..., i, j] v[b..., j, :]` with
    `p = softmax(q kᵀ · scale)` over j, and with `causal` the scores of
    j > i at -inf (weight 0), as F.scaled_dot_product_attention computes it
    without a mask or dropout. Operands `[B..., L, E]`, `[B..., S, E]`,
    `[B..., S, F]`, the leading dimensions shared exactly; result
    `[B..., L, F]`. A fused op because a fused kernel pays: it computes
    the `[L, S]` scores a tile of query rows at a time and never stores
    them whole (IR generation uses it where no mask or dropout needs the
    weights themselves). Its gradient is `firn.attention_grad`, which
    recomputes them tile by tile too.

    ```mlir
    %y = firn.attention %q, %k, %v scale 2.500000e-01 causal : (tensor<?x4x8x16xf32>, tensor<?x4x8x16xf32>, tensor<?x4x8x16xf32>) -> tensor<?x4x8x16xf32>
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$query, Firn_FloatTensor:$key,
                       Firn_FloatTensor:$value, F64Attr:$scale, UnitAttr:$causal);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `scale` $scale (`causal` $causal^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Firn_AttentionGradOp : Firn_Op<"attention_grad", [Firn_OwnCost, Firn_KernelAnchor, Pure]> {
  let summary = "gradient of fused attention: dq, dk, dv, the weights never stored whole";
  let description = [{
    The gradients of `firn.attention` (same `scale` and `causal`) with
    respect to its query, key and value, from the forward's result `y` and
    its gradient `dy` ([B..., L, F] both). With `p` the weights and
    `dp = dy vᵀ`: `dv = pᵀ dy`, `ds = p * (dp - D) * scale` with
    `D[i] = sum_f dy[i, f] y[i, f]` (the softmax's `sum_j p dp` per row,
    read from the result as FlashAttention does), `dq = ds k`,
    `dk = dsᵀ q`. A fused op because the fused kernels pay where the
    weights are large: they recompute the scores and weights a tile of
    query rows (for `dq`) or of key rows (for `dk` and `dv`) at a time, from
    each row's maximum and sum, and never store a head's `[L, S]` weights
    whole.

    ```mlir
    %dq, %dk, %dv = firn.attention_grad %q, %k, %v, %y, %dy scale 2.500000e-01 causal : (tensor<?x4x8x16xf32>, tensor<?x4x8x16xf32>, tensor<?x4x8x16xf32>, tensor<?x4x8x16xf32>, tensor<?x4x8x16xf32>) -> (tensor<?x4x8x16xf32>, tensor<?x4x8x16xf32>, tensor<?x4x8x16xf32>)
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$query, Firn_FloatTensor:$key,
                       Firn_FloatTensor:$value, Firn_FloatTensor:$result,
                       Firn_FloatTensor:$grad_output, F64Attr:$scale,
                       UnitAttr:$causal);
  let results = (outs Firn_FloatTensor:$grad_query, Firn_FloatTensor:$grad_key,
                      Firn_FloatTensor:$grad_value);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $result `,` $grad_output `scale` $scale
    (`causal` $causal^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

class Firn_ReduceOp<string mnemonic, string summaryText, list<Trait> traits = []> :
    Firn_Op<mnemonic, !listconcat([Firn_KernelAnchor, Pure, Firn_OwnCost], traits)> {
  let summary = summaryText;
  let description = [{
    Reduces over `axes` (all of them when the list is empty), keeping them as
    size-1 dimensions with `keepdims`.
  }];
  let arguments = (ins Firn_FloatTensor:$input, DenseI64ArrayAttr:$axes,
                       UnitAttr:$keepdims);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `axes` $axes (`keepdims` $keepdims^)? attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_ReduceSumOp : Firn_ReduceOp<"reduce_sum", "sum over axes", [DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]>;
def Firn_ReduceMeanOp : Firn_ReduceOp<"reduce_mean", "mean over axes", [DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]>;
def Firn_ReduceMaxOp : Firn_ReduceOp<"reduce_max", "maximum over axes">;

def Firn_BiasCorrectionOp : Firn_Op<"bias_correction", [Firn_ElementwiseCost, Pure]> {
  let summary = "1 - beta^step, computed in double precision";
  let description = [{
    Adam's bias correction for a step count. torch.optim computes it with
    Python floats (double precision) and so does this op before rounding to
    f32: in f32, 1 - 0.999^1 loses five digits to cancellation.

    ```mlir
    %c = firn.bias_correction %step beta 9.990000e-01 : tensor<f32>
    ```
  }];
  let arguments = (ins Firn_Scalar:$step, F64Attr:$beta);
  let results = (outs Firn_Scalar:$result);
  let assemblyFormat = "$step `beta` $beta attr-dict `:` type($result)";
}

def Firn_NumelOp : Firn_Op<"numel", [Firn_DataMovementCost, Pure]> {
  let summary = "the number of elements over axes, as an f32 scalar";
  let description = [{
    How many elements a reduction over `axes` (all when empty) of `input`
    combines: the divisor of a mean. It depends on the batch size when the
    batch dimension is among the axes, which is why it is an op and not a
    constant.

    ```mlir
    %n = firn.numel %x axes [] : tensor<?x4xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Firn_Tensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs Firn_Scalar:$result);
  let assemblyFormat = "$input `axes` $axes attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Firn_CrossReplicaSumOp : Firn_Op<"cross_replica_sum", [Firn_DataMovementCost, Firn_KernelAnchor, Pure, SameOperandsAndResultType, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "the sum of a tensor over the ranks of a data-parallel job";
  let description = [{
    Each rank's value of `input`, summed over the ranks of the job the
    binary runs in (an allreduce between two kernels, which the runtime
    does before the kernel that reads it: `firn_kernel_desc.sum_slots`); in
    one process, the input itself. SyncBatchNorm's batch statistics are
    sums over the ranks. Its gradient is the sum of the gradients, over the
    ranks again.

    ```mlir
    %total = firn.cross_replica_sum %partial : tensor<1x4x1x1xf32>
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$input);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Firn_BroadcastLikeOp : Firn_Op<"broadcast_like", [Firn_DataMovementCost, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "broadcasts input to the shape of another tensor";
  let description = [{
    The shape comes from `like` so that a broadcast to a shape with the
    batch dimension needs no shape arithmetic in the IR.
  }];
  let arguments = (ins Firn_FloatTensor:$input, Firn_Tensor:$like);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $like attr-dict `:` type($input) `,` type($like) `->` type($result)
  }];
  let hasVerifier = 1;
}

class Firn_SoftmaxLikeOp<string mnemonic, string summaryText> :
    Firn_Op<mnemonic, [Firn_KernelAnchor, Pure, Firn_OwnCost, SameOperandsAndResultType, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = summaryText;
  let arguments = (ins Firn_FloatTensor:$input, I64Attr:$axis);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = "$input `axis` $axis attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Firn_SoftmaxOp : Firn_SoftmaxLikeOp<"softmax", "softmax along an axis">;
def Firn_LogSoftmaxOp : Firn_SoftmaxLikeOp<"log_softmax", "log of softmax along an axis, computed stably">;

def Firn_OneHotOp : Firn_Op<"one_hot", [Firn_DataMovementCost, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "class indices [N, d...] to f32 one-hot [N, C, d...] (classes at dimension 1)";
  let arguments = (ins Firn_Tensor:$indices);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = "$indices attr-dict `:` type($indices) `->` type($result)";
  let hasVerifier = 1;
}

def Firn_EmbeddingOp : Firn_Op<"embedding", [Firn_DataMovementCost, Pure, DeclareOpInterfaceMethods<Firn_DifferentiableOpInterface>]> {
  let summary = "rows of a table picked by integer indices (nn.Embedding)";
  let description = [{
    `result[p..., d] = weight[indices[p...], d]`: the indices (i64, any
    shape) pick rows of the `[num_embeddings, embedding_dim]` table; the
    result has the indices' shape with `embedding_dim` appended. A fused
    op, not a composite: a gather, never a one-hot product. `padding_idx`
    changes only the gradient (that row gets none), as in PyTorch. Indices
    outside `[0, num_embeddings)` are the caller's error (the runtime checks
    its inputs); the kernels clamp them so they never read out of bounds.
  }];
  let arguments = (ins Firn_FloatTensor:$weight, Firn_Tensor:$indices,
                       OptionalAttr<I64Attr>:$padding_idx);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $weight `[` $indices `]` (`padding_idx` $padding_idx^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Firn_EmbeddingGradOp : Firn_Op<"embedding_grad", [Firn_OwnCost, Firn_KernelAnchor, Pure]> {
  let summary = "gradient of embedding with respect to its table: a scatter-add";
  let description = [{
    `result[v, d]` is the sum of `grad_output[p..., d]` over the positions
    p whose index is v, in position order (as PyTorch's CPU kernel adds
    them), and zero for the row `padding_idx`. The result type, the
    table's, gives the number of rows.
  }];
  let arguments = (ins Firn_FloatTensor:$grad_output, Firn_Tensor:$indices,
                       OptionalAttr<I64Attr>:$padding_idx);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_output `[` $indices `]` (`padding_idx` $padding_idx^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Firn_Conv2dGradInputOp : Firn_Op<"conv2d_grad_input", [Firn_OwnCost, Firn_KernelAnchor, Pure]> {
  let summary = "gradient of conv2d with respect to its input (a transposed convolution)";
  let description = [{
    The result type fixes the input's size, which stride alone leaves
    ambiguous; the verifier checks that conv2d of that shape gives
    `grad_output`'s shape.
  }];
  let arguments = (ins Firn_FloatTensor:$grad_output, Firn_FloatTensor:$weight,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       DenseI64ArrayAttr:$dilation);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_output `,` $weight `stride` $stride `padding` $padding `dilation` $dilation
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Firn_LinearWeightGradOp : Firn_Op<"linear_weight_grad", [Firn_OwnCost, Firn_KernelAnchor, Pure]> {
  let summary = "gradient of linear's weight on [N, *, in] inputs";
  let description = [{
    `dW[o, i] = sum over every leading position p of dy[p, o] * x[p, i]`:
    dy is `[N, *, out]`, x `[N, *, in]` with the same leading dimensions,
    the result `[out, in]`. (On [N, in] the gradient is a transposed
    matmul; the leading dimensions of a sequence cannot be merged into the
    batch by a reshape, which keeps the batch first.)

    ```mlir
    %dw = firn.linear_weight_grad %dy, %x : (tensor<?x5x3xf32>, tensor<?x5x4xf32>) -> tensor<3x4xf32>
    ```
  }];
  let arguments = (ins Firn_FloatTensor:$grad_output, Firn_FloatTensor:$input);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_output `,` $input attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Firn_AvgPool2dGradOp : Firn_Op<"avg_pool2d_grad", [Firn_OwnCost, Firn_KernelAnchor, Pure]> {
  let summary = "gradient of avg_pool2d with respect to its input";
  let description = [{
    Each element of `grad_output`, divided as its window's mean divides,
    goes to every input of that window; windows that overlap add up. The
    result type is the pooled input's.
  }];
  let arguments = (ins Firn_FloatTensor:$grad_output,
                       DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding, UnitAttr:$count_include_pad);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_output `kernel` $kernel `stride` $stride `padding` $padding
    (`count_include_pad` $count_include_pad^)? attr-dict `:`
    type($grad_output) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Firn_MaxPool2dGradOp : Firn_Op<"max_pool2d_grad", [Firn_OwnCost, Firn_KernelAnchor, Pure]> {
  let summary = "gradient of max_pool2d with respect to its input";
  let description = [{
    Each element of `grad_output` goes to the position of its window's first
    maximum in `input`; windows that overlap add up.
  }];
  let arguments = (ins Firn_FloatTensor:$grad_output, Firn_FloatTensor:$input,
                       DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_output `,` $input `kernel` $kernel `stride` $stride `padding` $padding
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Firn_Conv2dGradWeightOp : Firn_Op<"conv2d_grad_weight", [Firn_OwnCost, Firn_KernelAnchor, Pure]> {
  let summary = "gradient of conv2d with respect to its weight";
  let arguments = (ins Firn_FloatTensor:$input, Firn_FloatTensor:$grad_output,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       DenseI64ArrayAttr:$dilation);
  let results = (outs Firn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $grad_output `stride` $stride `padding` $padding `dilation` $dilation
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // FIRN_OPS
