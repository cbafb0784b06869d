//===- Sema.cpp - Semantic analysis driver and selectors ------------------===//
#include "Sema.h"

#include <algorithm>

namespace firn {

void Program::addLayer(Layer layer) {
  layerIndex.emplace(layer.name, layers.size());
  layers.push_back(std::move(layer));
}

const Layer *Program::findLayer(const std::string &name) const {
  auto it = layerIndex.find(name);
  return it == layerIndex.end() ? nullptr : &layers[it->second];
}

namespace {
/// Shell-style glob: `*` any run of characters, `?` one character. Iterative,
/// backtracking only to the last `*` (a later star subsumes the earlier
/// ones), so a selector of a million stars costs time proportional to its
/// length times the name's, never a stack overflow.
bool globMatch(const std::string &pattern, const std::string &text) {
  size_t p = 0, t = 0;
  size_t star = std::string::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() &&
               (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string::npos) {
      p = star + 1; // Let the last star take one more character.
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}
} // namespace

std::optional<std::vector<size_t>>
Sema::matchSelector(const ast::Expr &selector) {
  const std::string &text = selector.name;
  std::vector<size_t> matched;
  // A bare layer name stands for all of that layer's parameters.
  if (const Layer *layer = program.findLayer(text)) {
    if (layer->params.empty()) {
      diags.error(selector.loc, "layer '" + text + "' has no parameters");
      return std::nullopt;
    }
    // The layer's own indices, in declaration order: scanning every
    // parameter per `freeze fc` is quadratic in a large model.
    for (const auto &[role, index] : layer->params)
      matched.push_back(index);
    std::sort(matched.begin(), matched.end());
    return matched;
  }
  for (size_t i = 0; i < program.params.size(); ++i)
    if (globMatch(text, program.params[i].name))
      matched.push_back(i);
  if (!matched.empty())
    return matched;
  std::vector<std::string> names;
  for (const Parameter &param : program.params)
    names.push_back(param.name);
  for (const Layer &layer : program.layers)
    names.push_back(layer.name);
  std::string message = "'" + text + "' matches no parameter";
  std::string guess = suggest(text, names);
  if (!guess.empty())
    message += "; did you mean '" + guess + "'?";
  diags.error(selector.loc, message);
  return std::nullopt;
}

std::optional<Program> analyze(const ast::Module &module,
                               DiagnosticEngine &diags,
                               const AnalyzeOptions &options) {
  Program program;
  program.filename = module.filename;
  Sema sema(program, diags, options.training && module.train.has_value());
  if (!sema.checkModel(module.model))
    return std::nullopt;
  if (module.train && !sema.checkTrain(*module.train))
    return std::nullopt;
  return program;
}

} // namespace firn
