// 2-D convolution (NHWC activations, OIHW weights) on top of the GEMM micro-kernels.
//
//  forward:          AVX-512 and O a multiple of 16: a direct kernel (below). Otherwise
//                    y[rows, O] = col(x)[rows, KH*KW*C] * Wf[KH*KW*C, O] + bias, computed in
//                    row tiles (each thread builds the im2col tile it multiplies, so the copy
//                    stays in its L2). 1x1 / stride 1 / no padding multiplies x directly.
//  backward input:   stride 1: a "gather" convolution of dy with the flipped kernel (same tiled
//                    scheme, no write conflicts); other strides: dcol = dy * Wf^T per image,
//                    scatter-added (col2im) into the image's dx by the thread owning the image.
//  backward weight:  dWf[KH*KW*C, O] = sum over row tiles of col(x)^T dy, one private
//                    accumulator per thread, reduced at the end (dbias alongside).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ALTER_X86 1
#endif

#include "cpu.h"
#include "gemm_internal.h"
#include "kernels.h"
#include "parallel.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace alter {


namespace {

struct ConvScratch {
  float* ptr = nullptr;
  size_t cap = 0;
  ~ConvScratch() { std::free(ptr); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(ptr);
      size_t bytes = ((n * sizeof(float) + 63) / 64) * 64 + 64;
      ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (ptr == nullptr) throw std::bad_alloc();
      cap = bytes / sizeof(float);
    }
    return ptr;
  }
};

thread_local ConvScratch tl_col;

// ---- small vector helpers ----------------------------------------------------------------------
#if ALTER_X86
__attribute__((target("avx512f"))) void add_into_avx512(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), _mm512_loadu_ps(src + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, m,
                          _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + i),
                                        _mm512_maskz_loadu_ps(m, src + i)));
  }
}
__attribute__((target("avx2"))) void add_into_avx2(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i)));
  for (; i < n; ++i) dst[i] += src[i];
}
#endif

void add_into(Isa isa, float* dst, const float* src, int64_t n) {
#if ALTER_X86
  if (isa == Isa::Avx512) return add_into_avx512(dst, src, n);
  if (isa == Isa::Avx2) return add_into_avx2(dst, src, n);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// ---- im2col over a tile of rows ------------------------------------------------------------------
// Row r of the virtual GEMM is pixel (n, h, w) of an outH x outW grid. For tap (kh, kw) it reads
// source pixel (h*stride + off + sign*kh, w*stride + off + sign*kw) of a srcH x srcW x srcC image
// (zeros outside). The row holds KH*KW runs of srcC channels, tap-major.
struct Gather {
  const float* src;
  int64_t srcH, srcW, srcC;
  int64_t outH, outW;
  int64_t KH, KW;
  int64_t strideH, strideW, offH, offW;
  int64_t sign;
};

void im2col_tile(const Gather& g, int64_t r0, int64_t r1, float* col) {
  const int64_t kd = g.KH * g.KW * g.srcC;
  const size_t run = sizeof(float) * static_cast<size_t>(g.srcC);
  const int64_t plane = g.outH * g.outW;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / plane, p = r - n * plane;
    const int64_t h = p / g.outW, w = p - h * g.outW;
    float* dst = col + (r - r0) * kd;
    const float* img = g.src + n * g.srcH * g.srcW * g.srcC;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t sh = h * g.strideH + g.offH + g.sign * kh;
      const bool hin = sh >= 0 && sh < g.srcH;
      for (int64_t kw = 0; kw < g.KW; ++kw, dst += g.srcC) {
        const int64_t sw = w * g.strideW + g.offW + g.sign * kw;
        if (hin && sw >= 0 && sw < g.srcW)
          std::memcpy(dst, img + (sh * g.srcW + sw) * g.srcC, run);
        else
          std::memset(dst, 0, run);
      }
    }
  }
}

