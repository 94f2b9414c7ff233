// Standalone checks of the native kernels against naive double-precision references, plus timings.
// Build (from the repository root):
//   g++ -O2 -std=c++17 -pthread -Inative/kernels native/kernels/*.cc native/tests/kernels_test.cc
//       -o /tmp/kt && /tmp/kt          (--bench: timings only)
// Exit status = number of failed checks.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels.h"

using namespace alter;

namespace {

std::mt19937 rng(12345);
int g_fail = 0, g_pass = 0;
std::string g_isa = "default";

std::vector<float> rnd(size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
std::vector<float> randn(size_t n, float mean = 0.f, float sd = 1.f) {
  std::normal_distribution<float> d(mean, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Element-wise |got - ref| <= atol + rtol*|ref| (NaN must match NaN).
bool check(const std::string& name, const float* got, const double* ref, size_t n, double rtol,
           double atol) {
  double worst = 0;
  size_t wi = 0;
  bool ok = true;
  for (size_t i = 0; i < n; ++i) {
    const double g = got[i], r = ref[i];
    if (std::isnan(r) || std::isnan(g)) {
      if (std::isnan(r) != std::isnan(g)) ok = false, wi = i, worst = INFINITY;
      continue;
    }
    if (std::isinf(r) || std::isinf(g)) {
      if (g != r) ok = false, wi = i, worst = INFINITY;
      continue;
    }
    const double e = std::fabs(g - r) / (atol + rtol * std::fabs(r));
    if (e > worst) worst = e, wi = i;
    if (e > 1.0) ok = false;
  }
  if (ok) {
    ++g_pass;
  } else {
    ++g_fail;
    std::printf("FAIL [%s] %s: n=%zu worst at %zu got %.9g ref %.9g (err/tol %.3g)\n",
                g_isa.c_str(), name.c_str(), n, wi, n ? got[wi] : 0.f, n ? ref[wi] : 0.0, worst);
  }
  return ok;
}
bool check(const std::string& name, const std::vector<float>& got, const std::vector<double>& ref,
           double rtol = 1e-5, double atol = 1e-6) {
  if (got.size() != ref.size()) {
    ++g_fail;
    std::printf("FAIL %s: size mismatch\n", name.c_str());
    return false;
  }
  return check(name, got.data(), ref.data(), got.size(), rtol, atol);
}
void expect(const std::string& name, bool cond) {
  if (cond) {
    ++g_pass;
  } else {
    ++g_fail;
    std::printf("FAIL [%s] %s\n", g_isa.c_str(), name.c_str());
  }
}
// Changes the pool size and lets the new workers start before the next parallel_for.
void set_threads(int n) {
  set_num_threads(n);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

double maxabs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

template <class F>
double median_ms(int reps, F f) {
  f();
  std::vector<double> ts;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    ts.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

// ---- attention --------------------------------------------------------------------------------

void attention_reference(const AttentionShape& s, const std::vector<float>& q,
                         const std::vector<float>& k, const std::vector<float>& v,
                         const std::vector<float>& go, std::vector<double>& ro,
                         std::vector<double>& rl, std::vector<double>& rdq,
                         std::vector<double>& rdk, std::vector<double>& rdv) {
  const int64_t B = s.B, H = s.H, Lq = s.Lq, Lk = s.Lk, D = s.D;
  const double sc = s.scale;
  ro.assign(q.size(), 0);
  rl.assign(B * H * Lq, 0);
  rdq.assign(q.size(), 0);
  rdk.assign(k.size(), 0);
  rdv.assign(v.size(), 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      auto qi = [&](int64_t i, int64_t d) { return ((b * Lq + i) * H + h) * D + d; };
      auto ki = [&](int64_t j, int64_t d) { return ((b * Lk + j) * H + h) * D + d; };
      std::vector<double> P(Lq * Lk), dS(Lq * Lk);
      for (int64_t i = 0; i < Lq; ++i) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < Lk; ++j) {
          double t = 0;
          for (int64_t d = 0; d < D; ++d) t += (double)q[qi(i, d)] * k[ki(j, d)];
          P[i * Lk + j] = t * sc;
          mx = std::max(mx, t * sc);
        }
        double sum = 0;
        for (int64_t j = 0; j < Lk; ++j) sum += (P[i * Lk + j] = std::exp(P[i * Lk + j] - mx));
        for (int64_t j = 0; j < Lk; ++j) P[i * Lk + j] /= sum;
        rl[(b * H + h) * Lq + i] = mx + std::log(sum);
        for (int64_t d = 0; d < D; ++d) {
          double t = 0;
          for (int64_t j = 0; j < Lk; ++j) t += P[i * Lk + j] * v[ki(j, d)];
          ro[qi(i, d)] = t;
        }
      }
      for (int64_t i = 0; i < Lq; ++i) {
        double Di = 0;
        for (int64_t j = 0; j < Lk; ++j) {
          double t = 0;
          for (int64_t d = 0; d < D; ++d) t += (double)go[qi(i, d)] * v[ki(j, d)];
          dS[i * Lk + j] = t;
          Di += t * P[i * Lk + j];
        }
        for (int64_t j = 0; j < Lk; ++j) dS[i * Lk + j] = P[i * Lk + j] * (dS[i * Lk + j] - Di);
      }
      for (int64_t i = 0; i < Lq; ++i)
        for (int64_t d = 0; d < D; ++d) {
          double t = 0;
          for (int64_t j = 0; j < Lk; ++j) t += dS[i * Lk + j] * k[ki(j, d)];
          rdq[qi(i, d)] = t * sc;
        }
      for (int64_t j = 0; j < Lk; ++j)
        for (int64_t d = 0; d < D; ++d) {
          double t = 0, u = 0;
          for (int64_t i = 0; i < Lq; ++i) {
            t += dS[i * Lk + j] * q[qi(i, d)];
            u += P[i * Lk + j] * go[qi(i, d)];
          }
          rdk[ki(j, d)] = t * sc;
          rdv[ki(j, d)] = u;
        }
    }
}

void test_attention() {
  const std::vector<std::array<int64_t, 5>> shapes = {
      {2, 3, 70, 77, 40}, {1, 1, 1, 1, 8},    {1, 2, 5, 1, 16},   {2, 1, 130, 200, 33},
      {1, 1, 200, 150, 160}, {3, 2, 64, 64, 32}, {1, 1, 300, 257, 24}, {2, 2, 17, 3, 8},
      {1, 3, 65, 129, 1}};
  for (auto sh : shapes) {
    const int64_t B = sh[0], H = sh[1], Lq = sh[2], Lk = sh[3], D = sh[4];
    AttentionShape s{B, H, Lq, Lk, D, 1.f / std::sqrt(static_cast<float>(D))};
    auto q = randn(B * Lq * H * D, 0.f, 1.5f), k = randn(B * Lk * H * D), v = randn(B * Lk * H * D);
    auto go = randn(B * Lq * H * D);
    std::vector<float> o(q.size()), l(B * H * Lq), dq(q.size(), NAN), dk(k.size(), NAN),
        dv(v.size(), NAN);
    attention_forward(s, q.data(), k.data(), v.data(), o.data(), l.data());
    attention_backward(s, q.data(), k.data(), v.data(), o.data(), l.data(), go.data(), dq.data(),
                       dk.data(), dv.data());
    std::vector<double> ro, rl, rdq, rdk, rdv;
    attention_reference(s, q, k, v, go, ro, rl, rdq, rdk, rdv);
    char name[128];
    std::snprintf(name, sizeof name, "attention B%lld H%lld Lq%lld Lk%lld D%lld", (long long)B,
                  (long long)H, (long long)Lq, (long long)Lk, (long long)D);
    const std::string n(name);
    check(n + " out", o, ro, 2e-5, 2e-6 * std::max(1.0, maxabs(ro)));
    check(n + " lse", l, rl, 2e-6, 2e-6);
    check(n + " dq", dq, rdq, 1e-4, 1e-5 * std::max(1e-1, maxabs(rdq)));
    check(n + " dk", dk, rdk, 1e-4, 1e-5 * std::max(1e-1, maxabs(rdk)));
    check(n + " dv", dv, rdv, 1e-4, 1e-5 * std::max(1e-1, maxabs(rdv)));
  }
  // Determinism across thread counts of the split-key backward (B*H = 1).
  {
    AttentionShape s{1, 1, 256, 300, 32, 0.2f};
    auto q = randn(256 * 32), k = randn(300 * 32), v = randn(300 * 32), go = randn(256 * 32);
    std::vector<float> o(q.size()), l(256), dq1(q.size()), dk1(k.size()), dv1(v.size());
    std::vector<float> dq2(q.size()), dk2(k.size()), dv2(v.size());
    attention_forward(s, q.data(), k.data(), v.data(), o.data(), l.data());
    const int nt = num_threads();
    set_threads(1);
    attention_backward(s, q.data(), k.data(), v.data(), o.data(), l.data(), go.data(), dq1.data(),
                       dk1.data(), dv1.data());
    set_threads(nt);
    attention_backward(s, q.data(), k.data(), v.data(), o.data(), l.data(), go.data(), dq2.data(),
                       dk2.data(), dv2.data());
    double e = 0;
    for (size_t i = 0; i < dq1.size(); ++i) e = std::max(e, (double)std::fabs(dq1[i] - dq2[i]));
    expect("attention backward dq 1 vs N threads (close)", e < 1e-5);
    expect("attention backward dk/dv 1 vs N threads (identical)",
           dk1 == dk2 && dv1 == dv2);
  }
}

// ---- norms ---------------------------------------------------------------------------------------

void test_group_norm() {
  struct Case { int64_t N, HW, C, G; float mean; bool affine; };
  const std::vector<Case> cases = {{2, 37, 12, 3, 0.f, true},  {1, 1, 4, 4, 0.f, false},
                                   {3, 300, 64, 32, 100.f, true}, {2, 5000, 8, 2, -3.f, true},
                                   {1, 7, 6, 1, 0.f, false},   {2, 64, 320, 32, 1.f, true}};
  for (const auto& c : cases) {
    const int64_t N = c.N, HW = c.HW, C = c.C, G = c.G, Cg = C / G;
    const float eps = 1e-5f;
    auto x = randn(N * HW * C, c.mean, 2.f), dy = randn(N * HW * C);
    auto gamma = randn(C, 1.f, 0.5f), beta = randn(C);
    const float* gp = c.affine ? gamma.data() : nullptr;
    const float* bp = c.affine ? beta.data() : nullptr;
    std::vector<float> y(x.size()), mean(N * G), rstd(N * G), dx(x.size()), dg(C), db(C);
    group_norm_forward(N, HW, C, G, eps, x.data(), gp, bp, y.data(), mean.data(), rstd.data());
    group_norm_backward(N, HW, C, G, dy.data(), x.data(), mean.data(), rstd.data(), gp, dx.data(),
                        dg.data(), db.data());
    std::vector<double> ry(x.size()), rm(N * G), rr(N * G), rdx(x.size()), rdg(C, 0), rdb(C, 0);
    const double M = static_cast<double>(HW * Cg);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t g = 0; g < G; ++g) {
        auto at = [&](int64_t r, int64_t ch) { return (n * HW + r) * C + g * Cg + ch; };
        double s = 0;
        for (int64_t r = 0; r < HW; ++r)
          for (int64_t ch = 0; ch < Cg; ++ch) s += x[at(r, ch)];
        const double mu = s / M;
        double q = 0;
        for (int64_t r = 0; r < HW; ++r)
          for (int64_t ch = 0; ch < Cg; ++ch) q += (x[at(r, ch)] - mu) * (x[at(r, ch)] - mu);
        const double rs = 1.0 / std::sqrt(q / M + eps);
        rm[n * G + g] = mu;
        rr[n * G + g] = rs;
        double A = 0, Bv = 0;
        for (int64_t r = 0; r < HW; ++r)
          for (int64_t ch = 0; ch < Cg; ++ch) {
            const int64_t i = at(r, ch), cc = g * Cg + ch;
            const double ga = gp ? gp[cc] : 1.0, be = bp ? bp[cc] : 0.0;
            const double xh = (x[i] - mu) * rs;
            ry[i] = xh * ga + be;
            A += dy[i] * ga;
            Bv += dy[i] * ga * xh;
            rdg[cc] += dy[i] * xh;
            rdb[cc] += dy[i];
          }
        for (int64_t r = 0; r < HW; ++r)
          for (int64_t ch = 0; ch < Cg; ++ch) {
            const int64_t i = at(r, ch), cc = g * Cg + ch;
            const double ga = gp ? gp[cc] : 1.0;
            const double xh = (x[i] - mu) * rs;
            rdx[i] = rs * (dy[i] * ga - A / M - xh * Bv / M);
          }
      }
    char name[96];
    std::snprintf(name, sizeof name, "group_norm N%lld HW%lld C%lld G%lld mean%g", (long long)N,
                  (long long)HW, (long long)C, (long long)G, c.mean);
    const std::string n(name);
    check(n + " y", y, ry, 1e-4, 1e-5);
    check(n + " mean", mean, rm, 1e-6, 1e-6);
    check(n + " rstd", rstd, rr, 2e-5, 1e-7);
    check(n + " dx", dx, rdx, 1e-3, 1e-5 * std::max(1.0, maxabs(rdx)));
    check(n + " dgamma", dg, rdg, 1e-4, 1e-5 * std::max(1.0, maxabs(rdg)));
    check(n + " dbeta", db, rdb, 1e-4, 1e-5 * std::max(1.0, maxabs(rdb)));
    // Null dgamma/dbeta accepted; determinism across thread counts.
    std::vector<float> dx2(x.size()), dg2(C);
    const int nt = num_threads();
    set_threads(1);
    group_norm_backward(N, HW, C, G, dy.data(), x.data(), mean.data(), rstd.data(), gp, dx2.data(),
                        dg2.data(), nullptr);
    set_threads(nt);
    expect(n + " backward identical with 1 thread", dx2 == dx && dg2 == dg);
  }
}

void test_layer_norm() {
  struct Case { int64_t R, D; float mean; int affine; };  // affine: 0 none, 1 gamma, 2 both, 3 beta
  const std::vector<Case> cases = {{5, 7, 0.f, 2}, {1, 1, 0.f, 0}, {300, 130, 50.f, 2},
                                   {33, 1024, 0.f, 1}, {4000, 16, 1.f, 3}, {2, 768, -7.f, 2}};
  for (const auto& c : cases) {
    const int64_t R = c.R, D = c.D;
    const float eps = 1e-5f;
    auto x = randn(R * D, c.mean, 1.5f), dy = randn(R * D), gamma = randn(D, 1.f, 0.3f),
         beta = randn(D);
    const float* gp = (c.affine == 1 || c.affine == 2) ? gamma.data() : nullptr;
    const float* bp = (c.affine == 2 || c.affine == 3) ? beta.data() : nullptr;
    std::vector<float> y(x.size()), mean(R), rstd(R), dx(x.size()), dg(D), db(D);
    layer_norm_forward(R, D, eps, x.data(), gp, bp, y.data(), mean.data(), rstd.data());
    layer_norm_backward(R, D, dy.data(), x.data(), mean.data(), rstd.data(), gp, dx.data(),
                        dg.data(), db.data());
    std::vector<double> ry(x.size()), rm(R), rr(R), rdx(x.size()), rdg(D, 0), rdb(D, 0);
    for (int64_t r = 0; r < R; ++r) {
      double s = 0, q = 0;
      for (int64_t d = 0; d < D; ++d) s += x[r * D + d];
      const double mu = s / D;
      for (int64_t d = 0; d < D; ++d) q += (x[r * D + d] - mu) * (x[r * D + d] - mu);
      const double rs = 1.0 / std::sqrt(q / D + eps);
      rm[r] = mu;
      rr[r] = rs;
      double A = 0, Bv = 0;
      for (int64_t d = 0; d < D; ++d) {
        const int64_t i = r * D + d;
        const double xh = (x[i] - mu) * rs, ga = gp ? gp[d] : 1.0;
        ry[i] = xh * ga + (bp ? bp[d] : 0.0);
        A += dy[i] * ga;
        Bv += dy[i] * ga * xh;
        rdg[d] += dy[i] * xh;
        rdb[d] += dy[i];
      }
      for (int64_t d = 0; d < D; ++d) {
        const int64_t i = r * D + d;
        const double xh = (x[i] - mu) * rs, ga = gp ? gp[d] : 1.0;
        rdx[i] = rs * (dy[i] * ga - A / D - xh * Bv / D);
      }
    }
    char name[96];
    std::snprintf(name, sizeof name, "layer_norm R%lld D%lld", (long long)R, (long long)D);
    const std::string n(name);
    check(n + " y", y, ry, 1e-4, 1e-5);
    check(n + " mean", mean, rm, 1e-6, 1e-6);
    check(n + " rstd", rstd, rr, 2e-5, 1e-7);
    check(n + " dx", dx, rdx, 1e-3, 1e-5 * std::max(1.0, maxabs(rdx)));
    check(n + " dgamma", dg, rdg, 1e-4, 1e-5 * std::max(1.0, maxabs(rdg)));
    check(n + " dbeta", db, rdb, 1e-4, 1e-5 * std::max(1.0, maxabs(rdb)));
    std::vector<float> dx2(x.size());
    layer_norm_backward(R, D, dy.data(), x.data(), mean.data(), rstd.data(), gp, dx2.data(),
                        nullptr, nullptr);
    expect(n + " dx without dgamma/dbeta", dx2 == dx);
  }
}

void test_softmax() {
  for (auto rd : std::vector<std::array<int64_t, 2>>{{3, 5}, {1, 1}, {100, 77}, {7, 1000}, {2, 17}}) {
    const int64_t R = rd[0], D = rd[1];
    for (bool lg : {false, true}) {
      auto x = randn(R * D, 0.f, 4.f), dy = randn(R * D);
      if (R * D > 3) x[2] = 80.f;  // large values must not overflow
      std::vector<float> y(x.size()), dx(x.size());
      softmax_forward(R, D, lg, x.data(), y.data());
      softmax_backward(R, D, lg, y.data(), dy.data(), dx.data());
      std::vector<double> ry(x.size()), rdx(x.size());
      for (int64_t r = 0; r < R; ++r) {
        double mx = -INFINITY, s = 0;
        for (int64_t d = 0; d < D; ++d) mx = std::max(mx, (double)x[r * D + d]);
        for (int64_t d = 0; d < D; ++d) s += std::exp(x[r * D + d] - mx);
        double sdy = 0, sdyy = 0;
        for (int64_t d = 0; d < D; ++d) {
          const double p = std::exp(x[r * D + d] - mx) / s;
          ry[r * D + d] = lg ? x[r * D + d] - mx - std::log(s) : p;
          sdy += dy[r * D + d];
          sdyy += dy[r * D + d] * p;
        }
        for (int64_t d = 0; d < D; ++d) {
          const double p = std::exp(x[r * D + d] - mx) / s;
          rdx[r * D + d] = lg ? dy[r * D + d] - p * sdy : p * (dy[r * D + d] - sdyy);
        }
      }
      const std::string n = std::string(lg ? "log_softmax" : "softmax") + " R" +
                            std::to_string(R) + " D" + std::to_string(D);
      // log-softmax: y = x - lse cancels; allow float rounding of x and lse.
      check(n + " fwd", y, ry, 1e-5, lg ? 2e-6 * std::max(1.0, (double)*std::max_element(x.begin(), x.end())) : 1e-7);
      check(n + " bwd", dx, rdx, 1e-4, 1e-6);
    }
  }
}

// ---- elementwise ---------------------------------------------------------------------------------

double ref_unary(Unary op, double x) {
  switch (op) {
    case Unary::Neg: return -x;
    case Unary::Exp: return std::exp(x);
    case Unary::Log: return std::log(x);
    case Unary::Sqrt: return std::sqrt(x);
    case Unary::Abs: return std::fabs(x);
    case Unary::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case Unary::Silu: return x / (1.0 + std::exp(-x));
    // Written without the 1 + erf / 1 + tanh cancellation so the reference stays exact for x << 0.
    case Unary::GeluErf: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case Unary::GeluTanh:
      return x / (1.0 + std::exp(-2.0 * std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case Unary::Relu: return x > 0 ? x : 0;
    case Unary::Tanh: return std::tanh(x);
    case Unary::Square: return x * x;
    case Unary::Reciprocal: return 1.0 / x;
    case Unary::Sign: return x > 0 ? 1 : (x < 0 ? -1 : 0);
  }
  return 0;
}
double ref_unary_grad(Unary op, double x) {
  switch (op) {
    case Unary::Neg: return -1;
    case Unary::Exp: return std::exp(x);
    case Unary::Log: return 1 / x;
    case Unary::Sqrt: return 0.5 / std::sqrt(x);
    case Unary::Abs: return x > 0 ? 1 : (x < 0 ? -1 : 0);
    case Unary::Sigmoid: {
      const double s = 1 / (1 + std::exp(-x));
      return s * (1 - s);
    }
    case Unary::Silu: {
      const double s = 1 / (1 + std::exp(-x));
      return s * (1 + x * (1 - s));
    }
    case Unary::GeluErf:
      return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    case Unary::GeluTanh: {
      const double k = std::sqrt(2.0 / M_PI), t = std::tanh(k * (x + 0.044715 * x * x * x));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
    }
    case Unary::Relu: return x > 0 ? 1 : 0;
    case Unary::Tanh: return 1 - std::tanh(x) * std::tanh(x);
    case Unary::Square: return 2 * x;
    case Unary::Reciprocal: return -1 / (x * x);
    case Unary::Sign: return 0;
  }
  return 0;
}

void test_unary() {
  const char* names[] = {"Neg", "Exp", "Log", "Sqrt", "Abs", "Sigmoid", "Silu", "GeluErf",
                         "GeluTanh", "Relu", "Tanh", "Square", "Reciprocal", "Sign"};
  for (int o = 0; o <= 13; ++o) {
    const Unary op = static_cast<Unary>(o);
    const bool positive = op == Unary::Log || op == Unary::Sqrt || op == Unary::Reciprocal;
    for (int64_t n : {int64_t(1), int64_t(37), int64_t(100003)}) {
      auto x = positive ? rnd(n, 0.05f, 20.f) : rnd(n, -12.f, 12.f);
      if (!positive && n > 10) x[0] = 0.f, x[1] = -100.f, x[2] = 100.f, x[3] = -1e-3f;
      auto dy = randn(n);
      std::vector<float> y(n), dx(n);
      unary_forward(op, n, x.data(), y.data());
      unary_backward(op, n, x.data(), y.data(), dy.data(), dx.data());
      std::vector<double> ry(n), rdx(n);
      for (int64_t i = 0; i < n; ++i) {
        ry[i] = ref_unary(op, x[i]);
        rdx[i] = dy[i] * ref_unary_grad(op, x[i]);
        if (op == Unary::Exp && x[i] > 80) ry[i] = INFINITY, rdx[i] = dy[i] * INFINITY;
      }
      const std::string nm = std::string("unary ") + names[o] + " n" + std::to_string(n);
      // The error of y feeds derivatives computed from y; tolerances allow float rounding.
      check(nm + " fwd", y, ry, 1e-5, 1e-30);
      check(nm + " bwd", dx, rdx, 2e-4, 1e-6);
    }
  }
}

void test_binary() {
  const char* names[] = {"Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum",
                         "Greater", "Less", "Equal"};
  std::uniform_int_distribution<int> dimd(1, 5), rankd(0, 5), coin(0, 3);
  for (int trial = 0; trial < 60; ++trial) {
    const Binary op = static_cast<Binary>(trial % 10);
    const int rank = trial < 10 ? 1 : rankd(rng);
    int64_t shape[8];
    int64_t total = 1;
    for (int d = 0; d < rank; ++d) shape[d] = dimd(rng) * (coin(rng) == 0 ? 13 : 1), total *= shape[d];
    if (trial < 10) shape[0] = 70001, total = 70001;
    // Inputs: a is stored permuted (non-contiguous) half the time; b broadcast on random dims.
    int64_t as[8], bs[8];
    int64_t asz = 1, bsz = 1;
    std::vector<int> perm(rank);
    for (int d = 0; d < rank; ++d) perm[d] = d;
    if (trial % 2 == 1) std::shuffle(perm.begin(), perm.end(), rng);
    for (int k = rank - 1; k >= 0; --k) as[perm[k]] = asz, asz *= shape[perm[k]];
    for (int d = rank - 1; d >= 0; --d) {
      const bool bc = trial >= 10 && coin(rng) == 0;
      bs[d] = bc ? 0 : bsz;
      if (!bc) bsz *= shape[d];
    }
    if (trial % 7 == 3)  // scalar b
      for (int d = 0; d < rank; ++d) bs[d] = 0, bsz = 1;
    auto a = rnd(asz, -3.f, 3.f), b = rnd(bsz, -3.f, 3.f);
    if (op == Binary::Pow)
      for (auto& v : a) v = std::fabs(v) + 0.1f;
    if (op == Binary::Equal)
      for (size_t i = 0; i < a.size(); ++i) a[i] = std::round(a[i]), b[i % b.size()] = std::round(b[i % b.size()]);
    if (op == Binary::Maximum && a.size() > 5) a[3] = NAN;
    std::vector<float> out(total);
    binary_forward(op, rank, shape, a.data(), as, b.data(), bs, out.data());
    std::vector<double> ref(total);
    for (int64_t flat = 0; flat < total; ++flat) {
      int64_t rem = flat, ia = 0, ib = 0;
      for (int d = rank - 1; d >= 0; --d) {
        const int64_t i = rem % shape[d];
        rem /= shape[d];
        ia += i * as[d];
        ib += i * bs[d];
      }
      const double x = a[ia], y = b[ib];
      double r = 0;
      switch (op) {
        case Binary::Add: r = x + y; break;
        case Binary::Sub: r = x - y; break;
        case Binary::Mul: r = x * y; break;
        case Binary::Div: r = x / y; break;
        case Binary::Pow: r = std::pow(x, y); break;
        case Binary::Maximum: r = (std::isnan(x) || std::isnan(y)) ? NAN : std::max(x, y); break;
        case Binary::Minimum: r = (std::isnan(x) || std::isnan(y)) ? NAN : std::min(x, y); break;
        case Binary::Greater: r = x > y; break;
        case Binary::Less: r = x < y; break;
        case Binary::Equal: r = x == y; break;
      }
      ref[flat] = r;
    }
    check(std::string("binary ") + names[trial % 10] + " rank" + std::to_string(rank) +
              " trial" + std::to_string(trial),
          out, ref, 1e-6, 1e-30);
  }
  // rank 0
  {
    float a = 2.f, b = 5.f, o = 0.f;
    binary_forward(Binary::Mul, 0, nullptr, &a, nullptr, &b, nullptr, &o);
    expect("binary rank 0", o == 10.f);
  }
}

void test_misc_elementwise() {
  for (int64_t n : {int64_t(1), int64_t(1000), int64_t(100001)}) {
    auto x = rnd(n, -2.f, 2.f), dy = randn(n), c = rnd(n), a = randn(n), b = randn(n);
    std::vector<float> y(n), dx(n), w(n);
    clamp_forward(n, -0.5f, 1.f, x.data(), y.data());
    clamp_backward(n, -0.5f, 1.f, x.data(), dy.data(), dx.data());
    where_forward(n, c.data(), a.data(), b.data(), w.data());
    for (int64_t i = 0; i < n; ++i) c[i] = c[i] > 0 ? 1.f : 0.f;
    where_forward(n, c.data(), a.data(), b.data(), w.data());
    std::vector<double> ry(n), rdx(n), rw(n);
    for (int64_t i = 0; i < n; ++i) {
      ry[i] = std::min(1.0, std::max(-0.5, (double)x[i]));
      rdx[i] = (x[i] >= -0.5f && x[i] <= 1.f) ? dy[i] : 0;
      rw[i] = c[i] != 0 ? a[i] : b[i];
    }
    const std::string s = " n" + std::to_string(n);
    check("clamp fwd" + s, y, ry, 0, 0);
    check("clamp bwd" + s, dx, rdx, 0, 0);
    check("where" + s, w, rw, 0, 0);
    std::vector<float> yy = b;
    axpby(n, 0.5f, a.data(), -2.f, yy.data());
    std::vector<double> ra(n);
    for (int64_t i = 0; i < n; ++i) ra[i] = 0.5 * a[i] - 2.0 * b[i];
    check("axpby" + s, yy, ra, 1e-6, 1e-7);
    std::vector<float> g(n, NAN);
    axpby(n, 3.f, a.data(), 0.f, g.data());  // beta 0 must not read y
    for (int64_t i = 0; i < n; ++i) ra[i] = 3.0 * a[i];
    check("axpby beta0" + s, g, ra, 1e-6, 1e-7);
    fill(n, 2.5f, g.data());
    expect("fill" + s, std::all_of(g.begin(), g.end(), [](float v) { return v == 2.5f; }));
  }
}

// ---- reductions / layout ----------------------------------------------------------------------

void test_reduce() {
  const std::vector<std::array<int64_t, 3>> shapes = {
      {1, 1, 1}, {3, 5, 7}, {1, 300001, 1}, {2, 70000, 3}, {64, 100, 1}, {5, 1, 9},
      {4, 33, 1500}, {1000, 7, 2}};
  for (auto sh : shapes) {
    const int64_t O = sh[0], R = sh[1], I = sh[2];
    auto x = randn(O * R * I, 0.5f, 1.f);
    for (int o = 0; o < 3; ++o) {
      const Reduce op = static_cast<Reduce>(o);
      std::vector<float> out(O * I);
      reduce(op, O, R, I, x.data(), out.data());
      std::vector<double> ref(O * I);
      for (int64_t a = 0; a < O; ++a)
        for (int64_t i = 0; i < I; ++i) {
          double acc = op == Reduce::Sum ? 0 : x[a * R * I + i];
          for (int64_t j = 0; j < R; ++j) {
            const double v = x[(a * R + j) * I + i];
            acc = op == Reduce::Sum ? acc + v : (op == Reduce::Max ? std::max(acc, v) : std::min(acc, v));
          }
          ref[a * I + i] = acc;
        }
      const char* nm[] = {"sum", "max", "min"};
      check(std::string("reduce ") + nm[o] + " [" + std::to_string(O) + "," + std::to_string(R) +
                "," + std::to_string(I) + "]",
            out, ref, 1e-6, 1e-6);
    }
    std::vector<int32_t> am(O * I);
    argmax(O, R, I, x.data(), am.data());
    bool ok = true;
    for (int64_t a = 0; a < O; ++a)
      for (int64_t i = 0; i < I; ++i) {
        int32_t bi = 0;
        for (int64_t j = 1; j < R; ++j)
          if (x[(a * R + j) * I + i] > x[(a * R + bi) * I + i]) bi = (int32_t)j;
        ok &= am[a * I + i] == bi;
      }
    expect("argmax [" + std::to_string(O) + "," + std::to_string(R) + "," + std::to_string(I) + "]", ok);
  }
  {  // NaN policy and ties
    std::vector<float> x = {1.f, 3.f, 3.f, NAN, 5.f, NAN, 2.f, 2.f};
    std::vector<int32_t> am(2);
    argmax(2, 4, 1, x.data(), am.data());
    expect("argmax NaN is max / first max wins", am[0] == 3 && am[1] == 1);
    std::vector<float> z = {2.f, 7.f, 7.f, 1.f};
    argmax(1, 4, 1, z.data(), am.data());
    expect("argmax first of ties", am[0] == 1);
    std::vector<float> m(1);
    reduce(Reduce::Max, 1, 8, 1, x.data(), m.data());
    expect("reduce max propagates NaN", std::isnan(m[0]));
  }
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(1000), int64_t(300007)}) {
    auto x = randn(n);
    double r = 0;
    for (float v : x) r += (double)v * v;
    const double s = sum_squares(n, x.data());
    expect("sum_squares n" + std::to_string(n), std::fabs(s - r) <= 1e-12 * std::max(1.0, r));
  }
}

void test_strided() {
  // Permute [2,3,4,5] -> (2,0,3,1), slice, expand and a broadcast-like stride 0.
  const int64_t shp[4] = {2, 3, 4, 5};
  auto x = randn(2 * 3 * 4 * 5 + 10);
  struct Case { int rank; int64_t shape[8]; int64_t strides[8]; int64_t offset; const char* name; };
  const std::vector<Case> cases = {
      {4, {4, 2, 5, 3}, {5, 60, 1, 20}, 0, "permute"},
      {3, {2, 2, 3}, {60, 20, 2}, 7, "slice with offset and step"},
      {3, {6, 3, 5}, {0, 20, 1}, 3, "expand leading"},
      {2, {5, 7}, {1, 0}, 0, "expand inner (stride 0 innermost)"},
      {1, {120}, {1}, 0, "contiguous"},
      {0, {}, {}, 5, "rank 0"},
      {4, {1, 4, 1, 5}, {99, 5, 99, 1}, 2, "size-1 dims"}};
  (void)shp;
  for (const auto& c : cases) {
    int64_t total = 1;
    for (int d = 0; d < c.rank; ++d) total *= c.shape[d];
    std::vector<float> out(total);
    strided_copy(c.rank, c.shape, x.data(), c.offset, c.strides, out.data());
    std::vector<double> ref(total);
    std::vector<double> radd(x.size(), 0.0);
    auto src = randn(total);
    for (int64_t flat = 0; flat < total; ++flat) {
      int64_t rem = flat, off = c.offset;
      for (int d = c.rank - 1; d >= 0; --d) off += (rem % c.shape[d]) * c.strides[d], rem /= c.shape[d];
      ref[flat] = x[off];
      radd[off] += src[flat];
    }
    check(std::string("strided_copy ") + c.name, out, ref, 0, 0);
    std::vector<float> acc(x.size(), 0.f);
    for (size_t i = 0; i < acc.size(); ++i) acc[i] = (float)(i % 3), radd[i] += (double)(i % 3);
    strided_add(c.rank, c.shape, src.data(), acc.data(), c.offset, c.strides);
    check(std::string("strided_add ") + c.name, acc, radd, 1e-6, 1e-6);
  }
  // Large cases that take the parallel paths: big permute copy, expand-backward with aliasing,
  // and a permuted (disjoint) add.
  {
    const int64_t A = 64, B = 48, C = 40;  // x [A,B,C] -> out [C,A,B]
    auto big = randn(A * B * C);
    int64_t shape[3] = {C, A, B}, st[3] = {1, B * C, C};
    std::vector<float> out(A * B * C);
    strided_copy(3, shape, big.data(), 0, st, out.data());
    std::vector<double> ref(out.size());
    for (int64_t c = 0; c < C; ++c)
      for (int64_t a = 0; a < A; ++a)
        for (int64_t b = 0; b < B; ++b) ref[(c * A + a) * B + b] = big[(a * B + b) * C + c];
    check("strided_copy large permute", out, ref, 0, 0);
    // adjoint of that permute
    std::vector<float> acc(A * B * C, 1.f);
    strided_add(3, shape, out.data(), acc.data(), 0, st);
    std::vector<double> r2(acc.size());
    for (size_t i = 0; i < r2.size(); ++i) r2[i] = 1.0 + big[i];
    check("strided_add large permute", acc, r2, 1e-6, 1e-6);
    // expand backward: src [512, 300] summed into out [300] (stride 0 on dim 0) and into [512,1]
    const int64_t N = 512, D = 300;
    auto src = randn(N * D);
    int64_t eshape[2] = {N, D}, es1[2] = {0, 1}, es2[2] = {1, 0};
    std::vector<float> o1(D, 0.f), o2(N, 0.f);
    strided_add(2, eshape, src.data(), o1.data(), 0, es1);
    strided_add(2, eshape, src.data(), o2.data(), 0, es2);
    std::vector<double> q1(D, 0), q2(N, 0);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < D; ++j) q1[j] += src[i * D + j], q2[i] += src[i * D + j];
    // float accumulation of 512 / 300 unit-sized terms
    check("strided_add expand dim0 (aliasing)", o1, q1, 1e-5, 1e-4);
    check("strided_add expand dim1 (aliasing)", o2, q2, 1e-5, 1e-4);
  }
}

void test_rows() {
  const int64_t rows = 50, D = 37, n = 200;
  auto table = randn(rows * D);
  std::vector<int32_t> idx(n);
  std::uniform_int_distribution<int> pick(0, rows - 1);
  for (auto& i : idx) i = pick(rng);
  idx[0] = idx[1] = idx[2] = 7;
  std::vector<float> out(n * D);
  gather_rows(n, D, table.data(), idx.data(), out.data());
  std::vector<double> ref(n * D);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t d = 0; d < D; ++d) ref[i * D + d] = table[idx[i] * D + d];
  check("gather_rows", out, ref, 0, 0);
  for (int64_t DD : {D, int64_t(1000)}) {
    auto dout = randn(n * DD);
    std::vector<float> dt(rows * DD, 0.5f);
    scatter_add_rows(n, DD, dout.data(), idx.data(), dt.data());
    std::vector<double> rdt(rows * DD, 0.5);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t d = 0; d < DD; ++d) rdt[idx[i] * DD + d] += dout[i * DD + d];
    check("scatter_add_rows D" + std::to_string(DD), dt, rdt, 1e-5, 1e-5);
  }
}

