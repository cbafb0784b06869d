//===- KernelPartition.cpp - A model function as a sequence of kernels ----===//
//
// See KernelPartition.h. Three steps: assign every op of the function to a
// kernel (`partition`), build each kernel's IR as a function of its own
// (`KernelBuilder`: its arguments are the function arguments and
// temporaries it reads, its results the temporaries and function results
// it computes), and lower that function as any other, translating its
// ports back into the model function's terms.
//
//===----------------------------------------------------------------------===//
#include "firn/Codegen/KernelPartition.h"

#include "firn/Dialect/FirnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <functional>
#include <set>

using namespace mlir;

namespace firn::codegen {
namespace {

/// Ops whose lowering computes at root (a product, a window, a reduction):
/// each starts a kernel, which the elementwise ops after it join. The ops
/// say so themselves (Firn_KernelAnchor, FirnInterfaces.td).
bool isAnchor(Operation *op) { return op->hasTrait<firn::OpTrait::KernelAnchor>(); }

/// The state symbol `op` reads, if any.
StringRef readSymbol(Operation *op) {
  if (auto read = dyn_cast<ReadParamOp>(op))
    return read.getParam();
  if (auto read = dyn_cast<ReadBufferOp>(op))
    return read.getBuffer();
  return {};
}

/// The state symbol `op` writes, if any.
StringRef writtenSymbol(Operation *op) {
  if (auto write = dyn_cast<WriteParamOp>(op))
    return write.getParam();
  if (auto write = dyn_cast<WriteBufferOp>(op))
    return write.getBuffer();
  if (auto counter = dyn_cast<AdvanceCounterOp>(op))
    return counter.getCounter();
  return {};
}

/// Elementwise ops inline into their consumers: a chain deeper than this
/// is cut (a chain of 1,000 ReLUs would otherwise be one expression).
constexpr int kMaxInlineDepth = 16;

/// Elementwise ops of state alone are repeated by each kernel that uses
/// them up to this depth (the momentum times the old buffer is 1).
constexpr int kMaxRepeatedDepth = 4;

/// Elementwise ops of one stored value are recomputed by each kernel that
/// uses them up to this depth (a BatchNorm's x̂ is 2: x - mean, times invstd).
constexpr int kMaxRecomputedDepth = 3;

/// Where a kernel's argument or result comes from in the model function.
struct Binding {
  Value value;
  Port::Kind kind;
  int index;
};

/// The partition of one function and the IR of its kernels.
///
/// Repeatable ops (constants, state reads, and shallow elementwise ops of
/// those alone: the momentum times the old buffer)
/// belong to no kernel: each kernel that needs one computes it, just before
/// its first use there. The others get a kernel each, in three passes:
///  1. in order, a new kernel before each anchor (and where an elementwise
///     chain gets too deep): each kernel is an anchor and the elementwise
///     ops after it;
///  2. each elementwise op and state write moves to the earliest kernel
///     that has its operands (a gradient's accumulation into its buffer,
///     or the optimizer's update in the fused step, joins the kernel that
///     computes the gradient, instead of all of them piling up in the
///     function's last kernel), no earlier than the reads of the state it
///     writes;
///  3. each kernel splits into its independent parts (connected by values
///     or by a symbol they both touch): the updates of 20 parameters are 20
///     small kernels, of which those of the same shape are one compiled
///     kernel, not one pipeline with 60 outputs (Halide's compile time
///     grows faster than a pipeline's size).
/// Kernels run in order; ops within one keep their order. Every state read
/// is then checked to see, wherever it is computed, the value it sees in
/// the function; if one did not (no function firn generates is known to),
/// the function stays one kernel.
class KernelBuilder {
public:
  KernelBuilder(func::FuncOp func, int firstTemporary)
      : func(func), nextTemporary(firstTemporary) {
    Block &body = func.getBody().front();
    returned = cast<func::ReturnOp>(body.getTerminator());
    bool single = false; // Whether the function must stay one kernel.
    for (Operation &op : body.without_terminator()) {
      position[&op] = static_cast<int>(ops.size());
      ops.push_back(&op);
      single |= isa<func::CallOp>(op);
      StringRef symbol = writtenSymbol(&op);
      // The runtime keeps one scratch buffer per written symbol and
      // function: a symbol must be written by one op (true of every
      // function firn generates; anything else stays one kernel).
      if (!symbol.empty() && !writer.try_emplace(symbol, &op).second)
        single = true;
      if (isRepeatableKind(&op))
        repeatable.insert(&op);
    }
    kernelOf.assign(ops.size(), 0);
    if (single)
      return;
    assignKernels();
    if (!readsAreCorrect()) {
      kernelOf.assign(ops.size(), 0);
      numKernels = 1;
      return;
    }
    partitioned = true;
  }