// Rows per tile so that one im2col tile is about 256 KiB (a multiple of the 14-row micro-tile),
// but at least 112 rows so the per-tile B packing stays amortised for deep reductions.
int64_t tile_rows(int64_t kd, int64_t rows) {
  int64_t t = (64 * 1024) / std::max<int64_t>(kd, 1);
  t = std::max<int64_t>(112, t / 14 * 14);
  return std::max<int64_t>(1, std::min(t, rows));
}

thread_local ConvScratch tl_colfull;

void add_bias(float* o, int64_t rows, int64_t O, const float* bias) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < O; ++j) o[r * O + j] += bias[j];
}

// out[rows, O] = gather(rows) * Wm[kd, O] (+ bias), tiled over rows across threads.
void gather_gemm(const Gather& g, int64_t rows, int64_t O, const float* Wm, const float* bias,
                 float* out) {
  const int64_t kd = g.KH * g.KW * g.srcC;
  const int64_t tr = tile_rows(kd, rows);
  const int64_t ntiles = (rows + tr - 1) / tr;
  const int nt = num_threads();
  if (nt > 1 && ntiles < 4 * nt && rows * kd <= (int64_t(1) << 22)) {
    // Few row tiles (small images, deep reductions): one im2col of everything, then a GEMM that
    // threads over its own blocks, so the threads stay balanced.
    float* col = tl_colfull.get(static_cast<size_t>(rows * kd));
    parallel_for(rows, 16, [&](int64_t r0, int64_t r1) { im2col_tile(g, r0, r1, col + r0 * kd); });
    sgemm(false, false, rows, O, kd, 1.0f, col, kd, Wm, O, 0.0f, out, O);
    if (bias != nullptr)
      parallel_for(rows, 64, [&](int64_t r0, int64_t r1) { add_bias(out + r0 * O, r1 - r0, O, bias); });
    return;
  }
  // The weights are the right operand of every tile's product: pack them once, not per tile.
  const detail::PackedB packed = detail::pack_b_once(false, kd, O, Wm, O);
  parallel_for(ntiles, 1, [&](int64_t t0, int64_t t1) {
    float* col = tl_col.get(static_cast<size_t>(tr * kd));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t * tr, r1 = std::min(rows, r0 + tr);
      im2col_tile(g, r0, r1, col);
      float* o = out + r0 * O;
      detail::sgemm_serial_packed(r1 - r0, col, kd, packed, 0.0f, o, O);
      if (bias != nullptr) add_bias(o, r1 - r0, O, bias);
    }
  });
}

bool is_pointwise(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && s.strideH == 1 && s.strideW == 1 && s.padH == 0 &&
         s.padW == 0;
}

// Wf[(kh*KW + kw)*C + c][o] = w[o][c][kh][kw]
void repack_forward(const Conv2dShape& s, const float* w, float* wf) {
  const int64_t C = s.C, O = s.O, KH = s.KH, KW = s.KW;
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw)
          wf[((kh * KW + kw) * C + c) * O + o] = w[((o * C + c) * KH + kh) * KW + kw];
}


// ---- direct convolution (AVX-512, output channels a multiple of 16) -----------------------------
// The im2col + GEMM path spends its time in a GEMM whose N (output channels, often 64) is too
// narrow for the micro-kernel to reach peak. This path keeps a block of P output pixels x 64
// output channels in 24 zmm accumulators and walks the taps and input channels directly: one
// broadcast per pixel and input channel, one weight row per tap and input channel, no im2col copy.
// Pixels are numbered over the whole batch, so a block may span rows and images and only the very
// last block is partial. Out-of-image taps read a row of zeros instead of branching.
#if ALTER_X86
// Weights as [O/64 blocks][KH*KW taps][C][64] (a last block of 16, 32 or 48 keeps its width).
std::vector<float> repack_direct(const Conv2dShape& s, const float* w) {
  const int64_t C = s.C, O = s.O, taps = s.KH * s.KW;
  std::vector<float> wd(static_cast<size_t>(taps * C * O));
  for (int64_t ob = 0; ob < O; ob += 64) {
    const int64_t width = std::min<int64_t>(64, O - ob);
    float* blk = wd.data() + ob * taps * C;
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < width; ++j)
          blk[(t * C + c) * width + j] = w[((ob + j) * C + c) * taps + t];
  }
  return wd;
}

