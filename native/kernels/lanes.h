// The lane mask of AVX2's masked loads and stores, shared by every kernel file with AVX2 code.
#pragma once
#include <immintrin.h>
#include <cstdint>

namespace alter {

// Lanes [0, n) of an 8-float vector set (all when n >= 8, none when n <= 0): the mask for a row's
// last, short vector. Targets plain AVX2 so that any AVX2 (+FMA) function may inline it.
__attribute__((target("avx2"))) inline __m256i first_lanes256(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace alter