  int kernels() const { return numKernels; }
  int temporariesUsed() const { return nextTemporary; }

  /// The IR of kernel `k` as a function in `module`, and the bindings of
  /// its arguments and results; symbols are renamed s0, s1, ... in order of
  /// appearance (`symbols` maps them back).
  func::FuncOp build(int k, ModuleOp module, std::vector<Binding> &arguments,
                     std::vector<Binding> &results,
                     std::map<std::string, std::string> &symbols) {
    MLIRContext *ctx = func.getContext();
    OpBuilder builder(ctx);
    IRMapping map;
    Location loc = func.getLoc();
    Block *entry = new Block();
    builder.setInsertionPointToEnd(entry);

    std::function<void(Value)> bringIn = [&](Value v) {
      if (map.contains(v))
        return;
      Operation *def = v.getDefiningOp();
      if (def && isRepeatableHere(def)) {
        for (Value operand : def->getOperands())
          bringIn(operand);
        map.map(v, builder.clone(*def, map)->getResult(0));
        return;
      }
      // (A value of this kernel is mapped before its users are cloned.)
      arguments.push_back(def ? Binding{v, Port::Kind::Temporary, temporaryOf(v)}
                              : Binding{v, Port::Kind::Argument,
                                        static_cast<int>(
                                            cast<BlockArgument>(v).getArgNumber())});
      map.map(v, entry->addArgument(v.getType(), loc));
    };
    std::vector<Operation *> members;
    for (auto [i, op] : llvm::enumerate(ops))
      if (kernelOf[i] == k && !isRepeatableHere(op))
        members.push_back(op);
    for (Operation *op : members) {
      for (Value operand : op->getOperands())
        bringIn(operand);
      builder.clone(*op, map);
    }

    // What it computes for the function's results and for later kernels.
    std::vector<Value> values;
    for (auto [r, operand] : llvm::enumerate(returned.getOperands())) {
      Operation *def = operand.getDefiningOp();
      int home = def && !isRepeatableHere(def) ? kernelOf[position.at(def)]
                                               : numKernels - 1;
      if (home != k)
        continue;
      bringIn(operand);
      results.push_back({operand, Port::Kind::Result, static_cast<int>(r)});
      values.push_back(map.lookup(operand));
    }
    // (A recomputed op's operands are read where it is computed.)
    auto readElsewhere = [&](Operation *user) {
      if (user == returned.getOperation())
        return false;
      if (repeatable.contains(user))
        return llvm::any_of(evaluations(user), [&](auto at) { return at.first != k; });
      return kernelOf[position.at(user)] != k;
    };
    for (Operation *op : members)
      for (Value result : op->getResults())
        if (llvm::any_of(result.getUsers(), readElsewhere)) {
          results.push_back({result, Port::Kind::Temporary, temporaryOf(result)});
          values.push_back(map.lookup(result));
        }
    builder.create<func::ReturnOp>(loc, values);

    std::vector<Type> argTypes, resultTypes;
    for (BlockArgument arg : entry->getArguments())
      argTypes.push_back(arg.getType());
    for (Value v : values)
      resultTypes.push_back(v.getType());
    auto kernel = func::FuncOp::create(loc, "kernel",
                                       FunctionType::get(ctx, argTypes, resultTypes));
    kernel.getBody().push_back(entry);
    module.push_back(kernel);

    // Symbols in order of appearance.
    std::map<std::string, std::string> canonical;
    kernel.walk([&](Operation *op) {
      for (NamedAttribute attr : op->getAttrs()) {
        auto ref = dyn_cast<FlatSymbolRefAttr>(attr.getValue());
        if (!ref || isa<func::FuncOp>(op))
          continue;
        std::string real = ref.getValue().str();
        auto [it, inserted] =
            canonical.try_emplace(real, "s" + std::to_string(canonical.size()));
        if (inserted)
          symbols[it->second] = real;
        op->setAttr(attr.getName(), FlatSymbolRefAttr::get(ctx, it->second));
      }
    });
    return kernel;
  }

private:
  static bool isRepeatableKind(Operation *op) {
    return isa<ConstantOp, ReadParamOp, ReadBufferOp>(op);
  }

