// GEMM entry points shared between kernel files (not part of the JavaScript-facing contract).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace alter {
namespace detail {

// Single-threaded GEMM on the calling thread (parallel callers split the work themselves).
void sgemm_serial(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc);

// A right operand packed once into the micro-kernel's panel layout, for many products with it.
struct PackedB {
  // 64-byte aligned: the micro-kernels use aligned loads on packed panels.
  std::unique_ptr<float, decltype(&std::free)> data{nullptr, &std::free};
  std::vector<size_t> offsets;  // one per (column block, depth block), column-block major
  int64_t K = 0, N = 0, kcb = 0, ncb = 0;
  int isa = 0;
};
PackedB pack_b_once(bool transB, int64_t K, int64_t N, const float* B, int64_t ldb);
// C[M, N] = A[M, K] * B + beta * C on the calling thread, A not transposed.
void sgemm_serial_packed(int64_t M, const float* A, int64_t lda, const PackedB& B, float beta,
                         float* C, int64_t ldc);

}  // namespace detail
}  // namespace alter