void test_resample() {
  for (auto s : std::vector<std::array<int64_t, 5>>{{1, 1, 1, 1, 2}, {2, 3, 5, 7, 2}, {2, 8, 6, 33, 3}, {1, 16, 16, 64, 2}}) {
    const int64_t N = s[0], H = s[1], W = s[2], C = s[3], k = s[4];
    auto x = randn(N * H * W * C);
    std::vector<float> y(N * 4 * H * W * C);
    upsample_nearest2x_forward(N, H, W, C, x.data(), y.data());
    std::vector<double> ry(y.size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < 2 * H; ++h)
        for (int64_t w = 0; w < 2 * W; ++w)
          for (int64_t c = 0; c < C; ++c)
            ry[((n * 2 * H + h) * 2 * W + w) * C + c] = x[((n * H + h / 2) * W + w / 2) * C + c];
    const std::string nm = " [" + std::to_string(N) + "," + std::to_string(H) + "," +
                           std::to_string(W) + "," + std::to_string(C) + "]";
    check("upsample2x fwd" + nm, y, ry, 0, 0);
    auto dy = randn(y.size());
    std::vector<float> dx(x.size());
    upsample_nearest2x_backward(N, H, W, C, dy.data(), dx.data());
    std::vector<double> rdx(x.size(), 0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < 2 * H; ++h)
        for (int64_t w = 0; w < 2 * W; ++w)
          for (int64_t c = 0; c < C; ++c)
            rdx[((n * H + h / 2) * W + w / 2) * C + c] += dy[((n * 2 * H + h) * 2 * W + w) * C + c];
    check("upsample2x bwd" + nm, dx, rdx, 1e-6, 1e-6);
    // avg pool k on a [N, H*k', W*k', C] input
    const int64_t PH = ((H + k - 1) / k) * k, PW = ((W + k - 1) / k) * k, OH = PH / k, OW = PW / k;
    auto px = randn(N * PH * PW * C);
    std::vector<float> py(N * OH * OW * C);
    avg_pool2d_forward(N, PH, PW, C, k, px.data(), py.data());
    std::vector<double> rpy(py.size(), 0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < PH; ++h)
        for (int64_t w = 0; w < PW; ++w)
          for (int64_t c = 0; c < C; ++c)
            rpy[((n * OH + h / k) * OW + w / k) * C + c] += px[((n * PH + h) * PW + w) * C + c] / double(k * k);
    check("avg_pool2d fwd k" + std::to_string(k) + nm, py, rpy, 1e-5, 1e-6);
    auto pdy = randn(py.size());
    std::vector<float> pdx(px.size());
    avg_pool2d_backward(N, PH, PW, C, k, pdy.data(), pdx.data());
    std::vector<double> rpdx(px.size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < PH; ++h)
        for (int64_t w = 0; w < PW; ++w)
          for (int64_t c = 0; c < C; ++c)
            rpdx[((n * PH + h) * PW + w) * C + c] = pdy[((n * OH + h / k) * OW + w / k) * C + c] / double(k * k);
    check("avg_pool2d bwd k" + std::to_string(k) + nm, pdx, rpdx, 1e-6, 1e-7);
  }
}