// One block of P pixels (their tap rows in src[tap][p]) times NV vectors of 16 output channels.
template <int P, int NV>
__attribute__((target("avx512f"))) inline void direct_block(const float* const* src, int64_t taps,
                                                             int64_t C, const float* wblk,
                                                             const float* bias, float* const* dst) {
  __m512 acc[P][NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    const __m512 b0 = bias ? _mm512_loadu_ps(bias + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) acc[p][v] = b0;
  }
  const float* wp = wblk;
  for (int64_t t = 0; t < taps; ++t) {
    const float* row[P];
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) row[p] = src[t * P + p];
#pragma GCC unroll 2
    for (int64_t c = 0; c < C; ++c, wp += 16 * NV) {
      __m512 wv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) wv[v] = _mm512_loadu_ps(wp + 16 * v);
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) {
        const __m512 xb = _mm512_set1_ps(row[p][c]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[p][v] = _mm512_fmadd_ps(xb, wv[v], acc[p][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(dst[p] + 16 * v, acc[p][v]);
}

// A group of pixel blocks for one output-channel block of NV x 16. A partial last block computes a
// full one on repeated pixels and writes the extra outputs to a scratch row. (Splitting the input
// channels into L1-sized weight chunks was measured slower: the weights stream well from L2.)
template <int P, int NV>
__attribute__((target("avx512f"))) void direct_group(int64_t nblocks, int last_pixels,
                                                     const float* const* src, int64_t taps,
                                                     int64_t C, const float* wblk,
                                                     const float* bias, float* const* dst) {
  alignas(64) float junk[P][64];
  float* tail[P];
  for (int p = 0; p < P; ++p) tail[p] = p < last_pixels ? dst[(nblocks - 1) * P + p] : junk[p];
  for (int64_t b = 0; b < nblocks; ++b) {
    float* const* d = (b == nblocks - 1 && last_pixels < P) ? tail : dst + b * P;
    direct_block<P, NV>(src + b * taps * P, taps, C, wblk, bias, d);
  }
}

// Six pixels per block for every output width: more pixels for narrow outputs need more pointer
// registers than x86 has (measured 2x slower).
constexpr int P = 6;

void conv2d_forward_direct(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                           float* y) {
  const std::vector<float> wd = repack_direct(s, w);
  const int64_t taps = s.KH * s.KW, C = s.C, O = s.O;
  const int64_t rows = s.N * s.OH * s.OW, plane = s.OH * s.OW;
  const std::vector<float> zeros(static_cast<size_t>(C), 0.0f);
  const int64_t blocks = (rows + P - 1) / P;
  constexpr int64_t kGroup = 144 / P;  // pixel blocks whose tap pointers are computed together
  parallel_for(blocks, kGroup, [&](int64_t b0, int64_t b1) {
    std::vector<const float*> src(static_cast<size_t>(kGroup * taps * P));  // [block][tap][pixel]
    std::vector<float*> dst(static_cast<size_t>(kGroup * P));
    for (int64_t g0 = b0; g0 < b1; g0 += kGroup) {
      const int64_t g1 = std::min(b1, g0 + kGroup);
      int last_pixels = P;
      for (int64_t b = g0; b < g1; ++b) {
        const int64_t r0 = b * P;
        const int pixels = static_cast<int>(std::min<int64_t>(P, rows - r0));
        if (b == g1 - 1) last_pixels = pixels;
        const float** bs = src.data() + (b - g0) * taps * P;
        for (int p = 0; p < P; ++p) {
          const int64_t r = r0 + std::min(p, pixels - 1);
          const int64_t n = r / plane, q = r - n * plane;
          const int64_t oh = q / s.OW, ow = q - oh * s.OW;
          const float* img = x + n * s.H * s.W * C;
          for (int64_t kh = 0; kh < s.KH; ++kh) {
            const int64_t ih = oh * s.strideH - s.padH + kh;
            for (int64_t kw = 0; kw < s.KW; ++kw) {
              const int64_t iw = ow * s.strideW - s.padW + kw;
              const bool inside = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
              bs[(kh * s.KW + kw) * P + p] = inside ? img + (ih * s.W + iw) * C : zeros.data();
            }
          }
        }
      }
      const int64_t nb = g1 - g0;
      for (int64_t ob = 0; ob < O; ob += 64) {
        const int64_t width = std::min<int64_t>(64, O - ob);
        for (int64_t b = g0; b < g1; ++b)
          for (int p = 0; p < P; ++p)
            dst[(b - g0) * P + p] = y + std::min(b * P + p, rows - 1) * O + ob;
        const float* wblk = wd.data() + ob * taps * C;
        const float* bb = bias ? bias + ob : nullptr;
        switch (width / 16) {
          case 4: direct_group<P, 4>(nb, last_pixels, src.data(), taps, C, wblk, bb, dst.data()); break;
          case 3: direct_group<P, 3>(nb, last_pixels, src.data(), taps, C, wblk, bb, dst.data()); break;
          case 2: direct_group<P, 2>(nb, last_pixels, src.data(), taps, C, wblk, bb, dst.data()); break;
          default: direct_group<P, 1>(nb, last_pixels, src.data(), taps, C, wblk, bb, dst.data()); break;
        }
      }
    }
  });
}

#endif

// ---- direct weight gradient (AVX-512, few channels) ------------------------------------------------
// For narrow layers (16-32 channels) the GEMM of im2col(x)^T dy has tiny M and N and runs at a fifth
// of peak. Here a tile of pixels accumulates straight into acc[(tap*C + c)][O]: for each tap and
// block of CB input channels, CB x NV zmm accumulators, one dy load per NV x 16 output channels and
// one broadcast per input channel. Out-of-image taps read a row of zeros.
#if ALTER_X86
template <int CB, int NV>
__attribute__((target("avx512f"))) void weight_grad_tile(const float* const* xrows, const float* dyt,
                                                         int64_t pixels, int64_t taps, int64_t C,
                                                         int64_t O, float* acc) {
  for (int64_t t = 0; t < taps; ++t) {
    const float* const* xr = xrows + t * pixels;
    for (int64_t c0 = 0; c0 < C; c0 += CB) {
      for (int64_t o0 = 0; o0 < O; o0 += 16 * NV) {
        float* a = acc + (t * C + c0) * O + o0;
        __m512 r[CB][NV];
#pragma GCC unroll 16
        for (int j = 0; j < CB; ++j)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) r[j][v] = _mm512_loadu_ps(a + j * O + 16 * v);
        for (int64_t p = 0; p < pixels; ++p) {
          const float* xp = xr[p] + c0;
          const float* d = dyt + p * O + o0;
          __m512 dv[NV];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) dv[v] = _mm512_loadu_ps(d + 16 * v);
#pragma GCC unroll 16
          for (int j = 0; j < CB; ++j) {
            const __m512 xb = _mm512_set1_ps(xp[j]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) r[j][v] = _mm512_fmadd_ps(xb, dv[v], r[j][v]);
          }
        }
#pragma GCC unroll 16
        for (int j = 0; j < CB; ++j)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) _mm512_storeu_ps(a + j * O + 16 * v, r[j][v]);
      }
    }
  }
}

