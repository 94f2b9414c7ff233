// Fused scaled-dot-product attention (flash-attention style) on the CPU.
//
// Layout: q [B, Lq, H, D], k/v [B, Lk, H, D], out [B, Lq, H, D], lse [B, H, Lq]. Row i of head h in
// batch b lives at ((b*L + i)*H + h)*D, so every tile product below reads rows with a stride of H*D
// and no head transpose is ever materialised.
//
// Forward: each task owns (b, h, query tile). It walks the key tiles with an online softmax (running
// max m, running sum l, rescaled accumulator O), so the scratch per thread is a few tiles only.
// Scores are computed in base 2 (q is pre-scaled by scale*log2(e)) so the exponentials are exp2.
//
// Backward (FlashAttention-2 order): for each (b, h) and each key tile, loop over the query tiles,
// recompute P = exp(S - lse), then dV += P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dO*O)),
// dQ += scale * dS K, dK += scale * dS^T Q. A (b, h) task owns its dq/dk/dv slices, so there is no
// write conflict. When B*H is smaller than the thread count the key tiles are split into groups;
// each group writes its own dk/dv rows and a private dq buffer, summed in a fixed order afterwards
// (deterministic).
//
// The small tile products use a register-blocked micro-kernel (AVX-512, AVX2 or portable C++,
// chosen by active_isa()).
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on _mm512_undefined_ps(); silence that here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu.h"
#include "kernels.h"
#include "lanes.h"
#include "parallel.h"