  /// Repeatable, in a partitioned function (one kernel computes every op
  /// where it stands).
  bool isRepeatableHere(Operation *op) const {
    return partitioned && repeatable.contains(op);
  }

  void assignKernels() {
    const int n = static_cast<int>(ops.size());
    // Derived repeatable ops, in order: elementwise ops of constants and
    // state alone, a few deep. (Not of the function's arguments: a chain of
    // ops on the input would be recomputed, whole, by every kernel that
    // reads any link of it; measured: 200 ReLUs on x took 62 s to lower.)
    llvm::DenseMap<Operation *, int> derivedDepth;
    for (Operation *op : ops) {
      if (isRepeatableKind(op) || isAnchor(op) || !writtenSymbol(op).empty() ||
          isa<DropoutOp>(op) || op->getNumResults() != 1 || op->getNumOperands() == 0)
        continue;
      int d = 0;
      bool ok = llvm::all_of(op->getOperands(), [&](Value v) {
        Operation *def = v.getDefiningOp();
        if (!def || !repeatable.contains(def))
          return false;
        d = std::max(d, derivedDepth.lookup(def) + 1);
        return true;
      });
      if (ok && d <= kMaxRepeatedDepth) {
        repeatable.insert(op);
        derivedDepth[op] = d;
      }
    }

    // 1. In order.
    int kernel = 0;
    bool hasAnchor = false;
    llvm::DenseMap<Value, int> depth; // Of the values of the current kernel.
    for (auto [i, op] : llvm::enumerate(ops)) {
      if (repeatable.contains(op))
        continue;
      bool anchor = isAnchor(op);
      int d = 0;
      if (!anchor)
        for (Value operand : op->getOperands())
          d = std::max(d, depth.lookup(operand) + 1);
      // A cross-replica sum always starts a kernel: its input must be a
      // temporary of an earlier one, which the runtime sums in between.
      if ((anchor && hasAnchor) || d > kMaxInlineDepth ||
          (isa<CrossReplicaSumOp>(op) && i > 0)) {
        ++kernel;
        hasAnchor = false;
        depth.clear();
        d = anchor ? 0 : 1;
      }
      hasAnchor |= anchor;
      for (Value result : op->getResults())
        depth[result] = anchor ? 0 : d;
      kernelOf[i] = kernel;
    }
    numKernels = kernel + 1; // (Until step 3 numbers its parts.)

    // 2. Earliest kernels.
    llvm::StringMap<std::vector<Operation *>> reads;
    for (Operation *op : ops)
      if (StringRef symbol = readSymbol(op); !symbol.empty())
        reads[symbol].push_back(op);
    for (auto [i, op] : llvm::enumerate(ops)) {
      if (repeatable.contains(op) || isAnchor(op) || isa<AdvanceCounterOp>(op))
        continue;
      int earliest = 0;
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp())
          earliest = std::max(earliest, repeatable.contains(def) ? floorOf(def)
                                                                 : kernelOf[position[def]]);
      if (StringRef symbol = writtenSymbol(op); !symbol.empty())
        for (Operation *read : reads.lookup(symbol))
          if (position[read] < static_cast<int>(i))
            for (auto [k, at] : evaluations(read))
              earliest = std::max(earliest, at > static_cast<int>(i) ? k + 1 : k);
      kernelOf[i] = std::min(kernelOf[i], earliest);
    }

