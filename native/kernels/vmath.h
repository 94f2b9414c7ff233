// AVX-512 and AVX2 versions of the transcendental activations (exp, sigmoid, SiLU, GELU) with
// their derivatives. libm's scalar exp/erfc cost ~10 ns an element; these run 16 or 8 lanes at a
// time. Both use the same formulas and constants:
//  - exp: Cody-Waite range reduction x = n*ln2 + r, a degree-6 polynomial for e^r, scaled by 2^n
//    with vscalefps (handles overflow/underflow). AVX2 has no vscalefps: it multiplies by 2^(n/2)
//    twice, each built in the exponent bits, which overflows to inf and underflows through the
//    denormals the same way. Max error ~2 ulp on [-87, 88].
//  - erfc (z >= 0) for GELU's normal CDF: the Chebyshev fit of Numerical Recipes' erfcc,
//    t = 1/(1 + z/2), erfc = t*exp(-z^2 - 1.26551223 + t*P(t)); relative error < 1.2e-7 for all z,
//    so Phi(x) stays accurate in the far negative tail (no 1 + erf cancellation).
#pragma once
#include <immintrin.h>
#include <cstdint>

#include "lanes.h"

namespace alter {
namespace vmath {

#define ALTER_AVX512 __attribute__((target("avx512f,avx512dq,fma")))

ALTER_AVX512 inline __m512 exp512(__m512 x) {
  // Clamp to where scalef under/overflows to 0 / inf (as expf does). The constant goes first: max/min
  // return their second operand when one is NaN, so a NaN input stays NaN instead of becoming 0.
  x = _mm512_min_ps(_mm512_set1_ps(89.f), _mm512_max_ps(_mm512_set1_ps(-104.f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.3981999507e-3f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(p, n);
}

ALTER_AVX512 inline __m512 sigmoid512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// Phi(x) = 0.5 * erfc(-x / sqrt 2), the standard normal CDF.
ALTER_AVX512 inline __m512 normal_cdf512(__m512 x) {
  const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
  const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_fmadd_ps(z, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.f)));
  __m512 p = _mm512_set1_ps(0.17087277f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
  const __m512 erfc = _mm512_mul_ps(t, exp512(_mm512_sub_ps(p, _mm512_mul_ps(z, z))));
  const __m512 half_erfc = _mm512_mul_ps(erfc, _mm512_set1_ps(0.5f));
  const __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(negative, _mm512_sub_ps(_mm512_set1_ps(1.f), half_erfc), half_erfc);
}

// Applies f to 16-lane chunks of [i0, i1), with a masked final chunk.
template <class F>
ALTER_AVX512 inline void map1_512(int64_t i0, int64_t i1, const float* x, float* y, F f) {
  int64_t i = i0;
  for (; i + 16 <= i1; i += 16) _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(x + i)));
  if (i < i1) {
    const __mmask16 m = static_cast<__mmask16>((1u << (i1 - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

template <class F>
ALTER_AVX512 inline void map2_512(int64_t i0, int64_t i1, const float* x, const float* dy, float* dx, F f) {
  int64_t i = i0;
  for (; i + 16 <= i1; i += 16) _mm512_storeu_ps(dx + i, f(_mm512_loadu_ps(x + i), _mm512_loadu_ps(dy + i)));
  if (i < i1) {
    const __mmask16 m = static_cast<__mmask16>((1u << (i1 - i)) - 1);
    _mm512_mask_storeu_ps(dx + i, m, f(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, dy + i)));
  }
}

// Forward of op into y over [i0, i1); returns false if the op has no vector version.
ALTER_AVX512 inline bool unary_forward_512(int op, int64_t i0, int64_t i1, const float* x, float* y) {
  switch (op) {
    case 1:  // Exp
      map1_512(i0, i1, x, y, [](__m512 v) ALTER_AVX512 { return exp512(v); });
      return true;
    case 5:  // Sigmoid
      map1_512(i0, i1, x, y, [](__m512 v) ALTER_AVX512 { return sigmoid512(v); });
      return true;
    case 6:  // Silu
      map1_512(i0, i1, x, y, [](__m512 v) ALTER_AVX512 { return _mm512_mul_ps(v, sigmoid512(v)); });
      return true;
    case 7:  // GeluErf
      map1_512(i0, i1, x, y, [](__m512 v) ALTER_AVX512 { return _mm512_mul_ps(v, normal_cdf512(v)); });
      return true;
    case 8:  // GeluTanh: x * sigmoid(2 * sqrt(2/pi) * (x + 0.044715 x^3))
      map1_512(i0, i1, x, y, [](__m512 v) ALTER_AVX512 {
        const __m512 inner = _mm512_mul_ps(_mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(v, v), v), _mm512_set1_ps(0.044715f), v),
                                           _mm512_set1_ps(2.f * 0.79788456080286536f));
        return _mm512_mul_ps(v, sigmoid512(inner));
      });
      return true;
    default:
      return false;
  }
}

// dx = dy * f'(x) over [i0, i1) for the ops whose derivative needs a transcendental.
ALTER_AVX512 inline bool unary_backward_512(int op, int64_t i0, int64_t i1, const float* x, const float* dy, float* dx) {
  const __m512 one = _mm512_set1_ps(1.f);
  switch (op) {
    case 6:  // Silu: s * (1 + x * (1 - s))
      map2_512(i0, i1, x, dy, dx, [one](__m512 u, __m512 d) ALTER_AVX512 {
        const __m512 s = sigmoid512(u);
        return _mm512_mul_ps(d, _mm512_mul_ps(s, _mm512_fmadd_ps(u, _mm512_sub_ps(one, s), one)));
      });
      return true;
    case 7:  // GeluErf: Phi(x) + x * phi(x)
      map2_512(i0, i1, x, dy, dx, [](__m512 u, __m512 d) ALTER_AVX512 {
        const __m512 pdf = _mm512_mul_ps(_mm512_set1_ps(0.39894228040143268f),
                                         exp512(_mm512_mul_ps(_mm512_mul_ps(u, u), _mm512_set1_ps(-0.5f))));
        return _mm512_mul_ps(d, _mm512_fmadd_ps(u, pdf, normal_cdf512(u)));
      });
      return true;
    case 8:  // GeluTanh: s + 2 x s (1 - s) * sqrt(2/pi) (1 + 3*0.044715 x^2)
      map2_512(i0, i1, x, dy, dx, [one](__m512 u, __m512 d) ALTER_AVX512 {
        const __m512 u2 = _mm512_mul_ps(u, u);
        const __m512 k = _mm512_set1_ps(0.79788456080286536f);
        const __m512 inner = _mm512_mul_ps(_mm512_fmadd_ps(_mm512_mul_ps(u2, u), _mm512_set1_ps(0.044715f), u), _mm512_add_ps(k, k));
        const __m512 s = sigmoid512(inner);
        const __m512 dinner = _mm512_mul_ps(k, _mm512_fmadd_ps(u2, _mm512_set1_ps(3.f * 0.044715f), one));
        const __m512 term = _mm512_mul_ps(_mm512_mul_ps(_mm512_add_ps(u, u), _mm512_mul_ps(s, _mm512_sub_ps(one, s))), dinner);
        return _mm512_mul_ps(d, _mm512_add_ps(s, term));
      });
      return true;
    default:
      return false;
  }
}

// ---- AVX2 + FMA: the same functions on 8 lanes ----------------------------------------------
#define ALTER_AVX2 __attribute__((target("avx2,fma")))

// 2^k for integer-valued k in [-126, 127], built in the exponent field.
ALTER_AVX2 inline __m256 pow2i256(__m256i k) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

ALTER_AVX2 inline __m256 exp256(__m256 x) {
  // The same clamp as exp512 (NaN passes through: max/min return their second operand).
  x = _mm256_min_ps(_mm256_set1_ps(89.f), _mm256_max_ps(_mm256_set1_ps(-104.f), x));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.3981999507e-3f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  // n is in [-150, 129]: two factors 2^h and 2^(n-h), h = floor(n/2), each in range for pow2i256.
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i h = _mm256_srai_epi32(ni, 1);
  return _mm256_mul_ps(_mm256_mul_ps(p, pow2i256(h)), pow2i256(_mm256_sub_epi32(ni, h)));
}

ALTER_AVX2 inline __m256 sigmoid256(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

ALTER_AVX2 inline __m256 normal_cdf256(__m256 x) {
  const __m256 abs = _mm256_andnot_ps(_mm256_set1_ps(-0.f), x);
  const __m256 z = _mm256_mul_ps(abs, _mm256_set1_ps(0.70710678118654752f));
  const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.f)));
  __m256 p = _mm256_set1_ps(0.17087277f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
  const __m256 erfc = _mm256_mul_ps(t, exp256(_mm256_sub_ps(p, _mm256_mul_ps(z, z))));
  const __m256 half_erfc = _mm256_mul_ps(erfc, _mm256_set1_ps(0.5f));
  const __m256 negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  return _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.f), half_erfc), half_erfc, negative);
}

