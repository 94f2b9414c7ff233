// Single-precision GEMM: BLIS-style blocking (NC / KC / MC) with packed B panels, packed or
// in-place A panels, and register-blocked micro-kernels for AVX-512, AVX2+FMA and plain C++.
// The file is compiled without -march flags; the SIMD kernels carry target attributes and are
// chosen at run time from active_isa().
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ALTER_X86 1
#endif

#include "cpu.h"
#include "gemm_internal.h"
#include "kernels.h"
#include "lanes.h"
#include "parallel.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define ALTER_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define ALTER_AVX2 __attribute__((target("avx2,fma")))

namespace alter {
namespace {

// ---- scratch buffers ---------------------------------------------------------------------------
// One grow-only, 64-byte aligned buffer per thread and purpose; kernels never allocate per call
// once warmed up.
struct Scratch {
  float* ptr = nullptr;
  size_t cap = 0;
  ~Scratch() { std::free(ptr); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(ptr);
      size_t bytes = ((n * sizeof(float) + 4096 + 63) / 64) * 64;
      ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (ptr == nullptr) throw std::bad_alloc();
      cap = bytes / sizeof(float);
    }
    return ptr;
  }
};

thread_local Scratch tl_pack_a;
thread_local Scratch tl_pack_b;

// Block sizes (measured on Zen 5: 48 KiB L1d, 1 MiB L2): a KC x 32 B micro-panel (32 KiB) stays
// in L1 while MC x KC A panels stream from L2.
constexpr int64_t kKcMax = 256;   // depth of a packed block
constexpr int64_t kMcMax = 84;    // rows of an A block (multiple of every MR: 14, 6, 4)
constexpr int64_t kNcMax = 2048;  // columns of a packed B block

// Matrix views: element (i, k) of op(A) and (k, j) of op(B).
inline float a_at(const float* A, int64_t lda, bool tA, int64_t i, int64_t k) {
  return tA ? A[k * lda + i] : A[i * lda + k];
}
inline float b_at(const float* B, int64_t ldb, bool tB, int64_t k, int64_t j) {
  return tB ? B[j * ldb + k] : B[k * ldb + j];
}

// ---- packing (generic C++; the hot !transB / transA cases are contiguous copies) -------------
// B block rows [k0, k0+kc), cols [j0, j0+nc) -> panels of NR columns, each kc x NR, zero padded.
template <int NR>
void pack_b_generic(bool tB, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                    int64_t nc, float* dst) {
  for (int64_t jp = 0; jp < nc; jp += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - jp);
    float* d = dst + jp * kc;
    if (!tB) {
      const float* src = B + k0 * ldb + j0 + jp;
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = src + k * ldb;
        float* dd = d + k * NR;
        int64_t j = 0;
        for (; j < nr; ++j) dd[j] = s[j];
        for (; j < NR; ++j) dd[j] = 0.0f;
      }
    } else {
      // op(B)[k][j] = B[j][k]: walk each source row contiguously.
      for (int64_t j = 0; j < nr; ++j) {
        const float* s = B + (j0 + jp + j) * ldb + k0;
        for (int64_t k = 0; k < kc; ++k) d[k * NR + j] = s[k];
      }
      for (int64_t j = nr; j < NR; ++j)
        for (int64_t k = 0; k < kc; ++k) d[k * NR + j] = 0.0f;
    }
  }
}

// A block rows [i0, i0+mc), depth [k0, k0+kc) -> panels of MR rows, each kc x MR, zero padded.
template <int MR>
void pack_a_generic(bool tA, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0,
                    int64_t kc, float* dst) {
  for (int64_t ip = 0; ip < mc; ip += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - ip);
    float* d = dst + ip * kc;
    if (tA) {
      const float* src = A + k0 * lda + i0 + ip;
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = src + k * lda;
        float* dd = d + k * MR;
        int64_t i = 0;
        for (; i < mr; ++i) dd[i] = s[i];
        for (; i < MR; ++i) dd[i] = 0.0f;
      }
    } else {
      for (int64_t i = 0; i < mr; ++i) {
        const float* s = A + (i0 + ip + i) * lda + k0;
        for (int64_t k = 0; k < kc; ++k) d[k * MR + i] = s[k];
      }
      for (int64_t i = mr; i < MR; ++i)
        for (int64_t k = 0; k < kc; ++k) d[k * MR + i] = 0.0f;
    }
  }
}