    // 2b. Sunk into their consumers' kernel.
    for (int i = n - 1; i >= 0; --i)
      sinkIntoConsumers(i);
    // 2c. Recomputed by their consumers' kernels.
    llvm::DenseMap<Operation *, RecomputedLeaf> recomputed;
    for (int i = 0; i < n; ++i)
      recomputeInConsumers(i, recomputed);

    // 3. Independent parts: union-find over the ops of each kernel.
    std::vector<int> parent(n);
    for (int i = 0; i < n; ++i)
      parent[i] = i;
    std::function<int(int)> find = [&](int i) {
      return parent[i] == i ? i : parent[i] = find(parent[i]);
    };
    auto unite = [&](int a, int b) { parent[find(a)] = find(b); };
    std::map<std::pair<std::string, int>, int> touching; // (symbol, kernel) -> op
    // (Only written symbols order ops: reading the lr buffer joins nothing.)
    auto touch = [&](StringRef symbol, int i) {
      if (!writer.count(symbol))
        return;
      auto [it, inserted] = touching.try_emplace({symbol.str(), kernelOf[i]}, i);
      if (!inserted)
        unite(i, it->second);
    };
    std::function<void(Operation *, int)> touchReads = [&](Operation *def, int i) {
      if (StringRef symbol = readSymbol(def); !symbol.empty())
        touch(symbol, i);
      for (Value operand : def->getOperands())
        if (Operation *inner = operand.getDefiningOp(); inner && repeatable.contains(inner))
          touchReads(inner, i);
    };
    for (auto [i, op] : llvm::enumerate(ops)) {
      if (repeatable.contains(op))
        continue;
      int self = static_cast<int>(i);
      for (Value operand : op->getOperands()) {
        Operation *def = operand.getDefiningOp();
        if (!def)
          continue;
        if (repeatable.contains(def))
          touchReads(def, self);
        else if (kernelOf[position[def]] == kernelOf[i])
          unite(self, position[def]);
      }
      if (StringRef symbol = writtenSymbol(op); !symbol.empty())
        touch(symbol, self);
    }
    // Parts numbered by (kernel, first op).
    std::map<std::pair<int, int>, int> firstOp; // (kernel, root) -> first op
    for (int i = 0; i < n; ++i)
      if (!repeatable.contains(ops[i]))
        firstOp.try_emplace({kernelOf[i], find(i)}, i);
    std::vector<std::pair<int, int>> order; // (kernel, first op)
    for (auto [key, first] : firstOp)
      order.push_back({key.first, first});
    llvm::sort(order);
    std::map<std::pair<int, int>, int> number;
    for (auto [k, entry] : llvm::enumerate(order))
      number[entry] = static_cast<int>(k);
    for (int i = 0; i < n; ++i)
      if (!repeatable.contains(ops[i]))
        kernelOf[i] = number.at({kernelOf[i], firstOp.at({kernelOf[i], find(i)})});
    numKernels = std::max<int>(1, static_cast<int>(order.size()));
  }

