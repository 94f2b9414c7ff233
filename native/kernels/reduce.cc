// Reductions, strided layout copies and row gather/scatter.
//
// Sums accumulate in double. Where a reduction is split across threads, the split points depend
// only on the shapes (never on the thread count) and the partials are combined in a fixed order, so
// results are reproducible.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace alter {
namespace {

constexpr int64_t kGrain = 32768;

// Sum of n contiguous floats in double, 8 independent lanes.
inline double sum_contig(int64_t n, const float* x) {
  double acc[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += x[i + l];
  double s = 0;
  for (; i < n; ++i) s += x[i];
  return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// NaN-propagating max/min (as torch.max / torch.min).
inline float fmax_nan(float m, float v) { return (v > m || v != v) ? v : m; }
inline float fmin_nan(float m, float v) { return (v < m || v != v) ? v : m; }

// Reduces rows j in [j0, j1) of x[o] (a [r, inner] slab) into acc[inner] (double for Sum).
void reduce_slab(Reduce op, int64_t j0, int64_t j1, int64_t inner, const float* xo, double* acc) {
  if (op == Reduce::Sum) {
    if (inner == 1) {
      acc[0] += sum_contig(j1 - j0, xo + j0);
      return;
    }
    for (int64_t j = j0; j < j1; ++j) {
      const float* xr = xo + j * inner;
      for (int64_t i = 0; i < inner; ++i) acc[i] += xr[i];
    }
    return;
  }
  const bool mx = op == Reduce::Max;
  for (int64_t j = j0; j < j1; ++j) {
    const float* xr = xo + j * inner;
    for (int64_t i = 0; i < inner; ++i) {
      const float m = static_cast<float>(acc[i]);
      acc[i] = mx ? fmax_nan(m, xr[i]) : fmin_nan(m, xr[i]);
    }
  }
}

double reduce_init(Reduce op) {
  switch (op) {
    case Reduce::Max: return -std::numeric_limits<double>::infinity();
    case Reduce::Min: return std::numeric_limits<double>::infinity();
    default: return 0.0;
  }
}

double combine(Reduce op, double a, double b) {
  switch (op) {
    case Reduce::Max: return (b > a || b != b) ? b : a;
    case Reduce::Min: return (b < a || b != b) ? b : a;
    default: return a + b;
  }
}

// Collapses a strided shape: drops size-1 dims and merges dims contiguous in both stride sets
// (s2 may be null). Returns the new rank (0 for a single element).
int collapse(int rank, const int64_t* shape, const int64_t* s1, const int64_t* s2, int64_t* sh,
             int64_t* t1, int64_t* t2) {
  int r = 0;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    const int64_t b = s2 ? s2[d] : 0;
    if (r > 0 && t1[r - 1] == s1[d] * shape[d] && t2[r - 1] == b * shape[d]) {
      sh[r - 1] *= shape[d];
      t1[r - 1] = s1[d];
      t2[r - 1] = b;
    } else {
      sh[r] = shape[d];
      t1[r] = s1[d];
      t2[r] = b;
      ++r;
    }
  }
  return r;
}

}  // namespace

void reduce(Reduce op, int64_t outer, int64_t r, int64_t inner, const float* x, float* out) {
  if (outer <= 0 || inner <= 0) return;
  const double init = reduce_init(op);
  if (r <= 0) {
    for (int64_t i = 0; i < outer * inner; ++i)
      out[i] = op == Reduce::Sum ? 0.f : static_cast<float>(init);
    return;
  }
  const int64_t total = outer * r * inner;
  const int64_t outputs = outer * inner;
  if (outputs < 4096 && total >= 4 * kGrain) {
    // Few outputs, much data: split r into fixed chunks and combine the partials in order.
    const int64_t rc = std::max<int64_t>(1, (kGrain * 2) / inner);
    const int64_t nrc = (r + rc - 1) / rc;
    std::vector<double> part(static_cast<size_t>(outer * nrc * inner), init);
    parallel_for(outer * nrc, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t o = t / nrc, c = t % nrc;
        reduce_slab(op, c * rc, std::min(r, (c + 1) * rc), inner, x + o * r * inner,
                    part.data() + t * inner);
      }
    });
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        double acc = init;
        for (int64_t c = 0; c < nrc; ++c) acc = combine(op, acc, part[(o * nrc + c) * inner + i]);
        out[o * inner + i] = static_cast<float>(acc);
      }
    return;
  }
  // Many outputs: each task owns whole outputs (an outer index and a block of inner columns).
  const int64_t ib = std::min<int64_t>(inner, 1024);
  const int64_t nib = (inner + ib - 1) / ib;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, r * ib));
  parallel_for(outer * nib, grain, [&](int64_t t0, int64_t t1) {
    double acc[1024];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / nib, i0 = (t % nib) * ib, w = std::min(ib, inner - i0);
      for (int64_t i = 0; i < w; ++i) acc[i] = init;
      const float* xo = x + o * r * inner + i0;
      if (inner == 1) {
        reduce_slab(op, 0, r, 1, xo, acc);
      } else {
        // rows are `inner` apart; reduce a w-wide column block
        if (op == Reduce::Sum) {
          for (int64_t j = 0; j < r; ++j) {
            const float* xr = xo + j * inner;
            for (int64_t i = 0; i < w; ++i) acc[i] += xr[i];
          }
        } else {
          const bool mx = op == Reduce::Max;
          for (int64_t j = 0; j < r; ++j) {
            const float* xr = xo + j * inner;
            for (int64_t i = 0; i < w; ++i) {
              const float m = static_cast<float>(acc[i]);
              acc[i] = mx ? fmax_nan(m, xr[i]) : fmin_nan(m, xr[i]);
            }
          }
        }
      }
      float* po = out + o * inner + i0;
      for (int64_t i = 0; i < w; ++i) po[i] = static_cast<float>(acc[i]);
    }
  });
}