#if ALTER_X86
// 16x16 in-register transpose helpers for the !transA (and transB) packers.
ALTER_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 1] =
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(
        _mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(
        _mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
  // Now r[4q + s] holds, for each 128-bit lane L, rows 4q..4q+3 column 4L+s.
  for (int q = 0; q < 4; q += 2) {
    for (int s = 0; s < 4; ++s) {
      __m512 x = r[4 * q + s], y = r[4 * (q + 1) + s];
      t[4 * q + s] = _mm512_shuffle_f32x4(x, y, 0x88);      // lanes 0,2 of x | 0,2 of y
      t[4 * (q + 1) + s] = _mm512_shuffle_f32x4(x, y, 0xDD);  // lanes 1,3 of x | 1,3 of y
    }
  }
  // t[4q+s] for q in {0,1}: lanes = (q0 rows L0), (q0 rows L2), (q1 rows L0), (q1 rows L2) etc.
  for (int s = 0; s < 4; ++s) {
    __m512 a0 = t[s], a1 = t[4 + s], a2 = t[8 + s], a3 = t[12 + s];
    // a0: [rows0-3 c(s)], [rows0-3 c(8+s)], [rows4-7 c(s)], [rows4-7 c(8+s)]
    // a2: [rows8-11 c(s)], [rows8-11 c(8+s)], [rows12-15 c(s)], [rows12-15 c(8+s)]
    // a1: same with columns 4+s and 12+s; a3 likewise for rows 8-15.
    r[s] = _mm512_shuffle_f32x4(a0, a2, 0x88);       // column s
    r[8 + s] = _mm512_shuffle_f32x4(a0, a2, 0xDD);   // column 8+s
    r[4 + s] = _mm512_shuffle_f32x4(a1, a3, 0x88);   // column 4+s
    r[12 + s] = _mm512_shuffle_f32x4(a1, a3, 0xDD);  // column 12+s
  }
}

// Packs rows [i0, i0+mc) x depth [k0, k0+kc) of a row-major A (no transpose) into MR-row panels.
template <int MR>
ALTER_AVX512 void pack_a_notrans_avx512(const float* A, int64_t lda, int64_t i0, int64_t mc,
                                        int64_t k0, int64_t kc, float* dst) {
  static_assert(MR <= 16, "MR must fit a 16-row transpose");
  for (int64_t ip = 0; ip < mc; ip += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - ip);
    float* d = dst + ip * kc;
    const float* src = A + (i0 + ip) * lda + k0;
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = i < mr ? _mm512_loadu_ps(src + i * lda + k) : _mm512_setzero_ps();
      transpose16(r);
      const __mmask16 m = static_cast<__mmask16>((1u << MR) - 1);
      for (int kk = 0; kk < 16; ++kk) _mm512_mask_storeu_ps(d + (k + kk) * MR, m, r[kk]);
    }
    if (k < kc) {
      const int64_t rem = kc - k;
      const __mmask16 lm = static_cast<__mmask16>((1u << rem) - 1);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = i < mr ? _mm512_maskz_loadu_ps(lm, src + i * lda + k) : _mm512_setzero_ps();
      transpose16(r);
      const __mmask16 m = static_cast<__mmask16>((1u << MR) - 1);
      for (int64_t kk = 0; kk < rem; ++kk) _mm512_mask_storeu_ps(d + (k + kk) * MR, m, r[kk]);
    }
  }
}

// Packs a row-major B (no transpose) into NR=32 column panels: contiguous 32-float copies.
ALTER_AVX512 void pack_b_notrans_avx512(const float* B, int64_t ldb, int64_t k0, int64_t kc,
                                        int64_t j0, int64_t nc, float* dst) {
  constexpr int NR = 32;
  for (int64_t jp = 0; jp < nc; jp += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - jp);
    float* d = dst + jp * kc;
    const float* src = B + k0 * ldb + j0 + jp;
    if (nr == NR) {
      for (int64_t k = 0; k < kc; ++k) {
        _mm512_store_ps(d + k * NR, _mm512_loadu_ps(src + k * ldb));
        _mm512_store_ps(d + k * NR + 16, _mm512_loadu_ps(src + k * ldb + 16));
      }
    } else {
      const __mmask16 m0 = static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
      const __mmask16 m1 = static_cast<__mmask16>(nr > 16 ? (1u << (nr - 16)) - 1 : 0);
      for (int64_t k = 0; k < kc; ++k) {
        _mm512_store_ps(d + k * NR, _mm512_maskz_loadu_ps(m0, src + k * ldb));
        _mm512_store_ps(d + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + k * ldb + 16));
      }
    }
  }
}

