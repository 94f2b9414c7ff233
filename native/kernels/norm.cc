// Group norm (channels-last), layer norm and softmax.
//
// Group-norm statistics are computed chunk by chunk: within a chunk of rows, per-channel sums of
// d = x - shift and d^2 are taken in float (shift = the channel's first value in the chunk, so the
// terms are small and the sums do not cancel); the per-channel moments are merged into group
// moments in double with Chan's pairwise formula, in a fixed order. Chunk boundaries depend only on
// the shapes, never on the thread count, so every result (including the dgamma/dbeta reductions)
// is bit-for-bit reproducible whatever the number of threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace alter {
namespace {

// Rows per statistics chunk for rows of C floats: about 8K elements, at most 128 rows (bounds the
// float accumulation error).
int64_t rows_per_chunk(int64_t HW, int64_t C) {
  return std::max<int64_t>(1, std::min<int64_t>({HW, int64_t(128), 8192 / std::max<int64_t>(1, C)}));
}

// Sum of n floats with 16 independent float lanes (vectorisable without reassociation flags),
// finished in double.
inline double sum_f(int64_t n, const float* x) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] += x[i + l];
  double s = 0;
  for (; i < n; ++i) s += x[i];
  for (int l = 0; l < 16; ++l) s += acc[l];
  return s;
}

struct Moments {
  double n, mean, m2;
};
inline void merge(Moments& a, const Moments& b) {
  if (b.n == 0) return;
  if (a.n == 0) {
    a = b;
    return;
  }
  const double n = a.n + b.n, delta = b.mean - a.mean;
  a.mean += delta * b.n / n;
  a.m2 += b.m2 + delta * delta * a.n * b.n / n;
  a.n = n;
}

// Hot loops of the group norm, cloned for AVX-512 / AVX2 / baseline (chosen at load time).
#define ALTER_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

// s1[c] = sum_r (x[r,c] - shift[c]), s2[c] = sum_r (x[r,c] - shift[c])^2.
ALTER_CLONES void shifted_sums(int64_t rows, int64_t C, const float* __restrict x,
                               const float* __restrict shift, float* __restrict s1,
                               float* __restrict s2) {
  for (int64_t c = 0; c < C; ++c) s1[c] = 0.f, s2[c] = 0.f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const float d = xr[c] - shift[c];
      s1[c] += d;
      s2[c] += d * d;
    }
  }
}

ALTER_CLONES void affine_row(int64_t C, const float* __restrict x, const float* __restrict m,
                             const float* __restrict a, const float* __restrict b,
                             float* __restrict y) {
  for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - m[c]) * a[c] + b[c];
}

// s1[c] = sum_r dy, s2[c] = sum_r dy * (x - m[c]).
ALTER_CLONES void grad_sums(int64_t rows, int64_t C, const float* __restrict x,
                            const float* __restrict dy, const float* __restrict m,
                            float* __restrict s1, float* __restrict s2) {
  for (int64_t c = 0; c < C; ++c) s1[c] = 0.f, s2[c] = 0.f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    const float* dr = dy + r * C;
    for (int64_t c = 0; c < C; ++c) {
      s1[c] += dr[c];
      s2[c] += dr[c] * (xr[c] - m[c]);
    }
  }
}

ALTER_CLONES void grad_row(int64_t C, const float* __restrict x, const float* __restrict dy,
                           const float* __restrict m, const float* __restrict k1,
                           const float* __restrict k2, const float* __restrict k3,
                           float* __restrict dx) {
  for (int64_t c = 0; c < C; ++c) dx[c] = k1[c] * dy[c] + k2[c] * (x[c] - m[c]) + k3[c];
}

}  // namespace

// ---- group norm ------------------------------------------------------------------------------