void argmax(int64_t outer, int64_t r, int64_t inner, const float* x, int32_t* out) {
  if (outer <= 0 || inner <= 0) return;
  if (r <= 0) {
    for (int64_t i = 0; i < outer * inner; ++i) out[i] = 0;
    return;
  }
  parallel_for(outer * inner, std::max<int64_t>(1, kGrain / r), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / inner, i = t % inner;
      const float* xo = x + o * r * inner + i;
      float best = xo[0];
      int32_t bi = 0;
      if (best == best) {
        for (int64_t j = 1; j < r; ++j) {
          const float v = xo[j * inner];
          if (v != v) {  // NaN counts as the maximum: the first one wins
            bi = static_cast<int32_t>(j);
            break;
          }
          if (v > best) best = v, bi = static_cast<int32_t>(j);
        }
      }
      out[t] = bi;
    }
  });
}

double sum_squares(int64_t n, const float* x) {
  if (n <= 0) return 0.0;
  const int64_t chunk = 65536;
  const int64_t nc = (n + chunk - 1) / chunk;
  std::vector<double> part(static_cast<size_t>(nc), 0.0);
  parallel_for(nc, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t i0 = c * chunk, i1 = std::min(n, i0 + chunk);
      double acc[8] = {0};
      int64_t i = i0;
      for (; i + 8 <= i1; i += 8)
        for (int l = 0; l < 8; ++l) acc[l] += static_cast<double>(x[i + l]) * x[i + l];
      double s = 0;
      for (; i < i1; ++i) s += static_cast<double>(x[i]) * x[i];
      for (int l = 0; l < 8; ++l) s += acc[l];
      part[c] = s;
    }
  });
  double s = 0;
  for (double p : part) s += p;
  return s;
}

void strided_copy(int rank, const int64_t* shape, const float* x, int64_t offset,
                  const int64_t* xStrides, float* out) {
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  if (total <= 0) return;
  int64_t sh[8], st[8], dummy[8];
  const int r = collapse(rank, shape, xStrides, nullptr, sh, st, dummy);
  const float* base = x + offset;
  if (r == 0) {
    out[0] = base[0];
    return;
  }
  const int64_t inner = sh[r - 1], is = st[r - 1];
  const int64_t outer = total / inner;
  if (outer == 1) {
    parallel_for(inner, kGrain, [&](int64_t i0, int64_t i1) {
      if (is == 1) {
        std::memcpy(out + i0, base + i0, sizeof(float) * (i1 - i0));
      } else {
        for (int64_t i = i0; i < i1; ++i) out[i] = base[i * is];
      }
    });
    return;
  }
  parallel_for(outer, std::max<int64_t>(1, kGrain / inner), [&](int64_t r0, int64_t r1) {
    int64_t idx[8] = {0};
    int64_t rem = r0;
    for (int d = r - 2; d >= 0; --d) idx[d] = rem % sh[d], rem /= sh[d];
    int64_t off = 0;
    for (int d = 0; d < r - 1; ++d) off += idx[d] * st[d];
    for (int64_t row = r0; row < r1; ++row) {
      float* o = out + row * inner;
      const float* s = base + off;
      if (is == 1) {
        std::memcpy(o, s, sizeof(float) * inner);
      } else if (is == 0) {
        std::fill(o, o + inner, s[0]);
      } else {
        for (int64_t i = 0; i < inner; ++i) o[i] = s[i * is];
      }
      for (int d = r - 2; d >= 0; --d) {
        ++idx[d];
        off += st[d];
        if (idx[d] < sh[d]) break;
        off -= st[d] * sh[d];
        idx[d] = 0;
      }
    }
  });
}