// Packs op(A) = A^T (A is [K, M] row-major) into MR=14 row panels: contiguous 14-float copies.
ALTER_AVX512 void pack_a_trans_avx512(const float* A, int64_t lda, int64_t i0, int64_t mc,
                                      int64_t k0, int64_t kc, float* dst) {
  constexpr int MR = 14;
  for (int64_t ip = 0; ip < mc; ip += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - ip);
    float* d = dst + ip * kc;
    const float* src = A + k0 * lda + i0 + ip;
    const __mmask16 lm = static_cast<__mmask16>((1u << mr) - 1);
    const __mmask16 sm = static_cast<__mmask16>((1u << MR) - 1);
    for (int64_t k = 0; k < kc; ++k)
      _mm512_mask_storeu_ps(d + k * MR, sm, _mm512_maskz_loadu_ps(lm, src + k * lda));
  }
}

// Packs op(B) = B^T (B is [N, K] row-major) into NR=32 column panels.
ALTER_AVX512 void pack_b_trans_avx512(const float* B, int64_t ldb, int64_t k0, int64_t kc,
                                      int64_t j0, int64_t nc, float* dst) {
  constexpr int NR = 32;
  for (int64_t jp = 0; jp < nc; jp += NR) {
    float* d = dst + jp * kc;
    for (int half = 0; half < 2; ++half) {
      const int64_t jb = jp + half * 16;
      const int64_t nr = std::max<int64_t>(0, std::min<int64_t>(16, nc - jb));
      const float* src = B + (j0 + jb) * ldb + k0;
      for (int64_t k = 0; k < kc; k += 16) {
        const int64_t rem = std::min<int64_t>(16, kc - k);
        const __mmask16 lm = static_cast<__mmask16>((1u << rem) - 1);
        __m512 r[16];
        for (int j = 0; j < 16; ++j)
          r[j] = j < nr ? _mm512_maskz_loadu_ps(lm, src + j * ldb + k) : _mm512_setzero_ps();
        transpose16(r);
        for (int64_t kk = 0; kk < rem; ++kk) _mm512_store_ps(d + (k + kk) * NR + half * 16, r[kk]);
      }
    }
  }
}

// ---- AVX2 packers for the two contiguous cases -----------------------------------------------
// Row-major B (no transpose) into NR=16 column panels: two 8-float copies per depth step.
ALTER_AVX2 void pack_b_notrans_avx2(const float* B, int64_t ldb, int64_t k0, int64_t kc,
                                    int64_t j0, int64_t nc, float* dst) {
  constexpr int NR = 16;
  for (int64_t jp = 0; jp < nc; jp += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - jp);
    const float* src = B + k0 * ldb + j0 + jp;
    float* d = dst + jp * kc;
    if (nr == NR) {
      for (int64_t k = 0; k < kc; ++k) {
        _mm256_store_ps(d + k * NR, _mm256_loadu_ps(src + k * ldb));
        _mm256_store_ps(d + k * NR + 8, _mm256_loadu_ps(src + k * ldb + 8));
      }
    } else {
      // Masked loads read nothing past the row's end; the masked-off lanes store zeros.
      const __m256i m0 = first_lanes256(nr), m1 = first_lanes256(nr - 8);
      for (int64_t k = 0; k < kc; ++k) {
        _mm256_store_ps(d + k * NR, _mm256_maskload_ps(src + k * ldb, m0));
        _mm256_store_ps(d + k * NR + 8, _mm256_maskload_ps(src + k * ldb + 8, m1));
      }
    }
  }
}

