// Standalone correctness test + benchmark for sgemm / sgemm_batched / conv2d.
// Build: g++ -O2 -std=c++17 -pthread -Inative/kernels native/kernels/parallel.cc
//        native/kernels/cpu.cc native/kernels/gemm.cc native/kernels/conv2d.cc
//        native/tests/gemm_conv_test.cc -o /tmp/gct
// Run: /tmp/gct [--no-bench]. Exit status 0 when every check passes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels.h"

using namespace alter;

namespace {

int g_failures = 0;
int g_checks = 0;
constexpr double kTol = 1e-4;

std::mt19937 g_rng(12345);

std::vector<float> randv(size_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g_rng);
  return v;
}

// Give freshly (re)started pool workers time to come up before the first parallel job.
void settle() {
  num_threads();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// Relative error of got vs ref, normalised per element by `scale` (sum of |terms|), so
// cancellation in a dot product does not inflate the error.
void report(const char* what, const std::string& desc, double err) {
  ++g_checks;
  if (!(err <= kTol)) {
    ++g_failures;
    std::printf("FAIL [%s] %s: rel err %.3g\n", what, desc.c_str(), err);
  }
}

// ---- GEMM reference --------------------------------------------------------------------------
double check_gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                  int64_t pad) {
  const int64_t lda = (tA ? M : K) + pad, ldb = (tB ? K : N) + pad, ldc = N + pad;
  auto A = randv(static_cast<size_t>((tA ? K : M) * lda + 1));
  auto B = randv(static_cast<size_t>((tB ? N : K) * ldb + 1));
  auto C = randv(static_cast<size_t>(M * ldc + 1));
  auto C0 = C;
  if (beta == 0.0f)  // C must not be read: poison it
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = NAN;
  sgemm(tA, tB, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  double worst = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0, sa = 0;
      for (int64_t k = 0; k < K; ++k) {
        double a = tA ? A[k * lda + i] : A[i * lda + k];
        double b = tB ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
        sa += std::fabs(a * b);
      }
      double ref = alpha * s + (beta != 0.0f ? beta * C0[i * ldc + j] : 0.0);
      double scale = std::fabs(alpha) * sa + std::fabs(beta * C0[i * ldc + j]) + 1e-6;
      double e = std::fabs(ref - C[i * ldc + j]) / scale;
      if (std::isnan(e)) e = 1e30;
      worst = std::max(worst, e);
    }
  // Padding columns (beyond N) must be untouched.
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = N; j < ldc && i * ldc + j < static_cast<int64_t>(C.size()) - 1; ++j)
      if (C[i * ldc + j] != C0[i * ldc + j]) worst = 1e30;
  return worst;
}

double check_batched(int64_t batch, bool tA, bool tB, int64_t M, int64_t N, int64_t K,
                     float alpha, float beta, bool bcastA, bool bcastB) {
  const int64_t lda = tA ? M : K, ldb = tB ? K : N, ldc = N;
  const int64_t sA = bcastA ? 0 : (tA ? K : M) * lda, sB = bcastB ? 0 : (tB ? N : K) * ldb,
                sC = M * ldc;
  auto A = randv(static_cast<size_t>(std::max<int64_t>(1, bcastA ? (tA ? K : M) * lda : batch * sA)));
  auto B = randv(static_cast<size_t>(std::max<int64_t>(1, bcastB ? (tB ? N : K) * ldb : batch * sB)));
  auto C = randv(static_cast<size_t>(batch * sC));
  auto C0 = C;
  sgemm_batched(batch, tA, tB, M, N, K, alpha, A.data(), sA, lda, B.data(), sB, ldb, beta,
                C.data(), sC, ldc);
  double worst = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0, sa = 0;
        for (int64_t k = 0; k < K; ++k) {
          double a = tA ? A[b * sA + k * lda + i] : A[b * sA + i * lda + k];
          double v = tB ? B[b * sB + j * ldb + k] : B[b * sB + k * ldb + j];
          s += a * v;
          sa += std::fabs(a * v);
        }
        const double c0 = C0[b * sC + i * ldc + j];
        double ref = alpha * s + beta * c0;
        double e = std::fabs(ref - C[b * sC + i * ldc + j]) /
                   (std::fabs(alpha) * sa + std::fabs(beta * c0) + 1e-6);
        if (std::isnan(e)) e = 1e30;
        worst = std::max(worst, e);
      }
  return worst;
}