void strided_add(int rank, const int64_t* shape, const float* x, float* out, int64_t offset,
                 const int64_t* outStrides) {
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  if (total <= 0) return;
  // x is contiguous in the given shape: its strides.
  int64_t xs[8] = {0};
  {
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; --d) xs[d] = s, s *= shape[d];
  }
  int64_t sh[8], so[8], sx[8];
  const int r = collapse(rank, shape, outStrides, xs, sh, so, sx);
  float* base = out + offset;
  if (r == 0) {
    base[0] += x[0];
    return;
  }
  // Find a dimension whose slices are provably disjoint in `out`; the work is split along it.
  // Every element is then added by exactly one thread, in the same order as a serial walk of the
  // remaining dims, so the result does not depend on the thread count.
  int pd = -1;
  for (int d = 0; d < r && total >= 2 * kGrain; ++d) {
    if (so[d] == 0 || sh[d] < 2) continue;
    int64_t foot = 1;
    for (int e = 0; e < r; ++e)
      if (e != d) foot += std::abs(so[e]) * (sh[e] - 1);
    if (std::abs(so[d]) >= foot) {
      pd = d;
      break;
    }
  }
  // Walks all dims except `skip` (-1: none) from the given base pointers.
  auto walk = [&](int skip, const float* xb, float* ob) {
    int dims[8], nd = 0;
    for (int d = 0; d < r; ++d)
      if (d != skip) dims[nd++] = d;
    if (nd == 0) {
      ob[0] += xb[0];
      return;
    }
    const int last = dims[nd - 1];
    const int64_t n = sh[last], sxo = sx[last], soo = so[last];
    int64_t idx[8] = {0};
    int64_t ox = 0, oo = 0;
    for (;;) {
      const float* xp = xb + ox;
      float* op = ob + oo;
      if (soo == 1 && sxo == 1) {
        for (int64_t i = 0; i < n; ++i) op[i] += xp[i];
      } else if (soo == 0) {
        float acc = op[0];
        for (int64_t i = 0; i < n; ++i) acc += xp[i * sxo];
        op[0] = acc;
      } else {
        for (int64_t i = 0; i < n; ++i) op[i * soo] += xp[i * sxo];
      }
      int k = nd - 2;
      for (; k >= 0; --k) {
        const int d = dims[k];
        ++idx[k];
        ox += sx[d];
        oo += so[d];
        if (idx[k] < sh[d]) break;
        ox -= sx[d] * sh[d];
        oo -= so[d] * sh[d];
        idx[k] = 0;
      }
      if (k < 0) break;
    }
  };
  if (pd < 0) {
    walk(-1, x, base);
    return;
  }
  const int64_t per = total / sh[pd];
  parallel_for(sh[pd], std::max<int64_t>(1, kGrain / per), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) walk(pd, x + i * sx[pd], base + i * so[pd]);
  });
}

void gather_rows(int64_t n, int64_t D, const float* table, const int32_t* idx, float* out) {
  if (n <= 0 || D <= 0) return;
  parallel_for(n, std::max<int64_t>(1, kGrain / D), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      std::memcpy(out + i * D, table + static_cast<int64_t>(idx[i]) * D, sizeof(float) * D);
  });
}

void scatter_add_rows(int64_t n, int64_t D, const float* dout, const int32_t* idx, float* dtable) {
  if (n <= 0 || D <= 0) return;
  // Split the columns: every thread walks all rows in order over its own column block, so there
  // are no write conflicts and repeated indices add up in a fixed order.
  const int64_t cb = 64;
  const int64_t nb = (D + cb - 1) / cb;
  parallel_for(nb, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n * cb)),
               [&](int64_t b0, int64_t b1) {
                 const int64_t c0 = b0 * cb, c1 = std::min(D, b1 * cb);
                 for (int64_t i = 0; i < n; ++i) {
                   float* dst = dtable + static_cast<int64_t>(idx[i]) * D;
                   const float* src = dout + i * D;
                   for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
                 }
               });
}

}  // namespace alter