// op(A) = A^T (A is [K, M] row-major) into MR=6 row panels: one 6-float copy per depth step.
ALTER_AVX2 void pack_a_trans_avx2(const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0,
                                  int64_t kc, float* dst) {
  constexpr int MR = 6;
  for (int64_t ip = 0; ip < mc; ip += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - ip);
    const float* src = A + k0 * lda + i0 + ip;
    float* d = dst + ip * kc;
    if (mr == MR) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = src + k * lda;
        _mm_storeu_ps(d + k * MR, _mm_loadu_ps(s));
        _mm_storel_pi(reinterpret_cast<__m64*>(d + k * MR + 4), _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(s + 4))));
      }
    } else {
      pack_a_generic<MR>(true, A, lda, i0 + ip, mr, k0, kc, d);  // the last, short panel
    }
  }
}

// ---- AVX-512 micro-kernel: M x 32 tile (M <= 14) --------------------------------------------
// C[0:M, 0:nr] = alpha * sum_k a(i,k) b(k,:) + beta * C (C not read when beta == 0).
// Packed A: a(i,k) = a[k*14 + i]. Direct A: a(i,k) = a[i*lda + k].
constexpr int kMr512 = 14;
constexpr int kNr512 = 32;

template <int M, bool DIRECT>
ALTER_AVX512 void ukr_avx512(int64_t kc, const float* __restrict a, int64_t lda,
                             const float* __restrict b, float* c, int64_t ldc, int64_t nr,
                             float alpha, float beta) {
  __m512 c0[M], c1[M];
#pragma GCC unroll 14
  for (int i = 0; i < M; ++i) {
    c0[i] = _mm512_setzero_ps();
    c1[i] = _mm512_setzero_ps();
  }
  if (DIRECT) {
    // Three rows per base pointer: base, base + lda, base + 2*lda (scaled-index addressing).
    const float* p0 = a;
    const float* p1 = a + 3 * lda;
    const float* p2 = a + 6 * lda;
    const float* p3 = a + 9 * lda;
    const float* p4 = a + 12 * lda;
    for (int64_t k = 0; k < kc; ++k) {
      const __m512 b0 = _mm512_load_ps(b + k * kNr512);
      const __m512 b1 = _mm512_load_ps(b + k * kNr512 + 16);
#pragma GCC unroll 14
      for (int i = 0; i < M; ++i) {
        const float* p = i < 3 ? p0 : i < 6 ? p1 : i < 9 ? p2 : i < 12 ? p3 : p4;
        const __m512 av = _mm512_set1_ps(p[(i % 3) * lda + k]);
        c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
        c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
      }
    }
  } else {
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; ++k) {
      const __m512 b0 = _mm512_load_ps(b + k * kNr512);
      const __m512 b1 = _mm512_load_ps(b + k * kNr512 + 16);
#pragma GCC unroll 14
      for (int i = 0; i < M; ++i) {
        const __m512 av = _mm512_set1_ps(a[k * kMr512 + i]);
        c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
        c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
      }
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (nr == kNr512) {
    if (beta == 0.0f) {
#pragma GCC unroll 14
      for (int i = 0; i < M; ++i) {
        _mm512_storeu_ps(c + i * ldc, _mm512_mul_ps(c0[i], va));
        _mm512_storeu_ps(c + i * ldc + 16, _mm512_mul_ps(c1[i], va));
      }
    } else {
      const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
      for (int i = 0; i < M; ++i) {
        float* cr = c + i * ldc;
        _mm512_storeu_ps(cr, _mm512_fmadd_ps(c0[i], va, _mm512_mul_ps(vb, _mm512_loadu_ps(cr))));
        _mm512_storeu_ps(cr + 16,
                         _mm512_fmadd_ps(c1[i], va, _mm512_mul_ps(vb, _mm512_loadu_ps(cr + 16))));
      }
    }
  } else {
    const __mmask16 m0 = nr >= 16 ? static_cast<__mmask16>(0xFFFF)
                                  : static_cast<__mmask16>((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? static_cast<__mmask16>(0xFFFF)
                         : nr > 16 ? static_cast<__mmask16>((1u << (nr - 16)) - 1)
                                   : static_cast<__mmask16>(0);
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i) {
      float* cr = c + i * ldc;
      __m512 r0 = _mm512_mul_ps(c0[i], va), r1 = _mm512_mul_ps(c1[i], va);
      if (beta != 0.0f) {
        r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), r0);
        r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), r1);
      }
      _mm512_mask_storeu_ps(cr, m0, r0);
      _mm512_mask_storeu_ps(cr + 16, m1, r1);
    }
  }
}