void gemm_tests(const char* isa) {
  const int64_t sizes[] = {1, 3, 8, 14, 17, 33, 64, 127};
  const int64_t ks[] = {1, 5, 33, 300, 600};
  int idx = 0;
  for (int64_t M : sizes)
    for (int64_t N : sizes)
      for (int64_t K : ks)
        for (int t = 0; t < 4; ++t, ++idx) {
          const bool tA = t & 1, tB = (t >> 1) & 1;
          const float alpha = (idx % 3 == 0) ? 1.0f : -0.7f;
          const float beta = (idx % 4 == 0) ? 0.0f : (idx % 4 == 1 ? 1.0f : 0.35f);
          const int64_t pad = idx % 2;
          char d[160];
          std::snprintf(d, sizeof d, "%s tA=%d tB=%d M=%ld N=%ld K=%ld a=%g b=%g pad=%ld", isa,
                        tA, tB, (long)M, (long)N, (long)K, alpha, beta, (long)pad);
          report("sgemm", d, check_gemm(tA, tB, M, N, K, alpha, beta, pad));
        }
  // A few larger / blocking-boundary shapes.
  const int64_t big[][3] = {{300, 257, 513}, {1, 700, 300}, {700, 1, 300}, {129, 2100, 20},
                            {513, 65, 1100}, {16384 / 64, 64, 576}};
  for (auto& s : big)
    for (int t = 0; t < 4; ++t) {
      char d[160];
      std::snprintf(d, sizeof d, "%s tA=%d tB=%d M=%ld N=%ld K=%ld", isa, t & 1, (t >> 1) & 1,
                    (long)s[0], (long)s[1], (long)s[2]);
      report("sgemm-big", d, check_gemm(t & 1, (t >> 1) & 1, s[0], s[1], s[2], 0.5f, 0.25f, 3));
    }
  // K == 0 and alpha == 0: C = beta*C.
  report("sgemm-k0", isa, check_gemm(false, false, 5, 7, 0, 1.0f, 0.5f, 0));
  report("sgemm-k0b0", isa, check_gemm(false, false, 5, 7, 0, 1.0f, 0.0f, 0));
  report("sgemm-alpha0", isa, check_gemm(true, false, 9, 40, 12, 0.0f, 2.0f, 1));
  // Zero-sized outputs must not touch memory.
  sgemm(false, false, 0, 5, 5, 1.0f, nullptr, 5, nullptr, 5, 0.0f, nullptr, 5);
  sgemm(false, false, 5, 0, 5, 1.0f, nullptr, 5, nullptr, 5, 0.0f, nullptr, 5);
  // Batched.
  const int64_t bshapes[][4] = {{1, 8, 8, 8}, {3, 17, 33, 5}, {8, 64, 64, 32}, {5, 1, 40, 7},
                                {2, 256, 256, 32}};
  int bi = 0;
  for (auto& s : bshapes)
    for (int t = 0; t < 4; ++t)
      for (int bc = 0; bc < 3; ++bc, ++bi) {
        char d[160];
        std::snprintf(d, sizeof d, "%s batch=%ld tA=%d tB=%d M=%ld N=%ld K=%ld bcast=%d", isa,
                      (long)s[0], t & 1, (t >> 1) & 1, (long)s[1], (long)s[2], (long)s[3], bc);
        report("sgemm_batched", d,
               check_batched(s[0], t & 1, (t >> 1) & 1, s[1], s[2], s[3], bi % 2 ? 1.0f : 0.6f,
                             bi % 3 == 0 ? 0.0f : 0.5f, bc == 1, bc == 2));
      }
}

// ---- convolution reference -------------------------------------------------------------------
Conv2dShape make_shape(int64_t N, int64_t H, int64_t W, int64_t C, int64_t O, int64_t KH,
                       int64_t KW, int64_t sH, int64_t sW, int64_t pH, int64_t pW) {
  Conv2dShape s{N, H, W, C, O, KH, KW, sH, sW, pH, pW, 0, 0};
  s.OH = (H + 2 * pH - KH) / sH + 1;
  s.OW = (W + 2 * pW - KW) / sW + 1;
  return s;
}

double rel_err(const std::vector<double>& ref, const std::vector<double>& scale, const float* got) {
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double e = std::fabs(ref[i] - got[i]) / (scale[i] + 1e-6);
    if (std::isnan(e)) e = 1e30;
    worst = std::max(worst, e);
  }
  return worst;
}

