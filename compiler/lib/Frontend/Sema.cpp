//===- Sema.cpp - Semantic analysis driver and selectors ------------------===//
#include "Sema.h"

namespace firn {

const Layer *Program::findLayer(const std::string &name) const {
  for (const Layer &layer : layers)
    if (layer.name == name)
      return &layer;
  return nullptr;
}

namespace {
/// Shell-style glob: `*` any run of characters, `?` one character.
bool globMatch(const char *pattern, const char *text) {
  if (*pattern == '\0')
    return *text == '\0';
  if (*pattern == '*')
    return globMatch(pattern + 1, text) ||
           (*text != '\0' && globMatch(pattern, text + 1));
  if (*text == '\0')
    return false;
  return (*pattern == '?' || *pattern == *text) &&
         globMatch(pattern + 1, text + 1);
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
    for (size_t i = 0; i < program.params.size(); ++i)
      if (program.params[i].layer ==
          static_cast<size_t>(layer - &program.layers[0]))
        matched.push_back(i);
    return matched;
  }
  for (size_t i = 0; i < program.params.size(); ++i)
    if (globMatch(text.c_str(), program.params[i].name.c_str()))
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
                               DiagnosticEngine &diags) {
  Program program;
  program.filename = module.filename;
  Sema sema(program, diags);
  if (!sema.checkModel(module.model))
    return std::nullopt;
  if (module.train && !sema.checkTrain(*module.train))
    return std::nullopt;
  return program;
}

} // namespace firn
