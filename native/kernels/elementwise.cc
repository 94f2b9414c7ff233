// Elementwise kernels: unary ops and their derivatives, broadcasting binary ops, clamp, where,
// axpby and fill. Plain loops the compiler vectorises (no fast-math: libm's exp/erf/tanh are used
// as they are, so results match the double-precision references to float rounding).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels.h"
#include "parallel.h"
#include "cpu.h"
#include "vmath.h"

namespace alter {
namespace {

constexpr int64_t kGrain = 32768;          // elements per thread for cheap ops
constexpr int64_t kGrainHeavy = 4096;      // elements per thread for transcendental ops
constexpr float kSqrt1_2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1/sqrt(2*pi)
constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kGeluC = 0.044715f;

inline float sigmoid(float x) {
  if (x >= 0.f) return 1.f / (1.f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.f + e);
}

bool heavy(Unary op) {
  switch (op) {
    case Unary::Neg:
    case Unary::Abs:
    case Unary::Relu:
    case Unary::Square:
    case Unary::Sign:
      return false;
    default:
      return true;
  }
}

template <class F>
void map1(int64_t n, int64_t grain, const float* x, float* y, F f) {
  parallel_for(n, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = f(x[i]);
  });
}

// dx = g(x, y, dy)
template <class F>
void map3(int64_t n, int64_t grain, const float* x, const float* y, const float* dy, float* dx,
          F f) {
  parallel_for(n, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dx[i] = f(x[i], y[i], dy[i]);
  });
}

}  // namespace

void unary_forward(Unary op, int64_t n, const float* x, float* y) {
  if (n <= 0) return;
  const int64_t g = heavy(op) ? kGrainHeavy : kGrain;
  if (active_isa() == Isa::Avx512 && vmath::unary_forward_512(static_cast<int>(op), 0, 0, x, y)) {
    parallel_for(n, g, [&](int64_t i0, int64_t i1) { vmath::unary_forward_512(static_cast<int>(op), i0, i1, x, y); });
    return;
  }
  if (active_isa() == Isa::Avx2 && vmath::unary_forward_256(static_cast<int>(op), 0, 0, x, y)) {
    parallel_for(n, g, [&](int64_t i0, int64_t i1) { vmath::unary_forward_256(static_cast<int>(op), i0, i1, x, y); });
    return;
  }
  switch (op) {
    case Unary::Neg: map1(n, g, x, y, [](float v) { return -v; }); break;
    case Unary::Exp: map1(n, g, x, y, [](float v) { return std::exp(v); }); break;
    case Unary::Log: map1(n, g, x, y, [](float v) { return std::log(v); }); break;
    case Unary::Sqrt: map1(n, g, x, y, [](float v) { return std::sqrt(v); }); break;
    case Unary::Abs: map1(n, g, x, y, [](float v) { return std::fabs(v); }); break;
    case Unary::Sigmoid: map1(n, g, x, y, [](float v) { return sigmoid(v); }); break;
    case Unary::Silu: map1(n, g, x, y, [](float v) { return v * sigmoid(v); }); break;
    case Unary::GeluErf:
      // 0.5*(1 + erf(v/sqrt2)) == 0.5*erfc(-v/sqrt2), which keeps precision for negative v.
      map1(n, g, x, y, [](float v) { return 0.5f * v * std::erfc(-v * kSqrt1_2); });
      break;
    case Unary::GeluTanh:
      // 0.5*(1 + tanh(u)) == sigmoid(2u): no cancellation for negative u.
      map1(n, g, x, y, [](float v) {
        return v * sigmoid(2.f * kSqrt2OverPi * (v + kGeluC * v * v * v));
      });
      break;
    case Unary::Relu:
      // (v < 0) ? 0 : v keeps NaN as NaN, like torch.relu.
      map1(n, g, x, y, [](float v) { return v < 0.f ? 0.f : v; });
      break;
    case Unary::Tanh: map1(n, g, x, y, [](float v) { return std::tanh(v); }); break;
    case Unary::Square: map1(n, g, x, y, [](float v) { return v * v; }); break;
    case Unary::Reciprocal: map1(n, g, x, y, [](float v) { return 1.f / v; }); break;
    case Unary::Sign:
      map1(n, g, x, y, [](float v) {
        return v > 0.f ? 1.f : (v < 0.f ? -1.f : (v == 0.f ? 0.f : v));
      });
      break;
  }
}