#endif

// Very few output channels (a UNet's conv_out has 1-4): the GEMM degenerates to a matrix-vector
// product and ran at 2-3 GFLOP/s. Plain loops over c vectorise well enough (contiguous in x and acc).
void weight_grad_tile_narrow(const float* const* xrows, const float* dyt, int64_t pixels, int64_t taps,
                             int64_t C, int64_t O, float* acc) {
  for (int64_t t = 0; t < taps; ++t) {
    const float* const* xr = xrows + t * pixels;
    float* a = acc + t * C * O;
    for (int64_t p = 0; p < pixels; ++p) {
      const float* xp = xr[p];
      const float* d = dyt + p * O;
      for (int64_t o = 0; o < O; ++o) {
        const float g = d[o];
        if (O == 1) {
          for (int64_t c = 0; c < C; ++c) a[c] += xp[c] * g;
        } else {
          for (int64_t c = 0; c < C; ++c) a[c * O + o] += xp[c] * g;
        }
      }
    }
  }
}

// Which blocking fits this layer (1: CB 16 NV 1, 2: CB 8 NV 2, 3: narrow output), or 0 for GEMM.
int direct_weight_grad_kind(const Conv2dShape& s) {
  if (s.O < 8) return 3;
  if (active_isa() != Isa::Avx512 || s.O % 16 != 0 || s.C * s.O > 2048) return 0;
  if (s.O % 32 == 0 && s.C % 8 == 0) return 2;   // CB 8, NV 2
  if (s.C % 16 == 0) return 1;                   // CB 16, NV 1
  return 0;
}