void conv_check(const char* isa, const Conv2dShape& s, bool withBias) {
  const int64_t xs = s.N * s.H * s.W * s.C, ys = s.N * s.OH * s.OW * s.O,
                ws = s.O * s.C * s.KH * s.KW;
  auto x = randv(static_cast<size_t>(xs));
  auto w = randv(static_cast<size_t>(ws));
  auto b = randv(static_cast<size_t>(s.O));
  auto dy = randv(static_cast<size_t>(ys));
  std::vector<double> yref(ys, 0.0), ysc(ys, 0.0), dxref(xs, 0.0), dxsc(xs, 0.0),
      dwref(ws, 0.0), dwsc(ws, 0.0), dbref(s.O, 0.0), dbsc(s.O, 0.0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow)
        for (int64_t o = 0; o < s.O; ++o) {
          const int64_t yi = ((n * s.OH + oh) * s.OW + ow) * s.O + o;
          double acc = withBias ? b[o] : 0.0, sc = withBias ? std::fabs(b[o]) : 0.0;
          for (int64_t kh = 0; kh < s.KH; ++kh)
            for (int64_t kw = 0; kw < s.KW; ++kw) {
              const int64_t ih = oh * s.strideH - s.padH + kh, iw = ow * s.strideW - s.padW + kw;
              if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
              for (int64_t c = 0; c < s.C; ++c) {
                const int64_t xi = ((n * s.H + ih) * s.W + iw) * s.C + c;
                const int64_t wi = ((o * s.C + c) * s.KH + kh) * s.KW + kw;
                const double p = static_cast<double>(x[xi]) * w[wi];
                acc += p;
                sc += std::fabs(p);
                const double g = static_cast<double>(dy[yi]);
                dxref[xi] += g * w[wi];
                dxsc[xi] += std::fabs(g * w[wi]);
                dwref[wi] += g * x[xi];
                dwsc[wi] += std::fabs(g * x[xi]);
              }
            }
          yref[yi] = acc;
          ysc[yi] = sc;
          dbref[o] += dy[yi];
          dbsc[o] += std::fabs(dy[yi]);
        }
  char d[200];
  std::snprintf(d, sizeof d, "%s N=%ld H=%ld W=%ld C=%ld O=%ld k=%ldx%ld s=%ldx%ld p=%ldx%ld", isa,
                (long)s.N, (long)s.H, (long)s.W, (long)s.C, (long)s.O, (long)s.KH, (long)s.KW,
                (long)s.strideH, (long)s.strideW, (long)s.padH, (long)s.padW);
  std::vector<float> y(ys, NAN), dx(xs, NAN), dw(ws, NAN), db(s.O, NAN);
  conv2d_forward(s, x.data(), w.data(), withBias ? b.data() : nullptr, y.data());
  report("conv2d_forward", d, rel_err(yref, ysc, y.data()));
  conv2d_backward_input(s, dy.data(), w.data(), dx.data());
  report("conv2d_backward_input", d, rel_err(dxref, dxsc, dx.data()));
  conv2d_backward_weight(s, dy.data(), x.data(), dw.data(), withBias ? db.data() : nullptr);
  report("conv2d_backward_weight", d, rel_err(dwref, dwsc, dw.data()));
  if (withBias) report("conv2d_dbias", d, rel_err(dbref, dbsc, db.data()));
}

void conv_tests(const char* isa) {
  conv_check(isa, make_shape(2, 8, 8, 3, 5, 3, 3, 1, 1, 1, 1), true);
  conv_check(isa, make_shape(2, 9, 7, 16, 32, 3, 3, 2, 2, 1, 1), true);      // stride 2 odd size
  conv_check(isa, make_shape(1, 10, 10, 8, 17, 3, 3, 1, 1, 0, 0), false);    // pad 0
  conv_check(isa, make_shape(3, 6, 5, 33, 20, 1, 1, 1, 1, 0, 0), true);      // pointwise
  conv_check(isa, make_shape(2, 8, 8, 12, 7, 1, 1, 2, 2, 0, 0), true);       // 1x1 stride 2
  conv_check(isa, make_shape(2, 7, 11, 6, 9, 3, 1, 1, 1, 1, 0), true);       // non-square kernel
  conv_check(isa, make_shape(1, 12, 9, 4, 6, 2, 3, 2, 1, 0, 1), true);       // mixed strides
  conv_check(isa, make_shape(2, 16, 16, 32, 64, 3, 3, 1, 1, 1, 1), true);    // UNet-like
  conv_check(isa, make_shape(1, 16, 16, 64, 32, 3, 3, 2, 2, 1, 1), true);    // downsample
  conv_check(isa, make_shape(4, 32, 32, 16, 24, 3, 3, 1, 1, 1, 1), true);    // many row tiles
  conv_check(isa, make_shape(1, 4, 4, 160, 256, 3, 3, 1, 1, 1, 1), true);    // deep, tiny image
  conv_check(isa, make_shape(1, 5, 5, 4, 3, 5, 5, 1, 1, 2, 2), false);       // 5x5
  conv_check(isa, make_shape(1, 1, 1, 7, 3, 3, 3, 1, 1, 1, 1), true);        // 1x1 image
  // Zero-sized batch: must not touch memory.
  Conv2dShape z = make_shape(0, 8, 8, 4, 4, 3, 3, 1, 1, 1, 1);
  conv2d_forward(z, nullptr, nullptr, nullptr, nullptr);
  conv2d_backward_input(z, nullptr, nullptr, nullptr);
}