template <class F>
ALTER_AVX2 inline void map1_256(int64_t i0, int64_t i1, const float* x, float* y, F f) {
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < i1) {
    const __m256i m = first_lanes256(i1 - i);
    _mm256_maskstore_ps(y + i, m, f(_mm256_maskload_ps(x + i, m)));
  }
}

template <class F>
ALTER_AVX2 inline void map2_256(int64_t i0, int64_t i1, const float* x, const float* dy, float* dx, F f) {
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) _mm256_storeu_ps(dx + i, f(_mm256_loadu_ps(x + i), _mm256_loadu_ps(dy + i)));
  if (i < i1) {
    const __m256i m = first_lanes256(i1 - i);
    _mm256_maskstore_ps(dx + i, m, f(_mm256_maskload_ps(x + i, m), _mm256_maskload_ps(dy + i, m)));
  }
}

// As unary_forward_512.
ALTER_AVX2 inline bool unary_forward_256(int op, int64_t i0, int64_t i1, const float* x, float* y) {
  switch (op) {
    case 1:  // Exp
      map1_256(i0, i1, x, y, [](__m256 v) ALTER_AVX2 { return exp256(v); });
      return true;
    case 5:  // Sigmoid
      map1_256(i0, i1, x, y, [](__m256 v) ALTER_AVX2 { return sigmoid256(v); });
      return true;
    case 6:  // Silu
      map1_256(i0, i1, x, y, [](__m256 v) ALTER_AVX2 { return _mm256_mul_ps(v, sigmoid256(v)); });
      return true;
    case 7:  // GeluErf
      map1_256(i0, i1, x, y, [](__m256 v) ALTER_AVX2 { return _mm256_mul_ps(v, normal_cdf256(v)); });
      return true;
    case 8:  // GeluTanh
      map1_256(i0, i1, x, y, [](__m256 v) ALTER_AVX2 {
        const __m256 inner = _mm256_mul_ps(_mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(v, v), v), _mm256_set1_ps(0.044715f), v),
                                           _mm256_set1_ps(2.f * 0.79788456080286536f));
        return _mm256_mul_ps(v, sigmoid256(inner));
      });
      return true;
    default:
      return false;
  }
}