namespace alter {
namespace {

constexpr int64_t kBQ = 64;  // query rows per tile
constexpr int64_t kBK = 64;  // key rows per tile
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Taylor coefficients of 2^f = exp(f ln2) (degree 7: < 1e-8 relative error on |f| <= 0.5).
constexpr float kE1 = 0.6931471805599453f;
constexpr float kE2 = 0.2402265069591007f;
constexpr float kE3 = 0.05550410866482158f;
constexpr float kE4 = 0.009618129107628477f;
constexpr float kE5 = 0.0013333558146428443f;
constexpr float kE6 = 0.00015403530393381608f;
constexpr float kE7 = 1.525273380405984e-05f;

// The ISA-specific building blocks. gemm computes
//   C[i, j] = alpha * sum_p A(i, p) * B[p*ldb + j]  (+ C[i, j] if acc),  A(i, p) = A[i*ars + p*acs]
// for i < m, j < n, p < k; C rows are ldc apart. B rows must be contiguous along j.
struct Ops {
  void (*gemm)(int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t ars,
               int64_t acs, const float* B, int64_t ldb, float* C, int64_t ldc, bool acc);
  float (*rowmax)(int64_t n, const float* x);
  float (*exp2_sub_sum)(int64_t n, float* x, float m);  // x = exp2(x - m); returns sum(x)
  void (*exp2_sub)(int64_t n, float* x, float m);       // x = exp2(x - m)
  void (*dsoft)(int64_t n, const float* p, float* dp, float d);  // dp = p * (dp - d)
  void (*scale)(int64_t n, float* x, float a);                    // x *= a
};

// ---------------------------------------------------------------------------------------------
// Portable
namespace portable {

void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t ars, int64_t acs,
          const float* B, int64_t ldb, float* C, int64_t ldc, bool acc) {
  float row[256];
  for (int64_t j0 = 0; j0 < n; j0 += 256) {
    int64_t nc = std::min<int64_t>(256, n - j0);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < nc; ++j) row[j] = 0.f;
      for (int64_t p = 0; p < k; ++p) {
        const float a = A[i * ars + p * acs];
        const float* b = B + p * ldb + j0;
        for (int64_t j = 0; j < nc; ++j) row[j] += a * b[j];
      }
      float* c = C + i * ldc + j0;
      if (acc) {
        for (int64_t j = 0; j < nc; ++j) c[j] += alpha * row[j];
      } else {
        for (int64_t j = 0; j < nc; ++j) c[j] = alpha * row[j];
      }
    }
  }
}
float rowmax(int64_t n, const float* x) {
  float m = kNegInf;
  for (int64_t j = 0; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}
float exp2_sub_sum(int64_t n, float* x, float m) {
  float s = 0.f;
  for (int64_t j = 0; j < n; ++j) {
    x[j] = std::exp2(x[j] - m);
    s += x[j];
  }
  return s;
}
void exp2_sub(int64_t n, float* x, float m) {
  for (int64_t j = 0; j < n; ++j) x[j] = std::exp2(x[j] - m);
}
void dsoft(int64_t n, const float* p, float* dp, float d) {
  for (int64_t j = 0; j < n; ++j) dp[j] = p[j] * (dp[j] - d);
}
void scale(int64_t n, float* x, float a) {
  for (int64_t j = 0; j < n; ++j) x[j] *= a;
}

const Ops ops{gemm, rowmax, exp2_sub_sum, exp2_sub, dsoft, scale};

}  // namespace portable

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {

// PARTIAL: the last 8-column vector is cut short by `last`. Only then are masked loads and stores
// used: AMD cores run vmaskmovps stores as microcode, many times slower than plain stores.
template <int MR, int NV, bool PARTIAL>
inline void tile(int64_t k, float alpha, const float* A, int64_t ars, int64_t acs, const float* B,
                 int64_t ldb, float* C, int64_t ldc, bool acc, __m256i last) {
  __m256 c[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) c[r][v] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const float* bp = B + p * ldb;
    __m256 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV - 1; ++v) b[v] = _mm256_loadu_ps(bp + 8 * v);
    b[NV - 1] = PARTIAL ? _mm256_maskload_ps(bp + 8 * (NV - 1), last) : _mm256_loadu_ps(bp + 8 * (NV - 1));
    const float* ap = A + p * acs;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      __m256 a = _mm256_broadcast_ss(ap + r * ars);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = _mm256_fmadd_ps(a, b[v], c[r][v]);
    }
  }
  const __m256 al = _mm256_set1_ps(alpha);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    float* cr = C + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m256 val = _mm256_mul_ps(c[r][v], al);
      if (PARTIAL && v == NV - 1) {
        if (acc) val = _mm256_add_ps(val, _mm256_maskload_ps(cr + 8 * v, last));
        _mm256_maskstore_ps(cr + 8 * v, last, val);
      } else {
        if (acc) val = _mm256_add_ps(val, _mm256_loadu_ps(cr + 8 * v));
        _mm256_storeu_ps(cr + 8 * v, val);
      }
    }
  }
}

template <int NV, int MRB, bool PARTIAL>
inline void rows(int64_t m, int64_t k, float alpha, const float* A, int64_t ars, int64_t acs,
                 const float* B, int64_t ldb, float* C, int64_t ldc, bool acc, __m256i last) {
  int64_t i = 0;
  for (; i + MRB <= m; i += MRB)
    tile<MRB, NV, PARTIAL>(k, alpha, A + i * ars, ars, acs, B, ldb, C + i * ldc, ldc, acc, last);
  for (; i < m; ++i) tile<1, NV, PARTIAL>(k, alpha, A + i * ars, ars, acs, B, ldb, C + i * ldc, ldc, acc, last);
}

void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t ars, int64_t acs,
          const float* B, int64_t ldb, float* C, int64_t ldc, bool acc) {
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    int64_t nc = std::min<int64_t>(16, n - j0);
    int nv = static_cast<int>((nc + 7) / 8);
    const int64_t tail = nc - 8 * (nv - 1);
    __m256i last = first_lanes256(tail);
    if (tail == 8) {
      if (nv == 2) rows<2, 6, false>(m, k, alpha, A, ars, acs, B + j0, ldb, C + j0, ldc, acc, last);
      else rows<1, 8, false>(m, k, alpha, A, ars, acs, B + j0, ldb, C + j0, ldc, acc, last);
    } else {
      if (nv == 2) rows<2, 6, true>(m, k, alpha, A, ars, acs, B + j0, ldb, C + j0, ldc, acc, last);
      else rows<1, 8, true>(m, k, alpha, A, ars, acs, B + j0, ldb, C + j0, ldc, acc, last);
    }
  }
}