bool use_direct_forward(const Conv2dShape& s) {
#if ALTER_X86
  return active_isa() == Isa::Avx512 && s.O % 16 == 0 && s.C > 0;
#else
  (void)s;
  return false;
#endif
}
}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y) {
  const int64_t rows = s.N * s.OH * s.OW;
  if (rows <= 0 || s.O <= 0) return;
  const int64_t kd = s.KH * s.KW * s.C;
  if (kd <= 0) {  // empty reduction: y = bias (or 0)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < s.O; ++o) y[r * s.O + o] = bias ? bias[o] : 0.0f;
    return;
  }
  if (is_pointwise(s)) {
    // y = x * w^T with w viewed as [O, C]: no copy at all.
    const int64_t tr = std::min<int64_t>(rows, 14 * 16);
    const int64_t ntiles = (rows + tr - 1) / tr;
    parallel_for(ntiles, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t r0 = t * tr, r1 = std::min(rows, r0 + tr);
        float* o = y + r0 * s.O;
        detail::sgemm_serial(false, true, r1 - r0, s.O, s.C, 1.0f, x + r0 * s.C, s.C, w, s.C,
                             0.0f, o, s.O);
        if (bias != nullptr) add_bias(o, r1 - r0, s.O, bias);
      }
    });
    return;
  }
#if ALTER_X86
  if (use_direct_forward(s)) return conv2d_forward_direct(s, x, w, bias, y);
#endif
  std::vector<float> wf(static_cast<size_t>(kd * s.O));
  repack_forward(s, w, wf.data());
  Gather g{x, s.H, s.W, s.C, s.OH, s.OW, s.KH, s.KW, s.strideH, s.strideW, -s.padH, -s.padW, 1};
  gather_gemm(g, rows, s.O, wf.data(), bias, y);
}

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  const int64_t inRows = s.N * s.H * s.W;
  if (inRows <= 0 || s.C <= 0) return;
  const int64_t outRows = s.N * s.OH * s.OW;
  const int64_t kdIn = s.KH * s.KW * s.C;  // forward reduction length
  if (outRows <= 0 || s.O <= 0 || kdIn <= 0) {
    std::memset(dx, 0, sizeof(float) * static_cast<size_t>(inRows * s.C));
    return;
  }
  if (is_pointwise(s)) {
    // dx = dy * w, w viewed as [O, C].
    sgemm(false, false, inRows, s.C, s.O, 1.0f, dy, s.O, w, s.C, 0.0f, dx, s.C);
    return;
  }
#if ALTER_X86
  if (s.strideH == 1 && s.strideW == 1 && s.padH <= s.KH - 1 && s.padW <= s.KW - 1) {
    // The same sum as a forward convolution of dy with the flipped, transposed kernel
    // (w'[c][o][kh][kw] = w[o][c][KH-1-kh][KW-1-kw], padding K-1-pad), so the direct kernel applies.
    const Conv2dShape t{s.N, s.OH, s.OW, s.O, s.C, s.KH, s.KW, 1, 1, s.KH - 1 - s.padH, s.KW - 1 - s.padW, s.H, s.W};
    if (use_direct_forward(t)) {
      std::vector<float> wt(static_cast<size_t>(s.O * s.C * s.KH * s.KW));
      for (int64_t o = 0; o < s.O; ++o)
        for (int64_t c = 0; c < s.C; ++c)
          for (int64_t kh = 0; kh < s.KH; ++kh)
            for (int64_t kw = 0; kw < s.KW; ++kw)
              wt[((c * s.O + o) * s.KH + (s.KH - 1 - kh)) * s.KW + (s.KW - 1 - kw)] = w[((o * s.C + c) * s.KH + kh) * s.KW + kw];
      conv2d_forward_direct(t, dy, wt.data(), nullptr, dx);
      return;
    }
  }