// As unary_backward_512.
ALTER_AVX2 inline bool unary_backward_256(int op, int64_t i0, int64_t i1, const float* x, const float* dy, float* dx) {
  const __m256 one = _mm256_set1_ps(1.f);
  switch (op) {
    case 6:  // Silu
      map2_256(i0, i1, x, dy, dx, [one](__m256 u, __m256 d) ALTER_AVX2 {
        const __m256 s = sigmoid256(u);
        return _mm256_mul_ps(d, _mm256_mul_ps(s, _mm256_fmadd_ps(u, _mm256_sub_ps(one, s), one)));
      });
      return true;
    case 7:  // GeluErf
      map2_256(i0, i1, x, dy, dx, [](__m256 u, __m256 d) ALTER_AVX2 {
        const __m256 pdf = _mm256_mul_ps(_mm256_set1_ps(0.39894228040143268f),
                                         exp256(_mm256_mul_ps(_mm256_mul_ps(u, u), _mm256_set1_ps(-0.5f))));
        return _mm256_mul_ps(d, _mm256_fmadd_ps(u, pdf, normal_cdf256(u)));
      });
      return true;
    case 8:  // GeluTanh
      map2_256(i0, i1, x, dy, dx, [one](__m256 u, __m256 d) ALTER_AVX2 {
        const __m256 u2 = _mm256_mul_ps(u, u);
        const __m256 k = _mm256_set1_ps(0.79788456080286536f);
        const __m256 inner = _mm256_mul_ps(_mm256_fmadd_ps(_mm256_mul_ps(u2, u), _mm256_set1_ps(0.044715f), u), _mm256_add_ps(k, k));
        const __m256 s = sigmoid256(inner);
        const __m256 dinner = _mm256_mul_ps(k, _mm256_fmadd_ps(u2, _mm256_set1_ps(3.f * 0.044715f), one));
        const __m256 term = _mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(u, u), _mm256_mul_ps(s, _mm256_sub_ps(one, s))), dinner);
        return _mm256_mul_ps(d, _mm256_add_ps(s, term));
      });
      return true;
    default:
      return false;
  }
}

}  // namespace vmath
}  // namespace alter