using UkrFn = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, int64_t,
                       float, float);

template <bool DIRECT>
UkrFn ukr512_for(int64_t m) {
  switch (m) {
    case 1: return ukr_avx512<1, DIRECT>;
    case 2: return ukr_avx512<2, DIRECT>;
    case 3: return ukr_avx512<3, DIRECT>;
    case 4: return ukr_avx512<4, DIRECT>;
    case 5: return ukr_avx512<5, DIRECT>;
    case 6: return ukr_avx512<6, DIRECT>;
    case 7: return ukr_avx512<7, DIRECT>;
    case 8: return ukr_avx512<8, DIRECT>;
    case 9: return ukr_avx512<9, DIRECT>;
    case 10: return ukr_avx512<10, DIRECT>;
    case 11: return ukr_avx512<11, DIRECT>;
    case 12: return ukr_avx512<12, DIRECT>;
    case 13: return ukr_avx512<13, DIRECT>;
    default: return ukr_avx512<14, DIRECT>;
  }
}

// ---- AVX2 micro-kernel: M x 16 tile (M <= 6) -------------------------------------------------
// Every loop over the accumulator arrays, the stores at the end included, must be fully unrolled:
// one loop indexed at run time makes GCC keep the arrays in memory, and it then stores each
// accumulator to the stack after every FMA (measured: 25-30 % of the FMA peak instead of 55-75 %
// on a Zen 3 without AVX-512; the results are bit-identical either way).
constexpr int kMr256 = 6;
constexpr int kNr256 = 16;

template <int M, bool DIRECT>
ALTER_AVX2 void ukr_avx2(int64_t kc, const float* __restrict a, int64_t lda,
                         const float* __restrict b, float* c, int64_t ldc, int64_t nr, float alpha,
                         float beta) {
  __m256 c0[M], c1[M];
#pragma GCC unroll 6
  for (int i = 0; i < M; ++i) {
    c0[i] = _mm256_setzero_ps();
    c1[i] = _mm256_setzero_ps();
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b + k * kNr256);
    const __m256 b1 = _mm256_load_ps(b + k * kNr256 + 8);
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i) {
      const __m256 av = _mm256_broadcast_ss(DIRECT ? a + i * lda + k : a + k * kMr256 + i);
      c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha);
  const __m256 vb = _mm256_set1_ps(beta);
  if (nr == kNr256) {
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i) {
      float* cr = c + i * ldc;
      __m256 r0 = _mm256_mul_ps(c0[i], va), r1 = _mm256_mul_ps(c1[i], va);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), r1);
      }
      _mm256_storeu_ps(cr, r0);
      _mm256_storeu_ps(cr + 8, r1);
    }
  } else {
    const __m256i m0 = first_lanes256(nr), m1 = first_lanes256(nr - 8);
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i) {
      float* cr = c + i * ldc;
      __m256 r0 = _mm256_mul_ps(c0[i], va), r1 = _mm256_mul_ps(c1[i], va);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr, m0), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr + 8, m1), r1);
      }
      _mm256_maskstore_ps(cr, m0, r0);
      _mm256_maskstore_ps(cr + 8, m1, r1);
    }
  }
}

template <bool DIRECT>
UkrFn ukr256_for(int64_t m) {
  switch (m) {
    case 1: return ukr_avx2<1, DIRECT>;
    case 2: return ukr_avx2<2, DIRECT>;
    case 3: return ukr_avx2<3, DIRECT>;
    case 4: return ukr_avx2<4, DIRECT>;
    case 5: return ukr_avx2<5, DIRECT>;
    default: return ukr_avx2<6, DIRECT>;
  }
}
#endif  // ALTER_X86

// ---- portable micro-kernel: M x 16 tile (M <= 4) ---------------------------------------------
constexpr int kMrP = 4;
constexpr int kNrP = 16;