#endif
  if (s.strideH == 1 && s.strideW == 1) {
    // dx[n,ih,iw,c] = sum_{kh,kw,o} dy[n, ih+padH-kh, iw+padW-kw, o] * w[o,c,kh,kw]
    const int64_t kd = s.KH * s.KW * s.O;
    std::vector<float> wb(static_cast<size_t>(kd * s.C));
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t c = 0; c < s.C; ++c)
        for (int64_t kh = 0; kh < s.KH; ++kh)
          for (int64_t kw = 0; kw < s.KW; ++kw)
            wb[((kh * s.KW + kw) * s.O + o) * s.C + c] = w[((o * s.C + c) * s.KH + kh) * s.KW + kw];
    Gather g{dy, s.OH, s.OW, s.O, s.H, s.W, s.KH, s.KW, 1, 1, s.padH, s.padW, -1};
    gather_gemm(g, inRows, s.C, wb.data(), nullptr, dx);
    return;
  }
  // Strided: dcol = dy * Wf^T, then col2im, images split across threads.
  std::vector<float> wf(static_cast<size_t>(kdIn * s.O));
  repack_forward(s, w, wf.data());
  const Isa isa = active_isa();
  const int64_t plane = s.OH * s.OW;
  const int64_t tr = tile_rows(kdIn, plane);
  const int64_t imgIn = s.H * s.W * s.C;
  auto do_images = [&](int64_t n0, int64_t n1) {
    float* dcol = tl_col.get(static_cast<size_t>(tr * kdIn));
    for (int64_t n = n0; n < n1; ++n) {
      float* dxn = dx + n * imgIn;
      std::memset(dxn, 0, sizeof(float) * static_cast<size_t>(imgIn));
      for (int64_t p0 = 0; p0 < plane; p0 += tr) {
        const int64_t p1 = std::min(plane, p0 + tr);
        detail::sgemm_serial(false, true, p1 - p0, kdIn, s.O, 1.0f, dy + (n * plane + p0) * s.O,
                             s.O, wf.data(), s.O, 0.0f, dcol, kdIn);
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t oh = p / s.OW, ow = p - oh * s.OW;
          const float* src = dcol + (p - p0) * kdIn;
          for (int64_t kh = 0; kh < s.KH; ++kh) {
            const int64_t ih = oh * s.strideH - s.padH + kh;
            for (int64_t kw = 0; kw < s.KW; ++kw, src += s.C) {
              const int64_t iw = ow * s.strideW - s.padW + kw;
              if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
              add_into(isa, dxn + (ih * s.W + iw) * s.C, src, s.C);
            }
          }
        }
      }
    }
  };
  parallel_for(s.N, 1, do_images);
}

void conv2d_backward_weight(const Conv2dShape& s, const float* dy, const float* x, float* dw,
                            float* dbias) {
  const int64_t kd = s.KH * s.KW * s.C;
  const int64_t O = s.O;
  if (kd <= 0 || O <= 0) {
    if (dbias != nullptr && O > 0) std::memset(dbias, 0, sizeof(float) * static_cast<size_t>(O));
    return;
  }
  const int64_t rows = s.N * s.OH * s.OW;
  const bool pointwise = is_pointwise(s);
  const int nt = std::max(1, num_threads());
  // Rows per tile: the GEMM's reduction depth; one tile fits a single KC block.
  const int64_t tr = pointwise ? 256 : std::min<int64_t>(256, std::max<int64_t>(16, tile_rows(kd, rows)));
  const int64_t ntiles = rows > 0 ? (rows + tr - 1) / tr : 0;
  const int slots = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nt, ntiles)));
  // Per-slot accumulators [kd, O] and bias sums [O].
  std::vector<float> acc(static_cast<size_t>(slots) * static_cast<size_t>(kd * O + O), 0.0f);
  Gather g{x, s.H, s.W, s.C, s.OH, s.OW, s.KH, s.KW, s.strideH, s.strideW, -s.padH, -s.padW, 1};
  const Isa isa = active_isa();