void group_norm_forward(int64_t N, int64_t HW, int64_t C, int64_t G, float eps, const float* x,
                        const float* gamma, const float* beta, float* y, float* mean, float* rstd) {
  if (N <= 0 || C <= 0 || G <= 0) return;
  const int64_t Cg = C / G;
  if (HW <= 0) {
    for (int64_t i = 0; i < N * G; ++i) mean[i] = 0.f, rstd[i] = 1.f / std::sqrt(eps);
    return;
  }
  const int64_t rpc = rows_per_chunk(HW, C);
  const int64_t nchunk = (HW + rpc - 1) / rpc;
  std::vector<Moments> part(static_cast<size_t>(N * nchunk * G));
  parallel_for(N * nchunk, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> s1(C), s2(C), shift(C);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / nchunk, ch = t % nchunk;
      const int64_t r0 = ch * rpc, rows = std::min(rpc, HW - r0);
      const float* xs = x + (n * HW + r0) * C;
      // Shift every channel by its first value in the chunk, so the float sums of d and d^2 stay
      // small and cancellation-free.
      std::memcpy(shift.data(), xs, sizeof(float) * C);
      shifted_sums(rows, C, xs, shift.data(), s1.data(), s2.data());
      Moments* pm = part.data() + t * G;
      const double cnt = static_cast<double>(rows);
      for (int64_t g = 0; g < G; ++g) {
        Moments m{0, 0, 0};
        for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
          const double S1 = s1[c], S2 = s2[c];
          Moments mc{cnt, shift[c] + S1 / cnt, std::max(0.0, S2 - S1 * S1 / cnt)};
          merge(m, mc);
        }
        pm[g] = m;
      }
    }
  });
  // Fixed-order merge, then fold the affine into per-channel scale/shift.
  // y = (x - mean) * a + b: subtracting the mean first keeps the result exact-ish when the mean is
  // large compared with the spread.
  std::vector<float> a(static_cast<size_t>(N * C)), b(static_cast<size_t>(N * C)),
      mc(static_cast<size_t>(N * C));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t g = 0; g < G; ++g) {
      Moments m{0, 0, 0};
      for (int64_t ch = 0; ch < nchunk; ++ch) merge(m, part[(n * nchunk + ch) * G + g]);
      const double var = m.m2 / m.n;
      const double rs = 1.0 / std::sqrt(var + static_cast<double>(eps));
      mean[n * G + g] = static_cast<float>(m.mean);
      rstd[n * G + g] = static_cast<float>(rs);
      for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
        const double ga = gamma ? gamma[c] : 1.0, be = beta ? beta[c] : 0.0;
        a[n * C + c] = static_cast<float>(rs * ga);
        b[n * C + c] = static_cast<float>(be);
        mc[n * C + c] = static_cast<float>(m.mean);
      }
    }
  }
  parallel_for(N * HW, std::max<int64_t>(1, 32768 / C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / HW;
      const float* ac = a.data() + n * C;
      const float* bc = b.data() + n * C;
      const float* mm = mc.data() + n * C;
      const float* xr = x + r * C;
      float* yr = y + r * C;
      affine_row(C, xr, mm, ac, bc, yr);
    }
  });
}

void group_norm_backward(int64_t N, int64_t HW, int64_t C, int64_t G, const float* dy,
                         const float* x, const float* mean, const float* rstd,
                         const float* gamma, float* dx, float* dgamma, float* dbeta) {
  if (N <= 0 || C <= 0 || G <= 0) return;
  const int64_t Cg = C / G;
  if (HW <= 0) {
    if (dgamma) std::fill(dgamma, dgamma + C, 0.f);
    if (dbeta) std::fill(dbeta, dbeta + C, 0.f);
    return;
  }
  const int64_t rpc = rows_per_chunk(HW, C);
  const int64_t nchunk = (HW + rpc - 1) / rpc;
  // Per (n, chunk, channel): s1 = sum dy, s2 = sum dy * (x - mean_g).
  std::vector<double> p1(static_cast<size_t>(N * nchunk * C)), p2(p1.size());
  parallel_for(N * nchunk, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> s1(C), s2(C), mc(C);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / nchunk, ch = t % nchunk;
      const int64_t r0 = ch * rpc, rows = std::min(rpc, HW - r0);
      for (int64_t g = 0; g < G; ++g)
        for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) mc[c] = mean[n * G + g];
      std::fill(s1.begin(), s1.end(), 0.f);
      std::fill(s2.begin(), s2.end(), 0.f);
      const float* xs = x + (n * HW + r0) * C;
      const float* ds = dy + (n * HW + r0) * C;
      grad_sums(rows, C, xs, ds, mc.data(), s1.data(), s2.data());
      double* o1 = p1.data() + t * C;
      double* o2 = p2.data() + t * C;
      for (int64_t c = 0; c < C; ++c) o1[c] = s1[c], o2[c] = s2[c];
    }
  });
  // Per sample, per channel totals (fixed chunk order), then per-group coefficients.
  std::vector<double> t1(static_cast<size_t>(N * C)), t2(static_cast<size_t>(N * C));
  std::vector<float> k1(static_cast<size_t>(N * C)), k2(static_cast<size_t>(N * G)),
      k3(static_cast<size_t>(N * G));
  const double M = static_cast<double>(HW * Cg);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      double a = 0, b = 0;
      for (int64_t ch = 0; ch < nchunk; ++ch) {
        a += p1[(n * nchunk + ch) * C + c];
        b += p2[(n * nchunk + ch) * C + c];
      }
      t1[n * C + c] = a;
      t2[n * C + c] = b;
    }
    for (int64_t g = 0; g < G; ++g) {
      const double rs = rstd[n * G + g];
      double A = 0, Bv = 0;
      for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
        const double ga = gamma ? gamma[c] : 1.0;
        A += ga * t1[n * C + c];
        Bv += ga * t2[n * C + c];
        k1[n * C + c] = static_cast<float>(rs * ga);
      }
      // dx = rs*ga*dy + k2*(x - mean) + k3
      k2[n * G + g] = static_cast<float>(-rs * rs * rs * Bv / M);
      k3[n * G + g] = static_cast<float>(-rs * A / M);
    }
  }
  if (dgamma || dbeta) {
    for (int64_t c = 0; c < C; ++c) {
      double dg = 0, db = 0;
      for (int64_t n = 0; n < N; ++n) {
        dg += rstd[n * G + c / Cg] * t2[n * C + c];
        db += t1[n * C + c];
      }
      if (dgamma) dgamma[c] = static_cast<float>(dg);
      if (dbeta) dbeta[c] = static_cast<float>(db);
    }
  }
  parallel_for(N * HW, std::max<int64_t>(1, 16384 / C), [&](int64_t r0, int64_t r1) {
    std::vector<float> kk2(C), kk3(C), mc(C);
    int64_t cur = -1;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / HW;
      if (n != cur) {
        cur = n;
        for (int64_t c = 0; c < C; ++c) {
          const int64_t g = c / Cg;
          kk2[c] = k2[n * G + g];
          kk3[c] = k3[n * G + g];
          mc[c] = mean[n * G + g];
        }
      }
      const float* a = k1.data() + n * C;
      const float* xr = x + r * C;
      const float* dr = dy + r * C;
      float* o = dx + r * C;
      grad_row(C, xr, dr, mc.data(), a, kk2.data(), kk3.data(), o);
    }
  });
}