void test_adamw() {
  for (int64_t n : {int64_t(1), int64_t(33), int64_t(100000)}) {
    auto p = randn(n), m = randn(n, 0.f, 0.1f), v = rnd(n, 0.f, 0.01f);
    std::vector<double> rp(p.begin(), p.end()), rm(m.begin(), m.end()), rv(v.begin(), v.end());
    const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
    for (int t = 1; t <= 3; ++t) {
      auto g = randn(n);
      const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
      adamw_step(n, p.data(), g.data(), m.data(), v.data(), lr, b1, b2,
                 eps, wd, bc1, bc2);
      for (int64_t i = 0; i < n; ++i) {
        rp[i] *= 1 - lr * wd;
        rm[i] = b1 * rm[i] + (1 - b1) * g[i];
        rv[i] = b2 * rv[i] + (1 - b2) * (double)g[i] * g[i];
        rp[i] -= lr / bc1 * rm[i] / (std::sqrt(rv[i]) / std::sqrt(bc2) + eps);
      }
    }
    const std::string s = " n" + std::to_string(n);
    check("adamw p" + s, p, rp, 1e-6, 1e-6);
    check("adamw m" + s, m, rm, 1e-5, 1e-7);
    check("adamw v" + s, v, rv, 1e-5, 1e-9);
  }
}