#if ALTER_X86
  const int direct = pointwise ? 0 : direct_weight_grad_kind(s);
#endif
  const int64_t plane = s.OH * s.OW;
  const std::vector<float> zeros(static_cast<size_t>(s.C), 0.0f);
  parallel_for(slots, 1, [&](int64_t s0, int64_t s1) {
    std::vector<const float*> xrows;
    for (int64_t slot = s0; slot < s1; ++slot) {
      float* a = acc.data() + slot * (kd * O + O);
      float* ab = a + kd * O;
      const int64_t t0 = ntiles * slot / slots, t1 = ntiles * (slot + 1) / slots;
      float* col = pointwise ? nullptr : tl_col.get(static_cast<size_t>(tr * kd));
      bool first = true;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t r0 = t * tr, r1 = std::min(rows, r0 + tr);
        const float* dyt = dy + r0 * O;
#if ALTER_X86
        if (direct != 0) {
          if (first) std::memset(a, 0, sizeof(float) * static_cast<size_t>(kd * O));
          const int64_t pixels = r1 - r0, taps = s.KH * s.KW;
          xrows.resize(static_cast<size_t>(taps * pixels));
          for (int64_t p = 0; p < pixels; ++p) {
            const int64_t r = r0 + p, n = r / plane, q = r - n * plane;
            const int64_t oh = q / s.OW, ow = q - oh * s.OW;
            for (int64_t kh = 0; kh < s.KH; ++kh) {
              const int64_t ih = oh * s.strideH - s.padH + kh;
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t iw = ow * s.strideW - s.padW + kw;
                const bool inside = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
                xrows[(kh * s.KW + kw) * pixels + p] = inside ? x + ((n * s.H + ih) * s.W + iw) * s.C : zeros.data();
              }
            }
          }
          if (direct == 3) weight_grad_tile_narrow(xrows.data(), dyt, pixels, taps, s.C, O, a);
          else if (direct == 2) weight_grad_tile<8, 2>(xrows.data(), dyt, pixels, taps, s.C, O, a);
          else weight_grad_tile<16, 1>(xrows.data(), dyt, pixels, taps, s.C, O, a);
          first = false;
          if (dbias != nullptr)
            for (int64_t r = 0; r < r1 - r0; ++r) add_into(isa, ab, dyt + r * O, O);
          continue;
        }
#endif
        const float* cm;
        if (pointwise) {
          cm = x + r0 * s.C;
        } else {
          im2col_tile(g, r0, r1, col);
          cm = col;
        }
        detail::sgemm_serial(true, false, kd, O, r1 - r0, 1.0f, cm, kd, dyt, O,
                             first ? 0.0f : 1.0f, a, O);
        first = false;
        if (dbias != nullptr)
          for (int64_t r = 0; r < r1 - r0; ++r) add_into(isa, ab, dyt + r * O, O);
      }
    }
  });
  // Reduce slots into slot 0, then scatter into OIHW.
  float* a0 = acc.data();
  for (int sl = 1; sl < slots; ++sl) add_into(isa, a0, acc.data() + sl * (kd * O + O), kd * O + O);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t kh = 0; kh < s.KH; ++kh)
        for (int64_t kw = 0; kw < s.KW; ++kw)
          dw[((o * s.C + c) * s.KH + kh) * s.KW + kw] = a0[((kh * s.KW + kw) * s.C + c) * O + o];
  if (dbias != nullptr) std::memcpy(dbias, a0 + kd * O, sizeof(float) * static_cast<size_t>(O));
}

}  // namespace alter