// 2^x for x <= 127 (inputs below -126 flush to 0).
inline __m256 exp2v(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-126.f);
  __m256 tiny = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  __m256 xc = _mm256_max_ps(lo, x);  // NaN stays NaN (max returns its second operand)
  xc = _mm256_min_ps(_mm256_set1_ps(127.f), xc);
  __m256 n = _mm256_round_ps(xc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 f = _mm256_sub_ps(xc, n);
  __m256 p = _mm256_set1_ps(kE7);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kE6));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kE5));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kE4));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kE3));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kE2));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kE1));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.f));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 r = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(tiny, r);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

float rowmax(int64_t n, const float* x) {
  __m256 m = _mm256_set1_ps(kNegInf);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
  float r = hmax(m);
  for (; j < n; ++j) r = x[j] > r ? x[j] : r;
  return r;
}
float exp2_sub_sum(int64_t n, float* x, float m) {
  __m256 mv = _mm256_set1_ps(m), s = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 e = exp2v(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv));
    _mm256_storeu_ps(x + j, e);
    s = _mm256_add_ps(s, e);
  }
  if (j < n) {
    __m256i mk = first_lanes256(n - j);
    __m256 e = exp2v(_mm256_sub_ps(_mm256_maskload_ps(x + j, mk), mv));
    e = _mm256_and_ps(e, _mm256_castsi256_ps(mk));
    _mm256_maskstore_ps(x + j, mk, e);
    s = _mm256_add_ps(s, e);
  }
  return hsum(s);
}
void exp2_sub(int64_t n, float* x, float m) {
  __m256 mv = _mm256_set1_ps(m);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(x + j, exp2v(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv)));
  if (j < n) {
    __m256i mk = first_lanes256(n - j);
    _mm256_maskstore_ps(x + j, mk, exp2v(_mm256_sub_ps(_mm256_maskload_ps(x + j, mk), mv)));
  }
}
void dsoft(int64_t n, const float* p, float* dp, float d) {
  __m256 dv = _mm256_set1_ps(d);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(dp + j, _mm256_mul_ps(_mm256_loadu_ps(p + j),
                                           _mm256_sub_ps(_mm256_loadu_ps(dp + j), dv)));
  for (; j < n; ++j) dp[j] = p[j] * (dp[j] - d);
}
void scale(int64_t n, float* x, float a) {
  __m256 av = _mm256_set1_ps(a);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), av));
  for (; j < n; ++j) x[j] *= a;
}

const Ops ops{gemm, rowmax, exp2_sub_sum, exp2_sub, dsoft, scale};

}  // namespace avx2
#pragma GCC pop_options

// ---------------------------------------------------------------------------------------------
// AVX-512
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,fma")
namespace avx512 {

inline __mmask16 tail_mask(int64_t cnt) {
  return static_cast<__mmask16>((1u << static_cast<unsigned>(cnt)) - 1u);
}

template <int MR, int NV>
inline void tile(int64_t k, float alpha, const float* A, int64_t ars, int64_t acs, const float* B,
                 int64_t ldb, float* C, int64_t ldc, bool acc, __mmask16 last) {
  __m512 c[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) c[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const float* bp = B + p * ldb;
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV - 1; ++v) b[v] = _mm512_loadu_ps(bp + 16 * v);
    b[NV - 1] = _mm512_maskz_loadu_ps(last, bp + 16 * (NV - 1));
    const float* ap = A + p * acs;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      __m512 a = _mm512_set1_ps(ap[r * ars]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_fmadd_ps(a, b[v], c[r][v]);
    }
  }
  const __m512 al = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    float* cr = C + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __mmask16 mk = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
      __m512 val = _mm512_mul_ps(c[r][v], al);
      if (acc) val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(mk, cr + 16 * v));
      _mm512_mask_storeu_ps(cr + 16 * v, mk, val);
    }
  }
}