  /// Moves elementwise op `i` into the kernel of its users when they are all
  /// in one later kernel and that stores nothing new: its operands are
  /// stored already (computed by an earlier kernel than its own, or read by
  /// a later one) or small. Step 2 put it in the earliest kernel that has
  /// its operands, which then stores its result for the users: a training
  /// BatchNorm's backward stored dy * x̂ and x̂ * mean(dy * x̂) there (two
  /// 4 MB activations written and read again), which its users now compute
  /// from dy and x̂ as they read them. In reverse order, so chains sink.
  void sinkIntoConsumers(int i) {
    Operation *op = ops[i];
    if (!movable(op))
      return;
    const int home = kernelOf[i];
    int target = -1;
    for (Operation *user : op->getResult(0).getUsers()) {
      // (A cross-replica sum's input must come from an earlier kernel.)
      if (user == returned.getOperation() || repeatable.contains(user) ||
          isa<CrossReplicaSumOp>(user))
        return;
      const int k = kernelOf[position[user]];
      if (target != -1 && k != target)
        return;
      target = k;
    }
    if (target <= home)
      return;
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (!def || repeatable.contains(def) || kernelOf[position[def]] != home ||
          isSmall(operand))
        continue;
      const bool storedAnyway = llvm::any_of(operand.getUsers(), [&](Operation *user) {
        return user != op && (user == returned.getOperation() ||
                              repeatable.contains(user) ||
                              kernelOf[position[user]] != home);
      });
      if (!storedAnyway)
        return;
    }
    kernelOf[i] = target;
    // The state its operands read must be the value they read where they stood.
    if (!repeatedReadsAreCorrect(op))
      kernelOf[i] = home;
  }

  /// What a recomputed op reads that is not small: one stored value at
  /// most (null if none), and how deep a chain of recomputed ops it ends.
  struct RecomputedLeaf {
    Value leaf;
    int depth;
  };

  /// Makes elementwise op `i`, whose users are in several kernels, an op
  /// each of them recomputes (as the repeatable ops of state), when it
  /// reads one stored value at most, through up to kMaxRecomputedDepth
  /// such ops, from an earlier kernel than all of theirs, and small
  /// tensors: a BatchNorm's x̂ = (x - mean) * invstd, used by both
  /// reductions of its backward and the input gradient, was written by
  /// the forward kernel (4 MB) and read by each; they read x instead,
  /// which they (or the convolution's weight gradient) read anyway.
  void recomputeInConsumers(int i, llvm::DenseMap<Operation *, RecomputedLeaf> &recomputed) {
    Operation *op = ops[i];
    if (!recomputable(op))
      return;
    std::set<int> users;
    for (Operation *user : op->getResult(0).getUsers()) {
      if (user == returned.getOperation() || repeatable.contains(user) ||
          isa<CrossReplicaSumOp>(user))
        return;
      users.insert(kernelOf[position[user]]);
    }
    if (users.size() < 2)
      return;
    std::vector<Operation *> chain;
    std::optional<RecomputedLeaf> self =
        leafOf(op->getResult(0), *users.begin(), recomputed, chain, /*top=*/true);
    if (!self || self->depth > kMaxRecomputedDepth)
      return;
    for (Operation *link : chain)
      repeatable.insert(link);
    if (!repeatedReadsAreCorrect(op)) {
      for (Operation *link : chain)
        repeatable.erase(link);
      return;
    }
    recomputed[op] = *self;
  }

  /// An op of one result, no state and no randomness that kernels
  /// inline: steps 2b and 2c may move it to, or repeat it in, another kernel.
  bool movable(Operation *op) const {
    return !repeatable.contains(op) && !isAnchor(op) && writtenSymbol(op).empty() &&
           !isa<AdvanceCounterOp, DropoutOp, CrossReplicaSumOp>(op) &&
           op->getNumResults() == 1 && op->getNumRegions() == 0;
  }

  /// Movable, elementwise, and read by something.
  bool recomputable(Operation *op) const {
    return movable(op) && op->hasTrait<firn::OpTrait::ElementwiseCost>() &&
           !op->getResult(0).use_empty();
  }