void unary_backward(Unary op, int64_t n, const float* x, const float* y, const float* dy,
                    float* dx) {
  if (n <= 0) return;
  const int64_t g = heavy(op) ? kGrainHeavy : kGrain;
  if (active_isa() == Isa::Avx512 && vmath::unary_backward_512(static_cast<int>(op), 0, 0, x, dy, dx)) {
    parallel_for(n, g, [&](int64_t i0, int64_t i1) { vmath::unary_backward_512(static_cast<int>(op), i0, i1, x, dy, dx); });
    return;
  }
  if (active_isa() == Isa::Avx2 && vmath::unary_backward_256(static_cast<int>(op), 0, 0, x, dy, dx)) {
    parallel_for(n, g, [&](int64_t i0, int64_t i1) { vmath::unary_backward_256(static_cast<int>(op), i0, i1, x, dy, dx); });
    return;
  }
  switch (op) {
    case Unary::Neg: map3(n, g, x, y, dy, dx, [](float, float, float d) { return -d; }); break;
    case Unary::Exp: map3(n, g, x, y, dy, dx, [](float, float v, float d) { return d * v; }); break;
    case Unary::Log: map3(n, g, x, y, dy, dx, [](float u, float, float d) { return d / u; }); break;
    case Unary::Sqrt:
      map3(n, g, x, y, dy, dx, [](float, float v, float d) { return d / (2.f * v); });
      break;
    case Unary::Abs:
      map3(n, g, x, y, dy, dx, [](float u, float, float d) {
        return u > 0.f ? d : (u < 0.f ? -d : 0.f);
      });
      break;
    case Unary::Sigmoid:
      map3(n, g, x, y, dy, dx, [](float, float v, float d) { return d * v * (1.f - v); });
      break;
    case Unary::Silu:
      map3(n, g, x, y, dy, dx, [](float u, float, float d) {
        const float s = sigmoid(u);
        return d * s * (1.f + u * (1.f - s));
      });
      break;
    case Unary::GeluErf:
      map3(n, g, x, y, dy, dx, [](float u, float, float d) {
        const float cdf = 0.5f * std::erfc(-u * kSqrt1_2);
        const float pdf = kInvSqrt2Pi * std::exp(-0.5f * u * u);
        return d * (cdf + u * pdf);
      });
      break;
    case Unary::GeluTanh:
      map3(n, g, x, y, dy, dx, [](float u, float, float d) {
        // With s = sigmoid(2*inner): 0.5*(1+tanh) = s and 0.5*(1-tanh^2) = 2*s*(1-s).
        const float u2 = u * u;
        const float s = sigmoid(2.f * kSqrt2OverPi * (u + kGeluC * u2 * u));
        const float dinner = kSqrt2OverPi * (1.f + 3.f * kGeluC * u2);
        return d * (s + 2.f * u * s * (1.f - s) * dinner);
      });
      break;
    case Unary::Relu:
      map3(n, g, x, y, dy, dx, [](float u, float, float d) { return u > 0.f ? d : 0.f; });
      break;
    case Unary::Tanh:
      map3(n, g, x, y, dy, dx, [](float, float v, float d) { return d * (1.f - v * v); });
      break;
    case Unary::Square:
      map3(n, g, x, y, dy, dx, [](float u, float, float d) { return 2.f * u * d; });
      break;
    case Unary::Reciprocal:
      map3(n, g, x, y, dy, dx, [](float, float v, float d) { return -d * v * v; });
      break;
    case Unary::Sign:
      map3(n, g, x, y, dy, dx, [](float, float, float) { return 0.f; });
      break;
  }
}

// ---- binary --------------------------------------------------------------------------------

namespace {

struct AddOp { static float f(float a, float b) { return a + b; } };
struct SubOp { static float f(float a, float b) { return a - b; } };
struct MulOp { static float f(float a, float b) { return a * b; } };
struct DivOp { static float f(float a, float b) { return a / b; } };
struct PowOp { static float f(float a, float b) { return std::pow(a, b); } };
struct MaxOp {  // NaN propagates, as torch.maximum
  static float f(float a, float b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }
};
struct MinOp {
  static float f(float a, float b) { return (a != a || b != b) ? a + b : (a < b ? a : b); }
};
struct GtOp { static float f(float a, float b) { return a > b ? 1.f : 0.f; } };
struct LtOp { static float f(float a, float b) { return a < b ? 1.f : 0.f; } };
struct EqOp { static float f(float a, float b) { return a == b ? 1.f : 0.f; } };

// One innermost run of n outputs.
template <class Op>
inline void run_inner(int64_t n, const float* a, int64_t sa, const float* b, int64_t sb, float* o) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
    for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
    for (int64_t i = 0; i < n; ++i) o[i] = Op::f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i * sa], b[i * sb]);
  }
}