void test_zero_sizes() {
  // Zero-sized inputs must not touch memory (null pointers would crash otherwise).
  AttentionShape s{0, 4, 16, 16, 8, 1.f};
  attention_forward(s, nullptr, nullptr, nullptr, nullptr, nullptr);
  attention_backward(s, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                     nullptr);
  group_norm_forward(0, 4, 8, 2, 1e-5f, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  layer_norm_forward(0, 8, 1e-5f, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  softmax_forward(0, 8, false, nullptr, nullptr);
  unary_forward(Unary::Exp, 0, nullptr, nullptr);
  int64_t shape[2] = {0, 5}, st[2] = {5, 1};
  binary_forward(Binary::Add, 2, shape, nullptr, st, nullptr, st, nullptr);
  reduce(Reduce::Sum, 0, 5, 5, nullptr, nullptr);
  strided_copy(2, shape, nullptr, 0, st, nullptr);
  strided_add(2, shape, nullptr, nullptr, 0, st);
  gather_rows(0, 4, nullptr, nullptr, nullptr);
  scatter_add_rows(0, 4, nullptr, nullptr, nullptr);
  upsample_nearest2x_forward(0, 2, 2, 2, nullptr, nullptr);
  avg_pool2d_forward(0, 2, 2, 2, 2, nullptr, nullptr);
  adamw_step(0, nullptr, nullptr, nullptr, nullptr, 1, 1, 1, 1, 1, 1, 1);
  expect("zero-sized inputs", sum_squares(0, nullptr) == 0.0);
}

void timings() {
  std::printf("\n-- timings (median ms, %d threads, isa %s) --\n", num_threads(), cpu_isa());
  {
    const int64_t B = 8, H = 4, L = 256, D = 32;
    AttentionShape s{B, H, L, L, D, 1.f / std::sqrt(32.f)};
    auto q = randn(B * L * H * D), k = randn(B * L * H * D), v = randn(B * L * H * D),
         go = randn(B * L * H * D);
    std::vector<float> o(q.size()), l(B * H * L), dq(q.size()), dk(k.size()), dv(v.size());
    const double tf = median_ms(30, [&] {
      attention_forward(s, q.data(), k.data(), v.data(), o.data(), l.data());
    });
    const double tb = median_ms(30, [&] {
      attention_backward(s, q.data(), k.data(), v.data(), o.data(), l.data(), go.data(), dq.data(),
                         dk.data(), dv.data());
    });
    const double gf = 4.0 * B * H * L * L * D / 1e9;
    std::printf("attention B8 H4 L256 D32: forward %.3f ms (%.1f GFLOP/s), backward %.3f ms "
                "(%.1f GFLOP/s)\n",
                tf, gf / (tf * 1e-3), tb, 2.5 * gf / (tb * 1e-3));
  }
  {
    const int64_t B = 2, H = 8, Lq = 1024, Lk = 77, D = 40;
    AttentionShape s{B, H, Lq, Lk, D, 1.f / std::sqrt(40.f)};
    auto q = randn(B * Lq * H * D), k = randn(B * Lk * H * D), v = randn(B * Lk * H * D),
         go = randn(B * Lq * H * D);
    std::vector<float> o(q.size()), l(B * H * Lq), dq(q.size()), dk(k.size()), dv(v.size());
    const double tf = median_ms(30, [&] {
      attention_forward(s, q.data(), k.data(), v.data(), o.data(), l.data());
    });
    const double tb = median_ms(30, [&] {
      attention_backward(s, q.data(), k.data(), v.data(), o.data(), l.data(), go.data(), dq.data(),
                         dk.data(), dv.data());
    });
    std::printf("cross-attention B2 H8 Lq1024 Lk77 D40: forward %.3f ms, backward %.3f ms\n", tf, tb);
  }
  {
    const int64_t N = 16, HW = 1024, C = 64, G = 32;
    auto x = randn(N * HW * C), dy = randn(N * HW * C), gamma = randn(C), beta = randn(C);
    std::vector<float> y(x.size()), mean(N * G), rstd(N * G), dx(x.size()), dg(C), db(C);
    const double tf = median_ms(50, [&] {
      group_norm_forward(N, HW, C, G, 1e-5f, x.data(), gamma.data(), beta.data(), y.data(),
                         mean.data(), rstd.data());
    });
    const double tb = median_ms(50, [&] {
      group_norm_backward(N, HW, C, G, dy.data(), x.data(), mean.data(), rstd.data(),
                          gamma.data(), dx.data(), dg.data(), db.data());
    });
    std::printf("group_norm [16,1024,64] G32: forward %.3f ms, backward %.3f ms\n", tf, tb);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  // Start the pool and let its workers come up before the first parallel_for.
  num_threads();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const bool bench_only = argc > 1 && std::strcmp(argv[1], "--bench") == 0;
  if (!bench_only) {
    const std::string hw = cpu_isa();
    std::vector<std::string> isas;
    for (const char* n : {"avx512", "avx2", "portable"})
      if (force_isa(n)) isas.push_back(n);
    for (const auto& isa : isas) {
      force_isa(isa.c_str());
      g_isa = isa;
      std::printf("== isa %s ==\n", isa.c_str());
      test_attention();
      test_unary();
      // The remaining kernels do not dispatch on the ISA; run them once.
      if (isa != isas.front()) continue;
      test_group_norm();
      test_layer_norm();
      test_softmax();
      test_binary();
      test_misc_elementwise();
      test_reduce();
      test_strided();
      test_rows();
      test_resample();
      test_adamw();
      test_zero_sizes();
    }
    force_isa(hw.c_str());
    g_isa = hw;
    std::printf("\n%d checks passed, %d failed\n", g_pass, g_fail);
  }
  timings();
  return g_fail;
}