  /// The stored value that recomputing `v` in kernels `firstUser` and later
  /// reads (with the chain of single-use elementwise ops in between, which
  /// `chain` collects), if there is one at most; none if recomputing it
  /// would read two, or a value that is not stored anyway.
  std::optional<RecomputedLeaf>
  leafOf(Value v, int firstUser, const llvm::DenseMap<Operation *, RecomputedLeaf> &recomputed,
         std::vector<Operation *> &chain, bool top = false) {
    if (!top && isSmall(v))
      return RecomputedLeaf{Value(), 0};
    Operation *def = v.getDefiningOp();
    if (!def)
      return RecomputedLeaf{v, 0}; // A function argument.
    if (auto known = recomputed.find(def); known != recomputed.end())
      return known->second;
    if (repeatable.contains(def))
      return RecomputedLeaf{Value(), 0};
    if (top || (v.hasOneUse() && recomputable(def))) {
      RecomputedLeaf self{Value(), 0};
      for (Value operand : def->getOperands()) {
        std::optional<RecomputedLeaf> reads = leafOf(operand, firstUser, recomputed, chain);
        if (!reads || (reads->leaf && self.leaf && reads->leaf != self.leaf))
          return std::nullopt; // Two stored values read instead of one.
        if (reads->leaf)
          self.leaf = reads->leaf;
        self.depth = std::max(self.depth, reads->depth + 1);
      }
      chain.push_back(def);
      return self;
    }
    // Stored anyway: computed by an earlier kernel and read by another.
    const int home = kernelOf[position[def]];
    const bool stored = llvm::any_of(v.getUsers(), [&](Operation *user) {
      return user == returned.getOperation() ||
             (!repeatable.contains(user) && kernelOf[position[user]] != home);
    });
    if (home >= firstUser || !stored)
      return std::nullopt;
    return RecomputedLeaf{v, 0};
  }

  /// A tensor of a static shape of a few thousand elements at most (a
  /// per-channel statistic), which a kernel stores at no cost.
  static bool isSmall(Value v) {
    auto type = dyn_cast<RankedTensorType>(v.getType());
    return type && type.hasStaticShape() && type.getNumElements() <= 4096;
  }

  /// Whether the state reads among `op`'s repeatable operands see, where
  /// they are now computed, the value they see in the function.
  bool repeatedReadsAreCorrect(Operation *op) {
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (!def || !repeatable.contains(def))
        continue;
      if (!readSymbol(def).empty())
        for (auto [k, p] : evaluations(def))
          if (!readIsCorrect(def, k, p))
            return false;
      if (!repeatedReadsAreCorrect(def))
        return false;
    }
    return true;
  }

  /// The earliest kernel that may compute repeatable `def`: after the
  /// write of a symbol it reads after that write.
  int floorOf(Operation *def) {
    int floor = 0;
    if (StringRef symbol = readSymbol(def); !symbol.empty())
      if (Operation *write = writer.lookup(symbol);
          write && position[write] < position[def])
        floor = kernelOf[position[write]];
    for (Value operand : def->getOperands())
      if (Operation *inner = operand.getDefiningOp())
        floor = std::max(floor, floorOf(inner));
    return floor;
  }

  /// Where repeatable `op` is computed: per kernel, the position of its
  /// first use there (the function's end for the return).
  std::map<int, int> evaluations(Operation *op) {
    std::map<int, int> at;
    auto note = [&](int k, int p) {
      auto [it, inserted] = at.try_emplace(k, p);
      if (!inserted)
        it->second = std::min(it->second, p);
    };
    for (Operation *user : op->getUsers()) {
      if (user == returned.getOperation())
        note(numKernels - 1, static_cast<int>(ops.size()));
      else if (repeatable.contains(user))
        for (auto [k, p] : evaluations(user))
          note(k, p);
      else
        note(kernelOf[position[user]], position[user]);
    }
    return at;
  }

  /// Whether read `op`, computed in kernel k just before position p, sees
  /// the value it sees in the function: the symbol's write runs before
  /// it exactly when the write comes before the read.
  bool readIsCorrect(Operation *op, int k, int p) {
    Operation *write = writer.lookup(readSymbol(op));
    if (!write)
      return true;
    int w = kernelOf[position[write]];
    bool before = w < k || (w == k && position[write] < p);
    return before == (position[write] < position[op]);
  }

  bool readsAreCorrect() {
    for (Operation *op : ops)
      if (!readSymbol(op).empty())
        for (auto [k, p] : evaluations(op))
          if (!readIsCorrect(op, k, p))
            return false;
    return true;
  }

  int temporaryOf(Value v) {
    auto [it, inserted] = temporaries.try_emplace(v, nextTemporary);
    if (inserted)
      ++nextTemporary;
    return it->second;
  }

  func::FuncOp func;
  func::ReturnOp returned;
  std::vector<Operation *> ops;
  llvm::DenseMap<Operation *, int> position;
  llvm::StringMap<Operation *> writer; ///< Of each symbol (one at most).
  llvm::DenseSet<Operation *> repeatable;
  std::vector<int> kernelOf; ///< Of each op that is not repeatable.
  int numKernels = 1;
  bool partitioned = false;
  llvm::DenseMap<Value, int> temporaries;
  int nextTemporary;
};

