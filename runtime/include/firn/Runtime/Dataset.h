//===- Dataset.h - Training data from .npy files, batched -------*- C++ -*-===//
//
// A compiled binary's `train`, `eval` and `predict` read their data from one
// inputs array (`--x`) and an optional targets array (`--y`), both .npy files
// whose first axis indexes the samples, and feed the model fixed-size batches
// sliced along that axis. This class loads and checks the files once, against
// what the model expects, so that every mistake is reported up front as a
// message naming the file:
//
//   - inputs and targets must have the same number of samples;
//   - inputs must be floating point: float32 is used as it is and float64 is
//     converted to float32 (PyTorch users often save float64 by accident);
//     integer inputs are an error (most likely --x and --y swapped), unless
//     the model takes int64 indices (token ids for an Embedding): then they
//     must be integers (int64, int32 or uint8, widened to int64), each in
//     the range the model gives (the rows of the table they index);
//   - class-index targets may be int64, int32 or uint8 and are widened to
//     int64 (optionally checked against the number of classes); float targets
//     may be float32 or float64 and become float32;
//   - each sample's shape must equal the model's (the shape without the batch
//     dimension), e.g. "data/x.npy: each sample has shape [1, 28, 28] but the
//     model expects [1, 8, 8]";
//   - the batch size must divide the number of samples, unless the last,
//     partial batch is dropped (`--drop-last`) or kept (predict and eval).
//
// Batches are taken in order, or in a shuffled order that is a documented
// function of the seed and the epoch (see `permutation`), so that a run can be
// reproduced exactly and by other tools.
//
// Plain C++17, no exceptions: compiled training binaries link this.
//
//===----------------------------------------------------------------------===//

#ifndef FIRN_RUNTIME_DATASET_H
#define FIRN_RUNTIME_DATASET_H

#include "firn/Runtime/Safetensors.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace firn::runtime {

/// What the model's target is: class indices (int64) or values (float32).
enum class TargetKind { ClassIndices, Floats };

/// What the model expects of its data.
struct DatasetSpec {
  /// The shape of one input sample (the input's shape without the batch
  /// dimension); empty for a scalar per sample.
  std::vector<int64_t> inputShape;
  /// The input is int64 indices (token ids) rather than float32 values.
  bool inputIsIndices = false;
  /// For index inputs: when positive, every index must lie in [0, inputLimit).
  int64_t inputLimit = 0;
  TargetKind targetKind = TargetKind::Floats;
  /// The shape of one target sample; not checked when absent.
  std::optional<std::vector<int64_t>> targetShape;
  /// For class-index targets: when positive, every index must lie in
  /// [0, numClasses).
  int64_t numClasses = 0;
  /// For class-index targets: a value outside the classes the data may
  /// hold (the loss's ignore_index).
  std::optional<int64_t> ignoreIndex;
};

/// One batch: `rows` samples, each input and target flattened in row-major
/// order. Only the target vector of the dataset's TargetKind is filled; both
/// are empty when the dataset has no targets.
struct Batch {
  int64_t rows = 0;
  std::vector<float> inputs;
  std::vector<int64_t> indexInputs; ///< Instead of `inputs` for index inputs.
  std::vector<int64_t> classTargets;
  std::vector<float> floatTargets;
  /// A model's second, third, ... inputs (Dataset::addInput), in order:
  /// each the floats or the indices of its own.
  std::vector<std::vector<float>> moreInputs;
  std::vector<std::vector<int64_t>> moreIndexInputs;
};

class Dataset {
public:
  /// Loads `inputsPath` and, unless `targetsPath` is empty, `targetsPath`, and
  /// checks them against `spec`. On failure returns false and sets `error`
  /// (naming the file); `out` is replaced only on success.
  static bool load(const std::string &inputsPath,
                   const std::string &targetsPath, const DatasetSpec &spec,
                   Dataset &out, std::string &error);

  /// The same checks on arrays already in memory; the names stand for the
  /// files in messages. `targets` may be null.
  static bool
  fromTensors(const TensorData &inputs, const std::string &inputsName,
              const TensorData *targets, const std::string &targetsName,
              const DatasetSpec &spec, Dataset &out, std::string &error);

