//===- Metrics.cpp - The --metrics file of train and eval ------------------===//
//
// See Trainer.h: the metrics columns of a model, their formats (CSV or JSON
// lines, by the file's extension), and the writer that appends a record per
// step, epoch or evaluation. The loops that produce the records are in
// Trainer.cpp.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Trainer.h"

#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace firn::runtime {

namespace {

bool endsWith(const std::string &text, const char *suffix) {
  const size_t n = std::strlen(suffix);
  return text.size() >= n && text.compare(text.size() - n, n, suffix) == 0;
}

std::string jsonString(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

/// Splits a CSV header line (column names never contain commas or quotes).
std::vector<std::string> splitHeader(std::string line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.pop_back();
  std::vector<std::string> columns;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    columns.push_back(line.substr(start, comma - start));
    if (comma == std::string::npos)
      return columns;
    start = comma + 1;
  }
}

} // namespace

/// A metrics value as text: an integer as an integer, a value that is a
/// float32 (a loss, a rate) in float's shortest round-trip form, anything
/// else in double's. Non-finite values are "nan", "inf" and "-inf".
std::string numberText(double value) {
  if (std::isnan(value))
    return "nan";
  if (std::isinf(value))
    return value > 0 ? "inf" : "-inf";
  char text[64];
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    std::snprintf(text, sizeof(text), "%" PRId64, static_cast<int64_t>(value));
    return text;
  }
  const float single = static_cast<float>(value);
  std::to_chars_result r =
      double(single) == value ? std::to_chars(text, text + sizeof(text), single)
                              : std::to_chars(text, text + sizeof(text), value);
  return std::string(text, r.ptr);
}

bool metricsFormatOf(const std::string &path, MetricsFormat &format,
                     std::string &error) {
  if (endsWith(path, ".csv")) {
    format = MetricsFormat::Csv;
    return true;
  }
  if (endsWith(path, ".jsonl") || endsWith(path, ".json")) {
    format = MetricsFormat::JsonLines;
    return true;
  }
  error = "--metrics " + path +
          ": the format follows the extension: .csv (comma-separated, with "
          "a header) or .jsonl/.json (one JSON object per line)";
  return false;
}

std::vector<std::pair<int, std::string>>
learningRateColumns(const firn_model_desc &desc) {
  // optim/<optimizer>/<group>/lr, ordered as PyTorch's param_groups are:
  // optimizers in the model file's order (each optimizer's state follows its
  // declaration in the table, so the first state of an optimizer gives its
  // place), then groups by number. The table's own order within an
  // optimizer is not the group order (the compiler inserts each new buffer
  // right after the optimizer, so later groups come first).
  struct Column {
    size_t optimizerRank;
    long long group;
    int state;
    std::string name;
  };
  std::vector<std::string> optimizers;
  std::vector<Column> columns;
  for (int i = 0; i < desc.num_states; ++i) {
    const firn_state_desc &s = desc.states[i];
    const std::string name = s.name ? s.name : "";
    if (name.rfind("optim/", 0) != 0)
      continue;
    const size_t slash = name.find('/', 6);
    const std::string optimizer = name.substr(6, slash - 6);
    auto rank = std::find(optimizers.begin(), optimizers.end(), optimizer);
    if (rank == optimizers.end())
      rank = optimizers.insert(optimizers.end(), optimizer);
    if (!endsWith(name, "/lr") || s.dtype != FIRN_F32 || s.rank != 0 ||
        slash == std::string::npos)
      continue;
    // The group: the digits between the optimizer and "/lr" (a name that
    // has anything else there sorts last, in table order).
    const std::string group = name.substr(slash + 1, name.size() - slash - 4);
    long long number = group.empty() || group.size() > 9 ||
                               group.find_first_not_of("0123456789") !=
                                   std::string::npos
                           ? 1000000000LL
                           : std::atoll(group.c_str());
    // optim/<optimizer>/<group>/lr -> lr/<optimizer>/<group>
    columns.push_back({size_t(rank - optimizers.begin()), number, i,
                       "lr/" + name.substr(6, name.size() - 6 - 3)});
  }
  std::stable_sort(columns.begin(), columns.end(),
                   [](const Column &a, const Column &b) {
                     return a.optimizerRank != b.optimizerRank
                                ? a.optimizerRank < b.optimizerRank
                                : a.group < b.group;
                   });
  std::vector<std::pair<int, std::string>> out;
  for (Column &c : columns)
    out.emplace_back(c.state, std::move(c.name));
  return out;
}