template <int NV, int MRB>
inline void rows(int64_t m, int64_t k, float alpha, const float* A, int64_t ars, int64_t acs,
                 const float* B, int64_t ldb, float* C, int64_t ldc, bool acc, __mmask16 last) {
  int64_t i = 0;
  for (; i + MRB <= m; i += MRB)
    tile<MRB, NV>(k, alpha, A + i * ars, ars, acs, B, ldb, C + i * ldc, ldc, acc, last);
  if (MRB > 4 && i + 4 <= m) {
    tile<4, NV>(k, alpha, A + i * ars, ars, acs, B, ldb, C + i * ldc, ldc, acc, last);
    i += 4;
  }
  for (; i < m; ++i) tile<1, NV>(k, alpha, A + i * ars, ars, acs, B, ldb, C + i * ldc, ldc, acc, last);
}

void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t ars, int64_t acs,
          const float* B, int64_t ldb, float* C, int64_t ldc, bool acc) {
  for (int64_t j0 = 0; j0 < n; j0 += 64) {
    int64_t nc = std::min<int64_t>(64, n - j0);
    int nv = static_cast<int>((nc + 15) / 16);
    __mmask16 last = tail_mask(nc - 16 * (nv - 1));
    const float* Bj = B + j0;
    float* Cj = C + j0;
    switch (nv) {
      case 1: rows<1, 8>(m, k, alpha, A, ars, acs, Bj, ldb, Cj, ldc, acc, last); break;
      case 2: rows<2, 8>(m, k, alpha, A, ars, acs, Bj, ldb, Cj, ldc, acc, last); break;
      case 3: rows<3, 6>(m, k, alpha, A, ars, acs, Bj, ldb, Cj, ldc, acc, last); break;
      default: rows<4, 4>(m, k, alpha, A, ars, acs, Bj, ldb, Cj, ldc, acc, last); break;
    }
  }
}

// 2^x: scalef handles the exponent (underflow to 0, overflow to inf); NaN propagates.
inline __m512 exp2v(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-160.f), x);
  x = _mm512_min_ps(_mm512_set1_ps(160.f), x);
  __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(kE7);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kE6));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kE5));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kE4));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kE3));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kE2));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kE1));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

float rowmax(int64_t n, const float* x) {
  __m512 m = _mm512_set1_ps(kNegInf);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + j));
  if (j < n) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, tail_mask(n - j), x + j));
  return _mm512_reduce_max_ps(m);
}
float exp2_sub_sum(int64_t n, float* x, float m) {
  __m512 mv = _mm512_set1_ps(m), s = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    __m512 e = exp2v(_mm512_sub_ps(_mm512_loadu_ps(x + j), mv));
    _mm512_storeu_ps(x + j, e);
    s = _mm512_add_ps(s, e);
  }
  if (j < n) {
    __mmask16 mk = tail_mask(n - j);
    __m512 e = exp2v(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + j), mv));
    _mm512_mask_storeu_ps(x + j, mk, e);
    s = _mm512_mask_add_ps(s, mk, s, e);
  }
  return _mm512_reduce_add_ps(s);
}
void exp2_sub(int64_t n, float* x, float m) {
  __m512 mv = _mm512_set1_ps(m);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    _mm512_storeu_ps(x + j, exp2v(_mm512_sub_ps(_mm512_loadu_ps(x + j), mv)));
  if (j < n) {
    __mmask16 mk = tail_mask(n - j);
    _mm512_mask_storeu_ps(x + j, mk, exp2v(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + j), mv)));
  }
}
void dsoft(int64_t n, const float* p, float* dp, float d) {
  __m512 dv = _mm512_set1_ps(d);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    _mm512_storeu_ps(dp + j, _mm512_mul_ps(_mm512_loadu_ps(p + j),
                                           _mm512_sub_ps(_mm512_loadu_ps(dp + j), dv)));
  if (j < n) {
    __mmask16 mk = tail_mask(n - j);
    _mm512_mask_storeu_ps(dp + j, mk,
                          _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p + j),
                                        _mm512_sub_ps(_mm512_maskz_loadu_ps(mk, dp + j), dv)));
  }
}
void scale(int64_t n, float* x, float a) {
  __m512 av = _mm512_set1_ps(a);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) _mm512_storeu_ps(x + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), av));
  if (j < n) {
    __mmask16 mk = tail_mask(n - j);
    _mm512_mask_storeu_ps(x + j, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + j), av));
  }
}

