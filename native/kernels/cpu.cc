// CPU feature detection, ISA dispatch and a peak-FMA-throughput probe.
#include "cpu.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ALTER_X86 1
#endif

#include "kernels.h"
#include "parallel.h"

namespace alter {
namespace {

Isa detect_isa() {
#if ALTER_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Portable;
}

Isa hardware_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

std::atomic<int> g_forced{-1};

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "portable";
  }
}

// Each probe runs `iters` rounds of independent FMA chains; returns flops performed.
#if ALTER_X86
__attribute__((target("avx512f"))) double fma_probe_avx512(int64_t iters) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999999f);
  const __m512 b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float tmp[16];
  _mm512_store_ps(tmp, s);
  volatile float sink = tmp[0] + tmp[15];
  (void)sink;
  return static_cast<double>(iters) * 16 * 16 * 2;
}

__attribute__((target("avx2,fma"))) double fma_probe_avx2(int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999999f);
  const __m256 b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  float tmp[8];
  _mm256_storeu_ps(tmp, s);
  volatile float sink = tmp[0] + tmp[7];
  (void)sink;
  return static_cast<double>(iters) * 12 * 8 * 2;
}
#endif

double fma_probe_portable(int64_t iters) {
  float acc[32];
  for (int i = 0; i < 32; ++i) acc[i] = 0.001f * static_cast<float>(i);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 32; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
  float s = 0;
  for (int i = 0; i < 32; ++i) s += acc[i];
  volatile float sink = s;
  (void)sink;
  return static_cast<double>(iters) * 32 * 2;
}

double fma_probe(Isa isa, int64_t iters) {
#if ALTER_X86
  if (isa == Isa::Avx512) return fma_probe_avx512(iters);
  if (isa == Isa::Avx2) return fma_probe_avx2(iters);
#endif
  return fma_probe_portable(iters);
}

}  // namespace

Isa active_isa() {
  int f = g_forced.load(std::memory_order_relaxed);
  if (f >= 0) return static_cast<Isa>(f);
  return hardware_isa();
}

const char* cpu_isa() { return isa_name(active_isa()); }

bool force_isa(const char* name) {
  if (name == nullptr) return false;
  Isa want;
  if (std::strcmp(name, "avx512") == 0) want = Isa::Avx512;
  else if (std::strcmp(name, "avx2") == 0) want = Isa::Avx2;
  else if (std::strcmp(name, "portable") == 0) want = Isa::Portable;
  else return false;
  if (static_cast<int>(want) > static_cast<int>(hardware_isa())) return false;
  g_forced.store(static_cast<int>(want), std::memory_order_relaxed);
  return true;
}

double measure_peak_gflops() {
  const Isa isa = active_isa();
  const int nt = num_threads();
  // Warm up (clock ramp, thread wake) and calibrate the per-thread iteration count to ~0.2 s.
  int64_t iters = 1 << 16;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    fma_probe(isa, iters);
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > 0.02 || iters > (int64_t(1) << 34)) {
      iters = static_cast<int64_t>(static_cast<double>(iters) * 0.2 / (dt > 1e-9 ? dt : 1e-9));
      if (iters < 1) iters = 1;
      break;
    }
    iters *= 4;
  }
  std::vector<double> flops(static_cast<size_t>(nt), 0.0);
  auto t0 = std::chrono::steady_clock::now();
  parallel_for(nt, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) flops[static_cast<size_t>(i)] = fma_probe(isa, iters);
  });
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double total = 0;
  for (double f : flops) total += f;
  return dt > 0 ? total / dt * 1e-9 : 0.0;
}

}  // namespace alter