template <int M, bool DIRECT>
void ukr_portable(int64_t kc, const float* __restrict a, int64_t lda, const float* __restrict b,
                  float* c, int64_t ldc, int64_t nr, float alpha, float beta) {
  float acc[M][kNrP];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < kNrP; ++j) acc[i][j] = 0.0f;
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * kNrP;
    for (int i = 0; i < M; ++i) {
      const float av = DIRECT ? a[i * lda + k] : a[k * kMrP + i];
      for (int j = 0; j < kNrP; ++j) acc[i][j] += av * bk[j];
    }
  }
  for (int i = 0; i < M; ++i) {
    float* cr = c + i * ldc;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < nr; ++j) cr[j] = alpha * acc[i][j];
    } else {
      for (int64_t j = 0; j < nr; ++j) cr[j] = alpha * acc[i][j] + beta * cr[j];
    }
  }
}

template <bool DIRECT>
UkrFn ukrp_for(int64_t m) {
  switch (m) {
    case 1: return ukr_portable<1, DIRECT>;
    case 2: return ukr_portable<2, DIRECT>;
    case 3: return ukr_portable<3, DIRECT>;
    default: return ukr_portable<4, DIRECT>;
  }
}

// ---- the blocked driver ----------------------------------------------------------------------
struct Arch {
  Isa isa;
  int mr, nr;
};

Arch arch_for(Isa isa) {
#if ALTER_X86
  if (isa == Isa::Avx512) return {isa, kMr512, kNr512};
  if (isa == Isa::Avx2) return {isa, kMr256, kNr256};
#endif
  return {Isa::Portable, kMrP, kNrP};
}

UkrFn ukr_for(Isa isa, bool direct, int64_t m) {
#if ALTER_X86
  if (isa == Isa::Avx512) return direct ? ukr512_for<true>(m) : ukr512_for<false>(m);
  if (isa == Isa::Avx2) return direct ? ukr256_for<true>(m) : ukr256_for<false>(m);
#endif
  return direct ? ukrp_for<true>(m) : ukrp_for<false>(m);
}

void pack_b(const Arch& ar, bool tB, const float* B, int64_t ldb, int64_t k0, int64_t kc,
            int64_t j0, int64_t nc, float* dst) {
#if ALTER_X86
  if (ar.isa == Isa::Avx512) {
    if (tB) pack_b_trans_avx512(B, ldb, k0, kc, j0, nc, dst);
    else pack_b_notrans_avx512(B, ldb, k0, kc, j0, nc, dst);
    return;
  }
  if (ar.isa == Isa::Avx2) {
    if (tB) pack_b_generic<kNr256>(tB, B, ldb, k0, kc, j0, nc, dst);
    else pack_b_notrans_avx2(B, ldb, k0, kc, j0, nc, dst);
    return;
  }
#endif
  pack_b_generic<kNrP>(tB, B, ldb, k0, kc, j0, nc, dst);
}

void pack_a(const Arch& ar, bool tA, const float* A, int64_t lda, int64_t i0, int64_t mc,
            int64_t k0, int64_t kc, float* dst) {
#if ALTER_X86
  if (ar.isa == Isa::Avx512) {
    if (!tA) pack_a_notrans_avx512<kMr512>(A, lda, i0, mc, k0, kc, dst);
    else pack_a_trans_avx512(A, lda, i0, mc, k0, kc, dst);
    return;
  }
  if (ar.isa == Isa::Avx2) {
    if (tA) pack_a_trans_avx2(A, lda, i0, mc, k0, kc, dst);
    else pack_a_generic<kMr256>(tA, A, lda, i0, mc, k0, kc, dst);
    return;
  }
#endif
  pack_a_generic<kMrP>(tA, A, lda, i0, mc, k0, kc, dst);
}

// Splits a length into near-equal blocks no larger than cap, each a multiple of `unit`
// (except possibly the last).
int64_t block_size(int64_t len, int64_t cap, int64_t unit) {
  if (len <= cap) return len;
  const int64_t nb = (len + cap - 1) / cap;
  int64_t b = (len + nb - 1) / nb;
  b = (b + unit - 1) / unit * unit;
  return std::min(b, cap);
}