const Ops ops{gemm, rowmax, exp2_sub_sum, exp2_sub, dsoft, scale};

}  // namespace avx512
#pragma GCC pop_options

const Ops& pick_ops() {
  switch (active_isa()) {
    case Isa::Avx512: return avx512::ops;
    case Isa::Avx2: return avx2::ops;
    default: return portable::ops;
  }
}

// Per-thread scratch that only grows.
float* scratch(std::vector<float>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Kt[d*bk + j] = K row j, element d (rows ld apart).
void pack_transposed(int64_t bk, int64_t D, const float* rows, int64_t ld, float* out) {
  for (int64_t j = 0; j < bk; ++j) {
    const float* r = rows + j * ld;
    for (int64_t d = 0; d < D; ++d) out[d * bk + j] = r[d];
  }
}

}  // namespace

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       float* out, float* lse) {
  const int64_t B = s.B, H = s.H, Lq = s.Lq, Lk = s.Lk, D = s.D;
  if (B <= 0 || H <= 0 || Lq <= 0) return;
  const int64_t HD = H * D;
  if (Lk <= 0 || D <= 0) {
    // Empty key set: the softmax is undefined; give zeros and lse = -inf.
    if (D > 0)
      for (int64_t i = 0; i < B * Lq * HD; ++i) out[i] = 0.f;
    for (int64_t i = 0; i < B * H * Lq; ++i) lse[i] = kNegInf;
    return;
  }
  const Ops& ops = pick_ops();
  const int64_t nqt = (Lq + kBQ - 1) / kBQ;
  const int64_t tasks = B * H * nqt;
  const float qscale = s.scale * kLog2e;
  // About 256K flops per chunk before another thread is woken.
  const int64_t work = std::max<int64_t>(1, 4 * std::min(Lq, kBQ) * Lk * D);
  const int64_t grain = std::max<int64_t>(1, (1 << 18) / work);

  parallel_for(tasks, grain, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> buf;
    const int64_t bkmax = std::min(kBK, Lk);
    float* Qs = scratch(buf, kBQ * D * 2 + D * bkmax + kBQ * bkmax + 2 * kBQ);
    float* O = Qs + kBQ * D;
    float* Kt = O + kBQ * D;
    float* S = Kt + D * bkmax;
    float* m = S + kBQ * bkmax;
    float* l = m + kBQ;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t qt = t % nqt, bh = t / nqt, h = bh % H, b = bh / H;
      const int64_t q0 = qt * kBQ, bq = std::min(kBQ, Lq - q0);
      const float* qrows = q + ((b * Lq + q0) * H + h) * D;
      const float* krows = k + (b * Lk * H + h) * D;
      const float* vrows = v + (b * Lk * H + h) * D;
      for (int64_t r = 0; r < bq; ++r) {
        const float* src = qrows + r * HD;
        float* dst = Qs + r * D;
        for (int64_t d = 0; d < D; ++d) dst[d] = src[d] * qscale;
        m[r] = kNegInf;
        l[r] = 0.f;
      }
      std::memset(O, 0, sizeof(float) * bq * D);
      for (int64_t k0 = 0; k0 < Lk; k0 += kBK) {
        const int64_t bk = std::min(kBK, Lk - k0);
        pack_transposed(bk, D, krows + k0 * HD, HD, Kt);
        ops.gemm(bq, bk, D, 1.f, Qs, D, 1, Kt, bk, S, bk, false);
        for (int64_t r = 0; r < bq; ++r) {
          float* sr = S + r * bk;
          const float mx = ops.rowmax(bk, sr);
          const float mnew = std::max(m[r], mx);
          const float sum = ops.exp2_sub_sum(bk, sr, mnew);
          if (m[r] == kNegInf || mnew == m[r]) {
            l[r] += sum;
          } else {
            const float alpha = std::exp2(m[r] - mnew);
            l[r] = l[r] * alpha + sum;
            ops.scale(D, O + r * D, alpha);
          }
          m[r] = mnew;
        }
        ops.gemm(bq, D, bk, 1.f, S, bk, 1, vrows + k0 * HD, HD, O, D, true);
      }
      float* orows = out + ((b * Lq + q0) * H + h) * D;
      float* lrow = lse + bh * Lq + q0;
      for (int64_t r = 0; r < bq; ++r) {
        const float inv = 1.f / l[r];
        const float* src = O + r * D;
        float* dst = orows + r * HD;
        for (int64_t d = 0; d < D; ++d) dst[d] = src[d] * inv;
        lrow[r] = (m[r] + std::log2(l[r])) * kLn2;
      }
    }
  });
}

