//===- SemaMasks.cpp - Comparisons, masks and constant tensors ------------===//
//
// Boolean masks as PyTorch writes them: comparisons (`x > 0`, `m == 0`),
// `~m` and logical_not, torch.where, masked_fill, tril / triu, and the
// constant tensors a causal mask is built from (ones, zeros). A mask has
// the DSL type bool[...]; only these functions and attention's attn_mask
// take it (arithmetic asks for f32), and IR generation makes it an f32
// tensor of 0 and 1 (firn.compare, firn.select).
//
//===----------------------------------------------------------------------===//
#include "Sema.h"

namespace firn {

bool isMaskFunction(const std::string &name) {
  return name == "where" || name == "masked_fill" || name == "ones" ||
         name == "zeros" || name == "tril" || name == "triu" ||
         name == "logical_not";
}

std::optional<ValueType> Sema::compareType(const ast::Expr &expr, Scope &scope,
                                           bool inLoss) {
  ValueType sides[2];
  for (int i = 0; i < 2; ++i) {
    auto type = typeOf(*expr.elements[i], scope, inLoss);
    if (!type)
      return std::nullopt;
    // f32 values or i64 ids (compared by value, as PyTorch promotes them);
    // not a mask (combine masks with ~ and where instead).
    if (type->dtype == ast::DType::Bool) {
      diags.error(expr.elements[i]->loc,
                  "'" + expr.name + "' compares f32 or i64 tensors, got the mask " +
                      str(*type) + " (use ~ or where to combine masks)");
      return std::nullopt;
    }
    sides[i] = *type;
  }
  shape::Inferred r = shape::broadcast(sides[0].shape, sides[1].shape);
  if (!r.ok()) {
    diags.error(expr.loc, "shape mismatch in '" + expr.name + "': " + str(sides[0]) +
                              " and " + str(sides[1]) + " do not broadcast");
    return std::nullopt;
  }
  return ValueType{ast::DType::Bool, r.shape};
}

std::optional<ValueType> Sema::notType(const ast::Expr &expr, Scope &scope,
                                       bool inLoss) {
  auto inner = typeOf(*expr.elements[0], scope, inLoss);
  if (!inner)
    return std::nullopt;
  if (inner->dtype != ast::DType::Bool) {
    diags.error(expr.loc, "'~' negates a mask (a comparison's bool), got " + str(*inner));
    return std::nullopt;
  }
  return inner;
}

std::optional<ValueType> Sema::maskCallType(const ast::Expr &call, Scope &scope,
                                            bool inLoss) {
  const std::string &name = call.name;
  if (name == "ones" || name == "zeros") {
    // torch.ones(2, 3) or torch.ones((2, 3)): static sizes only.
    const std::vector<ast::Arg> &args = call.args;
    std::vector<const ast::Expr *> sizes;
    for (const ast::Arg &arg : args) {
      if (!arg.name.empty()) {
        diags.error(arg.loc, "'" + name + "' takes only its sizes, got argument '" +
                                 arg.name + "'");
        return std::nullopt;
      }
      sizes.push_back(arg.value.get());
    }
    if (sizes.size() == 1 && (sizes[0]->kind == ast::ExprKind::List ||
                              sizes[0]->kind == ast::ExprKind::Tuple)) {
      const ast::Expr *list = sizes[0];
      sizes.clear();
      for (const ast::ExprPtr &element : list->elements)
        sizes.push_back(element.get());
    }
    if (sizes.empty()) {
      diags.error(call.loc, "'" + name + "' needs its sizes, such as " + name + "(4, 4)");
      return std::nullopt;
    }
    shape::Shape shape;
    for (const ast::Expr *size : sizes) {
      auto n = readIntAtLeast(size, 1, "a size of '" + name + "'", diags);
      if (!n)
        return std::nullopt;
      shape.push_back(*n);
    }
    return ValueType{ast::DType::F32, shape};
  }
  Signature sig = name == "where"         ? Signature{name, {{"condition", true}, {"input", true}, {"other", true}}}
                  : name == "masked_fill" ? Signature{name, {{"input", true}, {"mask", true}, {"value", true}}}
                  : name == "logical_not" ? Signature{name, {{"input", true}}}
                                          : Signature{name, {{"input", true}, {"diagonal"}}};
  auto bound = bindArgs(sig, call.args, call.loc, diags);
  if (!bound)
    return std::nullopt;
  auto operand = [&](const char *param) { return typeOf(*bound->get(param), scope, inLoss); };
  auto requireMask = [&](const char *param, const ValueType &type) {
    if (type.dtype == ast::DType::Bool)
      return true;
    diags.error(bound->get(param)->loc,
                "'" + name + "' " + param + " must be a mask (a comparison such as "
                "x > 0 or m == 0), got " + str(type));
    return false;
  };
  auto fail = [&](const std::string &message) -> std::optional<ValueType> {
    diags.error(call.loc, "shape mismatch in '" + name + "': " + message);
    return std::nullopt;
  };
  if (name == "logical_not") {
    auto x = operand("input");
    if (!x || !requireMask("input", *x))
      return std::nullopt;
    return x;
  }
  if (name == "where") {
    // torch.where(condition, input, other); numbers are f32[] tensors.
    auto c = operand("condition");
    if (!c || !requireMask("condition", *c))
      return std::nullopt;
    auto a = operand("input");
    if (!a || !requireFloat(*bound->get("input"), *a, "'where' input"))
      return std::nullopt;
    auto b = operand("other");
    if (!b || !requireFloat(*bound->get("other"), *b, "'where' other"))
      return std::nullopt;
    shape::Inferred values = shape::broadcast(a->shape, b->shape);
    shape::Inferred r = values.ok() ? shape::broadcast(c->shape, values.shape) : values;
    if (!r.ok())
      return fail(str(*c) + ", " + str(*a) + " and " + str(*b) + " do not broadcast");
    return ValueType{ast::DType::F32, r.shape};
  }
  if (name == "masked_fill") {
    // x.masked_fill(mask, value): value where the mask holds, the mask
    // broadcast to x's shape.
    auto x = operand("input");
    if (!x || !requireFloat(*bound->get("input"), *x, "'masked_fill' input"))
      return std::nullopt;
    auto mask = operand("mask");
    if (!mask || !requireMask("mask", *mask))
      return std::nullopt;
    const ast::Expr *value = bound->get("value");
    auto number = literalNumber(value);
    if (!number) {
      diags.error(value->loc, "'masked_fill' value must be a number (inf and -inf "
                              "too), got " + describe(value));
      return std::nullopt;
    }
    shape::Inferred r = shape::broadcast(mask->shape, x->shape);
    if (!r.ok() || r.shape != x->shape)
      return fail("the mask " + str(*mask) + " does not broadcast to the input " + str(*x));
    program.functionParameters[&call] = *number;
    return x;
  }
  // tril / triu(input, diagonal=0): the last two dimensions' lower or upper
  // triangle (on and below / above the given diagonal), zeros elsewhere.
  auto x = operand("input");
  if (!x)
    return std::nullopt;
  if (x->dtype == ast::DType::I64 || x->shape.size() < 2 ||
      x->shape[x->shape.size() - 1] == shape::kBatch ||
      x->shape[x->shape.size() - 2] == shape::kBatch) {
    diags.error(call.loc, "'" + name + "' takes an f32 tensor or a mask whose last "
                          "two dimensions are static, got " + str(*x));
    return std::nullopt;
  }
  int64_t diagonal = 0;
  if (const ast::Expr *d = bound->get("diagonal")) {
    auto value = readInt(d, "'" + name + "' diagonal", diags);
    if (!value)
      return std::nullopt;
    diagonal = *value;
  }
  program.dimArgs[&call] = {diagonal};
  return x;
}

} // namespace firn
