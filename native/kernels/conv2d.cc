// 2-D convolution (NHWC activations, OIHW weights) on top of the GEMM micro-kernels.
//
//  forward:          y[rows, O] = col(x)[rows, KH*KW*C] * Wf[KH*KW*C, O] + bias, computed in
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
  parallel_for(slots, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t slot = s0; slot < s1; ++slot) {
      float* a = acc.data() + slot * (kd * O + O);
      float* ab = a + kd * O;
      const int64_t t0 = ntiles * slot / slots, t1 = ntiles * (slot + 1) / slots;
      float* col = pointwise ? nullptr : tl_col.get(static_cast<size_t>(tr * kd));
      bool first = true;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t r0 = t * tr, r1 = std::min(rows, r0 + tr);
        const float* cm;
        if (pointwise) {
          cm = x + r0 * s.C;
        } else {
          im2col_tile(g, r0, r1, col);
          cm = col;
        }
        const float* dyt = dy + r0 * O;
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
