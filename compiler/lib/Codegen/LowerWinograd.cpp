//===- LowerWinograd.cpp - 3x3 convolutions by Winograd's F(2x2, 3x3) ----===//
//
// A stride-1 3x3 convolution as a product over shifted views already runs
// near the machine's matmul peak, so the only way to make it faster is to
// multiply less. Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016) computes each
// 2x2 tile of outputs from the 4x4 tile of input around it:
//
//   Y = Aᵀ [ sum over c of (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
//
// 16 multiplications per tile and channel pair instead of 36: the sums
// over the channels are 16 matrix products [K x C] · [C x tiles], 2.25
// times fewer multiply-adds than the direct convolution. The transforms
// only add, subtract and halve (F(2x2, 3x3)'s coefficients are 0, ±1 and
// ±1/2), so the rounding error stays that of a direct sum (the larger
// tiles of F(4x4, 3x3) would multiply by up to 8 and lose digits against
// PyTorch's direct convolution).
//
// The transformed tiles are 4x larger than the image, so they are never
// stored whole: the schedule (scheduleWinograd in HostScheduler.cpp)
// computes one block of tile rows of one image at a time, in cache: its
// padded source, then position by position the transformed input and that
// position's product, then the block's outputs.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"

#include <algorithm>

namespace firn::codegen {

namespace {
// The transforms of F(2x2, 3x3).
constexpr float kInputT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
constexpr float kKernel[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
constexpr float kOutputT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
// Their transposes, for the weight gradient: A and Gᵀ.
constexpr float kOutput[4][2] = {{1, 0}, {1, 1}, {1, -1}, {0, -1}};
constexpr float kKernelT[3][4] = {{1, 0.5f, 0.5f, 0}, {0, 0.5f, -0.5f, 0}, {0, 0.5f, 0.5f, 1}};

/// Row `row` (an Expr: a select over the rows unless it is a constant,
/// which the schedule's unrolling makes it) of `m` times the vector
/// value(0), value(1), ...; zero coefficients are skipped, ±1 add or
/// subtract.
template <int Rows, int Columns>
Expr combine(const float (&m)[Rows][Columns], Expr row,
             const std::function<Expr(int)> &value) {
  Expr result;
  for (int r = Rows - 1; r >= 0; --r) {
    Expr sum;
    for (int a = 0; a < Columns; ++a) {
      const float coefficient = m[r][a];
      if (coefficient == 0)
        continue;
      Expr term = value(a);
      if (coefficient == -1) {
        sum = sum.defined() ? sum - term : -term;
        continue;
      }
      if (coefficient != 1)
        term = term * coefficient;
      sum = sum.defined() ? sum + term : term;
    }
    result = result.defined() ? Halide::select(row == r, sum, result) : sum;
  }
  return result;
}

/// The source, zero outside: padded(x, y, c, n) = src(n, c, y - offH,
/// x - offW) (the images past the end, which a chunk of the weight
/// gradient may read, read the last). Tile (tw, th) reads its rows
/// 2*th .. 2*th + 3 and columns 2*tw .. 2*tw + 3. (Measured: its columns
/// stored split by parity, so that a vector of tiles reads contiguous
/// floats instead of every other, made no difference.)
Func paddedSource(const std::string &name, const HTensor &src, int offH, int offW) {
  Var x("x"), y("y"), c("c"), n("n");
  Func padded(name);
  Expr sh = y - offH, sw = x - offW;
  Expr inside = sh >= 0 && sh < src.extents[2] && sw >= 0 && sw < src.extents[3];
  padded(x, y, c, n) = Halide::select(
      inside,
      src.at({Halide::min(n, src.extents[0] - 1), c,
              Halide::clamp(sh, 0, src.extents[2] - 1),
              Halide::clamp(sw, 0, src.extents[3] - 1)}),
      0.0f);
  return padded;
}

/// The 4x4 tiles of source(x, y, c, n) (tile (tw, th): columns 2*tw ..
/// 2*tw + 3, rows 2*th .. 2*th + 3) transformed on both sides by the rows
/// of m, tiles(tw, th, c, e, n) = (m d mᵀ)[e / 4][e % 4], separably:
/// `rows` applies m along each row of the source, rows(tw, y, c, s, n) =
/// (d mᵀ)[y][s], and the tiles combine 2 to 4 of those rows (measured:
/// each position of each tile summed from the source directly, 4 strided
/// loads, took about as long as the products).
struct Transformed {
  Func rows, tiles;
};
template <int Columns>
Transformed transformedTiles(const std::string &name, const float (&m)[4][Columns],
                             const std::function<Expr(Expr, Expr, Expr, Expr)> &source) {
  Var tw("tw"), th("th"), c("c"), e("e"), n("n"), y("y"), s("s");
  Transformed t{Func(name + "_rows"), Func(name)};
  t.rows(tw, y, c, s, n) =
      combine(m, s, [&](int column) { return source(2 * tw + column, y, c, n); });
  t.tiles(tw, th, c, e, n) =
      combine(m, e / 4, [&](int row) { return t.rows(tw, 2 * th + row, c, e % 4, n); });
  return t;
}
/// The input tiles of `padded` transformed, Bᵀ d B.
Transformed transformedInput(const std::string &name, const Func &padded) {
  return transformedTiles(name, kInputT, [&](Expr x, Expr y, Expr c, Expr n) {
    return padded(x, y, c, n);
  });
}
} // namespace

bool OpLowering::winogradApplies(const HTensor &src, int outChannels, int outH,
                                 int outW, int kh, int kw) const {
  // Square 3x3 taps; enough input channels for the 16 products to be
  // matrix products (the 3 channels of an RGB stem are not); whole tiles
  // of 4 output channels (the products' register tiles); rows of 8 tiles
  // at least (measured: on rows of 7 and 4 tiles, the CNN's 14 x 14 and the
  // ResNet's 8 x 8 images, vectors of 4 tiles lose what the fewer
  // multiplications win).
  if (!winograd)
    return false;
  return kh == 3 && kw == 3 && src.shape[1] != shape::kBatch && src.shape[1] >= 8 &&
         outChannels % 4 == 0 && outW >= 15 && outH >= 2;
}

Func OpLowering::winogradConvolution(const std::string &name, const HTensor &src,
                                     int outChannels, int outH, int outW, int offH,
                                     int offW, KernelElement kernel,
                                     const std::function<Expr(Expr)> &bias) {
  const std::string id = "_" + std::to_string(counter++);
  const int channels = static_cast<int>(src.shape[1]);
  const int tilesW = (outW + 1) / 2;
  Var c("c"), n("n"), o("o"), e("e"), tw("tw"), th("th"), a("a");

  // The kernels, transformed: kernels(o, c, e) = (G g Gᵀ)[e / 4][e % 4],
  // the rows of g combined first.
  Var i("i");
  Func rows(name + "_winograd_kernel_rows" + id); // (G g)[i][a]
  rows(o, c, a, i) = combine(kKernel, i, [&](int t) { return kernel(o, c, t, a); });
  Func kernels(name + "_winograd_kernels" + id);
  kernels(o, c, e) =
      combine(kKernel, e % 4, [&](int t) { return rows(o, c, t, e / 4); });
  root(kernels, RootFunc::Kind::Copy);

  Func padded = paddedSource(name + "_winograd_padded" + id, src, offH, offW);
  Transformed input = transformedInput(name + "_winograd_input" + id, padded);

  // The 16 products over the channels.
  RDom channel(0, channels, name + "_winograd_c" + id);
  Func acc(name + "_winograd_acc" + id), products(name + "_winograd_products" + id);
  acc(tw, th, o, e, n) = 0.0f;
  acc(tw, th, o, e, n) += kernels(o, channel, e) * input.tiles(tw, th, channel, e, n);
  products(tw, th, o, e, n) = acc(tw, th, o, e, n);

  // Each output tile, transformed back: Aᵀ M A at (h % 2, w % 2).
  Var w("w"), h("h");
  Func out(name + "_winograd" + id);
  Expr value = combine(kOutputT, h % 2, [&](int row) {
    return combine(kOutputT, w % 2, [&](int column) {
      return products(w / 2, h / 2, o, 4 * row + column, n);
    });
  });
  if (bias)
    value = value + bias(o);
  out(w, h, o, n) = value;

  // Blocks of tile rows whose transformed input (16 x C x rows x tilesW
  // floats) is at most 256 KB: with the products, half of a core's L2.
  const int tilesH = (outH + 1) / 2;
  const int blockRows = std::clamp(65536 / (16 * channels * tilesW), 1, tilesH);
  RootFunc r{out, RootFunc::Kind::Winograd, {}};
  r.winograd = {padded, input.rows, input.tiles, acc, products, Func(), Func(),
                channel,    blockRows,  outChannels, outH, outW};
  rootFuncs.push_back(r);
  return out;
}

bool OpLowering::winogradWeightGradientApplies(const HTensor &x, const HTensor &dy,
                                               int kh, int kw) const {
  if (!winograd)
    return false;
  // As the forward's, and rows of 8 tiles or more that are whole vectors
  // of 4 (the sums over tiles run along them, a vector at a time).
  const int64_t tilesW = (dy.shape[3] + 1) / 2;
  return kh == 3 && kw == 3 && x.shape[1] != shape::kBatch && x.shape[1] >= 8 &&
         dy.shape[1] % 4 == 0 && tilesW >= 8 && tilesW % 4 == 0 && dy.shape[2] >= 2;
}

Expr OpLowering::winogradWeightGradient(const HTensor &x, const HTensor &dy,
                                        ArrayRef<int64_t> padding,
                                        const std::vector<Expr> &idx) {
  // The adjoint of the forward: the kernels' gradient in the transformed
  // domain is the sum over every tile of every image of
  // (A dy Aᵀ) ⊙ (Bᵀ d B), per pair of channels a product over the tiles;
  // transformed back, dW = Gᵀ dU G.
  const std::string id = "_" + std::to_string(counter++);
  const std::string name = "conv2d_grad_weight";
  const int outH = static_cast<int>(dy.shape[2]), outW = static_cast<int>(dy.shape[3]);
  const int tilesH = (outH + 1) / 2, tilesW = (outW + 1) / 2;
  const int lanes = tilesW % 8 == 0 ? 8 : 4;
  Var c("c"), n("n"), o("o"), e("e"), tw("tw"), th("th"), l("l");

  Func padded = paddedSource(name + "_winograd_padded" + id, x,
                               static_cast<int>(padding[0]), static_cast<int>(padding[1]));
  Transformed input = transformedInput(name + "_winograd_input" + id, padded);
  // dy's tiles, transformed (zero past an odd edge, and for the images
  // past the end that the last chunk reads): A dy Aᵀ.
  Expr images = dy.extents[0];
  Transformed gradients = transformedTiles(
      name + "_winograd_dy" + id, kOutput, [&](Expr x, Expr y, Expr channel, Expr image) {
        Expr inside = y < outH && x < outW && image < images;
        return Halide::select(inside,
                              dy.at({Halide::min(image, images - 1), channel,
                                     Halide::min(y, outH - 1), Halide::min(x, outW - 1)}),
                              0.0f);
      });

  // Per chunk of images (256 tiles at least, so that adding the lanes,
  // once per chunk, costs little), the products over their tiles: `lanes`
  // partial sums, each over the tiles of one lane of the vectors along
  // the tile rows.
  const int chunk = std::max(1, 256 / (tilesH * tilesW));
  Var k("k");
  RDom tiles(0, tilesW / lanes, 0, tilesH, 0, chunk, name + "_winograd_t" + id);
  Func acc(name + "_winograd_acc" + id), products(name + "_winograd_products" + id);
  acc(l, o, c, e, k) = 0.0f;
  Expr t = tiles.x * lanes + l, image = k * chunk + tiles.z;
  acc(l, o, c, e, k) +=
      gradients.tiles(t, tiles.y, o, e, image) * input.tiles(t, tiles.y, c, e, image);
  RDom lane(0, lanes, name + "_winograd_l" + id);
  products(o, c, e, k) = Halide::sum(acc(lane, o, c, e, k));
  // Over the chunks, then transformed back.
  RDom chunks(0, (images + chunk - 1) / chunk, name + "_winograd_k" + id);
  Func total(name + "_winograd" + id);
  total(o, c, e) = Halide::sum(products(o, c, e, chunks));
  RootFunc r{total, RootFunc::Kind::Winograd, {}};
  r.winograd = {padded,         input.rows, input.tiles, acc, products, gradients.rows,
                gradients.tiles, tiles, tilesH, static_cast<int>(dy.shape[1]), outH, outW};
  rootFuncs.push_back(r);
  return combine(kKernelT, idx[2], [&](int row) {
    return combine(kKernelT, idx[3], [&](int column) {
      return total(idx[0], idx[1], 4 * row + column);
    });
  });
}

} // namespace firn::codegen