// The blocked loop nest on the calling thread. `panel(jc, pc, kc, nc)` returns the packed B panel
// for columns [jc, jc+nc) and depth [pc, pc+kc): packed on the fly, or taken from a prepacked B.
template <class PanelFn>
void gemm_blocked(const Arch& ar, bool tA, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, float beta, float* C, int64_t ldc, int64_t kcb,
                  int64_t ncb, PanelFn panel) {
  const int64_t MR = ar.mr, NR = ar.nr;
  // In-place A rows (no packing pass) win whenever each A block is reused for few B panels.
  // Packed A wins for very wide N, and when the 14 row streams would share one L1 set (row
  // stride a multiple of 4 KiB).
  const bool direct = !tA && N <= 512 && (lda % 1024) != 0;
  const int64_t mcb = block_size(M, kMcMax, MR);
  float* abuf = direct ? nullptr
                       : tl_pack_a.get(static_cast<size_t>((mcb + MR - 1) / MR * MR * kcb + 16));
  UkrFn full = ukr_for(ar.isa, direct, MR);

  for (int64_t jc = 0; jc < N; jc += ncb) {
    const int64_t nc = std::min(ncb, N - jc);
    for (int64_t pc = 0; pc < K; pc += kcb) {
      const int64_t kc = std::min(kcb, K - pc);
      const float* bbuf = panel(jc, pc, kc, nc);
      const float beta_k = pc == 0 ? beta : 1.0f;
      for (int64_t ic = 0; ic < M; ic += mcb) {
        const int64_t mc = std::min(mcb, M - ic);
        if (!direct) pack_a(ar, tA, A, lda, ic, mc, pc, kc, abuf);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min(NR, nc - jr);
          const float* bp = bbuf + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min(MR, mc - ir);
            UkrFn f = mr == MR ? full : ukr_for(ar.isa, direct, mr);
            const float* ap = direct ? A + (ic + ir) * lda + pc : abuf + ir * kc;
            f(kc, ap, lda, bp, C + (ic + ir) * ldc + jc + jr, ldc, nr, alpha, beta_k);
          }
        }
      }
    }
  }
}

bool trivial_gemm(int64_t M, int64_t N, int64_t K, float alpha, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return true;
  if (K > 0 && alpha != 0.0f) return false;
  for (int64_t i = 0; i < M; ++i) {
    float* cr = C + i * ldc;
    if (beta == 0.0f) std::memset(cr, 0, sizeof(float) * static_cast<size_t>(N));
    else for (int64_t j = 0; j < N; ++j) cr[j] *= beta;
  }
  return true;
}

// C = alpha op(A) op(B) + beta C on the calling thread only.
void gemm_serial(const Arch& ar, bool tA, bool tB, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc) {
  if (trivial_gemm(M, N, K, alpha, beta, C, ldc)) return;
  const int64_t kcb = block_size(K, kKcMax, 16);
  const int64_t ncb = block_size(N, kNcMax, ar.nr);
  const int64_t nc_pad = (std::min(ncb, N) + ar.nr - 1) / ar.nr * ar.nr;
  float* bbuf = tl_pack_b.get(static_cast<size_t>(nc_pad * kcb));
  gemm_blocked(ar, tA, M, N, K, alpha, A, lda, beta, C, ldc, kcb, ncb,
               [&](int64_t jc, int64_t pc, int64_t kc, int64_t nc) -> const float* {
                 pack_b(ar, tB, B, ldb, pc, kc, jc, nc, bbuf);
                 return bbuf;
               });
}

// Multithreaded driver: splits C into per-thread slabs along M or N (whole micro-tiles).
void gemm_parallel(const Arch& ar, bool tA, bool tB, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                   float beta, float* C, int64_t ldc) {
  const int nt = num_threads();
  const double work = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  if (nt <= 1 || work < 64.0 * 64.0 * 64.0) {
    gemm_serial(ar, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const int64_t mb = (M + ar.mr - 1) / ar.mr;
  const int64_t nb = (N + ar.nr - 1) / ar.nr;
  // Prefer M (each thread packs only its own A and reads all of B); fall back to N when M has
  // too few micro-tiles to balance.
  const bool split_m = mb >= 4 * nt || mb >= nb;
  if (split_m) {
    parallel_for(mb, 1, [&](int64_t b0, int64_t b1) {
      const int64_t i0 = b0 * ar.mr, i1 = std::min(M, b1 * ar.mr);
      const float* Ai = tA ? A + i0 : A + i0 * lda;
      gemm_serial(ar, tA, tB, i1 - i0, N, K, alpha, Ai, lda, B, ldb, beta, C + i0 * ldc, ldc);
    });
  } else {
    parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
      const int64_t j0 = b0 * ar.nr, j1 = std::min(N, b1 * ar.nr);
      const float* Bj = tB ? B + j0 * ldb : B + j0;
      gemm_serial(ar, tA, tB, M, j1 - j0, K, alpha, A, lda, Bj, ldb, beta, C + j0, ldc);
    });
  }
}

}  // namespace