// ---- benchmarks ------------------------------------------------------------------------------
double median_seconds(const std::function<void()>& fn, int repeats, double minSeconds) {
  fn();  // warm up
  int inner = 1;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) fn();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt >= minSeconds || inner >= 1 << 20) break;
    inner *= 2;
  }
  std::vector<double> ts;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) fn();
    ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                 inner);
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

void benchmarks() {
  std::printf("\n== benchmarks (isa %s, %d threads, medians) ==\n", cpu_isa(), num_threads());
  std::vector<double> peaks;
  for (int i = 0; i < 3; ++i) peaks.push_back(measure_peak_gflops());
  std::sort(peaks.begin(), peaks.end());
  const double peak = peaks[1];
  std::printf("measured peak FMA throughput: %.1f GFLOP/s\n", peak);
  for (int64_t n : {512, 1024}) {
    auto A = randv(static_cast<size_t>(n * n)), B = randv(static_cast<size_t>(n * n));
    std::vector<float> C(static_cast<size_t>(n * n));
    double t = median_seconds(
        [&] { sgemm(false, false, n, n, n, 1.0f, A.data(), n, B.data(), n, 0.0f, C.data(), n); },
        7, 0.05);
    double gf = 2.0 * n * n * n / t * 1e-9;
    std::printf("sgemm %4ld^3 (NN)          : %7.1f GFLOP/s (%4.1f%% of peak)\n", (long)n, gf,
                100.0 * gf / peak);
  }
  {
    // Conv-like and linear-like GEMMs.
    struct S { int64_t M, N, K; bool tB; const char* name; };
    const S shapes[] = {{16384, 64, 576, false, "im2col 16384x64x576 (NN)"},
                        {4096, 1024, 256, true, "linear 4096x1024x256 (NT)"},
                        {4096, 256, 1024, true, "linear 4096x256x1024 (NT)"}};
    for (const S& s : shapes) {
      auto A = randv(static_cast<size_t>(s.M * s.K)), B = randv(static_cast<size_t>(s.K * s.N));
      std::vector<float> C(static_cast<size_t>(s.M * s.N));
      double t = median_seconds(
          [&] {
            sgemm(false, s.tB, s.M, s.N, s.K, 1.0f, A.data(), s.K, B.data(), s.tB ? s.K : s.N,
                  0.0f, C.data(), s.N);
          },
          7, 0.05);
      std::printf("sgemm %-26s: %7.1f GFLOP/s\n", s.name, 2.0 * s.M * s.N * s.K / t * 1e-9);
    }
    // Batched attention-like [256x32] x [32x256], 16 heads.
    const int64_t bt = 16, M = 256, N = 256, K = 32;
    auto A = randv(static_cast<size_t>(bt * M * K)), B = randv(static_cast<size_t>(bt * K * N));
    std::vector<float> C(static_cast<size_t>(bt * M * N));
    double t = median_seconds(
        [&] {
          sgemm_batched(bt, false, true, M, N, K, 1.0f, A.data(), M * K, K, B.data(), N * K, K,
                        0.0f, C.data(), M * N, N);
        },
        7, 0.05);
    std::printf("sgemm_batched 16x[256x32]x[32x256]^T: %7.1f GFLOP/s\n",
                2.0 * bt * M * N * K / t * 1e-9);
    auto a8 = randv(64), b8 = randv(64);
    std::vector<float> c8(64);
    t = median_seconds(
        [&] { sgemm(false, false, 8, 8, 8, 1.0f, a8.data(), 8, b8.data(), 8, 0.0f, c8.data(), 8); },
        7, 0.02);
    std::printf("sgemm 8x8x8                : %7.3f us/call\n", t * 1e6);
  }
  struct CS { Conv2dShape s; const char* name; };
  const CS convs[] = {
      {make_shape(16, 32, 32, 64, 64, 3, 3, 1, 1, 1, 1), "16x32x32 64->64 3x3 p1"},
      {make_shape(16, 16, 16, 128, 128, 3, 3, 1, 1, 1, 1), "16x16x16 128->128 3x3 p1"},
      {make_shape(16, 32, 32, 64, 64, 3, 3, 2, 2, 1, 1), "16x32x32 64->64 3x3 s2"},
      {make_shape(16, 32, 32, 64, 128, 1, 1, 1, 1, 0, 0), "16x32x32 64->128 1x1"},
      // The Fashion-MNIST teacher's convolutions (16 / 32 / 64 channels at 32 / 16 / 8 pixels).
      {make_shape(16, 32, 32, 16, 16, 3, 3, 1, 1, 1, 1), "16x32x32 16->16 3x3 p1"},
      {make_shape(16, 16, 16, 32, 32, 3, 3, 1, 1, 1, 1), "16x16x16 32->32 3x3 p1"},
      {make_shape(16, 8, 8, 64, 64, 3, 3, 1, 1, 1, 1), "16x8x8 64->64 3x3 p1"},
  };
  for (const CS& cs : convs) {
    const Conv2dShape& s = cs.s;
    auto x = randv(static_cast<size_t>(s.N * s.H * s.W * s.C));
    auto w = randv(static_cast<size_t>(s.O * s.C * s.KH * s.KW));
    auto b = randv(static_cast<size_t>(s.O));
    auto dy = randv(static_cast<size_t>(s.N * s.OH * s.OW * s.O));
    std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(s.O);
    const double flops = 2.0 * s.N * s.OH * s.OW * s.O * s.C * s.KH * s.KW;
    double tf = median_seconds([&] { conv2d_forward(s, x.data(), w.data(), b.data(), y.data()); },
                               7, 0.05);
    double ti = median_seconds([&] { conv2d_backward_input(s, dy.data(), w.data(), dx.data()); },
                               7, 0.05);
    double tw = median_seconds(
        [&] { conv2d_backward_weight(s, dy.data(), x.data(), dw.data(), db.data()); }, 7, 0.05);
    std::printf("conv %-26s: fwd %6.1f  bwd-input %6.1f  bwd-weight %6.1f GFLOP/s\n", cs.name,
                flops / tf * 1e-9, flops / ti * 1e-9, flops / tw * 1e-9);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool bench = true;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--no-bench") == 0) bench = false;
  settle();
  std::printf("hardware isa: %s, threads: %d\n", cpu_isa(), num_threads());
  if (force_isa("bogus")) {
    ++g_failures;
    std::printf("FAIL force_isa accepted an unknown name\n");
  }
  const char* hw = cpu_isa();
  const char* all[] = {"avx512", "avx2", "portable"};
  bool reached = false;
  for (const char* isa : all) {
    if (std::strcmp(isa, hw) == 0) reached = true;
    if (!reached) continue;  // the CPU does not support it
    if (!force_isa(isa) || std::strcmp(cpu_isa(), isa) != 0) {
      ++g_failures;
      std::printf("FAIL force_isa(%s)\n", isa);
      continue;
    }
    const int before = g_failures;
    gemm_tests(isa);
    conv_tests(isa);
    std::printf("isa %-8s: %s\n", isa, g_failures == before ? "ok" : "FAILED");
  }
  force_isa(hw);

  // Single-threaded pool via ALTER_NUM_THREADS=1.
  {
    setenv("ALTER_NUM_THREADS", "1", 1);
    set_num_threads(0);
    settle();
    if (num_threads() != 1) {
      ++g_failures;
      std::printf("FAIL ALTER_NUM_THREADS=1 gave %d threads\n", num_threads());
    }
    const int before = g_failures;
    report("sgemm-1thread", "300x257x513", check_gemm(false, true, 300, 257, 513, 1.0f, 0.5f, 1));
    report("sgemm_batched-1thread", "4x33x17x9",
           check_batched(4, true, false, 33, 17, 9, 1.0f, 0.0f, false, true));
    conv_check("1thread", make_shape(2, 16, 16, 32, 64, 3, 3, 1, 1, 1, 1), true);
    conv_check("1thread", make_shape(2, 9, 7, 16, 32, 3, 3, 2, 2, 1, 1), true);
    std::printf("ALTER_NUM_THREADS=1: %s\n", g_failures == before ? "ok" : "FAILED");
    unsetenv("ALTER_NUM_THREADS");
    set_num_threads(0);
    settle();
  }

  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  if (bench) benchmarks();
  return g_failures == 0 ? 0 : 1;
}