void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v,
                        const float* out, const float* lse, const float* dout, float* dq,
                        float* dk, float* dv) {
  const int64_t B = s.B, H = s.H, Lq = s.Lq, Lk = s.Lk, D = s.D;
  if (B <= 0 || H <= 0 || D <= 0) return;
  const int64_t HD = H * D;
  if (Lq <= 0 || Lk <= 0) {
    for (int64_t i = 0; i < B * Lq * HD; ++i) dq[i] = 0.f;
    for (int64_t i = 0; i < B * Lk * HD; ++i) dk[i] = 0.f, dv[i] = 0.f;
    return;
  }
  const Ops& ops = pick_ops();
  const int64_t BH = B * H;
  const int64_t nkt = (Lk + kBK - 1) / kBK;
  const int64_t threads = num_threads();
  const int64_t work = Lq * Lk * D;  // per (b, h)
  // Split the key tiles of a head across threads only when there are too few heads to go round
  // and the head is big enough to be worth it.
  int64_t nsplit = 1;
  if (BH < threads && work >= (1 << 16)) nsplit = std::min(nkt, (threads + BH - 1) / BH);
  const int64_t tasks = BH * nsplit;
  const float qscale = s.scale * kLog2e;
  const float scale = s.scale;
  std::vector<float> dqbuf;
  if (nsplit > 1) dqbuf.assign(static_cast<size_t>(nsplit * BH * Lq * D), 0.f);
  const int64_t grain = std::max<int64_t>(1, (1 << 17) / std::max<int64_t>(1, work * 10 / nsplit));

  parallel_for(tasks, grain, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> buf;
    const int64_t bkmax = std::min(kBK, Lk), bqmax = std::min(kBQ, Lq);
    float* Qs = scratch(buf, Lq * D + 2 * Lq + 2 * D * bkmax + 2 * bqmax * bkmax);
    float* lse2 = Qs + Lq * D;
    float* Di = lse2 + Lq;
    float* Kt = Di + Lq;
    float* Vt = Kt + D * bkmax;
    float* P = Vt + D * bkmax;
    float* dP = P + bqmax * bkmax;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t split = t % nsplit, bh = t / nsplit, h = bh % H, b = bh / H;
      const int64_t kt0 = nkt * split / nsplit, kt1 = nkt * (split + 1) / nsplit;
      const float* qrows = q + (b * Lq * H + h) * D;
      const float* orows = out + (b * Lq * H + h) * D;
      const float* gorows = dout + (b * Lq * H + h) * D;
      const float* krows = k + (b * Lk * H + h) * D;
      const float* vrows = v + (b * Lk * H + h) * D;
      float* dkrows = dk + (b * Lk * H + h) * D;
      float* dvrows = dv + (b * Lk * H + h) * D;
      float* dqrows;
      int64_t ldq;
      if (nsplit == 1) {
        dqrows = dq + (b * Lq * H + h) * D;
        ldq = HD;
        for (int64_t i = 0; i < Lq; ++i) std::memset(dqrows + i * ldq, 0, sizeof(float) * D);
      } else {
        dqrows = dqbuf.data() + (split * BH + bh) * Lq * D;  // zeroed at allocation
        ldq = D;
      }
      const float* lrow = lse + bh * Lq;
      for (int64_t i = 0; i < Lq; ++i) {
        const float* qi = qrows + i * HD;
        const float* oi = orows + i * HD;
        const float* gi = gorows + i * HD;
        float* dst = Qs + i * D;
        float acc = 0.f;
        for (int64_t d = 0; d < D; ++d) {
          dst[d] = qi[d] * qscale;
          acc += oi[d] * gi[d];
        }
        Di[i] = acc;
        lse2[i] = lrow[i] * kLog2e;
      }
      for (int64_t kt = kt0; kt < kt1; ++kt) {
        const int64_t k0 = kt * kBK, bk = std::min(kBK, Lk - k0);
        pack_transposed(bk, D, krows + k0 * HD, HD, Kt);
        pack_transposed(bk, D, vrows + k0 * HD, HD, Vt);
        float* dkj = dkrows + k0 * HD;
        float* dvj = dvrows + k0 * HD;
        for (int64_t j = 0; j < bk; ++j) {
          std::memset(dkj + j * HD, 0, sizeof(float) * D);
          std::memset(dvj + j * HD, 0, sizeof(float) * D);
        }
        for (int64_t q0 = 0; q0 < Lq; q0 += kBQ) {
          const int64_t bq = std::min(kBQ, Lq - q0);
          // P = exp(S - lse), computed in base 2.
          ops.gemm(bq, bk, D, 1.f, Qs + q0 * D, D, 1, Kt, bk, P, bk, false);
          for (int64_t r = 0; r < bq; ++r) ops.exp2_sub(bk, P + r * bk, lse2[q0 + r]);
          // dV_j += P^T dO_i
          ops.gemm(bk, D, bq, 1.f, P, 1, bk, gorows + q0 * HD, HD, dvj, HD, true);
          // dP = dO_i V_j^T ; dS = P * (dP - D_i)
          ops.gemm(bq, bk, D, 1.f, gorows + q0 * HD, HD, 1, Vt, bk, dP, bk, false);
          for (int64_t r = 0; r < bq; ++r) ops.dsoft(bk, P + r * bk, dP + r * bk, Di[q0 + r]);
          // dQ_i += scale * dS K_j ; dK_j += scale * dS^T Q_i
          ops.gemm(bq, D, bk, scale, dP, bk, 1, krows + k0 * HD, HD, dqrows + q0 * ldq, ldq, true);
          ops.gemm(bk, D, bq, scale, dP, 1, bk, qrows + q0 * HD, HD, dkj, HD, true);
        }
      }
    }
  });

  if (nsplit > 1) {
    // Fixed-order sum of the per-split dq partials.
    parallel_for(BH * Lq, std::max<int64_t>(1, 8192 / D), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t bh = r / Lq, i = r % Lq, h = bh % H, b = bh / H;
        float* dst = dq + ((b * Lq + i) * H + h) * D;
        for (int64_t d = 0; d < D; ++d) {
          float acc = 0.f;
          for (int64_t sp = 0; sp < nsplit; ++sp) acc += dqbuf[((sp * BH + bh) * Lq + i) * D + d];
          dst[d] = acc;
        }
      }
    });
  }
}

}  // namespace alter