// ---- layer norm ------------------------------------------------------------------------------

void layer_norm_forward(int64_t R, int64_t D, float eps, const float* x, const float* gamma,
                        const float* beta, float* y, float* mean, float* rstd) {
  if (R <= 0) return;
  if (D <= 0) {
    for (int64_t r = 0; r < R; ++r) mean[r] = 0.f, rstd[r] = 1.f / std::sqrt(eps);
    return;
  }
  parallel_for(R, std::max<int64_t>(1, 16384 / D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * D;
      float* yr = y + r * D;
      const double mu = sum_f(D, xr) / static_cast<double>(D);
      const float m = static_cast<float>(mu);
      // Two-pass: squared deviations from the float mean, corrected for its rounding.
      float acc[16] = {0};
      int64_t i = 0;
      for (; i + 16 <= D; i += 16)
        for (int l = 0; l < 16; ++l) {
          const float d = xr[i + l] - m;
          acc[l] += d * d;
        }
      double q = 0;
      for (; i < D; ++i) q += static_cast<double>(xr[i] - m) * (xr[i] - m);
      for (int l = 0; l < 16; ++l) q += acc[l];
      const double dm = mu - static_cast<double>(m);
      const double var = std::max(0.0, q / D - dm * dm);
      const double rsd = 1.0 / std::sqrt(var + static_cast<double>(eps));
      const float rs = static_cast<float>(rsd);
      mean[r] = m;
      rstd[r] = rs;
      if (gamma && beta) {
        for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) * rs * gamma[d] + beta[d];
      } else if (gamma) {
        for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) * rs * gamma[d];
      } else if (beta) {
        for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) * rs + beta[d];
      } else {
        for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) * rs;
      }
    }
  });
}