/// `kernel`'s ports in the model function's terms.
void bindPorts(LoweredFunction &kernel, const std::vector<Binding> &arguments,
          const std::vector<Binding> &results,
          const std::map<std::string, std::string> &symbols) {
  auto rebind = [&](Port &port, const std::vector<Binding> &bindings) {
    if (port.kind == Port::Kind::State) {
      port.symbol = symbols.at(port.symbol);
      return;
    }
    const Binding &b = bindings.at(port.index);
    port.kind = b.kind;
    port.index = b.index;
  };
  for (Port &port : kernel.inputs)
    rebind(port, arguments);
  for (Port &port : kernel.outputs)
    rebind(port, results);
}

} // namespace

FailureOr<int> lowerKernels(func::FuncOp func, const std::string &partOf,
                            int firstTemporary, std::vector<LoweredFunction> &kernels,
                            KernelIndex &index) {
  KernelBuilder builder(func, firstTemporary);
  auto parent = func->getParentOfType<ModuleOp>();
  for (int k = 0; k < builder.kernels(); ++k) {
    // Each kernel in a module of its own, with the module's attributes
    // (lowering reads the seed and the convolution algorithm).
    OwningOpRef<ModuleOp> module = ModuleOp::create(func.getLoc());
    (*module)->setAttrs(parent->getAttrDictionary());
    std::vector<Binding> arguments, results;
    std::map<std::string, std::string> symbols;
    func::FuncOp kernelFunc = builder.build(k, *module, arguments, results, symbols);
    std::string source;
    llvm::raw_string_ostream os(source);
    if (auto seed = parent->getAttr("firn.seed"))
      os << "seed " << seed << "\n";
    if (directConvolutions(parent))
      os << "direct convolutions\n";
    kernelFunc->print(os, OpPrintingFlags().assumeVerified());
    std::string name = llvm::formatv("{0:x-16}", llvm::xxh3_64bits(
                                                      llvm::arrayRefFromStringRef(source)))
                           .str();
    LoweredFunction kernel;
    if (auto known = index.find(name); known != index.end()) {
      kernel.inputs = known->second.inputs;
      kernel.outputs = known->second.outputs;
      kernel.duplicate = true;
    } else {
      FailureOr<LoweredFunction> lowered = lowerFunction(kernelFunc);
      if (failed(lowered))
        return failure();
      kernel = std::move(*lowered);
      // Nothing written (zero_grad with zero_grad none): no kernel.
      if (kernel.funcs.empty())
        continue;
      index[name] = {kernel.inputs, kernel.outputs};
    }
    kernel.name = name;
    kernel.partOf = partOf;
    kernel.source = source;
    // The temporaries the runtime sums over the ranks before this kernel.
    WalkResult summed = kernelFunc.walk([&](CrossReplicaSumOp sum) {
      auto arg = dyn_cast<BlockArgument>(sum.getInput());
      if (!arg || arguments.at(arg.getArgNumber()).kind != Port::Kind::Temporary) {
        sum.emitError("a cross-replica sum whose input is not computed by "
                      "an earlier kernel (the function could not be split)");
        return WalkResult::interrupt();
      }
      kernel.summedTemporaries.push_back(arguments.at(arg.getArgNumber()).index);
      return WalkResult::advance();
    });
    if (summed.wasInterrupted())
      return failure();
    bindPorts(kernel, arguments, results, symbols);
    kernels.push_back(std::move(kernel));
  }
  return builder.temporariesUsed();
}

} // namespace firn::codegen