bool evalHasAccuracy(const firn_model_desc &desc, const Dataset &data) {
  return data.hasTargets() && data.targetKind() == TargetKind::ClassIndices &&
         desc.predict;
}

std::vector<std::string> metricsColumns(const firn_model_desc &desc,
                                        bool evalLoss, bool evalAccuracy) {
  std::vector<std::string> columns = {"kind", "epoch", "step", "train_loss"};
  if (evalLoss)
    columns.push_back("eval_loss");
  if (evalAccuracy)
    columns.push_back("eval_accuracy");
  for (const auto &lr : learningRateColumns(desc))
    columns.push_back(lr.second);
  columns.push_back("samples_per_second");
  columns.push_back("seconds");
  return columns;
}

bool MetricsWriter::open(const std::string &path, bool append,
                         const std::vector<std::string> &columns,
                         std::string &error) {
  close();
  MetricsFormat fmt;
  if (!metricsFormatOf(path, fmt, error))
    return false;
  // What an appended file already holds: its header, and whether its last
  // line is complete (a run killed mid-record leaves it incomplete).
  std::string firstLine;
  bool endsInNewline = true, empty = true;
  if (append) {
    if (std::FILE *in = std::fopen(path.c_str(), "rb")) {
      int c, last = '\n';
      bool inFirst = true;
      while ((c = std::fgetc(in)) != EOF) {
        empty = false;
        if (inFirst)
          firstLine += char(c);
        inFirst = inFirst && c != '\n';
        last = c;
      }
      std::fclose(in);
      endsInNewline = last == '\n';
    }
  }
  std::FILE *f = std::fopen(path.c_str(), append ? "ab" : "wb");
  if (!f) {
    error =
        "cannot open the metrics file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::vector<std::string> cols = columns;
  bool writeHeader = fmt == MetricsFormat::Csv;
  if (fmt == MetricsFormat::Csv && !empty) {
    std::vector<std::string> existing = splitHeader(firstLine);
    for (const std::string &c : columns)
      if (std::find(existing.begin(), existing.end(), c) == existing.end()) {
        std::fclose(f);
        error = "cannot append to the metrics file " + path +
                ": its header has no column '" + c +
                "' (it was written by a run with other options); write the "
                "metrics to a new file";
        return false;
      }
    cols = std::move(existing);
    writeHeader = false;
  }
  if (!endsInNewline)
    std::fputc('\n', f);
  if (writeHeader) {
    std::string line;
    for (size_t i = 0; i < cols.size(); ++i)
      line += (i ? "," : "") + cols[i];
    std::fputs((line + "\n").c_str(), f);
  }
  if (std::fflush(f) != 0) {
    error =
        "cannot write the metrics file " + path + ": " + std::strerror(errno);
    std::fclose(f);
    return false;
  }
  file = f;
  filePath = path;
  format = fmt;
  header = std::move(cols);
  return true;
}

bool MetricsWriter::write(const std::string &kind, const MetricsRecord &record,
                          std::string &error) {
  if (!file)
    return true;
  std::string line;
  if (format == MetricsFormat::Csv) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (i)
        line += ',';
      if (header[i] == "kind")
        line += kind;
      for (const auto &[column, value] : record)
        if (column == header[i]) {
          line += numberText(value);
          break;
        }
    }
  } else {
    line = "{" + jsonString("kind") + ": " + jsonString(kind);
    for (const auto &[column, value] : record) {
      line += ", ";
      line += jsonString(column) + ": " +
              (std::isfinite(value) ? numberText(value) : "null");
    }
    line += "}";
  }
  line += '\n';
  if (std::fputs(line.c_str(), file) < 0 || std::fflush(file) != 0) {
    error = "cannot write the metrics file " + filePath + ": " +
            std::strerror(errno);
    return false;
  }
  return true;
}

void MetricsWriter::close() {
  if (file)
    std::fclose(file);
  file = nullptr;
}

} // namespace firn::runtime
