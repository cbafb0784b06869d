//===- LowerPooling.cpp - Max and average pooling -------------------------===//
//
// max_pool2d as each window's first maximum and its position, computed
// once and read by both the forward and the gradient of a training step;
// avg_pool2d as a window sum over its divisor (count_include_pad). Their
// gradients: a select, inlined, where the windows tile the input, else a
// sum over the taps that land on each input element.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"
#include "MathHalide.h"

namespace firn::codegen {

using math::isNaN;

namespace {
/// The taps of a pooling window at output index `at` ([n, c, oh, ow]):
/// `r` walks the window in row-major order (r.y rows, r.x columns: the
/// order in which PyTorch takes the first maximum), `value` is the input
/// there and `pad` in the padding (max pooling: the lowest float, PyTorch
/// pads with -inf; average pooling: 0).
struct PoolWindow {
  RDom r;
  Expr value;
  PoolWindow(const HTensor &x, ArrayRef<int64_t> kernel, ArrayRef<int64_t> stride,
             ArrayRef<int64_t> padding, const std::vector<Expr> &at,
             Expr pad = Halide::Float(32).min())
      : r(0, static_cast<int>(kernel[1]), 0, static_cast<int>(kernel[0])) {
    Expr h = at[2] * static_cast<int>(stride[0]) + r.y - static_cast<int>(padding[0]);
    Expr w = at[3] * static_cast<int>(stride[1]) + r.x - static_cast<int>(padding[1]);
    if (padding[0] == 0 && padding[1] == 0) {
      value = x.at({at[0], at[1], h, w});
      return;
    }
    Expr inside = h >= 0 && h < x.extents[2] && w >= 0 && w < x.extents[3];
    value = Halide::select(
        inside,
        x.at({at[0], at[1], Halide::clamp(h, 0, x.extents[2] - 1),
              Halide::clamp(w, 0, x.extents[3] - 1)}),
        pad);
  }
};

/// The windows of avg_pool2d over an input of H x W: kernel, stride and
/// padding as ints, and the divisor of each window's mean.
struct AvgWindows {
  Expr H, W;
  int kh, kw, sh, sw, ph, pw;
  bool countIncludePad;
  AvgWindows(Expr H, Expr W, ArrayRef<int64_t> kernel, ArrayRef<int64_t> stride,
             ArrayRef<int64_t> padding, bool countIncludePad)
      : H(std::move(H)), W(std::move(W)), kh(static_cast<int>(kernel[0])),
        kw(static_cast<int>(kernel[1])), sh(static_cast<int>(stride[0])),
        sw(static_cast<int>(stride[1])), ph(static_cast<int>(padding[0])),
        pw(static_cast<int>(padding[1])), countIncludePad(countIncludePad) {}
  /// The window's area, or (count_include_pad=False) its taps inside.
  Expr divisor(Expr oh, Expr ow) const {
    if (countIncludePad || (!ph && !pw))
      return Expr(static_cast<float>(kh * kw));
    Expr h0 = oh * sh - ph, w0 = ow * sw - pw;
    Expr rows = Halide::min(h0 + kh, H) - Halide::max(h0, 0);
    Expr cols = Halide::min(w0 + kw, W) - Halide::max(w0, 0);
    return Halide::cast<float>(rows * cols);
  }
};
} // namespace

Func OpLowering::poolArgmax(const HTensor &x, ArrayRef<int64_t> kernel,
                            ArrayRef<int64_t> stride, ArrayRef<int64_t> padding) {
  std::string key = x.func.name();
  for (ArrayRef<int64_t> attr : {kernel, stride, padding})
    for (int64_t a : attr)
      key += "_" + std::to_string(a);
  auto it = poolArgmaxes.find(key);
  if (it != poolArgmaxes.end())
    return it->second;
  std::vector<Var> pv = makeVars(4);
  PoolWindow win(x, kernel, stride, padding, asExprs(pv));
  Func best("max_pool_argmax_" + std::to_string(counter++));
  // PyTorch's max_pool2d takes a tap when `value > best || isnan(value)`:
  // the first maximum, unless the window holds a NaN: then the last NaN
  // (the result is NaN, its gradient goes there). Halide's argmax assumes
  // no NaNs, so a second inline reduction finds the last NaN.
  Expr tap = win.r.y * static_cast<int>(kernel[1]) + win.r.x;
  Halide::Tuple lastNaN =
      Halide::argmax(win.r, Halide::select(isNaN(win.value), tap, -1));
  Halide::Tuple first = Halide::argmax(win.r, win.value);
  Expr hasNaN = lastNaN[2] >= 0;
  best(std::vector<Var>(pv.rbegin(), pv.rend())) = Halide::Tuple(
      Halide::select(hasNaN, lastNaN[0], first[0]),
      Halide::select(hasNaN, lastNaN[1], first[1]),
      Halide::select(hasNaN, quietNaN(), first[2]));
  // The schedule sizes its vectors to the pooled rows (short ones: 14 and
  // 7 after two 2x2 pools of 28).
  root(best, RootFunc::Kind::WindowArgmax);
  if (x.shape[3] != shape::kBatch)
    rowWidths[best.name()] = static_cast<int>(
        (x.shape[3] + 2 * padding[1] - kernel[1]) / stride[1] + 1);
  poolArgmaxes[key] = best;
  return best;
}

std::optional<LogicalResult>
OpLowering::lowerPooling(Operation *op, ArrayRef<HTensor> in,
                         std::vector<HTensor> &results) {
  HTensor &out = results[0];
  std::vector<Var> v = makeVars(out.rank());
  std::vector<Expr> idx = asExprs(v);
  if (auto pool = dyn_cast<MaxPool2dOp>(op)) {
    // The window's first maximum and its position, stored once: the
    // forward reads the value, the gradient (in a training step) the
    // position.
    Func best = poolArgmax(in[0], pool.getKernel(), pool.getStride(),
                           pool.getPadding());
    define(out.func, v, best(idx[3], idx[2], idx[1], idx[0])[2]);
    return success();
  }
  if (auto grad = dyn_cast<MaxPool2dGradOp>(op)) {
    const HTensor &dy = in[0], &x = in[1];
    auto kernel = grad.getKernel(), stride = grad.getStride(),
         padding = grad.getPadding();
    // Where each window's first maximum is: (column, row) in the window.
    Func best = poolArgmax(x, kernel, stride, padding);
    if (kernel == stride && padding[0] == 0 && padding[1] == 0) {
      // Windows that tile the input: each input is in at most one window,
      // so its gradient is a select, inlined into its consumer (no sum).
      Expr oh = idx[2] / static_cast<int>(stride[0]);
      Expr ow = idx[3] / static_cast<int>(stride[1]);
      Expr ohc = Halide::min(oh, dy.extents[2] - 1), owc = Halide::min(ow, dy.extents[3] - 1);
      Expr hit = oh < dy.extents[2] && ow < dy.extents[3] &&
                 best(owc, ohc, idx[1], idx[0])[0] == idx[3] % static_cast<int>(stride[1]) &&
                 best(owc, ohc, idx[1], idx[0])[1] == idx[2] % static_cast<int>(stride[0]);
      define(out.func, v,
             Halide::select(hit, dy.at({idx[0], idx[1], ohc, owc}), 0.0f));
      return success();
    }
    // Input (h, w) is tap (ky, kx) of window (oh, ow) when
    // oh * stride - padding + ky = h: every tap that lands on it and was its
    // window's maximum adds that window's gradient.
    RDom r(0, static_cast<int>(kernel[1]), 0, static_cast<int>(kernel[0]));
    Expr th = idx[2] + static_cast<int>(padding[0]) - r.y;
    Expr tw = idx[3] + static_cast<int>(padding[1]) - r.x;
    Expr oh = th / static_cast<int>(stride[0]), ow = tw / static_cast<int>(stride[1]);
    Expr valid = th >= 0 && tw >= 0 && th % static_cast<int>(stride[0]) == 0 &&
                 tw % static_cast<int>(stride[1]) == 0 && oh < dy.extents[2] &&
                 ow < dy.extents[3];
    Expr ohc = Halide::clamp(oh, 0, dy.extents[2] - 1);
    Expr owc = Halide::clamp(ow, 0, dy.extents[3] - 1);
    Expr hit = valid && best(owc, ohc, idx[1], idx[0])[0] == r.x &&
               best(owc, ohc, idx[1], idx[0])[1] == r.y;
    define(out.func, v,
           Halide::sum(Halide::select(hit, dy.at({idx[0], idx[1], ohc, owc}), 0.0f)));
    root(out, RootFunc::Kind::Reduction);
    out.stored = true;
    return success();
  }
  if (auto pool = dyn_cast<AvgPool2dOp>(op)) {
    const HTensor &x = in[0];
    AvgWindows windows(x.extents[2], x.extents[3], pool.getKernel(),
                       pool.getStride(), pool.getPadding(),
                       pool.getCountIncludePad());
    PoolWindow win(x, pool.getKernel(), pool.getStride(), pool.getPadding(), idx,
                   Expr(0.0f));
    define(out.func, v, Halide::sum(win.value) / windows.divisor(idx[2], idx[3]));
    root(out, RootFunc::Kind::Reduction);
    out.stored = true;
    return success();
  }
  if (auto grad = dyn_cast<AvgPool2dGradOp>(op)) {
    const HTensor &dy = in[0];
    AvgWindows windows(out.extents[2], out.extents[3], grad.getKernel(),
                       grad.getStride(), grad.getPadding(),
                       grad.getCountIncludePad());
    if (windows.kh == windows.sh && windows.kw == windows.sw && !windows.ph &&
        !windows.pw) {
      // Windows that tile the input: each input is in at most one window,
      // so its gradient is that window's share, inlined into its consumer.
      Expr oh = idx[2] / windows.sh, ow = idx[3] / windows.sw;
      Expr inWindow = oh < dy.extents[2] && ow < dy.extents[3];
      Expr share = dy.at({idx[0], idx[1], Halide::min(oh, dy.extents[2] - 1),
                          Halide::min(ow, dy.extents[3] - 1)}) /
                   static_cast<float>(windows.kh * windows.kw);
      define(out.func, v, Halide::select(inWindow, share, 0.0f));
      return success();
    }
    // Input (h, w) is tap (ky, kx) of window (oh, ow) when
    // oh * stride - padding + ky = h.
    RDom r(0, windows.kw, 0, windows.kh);
    Expr th = idx[2] + windows.ph - r.y, tw = idx[3] + windows.pw - r.x;
    Expr oh = th / windows.sh, ow = tw / windows.sw;
    Expr valid = th >= 0 && tw >= 0 && th % windows.sh == 0 &&
                 tw % windows.sw == 0 && oh < dy.extents[2] && ow < dy.extents[3];
    Expr ohc = Halide::clamp(oh, 0, dy.extents[2] - 1);
    Expr owc = Halide::clamp(ow, 0, dy.extents[3] - 1);
    Expr share = dy.at({idx[0], idx[1], ohc, owc}) / windows.divisor(ohc, owc);
    define(out.func, v, Halide::sum(Halide::select(valid, share, 0.0f)));
    root(out, RootFunc::Kind::Reduction);
    out.stored = true;
    return success();
  }
  return std::nullopt;
}

} // namespace firn::codegen