void layer_norm_backward(int64_t R, int64_t D, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* gamma, float* dx, float* dgamma,
                         float* dbeta) {
  if (D <= 0) return;
  if (R <= 0) {
    if (dgamma) std::fill(dgamma, dgamma + D, 0.f);
    if (dbeta) std::fill(dbeta, dbeta + D, 0.f);
    return;
  }
  // dgamma/dbeta partials over fixed chunks of rows (independent of the thread count).
  const bool want = dgamma != nullptr || dbeta != nullptr;
  const int64_t crows = std::max<int64_t>(32, (R + 255) / 256);
  const int64_t nchunk = (R + crows - 1) / crows;
  std::vector<float> pg, pb;
  if (want) {
    pg.assign(static_cast<size_t>(nchunk * D), 0.f);
    pb.assign(static_cast<size_t>(nchunk * D), 0.f);
  }
  const int64_t grain = std::max<int64_t>(1, 16384 / (crows * D));
  parallel_for(nchunk, grain, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      float* g_acc = want ? pg.data() + ch * D : nullptr;
      float* b_acc = want ? pb.data() + ch * D : nullptr;
      const int64_t r1 = std::min(R, (ch + 1) * crows);
      for (int64_t r = ch * crows; r < r1; ++r) {
        const float* xr = x + r * D;
        const float* dr = dy + r * D;
        float* o = dx + r * D;
        const float m = mean[r], rs = rstd[r];
        // Row sums of g = dy*gamma and g*xhat.
        float a1[16] = {0}, a2[16] = {0};
        int64_t i = 0;
        for (; i + 16 <= D; i += 16)
          for (int l = 0; l < 16; ++l) {
            const float gv = gamma ? dr[i + l] * gamma[i + l] : dr[i + l];
            a1[l] += gv;
            a2[l] += gv * (xr[i + l] - m);
          }
        double s1 = 0, s2 = 0;
        for (; i < D; ++i) {
          const float gv = gamma ? dr[i] * gamma[i] : dr[i];
          s1 += gv;
          s2 += gv * (xr[i] - m);
        }
        for (int l = 0; l < 16; ++l) s1 += a1[l], s2 += a2[l];
        const float c1 = static_cast<float>(s1 / D);
        const float c2 = static_cast<float>(s2 * rs / D);  // mean(g * xhat)
        for (int64_t d = 0; d < D; ++d) {
          const float xh = (xr[d] - m) * rs;
          const float gv = gamma ? dr[d] * gamma[d] : dr[d];
          o[d] = rs * (gv - c1 - xh * c2);
        }
        if (want) {
          for (int64_t d = 0; d < D; ++d) {
            g_acc[d] += dr[d] * (xr[d] - m) * rs;
            b_acc[d] += dr[d];
          }
        }
      }
    }
  });
  if (want) {
    parallel_for(D, 256, [&](int64_t d0, int64_t d1) {
      for (int64_t d = d0; d < d1; ++d) {
        double g = 0, b = 0;
        for (int64_t ch = 0; ch < nchunk; ++ch) g += pg[ch * D + d], b += pb[ch * D + d];
        if (dgamma) dgamma[d] = static_cast<float>(g);
        if (dbeta) dbeta[d] = static_cast<float>(b);
      }
    });
  }
}

// ---- softmax ---------------------------------------------------------------------------------

void softmax_forward(int64_t R, int64_t D, bool log, const float* x, float* y) {
  if (R <= 0 || D <= 0) return;
  parallel_for(R, std::max<int64_t>(1, 8192 / D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * D;
      float* yr = y + r * D;
      float mx = xr[0];
      bool nan = false;
      for (int64_t d = 0; d < D; ++d) {
        mx = xr[d] > mx ? xr[d] : mx;
        nan |= xr[d] != xr[d];
      }
      if (nan) {
        for (int64_t d = 0; d < D; ++d) yr[d] = std::nanf("");
        continue;
      }
      if (mx == -INFINITY) mx = 0.f;  // all -inf: exp gives 0s, 0/0 -> NaN as torch does
      double s = 0;
      if (log) {
        for (int64_t d = 0; d < D; ++d) s += std::exp(xr[d] - mx);
        const float lse = mx + static_cast<float>(std::log(s));
        for (int64_t d = 0; d < D; ++d) yr[d] = xr[d] - lse;
      } else {
        for (int64_t d = 0; d < D; ++d) {
          const float e = std::exp(xr[d] - mx);
          yr[d] = e;
          s += e;
        }
        const float inv = static_cast<float>(1.0 / s);
        for (int64_t d = 0; d < D; ++d) yr[d] *= inv;
      }
    }
  });
}

void softmax_backward(int64_t R, int64_t D, bool log, const float* y, const float* dy, float* dx) {
  if (R <= 0 || D <= 0) return;
  parallel_for(R, std::max<int64_t>(1, 8192 / D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* yr = y + r * D;
      const float* dr = dy + r * D;
      float* o = dx + r * D;
      float acc[16] = {0};
      int64_t i = 0;
      double s = 0;
      if (log) {
        for (; i + 16 <= D; i += 16)
          for (int l = 0; l < 16; ++l) acc[l] += dr[i + l];
        for (; i < D; ++i) s += dr[i];
        for (int l = 0; l < 16; ++l) s += acc[l];
        const float sf = static_cast<float>(s);
        for (int64_t d = 0; d < D; ++d) o[d] = dr[d] - std::exp(yr[d]) * sf;
      } else {
        for (; i + 16 <= D; i += 16)
          for (int l = 0; l < 16; ++l) acc[l] += dr[i + l] * yr[i + l];
        for (; i < D; ++i) s += dr[i] * yr[i];
        for (int l = 0; l < 16; ++l) s += acc[l];
        const float sf = static_cast<float>(s);
        for (int64_t d = 0; d < D; ++d) o[d] = yr[d] * (dr[d] - sf);
      }
    }
  });
}

}  // namespace alter