// Internal entry points shared with conv2d.cc (declared there).
namespace detail {
void sgemm_serial(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc) {
  gemm_serial(arch_for(active_isa()), transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C,
              ldc);
}

// B packed once for many GEMMs with the same right operand (conv2d's weights across row tiles).
PackedB pack_b_once(bool transB, int64_t K, int64_t N, const float* B, int64_t ldb) {
  const Arch ar = arch_for(active_isa());
  PackedB p;
  p.K = K;
  p.N = N;
  p.kcb = block_size(K, kKcMax, 16);
  p.ncb = block_size(N, kNcMax, ar.nr);
  p.isa = static_cast<int>(ar.isa);
  // First the offsets (each panel rounded up to 16 floats, so every panel stays 64-byte aligned).
  size_t total = 0;
  for (int64_t jc = 0; jc < N; jc += p.ncb) {
    const int64_t nc = std::min(p.ncb, N - jc);
    const int64_t nc_pad = (nc + ar.nr - 1) / ar.nr * ar.nr;
    for (int64_t pc = 0; pc < K; pc += p.kcb) {
      const int64_t kc = std::min(p.kcb, K - pc);
      p.offsets.push_back(total);
      total += static_cast<size_t>((nc_pad * kc + 16 + 15) / 16 * 16);
    }
  }
  p.data.reset(static_cast<float*>(std::aligned_alloc(64, std::max<size_t>(total, 16) * sizeof(float))));
  if (!p.data) throw std::bad_alloc();
  size_t i = 0;
  for (int64_t jc = 0; jc < N; jc += p.ncb) {
    const int64_t nc = std::min(p.ncb, N - jc);
    for (int64_t pc = 0; pc < K; pc += p.kcb, ++i) {
      pack_b(ar, transB, B, ldb, pc, std::min(p.kcb, K - pc), jc, nc, p.data.get() + p.offsets[i]);
    }
  }
  return p;
}

void sgemm_serial_packed(int64_t M, const float* A, int64_t lda, const PackedB& B, float beta,
                         float* C, int64_t ldc) {
  const Arch ar = arch_for(static_cast<Isa>(B.isa));
  if (trivial_gemm(M, B.N, B.K, 1.0f, beta, C, ldc)) return;
  const int64_t kblocks = (B.K + B.kcb - 1) / B.kcb;
  gemm_blocked(ar, false, M, B.N, B.K, 1.0f, A, lda, beta, C, ldc, B.kcb, B.ncb,
               [&](int64_t jc, int64_t pc, int64_t, int64_t) -> const float* {
                 return B.data.get() + B.offsets[(jc / B.ncb) * kblocks + pc / B.kcb];
               });
}
}  // namespace detail

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  gemm_parallel(arch_for(active_isa()), transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

void sgemm_batched(int64_t batch, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, int64_t strideA, int64_t lda, const float* B,
                   int64_t strideB, int64_t ldb, float beta, float* C, int64_t strideC,
                   int64_t ldc) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const Arch ar = arch_for(active_isa());
  const int nt = num_threads();
  // Whole matrices per thread when that balances; otherwise thread inside each product.
  if (nt > 1 && (batch % nt == 0 || batch >= 4 * nt)) {
    const double work = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
    const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(32768.0 / (work + 1.0)));
    parallel_for(batch, grain, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        gemm_serial(ar, transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB,
                    ldb, beta, C + b * strideC, ldc);
    });
  } else {
    for (int64_t b = 0; b < batch; ++b)
      gemm_parallel(ar, transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB,
                    ldb, beta, C + b * strideC, ldc);
  }
}

}  // namespace alter