  /// For a model with several inputs (`--input NAME=PATH`): the next one,
  /// read from `path` and checked against `spec`'s input fields as the first
  /// input is, with as many samples as it.
  bool addInput(const std::string &path, const DatasetSpec &spec,
                std::string &error);
  /// The inputs after the first: their number, and each one's sample
  /// shape and dtype.
  size_t moreInputs() const { return more.size(); }
  const std::vector<int64_t> &moreInputShape(size_t i) const {
    return more[i].sample;
  }
  bool moreInputIsIndices(size_t i) const { return more[i].indices; }

  /// The number of samples (the first dimension).
  int64_t size() const { return samples; }
  bool hasTargets() const { return withTargets; }
  bool inputIsIndices() const { return indexInput; }
  TargetKind targetKind() const { return kind; }
  /// The shape of one sample (the files' shapes without the first dimension).
  const std::vector<int64_t> &inputShape() const { return inputSample; }
  const std::vector<int64_t> &targetShape() const { return targetSample; }
  const std::string &inputsName() const { return inputsFile; }
  const std::string &targetsName() const { return targetsFile; }

  /// Checks that `batchSize` is positive, at most the number of samples, and
  /// divides it unless `dropLast`: e.g. "data/x.npy has 1797 samples, which
  /// batch size 64 does not divide; use --drop-last or a batch size that
  /// divides it".
  bool checkBatchSize(int64_t batchSize, bool dropLast,
                      std::string &error) const;

  /// The number of batches of `batchSize` in one epoch: only full batches
  /// (the remainder is dropped), or with `keepPartial` also a last, smaller
  /// batch of the remainder (for predict and eval, which must see every
  /// sample). 0 when `batchSize` is not positive.
  int64_t batchCount(int64_t batchSize, bool keepPartial = false) const;

  /// Batch `index` (0-based) of size `batchSize` in the current order: the
  /// samples order[index * batchSize ...] (fewer for a last, partial batch).
  /// Returns false, leaving `out` alone, when `index` is out of range or
  /// `batchSize` is not positive.
  ///
  /// With `ranks` > 1 (data-parallel training), only rank `rank`'s share of
  /// that global batch: the samples order[index * batchSize + rank + j *
  /// ranks] for j < batchSize / ranks, which is what PyTorch's
  /// DistributedSampler gives rank `rank` (every ranks-th sample) batched by
  /// batchSize / ranks. The ranks' shares are disjoint and together are
  /// exactly the global batch. The batch must be full and `ranks` must
  /// divide `batchSize` (false otherwise).
  bool batch(int64_t index, int64_t batchSize, Batch &out, int rank = 0,
             int ranks = 1) const;

  /// Sets the order of the samples to `permutation(size(), seed, epoch)`;
  /// call once at the start of each epoch.
  void shuffle(uint64_t seed, uint64_t epoch);
  /// Restores the file order 0, 1, 2, ...
  void unshuffle();
  /// The current order of the samples.
  const std::vector<int64_t> &order() const { return sampleOrder; }

  /// The shuffled order for `epoch`: a Fisher-Yates shuffle of 0..n-1 driven
  /// by splitmix64 (Vigna). The generator's state starts at
  /// `seed ^ (0x9E3779B97F4A7C15 * (epoch + 1))` (mod 2^64); each draw adds
  /// 0x9E3779B97F4A7C15 to the state and returns the state mixed by
  /// splitmix64's finalizer. For i = n-1 down to 1, j = draw() % (i + 1) and
  /// elements i and j are swapped.
  static std::vector<int64_t> permutation(int64_t n, uint64_t seed,
                                          uint64_t epoch);

private:
  int64_t samples = 0;
  bool withTargets = false;
  bool indexInput = false;
  TargetKind kind = TargetKind::Floats;
  std::vector<int64_t> inputSample, targetSample;
  int64_t inputStride = 0, targetStride = 0;
  std::string inputsFile, targetsFile;
  std::vector<float> inputValues;
  std::vector<int64_t> inputIndices; ///< For index inputs.
  std::vector<int64_t> classValues;
  std::vector<float> floatValues;
  std::vector<int64_t> sampleOrder;
  struct MoreInput {
    std::string file;
    bool indices = false;
    std::vector<int64_t> sample;
    int64_t stride = 0;
    std::vector<float> values;
    std::vector<int64_t> ints;
  };
  std::vector<MoreInput> more;
};

} // namespace firn::runtime

#endif // FIRN_RUNTIME_DATASET_H