template <class Op>
void binary_run(int rank, const int64_t* shape, const float* a, const int64_t* as, const float* b,
                const int64_t* bs, float* out) {
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  if (total <= 0) return;
  const int64_t grain = std::is_same<Op, PowOp>::value ? 4096 : kGrain;
  if (rank == 0) {
    out[0] = Op::f(a[0], b[0]);
    return;
  }
  // Collapse the shape: drop size-1 dims, merge dims that are contiguous for a, b and out.
  int64_t sh[8], sa[8], sb[8];
  int r = 0;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    if (r > 0 && sa[r - 1] == as[d] * shape[d] && sb[r - 1] == bs[d] * shape[d]) {
      sh[r - 1] *= shape[d];
      sa[r - 1] = as[d];
      sb[r - 1] = bs[d];
    } else {
      sh[r] = shape[d];
      sa[r] = as[d];
      sb[r] = bs[d];
      ++r;
    }
  }
  if (r == 0) {  // every dim is 1
    out[0] = Op::f(a[0], b[0]);
    return;
  }
  const int64_t inner = sh[r - 1], isa = sa[r - 1], isb = sb[r - 1];
  const int64_t outer = total / inner;
  if (outer == 1) {
    parallel_for(inner, grain, [&](int64_t i0, int64_t i1) {
      run_inner<Op>(i1 - i0, a + i0 * isa, isa, b + i0 * isb, isb, out + i0);
    });
    return;
  }
  const int64_t rows_grain = std::max<int64_t>(1, grain / inner);
  parallel_for(outer, rows_grain, [&](int64_t r0, int64_t r1) {
    // Multi-index of row r0 over the outer dims.
    int64_t idx[8] = {0};
    int64_t rem = r0;
    for (int d = r - 2; d >= 0; --d) {
      idx[d] = rem % sh[d];
      rem /= sh[d];
    }
    int64_t oa = 0, ob = 0;
    for (int d = 0; d < r - 1; ++d) oa += idx[d] * sa[d], ob += idx[d] * sb[d];
    for (int64_t row = r0; row < r1; ++row) {
      run_inner<Op>(inner, a + oa, isa, b + ob, isb, out + row * inner);
      for (int d = r - 2; d >= 0; --d) {
        ++idx[d];
        oa += sa[d];
        ob += sb[d];
        if (idx[d] < sh[d]) break;
        oa -= sa[d] * sh[d];
        ob -= sb[d] * sh[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace

void binary_forward(Binary op, int rank, const int64_t* shape, const float* a,
                    const int64_t* aStrides, const float* b, const int64_t* bStrides, float* out) {
  switch (op) {
    case Binary::Add: binary_run<AddOp>(rank, shape, a, aStrides, b, bStrides, out); break;
    case Binary::Sub: binary_run<SubOp>(rank, shape, a, aStrides, b, bStrides, out); break;
    case Binary::Mul: binary_run<MulOp>(rank, shape, a, aStrides, b, bStrides, out); break;
    case Binary::Div: binary_run<DivOp>(rank, shape, a, aStrides, b, bStrides, out); break;
    case Binary::Pow: binary_run<PowOp>(rank, shape, a, aStrides, b, bStrides, out); break;
    case Binary::Maximum: binary_run<MaxOp>(rank, shape, a, aStrides, b, bStrides, out); break;
    case Binary::Minimum: binary_run<MinOp>(rank, shape, a, aStrides, b, bStrides, out); break;
    case Binary::Greater: binary_run<GtOp>(rank, shape, a, aStrides, b, bStrides, out); break;
    case Binary::Less: binary_run<LtOp>(rank, shape, a, aStrides, b, bStrides, out); break;
    case Binary::Equal: binary_run<EqOp>(rank, shape, a, aStrides, b, bStrides, out); break;
  }
}

void clamp_forward(int64_t n, float lo, float hi, const float* x, float* y) {
  if (n <= 0) return;
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float v = x[i];
      y[i] = v < lo ? lo : (v > hi ? hi : v);
    }
  });
}

void clamp_backward(int64_t n, float lo, float hi, const float* x, const float* dy, float* dx) {
  if (n <= 0) return;
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dx[i] = (x[i] >= lo && x[i] <= hi) ? dy[i] : 0.f;
  });
}

void where_forward(int64_t n, const float* cond, const float* a, const float* b, float* out) {
  if (n <= 0) return;
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = cond[i] != 0.f ? a[i] : b[i];
  });
}

void axpby(int64_t n, float a, const float* x, float b, float* y) {
  if (n <= 0) return;
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    if (b == 0.f) {  // y is not read (it may hold garbage)
      for (int64_t i = i0; i < i1; ++i) y[i] = a * x[i];
    } else if (b == 1.f) {
      for (int64_t i = i0; i < i1; ++i) y[i] += a * x[i];
    } else {
      for (int64_t i = i0; i < i1; ++i) y[i] = a * x[i] + b * y[i];
    }
  });
}

void fill(int64_t n, float value, float* y) {
  if (n <= 0) return;
  parallel_for(n, kGrain * 4, [&](int64_t i0, int64_t i1) {
    std::fill(y + i0, y + i1, value);
  });
}

}  // namespace alter
